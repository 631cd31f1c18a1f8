//! Exact distances and the proven error bound of the fast kernels (see `docs/SEARCH.md`).
//!
//! The search ranks training examples by their *exact* distance to the query — the real
//! number Σ|a − b|, sqrt(Σ(a − b)²) or max|a − b| of the f32 inputs — not by the f32 value
//! a kernel happens to round it to. The kernels give a fast f32 value `d̃`; [`Bound`]
//! turns it into an interval `[lo(d̃), hi(d̃)]` that provably holds the exact distance `D`.
//! Only candidates whose interval straddles a decision boundary (the k-th distance, or r)
//! are recomputed with [`Exact`], a fixed-point integer wide enough to hold every such sum
//! without rounding.

use std::cmp::Ordering;

use super::kernel::{LANES, Metric};
use super::select::{from_ord_bits, ord_bits};

/// Limbs of [`Exact`]: 704 bits, two's complement.
const LIMBS: usize = 11;
/// [`Exact`] counts units of 2^-UNIT_EXP. Every f32 is a multiple of 2^-149 and every
/// product of two f32 a multiple of 2^-298, so both sums land on the grid.
const UNIT_EXP: i32 = 300;

/// A signed fixed-point number `value · 2^-300` held in 704 bits: the exact ℓ1 distance
/// (|values| < 2^(128 + 300 + 34)), the exact squared ℓ2 distance (< 2^(258 + 300 + 36)) or
/// the exact |a − b| of two f32, for rows of fewer than 2^32 values. Sums never round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exact([u64; LIMBS]);

impl Exact {
    /// Zero.
    pub const ZERO: Exact = Exact([0; LIMBS]);

    /// The largest value (every exact distance of finite f32 rows is below it).
    const MAX: Exact = {
        let mut l = [u64::MAX; LIMBS];
        l[LIMBS - 1] = i64::MAX as u64;
        Exact(l)
    };

    fn is_negative(&self) -> bool {
        (self.0[LIMBS - 1] as i64) < 0
    }

    /// Adds (or subtracts) `m · 2^shift` units, `m < 2^64`, `shift + 128 ≤ 64 · LIMBS`.
    fn add_scaled(&mut self, m: u64, shift: u32, negative: bool) {
        if m == 0 {
            return;
        }
        let limb = (shift / 64) as usize;
        let v = u128::from(m) << (shift % 64);
        let (lo, hi) = (v as u64, (v >> 64) as u64);
        let parts = [lo, hi];
        let mut carry = false;
        for i in limb..LIMBS {
            let x = if i - limb < 2 { parts[i - limb] } else { 0 };
            if i - limb >= 2 && !carry {
                break;
            }
            if negative {
                let (r1, b1) = self.0[i].overflowing_sub(x);
                let (r2, b2) = r1.overflowing_sub(u64::from(carry));
                self.0[i] = r2;
                carry = b1 || b2;
            } else {
                let (r1, c1) = self.0[i].overflowing_add(x);
                let (r2, c2) = r1.overflowing_add(u64::from(carry));
                self.0[i] = r2;
                carry = c1 || c2;
            }
        }
    }

    /// Adds `x` (or `-x`): a finite f64 that is a multiple of 2^-300 and below 2^258 in
    /// magnitude (every f32, every product of two f32, twice such a product).
    fn add_f64(&mut self, x: f64, negate: bool) {
        if x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let negative = (bits >> 63 == 1) != negate;
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (m, e) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), biased - 1075)
        };
        // x ≠ 0 on the grid: dropping the mantissa's trailing zeros brings e onto it.
        let tz = m.trailing_zeros();
        let (m, e) = (m >> tz, e + tz as i32);
        let shift = e + UNIT_EXP;
        debug_assert!(shift >= 0, "value {x} below the grid");
        self.add_scaled(m, shift as u32, negative);
    }

    /// `floor(m · 2^exp)` in units of 2^-300, for `m · 2^exp ≥ 0`; saturates at the maximum.
    fn floor_of(m: u128, exp: i32) -> Exact {
        if m == 0 {
            return Exact::ZERO;
        }
        let shift = exp + UNIT_EXP;
        let mut out = Exact::ZERO;
        if shift < 0 {
            let s = (-shift) as u32;
            let v = if s >= 128 { 0 } else { m >> s };
            out.add_scaled(v as u64, 0, false);
            out.add_scaled((v >> 64) as u64, 64, false);
            return out;
        }
        let top_bit = 128 - m.leading_zeros() as i32 + shift;
        if top_bit >= 64 * LIMBS as i32 - 1 {
            return Exact::MAX;
        }
        out.add_scaled(m as u64, shift as u32, false);
        out.add_scaled((m >> 64) as u64, shift as u32 + 64, false);
        out
    }

    /// `floor(r)` (or `floor(r²)` when `squared`) in units of 2^-300, for finite `r ≥ 0`.
    pub(crate) fn floor_from(r: f64, squared: bool) -> Exact {
        debug_assert!(r >= 0.0 && r.is_finite());
        if r == 0.0 {
            return Exact::ZERO;
        }
        let bits = r.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (m, e) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), biased - 1075)
        };
        if squared {
            Exact::floor_of(u128::from(m) * u128::from(m), 2 * e)
        } else {
            Exact::floor_of(u128::from(m), e)
        }
    }

    /// `floor(x)` in units of 2^-300 for any finite `x` (saturating).
    pub(crate) fn floor_signed(x: f64) -> Exact {
        if x >= 0.0 {
            return Exact::floor_from(x, false);
        }
        // floor(x) = −ceil(−x) = −(floor(−x) + [−x off the grid]).
        let mut f = Exact::floor_from(-x, false);
        let frac = (-x).to_bits() & ((1u64 << 52) - 1);
        let biased = (((-x).to_bits() >> 52) & 0x7ff) as i32;
        let (m, e) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), biased - 1075)
        };
        let on_grid = e + m.trailing_zeros() as i32 + UNIT_EXP >= 0;
        if !on_grid {
            f.add_scaled(1, 0, false);
        }
        let mut out = Exact::ZERO;
        for (o, v) in out.0.iter_mut().zip(f.0) {
            *o = !v;
        }
        out.add_scaled(1, 0, false);
        out
    }

    /// Bytes of [`Exact::to_le_bytes`].
    pub const BYTES: usize = 8 * LIMBS;

    /// The 704-bit two's complement value, little-endian (for files).
    pub fn to_le_bytes(&self) -> [u8; Exact::BYTES] {
        let mut out = [0u8; Exact::BYTES];
        for (chunk, limb) in out.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// The value of [`Exact::to_le_bytes`].
    pub fn from_le_bytes(bytes: &[u8; Exact::BYTES]) -> Exact {
        let mut limbs = [0u64; LIMBS];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            *limb = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        Exact(limbs)
    }

    /// The value, approximately, as an f64 (for reporting and tests; comparisons use
    /// [`Ord`]).
    pub fn to_f64(&self) -> f64 {
        let neg = self.is_negative();
        let mut mag = *self;
        if neg {
            // Two's complement negation.
            for l in &mut mag.0 {
                *l = !*l;
            }
            mag.add_scaled(1, 0, false);
        }
        let mut v = 0f64;
        for (i, &l) in mag.0.iter().enumerate().rev() {
            v += (l as f64) * 2f64.powi(64 * i as i32 - UNIT_EXP);
        }
        if neg { -v } else { v }
    }
}

impl Ord for Exact {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0[LIMBS - 1] as i64, other.0[LIMBS - 1] as i64);
        a.cmp(&b).then_with(|| {
            for i in (0..LIMBS - 1).rev() {
                match self.0[i].cmp(&other.0[i]) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            Ordering::Equal
        })
    }
}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// |a − b| of two f32, exactly.
fn exact_abs_diff(a: f32, b: f32) -> Exact {
    let mut e = Exact::ZERO;
    let a_first = a >= b;
    e.add_f64(f64::from(a), !a_first);
    e.add_f64(f64::from(b), a_first);
    e
}

/// The exact distance key of two rows (equal length): Σ|a − b| for ℓ1, Σ(a − b)² (the
/// square, which orders like the distance) for ℓ2, max|a − b| for ℓ∞, −Σ a·b for inner
/// product and cosine (cosine: of the unit-scaled rows the search holds, where it orders
/// like 1 − a·b).
pub fn exact_key(metric: Metric, a: &[f32], b: &[f32]) -> Exact {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = Exact::ZERO;
    match metric {
        Metric::L1 => {
            for (&x, &y) in a.iter().zip(b) {
                // |x − y| = ±x ∓ y, the sign from an exact f32 comparison.
                let x_first = x >= y;
                acc.add_f64(f64::from(x), !x_first);
                acc.add_f64(f64::from(y), x_first);
            }
        }
        Metric::L2 => {
            for (&x, &y) in a.iter().zip(b) {
                if x != y {
                    // (x − y)² = x² + y² − 2xy; each product of two f32 is exact in f64.
                    let (x, y) = (f64::from(x), f64::from(y));
                    acc.add_f64(x * x, false);
                    acc.add_f64(y * y, false);
                    acc.add_f64(2.0 * x * y, true);
                }
            }
        }
        Metric::Linf => {
            for (&x, &y) in a.iter().zip(b) {
                if x != y {
                    let d = exact_abs_diff(x, y);
                    if d > acc {
                        acc = d;
                    }
                }
            }
        }
        Metric::Ip | Metric::Cosine => {
            for (&x, &y) in a.iter().zip(b) {
                acc.add_f64(f64::from(x) * f64::from(y), true);
            }
        }
    }
    acc
}

/// The exact key of the radius `r` (finite; ≥ 0 except for the inner product):
/// `D ≤ r ⟺ exact_key ≤ radius_key(r)`, where for the inner product "within r" means
/// `a·b ≥ r` (−a·b ≤ −r) and for cosine `1 − a·b ≤ r` (−a·b ≤ r − 1). Exact keys are
/// multiples of 2^-300, so the floor of the threshold (of `r²` for ℓ2) on that grid
/// decides the comparison exactly.
pub(crate) fn radius_key(metric: Metric, r: f64) -> Exact {
    match metric {
        Metric::L2 => Exact::floor_from(r, true),
        Metric::Ip => Exact::floor_signed(-r),
        Metric::Cosine => {
            let mut k = Exact::floor_signed(r);
            k.add_scaled(1, UNIT_EXP as u32, true);
            k
        }
        Metric::L1 | Metric::Linf => Exact::floor_from(r, false),
    }
}

/// Whether the exact distance of `a` and `b` is at most `r`.
pub(crate) fn exact_within(metric: Metric, a: &[f32], b: &[f32], r: f64) -> bool {
    exact_key(metric, a, b) <= radius_key(metric, r)
}

/// The proven error bound of the fixed-order kernels (see `docs/SEARCH.md`): for rows
/// padded to `padded_dim` values and a computed distance `d̃`, the exact distance `D`
/// lies in `[lo(d̃), hi(d̃)]`, with `lo` and `hi` non-decreasing in `d̃`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// Relative error `g`: `D ∈ [d̃(1 − g) − η, d̃(1 + g) + η]`.
    relative: f64,
    /// Absolute error η (ℓ2 only: underflow of the squares).
    absolute: f64,
    /// The smallest value the exact quantity can take (0 for distances).
    floor: f64,
    /// The largest finite fast value; an overflowed one (+∞) means an exact value of at
    /// least `lo` of it. For the ℓ2 kernels the *square* overflows first, so +∞ stands
    /// for distances from about `sqrt(f32::MAX)` on, not from `f32::MAX` (found by an
    /// independent review; `tests/l2_overflow.rs`).
    overflow: f32,
}

/// The largest ℓ2 distance a kernel returns finite: `sqrt` of a sum of squares that is at
/// most `f32::MAX` rounds to at most this value, `2^64 (1 − 2^-24)`.
const L2_LARGEST_FINITE: f32 = f32::from_bits(0x5f7f_ffff);

/// Relative slack for the f64 arithmetic of [`Bound::lo`] and [`Bound::hi`] themselves.
const F64_SLACK: f64 = 1e-12;

impl Bound {
    /// The bound for the kernels' summation order (module docs of `kernel`) on rows of
    /// `padded_dim` values.
    pub(crate) fn for_kernels(metric: Metric, padded_dim: usize) -> Bound {
        let u = f64::from(f32::EPSILON) / 2.0; // unit roundoff 2^-24
        // Each term passes through ≤ L − 1 lane additions, 4 tree additions, and ≤ 3
        // roundings of its own (subtract, square, sqrt); γ_n = n·u / (1 − n·u), doubled to
        // cover 1/(1 − γ) ≤ 1 + 2γ and the square root of an interval of the square.
        let n = (padded_dim / LANES + 8) as f64;
        let relative = if n * u < 0.25 {
            2.0 * n * u / (1.0 - n * u)
        } else {
            f64::INFINITY
        };
        let (relative, absolute) = match metric {
            // Each square may underflow (abs. error ≤ 2^-150): sqrt of the total, doubled.
            Metric::L2 => (relative, 2.0 * (padded_dim as f64 * 2f64.powi(-149)).sqrt()),
            Metric::L1 | Metric::Linf => (relative, 0.0),
            // No fixed-order kernel: every comparison is left to the exact recheck.
            Metric::Ip | Metric::Cosine => (f64::INFINITY, 0.0),
        };
        let floor = if matches!(metric, Metric::Ip | Metric::Cosine) {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        let overflow = if metric == Metric::L2 {
            L2_LARGEST_FINITE
        } else {
            f32::MAX
        };
        Bound {
            relative,
            absolute,
            floor,
            overflow,
        }
    }

    /// The bound of a fast value computed through inner products (`gemm`): `D` lies
    /// within `absolute` of it, and is at least `floor`.
    pub fn absolute(absolute: f64, floor: f64) -> Bound {
        Bound {
            relative: 0.0,
            absolute,
            floor,
            overflow: f32::MAX,
        }
    }

    /// The bound's parameters (relative, absolute, floor, overflow), for files.
    pub fn to_parts(&self) -> (f64, f64, f64, f32) {
        (self.relative, self.absolute, self.floor, self.overflow)
    }

    /// The bound of [`Bound::to_parts`].
    pub fn from_parts(relative: f64, absolute: f64, floor: f64, overflow: f32) -> Bound {
        Bound {
            relative,
            absolute,
            floor,
            overflow,
        }
    }

    /// Lower end of the interval holding `D` for a computed `d̃` (+∞: an overflowed sum,
    /// whose exact value is at least `lo` of the largest finite fast value). Non-decreasing
    /// in `d̃`.
    pub fn lo(&self, d: f32) -> f64 {
        if d == f32::NEG_INFINITY || !self.relative.is_finite() {
            return self.floor;
        }
        let d = f64::from(d.min(self.overflow));
        let v = d - self.relative * d.abs() - self.absolute;
        (v - F64_SLACK * v.abs()).max(self.floor)
    }

    /// Upper end of the interval holding `D`. Non-decreasing in `d̃`.
    pub fn hi(&self, d: f32) -> f64 {
        if d == f32::INFINITY || !self.relative.is_finite() {
            return f64::INFINITY;
        }
        let d = f64::from(d.max(-f32::MAX));
        let v = d + self.relative * d.abs() + self.absolute;
        v + F64_SLACK * v.abs()
    }

    /// The largest f32 `d` (as [`ord_bits`]) with `pred(d)`, for a predicate that holds up
    /// to some point and then fails; `None` if it fails at −∞.
    fn largest_with(pred: impl Fn(f32) -> bool) -> Option<u32> {
        let (lowest, highest) = (ord_bits(f32::NEG_INFINITY), ord_bits(f32::INFINITY));
        if !pred(f32::NEG_INFINITY) {
            return None;
        }
        if pred(f32::INFINITY) {
            return Some(highest);
        }
        let (mut ok, mut bad) = (lowest, highest);
        while bad - ok > 1 {
            let mid = ok + (bad - ok) / 2;
            if pred(from_ord_bits(mid)) {
                ok = mid;
            } else {
                bad = mid;
            }
        }
        Some(ok)
    }

    /// Order bits of the largest `d̃` whose interval may still reach `x`: every candidate
    /// with `lo(d̃) ≤ x` has `ord_bits(d̃) ≤` this (`u32::MAX`: no limit).
    pub(crate) fn reach_bits(&self, x: f64) -> u32 {
        match Bound::largest_with(|d| self.lo(d) <= x) {
            Some(b) if b == ord_bits(f32::INFINITY) => u32::MAX,
            Some(b) => b,
            None => 0,
        }
    }

    /// Order bits of the largest `d̃` with `hi(d̃) ≤ x` (`< x` when `strict`): every
    /// candidate up to it has `D ≤ x` (`D < x`). `None` if none qualifies.
    pub(crate) fn certain_bits(&self, x: f64, strict: bool) -> Option<u32> {
        Bound::largest_with(|d| {
            if strict {
                self.hi(d) < x
            } else {
                self.hi(d) <= x
            }
        })
    }

    /// `widen(t)`: order bits of the largest `d̃` whose interval reaches that of `t` (given
    /// as order bits).
    pub(crate) fn widen_bits(&self, t_bits: u32) -> u32 {
        if t_bits >= ord_bits(f32::INFINITY) {
            return u32::MAX;
        }
        self.reach_bits(self.hi(from_ord_bits(t_bits)))
    }
}

/// Moves the exact `k` nearest of `items` to `items[..k]`, in no particular order.
///
/// `items` must hold every candidate whose interval can reach the k-th (see
/// [`Bound::widen_bits`]) and order by kernel distance `fast` first; `exact` is an item's
/// exact key and `tie` its tie-break (the order among equal exact distances).
///
/// With `t` the k-th smallest kernel distance: an item with `hi(d̃) < lo(t)` is exactly
/// nearer than the k-th and every item after it, so it is in; one with `lo(d̃) > hi(t)`
/// has k items exactly nearer, so it is out; the band between is sorted by
/// (exact key, tie) and fills the places left.
pub(crate) fn select_exact<T: Ord + Copy, K: Ord>(
    bound: &Bound,
    items: &mut [T],
    k: usize,
    fast: impl Fn(&T) -> f32,
    exact: impl Fn(&T) -> Exact,
    tie: impl Fn(&T) -> K,
) {
    let k = k.min(items.len());
    if k == 0 || k == items.len() {
        return;
    }
    items.select_nth_unstable(k - 1);
    let t = fast(&items[k - 1]);
    let certain = bound.certain_bits(bound.lo(t), true);
    let is_certain = |d: f32| certain.is_some_and(|c| ord_bits(d) <= c);
    let reach = bound.widen_bits(ord_bits(t));
    // Certain items first within items[..k]; the band of items[..k] follows.
    let mut n_certain = 0;
    for i in 0..k {
        if is_certain(fast(&items[i])) {
            items.swap(i, n_certain);
            n_certain += 1;
        }
    }
    // Band members beyond k move right after items[..k].
    let mut end = k;
    for i in k..items.len() {
        if ord_bits(fast(&items[i])) <= reach {
            items.swap(i, end);
            end += 1;
        }
    }
    if end == k {
        return; // the band is items[n_certain..k] exactly: all in.
    }
    let band = &mut items[n_certain..end];
    let mut keyed: Vec<(Exact, T)> = band.iter().map(|x| (exact(x), *x)).collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(&a.1).cmp(&tie(&b.1))));
    for (slot, (_, x)) in band.iter_mut().zip(keyed) {
        *slot = x;
    }
}

/// Whether the exact distance of `a` and `b` is at most `r`, from the kernel distance
/// `fast` of the pair when its interval decides, exactly otherwise.
pub(crate) fn within_radius(
    bound: &Bound,
    metric: Metric,
    a: &[f32],
    b: &[f32],
    fast: f32,
    r: f64,
) -> bool {
    if bound.hi(fast) <= r {
        true
    } else if bound.lo(fast) > r {
        false
    } else {
        exact_within(metric, a, b, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_l1_of_large_values_with_tiny_differences() {
        let a = [1.0e8f32, 3.0, -7.5];
        let b = [1.0e8f32.next_up(), 3.0, -7.5];
        let d = exact_key(Metric::L1, &a, &b);
        assert_eq!(d.to_f64(), 8.0);
        assert!(exact_within(Metric::L1, &a, &b, 8.0));
        assert!(!exact_within(Metric::L1, &a, &b, 8.0f64.next_down()));
    }

    #[test]
    fn exact_sums_do_not_round() {
        // 2^60 + 2^-140 − 2^60 = 2^-140 exactly.
        let a = [2f32.powi(60), 2f32.powi(-140)];
        let b = [0.0f32, 0.0];
        let c = [2f32.powi(60), 0.0];
        let ab = exact_key(Metric::L1, &a, &b);
        let cb = exact_key(Metric::L1, &c, &b);
        assert!(ab > cb);
        assert_eq!(
            exact_key(Metric::L2, &a, &c).to_f64(),
            2f64.powi(-280),
            "square of 2^-140"
        );
        assert_eq!(
            exact_key(Metric::Linf, &a, &[-f32::MAX, 0.0]).to_f64(),
            2f64.powi(60) + f64::from(f32::MAX)
        );
    }

    #[test]
    fn radius_keys_decide_the_comparison_exactly() {
        let a = [0.1f32];
        let b = [0.0f32];
        // D = the f32 0.1, which is above the f64 0.1.
        assert!(!exact_within(Metric::L1, &a, &b, 0.1));
        assert!(exact_within(Metric::L1, &a, &b, f64::from(0.1f32)));
        assert!(exact_within(Metric::L2, &a, &b, f64::from(0.1f32)));
        assert!(!exact_within(
            Metric::L2,
            &a,
            &b,
            f64::from(0.1f32).next_down()
        ));
        assert!(exact_within(Metric::L1, &a, &b, 1e300));
        assert!(exact_within(Metric::L2, &a, &b, 1e300));
    }

    #[test]
    fn bounds_hold_for_the_scalar_kernel() {
        let mut rng = crate::certify::grouping::SplitMix64::new(5);
        for metric in [Metric::L1, Metric::L2, Metric::Linf] {
            for dim in [16usize, 96, 512] {
                let bound = Bound::for_kernels(metric, dim);
                for _ in 0..50 {
                    let scale = 2f32.powi(rng.below(60) as i32 - 30);
                    let row = |rng: &mut crate::certify::grouping::SplitMix64| -> Vec<f32> {
                        (0..dim)
                            .map(|_| (rng.next_u64() >> 40) as f32 * scale + 1e4 * scale)
                            .collect()
                    };
                    let (a, b) = (row(&mut rng), row(&mut rng));
                    let fast = super::super::kernel::scalar::distance(metric, &a, &b);
                    let exact = exact_key(metric, &a, &b);
                    let lo = bound.lo(fast);
                    let hi = bound.hi(fast);
                    assert!(exact >= radius_key(metric, lo) || lo == 0.0);
                    assert!(exact <= radius_key(metric, hi));
                    let w = bound.widen_bits(ord_bits(fast));
                    assert!(w >= ord_bits(fast));
                }
            }
        }
    }
}
