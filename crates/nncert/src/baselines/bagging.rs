//! Bagging (Jia, Cao & Gong 2021; METHOD §5): `N` base classifiers, each trained on `ξ`
//! examples drawn uniformly with replacement from the `n` training examples.
//!
//! With `p_low` a lower confidence bound on the probability that a random base classifier
//! predicts the true label and `p_up` an upper bound for every other label, the prediction
//! is certified at poisoning size `e` iff for every `n'` in `[n − e, n + e]`
//!
//! ```text
//! f(n') = (n'/n)^ξ − 2·((max(n, n') − e)/n)^ξ + 1 − p_low + p_up < 0.
//! ```
//!
//! **The maximum over n' in closed form.** For `n' ≤ n`, `f` is increasing in `n'` (only
//! `(n'/n)^ξ` depends on it), so the maximum there is at `n' = n`. For `n' ≥ n`, write
//! `x = n'/n`, `ε = e/n` and `g(x) = x^ξ − 2(x − ε)^ξ`. Then
//! `g'(x) = ξ[x^{ξ−1} − 2(x − ε)^{ξ−1}]`, which is positive iff `x/(x − ε) > t` with
//! `t = 2^{1/(ξ−1)}`; since `x/(x − ε)` decreases in `x`, `g` increases up to
//! `x* = ε·t/(t − 1)` and decreases after it (for ξ = 1, `g` is decreasing). So over the
//! integers `n' ∈ [n, n + e]` the maximum is at `⌊n x*⌋` or `⌈n x*⌉` clamped to the range, or at
//! an end of the range; nncert evaluates those (at most four) candidates.
//!
//! **The largest e.** For a fixed `n'`, `f` grows with `e`, and the range of `n'` grows with
//! `e`, so "certified at e" is monotone; the largest `e` is found by bisection over
//! `0..=n`. Each comparison asks for `f < −1e-12` rather than `< 0`, so that rounding in
//! `f64` can only make the certificate more conservative.
//!
//! **Confidence.** `p_low` and `p_up` are one-sided Clopper–Pearson bounds at level
//! `α / (c · n_test)` each (Bonferroni over the labels and the test set), so every
//! certificate of a run holds simultaneously with probability at least `1 − α`. `p_up` is
//! the upper bound of the most-voted other label, capped at `1 − p_low`.

use super::BaselineCertificate;
use super::beta::{clopper_pearson_lower, clopper_pearson_upper};
use crate::error::Error;
use crate::rng::SplitMix64;
use crate::votes::{Prediction, TieRule, Votes};

/// Bagging settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BaggingParams {
    /// Number of base classifiers `N`.
    pub n_models: u64,
    /// Subsample size `ξ`.
    pub xi: u32,
    /// Training-set size `n`.
    pub train_size: u64,
    /// Overall failure probability `α`.
    pub alpha: f64,
}

/// The most base classifiers `N` accepted (the paper uses 1,000); the confidence bounds
/// are cached per vote count in `0..=N`.
pub(crate) const MAX_MODELS: u64 = 1_000_000;
/// The largest subsample size `ξ` accepted (the paper uses 27 and 400).
pub(crate) const MAX_SUBSAMPLE: u32 = 1_000_000;
/// The largest training-set size `n` accepted: far above any dataset, small enough that
/// `n + e` cannot overflow and `n` is exact in `f64`.
pub(crate) const MAX_TRAIN_SIZE: u64 = 1_000_000_000_000;

impl BaggingParams {
    /// Checks the ranges (each bound is named in the message).
    pub fn validate(&self) -> Result<(), Error> {
        let checks: [(&str, u64, u64); 3] = [
            ("models N", self.n_models, MAX_MODELS),
            (
                "subsample size ξ",
                u64::from(self.xi),
                u64::from(MAX_SUBSAMPLE),
            ),
            ("training-set size n", self.train_size, MAX_TRAIN_SIZE),
        ];
        for (what, value, max) in checks {
            if !(1..=max).contains(&value) {
                return Err(Error::invalid(format!(
                    "bagging {what}: expected a value in 1..={max}, found {value}"
                )));
            }
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::invalid(format!(
                "bagging alpha: expected a value in (0, 1), found {}",
                self.alpha
            )));
        }
        Ok(())
    }
}

/// The subsample of each of `n_models` models: `ξ` indices in `0..n` drawn with
/// replacement from one SplitMix64 stream seeded by `seed` (model by model).
pub(crate) fn subsamples(n: usize, n_models: usize, xi: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = SplitMix64::new(seed);
    (0..n_models)
        .map(|_| (0..xi).map(|_| rng.below(n as u64) as usize).collect())
        .collect()
}

fn f_max(n: u64, xi: u32, e: u64, slack: f64) -> f64 {
    let nf = n as f64;
    let g = |n_prime: u64| {
        let x = n_prime as f64 / nf;
        x.powi(xi as i32) - 2.0 * ((n_prime.max(n) - e) as f64 / nf).powi(xi as i32)
    };
    let mut candidates = vec![n, n + e];
    if xi >= 2 && e > 0 {
        let t = 2f64.powf(1.0 / (xi as f64 - 1.0));
        let star = e as f64 * t / (t - 1.0);
        for c in [star.floor(), star.ceil()] {
            if c.is_finite() && c >= 0.0 {
                candidates.push((c as u64).clamp(n, n + e));
            }
        }
    }
    candidates
        .into_iter()
        .map(g)
        .fold(f64::NEG_INFINITY, f64::max)
        + slack
}

/// Largest certified `e` for confidence bounds `p_low`, `p_up`, or `None` when
/// `p_low ≤ p_up` (not even `e = 0`).
pub fn e_star(n: u64, xi: u32, p_low: f64, p_up: f64) -> Option<u64> {
    let slack = 1.0 - p_low + p_up;
    let certified = |e: u64| f_max(n, xi, e, slack) < -1e-12;
    if !certified(0) {
        return None;
    }
    let (mut lo, mut hi) = (0u64, n); // certified(lo) holds
    if certified(hi) {
        return Some(hi);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if certified(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// Bagging certificates of every test input from its vote counts over the `N` models.
pub fn certificates(
    votes: &Votes,
    params: &BaggingParams,
) -> Result<Vec<BaselineCertificate>, Error> {
    params.validate()?;
    let c = votes.n_classes();
    let level = params.alpha / (c as f64 * votes.n_test() as f64);
    let n_models = params.n_models;
    if let Some(i) = (0..votes.n_test())
        .find(|&i| votes.row(i).iter().map(|&v| u64::from(v)).sum::<u64>() > n_models)
    {
        return Err(Error::invalid(format!(
            "bagging: row {i} has more votes than the {n_models} models (a row counts the \
             models predicting each label, at most N = {n_models} in all)"
        )));
    }
    // Bounds depend only on a count in 0..=N: cache them.
    let mut lower = vec![f64::NAN; n_models as usize + 1];
    let mut upper = vec![f64::NAN; n_models as usize + 1];
    let mut out = Vec::with_capacity(votes.n_test());
    for i in 0..votes.n_test() {
        let row = votes.row(i);
        let y = votes.labels()[i];
        let prediction = Prediction::from_counts(row, TieRule::Smaller);
        let k_y = u64::from(row[y as usize]);
        let k_other = row
            .iter()
            .enumerate()
            .filter(|&(l, _)| l != y as usize)
            .map(|(_, &v)| u64::from(v))
            .max()
            .unwrap_or(0);
        if lower[k_y as usize].is_nan() {
            lower[k_y as usize] = clopper_pearson_lower(k_y, n_models, level);
        }
        if upper[k_other as usize].is_nan() {
            upper[k_other as usize] = clopper_pearson_upper(k_other, n_models, level);
        }
        let p_low = lower[k_y as usize];
        let p_up = upper[k_other as usize].min(1.0 - p_low);
        let e_star = if prediction.predicted == y {
            e_star(params.train_size, params.xi, p_low, p_up)
        } else {
            None
        };
        out.push(BaselineCertificate {
            label: y,
            prediction,
            e_star,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed-form maximum equals the maximum over every n' in the range.
    #[test]
    fn closed_form_maximum_matches_a_scan() {
        for n in [10u64, 57, 1000] {
            for xi in [1u32, 2, 3, 27, 400] {
                for e in [0u64, 1, 3, n / 4, n] {
                    let nf = n as f64;
                    let scan = ((n - e.min(n))..=(n + e))
                        .map(|np| {
                            (np as f64 / nf).powi(xi as i32)
                                - 2.0 * ((np.max(n) - e) as f64 / nf).powi(xi as i32)
                        })
                        .fold(f64::NEG_INFINITY, f64::max);
                    let fast = f_max(n, xi, e, 0.0);
                    assert!(
                        (scan - fast).abs() <= 1e-12 * scan.abs().max(1.0),
                        "n {n} ξ {xi} e {e}: {scan} vs {fast}"
                    );
                }
            }
        }
    }

    /// Issue 12 (3): these used to panic (index out of bounds, capacity overflow) or abort.
    #[test]
    fn out_of_range_parameters_are_refused_with_one_line() {
        let ok = BaggingParams {
            n_models: 1000,
            xi: 27,
            train_size: 60_000,
            alpha: 0.001,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            BaggingParams {
                n_models: u64::MAX,
                ..ok
            },
            BaggingParams {
                n_models: 1 << 32,
                ..ok
            },
            BaggingParams {
                train_size: u64::MAX,
                ..ok
            },
            BaggingParams {
                xi: u32::MAX,
                train_size: u64::from(u32::MAX),
                ..ok
            },
            BaggingParams { n_models: 0, ..ok },
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(
                e.starts_with("bagging ") && e.contains("expected a value in 1..="),
                "{e}"
            );
            assert!(!e.contains('\n'));
            let votes = Votes::new(vec![3, 1], 2, vec![0]).unwrap();
            assert!(certificates(&votes, &bad).is_err());
        }
    }

    #[test]
    fn e_star_is_the_largest_certified_size() {
        for (p_low, p_up) in [(0.9, 0.1), (0.6, 0.4), (0.51, 0.49), (0.999, 0.001)] {
            let (n, xi) = (60_000u64, 27u32);
            let s = e_star(n, xi, p_low, p_up).unwrap();
            let slack = 1.0 - p_low + p_up;
            assert!(f_max(n, xi, s, slack) < -1e-12);
            assert!(s == n || f_max(n, xi, s + 1, slack) >= -1e-12);
        }
        assert_eq!(e_star(100, 5, 0.4, 0.6), None);
    }
}
