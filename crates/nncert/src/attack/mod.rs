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

mod backdoor;
mod clean;
mod greedy;
mod individual;
mod poison;

use std::fmt;

use serde::Serialize;

pub(crate) use backdoor::backdoor_violations;
pub use backdoor::{BackdoorRow, backdoor};
pub(crate) use poison::poisoned_dataset;

use crate::certify::{Certification, Method, PointCertificate, certify_points};
use crate::classifier::Classifier;
use crate::curve::{Curve, CurveOptions, certify_votes};
use crate::data::Dataset;
use crate::error::Error;
use crate::features::FeatureKind;
use crate::neighbours::Kernel;
use crate::neighbours::kernel::Metric;
use crate::votes::{Prediction, TieRule, Votes};
use clean::{clean_run, padded, votes_of};
use individual::Plan;

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
    /// kNN or rNN.
    pub fn method(self) -> Method {
        match self {
            Target::Knn(_) => Method::Knn,
            Target::Rnn(_) => Method::Rnn,
        }
    }

    /// The classifier setting (its `Display` is the `param` column of the outputs).
    pub fn classifier(self) -> Classifier {
        match self {
            Target::Knn(k) => Classifier::Knn { k },
            Target::Rnn(r) => Classifier::Rnn { r },
        }
    }
}

/// How a poisoned set was built (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// One set per attacked input.
    Individual,
    /// The cheapest individual sets merged within the budget.
    Budget,
    /// One shared set chosen by weighted gain.
    Greedy,
}

impl Strategy {
    /// Every strategy, in the order reports list them.
    pub const ALL: [Strategy; 3] = [Strategy::Individual, Strategy::Budget, Strategy::Greedy];

    /// The name used in files and figures.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Individual => "individual",
            Strategy::Budget => "budget",
            Strategy::Greedy => "greedy",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `attack.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackRow {
    /// kNN with its k or rNN with its r (written as `method` and `param`).
    #[serde(flatten)]
    pub classifier: Classifier,
    /// How the poisoned set was built.
    pub strategy: Strategy,
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

/// Copies of one test input inserted into the training set with one label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Insertion {
    /// Index of the test input (in the test set the attack ran on) whose record and
    /// features are copied.
    pub source: usize,
    /// The label the copies carry.
    pub label: u32,
    /// How many copies.
    pub copies: usize,
}

/// Run-length form of a list of (test input, label) insertions, order kept.
fn run_lengths(inserted: &[(usize, u32)]) -> Vec<Insertion> {
    let mut out: Vec<Insertion> = Vec::new();
    for &(source, label) in inserted {
        match out.last_mut() {
            Some(last) if last.source == source && last.label == label => last.copies += 1,
            _ => out.push(Insertion {
                source,
                label,
                copies: 1,
            }),
        }
    }
    out
}

/// One concrete poisoned set, as METHOD §1 measures it: `D − removed + inserted`, with the
/// inserted copies appended after the kept training examples in the order listed. It is
/// complete, so the attack can be replayed from it (`report::attack_poison_csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoisonedSet {
    /// How the poisoned set was built.
    pub strategy: Strategy,
    /// Budget e.
    pub e: u64,
    /// Test input aimed at (`individual`), or `None` for the whole test set.
    pub target: Option<usize>,
    /// Training examples removed (global training indices, in the order chosen).
    pub removed: Vec<usize>,
    /// Examples inserted: copies of test inputs with a label, in insertion order.
    pub inserted: Vec<Insertion>,
    /// Test inputs the classifier re-run on this set still classifies correctly: over the
    /// whole test set for a shared set, over its one target (0 or 1) for `individual`.
    pub correct_after: u64,
}

impl PoisonedSet {
    /// Number of inserted examples.
    pub(crate) fn inserted_count(&self) -> usize {
        self.inserted.iter().map(|i| i.copies).sum()
    }

    /// `max(|D'|, |D|) − |D ∩ D'|` = max(removed, inserted).
    pub fn poisoning_size(&self) -> usize {
        self.removed.len().max(self.inserted_count())
    }
}

/// Everything an attack run produced.
#[derive(Debug, Clone)]
pub struct AttackReport {
    /// The classifier attacked.
    pub target: Target,
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

impl AttackReport {
    /// The certified curves of the attacked classifier from its clean votes, `e = 0..=max_e`
    /// (individual, and ISLAND for rNN): what the attacks are drawn against.
    pub fn certified_curves(&self, tie: TieRule, max_e: u64) -> Result<Vec<Curve>, Error> {
        let mut options = CurveOptions::for_classifier(self.target.classifier());
        options.tie = tie;
        options.max_e = Some(max_e);
        if self.target.method() == Method::Rnn {
            options.joint = vec![Certification::Island];
        }
        Ok(certify_votes(&self.clean, &options)?.curves)
    }
}

/// What every strategy needs: the data, the attacked classifier and its settings.
pub(crate) struct Context<'a> {
    dataset: &'a Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
    tie: TieRule,
}

impl Context<'_> {
    /// One poisoned set for the whole test set, re-run through the real pipeline.
    fn shared_set(
        &self,
        strategy: Strategy,
        e: u64,
        removed: &[usize],
        inserted: &[(usize, u32)],
        certified_correct: u64,
    ) -> Result<(AttackRow, PoisonedSet), Error> {
        let d = self.dataset;
        let poisoned = poisoned_dataset(d, removed, inserted);
        let votes = votes_of(
            &poisoned,
            self.features,
            self.target,
            self.metric,
            self.kernel,
        )?;
        let attacked_correct = (0..d.test.len())
            .filter(|&i| {
                Prediction::from_counts(votes.row(i), self.tie).predicted == d.test.labels[i]
            })
            .count() as u64;
        Ok((
            self.row(strategy, e, attacked_correct, certified_correct),
            PoisonedSet {
                strategy,
                e,
                target: None,
                removed: removed.to_vec(),
                inserted: run_lengths(inserted),
                correct_after: attacked_correct,
            },
        ))
    }

    fn row(&self, strategy: Strategy, e: u64, attacked: u64, certified: u64) -> AttackRow {
        AttackRow {
            classifier: self.target.classifier(),
            strategy,
            e,
            attacked_correct: attacked,
            certified_correct: certified,
            n_test: self.dataset.test.len() as u64,
        }
    }
}

/// Runs every strategy for every `e` in `budgets` against the classifier `target`.
pub fn attack(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
    budgets: &[u64],
    tie: TieRule,
) -> Result<AttackReport, Error> {
    let Some(&max_e) = budgets.iter().max() else {
        return Err(Error::invalid(
            "attack: expected at least one poisoning size e",
        ));
    };
    if matches!(metric, Metric::Ip | Metric::Cosine) {
        return Err(Error::invalid(format!(
            "attack: metric {metric} is not supported (expected l1, l2 or linf)"
        )));
    }
    let ctx = Context {
        dataset,
        features,
        target,
        metric,
        kernel,
        tie,
    };
    let clean = clean_run(dataset, features, target, metric, kernel)?;
    let points = certify_points(&clean.votes, tie);
    let plans = individual::plans(&ctx, &points, &clean.neighbourhoods, max_e);
    let flipped = individual::flips(&ctx, &plans, &clean.train_features, &clean.test_features);
    let (mut rows, mut sets) = individual_results(&ctx, &points, &plans, &flipped, budgets);

    let certified = certified_counts(&clean.votes, target, tie, max_e)?;
    for &e in budgets {
        let (removed, inserted) = individual::merged(&plans, e);
        let (row, set) = ctx.shared_set(
            Strategy::Budget,
            e,
            &removed,
            &inserted,
            certified[e as usize],
        )?;
        rows.push(row);
        sets.push(set);
    }
    let test_f = &clean.test_features;
    let test_rows: Vec<Vec<f32>> = (0..test_f.n).map(|i| padded(test_f.row(i))).collect();
    let (removals, insertions) = greedy::greedy_sequence(
        &ctx,
        &test_rows,
        &clean.neighbourhoods,
        &points,
        &clean.votes,
        max_e,
    );
    for &e in budgets {
        let removed = &removals[..removals.len().min(e as usize)];
        let inserted = &insertions[..insertions.len().min(e as usize)];
        let (row, set) = ctx.shared_set(
            Strategy::Greedy,
            e,
            removed,
            inserted,
            certified[e as usize],
        )?;
        rows.push(row);
        sets.push(set);
    }
    Ok(AttackReport {
        target,
        rows,
        sets,
        individual_failures: flipped.iter().filter(|&&f| !f).count(),
        individual_flips: flipped.iter().filter(|&&f| f).count(),
        clean: clean.votes,
    })
}

/// The `individual` rows (per budget: an input counts as flipped when its own set, of
/// size `e* + 1 ≤ e`, flipped it) and one poisoned set per plan.
fn individual_results(
    ctx: &Context<'_>,
    points: &[PointCertificate],
    plans: &[Plan],
    flipped: &[bool],
    budgets: &[u64],
) -> (Vec<AttackRow>, Vec<PoisonedSet>) {
    let correct_total = points.iter().filter(|p| p.correct()).count() as u64;
    let rows = budgets
        .iter()
        .map(|&e| {
            let flips_at_e = plans
                .iter()
                .zip(flipped)
                .filter(|(plan, f)| **f && plan.copies as u64 <= e)
                .count() as u64;
            let certified = points.iter().filter(|p| p.certified_at(e)).count() as u64;
            ctx.row(
                Strategy::Individual,
                e,
                correct_total - flips_at_e,
                certified,
            )
        })
        .collect();
    let sets = plans
        .iter()
        .zip(flipped)
        .map(|(plan, &flipped)| PoisonedSet {
            strategy: Strategy::Individual,
            e: plan.copies as u64,
            target: Some(plan.target),
            removed: plan.removed.clone(),
            inserted: vec![Insertion {
                source: plan.target,
                label: plan.inserted_label,
                copies: plan.copies,
            }],
            correct_after: u64::from(!flipped),
        })
        .collect();
    (rows, sets)
}

/// The best certified count at every e ≤ max_e (ISLAND for rNN, individual for kNN).
pub(crate) fn certified_counts(
    votes: &Votes,
    target: Target,
    tie: TieRule,
    max_e: u64,
) -> Result<Vec<u64>, Error> {
    let mut options = CurveOptions::for_classifier(target.classifier());
    options.tie = tie;
    options.max_e = Some(max_e);
    if target.method() == Method::Rnn {
        options.joint = vec![Certification::Island, Certification::Best];
    }
    let out = certify_votes(votes, &options)?;
    Ok(out.curves.last().map(Curve::padded).unwrap_or_default())
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
                r.classifier.method(),
                r.classifier,
                r.strategy,
                r.e,
                r.attacked_correct,
                r.certified_correct
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
