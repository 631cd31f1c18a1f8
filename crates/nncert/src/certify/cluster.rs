//! CLUSTER: groups built as a tight cluster of members to certify plus the cheapest
//! members that make the attacker spend its budget, then polished (derivation in
//! `docs/JOINT.md`, section "CLUSTER").
//!
//! At size `e` only D2 (`e < g ≤ 2e`, cost `g − e ∈ [1, e]`) is grouped, as in ISLAND and
//! POLISH. A group certifies its members of cost `> e − P`, `P` the total cost of the
//! members the attacker flips there (the cheapest ones, `P ≤ e`). So a good group is a
//! *cluster* of members of nearly equal cost, the smallest `m`, and a few *sacrifices* of
//! other labels whose costs sum to just over `e − m` (and at most `e`). ISLAND's groups
//! take the `j`-th costliest member of every label, so its top groups sacrifice costly
//! members and its bottom groups certify few.
//!
//! The construction repeats, while it pays: look at the costliest remaining member of each
//! label; for every `k`, the cluster is the `k` labels with the costliest such members and
//! `m` the `k`-th cost; the sacrifices come from the other labels, one per label, until
//! their total `P` reaches `e − m + 1` (and stays ≤ `e`). Two strategies are tried
//! ([`Sacrifices`]): *few* (while no member covers the remaining need snugly, within 5 %,
//! take the costliest member below it: few sacrifices keep label slots free) and *cheap*
//! (the cheapest members first, then the cheapest that covers the rest). The `k` chosen
//! maximises `k − λP` (certified members against the budget consumed; `λ = 1/e` for
//! *few*, `4/e` for *cheap*); the group is formed and its members removed. What is left
//! is grouped as ISLAND does. Then POLISH's exact label-by-label matching improves the
//! whole partition ([`polish_groups`]).
//!
//! Whatever the heuristic, the count reported is the exact group bound of the partition
//! it built, and at every `e` the best of POLISH's partition and the CLUSTER partitions
//! tried there (see [`GRID`]) is kept, so CLUSTER is never below POLISH (property-tested).
//! Everything is integer arithmetic with fixed tie rules (label, then position), so the
//! result does not depend on the thread count.

use super::PointCertificate;
use super::one_label::{Needs, OneLabelSolver};
use super::polish::{EMPTY, groups_certified, polish_groups, push_island_rest};
use super::sweep::sweep_counts;

/// Rounds of POLISH's matching over all labels after the construction.
const ROUNDS: usize = 4;

/// A sacrifice covers the remaining need snugly if it exceeds it by at most `1/SNUG`.
const SNUG: u64 = 20;

/// How a cluster's sacrifices are chosen (both are tried; see [`cluster_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sacrifices {
    /// Few: the costliest member below the remaining need until one covers it snugly
    /// (within `1/SNUG`); the cluster size maximises `k − P/e`.
    Few,
    /// Cheap: the cheapest member until one covers the remaining need (the cheapest such);
    /// the cluster size maximises `k − 4P/e`.
    Cheap,
}

impl Sacrifices {
    /// Both strategies, in the order they are tried.
    pub const ALL: [Sacrifices; 2] = [Sacrifices::Few, Sacrifices::Cheap];

    /// `λ·e` in the cluster score `k − λ·P`.
    fn price(self) -> u64 {
        match self {
            Sacrifices::Few => 1,
            Sacrifices::Cheap => 4,
        }
    }
}

/// The CLUSTER partition of D2 at `e` (before the comparison with POLISH), with sacrifices
/// chosen by `strategy`: each group as one test index (or [`EMPTY`]) per label; also
/// returns the number of D1 inputs. `by_label` is
/// [`correct_by_label_descending`](super::one_label::correct_by_label_descending).
pub fn cluster_groups(
    by_label: &[Vec<(u64, usize)>],
    points: &[PointCertificate],
    e: u64,
    strategy: Sacrifices,
) -> (u64, Vec<Vec<usize>>) {
    let c = by_label.len();
    let mut d1 = 0u64;
    // Each label's D2 members as (cost, index), cost ascending: the costliest is last.
    let mut lists: Vec<Vec<(u64, usize)>> = Vec::with_capacity(c);
    for list in by_label {
        let d2_start = list.partition_point(|x| x.0 > 2 * e);
        let d2_end = list.partition_point(|x| x.0 > e);
        d1 += d2_start as u64;
        lists.push(
            list[d2_start..d2_end]
                .iter()
                .rev()
                .map(|&(g, i)| (g - e, i))
                .collect(),
        );
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut tops: Vec<(u64, usize)> = Vec::with_capacity(c);
    let mut in_cluster = vec![false; c];
    let mut chosen: Vec<(usize, usize)> = Vec::with_capacity(c);
    let mut best_chosen: Vec<(usize, usize)> = Vec::with_capacity(c);
    loop {
        tops.clear();
        tops.extend(
            lists
                .iter()
                .enumerate()
                .filter_map(|(l, list)| list.last().map(|x| (x.0, l))),
        );
        // Costliest first, then the smaller label.
        tops.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut best: Option<(u64, usize)> = None; // (score, k)
        in_cluster.iter_mut().for_each(|x| *x = false);
        for k in 1..tops.len() {
            in_cluster[tops[k - 1].1] = true;
            let m = tops[k - 1].0;
            let Some(spent) = sacrifices(&lists, &in_cluster, e - m + 1, e, strategy, &mut chosen)
            else {
                continue;
            };
            // k − λP > 0, scaled by e.
            let Some(score) = (k as u64 * e)
                .checked_sub(strategy.price() * spent)
                .filter(|&s| s > 0)
            else {
                continue;
            };
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, k));
                best_chosen.clone_from(&chosen);
            }
        }
        let Some((_, k)) = best else { break };
        let mut group = vec![EMPTY; c];
        for &(_, l) in &tops[..k] {
            if let Some((_, i)) = lists[l].pop() {
                group[l] = i;
            }
        }
        // Sacrifice labels are not cluster labels, and each label gives one at most.
        for &(l, pos) in &best_chosen {
            group[l] = lists[l].remove(pos).1;
        }
        groups.push(group);
    }
    // The rest as ISLAND groups them: the j-th costliest remaining member of every label.
    push_island_rest(&mut groups, &lists);
    polish_groups(&mut groups, points, e, ROUNDS);
    (d1, groups)
}

/// Chooses sacrifices, at most one per label outside the cluster, with total cost in
/// `[need, e]` (see the module documentation). Returns their total cost and, in `chosen`,
/// `(label, position in lists[label])`; `None` if no such choice is found.
fn sacrifices(
    lists: &[Vec<(u64, usize)>],
    in_cluster: &[bool],
    need: u64,
    e: u64,
    strategy: Sacrifices,
    chosen: &mut Vec<(usize, usize)>,
) -> Option<u64> {
    chosen.clear();
    let mut spent = 0u64;
    let free = |l: usize, chosen: &[(usize, usize)]| {
        !in_cluster[l] && !lists[l].is_empty() && chosen.iter().all(|&(x, _)| x != l)
    };
    loop {
        let rest = need - spent;
        // The cheapest member ≥ rest, and the costliest (Few) or cheapest (Cheap) member
        // < rest, over free labels.
        let mut fit: Option<(u64, usize, usize)> = None;
        let mut below: Option<(u64, usize, usize)> = None;
        let better = |cost: u64, than: (u64, usize, usize)| match strategy {
            Sacrifices::Few => cost > than.0,
            Sacrifices::Cheap => cost < than.0,
        };
        for (l, list) in lists.iter().enumerate() {
            if !free(l, chosen) {
                continue;
            }
            let pos = list.partition_point(|x| x.0 < rest);
            if let Some(&(cost, _)) = list.get(pos)
                && fit.is_none_or(|f| cost < f.0)
            {
                fit = Some((cost, l, pos));
            }
            let candidate = match strategy {
                Sacrifices::Few => pos.checked_sub(1),
                Sacrifices::Cheap => (pos > 0).then_some(0),
            };
            if let Some(at) = candidate
                && below.is_none_or(|b| better(list[at].0, b))
            {
                below = Some((list[at].0, l, at));
            }
        }
        let fits = fit.filter(|f| spent + f.0 <= e);
        let snug = |f: (u64, usize, usize)| match strategy {
            Sacrifices::Few => (f.0 - rest) * SNUG <= rest,
            Sacrifices::Cheap => true,
        };
        match (fits, below) {
            (Some(f), b) if b.is_none() || snug(f) => {
                chosen.push((f.1, f.2));
                return Some(spent + f.0);
            }
            (_, Some(b)) => {
                chosen.push((b.1, b.2));
                spent += b.0;
            }
            (_, None) => return None,
        }
    }
}

/// CLUSTER partitions are built every `GRID` values of `e` (the construction is the
/// expensive part); each is also evaluated at the `GRID − 1` values of `e` below the one it
/// was built for (the next grid point's partition serves those above). Any partition is
/// valid at any `e`, so this is sound; it only changes which partitions are tried at which
/// `e`. Below its own `e` every member of a partition has `g > e`, so the one-label
/// solver stays on its fast path (no insertion breakpoints).
pub const GRID: u64 = 4;

/// `certified[e]` for `e` in `0..=max_e`: at each `e` the best (by the paper's count) of
/// POLISH's partition at `e` and the CLUSTER partitions built at the next grid point
/// `≥ e` (see [`GRID`]), under the paper's bound; and, when `needs` is given, the largest
/// one-label count of those partitions. Computed by [`sweep_counts`] (without SEARCH).
pub fn cluster_counts(
    points: &[PointCertificate],
    n_classes: usize,
    needs: Option<&Needs>,
    max_e: u64,
) -> (Vec<u64>, Option<Vec<u64>>) {
    let swept = sweep_counts(points, n_classes, needs, max_e, false);
    (swept.cluster, swept.cluster_label)
}

/// [`groups_certified`] of groups built at another `e`, not counting members that are
/// certified alone at `e` (`g > 2e`: the caller counts them with D1).
pub(crate) fn groups_certified_away(
    groups: &[Vec<usize>],
    points: &[PointCertificate],
    needs: Option<&Needs>,
    e: u64,
    solver: &mut OneLabelSolver,
) -> (u64, Option<u64>) {
    let (paper, label) = groups_certified(groups, points, needs, e, solver);
    let alone = groups
        .iter()
        .flatten()
        .filter(|&&i| i != EMPTY && points[i].correct() && points[i].margin > 2 * e)
        .count() as u64;
    // Every correct member with g > 2e is certified in any group (its cost g − e exceeds
    // e), so both counts include it and the subtractions cannot underflow; a misclassified
    // member is never certified and must not be taken off.
    (paper - alone, label.map(|l| l - alone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::certify_points;
    use crate::{TieRule, Votes};

    /// A misclassified member with a large margin is not "certified alone": taking it off
    /// the group's count underflowed (a panic in debug builds, a huge count in release).
    /// No grouping of nncert puts misclassified inputs in groups today; this keeps it safe.
    #[test]
    fn a_misclassified_member_is_not_taken_off() {
        // Input 0: predicted 0, label 0, margin 9. Input 1: predicted 1, label 0.
        let votes = Votes::new(vec![9, 0, 0, 9], 2, vec![0, 0]).unwrap();
        let points = certify_points(&votes, TieRule::Larger);
        assert!(points[0].correct() && !points[1].correct());
        let groups = vec![vec![0, 1]];
        let mut solver = OneLabelSolver::new();
        let (paper, label) = groups_certified_away(&groups, &points, None, 2, &mut solver);
        assert_eq!((paper, label), (0, None));
    }
}
