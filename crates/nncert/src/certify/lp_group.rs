//! LP: groups rounded from the LP relaxation of the best-grouping problem (derivation in
//! `docs/JOINT.md`, section "A grouping from the LP").
//!
//! The column generation of [`super::lp_bound`] produces relaxed groups (per label: absent, a
//! certified member of some cost bucket, or a flipped member of some bucket). Those are the
//! columns of the primal LP `max Σ_p |C_p| x_p` subject to, for every label and bucket, the
//! groups using it at most as often as it has members. Its solution is rounded: the
//! patterns with the largest `x_p` first, `⌊x_p⌋` copies each, then one more copy of each
//! pattern with a fractional part, largest first. Each copy is made of real members
//! (certified members the costliest of their bucket, flipped members the cheapest that
//! cover `e + 1 − m`, `m` the smallest certified cost; when a bucket has run out, the
//! cheapest costlier member of the label, which the LP's substitutions allowed for) and
//! kept only if its exact paper count is at least 1. What is left is grouped as ISLAND does, and POLISH's exact
//! label-by-label matching improves the whole partition.
//!
//! As for CLUSTER, the count reported is always the exact group bound of the partition
//! built, never an LP value.

use super::PointCertificate;
use super::joint::certified_in_sorted_group;
use super::lp_bound::{
    BucketedD2, Buckets, MAX_PIVOTS, Role, cell_rows, lp_bound_d2, master_lp, pattern_column,
};
use super::packing_lp::LpStop;
use super::pair_exchange::exchange_pairs;
use super::polish::{EMPTY, polish_groups, push_island_rest};

/// Rounds of POLISH's matching after the rounding.
const ROUNDS: usize = 4;

/// The LP partition of D2 at `e`: each group as one test index (or [`EMPTY`]) per label;
/// also returns `|D1|` and the proven LP upper bound at `e` (D1 included, see
/// [`super::lp_bound`]), which comes out of the same LP. `by_label` is
/// [`correct_by_label_descending`](super::one_label::correct_by_label_descending).
pub fn lp_groups(
    by_label: &[Vec<(u64, usize)>],
    points: &[PointCertificate],
    e: u64,
    buckets: Buckets,
) -> (u64, Vec<Vec<usize>>, u64) {
    let c = by_label.len();
    let mut d1 = 0u64;
    // Each label's D2 members as (cost, index), cost ascending.
    let mut pools: Vec<Vec<(u64, usize)>> = Vec::with_capacity(c);
    for list in by_label {
        let start = list.partition_point(|x| x.0 > 2 * e);
        let end = list.partition_point(|x| x.0 > e);
        d1 += start as u64;
        pools.push(
            list[start..end]
                .iter()
                .rev()
                .map(|&(g, i)| (g - e, i))
                .collect(),
        );
    }
    let costs: Vec<Vec<u64>> = pools
        .iter()
        .map(|p| p.iter().map(|x| x.0).collect())
        .collect();
    let d2 = buckets.bucket(&costs, e);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let (bound, patterns, primal) = lp_bound_d2(&d2);
    if !d2.is_empty() {
        round_by_diving(&patterns, primal, &mut pools, &d2, e, &mut groups);
    }
    // The rest as ISLAND groups them: the j-th costliest remaining member of every label.
    push_island_rest(&mut groups, &pools);
    polish_groups(&mut groups, points, e, ROUNDS);
    if exchange_pairs(&mut groups, points, e) > 0 {
        polish_groups(&mut groups, points, e, ROUNDS);
    }
    (d1, groups, d1 + bound)
}

/// Fix-and-resolve rounds of the primal LP before the last rounding.
const DIVES: usize = 3;

/// Rounds the primal LP over `patterns` into real groups taken out of `pools`, by diving:
/// solve the LP on the members still in the pools, make real groups of the integral part
/// of every pattern's weight (largest weight first) and of the largest fractional one,
/// and solve again on what is left, [`DIVES`] times; the last solution is rounded up
/// (each pattern made as often as `⌈x_p⌉`, largest `x_p` first, while members last). A
/// pattern that cannot be made of the members left is dropped.
fn round_by_diving(
    patterns: &[Vec<Role>],
    mut first: Option<Vec<f64>>,
    pools: &mut [Vec<(u64, usize)>],
    d2: &BucketedD2,
    e: u64,
    groups: &mut Vec<Vec<usize>>,
) {
    let mut alive = vec![true; patterns.len()];
    for round in 0..=DIVES {
        let costs: Vec<Vec<u64>> = pools
            .iter()
            .map(|p| p.iter().map(|x| x.0).collect())
            .collect();
        let residual = BucketedD2::with_tops(&costs, e, d2.tops.clone());
        // The first LP is the column generation's last one: its solution is reused.
        let weights = first
            .take()
            .unwrap_or_else(|| primal_weights(&residual, patterns, &alive));
        let mut order: Vec<usize> = (0..patterns.len())
            .filter(|&p| alive[p] && weights[p] > 1e-6)
            .collect();
        order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
        let last = round == DIVES;
        let mut made = 0usize;
        let mut fractional_fixed = false;
        for &p in &order {
            let w = weights[p];
            let copies = if last {
                (w - 1e-6).ceil() as u64
            } else if w + 1e-6 >= 1.0 {
                (w + 1e-6).floor() as u64
            } else if !fractional_fixed {
                fractional_fixed = true;
                1
            } else {
                0
            };
            for _ in 0..copies {
                match instantiate(&patterns[p], pools, d2, e) {
                    Some(group) => {
                        groups.push(group);
                        made += 1;
                    }
                    None => {
                        alive[p] = false;
                        break;
                    }
                }
            }
        }
        if made == 0 && order.iter().all(|&p| !alive[p]) {
            break;
        }
        if last || order.is_empty() {
            break;
        }
    }
}

/// The primal LP over the `alive` `patterns` (see the module documentation): `x_p` per
/// pattern (0 for the others), or all zeros if the solver fails (then only ISLAND and
/// POLISH are left to do the work).
fn primal_weights(d2: &BucketedD2, patterns: &[Vec<Role>], alive: &[bool]) -> Vec<f64> {
    let rows = cell_rows(d2);
    let (mut lp, substitutions) = master_lp(d2, &rows);
    let mut index = Vec::new();
    for (p, pattern) in patterns.iter().enumerate() {
        if alive[p]
            && let Some((used, value)) = pattern_column(pattern, &rows)
        {
            lp.add_column(&used, value);
            index.push(p);
        }
    }
    let mut weights = vec![0.0; patterns.len()];
    // At the pivot limit the solution is feasible but not optimal, still a useful guide;
    // a singular basis leaves nothing to trust.
    if !matches!(lp.solve(MAX_PIVOTS), Err(LpStop::Singular)) {
        for (&p, x) in index.iter().zip(lp.primal().split_off(substitutions)) {
            weights[p] = x;
        }
    }
    weights
}

/// One real group for `pattern`, taken out of `pools` (each label's members, cost
/// ascending), if its exact paper count is at least 1; `None` (pools unchanged) otherwise.
fn instantiate(
    pattern: &[Role],
    pools: &mut [Vec<(u64, usize)>],
    d2: &BucketedD2,
    e: u64,
) -> Option<Vec<usize>> {
    let range = |pool: &[(u64, usize)], b: usize| {
        let from = pool.partition_point(|x| x.0 <= d2.floor_of(b));
        let to = pool.partition_point(|x| x.0 <= d2.tops[b]);
        from..to
    };
    // The LP's substitutions let a pattern use a costlier bucket's member in place of one
    // of its own bucket (see `lp_bound::master_lp`): when the bucket has run out, the
    // cheapest costlier member of the label stands in (never worse in either role).
    let costlier = |pool: &[(u64, usize)], b: usize| {
        let above = pool.partition_point(|x| x.0 <= d2.tops[b]);
        (above < pool.len()).then_some(above)
    };
    // Certified members: the costliest of their bucket.
    let mut chosen: Vec<(usize, usize)> = Vec::new(); // (label, position)
    let mut m = u64::MAX;
    for (l, role) in pattern.iter().enumerate() {
        if let Role::Certified(b) = *role {
            let r = range(&pools[l], b);
            let pos = match r.last() {
                Some(pos) => pos,
                None => costlier(&pools[l], b)?,
            };
            m = m.min(pools[l][pos].0);
            chosen.push((l, pos));
        }
    }
    if chosen.is_empty() {
        return None;
    }
    // Flipped members: the cheapest of their bucket, then raised label by label (within
    // costs ≤ m) until they cover e + 1 − m.
    let need = (e + 1).saturating_sub(m);
    let mut flipped: Vec<(usize, usize)> = Vec::new();
    for (l, role) in pattern.iter().enumerate() {
        if let Role::Flipped(b) = *role {
            let r = range(&pools[l], b);
            let pos = if r.is_empty() {
                costlier(&pools[l], b)?
            } else {
                r.start
            };
            flipped.push((l, pos));
        }
    }
    let mut spent: u64 = flipped.iter().map(|&(l, p)| pools[l][p].0).sum();
    for slot in &mut flipped {
        if spent >= need {
            break;
        }
        let (l, p) = *slot;
        let current = pools[l][p].0;
        let short = need - spent;
        // The cheapest member of this label covering the shortfall, at most m; else the
        // costliest at most m.
        let limit = pools[l].partition_point(|x| x.0 <= m);
        let fit = pools[l][..limit].partition_point(|x| x.0 < current + short);
        let pos = if fit < limit {
            fit
        } else {
            limit.saturating_sub(1)
        };
        if limit > 0 && pools[l][pos].0 > current {
            spent = spent - current + pools[l][pos].0;
            *slot = (l, pos);
        }
    }
    chosen.extend(flipped);
    let mut keys: Vec<u64> = chosen.iter().map(|&(l, p)| pools[l][p].0 + e).collect();
    keys.sort_unstable();
    if certified_in_sorted_group(&keys, e) == 0 {
        return None;
    }
    let mut group = vec![EMPTY; pools.len()];
    for &(l, p) in &chosen {
        group[l] = pools[l][p].1;
    }
    for &(l, p) in &chosen {
        pools[l].remove(p);
    }
    Some(group)
}

/// LP partitions are built at every `GRID`-th `e` (the LP is the expensive part); each is
/// also evaluated at the `GRID − 1` values of `e` on either side of the one it was built
/// for (any partition's count at any `e` is a proven lower bound; below its grid point it
/// certifies at least as many members, above it it often still beats its neighbour's).
/// Measured against a grid of 100 in `docs/JOINT.md`, "A grouping from the LP": the curve
/// moves by 0.03 point on average, at 2.4 times less CPU.
pub const GRID: u64 = 250;

/// The curves of the LP grouping and the LP bounds it found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LpCounts {
    /// `certified[e]` under the paper's bound, `e` in `0..=max_e`.
    pub paper: Vec<u64>,
    /// The same under the one-label bound, when asked.
    pub one_label: Option<Vec<u64>>,
    /// `(e, LP upper bound on any grouping at e)` at every grid point.
    pub bounds: Vec<(u64, u64)>,
}

/// At each `e` in `0..=max_e`, the largest of `base` (CLUSTER's curves, so LP is never
/// below CLUSTER) and the counts of the LP partitions built at the grid points on either
/// side of `e` (see [`GRID`]), under the paper's bound; and, when `needs` and `base_label` are given,
/// the same under the one-label bound. Also the LP upper bounds at the grid points.
pub fn lp_counts(
    points: &[PointCertificate],
    n_classes: usize,
    needs: Option<&super::one_label::Needs>,
    base: &[u64],
    base_label: Option<&[u64]>,
) -> LpCounts {
    use super::cluster::groups_certified_away;
    use super::lp_bound::BUCKETS;
    use super::one_label::{
        OneLabelSolver, certified_alone, correct_by_label_descending, largest_margin,
    };
    use rayon::prelude::*;
    let max_e = base.len().saturating_sub(1) as u64;
    let by_label = correct_by_label_descending(points, n_classes);
    let max_margin = largest_margin(&by_label);
    let last = max_e.min(max_margin);
    let grid: Vec<u64> = (0..=last.div_ceil(GRID))
        .map(|k| (k * GRID).min(last))
        .collect();
    // Per grid point: its window's first e, the counts there, and the LP bound.
    type Window = (u64, Vec<(u64, u64)>, u64);
    let windows: Vec<Window> = grid
        .par_iter()
        .map_init(OneLabelSolver::new, |solver, &at| {
            let from = at.saturating_sub(GRID - 1);
            // Not past the largest margin: the curves stop there (docs/HORIZON.md), and
            // a partition evaluated above it could still certify under the one-label bound.
            let to = (at + GRID - 1).min(last);
            if crate::cancel::requested() {
                // Cancelled: nothing more is computed; the caller checks the flag and
                // discards these curves (no count, and no bound below the pooled one).
                return (from, Vec::new(), u64::MAX);
            }
            let (_, groups, bound) = lp_groups(&by_label, points, at, BUCKETS);
            let counts = (from..=to)
                .map(|e| {
                    let alone = certified_alone(&by_label, e);
                    let (paper, label) = groups_certified_away(&groups, points, needs, e, solver);
                    (alone + paper, alone + label.unwrap_or(0))
                })
                .collect();
            (from, counts, bound)
        })
        .collect();
    let mut paper = base.to_vec();
    let mut label = base_label.map(<[u64]>::to_vec);
    for (from, counts, _) in &windows {
        for (k, &(p, l)) in counts.iter().enumerate() {
            let e = *from as usize + k;
            paper[e] = paper[e].max(p);
            if let Some(label) = label.as_mut() {
                label[e] = label[e].max(l);
            }
        }
    }
    LpCounts {
        paper,
        one_label: label.filter(|_| needs.is_some()),
        bounds: grid.iter().zip(&windows).map(|(&e, w)| (e, w.2)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern whose bucket has run out in the pools takes the cheapest costlier member
    /// of the label (the LP's substitutions allowed for that), never a cheaper one nor a
    /// dearer one above it; a bucket that still has members is used as before; with no
    /// costlier member left the pattern cannot be made.
    #[test]
    fn an_exhausted_bucket_is_made_up_from_a_costlier_one() {
        // Buckets (0, 5], (5, 10], (10, 20] at e = 20.
        let e = 20;
        let d2 = BucketedD2::with_tops(&[vec![2, 7, 12, 15], vec![3, 9]], e, vec![5, 10]);
        // Label 0's member of bucket 1 (cost 7) is gone: 2 is cheaper, 12 and 15 dearer.
        let mut pools = vec![vec![(2, 0), (12, 1), (15, 2)], vec![(3, 3), (9, 4)]];
        let pattern = [Role::Certified(1), Role::Flipped(0)];
        // Certified 12 (the cheapest above bucket 1); the flipped member must cover
        // e + 1 − 12 = 9, so 3 is raised to 9; the attacker flips 9 and cannot afford 12.
        let group = instantiate(&pattern, &mut pools, &d2, e).expect("made with cost 12");
        assert_eq!(group, vec![1, 4]);
        assert_eq!(pools, vec![vec![(2, 0), (15, 2)], vec![(3, 3)]]);

        // Buckets (0, 5], (5, 8], (8, 10] at e = 10; bucket 1 of label 0 still holds 7.
        let e = 10;
        let d2 = BucketedD2::with_tops(&[vec![2, 7, 9], vec![3, 4]], e, vec![5, 8]);
        let mut pools = vec![vec![(2, 0), (7, 5), (9, 1)], vec![(3, 3), (4, 4)]];
        // Certified 7 (its own bucket's costliest, not 9 above it); flipped 3 raised to 4.
        let group = instantiate(&pattern, &mut pools, &d2, e).expect("made from bucket 1");
        assert_eq!(group, vec![5, 4]);

        // Label 1's bucket 0 has run out: its flipped member is the cheapest costlier one
        // (9, not nothing); certified 7, and the attacker flips 7 and cannot afford 9.
        let mut pools = vec![vec![(2, 0), (7, 5)], vec![(9, 4), (10, 6)]];
        let group = instantiate(&pattern, &mut pools, &d2, e).expect("flipped from above");
        assert_eq!(group, vec![5, 4]);

        // Nothing costlier is left: the pattern cannot be made, the pools are untouched.
        let mut pools = vec![vec![(2, 0)], vec![(9, 1)]];
        let pattern = [Role::Certified(2), Role::Flipped(1)];
        assert_eq!(instantiate(&pattern, &mut pools, &d2, e), None);
        assert_eq!(pools, vec![vec![(2, 0)], vec![(9, 1)]]);
    }
}
