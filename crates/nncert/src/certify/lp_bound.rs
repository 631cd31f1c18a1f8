//! A proven upper bound on what *any* grouping can certify under the paper's group bound,
//! from the linear relaxation of the set-packing formulation and a verified dual solution
//! (derivation and proof in `docs/JOINT.md`, section "An LP upper bound").
//!
//! At size `e` only D2 (`e < g ≤ 2e`, cost `c = g − e ∈ [1, e]`) matters (D1 is certified
//! in any group, D0 never, and neither changes the others' fate). A group of D2 members
//! (one per label) sorted by cost certifies `|C|` members, where its attacker flips the
//! cheapest part `F` (total `Σ_F ≤ e`) and `C` is the rest, with smallest cost `m`,
//! `Σ_F + m > e` and every cost in `F` at most `m`.
//!
//! **Dual certificate.** Give every D2 member `i` a price `y_i ≥ 0` and let
//! `Δ = max(0, max_G (v(G) − y(G)))` over all groups `G` with `v(G) ≥ 1`. Each such group
//! holds at least one flipped and one certified member, so a partition has at most
//! `⌊|D2| / 2⌋` of them, and for every partition
//! `Σ_G v(G) ≤ Σ_i y_i + ⌊|D2|/2⌋ · Δ`. This holds for *any* prices; the LP only serves to
//! find good ones. Prices are integers in units of `1/SCALE` and `Δ` is computed exactly
//! (integer arithmetic) by [`max_reduced_value`], which maximises over a *relaxation* of
//! the groups (so its maximum is at least the true `Δ`), so the bound never depends on the
//! floating-point LP solver being right.
//!
//! **Buckets.** Members are priced per `(label, cost bucket)` (buckets given by their upper
//! edges, [`Buckets`]). The relaxation lets a flipped member of label `l` in bucket `b` count
//! for `L_{l,b}`, the largest real cost of its label and bucket; places the certified
//! part's smallest cost `m` in one of `THRESHOLD_SPLITS` (8) cost ranges `(lo, hi]` of its
//! bucket `b*`, takes the requirement at the largest real cost `M ≤ hi` of that range, and
//! counts a flipped member of `b*` at the largest cost of its label up to `M`; counts
//! covered cost in units of `⌈need/512⌉`, each member rounded up; and drops `Σ_F ≤ e`.
//! Every real group is among the relaxed ones, with the same value and the same buckets (a
//! real flipped cost is at most `L_{l,b}`, and at most `m ≤ M` in `b*`; its certified
//! members cost more than `lo`), so the bound stays proven; it only gets looser with wider
//! buckets (`docs/JOINT.md`, "An LP upper bound").
//!
//! **Finding the prices.** The dual LP `min Σ_{l,b} n_{l,b} y_{l,b}` subject to
//! `Σ_{(l,b)∈p} y_{l,b} ≥ |C_p|` for every relaxed group pattern `p` is solved through its
//! primal by column generation: solve the primal over the patterns found so far
//! (`certify::packing_lp`, whose basis keeps one row per non-empty cell however many columns
//! arrive), price its duals with [`max_reduced_value`]'s dynamic programme, add the most
//! violated pattern per threshold bucket as columns, and repeat. At the LP optimum `Δ = 0`
//! and the bound is the LP value; when the loop stops earlier, `Δ` pays for it.
//!
//! **Costlier members are worth at least as much.** A real group's count can only grow
//! when one of its members is replaced by a costlier member of the same label (the
//! attacker's cheapest flips only get dearer), so for the *unbucketed* problem some
//! optimal prices are non-decreasing in cost within each label. The primal says so with
//! *substitution* columns (`master_lp`): one unit of a label's bucket used in place of one
//! of the bucket below it, value 0, whose dual constraint is `y_{l,b+1} ≥ y_{l,b}`. These
//! dual-optimal inequalities cut the dual space the column generation wanders in: at
//! MNIST's `e = 1,000` 12,600 pivots and 1,180 columns instead of 58,000 and 2,940
//! (`docs/JOINT.md`, "Where the time goes"). The bound is computed from whatever prices
//! come out, so it needs no proof that they are valid, and for the bucketed relaxation they
//! are not always: a flipped member of the threshold bucket, or one moved into it above the
//! range's top, has no relaxed counterpart one bucket up. The bound is then that of the LP
//! *with* the substitutions, which can be higher than without them (by a whole member on
//! an 8-member instance; at no grid point of MNIST r = 3, 4, 5): still proven, possibly a
//! member looser. Retiring them once converged and going on without them gave back the
//! LP without them, for 40 % more time on MNIST, with the same bounds there
//! (`docs/JOINT.md`).

use super::packing_lp::{LpStop, PackingLp};

/// Prices are integers in units of `1 / SCALE`.
pub const SCALE: i64 = 1 << 20;

/// The buckets nncert prices with: 32 holding about equally many members (`docs/JOINT.md`
/// gives the measured alternatives: equal widths were looser at the same count, and
/// [`Buckets::Adaptive`] looser still).
pub(crate) const BUCKETS: Buckets = Buckets::Quantile(32);

/// Column-generation rounds at most per `e`.
const MAX_ROUNDS: usize = 400;

/// A cut is added only if it is violated by more than this (in price units of 1).
const VIOLATION: f64 = 1e-6;

/// The D2 members at one `e`, counted per label and cost bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketedD2 {
    /// `tops[b]`: bucket `b` holds the costs in `(tops[b − 1], tops[b]]` (`tops[−1] = 0`);
    /// increasing, the last one `e`.
    pub tops: Vec<u64>,
    /// Number of buckets `B`.
    pub n_buckets: usize,
    /// `counts[l][b]`: D2 members of label `l` in bucket `b`.
    pub counts: Vec<Vec<u64>>,
    /// `largest[l][b]`: the largest cost of a label-`l` member in bucket `b` (0 if none).
    /// The pricing counts a flipped member at this cost rather than at the bucket's top.
    pub largest: Vec<Vec<u64>>,
    /// `sorted[l]`: every D2 cost of label `l`, ascending (the split thresholds need the
    /// largest cost of a label and bucket below a given value).
    pub sorted: Vec<Vec<u64>>,
    /// `e` itself.
    pub e: u64,
}

impl BucketedD2 {
    /// Buckets the costs `c ∈ [1, e]` of the D2 members of every label (`costs[l]`) with
    /// width `width ≥ 1` (the last bucket ends at `e`).
    pub fn new(costs: &[Vec<u64>], e: u64, width: u64) -> BucketedD2 {
        let width = width.max(1);
        let n = e.div_ceil(width).max(1);
        let tops: Vec<u64> = (1..=n).map(|b| (b * width).min(e.max(1))).collect();
        BucketedD2::with_tops(costs, e, tops)
    }

    /// Buckets the costs with the given bucket tops (see [`BucketedD2::tops`]); `tops` is
    /// sorted, deduplicated and closed with `e` here, so any list is accepted.
    pub fn with_tops(costs: &[Vec<u64>], e: u64, mut tops: Vec<u64>) -> BucketedD2 {
        let e_top = e.max(1);
        tops.retain(|&t| (1..e_top).contains(&t));
        tops.push(e_top);
        tops.sort_unstable();
        tops.dedup();
        let n_buckets = tops.len();
        let mut counts = vec![vec![0u64; n_buckets]; costs.len()];
        let mut largest = vec![vec![0u64; n_buckets]; costs.len()];
        let sorted: Vec<Vec<u64>> = costs
            .iter()
            .map(|list| {
                let mut list = list.clone();
                list.sort_unstable();
                list
            })
            .collect();
        for (l, list) in costs.iter().enumerate() {
            for &c in list {
                debug_assert!((1..=e).contains(&c));
                let b = tops.partition_point(|&t| t < c).min(n_buckets - 1);
                counts[l][b] += 1;
                largest[l][b] = largest[l][b].max(c);
            }
        }
        BucketedD2 {
            tops,
            n_buckets,
            counts,
            largest,
            sorted,
            e,
        }
    }

    /// Buckets adapted to where the pricing is coarsest (`docs/JOINT.md`, "An LP upper
    /// bound"): about `n` buckets, narrow near cost 0 (a cheap flipped member counted at
    /// its bucket's top over-covers the most, relative to its cost) and near `e` (the
    /// certified part's smallest cost `m` is known only up to its bucket, and the flipped
    /// part must cover `e + 1 − m`, small there), wider in between.
    pub fn adaptive(costs: &[Vec<u64>], e: u64, n: u64) -> BucketedD2 {
        BucketedD2::with_tops(costs, e, adaptive_tops(e, n))
    }

    /// The bucket holding cost `c` (`1 ≤ c ≤ e`).
    pub fn bucket_of(&self, c: u64) -> usize {
        self.tops
            .partition_point(|&t| t < c)
            .min(self.n_buckets - 1)
    }

    /// The lowest cost of bucket `b` minus one (`tops[b − 1]`, 0 for the first).
    pub fn floor_of(&self, b: usize) -> u64 {
        if b == 0 { 0 } else { self.tops[b - 1] }
    }

    /// Number of D2 members.
    pub fn len(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// The largest cost of label `l` in bucket `b` that is at most `at` (0 if none).
    pub fn largest_at_most(&self, l: usize, b: usize, at: u64) -> u64 {
        let list = &self.sorted[l];
        let below = list.partition_point(|&c| c <= at.min(self.tops[b]));
        match below.checked_sub(1).map(|k| list[k]) {
            Some(c) if c > self.floor_of(b) => c,
            _ => 0,
        }
    }

    /// Whether there is no D2 member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bucket tops for [`BucketedD2::adaptive`]: the width of a bucket starting at distance
/// `d` from the nearer end of `[0, e]` is `max(1, ⌊k·d⌋)` (geometric growth away from both
/// ends), with the smallest `k` (by bisection) giving at most `n` buckets.
pub fn adaptive_tops(e: u64, n: u64) -> Vec<u64> {
    let n = n.max(2) as usize;
    let tops_for = |k: f64| {
        let mut tops = Vec::new();
        let mut t = 0u64;
        while t < e {
            let d = t.min(e - t) as f64;
            let w = ((d * k).floor() as u64).max(1);
            t = (t + w).min(e);
            tops.push(t);
        }
        tops
    };
    if e as usize <= n {
        return tops_for(0.0);
    }
    let (mut lo, mut hi) = (0.0f64, 2.0f64);
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        if tops_for(mid).len() > n {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    tops_for(hi)
}

/// A relaxed group: per label, nothing, a certified member of bucket `b` or a flipped
/// member of bucket `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// No member of this label.
    Absent,
    /// A certified member from this bucket.
    Certified(usize),
    /// A flipped member from this bucket.
    Flipped(usize),
}

/// The coverage states of the pricing's dynamic programme at most (see
/// [`Threshold::new`]).
pub(crate) const MAX_STATES: u64 = 512;

/// Each threshold bucket is split into this many cost ranges for `m` (see `Threshold`):
/// the requirement on the flipped part is then taken at the largest cost of `m`'s range
/// rather than of its whole bucket. Only the pricing gets finer (the prices stay per label
/// and bucket, so the LP keeps its size); measured in `docs/JOINT.md`.
pub(crate) const THRESHOLD_SPLITS: u64 = 8;

/// What a threshold range requires of the flipped part: the certified part's smallest cost
/// `m` lies in bucket `b*` and in `(lo, hi]` (a sub-range of the bucket), its coverage in
/// units of `unit` cost.
struct Threshold {
    /// The threshold bucket `b*`.
    bucket: usize,
    /// `m > lo`: a certified member of bucket `b*` costs more than `lo`.
    lo: u64,
    /// `top`: the largest cost of any member in `(lo, hi]`, so `m ≤ top`; a flipped member
    /// of bucket `b*` costs at most `top`.
    top: u64,
    /// Cost per coverage unit.
    unit: u64,
    /// Units the flipped part must cover: `⌈need / unit⌉`.
    cap: usize,
}

impl Threshold {
    /// `None` when no member costs in `(lo, hi]` of bucket `b*` (no real group has its `m`
    /// there). Otherwise `m ≤ top`, the largest cost there, so the flipped part covers at
    /// least `need = max(1, e + 1 − top)`; it is counted in units of
    /// `⌈need / MAX_STATES⌉` (1 when `need ≤ MAX_STATES`), each flipped member's cost
    /// rounded *up* to whole units, so every real group still reaches the cap.
    fn new(d2: &BucketedD2, bucket: usize, lo: u64, hi: u64) -> Option<Threshold> {
        let top = (0..d2.counts.len())
            .map(|l| d2.largest_at_most(l, bucket, hi))
            .max()
            .unwrap_or(0);
        if top <= lo {
            return None;
        }
        let need = (d2.e + 1).saturating_sub(top).max(1);
        let unit = need.div_ceil(MAX_STATES).max(1);
        Some(Threshold {
            bucket,
            lo,
            top,
            unit,
            cap: need.div_ceil(unit) as usize,
        })
    }

    /// The threshold ranges of bucket `b*`: its costs `(floor, top]` cut into
    /// [`THRESHOLD_SPLITS`] ranges of (about) equal width; every cost of the bucket lies in
    /// exactly one.
    fn all(d2: &BucketedD2, bucket: usize) -> impl Iterator<Item = Threshold> + '_ {
        let floor = d2.floor_of(bucket);
        let width = (d2.tops[bucket] - floor).div_ceil(THRESHOLD_SPLITS).max(1);
        (0..THRESHOLD_SPLITS)
            .map(move |k| {
                (
                    floor + k * width,
                    (floor + (k + 1) * width).min(d2.tops[bucket]),
                )
            })
            .take_while(move |&(lo, _)| lo < d2.tops[bucket])
            .filter_map(move |(lo, hi)| Threshold::new(d2, bucket, lo, hi))
    }

    /// The units a flipped member of label `l`, bucket `b ≤ b*`, covers at most (its cost
    /// is at most the largest of its label and bucket, and in `b*` at most `top`); `None`
    /// when the label has no member there.
    fn units(&self, d2: &BucketedD2, l: usize, b: usize) -> Option<usize> {
        let cost = if b == self.bucket {
            d2.largest_at_most(l, b, self.top)
        } else {
            d2.largest[l][b]
        };
        (cost > 0).then(|| cost.div_ceil(self.unit) as usize)
    }

    /// Whether label `l` may have a certified member in bucket `b ≥ b*`: in `b*` only a
    /// member costing more than `lo`.
    fn certifies(&self, d2: &BucketedD2, l: usize, b: usize) -> bool {
        d2.counts[l][b] > 0 && (b > self.bucket || d2.largest[l][b] > self.lo)
    }
}

/// The largest `value − price` over the relaxed groups (see the module documentation),
/// `value` in units of [`SCALE`] (`|C| · SCALE`), with `prices[l][b]` in the same units; and
/// a group reaching it for each threshold bucket whose best is positive (for the column
/// generation). The maximum is at least the true `Δ` of the real groups under these prices.
pub fn max_reduced_value(d2: &BucketedD2, prices: &[Vec<i64>]) -> (i64, Vec<Vec<Role>>) {
    let mut best = i64::MIN;
    let mut patterns = Vec::new();
    let mut dp: Vec<i64> = Vec::new();
    let mut next: Vec<i64> = Vec::new();
    let mut fast = FastDp::new(d2, prices);
    for bucket in 0..d2.n_buckets {
        // The most violated group of the bucket's ranges (one cut per bucket and round).
        let mut bucket_best: Option<(i64, Threshold)> = None;
        for threshold in Threshold::all(d2, bucket) {
            let value = match fast.as_mut() {
                Some(fast) => fast.run(d2, prices, &threshold),
                None => run_dp(d2, prices, &threshold, &mut dp, &mut next, None),
            };
            if value == NONE {
                continue;
            }
            best = best.max(value);
            if value > 0 && bucket_best.as_ref().is_none_or(|b| value > b.0) {
                bucket_best = Some((value, threshold));
            }
        }
        if let Some((_, threshold)) = bucket_best {
            patterns.push(backtrack(d2, prices, &threshold));
        }
    }
    (best.max(0), patterns)
}

/// No relaxed group reaches this state.
const NONE: i64 = i64::MIN / 4;

/// The dynamic programme over the labels for one threshold: `dp[s]` is the best value
/// with `min(s, cap)` units covered by flipped members. Returns `dp[cap]` at the end;
/// with `origins`, records for every label and state where it came from.
fn run_dp(
    d2: &BucketedD2,
    prices: &[Vec<i64>],
    threshold: &Threshold,
    dp: &mut Vec<i64>,
    next: &mut Vec<i64>,
    mut origins: Option<&mut Vec<Vec<(usize, Role)>>>,
) -> i64 {
    let cap = threshold.cap;
    dp.clear();
    dp.resize(cap + 1, NONE);
    dp[0] = 0;
    for (l, row) in d2.counts.iter().enumerate() {
        let certified = best_certified(d2, l, &prices[l], threshold);
        let gain = certified.map_or(0, |x| x.0);
        next.clear();
        next.extend(dp.iter().map(|&v| if v == NONE { NONE } else { v + gain }));
        let mut origin = origins.as_ref().map(|_| {
            let role = certified.map_or(Role::Absent, |x| Role::Certified(x.1));
            (0..=cap).map(|s| (s, role)).collect::<Vec<_>>()
        });
        for b in (0..=threshold.bucket).filter(|&b| row[b] > 0) {
            let Some(step) = threshold.units(d2, l, b) else {
                continue;
            };
            let price = prices[l][b];
            for (s, &here) in dp.iter().enumerate() {
                if here == NONE {
                    continue;
                }
                let to = (s + step).min(cap);
                let v = here - price;
                if v > next[to] {
                    next[to] = v;
                    if let Some(origin) = origin.as_mut() {
                        origin[to] = (s, Role::Flipped(b));
                    }
                }
            }
        }
        if let (Some(all), Some(origin)) = (origins.as_mut(), origin) {
            all.push(origin);
        }
        std::mem::swap(dp, next);
    }
    dp[cap]
}

/// [`run_dp`]'s value, computed in `f64` so that its inner loop vectorises: every value
/// is an integer (prices and [`SCALE`] are) of magnitude below `2⁵³`, where `f64`
/// arithmetic is exact, so the result is bit for bit the integer one (unreachable states
/// are `−∞`). Used only when the prices are small enough for that
/// ([`FastDp::new`]); the integer [`run_dp`] is kept for the backtracking and as the
/// tests' reference.
struct FastDp {
    dp: Vec<f64>,
    next: Vec<f64>,
    suffix: Vec<f64>,
    /// One label's flipped buckets and their steps (a buffer kept to reuse).
    steps: Vec<(usize, usize)>,
}

impl FastDp {
    /// `None` when some sum of one price or gain per label could reach `2⁵²` (then the
    /// integer programme is used).
    fn new(d2: &BucketedD2, prices: &[Vec<i64>]) -> Option<FastDp> {
        let largest = prices
            .iter()
            .flatten()
            .map(|&p| p.unsigned_abs())
            .max()
            .unwrap_or(0);
        let per_label = largest.checked_add(SCALE as u64)?;
        let total = per_label.checked_mul(d2.counts.len() as u64 + 1)?;
        (total < 1u64 << 52).then(|| FastDp {
            dp: Vec::new(),
            next: Vec::new(),
            suffix: Vec::new(),
            steps: Vec::new(),
        })
    }

    /// [`run_dp`]`(d2, prices, threshold, …, None)`.
    fn run(&mut self, d2: &BucketedD2, prices: &[Vec<i64>], threshold: &Threshold) -> i64 {
        let cap = threshold.cap;
        let (dp, next, suffix, steps) = (
            &mut self.dp,
            &mut self.next,
            &mut self.suffix,
            &mut self.steps,
        );
        dp.clear();
        dp.resize(cap + 1, f64::NEG_INFINITY);
        dp[0] = 0.0;
        for (l, row) in d2.counts.iter().enumerate() {
            let gain = best_certified(d2, l, &prices[l], threshold).map_or(0, |x| x.0) as f64;
            next.clear();
            next.extend(dp.iter().map(|&v| v + gain));
            steps.clear();
            steps.extend(
                (0..=threshold.bucket)
                    .filter(|&b| row[b] > 0)
                    .filter_map(|b| threshold.units(d2, l, b).map(|step| (b, step))),
            );
            // `suffix[s]`: the best state at or above `s` (those land on `cap` together),
            // needed from the lowest state the largest step lands on `cap` from (the scan
            // is serial: only as far down as needed).
            let lowest = steps
                .iter()
                .map(|&(_, step)| (cap + 1).saturating_sub(step).min(cap))
                .min()
                .unwrap_or(cap);
            suffix.clear();
            suffix.extend_from_slice(dp);
            for s in (lowest..cap).rev() {
                suffix[s] = larger(suffix[s], suffix[s + 1]);
            }
            for &(b, step) in steps.iter() {
                let price = prices[l][b] as f64;
                // States below `cap − step` move up by `step`; the rest land on `cap`.
                let moving = (cap + 1).saturating_sub(step);
                // (`larger` rather than `f64::max`: no NaN can occur, and the plain
                // comparison compiles to one vector instruction.)
                for (to, &here) in next[step.min(cap + 1)..].iter_mut().zip(&dp[..moving]) {
                    *to = larger(*to, here - price);
                }
                next[cap] = larger(next[cap], suffix[moving.min(cap)] - price);
            }
            std::mem::swap(dp, next);
        }
        if dp[cap] == f64::NEG_INFINITY {
            NONE
        } else {
            dp[cap] as i64
        }
    }
}

/// The larger of two values that are never NaN.
#[inline(always)]
fn larger(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// The best certified member of label `l` for a threshold: `(SCALE − price, bucket)` over
/// the buckets `≥ b*` where it may be certified ([`Threshold::certifies`]), if positive
/// (else the label is better left out or flipped). Ties go to the lower bucket.
fn best_certified(
    d2: &BucketedD2,
    l: usize,
    prices: &[i64],
    threshold: &Threshold,
) -> Option<(i64, usize)> {
    (threshold.bucket..d2.n_buckets)
        .filter(|&b| threshold.certifies(d2, l, b))
        .map(|b| (SCALE - prices[b], b))
        .max_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)))
        .filter(|x| x.0 > 0)
}

/// The group reaching the best value of one threshold bucket, rebuilt by a second pass
/// of the dynamic programme that records where each state came from.
fn backtrack(d2: &BucketedD2, prices: &[Vec<i64>], threshold: &Threshold) -> Vec<Role> {
    let c = d2.counts.len();
    let mut from: Vec<Vec<(usize, Role)>> = Vec::with_capacity(c);
    let (mut dp, mut next) = (Vec::new(), Vec::new());
    run_dp(d2, prices, threshold, &mut dp, &mut next, Some(&mut from));
    let mut roles = vec![Role::Absent; c];
    let mut s = threshold.cap;
    for l in (0..c).rev() {
        let (prev, role) = from[l][s];
        roles[l] = role;
        s = prev;
    }
    roles
}

/// The proven bound `Σ n·y + ⌊|D2|/2⌋·Δ`, in units of [`SCALE`], for `prices`.
pub fn dual_bound_scaled(d2: &BucketedD2, prices: &[Vec<i64>]) -> i128 {
    let (delta, _) = max_reduced_value(d2, prices);
    bound_from_delta(d2, prices, delta)
}

/// `Σ n·y + ⌊|D2|/2⌋·Δ` in units of [`SCALE`], with `delta` from [`max_reduced_value`] for
/// these `prices`.
fn bound_from_delta(d2: &BucketedD2, prices: &[Vec<i64>], delta: i64) -> i128 {
    let priced: i128 = d2
        .counts
        .iter()
        .zip(prices)
        .flat_map(|(row, p)| row.iter().zip(p))
        .map(|(&n, &y)| i128::from(n) * i128::from(y.max(0)))
        .sum();
    priced + i128::from(d2.len() / 2) * i128::from(delta)
}

/// The rows of the primal LP: one per non-empty (label, bucket) cell, numbered label by
/// label; `None` for empty cells (no group uses them).
pub(crate) fn cell_rows(d2: &BucketedD2) -> Vec<Vec<Option<usize>>> {
    let mut next = 0usize;
    d2.counts
        .iter()
        .map(|row| {
            row.iter()
                .map(|&n| {
                    (n > 0).then(|| {
                        next += 1;
                        next - 1
                    })
                })
                .collect()
        })
        .collect()
}

/// The primal LP's right-hand side: each non-empty cell's member count, in the order of
/// [`cell_rows`].
pub(crate) fn cell_capacities(d2: &BucketedD2) -> Vec<f64> {
    d2.counts
        .iter()
        .flatten()
        .filter(|&&n| n > 0)
        .map(|&n| n as f64)
        .collect()
}

/// A relaxed group as a column of the primal LP: the rows of the cells it uses and its
/// value `|C|`; `None` if it uses an empty cell.
pub(crate) fn pattern_column(
    pattern: &[Role],
    rows: &[Vec<Option<usize>>],
) -> Option<(Vec<usize>, f64)> {
    let mut used = Vec::new();
    let mut value = 0.0;
    for (l, role) in pattern.iter().enumerate() {
        let (Role::Certified(b) | Role::Flipped(b)) = *role else {
            continue;
        };
        used.push(rows[l][b]?);
        if matches!(role, Role::Certified(_)) {
            value += 1.0;
        }
    }
    Some((used, value))
}

/// Pivots at most per solve of the primal LP.
pub(crate) const MAX_PIVOTS: usize = 20_000;

/// Pivots at most over all rounds of one [`lp_prices`] (about 60,000 at an MNIST grid
/// point): past it the best prices so far are used, so a pathological instance (many
/// labels, slow convergence) costs tightness, not an unbounded run.
const MAX_TOTAL_PIVOTS: usize = 600_000;

/// The LP is skipped when it would have more rows (non-empty label and bucket cells, at
/// most 32 per label): its dense basis inverse takes `8·rows²` bytes (32 MB at 2,048) and
/// a pivot `O(rows²)` time. Many-class votes then get the pooled bound and CLUSTER.
pub(crate) const MAX_LP_ROWS: usize = 2_048;

/// Good prices for `d2` by column generation on the primal LP (see the module
/// documentation): solve over the relaxed groups found so far (the packing simplex), price with
/// its duals, add the most violated group of every threshold bucket, repeat. Returns the
/// prices and the relaxed groups added (the primal LP's columns). Whatever the solver
/// returns, the caller verifies the prices with [`dual_bound_scaled`].
pub fn lp_prices(d2: &BucketedD2) -> (Vec<Vec<i64>>, Vec<Vec<Role>>) {
    let found = column_generation(d2);
    (found.prices, found.columns)
}

/// What the column generation of [`lp_prices`] found.
pub(crate) struct ColumnGeneration {
    /// The prices with the smallest proven bound.
    pub(crate) prices: Vec<Vec<i64>>,
    /// The relaxed groups added, in the order of the LP's columns.
    pub(crate) columns: Vec<Vec<Role>>,
    /// The last restricted LP's solution, one weight per column of `columns` (`None` if the
    /// solver failed): the LP grouping rounds it without solving that LP again. Through
    /// the substitutions, a pattern's weight in a bucket may exceed the bucket's members;
    /// the costlier buckets of its label make up the difference.
    pub(crate) primal: Option<Vec<f64>>,
    /// `dual_bound_scaled(d2, &prices)`, when the loop computed it (`None` if it stopped
    /// before pricing once): the caller need not price the same prices again.
    pub(crate) proven: Option<i128>,
}

/// The primal LP over no pattern yet: one row per non-empty cell (capacity its member
/// count) and, for every label, a substitution from each non-empty bucket to the next
/// non-empty one above it (see the module documentation), added first. Returns the LP and
/// the number of substitution columns, which come before the patterns' columns.
pub(crate) fn master_lp(d2: &BucketedD2, rows: &[Vec<Option<usize>>]) -> (PackingLp, usize) {
    let mut lp = PackingLp::new(&cell_capacities(d2));
    let mut substitutions = 0;
    for label in rows {
        let cells: Vec<usize> = label.iter().flatten().copied().collect();
        for pair in cells.windows(2) {
            lp.add_substitution(pair[1], pair[0]);
            substitutions += 1;
        }
    }
    (lp, substitutions)
}

/// [`lp_prices`], with the last restricted LP's solution.
pub(crate) fn column_generation(d2: &BucketedD2) -> ColumnGeneration {
    let rows = cell_rows(d2);
    let (mut lp, substitutions) = master_lp(d2, &rows);
    let mut prices: Vec<Vec<i64>> = d2.counts.iter().map(|row| vec![0i64; row.len()]).collect();
    let mut columns: Vec<Vec<Role>> = Vec::new();
    let mut known: std::collections::HashSet<Vec<Role>> = std::collections::HashSet::new();
    let mut solved = Ok(());
    // The prices with the smallest proven bound so far, and that bound (in SCALE units):
    // the restricted LP's duals do not improve monotonically from round to round.
    let mut best: Option<(Vec<Vec<i64>>, i128)> = None;
    for _ in 0..MAX_ROUNDS {
        if crate::cancel::requested() {
            break;
        }
        let budget = MAX_TOTAL_PIVOTS.saturating_sub(lp.pivots()).min(MAX_PIVOTS);
        solved = lp.solve(budget);
        read_prices(lp.duals(), &rows, &mut prices);
        if solved.is_err() {
            break;
        }
        let (delta, patterns) = max_reduced_value(d2, &prices);
        let proven = bound_from_delta(d2, &prices, delta);
        if best.as_ref().is_none_or(|(_, b)| proven < *b) {
            best = Some((prices.clone(), proven));
        }
        // Stop once the proven bound rounds down to no more than the restricted LP's
        // objective: optimal prices would prove about the LP optimum, which is at least
        // that objective, so more columns would gain at most a fraction of a member. The
        // objective is taken a little low: it is of the perturbed right-hand side (the
        // solution scaled by 1/(1 + 2·10⁻⁷) fits the real one) and rounded. This only
        // decides when to stop; the bound is recomputed from the prices returned.
        let floor = ((lp.objective() * (1.0 - 4e-7) - 1e-4).floor() as i128).max(0);
        let smallest = best.as_ref().map_or(i128::MAX, |b| b.1 / i128::from(SCALE));
        if (delta as f64) <= VIOLATION * SCALE as f64 || smallest <= floor {
            break;
        }
        let mut added = false;
        for pattern in patterns {
            if known.contains(&pattern) {
                continue;
            }
            if let Some((used, value)) = pattern_column(&pattern, &rows) {
                lp.add_column(&used, value);
                known.insert(pattern.clone());
                columns.push(pattern);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    // At the pivot limit the solution is feasible but not optimal, still a useful guide;
    // a singular basis leaves nothing to trust.
    let primal =
        (!matches!(solved, Err(LpStop::Singular))).then(|| lp.primal().split_off(substitutions));
    let (prices, proven) = match best {
        Some((prices, bound)) => (prices, Some(bound)),
        None => (prices, None),
    };
    ColumnGeneration {
        prices,
        columns,
        primal,
        proven,
    }
}

/// The LP's duals as prices, rounded up to units of `1/SCALE` (empty cells, which no
/// group uses, get 1).
fn read_prices(duals: &[f64], rows: &[Vec<Option<usize>>], prices: &mut [Vec<i64>]) {
    for (row, out) in rows.iter().zip(prices.iter_mut()) {
        for (cell, price) in row.iter().zip(out.iter_mut()) {
            *price = cell.map_or(SCALE, |r| {
                (duals[r].clamp(0.0, 64.0) * SCALE as f64).ceil() as i64
            });
        }
    }
}

/// Each label's D2 costs at `e` (`g − e` for correct inputs with `e < g ≤ 2e`), and `|D1|`.
pub(crate) fn d2_costs(by_label: &[Vec<(u64, usize)>], e: u64) -> (u64, Vec<Vec<u64>>) {
    let mut d1 = 0u64;
    let costs = by_label
        .iter()
        .map(|list| {
            let start = list.partition_point(|x| x.0 > 2 * e);
            let end = list.partition_point(|x| x.0 > e);
            d1 += start as u64;
            list[start..end].iter().map(|x| x.0 - e).collect()
        })
        .collect();
    (d1, costs)
}

/// The proven LP upper bound on D2's part at one `e` (in members), and the relaxed groups
/// found (the primal LP's columns).
pub(crate) fn lp_bound_d2(d2: &BucketedD2) -> (u64, Vec<Vec<Role>>, Option<Vec<f64>>) {
    if d2.is_empty() {
        return (0, Vec::new(), None);
    }
    if cell_rows(d2).iter().flatten().flatten().count() > MAX_LP_ROWS {
        // Too many cells for the dense basis inverse: no LP, the trivial bound (the caller
        // keeps the pooled bound) and no columns (the LP grouping is then CLUSTER's).
        return (d2.len(), Vec::new(), None);
    }
    let found = column_generation(d2);
    // The loop proved this bound for these prices by the same computation
    // (`bound_from_delta` of `max_reduced_value`, i.e. `dual_bound_scaled`).
    let scaled = found
        .proven
        .unwrap_or_else(|| dual_bound_scaled(d2, &found.prices));
    (
        (scaled / i128::from(SCALE)) as u64,
        found.columns,
        found.primal,
    )
}

/// Tops of at most `n` buckets holding about equally many of the pooled costs.
pub fn quantile_tops(costs: &[Vec<u64>], n: u64) -> Vec<u64> {
    let mut all: Vec<u64> = costs.iter().flatten().copied().collect();
    all.sort_unstable();
    let n = n.max(1) as usize;
    (1..n)
        .filter_map(|k| all.get(k * all.len() / n).copied())
        .collect()
}

/// How the costs `[1, e]` are cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buckets {
    /// At most this many buckets of equal width `⌈e / n⌉`.
    Uniform(u64),
    /// About this many buckets, narrow near both ends ([`BucketedD2::adaptive`]).
    Adaptive(u64),
    /// At most this many buckets holding about equally many members (all labels pooled).
    Quantile(u64),
}

impl Buckets {
    /// The D2 members `costs` at `e`, bucketed this way.
    pub fn bucket(self, costs: &[Vec<u64>], e: u64) -> BucketedD2 {
        match self {
            Buckets::Uniform(n) => BucketedD2::new(costs, e, e.div_ceil(n.max(1))),
            Buckets::Adaptive(n) => BucketedD2::adaptive(costs, e, n),
            Buckets::Quantile(n) => BucketedD2::with_tops(costs, e, quantile_tops(costs, n)),
        }
    }
}

/// The proven LP upper bound at one `e`, D1 included.
pub fn lp_bound_at(by_label: &[Vec<(u64, usize)>], e: u64, buckets: Buckets) -> u64 {
    let (d1, costs) = d2_costs(by_label, e);
    d1 + lp_bound_d2(&buckets.bucket(&costs, e)).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Random D2 members of `1..=6` labels at a random `e`, bucketed one of three ways.
    fn random_d2(rng: &mut SplitMix64) -> BucketedD2 {
        let e = 1 + rng.below(3000);
        let labels = 1 + rng.below(6) as usize;
        let costs: Vec<Vec<u64>> = (0..labels)
            .map(|_| (0..rng.below(40)).map(|_| 1 + rng.below(e)).collect())
            .collect();
        let n = 1 + rng.below(40);
        match rng.below(3) {
            0 => Buckets::Uniform(n),
            1 => Buckets::Adaptive(n),
            _ => Buckets::Quantile(n),
        }
        .bucket(&costs, e)
    }

    /// Prices of every sign and size, some exactly at [`SCALE`] multiples (ties).
    fn random_prices(rng: &mut SplitMix64, d2: &BucketedD2, huge: bool) -> Vec<Vec<i64>> {
        d2.counts
            .iter()
            .map(|row| {
                row.iter()
                    .map(|_| match rng.below(4) {
                        0 => (rng.below(4) as i64 - 1) * SCALE,
                        1 if huge => rng.below(1 << 50) as i64,
                        _ => rng.below(12 * SCALE as u64) as i64 - 2 * SCALE,
                    })
                    .collect()
            })
            .collect()
    }

    /// The bound the column generation reports for its prices is the one
    /// `dual_bound_scaled` proves for them (the LP bound uses it without pricing again).
    #[test]
    fn the_reported_bound_is_the_proven_one() {
        let mut rng = SplitMix64::new(25);
        let mut checked = 0;
        for _ in 0..60 {
            let d2 = random_d2(&mut rng);
            let found = column_generation(&d2);
            if let Some(proven) = found.proven {
                assert_eq!(proven, dual_bound_scaled(&d2, &found.prices));
                checked += 1;
            }
        }
        assert!(checked > 30, "{checked} checked");
    }

    /// The vectorised `f64` programme gives exactly the integer one's value, threshold by
    /// threshold, and is refused when the prices could leave the exact range.
    #[test]
    fn fast_pricing_equals_the_integer_programme() {
        let mut rng = SplitMix64::new(16);
        let (mut compared, mut refused) = (0, 0);
        for case in 0..600 {
            let d2 = random_d2(&mut rng);
            let prices = random_prices(&mut rng, &d2, case % 5 == 4);
            let Some(mut fast) = FastDp::new(&d2, &prices) else {
                refused += 1;
                continue;
            };
            let (mut dp, mut next) = (Vec::new(), Vec::new());
            for bucket in 0..d2.n_buckets {
                for threshold in Threshold::all(&d2, bucket) {
                    let slow = run_dp(&d2, &prices, &threshold, &mut dp, &mut next, None);
                    assert_eq!(
                        fast.run(&d2, &prices, &threshold),
                        slow,
                        "case {case}, bucket {bucket}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 5_000, "{compared} thresholds compared");
        assert!(refused > 20, "{refused} cases refused");
    }
}
