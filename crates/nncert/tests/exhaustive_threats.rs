//! Proof by exhaustion for the threat-model variants (METHOD §8): an attacker that may only
//! insert, only delete, or only flip labels enumerates EVERY such poisoning of size ≤ E of
//! tiny kNN and rNN instances, and every certificate nncert computes under that threat is
//! checked against it — soundness everywhere, tightness where the derivation claims it.
//!
//! Instances: a few training and test points on a small integer grid (1-D or 2-D, ℓ1), 2–3
//! labels, random SHA-like ranks. Insertions are drawn from every grid position of a window
//! around the data with every label (kNN: with a rank that wins or loses every tie).
//! A flipped example keeps its position and gets a new rank derived from its old rank and
//! new label (as the SHA-1 rank of METHOD §2 changes with the label).

mod common;
use common::multisets;

use std::collections::HashMap;

use nncert::certify::grouping::Partition;
use nncert::certify::threat::{
    Threat, knn_delete_e_star, knn_insert_e_star, partition_counts_delete,
};
use nncert::certify::{PointCertificate, certify_points};
use nncert::rng::SplitMix64;
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

/// Training indices in the order of METHOD §2 (distance asc, rank desc, index asc).
fn order(train: &[&Example], x: &[i64]) -> Vec<usize> {
    let mut o: Vec<(i64, std::cmp::Reverse<u64>, usize)> = train
        .iter()
        .enumerate()
        .map(|(i, ex)| (l1(&ex.pos, x), std::cmp::Reverse(ex.rank), i))
        .collect();
    o.sort();
    o.into_iter().map(|t| t.2).collect()
}

fn votes_of(kind: Kind, n_classes: usize, train: &[&Example], x: &[i64]) -> Vec<u32> {
    let mut votes = vec![0u32; n_classes];
    match kind {
        Kind::Rnn(r) => train
            .iter()
            .filter(|ex| l1(&ex.pos, x) <= r)
            .for_each(|ex| votes[ex.label as usize] += 1),
        Kind::Knn(k) => order(train, x)
            .into_iter()
            .take(k)
            .for_each(|i| votes[train[i].label as usize] += 1),
    }
    votes
}

/// Every poisoned training set the threat allows, with its size.
fn poisonings(inst: &Instance, threat: Threat) -> Vec<(Vec<Example>, usize)> {
    let n = inst.train.len();
    let mut out = Vec::new();
    match threat {
        Threat::Insert => {
            for ins in multisets(inst.candidates.len(), inst.max_e) {
                let mut d = inst.train.clone();
                d.extend(ins.iter().map(|&c| inst.candidates[c].clone()));
                out.push((d, ins.len()));
            }
        }
        Threat::Delete => {
            for mask in 0u32..(1 << n) {
                let size = mask.count_ones() as usize;
                if size <= inst.max_e {
                    let d = (0..n)
                        .filter(|j| mask & (1 << j) == 0)
                        .map(|j| inst.train[j].clone())
                        .collect();
                    out.push((d, size));
                }
            }
        }
        Threat::Flip => {
            for mask in 0u32..(1 << n) {
                let size = mask.count_ones() as usize;
                if size > inst.max_e {
                    continue;
                }
                let flipped: Vec<usize> = (0..n).filter(|j| mask & (1 << j) != 0).collect();
                // Every assignment of a new (different) label to each flipped example.
                let choices = (inst.n_classes - 1).pow(size as u32);
                for code in 0..choices {
                    let mut d = inst.train.clone();
                    let mut c = code;
                    for &j in &flipped {
                        let shift = 1 + (c % (inst.n_classes - 1)) as u32;
                        c /= inst.n_classes - 1;
                        let ex = &mut d[j];
                        ex.label = (ex.label + shift) % inst.n_classes as u32;
                        ex.rank = SplitMix64::new(ex.rank ^ u64::from(ex.label) << 50).next_u64();
                    }
                    out.push((d, size));
                }
            }
        }
        Threat::General => unreachable!("covered by exhaustive_attacker.rs"),
    }
    out
}

struct WorstCase {
    min_flip: Vec<Option<usize>>,
    correct_sets: HashMap<u32, usize>,
}

impl WorstCase {
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

fn attack(inst: &Instance, threat: Threat, tie: TieRule) -> WorstCase {
    let clean: Vec<&Example> = inst.train.iter().collect();
    let clean_pred: Vec<u32> = inst
        .test
        .iter()
        .map(|(x, _)| predict(&votes_of(inst.kind, inst.n_classes, &clean, x), tie))
        .collect();
    let mut w = WorstCase {
        min_flip: vec![None; inst.test.len()],
        correct_sets: HashMap::new(),
    };
    for (d, size) in poisonings(inst, threat) {
        let d: Vec<&Example> = d.iter().collect();
        let mut correct = 0u32;
        for (i, (x, y)) in inst.test.iter().enumerate() {
            let p = predict(&votes_of(inst.kind, inst.n_classes, &d, x), tie);
            if p != clean_pred[i] {
                let m = &mut w.min_flip[i];
                *m = Some(m.map_or(size, |m| m.min(size)));
            }
            if p == *y {
                correct |= 1 << i;
            }
        }
        let entry = w.correct_sets.entry(correct).or_insert(size);
        *entry = (*entry).min(size);
    }
    w
}

fn random_instance(rng: &mut SplitMix64, knn: bool) -> Instance {
    let dim = 1 + rng.below(2) as usize;
    let side: i64 = if dim == 1 { 7 } else { 4 };
    let n_classes = 2 + rng.below(2) as usize;
    let n_train = 3 + rng.below(if dim == 1 { 6 } else { 4 }) as usize;
    let n_test = 2 + rng.below(3) as usize;
    let point = |rng: &mut SplitMix64| -> Vec<i64> {
        (0..dim).map(|_| rng.below(side as u64) as i64).collect()
    };
    let label_at = |rng: &mut SplitMix64, pos: &[i64]| -> u32 {
        if rng.below(4) == 0 {
            rng.below(n_classes as u64) as u32
        } else {
            (pos[0] * n_classes as i64 / side) as u32
        }
    };
    let train = (0..n_train)
        .map(|_| {
            let pos = point(rng);
            Example {
                label: label_at(rng, &pos),
                pos,
                rank: 1 + rng.below(1 << 40),
            }
        })
        .collect();
    let test = (0..n_test)
        .map(|_| {
            let pos = point(rng);
            let y = label_at(rng, &pos);
            (pos, y)
        })
        .collect();
    let kind = if knn {
        Kind::Knn(1 + rng.below(n_train.min(5) as u64) as usize)
    } else {
        Kind::Rnn(1 + rng.below(if dim == 1 { 3 } else { 2 }) as i64)
    };
    let window: Vec<Vec<i64>> = if dim == 1 {
        (-1..=side).map(|x| vec![x]).collect()
    } else {
        (0..side)
            .flat_map(|x| (0..side).map(move |y| vec![x, y]))
            .collect()
    };
    let ranks: &[u64] = if knn { &[u64::MAX, 0] } else { &[0] };
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
    Instance {
        kind,
        n_classes,
        train,
        test,
        max_e: if candidates.len() <= 30 { 3 } else { 2 },
        candidates,
    }
}

fn clean_votes(inst: &Instance) -> Votes {
    let clean: Vec<&Example> = inst.train.iter().collect();
    let counts = inst
        .test
        .iter()
        .flat_map(|(x, _)| votes_of(inst.kind, inst.n_classes, &clean, x))
        .collect();
    Votes::new(
        counts,
        inst.n_classes,
        inst.test.iter().map(|t| t.1).collect(),
    )
    .unwrap()
}

/// The certificates under test: per-point e* and the curves of `certify_votes`.
fn certificates(inst: &Instance, threat: Threat, tie: TieRule) -> (Vec<u64>, Vec<Vec<u64>>) {
    let votes = clean_votes(inst);
    let max_e = inst.max_e as u64;
    let mut options = CurveOptions::new(
        match inst.kind {
            Kind::Knn(_) => Method::Knn,
            Kind::Rnn(_) => Method::Rnn,
        },
        "",
    );
    options.threat = threat;
    options.tie = tie;
    options.max_e = Some(max_e);
    if let Kind::Rnn(_) = inst.kind {
        options.joint = vec![
            Certification::Island,
            Certification::Rd,
            Certification::Best,
        ];
    }
    let out = certify_votes(&votes, &options).unwrap();
    let mut e_star: Vec<u64> = out.points.iter().map(|p| p.e_star).collect();
    if let (Kind::Knn(k), Threat::Insert | Threat::Delete) = (inst.kind, threat) {
        // The exact kNN certificates need the ordered neighbours.
        let clean: Vec<&Example> = inst.train.iter().collect();
        for (i, (x, _)) in inst.test.iter().enumerate() {
            let labels: Vec<u32> = order(&clean, x)
                .into_iter()
                .map(|j| clean[j].label)
                .collect();
            let n = labels.len();
            e_star[i] = if threat == Threat::Insert {
                knn_insert_e_star(&labels[..k.min(n)], k, inst.n_classes, tie)
            } else {
                knn_delete_e_star(
                    &labels[..(k + inst.max_e).min(n)],
                    k,
                    n,
                    inst.n_classes,
                    tie,
                    max_e,
                )
            };
        }
    }
    (
        e_star,
        out.curves.iter().map(nncert::Curve::padded).collect(),
    )
}

/// Whether the derivation claims `e*` is tight for this input (METHOD §8).
fn claims_tight(kind: Kind, threat: Threat, p: &PointCertificate, e_star: u64) -> bool {
    let s_a = u64::from(p.prediction.votes_predicted);
    match (kind, threat) {
        (Kind::Rnn(_), Threat::Insert) => true,
        // Deleting g voters of a needs g of them.
        (Kind::Rnn(_), Threat::Delete) => s_a >= p.margin,
        // e* + 1 flips of a-voters to the runner-up.
        (Kind::Rnn(_), Threat::Flip) => s_a > e_star,
        (Kind::Knn(_), Threat::Insert | Threat::Delete) => true,
        // A flipped kNN voter gets a new rank and may leave the neighbourhood: sound only.
        (Kind::Knn(_), _) => false,
        (_, Threat::General) => unreachable!(),
    }
}

#[derive(Default, Debug)]
struct Tally {
    soundness: usize,
    tight: usize,
    curve_checks: usize,
    group_checks: usize,
    joint_beats_individual: usize,
}

fn check(inst: &Instance, threat: Threat, tally: &mut Tally) {
    for tie in [TieRule::Larger, TieRule::Smaller] {
        let w = attack(inst, threat, tie);
        let (e_star, curves) = certificates(inst, threat, tie);
        let points = certify_points(&clean_votes(inst), tie);
        let max_e = inst.max_e as u64;
        for (i, p) in points.iter().enumerate() {
            if let Some(flip) = w.min_flip[i] {
                assert!(
                    flip as u64 > e_star[i],
                    "UNSOUND {threat} e*: test {i} has e* = {} but a poisoning of size {flip} \
                     flips it\n{inst:#?}\ntie = {tie}",
                    e_star[i]
                );
            }
            tally.soundness += 1;
            if e_star[i] < max_e && claims_tight(inst.kind, threat, p, e_star[i]) {
                assert_eq!(
                    w.min_flip[i],
                    Some(e_star[i] as usize + 1),
                    "{threat} e* of test {i} is not tight ({:?})\n{inst:#?}\ntie = {tie}",
                    p.prediction
                );
                tally.tight += 1;
            }
        }
        let all = (1u32 << points.len()) - 1;
        for e in 0..=inst.max_e {
            let truth = u64::from(w.worst_correct_in(all, e));
            for c in &curves {
                assert!(
                    c[e] <= truth,
                    "{threat}: a curve claims {} at e = {e}, the attacker leaves {truth}\n\
                     {inst:#?}\ntie = {tie}",
                    c[e]
                );
                tally.curve_checks += 1;
            }
        }
        if threat == Threat::Delete && matches!(inst.kind, Kind::Rnn(_)) {
            check_delete_groups(inst, &points, &w, tally);
        }
    }
}

/// Every group with pairwise different predictions, as a one-group partition.
fn check_delete_groups(inst: &Instance, points: &[PointCertificate], w: &WorstCase, t: &mut Tally) {
    for mask in 1u32..(1 << points.len()) {
        let members: Vec<usize> = (0..points.len()).filter(|i| mask & (1 << i) != 0).collect();
        let mut labels: Vec<u32> = members
            .iter()
            .map(|&i| points[i].prediction.predicted)
            .collect();
        labels.sort_unstable();
        if labels.windows(2).any(|p| p[0] == p[1]) {
            continue;
        }
        let partition = Partition {
            groups: vec![members.clone()],
        };
        let counts = partition_counts_delete(&partition, points, inst.max_e as u64);
        for (e, &count) in counts.iter().enumerate() {
            let truth = w.worst_correct_in(mask, e);
            assert!(
                count <= u64::from(truth),
                "delete group bound {count} > worst case {truth} for group {mask:b} at e = {e}\n{inst:#?}"
            );
            let alone = members
                .iter()
                .filter(|&&i| points[i].correct() && points[i].margin > e as u64)
                .count() as u64;
            if count > alone {
                t.joint_beats_individual += 1;
            }
            t.group_checks += 1;
        }
    }
}

fn run(knn: bool, threat: Threat, instances: usize, seed: u64) -> Tally {
    let mut rng = SplitMix64::new(seed);
    let mut tally = Tally::default();
    for _ in 0..instances {
        check(&random_instance(&mut rng, knn), threat, &mut tally);
    }
    eprintln!("{} {threat}: {tally:?}", if knn { "kNN" } else { "rNN" });
    tally
}

#[test]
fn rnn_insert_certificates_are_sound_and_tight() {
    let t = run(false, Threat::Insert, 120, 0x7e_0001);
    assert!(t.tight >= 150 && t.curve_checks >= 1000, "{t:?}");
}

#[test]
fn rnn_delete_certificates_and_groups_are_sound() {
    let t = run(false, Threat::Delete, 200, 0x7e_0002);
    assert!(t.tight >= 150 && t.group_checks >= 1000, "{t:?}");
    assert!(t.joint_beats_individual >= 20, "{t:?}");
}

#[test]
fn rnn_flip_certificates_are_sound_and_tight() {
    let t = run(false, Threat::Flip, 200, 0x7e_0003);
    assert!(t.tight >= 100, "{t:?}");
}

#[test]
fn knn_insert_certificates_are_exact() {
    let t = run(true, Threat::Insert, 120, 0x7e_0004);
    assert!(t.tight >= 150, "{t:?}");
}

#[test]
fn knn_delete_certificates_are_exact() {
    let t = run(true, Threat::Delete, 200, 0x7e_0005);
    assert!(t.tight >= 150, "{t:?}");
}

#[test]
fn knn_flip_certificates_are_sound() {
    let t = run(true, Threat::Flip, 200, 0x7e_0006);
    assert!(t.soundness >= 500, "{t:?}");
}

/// The harness can fail: claiming the general rNN certificate plus one under `delete` or
/// the insert certificate plus one is caught.
#[test]
fn an_off_by_one_threat_certificate_is_caught() {
    let mut rng = SplitMix64::new(0x7e_0007);
    let mut caught = 0;
    for _ in 0..40 {
        let inst = random_instance(&mut rng, false);
        let w = attack(&inst, Threat::Insert, TieRule::Larger);
        let (e_star, _) = certificates(&inst, Threat::Insert, TieRule::Larger);
        for (i, &e) in e_star.iter().enumerate() {
            if w.min_flip[i].is_some_and(|flip| flip as u64 <= e + 1) {
                caught += 1;
            }
        }
    }
    assert!(caught > 20, "only {caught} wrong certificates caught");
}
