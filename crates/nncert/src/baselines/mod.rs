//! The baselines the paper compares with (METHOD §5): deep partition aggregation (DPA) and
//! bagging, with built-in base learners ([`ensemble`]) or from a user's votes; and the
//! later partition defenses, Finite Aggregation ([`aggregation`]) and Run-Off Election
//! ([`runoff`]), from base models' votes or label rankings ([`model_outputs`]) on the
//! bucket structure of [`spread`] (derivations in `docs/ENSEMBLES.md`).

pub mod aggregation;
pub mod bagging;
pub mod beta;
pub mod builtin;
pub mod dpa;
pub mod ensemble;
pub mod model_outputs;
pub(crate) mod neighbour_learners;
pub mod runoff;
pub mod spread;
mod tile_scan;

use crate::certify::Certification;
use crate::classifier::Classifier;
use crate::curve::{Curve, MAX_E_LIMIT, monotone_from_right};
use crate::error::Error;
use crate::votes::Prediction;

/// A baseline's certificate for one test input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineCertificate {
    /// True label.
    pub label: u32,
    /// The ensemble's prediction (DPA's tie rule: smaller label wins).
    pub prediction: Prediction,
    /// Largest certified poisoning size (in the units asked), `None` if the input is not
    /// certified even at 0 (misclassified, or bagging's confidence bounds do not separate).
    pub e_star: Option<u64>,
}

impl BaselineCertificate {
    /// Certified correct at `e`.
    pub fn certified_at(&self, e: u64) -> bool {
        self.prediction.predicted == self.label && self.e_star.is_some_and(|s| e <= s)
    }
}

/// The CA(e) curve of baseline certificates, `e` up to `max_e` (default: until 0).
pub fn baseline_curve(
    classifier: Classifier,
    certs: &[BaselineCertificate],
    max_e: Option<u64>,
) -> Result<Curve, Error> {
    if let Some(m) = max_e.filter(|&m| m > MAX_E_LIMIT) {
        return Err(Error::invalid(format!(
            "max-e: expected at most {MAX_E_LIMIT}, found {m}"
        )));
    }
    let certified_stars: Vec<u64> = certs
        .iter()
        .filter(|c| c.prediction.predicted == c.label)
        .filter_map(|c| c.e_star)
        .collect();
    let horizon = certified_stars.iter().map(|&s| s + 1).max().unwrap_or(0);
    // As for kNN/rNN: the default range is capped, so a vote count or a training-set size
    // read from input never decides the allocation.
    let last = max_e.unwrap_or(horizon.min(crate::curve::DEFAULT_MAX_E_CAP));
    // Counts are stored up to the horizon at most (0 there and after; see `Curve`).
    let stored = last.min(horizon);
    let mut certified = vec![0u64; stored as usize + 1];
    for &s in &certified_stars {
        let top = s.min(stored) as usize;
        certified[top] += 1;
    }
    for e in (0..certified.len().saturating_sub(1)).rev() {
        certified[e] += certified[e + 1];
    }
    monotone_from_right(&mut certified);
    Ok(Curve {
        classifier,
        certification: Certification::Individual,
        certified,
        max_e: last,
        n_test: certs.len() as u64,
    })
}
