//! Finite Aggregation (Wang, Levine & Feizi, ICML 2022) and DPA from base-model votes.
//!
//! The ensemble predicts the label with most votes among its `k·d` base models (abstaining
//! models vote for nothing), the smaller label winning ties. One inserted or deleted
//! training example lands in one bucket and can change the `d` models that bucket feeds
//! ([`Spread`]). Against a label `c ≠ a` (the prediction), a changed model moves the vote
//! difference `N_a − N_c` by at most its *power* `1 + [votes a] − [votes c]`; a bucket's
//! power is the sum over its models. `c` overtakes `a` only once the difference has fallen
//! by `gap = N_a − N_c + [c > a]`, so an attacker needs at least the smallest number of
//! buckets whose largest powers sum to `gap`. The certificate `ρ` is that number, minimised
//! over `c`, minus one, in insertions + deletions (each operation touches one bucket).
//! Derivation, and why counting shared models twice keeps it sound: `docs/ENSEMBLES.md`.
//!
//! With `d = 1` this is exactly DPA's `ρ` (tested).

use rayon::prelude::*;

use super::BaselineCertificate;
use super::dpa::Units;
use super::model_outputs::{ABSTAIN, ModelVotes};
use super::spread::Spread;
use crate::error::Error;
use crate::votes::{Prediction, TieRule};

/// A partition ensemble's certificate for one test input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateCertificate {
    /// True label.
    pub label: u32,
    /// The ensemble's prediction and runner-up with their votes (for Run-Off Election: the
    /// two finalists and their round-two votes).
    pub prediction: Prediction,
    /// The prediction survives every set of `ρ` insertions and deletions of training
    /// examples (each counted once).
    pub rho: u64,
}

impl AggregateCertificate {
    /// The certificate in `units`: `ρ` itself (insertions + deletions), or `⌊ρ/2⌋` in
    /// nncert's poisoning size (`e` removals with `e` insertions are at most `2e`
    /// operations, so size `e` is covered whenever `2e ≤ ρ`).
    pub fn in_units(&self, units: Units) -> BaselineCertificate {
        BaselineCertificate {
            label: self.label,
            prediction: self.prediction,
            e_star: Some(match units {
                Units::Insdel => self.rho,
                Units::Poisoning => self.rho / 2,
            }),
        }
    }
}

/// Per-thread buffers for one test input.
pub(crate) struct Scratch {
    /// `c × B`: models of each bucket voting each label, filled one label at a time when
    /// a certificate first needs it ([`ensure_tally`]).
    pub(crate) tally: Vec<u32>,
    /// `c`: whether the label's row of `tally` is filled for the current test input.
    tally_ready: Vec<bool>,
    /// `M`: whether each model votes the label being tallied.
    indicator: Vec<u32>,
    /// `B`: a power per bucket.
    pub(crate) power: Vec<u32>,
    /// `M`: a value per model (ROE: its power on round two against one label).
    pub(crate) per_model: Vec<u32>,
    /// `c`: voting models that rank the prediction before each label (ROE).
    pub(crate) wins: Vec<u32>,
    /// Histogram of powers.
    pub(crate) hist: Vec<u32>,
    /// `c`: votes per label.
    pub(crate) counts: Vec<u32>,
    /// `c`: round-two votes for the prediction minus votes for each label (ROE).
    pub(crate) duel: Vec<i64>,
}

impl Scratch {
    pub(crate) fn new(spread: &Spread, n_classes: usize) -> Scratch {
        let b = spread.n_buckets();
        Scratch {
            tally: vec![0; n_classes * b],
            tally_ready: vec![false; n_classes],
            indicator: vec![0; b],
            power: vec![0; b],
            per_model: vec![0; b],
            wins: vec![0; n_classes],
            hist: Vec::new(),
            counts: vec![0; n_classes],
            duel: Vec::new(),
        }
    }
}

/// Starts a new test input: no label's tally row is filled yet.
pub(crate) fn reset_tally(scratch: &mut Scratch) {
    scratch.tally_ready.fill(false);
}

/// Fills `tally[l·B + b]`, the number of models of bucket `b` that vote `l`, unless it
/// is already filled for this test input (`scratch.counts` must hold the row's votes).
///
/// Why per label and on demand: a certificate rarely needs every label (the others are
/// ruled out by [`min_buckets_floor`]), a label nobody votes for has an all-zero row, and
/// a row is a sum of `d` shifted copies of a 0/1 vector, which vectorises, where
/// scattering `M·d` increments over all labels at once does not.
pub(crate) fn ensure_tally(spread: &Spread, row: &[u32], l: u32, scratch: &mut Scratch) {
    let l = l as usize;
    if scratch.tally_ready[l] {
        return;
    }
    scratch.tally_ready[l] = true;
    let n = spread.n_buckets();
    let out = &mut scratch.tally[l * n..(l + 1) * n];
    if scratch.counts[l] == 0 {
        out.fill(0);
        return;
    }
    for (x, &v) in scratch.indicator.iter_mut().zip(row) {
        *x = u32::from(v == l as u32);
    }
    bucket_sums(spread, &scratch.indicator, out);
}

/// `out[b] = Σ_s x[(b + s) mod B]`: the sum of a per-model value over each bucket's models.
pub(crate) fn bucket_sums(spread: &Spread, x: &[u32], out: &mut [u32]) {
    out.fill(0);
    let n = x.len();
    for &s in spread.shifts() {
        let (head, tail) = out.split_at_mut(n - s);
        for (o, v) in head.iter_mut().zip(&x[s..]) {
            *o += v;
        }
        for (o, v) in tail.iter_mut().zip(&x[..s]) {
            *o += v;
        }
    }
}

/// The fewest buckets whose powers sum to at least `gap` (0 when `gap ≤ 0`; `u64::MAX` if
/// all of them together fall short). Every power must be ≤ `max_power`.
pub(crate) fn min_buckets(gap: i64, powers: &[u32], max_power: u32, hist: &mut Vec<u32>) -> u64 {
    if gap <= 0 {
        return 0;
    }
    hist.clear();
    hist.resize(max_power as usize + 1, 0);
    for &p in powers {
        hist[p as usize] += 1;
    }
    let mut remaining = gap as u64;
    let mut taken = 0u64;
    for p in (1..=max_power).rev() {
        let h = u64::from(hist[p as usize]);
        if h == 0 {
            continue;
        }
        let p = u64::from(p);
        if h * p >= remaining {
            return taken + remaining.div_ceil(p);
        }
        remaining -= h * p;
        taken += h;
    }
    u64::MAX
}

/// A lower bound of [`min_buckets`] that needs no pass over the buckets.
pub(crate) fn min_buckets_floor(gap: i64, max_power: u32) -> u64 {
    if gap <= 0 {
        0
    } else {
        (gap as u64).div_ceil(u64::from(max_power.max(1)))
    }
}

/// `gap` for label `c` to overtake label `a` (smaller label wins ties): the fall of
/// `N_a − N_c` that makes `c` rank before `a`.
pub(crate) fn overtake_gap(counts: &[u32], a: u32, c: u32) -> i64 {
    i64::from(counts[a as usize]) - i64::from(counts[c as usize]) + i64::from(c > a)
}

/// The fewest buckets an attacker needs so that `c` ranks before `a` in the vote of `row`
/// (whose vote counts are in `scratch.counts`).
pub(crate) fn overtake_cost(
    spread: &Spread,
    row: &[u32],
    scratch: &mut Scratch,
    a: u32,
    c: u32,
) -> u64 {
    let gap = overtake_gap(&scratch.counts, a, c);
    let d = spread.d() as u32;
    if gap <= 0 {
        return 0;
    }
    ensure_tally(spread, row, a, scratch);
    ensure_tally(spread, row, c, scratch);
    let n = spread.n_buckets();
    let (ta, tc) = (a as usize * n, c as usize * n);
    for b in 0..n {
        scratch.power[b] = d + scratch.tally[ta + b] - scratch.tally[tc + b];
    }
    min_buckets(gap, &scratch.power, 2 * d, &mut scratch.hist)
}

fn count_row(row: &[u32], counts: &mut [u32]) {
    counts.fill(0);
    for &v in row {
        if v != ABSTAIN {
            counts[v as usize] += 1;
        }
    }
}

fn fa_row(spread: &Spread, row: &[u32], label: u32, scratch: &mut Scratch) -> AggregateCertificate {
    count_row(row, &mut scratch.counts);
    let prediction = Prediction::from_counts(&scratch.counts, TieRule::Smaller);
    let a = prediction.predicted;
    reset_tally(scratch);
    let max_power = 2 * spread.d() as u32;
    let mut best = u64::MAX;
    for c in 0..scratch.counts.len() as u32 {
        if c == a || min_buckets_floor(overtake_gap(&scratch.counts, a, c), max_power) >= best {
            continue;
        }
        best = best.min(overtake_cost(spread, row, scratch, a, c));
    }
    AggregateCertificate {
        label,
        prediction,
        rho: certified_ops(best, spread),
    }
}

/// `ρ` from the fewest buckets that can flip the prediction (at least 1; capped at the
/// number of buckets, which an attacker who touches every bucket always has).
pub(crate) fn certified_ops(min_flip: u64, spread: &Spread) -> u64 {
    debug_assert!(
        min_flip >= 1,
        "the clean prediction needs no bucket to stand"
    );
    min_flip.min(spread.n_buckets() as u64).saturating_sub(1)
}

pub(crate) fn check_models(spread: &Spread, n_models: usize) -> Result<(), Error> {
    if spread.n_models() != n_models {
        return Err(Error::invalid(format!(
            "spread: k·d = {}·{} = {} models expected, the outputs have {n_models}",
            spread.k(),
            spread.d(),
            spread.n_models()
        )));
    }
    Ok(())
}

/// Finite Aggregation certificates (DPA when `spread` has `d = 1`) of every test input.
pub fn fa_certificates(
    votes: &ModelVotes,
    spread: &Spread,
) -> Result<Vec<AggregateCertificate>, Error> {
    check_models(spread, votes.n_models())?;
    Ok((0..votes.n_test())
        .into_par_iter()
        .map_init(
            || Scratch::new(spread, votes.n_classes()),
            |scratch, i| fa_row(spread, votes.row(i), votes.labels()[i], scratch),
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_buckets_by_hand() {
        let mut h = Vec::new();
        assert_eq!(min_buckets(0, &[1, 2], 2, &mut h), 0);
        assert_eq!(min_buckets(3, &[1, 2, 0], 2, &mut h), 2);
        assert_eq!(min_buckets(4, &[1, 2, 2], 2, &mut h), 2);
        assert_eq!(min_buckets(6, &[1, 2, 2], 2, &mut h), u64::MAX);
        assert_eq!(min_buckets(5, &[1, 2, 2], 2, &mut h), 3);
    }

    #[test]
    fn bucket_sums_follow_the_spread() {
        let s = Spread::new(2, 2, vec![0, 3]).unwrap();
        let x = [1, 10, 100, 1000];
        let mut out = [0; 4];
        bucket_sums(&s, &x, &mut out);
        // Bucket b feeds models b and b + 3 (mod 4).
        assert_eq!(out, [1 + 1000, 10 + 1, 100 + 10, 1000 + 100]);
    }
}
