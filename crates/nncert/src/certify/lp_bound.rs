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
//! **Buckets.** Members are priced per `(label, cost bucket)`; bucket `b` holds the costs in
//! `(b·w, (b+1)·w]`. The relaxation lets a flipped member of bucket `b` count for cost
//! `(b+1)·w` (rounded up), lets the certified part start at any member of the threshold's
//! bucket, and drops `Σ_F ≤ e`: every real group is among the relaxed ones, with the same
//! value and the same buckets, so the bound stays proven; it only gets looser with wider
//! buckets (`w = 1` is exact up to the dropped `Σ_F ≤ e`).
//!
//! **Finding the prices.** The dual LP `min Σ_{l,b} n_{l,b} y_{l,b}` subject to
//! `Σ_{(l,b)∈p} y_{l,b} ≥ |C_p|` for every relaxed group pattern `p` is solved by cutting
//! planes: solve with the cuts found so far ([`microlp`]'s dual simplex re-optimises after
//! each added row), find the most violated pattern per threshold bucket with
//! [`max_reduced_value`]'s dynamic programme, add them, and repeat. At the LP optimum
//! `Δ = 0` and the bound is the LP value; when the loop stops earlier, `Δ` pays for it.

/// Prices are integers in units of `1 / SCALE`.
pub const SCALE: i64 = 1 << 20;

/// Cost buckets per `e` (at most): bucket width `w = ⌈e / MAX_BUCKETS⌉`.
pub(crate) const MAX_BUCKETS: u64 = 24;

/// Cutting-plane rounds at most per `e`.
const MAX_ROUNDS: usize = 400;

/// A cut is added only if it is violated by more than this (in price units of 1).
const VIOLATION: f64 = 1e-6;

/// The D2 members at one `e`, counted per label and cost bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketedD2 {
    /// Bucket width `w`: bucket `b` holds costs in `(b·w, (b+1)·w]`.
    pub width: u64,
    /// Number of buckets `B` (`B·w ≥ e`).
    pub n_buckets: usize,
    /// `counts[l][b]`: D2 members of label `l` in bucket `b`.
    pub counts: Vec<Vec<u64>>,
    /// `e` itself.
    pub e: u64,
}

impl BucketedD2 {
    /// Buckets the costs `c ∈ [1, e]` of the D2 members of every label (`costs[l]`) with
    /// width `width ≥ 1`.
    pub fn new(costs: &[Vec<u64>], e: u64, width: u64) -> BucketedD2 {
        let width = width.max(1);
        let n_buckets = e.div_ceil(width).max(1) as usize;
        let counts = costs
            .iter()
            .map(|list| {
                let mut row = vec![0u64; n_buckets];
                for &c in list {
                    debug_assert!((1..=e).contains(&c));
                    row[((c.max(1) - 1) / width) as usize] += 1;
                }
                row
            })
            .collect();
        BucketedD2 {
            width,
            n_buckets,
            counts,
            e,
        }
    }

    /// Number of D2 members.
    pub fn len(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Whether there is no D2 member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A relaxed group: per label, nothing, a certified member of bucket `b` or a flipped
/// member of bucket `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No member of this label.
    Absent,
    /// A certified member from this bucket.
    Certified(usize),
    /// A flipped member from this bucket.
    Flipped(usize),
}

/// The largest `value − price` over the relaxed groups (see the module documentation),
/// `value` in units of [`SCALE`] (`|C| · SCALE`), with `prices[l][b]` in the same units; and
/// a group reaching it for each threshold bucket whose best is positive (for the cutting
/// planes). The maximum is at least the true `Δ` of the real groups under these prices.
pub fn max_reduced_value(d2: &BucketedD2, prices: &[Vec<i64>]) -> (i64, Vec<Vec<Role>>) {
    let w = d2.width;
    let mut best = i64::MIN;
    let mut patterns = Vec::new();
    const NONE: i64 = i64::MIN / 4;
    for threshold in 0..d2.n_buckets {
        // The certified part's smallest cost m lies in bucket `threshold`, so m ≤ hi; the
        // flipped part must cover e − m + 1 ≥ e − hi + 1, and at least 1 (it is never empty).
        let hi = (threshold as u64 + 1) * w;
        let need = (d2.e + 1).saturating_sub(hi).max(1);
        let cap = need.div_ceil(w) as usize;
        // dp[s]: best value with min(s, cap) units of cost covered by flipped members.
        let mut dp = vec![NONE; cap + 1];
        dp[0] = 0;
        for (l, row) in d2.counts.iter().enumerate() {
            let certified = best_certified(row, &prices[l], threshold).map_or(0, |x| x.0);
            let mut next: Vec<i64> = dp
                .iter()
                .map(|&v| if v == NONE { NONE } else { v + certified })
                .collect();
            for b in (0..=threshold).filter(|&b| row[b] > 0) {
                for (s, &v) in dp.iter().enumerate() {
                    if v == NONE {
                        continue;
                    }
                    let to = (s + b + 1).min(cap);
                    next[to] = next[to].max(v - prices[l][b]);
                }
            }
            dp = next;
        }
        let value = dp[cap];
        if value == NONE {
            continue;
        }
        best = best.max(value);
        if value > 0 {
            patterns.push(backtrack(d2, prices, threshold, cap));
        }
    }
    (best.max(0), patterns)
}

/// The best certified member of one label for a threshold bucket: `(SCALE − price,
/// bucket)` over its non-empty buckets `≥ threshold`, if positive (else the label is better
/// left out or flipped). Ties go to the lower bucket.
fn best_certified(row: &[u64], prices: &[i64], threshold: usize) -> Option<(i64, usize)> {
    (threshold..row.len())
        .filter(|&b| row[b] > 0)
        .map(|b| (SCALE - prices[b], b))
        .max_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)))
        .filter(|x| x.0 > 0)
}

/// The group reaching the best value of one threshold bucket, rebuilt by a second pass
/// of the dynamic programme that records where each state came from.
fn backtrack(d2: &BucketedD2, prices: &[Vec<i64>], threshold: usize, cap: usize) -> Vec<Role> {
    const NONE: i64 = i64::MIN / 4;
    let c = d2.counts.len();
    let mut from: Vec<Vec<(usize, Role)>> = Vec::with_capacity(c);
    let mut dp = vec![NONE; cap + 1];
    dp[0] = 0;
    for (l, row) in d2.counts.iter().enumerate() {
        let certified = best_certified(row, &prices[l], threshold);
        let mut next = vec![NONE; cap + 1];
        let mut origin = vec![(0usize, Role::Absent); cap + 1];
        for s in 0..=cap {
            if dp[s] == NONE {
                continue;
            }
            next[s] = dp[s] + certified.map_or(0, |x| x.0);
            origin[s] = (s, certified.map_or(Role::Absent, |x| Role::Certified(x.1)));
        }
        for b in (0..=threshold).filter(|&b| row[b] > 0) {
            for (s, &here) in dp.iter().enumerate() {
                if here == NONE {
                    continue;
                }
                let to = (s + b + 1).min(cap);
                let v = here - prices[l][b];
                if v > next[to] {
                    next[to] = v;
                    origin[to] = (s, Role::Flipped(b));
                }
            }
        }
        from.push(origin);
        dp = next;
    }
    let mut roles = vec![Role::Absent; c];
    let mut s = cap;
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
    let priced: i128 = d2
        .counts
        .iter()
        .zip(prices)
        .flat_map(|(row, p)| row.iter().zip(p))
        .map(|(&n, &y)| i128::from(n) * i128::from(y.max(0)))
        .sum();
    priced + i128::from(d2.len() / 2) * i128::from(delta)
}

/// Good prices for `d2` by cutting planes on the dual LP (see the module documentation),
/// and the relaxed groups added as cuts (the columns of the primal LP). Whatever the
/// solver returns, the caller verifies the prices with [`dual_bound_scaled`].
pub fn lp_prices(d2: &BucketedD2) -> (Vec<Vec<i64>>, Vec<Vec<Role>>) {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let c = d2.counts.len();
    let b = d2.n_buckets;
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    let vars: Vec<Vec<Option<microlp::Variable>>> = d2
        .counts
        .iter()
        .map(|row| {
            row.iter()
                .map(|&n| (n > 0).then(|| problem.add_var(n as f64, (0.0, 1.0))))
                .collect()
        })
        .collect();
    let mut prices = vec![vec![0i64; b]; c];
    let mut cuts: Vec<Vec<Role>> = Vec::new();
    let Ok(mut solution) = problem.solve().and_then(|o| {
        o.into_solution()
            .map_err(|_| microlp::Error::InternalError("interrupted".into()))
    }) else {
        return (prices, cuts);
    };
    for _ in 0..MAX_ROUNDS {
        read_prices(&solution, &vars, &mut prices);
        let (delta, patterns) = max_reduced_value(d2, &prices);
        if (delta as f64) <= VIOLATION * SCALE as f64 || patterns.is_empty() {
            break;
        }
        for pattern in patterns {
            let mut expr = microlp::LinearExpr::empty();
            let mut value = 0.0;
            for (l, role) in pattern.iter().enumerate() {
                let (Role::Certified(k) | Role::Flipped(k)) = *role else {
                    continue;
                };
                if matches!(role, Role::Certified(_)) {
                    value += 1.0;
                }
                if let Some(v) = vars[l][k] {
                    expr.add(v, 1.0);
                }
            }
            // On a solver failure, keep the prices of the last solution (still checked).
            match solution
                .add_constraint(expr, ComparisonOp::Ge, value)
                .ok()
                .and_then(|o| o.into_solution().ok())
            {
                Some(next) => {
                    solution = next;
                    cuts.push(pattern);
                }
                None => return (prices, cuts),
            }
        }
    }
    read_prices(&solution, &vars, &mut prices);
    (prices, cuts)
}

/// The LP solution's prices, rounded up to units of `1/SCALE` (empty buckets, which no
/// group uses, get 1).
fn read_prices(
    solution: &microlp::Solution,
    vars: &[Vec<Option<microlp::Variable>>],
    prices: &mut [Vec<i64>],
) {
    for (row, out) in vars.iter().zip(prices.iter_mut()) {
        for (var, price) in row.iter().zip(out.iter_mut()) {
            *price = var.map_or(SCALE, |v| {
                (solution.var_value(v).clamp(0.0, 1.0) * SCALE as f64).ceil() as i64
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
pub(crate) fn lp_bound_d2(d2: &BucketedD2) -> (u64, Vec<Vec<Role>>) {
    if d2.is_empty() {
        return (0, Vec::new());
    }
    let (prices, cuts) = lp_prices(d2);
    let scaled = dual_bound_scaled(d2, &prices);
    ((scaled / i128::from(SCALE)) as u64, cuts)
}

/// The proven LP upper bound at one `e`, D1 included, with buckets of width
/// `⌈e / max_buckets⌉`.
pub fn lp_bound_at(by_label: &[Vec<(u64, usize)>], e: u64, max_buckets: u64) -> u64 {
    let (d1, costs) = d2_costs(by_label, e);
    let d2 = BucketedD2::new(&costs, e, e.div_ceil(max_buckets.max(1)));
    d1 + lp_bound_d2(&d2).0
}
