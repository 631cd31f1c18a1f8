//! Proof by exhaustion: every certificate nncert computes is checked against an attacker
//! that enumerates EVERY poisoning of size ≤ E of tiny kNN and rNN instances.
//!
//! An instance is a few training and test points on a small integer grid (1-D or 2-D, ℓ1
//! distance, 2–3 labels). A poisoning is a set of removals R (any subset of the training
//! set) and a multiset of insertions I drawn from a candidate set: every grid position of
//! a window that covers all test points' neighbourhoods, with every label (and, for kNN, a
//! rank that wins or loses every distance tie). Its size is max(|R|, |I|) (METHOD §1: a
//! modification is one removal plus one insertion). For each poisoning the attacker
//! re-runs the classifier from scratch, and records, per test input, the smallest
//! poisoning that changes its prediction, and for every set of test inputs that are still
//! correct, the smallest poisoning that leaves exactly that set.
//!
//! Checked, for both tie rules:
//! - soundness of e*: no enumerated poisoning of size ≤ e* changes the prediction;
//! - tightness of e*: some poisoning of size e* + 1 does, whenever e* + 1 ≤ E;
//! - the joint group bound |U| − t never exceeds the true worst case of U, for every
//!   group U with pairwise different predicted labels;
//! - the one-label group bound (an inserted example carries one label, docs/JOINT.md) never
//!   exceeds it either, for every such group;
//! - the individual, ISLAND, RD, POLISH, CLUSTER, their one-label versions and best curves never
//!   exceed the true worst-case count.

mod common;
use common::multisets;

use std::collections::HashMap;

use nncert::certify::grouping::{Partition, SplitMix64, island_counts};
use nncert::certify::individual::individual_counts;
use nncert::certify::joint::group_certified;
use nncert::certify::one_label::{Needs, OneLabelSolver, group_certified_one_label};
use nncert::certify::{PointCertificate, certify_points};
use nncert::{Certification, CurveOptions, Method, TieRule, Votes, certify_votes};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Knn(usize),
    Rnn(i64),
}

#[derive(Clone, Debug)]
struct Example {
    pos: Vec<i64>,
    label: u32,
    rank: u64,
}

#[derive(Debug)]
struct Instance {
    kind: Kind,
    n_classes: usize,
    train: Vec<Example>,
    test: Vec<(Vec<i64>, u32)>,
    candidates: Vec<Example>,
    max_e: usize,
}

fn l1(a: &[i64], b: &[i64]) -> i64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// The plain classifier, straight from METHOD §2: votes of `x` over a training multiset.
/// kNN order: distance ascending, rank descending, index ascending.
fn votes_of(kind: Kind, n_classes: usize, train: &[&Example], x: &[i64]) -> Vec<u32> {
    let mut votes = vec![0u32; n_classes];
    match kind {
        Kind::Rnn(r) => {
            for ex in train {
                if l1(&ex.pos, x) <= r {
                    votes[ex.label as usize] += 1;
                }
            }
        }
        Kind::Knn(k) => {
            let mut order: Vec<(i64, std::cmp::Reverse<u64>, usize)> = train
                .iter()
                .enumerate()
                .map(|(i, ex)| (l1(&ex.pos, x), std::cmp::Reverse(ex.rank), i))
                .collect();
            order.sort();
            for &(_, _, i) in order.iter().take(k) {
                votes[train[i].label as usize] += 1;
            }
        }
    }
    votes
}

/// What the exhaustive attacker found for one instance and one tie rule.
struct WorstCase {
    /// Smallest poisoning size that changes each test input's prediction (None: none ≤ E).
    min_flip: Vec<Option<usize>>,
    /// For each set of still-correct test inputs (bitmask), the smallest size reaching it.
    correct_sets: HashMap<u32, usize>,
}

impl WorstCase {
    /// Fewest correct members of `group` (a bitmask) under any poisoning of size ≤ e.
    fn worst_correct_in(&self, group: u32, e: usize) -> u32 {
        self.correct_sets
            .iter()
            .filter(|&(_, &size)| size <= e)
            .map(|(&mask, _)| (mask & group).count_ones())
            .min()
            .expect("the empty poisoning is always enumerated")
    }
}

fn predict(votes: &[u32], tie: TieRule) -> u32 {
    nncert::Prediction::from_counts(votes, tie).predicted
}

fn attack(inst: &Instance, ties: &[TieRule]) -> Vec<WorstCase> {
    let n = inst.train.len();
    let clean: Vec<&Example> = inst.train.iter().collect();
    let clean_pred: Vec<Vec<u32>> = ties
        .iter()
        .map(|&tie| {
            inst.test
                .iter()
                .map(|(x, _)| predict(&votes_of(inst.kind, inst.n_classes, &clean, x), tie))
                .collect()
        })
        .collect();
    let mut worst: Vec<WorstCase> = ties
        .iter()
        .map(|_| WorstCase {
            min_flip: vec![None; inst.test.len()],
            correct_sets: HashMap::new(),
        })
        .collect();
    let insertions = multisets(inst.candidates.len(), inst.max_e);
    for removed in 0u32..(1 << n) {
        let n_removed = removed.count_ones() as usize;
        if n_removed > inst.max_e {
            continue;
        }
        for inserted in &insertions {
            let size = n_removed.max(inserted.len());
            let poisoned: Vec<&Example> = inst
                .train
                .iter()
                .enumerate()
                .filter(|(j, _)| removed & (1 << j) == 0)
                .map(|(_, ex)| ex)
                .chain(inserted.iter().map(|&c| &inst.candidates[c]))
                .collect();
            let votes: Vec<Vec<u32>> = inst
                .test
                .iter()
                .map(|(x, _)| votes_of(inst.kind, inst.n_classes, &poisoned, x))
                .collect();
            for (t, &tie) in ties.iter().enumerate() {
                let mut correct_mask = 0u32;
                for (i, v) in votes.iter().enumerate() {
                    let p = predict(v, tie);
                    if p != clean_pred[t][i] {
                        let m = &mut worst[t].min_flip[i];
                        *m = Some(m.map_or(size, |m| m.min(size)));
                    }
                    if p == inst.test[i].1 {
                        correct_mask |= 1 << i;
                    }
                }
                let entry = worst[t].correct_sets.entry(correct_mask).or_insert(size);
                *entry = (*entry).min(size);
            }
        }
    }
    worst
}

fn random_instance(rng: &mut SplitMix64, kind_is_knn: bool) -> Instance {
    let dim = 1 + rng.below(2) as usize;
    let side: i64 = if dim == 1 { 7 } else { 4 };
    let n_classes = 2 + rng.below(2) as usize;
    let n_train = 3 + rng.below(if dim == 1 { 7 } else { 4 }) as usize;
    let n_test = 2 + rng.below(4) as usize;
    let point = |rng: &mut SplitMix64| -> Vec<i64> {
        (0..dim).map(|_| rng.below(side as u64) as i64).collect()
    };
    // Labels follow the first coordinate most of the time (so margins of several votes,
    // where joint certification matters, are common), with label noise.
    let label_at = |rng: &mut SplitMix64, pos: &[i64]| -> u32 {
        if rng.below(4) == 0 {
            rng.below(n_classes as u64) as u32
        } else {
            (pos[0] * n_classes as i64 / side) as u32
        }
    };
    let train: Vec<Example> = (0..n_train)
        .map(|_| {
            let pos = point(rng);
            Example {
                label: label_at(rng, &pos),
                pos,
                // Ranks strictly between the attacker's extreme ranks.
                rank: 1 + rng.below(1 << 40),
            }
        })
        .collect();
    let test: Vec<(Vec<i64>, u32)> = (0..n_test)
        .map(|_| {
            let pos = point(rng);
            let y = label_at(rng, &pos);
            (pos, y)
        })
        .collect();
    let kind = if kind_is_knn {
        Kind::Knn(1 + rng.below(n_train.min(5) as u64) as usize)
    } else {
        Kind::Rnn(1 + rng.below(if dim == 1 { 3 } else { 2 }) as i64)
    };
    // Insertion candidates: every grid position of a window around the data, every label.
    // Inserting at a test input's own position realises "a voter in this ball only"
    // patterns, positions in between realise shared voters. kNN also needs the two
    // extreme ranks, to win or lose every distance tie.
    let window: Vec<Vec<i64>> = if dim == 1 {
        (-1..=side).map(|x| vec![x]).collect()
    } else {
        (0..side)
            .flat_map(|x| (0..side).map(move |y| vec![x, y]))
            .collect()
    };
    let ranks: &[u64] = if kind_is_knn { &[u64::MAX, 0] } else { &[0] };
    let mut candidates = Vec::new();
    for pos in &window {
        for label in 0..n_classes as u32 {
            for &rank in ranks {
                candidates.push(Example {
                    pos: pos.clone(),
                    label,
                    rank,
                });
            }
        }
    }
    // Keep the enumeration affordable: fewer rounds where there are more candidates.
    let max_e = if candidates.len() <= 30 { 3 } else { 2 };
    Instance {
        kind,
        n_classes,
        train,
        test,
        candidates,
        max_e,
    }
}

fn clean_votes(inst: &Instance) -> Votes {
    let clean: Vec<&Example> = inst.train.iter().collect();
    let counts = inst
        .test
        .iter()
        .flat_map(|(x, _)| votes_of(inst.kind, inst.n_classes, &clean, x))
        .collect();
    let labels = inst.test.iter().map(|(_, y)| *y).collect();
    Votes::new(counts, inst.n_classes, labels).unwrap()
}

/// Every group of test inputs with pairwise different predicted labels, as bitmasks.
fn valid_groups(points: &[PointCertificate]) -> Vec<u32> {
    (1u32..(1 << points.len()))
        .filter(|&mask| {
            let mut seen = 0u64;
            (0..points.len()).filter(|i| mask & (1 << i) != 0).all(|i| {
                let bit = 1u64 << points[i].prediction.predicted;
                let fresh = seen & bit == 0;
                seen |= bit;
                fresh
            })
        })
        .collect()
}

#[derive(Default, Debug)]
struct Tally {
    instance_e_pairs: usize,
    soundness_checks: usize,
    tight_checks: usize,
    group_checks: usize,
    curve_checks: usize,
    /// Test inputs for which e* + 1 would have been a false claim (caught by the attacker).
    off_by_one_caught: usize,
    /// Groups where the joint bound certifies more than the individual one.
    joint_beats_individual: usize,
    /// Groups where the one-label bound certifies more than the paper's group bound.
    one_label_beats_paper: usize,
    /// Groups where the one-label bound equals the true worst case.
    one_label_tight: usize,
}

fn check_instance(inst: &Instance, tally: &mut Tally) {
    let ties = [TieRule::Larger, TieRule::Smaller];
    let worst = attack(inst, &ties);
    let votes = clean_votes(inst);
    for (t, &tie) in ties.iter().enumerate() {
        let w = &worst[t];
        let points = certify_points(&votes, tie);
        let max_e = inst.max_e as u64;
        for (i, p) in points.iter().enumerate() {
            // Soundness: nothing of size ≤ e* changes the prediction.
            if let Some(flip) = w.min_flip[i] {
                assert!(
                    flip as u64 > p.e_star,
                    "UNSOUND e*: test {i} has e* = {} but a poisoning of size {flip} changes \
                     its prediction\n{inst:#?}\ntie = {tie}",
                    p.e_star
                );
                if flip as u64 == p.e_star + 1 {
                    tally.off_by_one_caught += 1;
                }
            }
            tally.soundness_checks += 1;
            // Tightness: a poisoning of size e* + 1 does change it.
            if p.e_star < max_e {
                assert_eq!(
                    w.min_flip[i],
                    Some(p.e_star as usize + 1),
                    "e* of test {i} is not tight ({:?}, e* = {})\n{inst:#?}\ntie = {tie}",
                    p.prediction,
                    p.e_star
                );
                tally.tight_checks += 1;
            }
        }
        let all = (1u32 << points.len()) - 1;
        let ind = individual_counts(&points, max_e);
        let joint_curves = if let Kind::Rnn(_) = inst.kind {
            let mut curves = vec![island_counts(&points, inst.n_classes, max_e)];
            for seed in 0..3 {
                curves.push(
                    Partition::random_division(&points, inst.n_classes, seed)
                        .counts(&points, max_e),
                );
            }
            let mut options = CurveOptions::new(Method::Rnn, "");
            // Every joint certification, so that a new one is checked here by default.
            options.joint = Certification::ALL[1..].to_vec();
            assert_eq!(Certification::ALL[0], Certification::Individual);
            options.max_e = Some(max_e);
            options.tie = tie;
            for c in certify_votes(&votes, &options).unwrap().curves {
                curves.push(c.padded());
            }
            curves
        } else {
            Vec::new()
        };
        let groups = if let Kind::Rnn(_) = inst.kind {
            valid_groups(&points)
        } else {
            Vec::new()
        };
        let needs = Needs::new(&votes, tie);
        let mut solver = OneLabelSolver::new();
        for e in 0..=inst.max_e {
            tally.instance_e_pairs += 1;
            let worst_all = u64::from(w.worst_correct_in(all, e));
            assert!(ind[e] <= worst_all, "individual curve above the worst case");
            tally.curve_checks += 1;
            for (c, curve) in joint_curves.iter().enumerate() {
                assert!(
                    curve[e] <= worst_all,
                    "joint curve {c} claims {} certified at e = {e}, the attacker leaves {}\n\
                     {inst:#?}\ntie = {tie}",
                    curve[e],
                    worst_all
                );
                tally.curve_checks += 1;
            }
            for &g in &groups {
                let members: Vec<&PointCertificate> = (0..points.len())
                    .filter(|i| g & (1 << i) != 0)
                    .map(|i| &points[i])
                    .collect();
                let bound = group_certified(&members, e as u64) as u32;
                let truth = w.worst_correct_in(g, e);
                assert!(
                    bound <= truth,
                    "group bound {bound} > worst case {truth} for group {g:b} at e = {e}\n\
                     {inst:#?}\ntie = {tie}"
                );
                let individually = members.iter().filter(|p| p.certified_at(e as u64)).count();
                if bound as usize > individually {
                    tally.joint_beats_individual += 1;
                }
                let indices: Vec<usize> = (0..points.len()).filter(|i| g & (1 << i) != 0).collect();
                let one_label =
                    group_certified_one_label(&indices, &points, &needs, e as u64, &mut solver)
                        as u32;
                assert!(
                    one_label <= truth,
                    "one-label group bound {one_label} > worst case {truth} for group {g:b} at \
                     e = {e}\n{inst:#?}\ntie = {tie}"
                );
                if one_label > bound {
                    tally.one_label_beats_paper += 1;
                }
                if one_label == truth {
                    tally.one_label_tight += 1;
                }
                tally.group_checks += 1;
            }
        }
    }
}

fn run(kind_is_knn: bool, instances: usize, seed: u64) -> Tally {
    let mut rng = SplitMix64::new(seed);
    let mut tally = Tally::default();
    for _ in 0..instances {
        let inst = random_instance(&mut rng, kind_is_knn);
        check_instance(&inst, &mut tally);
    }
    eprintln!(
        "{} exhaustive: {tally:?}",
        if kind_is_knn { "kNN" } else { "rNN" }
    );
    tally
}

#[test]
fn rnn_certificates_survive_every_poisoning() {
    let tally = run(false, 400, 0x5eed_0001);
    // The checks must have bitten: many tight points, many off-by-ones that a wrong
    // certificate would have claimed, and joint groups that beat the individual bound.
    assert!(tally.instance_e_pairs >= 2000, "{tally:?}");
    assert!(tally.tight_checks >= 500, "{tally:?}");
    assert!(tally.off_by_one_caught >= 500, "{tally:?}");
    assert!(tally.joint_beats_individual >= 50, "{tally:?}");
    assert!(tally.one_label_beats_paper >= 20, "{tally:?}");
}

#[test]
fn knn_certificates_survive_every_poisoning() {
    let tally = run(true, 250, 0x5eed_0002);
    assert!(tally.instance_e_pairs >= 1500, "{tally:?}");
    assert!(tally.tight_checks >= 300, "{tally:?}");
    assert!(tally.off_by_one_caught >= 300, "{tally:?}");
}

/// The harness can fail: an e* one too large is caught as unsound on these instances.
#[test]
fn an_off_by_one_certificate_is_caught() {
    let mut rng = SplitMix64::new(0x5eed_0003);
    let mut caught = 0;
    for _ in 0..40 {
        let inst = random_instance(&mut rng, false);
        let worst = attack(&inst, &[TieRule::Larger]);
        let points = certify_points(&clean_votes(&inst), TieRule::Larger);
        for (i, p) in points.iter().enumerate() {
            let claimed = p.e_star + 1; // the deliberate error
            if worst[0].min_flip[i].is_some_and(|flip| flip as u64 <= claimed) {
                caught += 1;
            }
        }
    }
    assert!(caught > 20, "only {caught} wrong certificates caught");
}
