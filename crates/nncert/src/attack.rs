//! Real poisoning attacks against kNN and rNN, to show the certificates from above.
//!
//! Every attack builds concrete poisoned training sets in *input space*: removals are
//! training examples, insertions are copies of test images with a chosen label, and the
//! poisoned set goes through the same feature extraction and the same classifier. So the
//! accuracy an attack leaves is achievable, and must never fall below the certified
//! accuracy (a proven lower bound).
//!
//! Strategies:
//! - `individual`: for each correctly classified test input `x` with `e* < e`, its own
//!   poisoned set: remove `e* + 1` training examples voting for the prediction `a` (as many
//!   as there are) and insert `e* + 1` copies of `x` labelled with the runner-up `b`. This is
//!   the worst case behind the individual certificate, and it must flip exactly the inputs
//!   the certificate does not protect (tightness). The accuracy it leaves is the fraction
//!   of inputs not flipped by the set aimed at them.
//! - `budget`: one poisoned set of size ≤ e for the whole test set: the cheapest individual
//!   attacks are merged while the union of removals and of insertions each stay within e;
//!   the classifier is then re-run on the merged set for every test input. Its accuracy is
//!   an upper bound on CA(e) itself (the certified bound is ISLAND's for rNN).
//! - `greedy`: one poisoned set for the whole test set that shares its budget: removals of
//!   training examples that vote for the prediction of many attackable inputs at once, and
//!   insertions of test images (with a chosen label) that fall inside many inputs'
//!   neighbourhoods — rNN balls overlap, which is exactly what the joint certificate accounts
//!   for. Actions are chosen in rounds by their weighted gain (an input `n` votes from
//!   flipping counts `1/n`), the sequence is cut at each budget, and the classifier is re-run
//!   on the real poisoned set. Also an upper bound on CA(e).

use std::cmp::Reverse;

use rayon::prelude::*;
use serde::Serialize;

use crate::certify::{Certification, Method, PointCertificate, certify_points};
use crate::curve::{CurveOptions, certify_votes, format_fraction_floor};
use crate::data::{Dataset, Split};
use crate::error::Error;
use crate::features::{FeatureKind, FeatureMatrix};
use crate::neighbours::kernel::{LANES, Metric, scalar};
use crate::neighbours::{Kernel, SearchConfig};
use crate::pipeline::{self, Progress};
use crate::rank::{Rank, rank};
use crate::votes::{Prediction, TieRule, Votes};

/// The classifier under attack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// kNN with this k.
    Knn(usize),
    /// rNN with this radius.
    Rnn(f64),
}

impl Target {
    fn method(self) -> Method {
        match self {
            Target::Knn(_) => Method::Knn,
            Target::Rnn(_) => Method::Rnn,
        }
    }

    fn param(self) -> String {
        match self {
            Target::Knn(k) => k.to_string(),
            Target::Rnn(r) => crate::experiment::radius_text(r),
        }
    }
}

/// One row of `attack.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackRow {
    /// knn or rnn.
    pub method: Method,
    /// k or r.
    pub param: String,
    /// `individual` or `budget`.
    pub strategy: &'static str,
    /// Poisoning size budget.
    pub e: u64,
    /// Test inputs still correct under the attack.
    pub attacked_correct: u64,
    /// Test inputs certified correct at e (individual bound for `individual` and kNN,
    /// the best joint bound for rNN `budget`).
    pub certified_correct: u64,
    /// Test inputs.
    pub n_test: u64,
}

/// One concrete poisoned set, as SPEC §1 measures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoisonedSet {
    /// `individual` or `budget`.
    pub strategy: &'static str,
    /// Budget e.
    pub e: u64,
    /// Test input aimed at (`individual`), or `None` for the whole test set.
    pub target: Option<usize>,
    /// Training examples removed.
    pub removed: usize,
    /// Examples inserted.
    pub inserted: usize,
    /// `max(|D'|, |D|) − |D ∩ D'|` = max(removed, inserted).
    pub poisoning_size: usize,
}

/// Everything an attack run produced.
#[derive(Debug, Clone)]
pub struct AttackReport {
    /// `attack.csv` rows.
    pub rows: Vec<AttackRow>,
    /// The poisoned sets built (individual: one per attacked input).
    pub sets: Vec<PoisonedSet>,
    /// Individual attacks that failed to flip their target (must be 0: tightness).
    pub individual_failures: usize,
    /// Correct inputs whose e* < max e and that the individual attack flipped.
    pub individual_flips: usize,
    /// The clean votes of the attacked classifier (for the certified curves).
    pub clean: Votes,
}

/// One input's targeted poisoning: which training examples to remove and which label to
/// give the `m` inserted copies of the test image.
struct Plan {
    target: usize,
    removed: Vec<usize>,
    inserted_label: u32,
    copies: usize,
}

fn padded(row: &[f32]) -> Vec<f32> {
    let mut r = row.to_vec();
    r.resize(row.len().div_ceil(LANES).max(1) * LANES, 0.0);
    r
}

/// A test input's neighbours as (distance, training index), nearest first.
type Neighbourhood = Vec<(f32, usize)>;

/// The clean run of the attacked classifier: its votes, every test input's neighbourhood
/// (kNN: the k nearest; rNN: all within r) in the order of SPEC §2 as (distance, training
/// index), and the feature matrices it searched — from the normal search engine with
/// neighbour lists switched on.
struct CleanRun {
    votes: Votes,
    neighbourhoods: Vec<Neighbourhood>,
    train_features: FeatureMatrix,
    test_features: FeatureMatrix,
}

fn clean_run(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
) -> Result<CleanRun, Error> {
    let mut config = target_search(target, metric, kernel);
    config.keep_neighbours = true;
    let run = pipeline::votes(dataset, features, &config, &Progress::default())?;
    let lists = run.result.neighbours.unwrap_or_default();
    let (votes, lists) = match target {
        Target::Knn(_) => (run.result.knn[0].votes.clone(), lists.knn),
        Target::Rnn(_) => (run.result.rnn[0].votes.clone(), lists.rnn),
    };
    let neighbourhoods = lists
        .into_iter()
        .map(|l| {
            l.into_iter()
                .map(|n| (n.distance, n.index as usize))
                .collect()
        })
        .collect();
    Ok(CleanRun {
        votes,
        neighbourhoods,
        train_features: run.train_features,
        test_features: run.test_features,
    })
}

/// Votes of one query on `D − removed + copies × (query image, label)`: the classifier
/// re-run on the poisoned set, with the inserted copies at distance 0 from the query and
/// their own SHA-1 rank.
#[allow(clippy::too_many_arguments)]
fn poisoned_votes(
    target: Target,
    metric: Metric,
    train: &[Vec<f32>],
    labels: &[u32],
    ranks: &[Rank],
    query: &[f32],
    removed: &[usize],
    copies: usize,
    inserted: (u32, Rank),
    n_classes: usize,
) -> Vec<u32> {
    let mut is_removed = vec![false; train.len()];
    for &j in removed {
        is_removed[j] = true;
    }
    let inserted_distance = scalar::distance(metric, query, query); // 0
    let mut votes = vec![0u32; n_classes];
    match target {
        Target::Rnn(r) => {
            for (j, row) in train.iter().enumerate() {
                if !is_removed[j] && f64::from(scalar::distance(metric, query, row)) <= r {
                    votes[labels[j] as usize] += 1;
                }
            }
            if f64::from(inserted_distance) <= r {
                votes[inserted.0 as usize] += copies as u32;
            }
        }
        Target::Knn(k) => {
            // (distance bits, rank, index): inserted copies get indices after the training set.
            let mut all: Vec<(u32, Reverse<Rank>, usize, u32)> = train
                .iter()
                .enumerate()
                .filter(|(j, _)| !is_removed[*j])
                .map(|(j, row)| {
                    (
                        scalar::distance(metric, query, row).to_bits(),
                        Reverse(ranks[j]),
                        j,
                        labels[j],
                    )
                })
                .collect();
            for c in 0..copies {
                all.push((
                    inserted_distance.to_bits(),
                    Reverse(inserted.1),
                    train.len() + c,
                    inserted.0,
                ));
            }
            let k = k.min(all.len());
            if k < all.len() {
                all.select_nth_unstable(k);
                all.truncate(k);
            }
            for &(_, _, _, l) in &all {
                votes[l as usize] += 1;
            }
        }
    }
    votes
}

fn target_search(target: Target, metric: Metric, kernel: Kernel) -> SearchConfig {
    SearchConfig {
        metric,
        ks: match target {
            Target::Knn(k) => vec![k],
            Target::Rnn(_) => Vec::new(),
        },
        radii: match target {
            Target::Rnn(r) => vec![r],
            Target::Knn(_) => Vec::new(),
        },
        kernel,
        keep_neighbours: false,
    }
}

fn votes_of(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
) -> Result<Votes, Error> {
    let run = pipeline::votes(
        dataset,
        features,
        &target_search(target, metric, kernel),
        &Progress::default(),
    )?;
    Ok(match target {
        Target::Knn(_) => run.result.knn[0].votes.clone(),
        Target::Rnn(_) => run.result.rnn[0].votes.clone(),
    })
}

/// Runs both strategies for every `e` in `budgets` against the classifier `target`.
pub fn attack(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
    budgets: &[u64],
    tie: TieRule,
) -> Result<AttackReport, Error> {
    if budgets.is_empty() {
        return Err(Error::invalid(
            "attack: expected at least one poisoning size e",
        ));
    }
    let c = dataset.n_classes;
    let n_test = dataset.test.len();
    let CleanRun {
        votes: clean,
        neighbourhoods,
        train_features: train_f,
        test_features: test_f,
    } = clean_run(dataset, features, target, metric, kernel)?;
    let train_rows: Vec<Vec<f32>> = (0..train_f.n).map(|j| padded(train_f.row(j))).collect();
    let ranks: Vec<Rank> = (0..dataset.train.len())
        .map(|j| rank(dataset.train.labels[j], dataset.train.record(j)))
        .collect();
    let points = certify_points(&clean, tie);
    let max_e = *budgets.iter().max().unwrap_or(&0);

    // Individual attacks on every correct input with e* < max e.
    let plans: Vec<Plan> = points
        .par_iter()
        .enumerate()
        .filter(|(_, p)| p.correct() && p.e_star < max_e)
        .map(|(i, p)| {
            let m = (p.e_star + 1) as usize;
            let removed: Vec<usize> = neighbourhoods[i]
                .iter()
                .filter(|&&(_, j)| dataset.train.labels[j] == p.prediction.predicted)
                .map(|&(_, j)| j)
                .take(m)
                .collect();
            Plan {
                target: i,
                removed,
                inserted_label: p.prediction.runner_up,
                copies: m,
            }
        })
        .collect();
    let flipped: Vec<bool> = plans
        .par_iter()
        .map(|plan| {
            let i = plan.target;
            let q = padded(test_f.row(i));
            let inserted_rank = rank(plan.inserted_label, dataset.test.record(i));
            let votes = poisoned_votes(
                target,
                metric,
                &train_rows,
                &dataset.train.labels,
                &ranks,
                &q,
                &plan.removed,
                plan.copies,
                (plan.inserted_label, inserted_rank),
                c,
            );
            Prediction::from_counts(&votes, tie).predicted != dataset.test.labels[i]
        })
        .collect();
    let individual_failures = flipped.iter().filter(|&&f| !f).count();
    let mut sets = Vec::new();
    let mut rows = Vec::new();
    let correct_total = points.iter().filter(|p| p.correct()).count() as u64;
    for &e in budgets {
        let flips_at_e = plans
            .iter()
            .zip(&flipped)
            .filter(|(plan, f)| **f && plan.copies as u64 <= e)
            .count() as u64;
        rows.push(AttackRow {
            method: target.method(),
            param: target.param(),
            strategy: "individual",
            e,
            attacked_correct: correct_total - flips_at_e,
            certified_correct: points.iter().filter(|p| p.certified_at(e)).count() as u64,
            n_test: n_test as u64,
        });
    }
    for plan in &plans {
        sets.push(PoisonedSet {
            strategy: "individual",
            e: plan.copies as u64,
            target: Some(plan.target),
            removed: plan.removed.len(),
            inserted: plan.copies,
            poisoning_size: plan.removed.len().max(plan.copies),
        });
    }

    // Budget: merge the cheapest plans, then re-run the whole pipeline on the poisoned set.
    let mut order: Vec<&Plan> = plans.iter().collect();
    order.sort_by_key(|p| (p.copies, p.target));
    let certified = certified_counts(&clean, target, tie, max_e)?;
    // One poisoned set for the whole test set, re-run through the real pipeline.
    let shared = |strategy: &'static str,
                  e: u64,
                  removed: &[usize],
                  inserted: &[(usize, u32)],
                  certified_correct: u64|
     -> Result<(AttackRow, PoisonedSet), Error> {
        let poisoned = poisoned_dataset(dataset, removed, inserted);
        let votes = votes_of(&poisoned, features, target, metric, kernel)?;
        let attacked_correct = (0..n_test)
            .filter(|&i| {
                Prediction::from_counts(votes.row(i), tie).predicted == dataset.test.labels[i]
            })
            .count() as u64;
        Ok((
            AttackRow {
                method: target.method(),
                param: target.param(),
                strategy,
                e,
                attacked_correct,
                certified_correct,
                n_test: n_test as u64,
            },
            PoisonedSet {
                strategy,
                e,
                target: None,
                removed: removed.len(),
                inserted: inserted.len(),
                poisoning_size: removed.len().max(inserted.len()),
            },
        ))
    };
    for &e in budgets {
        let mut removed: Vec<usize> = Vec::new();
        let mut inserted: Vec<(usize, u32)> = Vec::new();
        for plan in &order {
            let mut r2 = removed.clone();
            r2.extend(plan.removed.iter().copied());
            r2.sort_unstable();
            r2.dedup();
            if r2.len() as u64 > e || (inserted.len() + plan.copies) as u64 > e {
                continue;
            }
            removed = r2;
            inserted.extend(std::iter::repeat_n(
                (plan.target, plan.inserted_label),
                plan.copies,
            ));
        }
        let (row, set) = shared("budget", e, &removed, &inserted, certified[e as usize])?;
        rows.push(row);
        sets.push(set);
    }
    // Greedy: one shared action sequence, cut at every budget, re-run for real.
    let test_rows: Vec<Vec<f32>> = (0..test_f.n).map(|i| padded(test_f.row(i))).collect();
    let (removals, insertions) = greedy_sequence(
        target,
        metric,
        dataset,
        &test_rows,
        &neighbourhoods,
        &points,
        &clean,
        max_e,
        tie,
    );
    for &e in budgets {
        let removed = &removals[..removals.len().min(e as usize)];
        let inserted = &insertions[..insertions.len().min(e as usize)];
        let (row, set) = shared("greedy", e, removed, inserted, certified[e as usize])?;
        rows.push(row);
        sets.push(set);
    }
    Ok(AttackReport {
        rows,
        sets,
        individual_failures,
        individual_flips: flipped.iter().filter(|&&f| f).count(),
        clean,
    })
}

/// The action sequence of the `greedy` strategy, up to `max_e` removals and `max_e`
/// insertions: training indices to remove, and (test image, label) pairs to insert, each
/// in the order chosen (a budget e takes the first e of each).
#[allow(clippy::too_many_arguments)]
fn greedy_sequence(
    target: Target,
    metric: Metric,
    dataset: &Dataset,
    test_rows: &[Vec<f32>],
    neighbourhoods: &[Neighbourhood],
    points: &[PointCertificate],
    clean: &Votes,
    max_e: u64,
    tie: TieRule,
) -> (Vec<usize>, Vec<(usize, u32)>) {
    let n_train = dataset.train.len();
    let c = dataset.n_classes;
    let targets: Vec<usize> = (0..points.len()).filter(|&i| points[i].correct()).collect();
    // Each target's neighbourhood and the distance that bounds it.
    // (kNN: the k-th distance; an inserted example nearer than it enters the k nearest.)
    let balls: Vec<(Vec<usize>, f32)> = targets
        .iter()
        .map(|&i| {
            let n = &neighbourhoods[i];
            let bound = n.iter().map(|x| x.0).fold(0.0, f32::max);
            (n.iter().map(|&(_, j)| j).collect(), bound)
        })
        .collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); n_train];
    for (ti, (ball, _)) in balls.iter().enumerate() {
        for &j in ball {
            members[j].push(ti as u32);
        }
    }
    // Which targets an inserted copy of test image j would reach.
    let reach: Vec<Vec<u32>> = (0..test_rows.len())
        .into_par_iter()
        .map(|j| {
            targets
                .iter()
                .enumerate()
                .filter(|&(ti, &i)| {
                    let d = scalar::distance(metric, &test_rows[i], &test_rows[j]);
                    match target {
                        Target::Rnn(r) => f64::from(d) <= r,
                        Target::Knn(_) => d < balls[ti].1,
                    }
                })
                .map(|(ti, _)| ti as u32)
                .collect()
        })
        .collect();
    let mut votes: Vec<Vec<i64>> = targets
        .iter()
        .map(|&i| clean.row(i).iter().map(|&v| i64::from(v)).collect())
        .collect();
    let predicted: Vec<u32> = targets
        .iter()
        .map(|&i| points[i].prediction.predicted)
        .collect();
    // (votes still needed to flip, the label that flips it most cheaply)
    let need = |v: &[i64], a: u32| -> (i64, u32) {
        let mut best = (i64::MAX, 0u32);
        for l in 0..c as u32 {
            if l != a {
                let n = v[a as usize] - v[l as usize] + i64::from(tie.wins_tie(a, l));
                if n < best.0 {
                    best = (n, l);
                }
            }
        }
        best
    };
    let states = |votes: &[Vec<i64>]| -> Vec<(i64, u32)> {
        votes
            .iter()
            .zip(&predicted)
            .map(|(v, &a)| need(v, a))
            .collect()
    };
    // An input `n` votes from flipping is worth 1/n; a flipped one nothing.
    let weight_of = |state: &[(i64, u32)], ti: usize| {
        if state[ti].0 > 0 {
            1.0 / state[ti].0 as f64
        } else {
            0.0
        }
    };
    let mut removed_flag = vec![false; n_train];
    let (mut removals, mut insertions) = (Vec::new(), Vec::new());
    let chunk = (max_e / 50).max(1) as usize;
    while (removals.len() as u64) < max_e || (insertions.len() as u64) < max_e {
        let state = states(&votes);
        let weight = |ti: usize| weight_of(&state, ti);
        let mut progressed = false;
        if (removals.len() as u64) < max_e {
            let mut scored: Vec<(f64, usize)> = (0..n_train)
                .filter(|&t| !removed_flag[t] && !members[t].is_empty())
                .map(|t| {
                    let y = dataset.train.labels[t];
                    let v: f64 = members[t]
                        .iter()
                        .map(|&ti| {
                            let ti = ti as usize;
                            if predicted[ti] == y {
                                weight(ti)
                            } else if state[ti].1 == y {
                                -weight(ti)
                            } else {
                                0.0
                            }
                        })
                        .sum();
                    (v, t)
                })
                .filter(|&(v, _)| v > 0.0)
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let room = (max_e as usize - removals.len()).min(chunk);
            for &(_, t) in scored.iter().take(room) {
                removed_flag[t] = true;
                removals.push(t);
                for &ti in &members[t] {
                    votes[ti as usize][dataset.train.labels[t] as usize] -= 1;
                }
                progressed = true;
            }
        }
        if (insertions.len() as u64) < max_e {
            let state = states(&votes);
            let weight = |ti: usize| weight_of(&state, ti);
            let mut scored: Vec<(f64, usize, u32)> = reach
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_empty())
                .filter_map(|(j, r)| {
                    let mut by_label = vec![0f64; c];
                    for &ti in r {
                        let ti = ti as usize;
                        by_label[state[ti].1 as usize] += weight(ti);
                    }
                    let (l, v) =
                        by_label
                            .iter()
                            .enumerate()
                            .fold(
                                (0usize, 0f64),
                                |best, (l, &v)| if v > best.1 { (l, v) } else { best },
                            );
                    (v > 0.0).then_some((v, j, l as u32))
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let room = (max_e as usize - insertions.len()).min(chunk);
            for &(_, j, l) in scored.iter().take(room) {
                insertions.push((j, l));
                for &ti in &reach[j] {
                    votes[ti as usize][l as usize] += 1;
                }
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    (removals, insertions)
}

/// The best certified count at every e ≤ max_e (ISLAND for rNN, individual for kNN).
fn certified_counts(
    votes: &Votes,
    target: Target,
    tie: TieRule,
    max_e: u64,
) -> Result<Vec<u64>, Error> {
    let mut options = CurveOptions::new(target.method(), target.param());
    options.tie = tie;
    options.max_e = Some(max_e);
    if target.method() == Method::Rnn {
        options.joint = vec![Certification::Island, Certification::Best];
    }
    let out = certify_votes(votes, &options)?;
    Ok(out
        .curves
        .last()
        .map(|c| c.certified.clone())
        .unwrap_or_default())
}

/// `D − removed + inserted`, where each insertion is a copy of a test image with a label.
pub fn poisoned_dataset(
    dataset: &Dataset,
    removed: &[usize],
    inserted: &[(usize, u32)],
) -> Dataset {
    let len = dataset.train.record_len;
    let mut is_removed = vec![false; dataset.train.len()];
    for &j in removed {
        is_removed[j] = true;
    }
    let mut records = Vec::with_capacity(dataset.train.records.len() + inserted.len() * len);
    let mut labels = Vec::with_capacity(dataset.train.len() + inserted.len());
    for j in (0..dataset.train.len()).filter(|&j| !is_removed[j]) {
        records.extend_from_slice(dataset.train.record(j));
        labels.push(dataset.train.labels[j]);
    }
    for &(i, label) in inserted {
        records.extend_from_slice(dataset.test.record(i));
        labels.push(label);
    }
    let features = dataset.train.features.as_ref().map(|_| {
        // Feature datasets: the features of the kept rows, then the test rows inserted.
        let dim = match dataset.content {
            crate::data::Content::Features { dim, .. } => dim,
            crate::data::Content::Images(s) => s.len(),
        };
        let tr = dataset.train.features.as_ref().expect("checked");
        let te = dataset
            .test
            .features
            .as_ref()
            .expect("feature datasets have both");
        let mut f = Vec::with_capacity(labels.len() * dim);
        for j in (0..dataset.train.len()).filter(|&j| !is_removed[j]) {
            f.extend_from_slice(&tr[j * dim..(j + 1) * dim]);
        }
        for &(i, _) in inserted {
            f.extend_from_slice(&te[i * dim..(i + 1) * dim]);
        }
        f
    });
    let mut d = dataset.clone();
    d.train = Split {
        records,
        labels,
        record_len: len,
        features,
    };
    d
}

/// Checks the attack against the certificates: attacked ≥ certified for every row, and the
/// individual attack flipped every input it aimed at. Returns the violations.
pub fn soundness_violations(report: &AttackReport) -> Vec<String> {
    let mut out: Vec<String> = report
        .rows
        .iter()
        .filter(|r| r.attacked_correct < r.certified_correct)
        .map(|r| {
            format!(
                "{} {} {} e = {}: attack leaves {} correct, certificate claims {}",
                r.method, r.param, r.strategy, r.e, r.attacked_correct, r.certified_correct
            )
        })
        .collect();
    if report.individual_failures > 0 {
        out.push(format!(
            "{} individual attacks did not flip their target (e* not tight)",
            report.individual_failures
        ));
    }
    out
}

/// Convenience for tests: the clean per-point certificates of `target`.
pub fn clean_certificates(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
    tie: TieRule,
) -> Result<Vec<PointCertificate>, Error> {
    Ok(certify_points(
        &votes_of(dataset, features, target, metric, kernel)?,
        tie,
    ))
}

/// What the backdoor attack achieved at one budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackdoorRow {
    /// Inserted poisoned examples.
    pub e: u64,
    /// Triggered test inputs still classified as their true label.
    pub attacked_correct: u64,
    /// Triggered test inputs certified correct at e (backdoor certified accuracy).
    pub certified_correct: u64,
    /// Triggered test inputs (true label ≠ target) classified as the target label.
    pub successes: u64,
    /// Triggered test inputs whose true label is not the target.
    pub eligible: u64,
    /// Test inputs.
    pub n_test: u64,
}

impl BackdoorRow {
    /// The attack success rate with `decimals` digits (rounded down), `None` when every
    /// test input already carries the target label.
    pub fn success_rate_text(&self, decimals: u32) -> Option<String> {
        (self.eligible > 0).then(|| format_fraction_floor(self.successes, self.eligible, decimals))
    }
}

/// The backdoor rows where the attack beat the certificate (must be none).
pub fn backdoor_violations(rows: &[BackdoorRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.attacked_correct < r.certified_correct)
        .map(|r| {
            format!(
                "backdoor e = {}: attack leaves {} correct, certificate claims {}",
                r.e, r.attacked_correct, r.certified_correct
            )
        })
        .collect()
}

/// BadNets-style backdoor: for each budget e, insert e training images (a fixed seeded
/// choice among those not labelled `target_label`) stamped with `trigger` and labelled
/// `target_label` (poisoning size e), re-run the classifier, and evaluate on the test set,
/// which the caller has already stamped with the same trigger.
#[allow(clippy::too_many_arguments)]
pub fn backdoor(
    triggered: &Dataset,
    trigger: crate::data::trigger::Trigger,
    target_label: u32,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
    budgets: &[u64],
    tie: TieRule,
) -> Result<Vec<BackdoorRow>, Error> {
    let crate::data::Content::Images(shape) = triggered.content else {
        return Err(Error::invalid("backdoor: needs images"));
    };
    if target_label as usize >= triggered.n_classes {
        return Err(Error::invalid(format!(
            "target label: expected a label below {}, found {target_label}",
            triggered.n_classes
        )));
    }
    trigger.check(shape)?;
    let clean = votes_of(triggered, features, target, metric, kernel)?;
    let max_e = *budgets.iter().max().unwrap_or(&0);
    let certified = certified_counts(&clean, target, tie, max_e)?;
    // A fixed pseudo-random order of the training images that are not of the target label.
    let mut sources: Vec<usize> = (0..triggered.train.len())
        .filter(|&j| triggered.train.labels[j] != target_label)
        .collect();
    let mut rng = crate::certify::grouping::SplitMix64::new(0xbadd_0042);
    for i in (1..sources.len()).rev() {
        sources.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let n_test = triggered.test.len();
    let eligible = triggered
        .test
        .labels
        .iter()
        .filter(|&&y| y != target_label)
        .count() as u64;
    let mut rows = Vec::new();
    for &e in budgets {
        let mut poisoned = triggered.clone();
        for &j in sources.iter().take(e as usize) {
            let mut image = triggered.train.record(j).to_vec();
            trigger.apply(shape, &mut image);
            poisoned.train.records.extend_from_slice(&image);
            poisoned.train.labels.push(target_label);
        }
        let votes = votes_of(&poisoned, features, target, metric, kernel)?;
        let predicted: Vec<u32> = (0..n_test)
            .map(|i| Prediction::from_counts(votes.row(i), tie).predicted)
            .collect();
        rows.push(BackdoorRow {
            e,
            attacked_correct: (0..n_test)
                .filter(|&i| predicted[i] == triggered.test.labels[i])
                .count() as u64,
            certified_correct: certified[e as usize],
            successes: (0..n_test)
                .filter(|&i| {
                    triggered.test.labels[i] != target_label && predicted[i] == target_label
                })
                .count() as u64,
            eligible,
            n_test: n_test as u64,
        });
    }
    Ok(rows)
}
