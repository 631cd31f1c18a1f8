//! BadNets-style backdoor attack (METHOD §1): triggered training images labelled with a
//! target label, evaluated on triggered test inputs against the backdoor certificate.

use serde::Serialize;

use super::{Target, certified_counts, votes_of};
use crate::curve::format_fraction_floor;
use crate::data::Dataset;
use crate::error::Error;
use crate::features::FeatureKind;
use crate::neighbours::Kernel;
use crate::neighbours::kernel::Metric;
use crate::votes::{Prediction, TieRule};

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
pub(crate) fn backdoor_violations(rows: &[BackdoorRow]) -> Vec<String> {
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
    let mut rng = crate::rng::SplitMix64::new(0xbadd_0042);
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
