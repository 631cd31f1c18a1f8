//! Proven intervals of *exact keys* from fast values, comparable across searches.
//!
//! A search compares candidates by their exact key ([`super::exact::exact_key`]: the ℓ1 or
//! ℓ∞ distance, the *squared* ℓ2 distance, or −x·y for the inner product and cosine). Its
//! fast values live in one of several domains — a distance from the kernels, a squared
//! distance or `1 − x·y` from the matrix-multiplication path — and its [`Bound`] bounds
//! the quantity of that domain. To compare candidates found by *different* searches (the
//! shards of `crate::shard`, each with its own bound), every fast value is turned into
//! an interval of the exact key itself, rounded outwards, so that `hi(a) < lo(b)` proves
//! `key(a) < key(b)` whatever search produced `a` and `b` (`docs/SCALING.md`).

use super::exact::Bound;

/// What a search's fast values measure, relative to the exact key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyDomain {
    /// The fast value estimates the key itself (ℓ1, ℓ∞, inner product).
    Key,
    /// The fast value estimates the key, a squared ℓ2 distance (matrix-multiplication
    /// path); reported distances are its square root.
    SquaredDistance,
    /// The fast value estimates the ℓ2 distance; the key is its square (kernel path).
    Distance,
    /// The fast value estimates `1 − x·y` (cosine); the key is `−x·y`, one less.
    OneMinusDot,
}

impl KeyDomain {
    /// A stable code for files.
    pub fn code(self) -> u8 {
        match self {
            KeyDomain::Key => 0,
            KeyDomain::SquaredDistance => 1,
            KeyDomain::Distance => 2,
            KeyDomain::OneMinusDot => 3,
        }
    }

    /// The domain of a [`KeyDomain::code`].
    pub(crate) fn from_code(code: u8) -> Option<KeyDomain> {
        Some(match code {
            0 => KeyDomain::Key,
            1 => KeyDomain::SquaredDistance,
            2 => KeyDomain::Distance,
            3 => KeyDomain::OneMinusDot,
            _ => return None,
        })
    }

    /// The interval `[lo, hi]` that provably holds the exact key of a candidate whose fast
    /// value is `fast`, with `bound` the error bound of that value. Rounded outwards; never
    /// NaN for a bound and fast value a search produced.
    pub fn interval(self, bound: &Bound, fast: f32) -> (f64, f64) {
        // lo ≥ 0 for distances: squaring keeps the order; one rounding each way.
        (self.lo(bound, fast), self.hi(bound, fast))
    }

    /// The lower end of [`KeyDomain::interval`] alone (the pruning of a merge needs one
    /// end at a time). Non-decreasing in `fast` for a bound with a relative error below 1.
    pub fn lo(self, bound: &Bound, fast: f32) -> f64 {
        let lo = bound.lo(fast);
        match self {
            KeyDomain::Key | KeyDomain::SquaredDistance => lo,
            KeyDomain::Distance => (lo.max(0.0) * lo.max(0.0)).next_down().max(0.0),
            KeyDomain::OneMinusDot => (lo - 1.0).next_down(),
        }
    }

    /// The upper end of [`KeyDomain::interval`] alone. Non-decreasing in `fast` for a
    /// bound with a relative error below 1.
    pub fn hi(self, bound: &Bound, fast: f32) -> f64 {
        let hi = bound.hi(fast);
        match self {
            KeyDomain::Key | KeyDomain::SquaredDistance => hi,
            KeyDomain::Distance => (hi * hi).next_up(),
            KeyDomain::OneMinusDot => (hi - 1.0).next_up(),
        }
    }

    /// The distance a neighbour list reports for a fast value.
    pub fn reported(self, fast: f32) -> f32 {
        match self {
            KeyDomain::SquaredDistance => fast.sqrt(),
            _ => fast,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbours::exact::{exact_key, radius_key};
    use crate::neighbours::kernel::{Metric, scalar};
    use crate::rng::SplitMix64;

    /// The ℓ2 kernel interval, squared, holds the exact squared distance.
    #[test]
    fn squared_kernel_intervals_hold_the_exact_key() {
        let mut rng = SplitMix64::new(3);
        let bound = Bound::for_kernels(Metric::L2, 16);
        for _ in 0..200 {
            let row = |rng: &mut SplitMix64| -> Vec<f32> {
                (0..16).map(|_| rng.below(1000) as f32 * 0.37).collect()
            };
            let (a, b) = (row(&mut rng), row(&mut rng));
            let fast = scalar::distance(Metric::L2, &a, &b);
            let (lo, hi) = KeyDomain::Distance.interval(&bound, fast);
            let key = exact_key(Metric::L2, &a, &b);
            assert!(key <= radius_key(Metric::L1, hi));
            assert!(lo == 0.0 || key >= radius_key(Metric::L1, lo.next_down()));
        }
    }

    /// `lo` and `hi` are non-decreasing in the fast value for every domain and for the
    /// bounds searches produce (relative error below 1, or +∞): the merge relies on it.
    #[test]
    fn interval_ends_are_non_decreasing_in_the_fast_value() {
        let mut rng = SplitMix64::new(11);
        let bounds = [
            Bound::for_kernels(Metric::L1, 96),
            Bound::for_kernels(Metric::L2, 4096),
            Bound::for_kernels(Metric::Ip, 16),
            Bound::absolute(0.25, f64::NEG_INFINITY),
            Bound::from_parts(0.6, 1e-3, 0.0, f32::MAX),
        ];
        let domains = [
            KeyDomain::Key,
            KeyDomain::SquaredDistance,
            KeyDomain::Distance,
            KeyDomain::OneMinusDot,
        ];
        let mut values: Vec<f32> = (0..2000)
            .map(|_| (rng.below(1 << 20) as f32 - 1000.0) * 2f32.powi(rng.below(40) as i32 - 20))
            .chain([0.0, -0.0, 1e-30, f32::MAX, f32::INFINITY])
            .collect();
        values.sort_by(f32::total_cmp);
        for bound in &bounds {
            for &domain in &domains {
                // Distances (ℓ2's two domains) are never negative: files with negative
                // distances are refused.
                let distance = matches!(domain, KeyDomain::Distance | KeyDomain::SquaredDistance);
                let ends: Vec<(f64, f64)> = values
                    .iter()
                    .filter(|&&v| !distance || v >= 0.0)
                    .map(|&v| domain.interval(bound, v))
                    .collect();
                for w in ends.windows(2) {
                    assert!(
                        w[0].0 <= w[1].0 && w[0].1 <= w[1].1,
                        "{domain:?} {bound:?} {w:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn codes_round_trip() {
        for d in [
            KeyDomain::Key,
            KeyDomain::SquaredDistance,
            KeyDomain::Distance,
            KeyDomain::OneMinusDot,
        ] {
            assert_eq!(KeyDomain::from_code(d.code()), Some(d));
        }
        assert_eq!(KeyDomain::from_code(9), None);
    }
}
