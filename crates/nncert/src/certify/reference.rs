//! The naive twins of the fast paths behind `best`: CLUSTER and SEARCH as they were computed
//! before [`super::sweep`] and the windowed evaluation (each curve on its own, SEARCH
//! rebuilding its seeds, every group solved at every `e`), and POLISH's matching step
//! re-sorting every group's costs for every label. Kept, in tests only, so that the fast
//! paths are compared with them count for count on random and tie-heavy instances.

use super::PointCertificate;
use super::cluster::{GRID, Sacrifices, cluster_groups, groups_certified_away};
use super::label_search::{SEARCH_GRID, search_partition_from};
use super::one_label::{
    Needs, OneLabelSolver, certified_alone, correct_by_label_descending, largest_margin,
};
use super::polish::{EMPTY, groups_certified, polished_groups};

/// CLUSTER's curves, every partition built and solved on its own: at each `e` the best of
/// POLISH's partition at `e` and the CLUSTER partitions built at the next grid point
/// `≥ e`, under the paper's bound and (with `needs`) the one-label bound.
pub(crate) fn cluster_counts_reference(
    points: &[PointCertificate],
    n_classes: usize,
    needs: Option<&Needs>,
    max_e: u64,
) -> (Vec<u64>, Option<Vec<u64>>) {
    let by_label = correct_by_label_descending(points, n_classes);
    let last = max_e.min(largest_margin(&by_label));
    let mut solver = OneLabelSolver::new();
    let alone: Vec<u64> = (0..=last).map(|e| certified_alone(&by_label, e)).collect();
    let mut paper = vec![0u64; max_e as usize + 1];
    let mut label = vec![0u64; max_e as usize + 1];
    for e in 0..=last {
        let (d1, groups) = polished_groups(&by_label, points, e);
        let (p, l) = groups_certified(&groups, points, needs, e, &mut solver);
        paper[e as usize] = d1 + p;
        label[e as usize] = d1 + l.unwrap_or(0);
    }
    let grid: Vec<u64> = (0..=last.div_ceil(GRID))
        .map(|k| (k * GRID).min(last))
        .collect();
    for &at in &grid {
        for strategy in Sacrifices::ALL {
            let (_, groups) = cluster_groups(&by_label, points, at, strategy);
            for e in at.saturating_sub(GRID - 1)..=at {
                let (p, l) = groups_certified_away(&groups, points, needs, e, &mut solver);
                let d1 = alone[e as usize];
                paper[e as usize] = paper[e as usize].max(d1 + p);
                label[e as usize] = label[e as usize].max(d1 + l.unwrap_or(0));
            }
        }
    }
    (paper, needs.map(|_| label))
}

/// SEARCH's curve with its seeds rebuilt at every grid point and every `e` solved: at each
/// `e` the larger of `floor[e]` and the one-label count of the partition searched at the
/// next grid point `≥ e`.
pub(crate) fn search_label_counts_reference(
    points: &[PointCertificate],
    needs: &Needs,
    floor: &[u64],
    max_e: u64,
) -> Vec<u64> {
    let by_label = correct_by_label_descending(points, needs.n_classes());
    let last = max_e.min(largest_margin(&by_label));
    let grid: Vec<u64> = (0..=last.div_ceil(SEARCH_GRID))
        .map(|k| (k * SEARCH_GRID).min(last))
        .collect();
    let mut solver = OneLabelSolver::new();
    let mut counts: Vec<u64> = floor.to_vec();
    counts.resize(max_e as usize + 1, 0);
    for k in 0..grid.len() {
        let at = grid[k];
        let from = if k == 0 { 0 } else { grid[k - 1] + 1 };
        let groups = search_partition_from(&by_label, points, needs, at, &mut solver);
        for e in from..=at {
            let (_, label) = groups_certified_away(&groups, points, Some(needs), e, &mut solver);
            let v = certified_alone(&by_label, e) + label.unwrap_or(0);
            counts[e as usize] = counts[e as usize].max(v);
        }
    }
    counts
}

/// POLISH's label-by-label matching as it was written first: every group's costs gathered
/// and sorted again for every label.
pub(crate) fn polish_groups_reference(
    groups: &mut Vec<Vec<usize>>,
    points: &[PointCertificate],
    e: u64,
    rounds: usize,
) {
    let c = groups.first().map_or(0, Vec::len);
    let cost = |i: usize| points[i].cost_key() - e;
    let mut keys: Vec<u64> = Vec::with_capacity(c);
    let mut thresholds: Vec<(u64, usize)> = Vec::new();
    let mut members: Vec<(u64, usize)> = Vec::new();
    let mut taken: Vec<bool> = Vec::new();
    for _ in 0..rounds {
        for l in 0..c {
            if groups.iter().all(|g| g[l] == EMPTY) {
                continue;
            }
            members.clear();
            thresholds.clear();
            for (j, g) in groups.iter_mut().enumerate() {
                if g[l] != EMPTY {
                    members.push((cost(g[l]), g[l]));
                    g[l] = EMPTY;
                }
                keys.clear();
                keys.extend(g.iter().filter(|&&i| i != EMPTY).map(|&i| cost(i)));
                keys.sort_unstable();
                let mut spent = 0u64;
                for &k in &keys {
                    if spent + k > e {
                        break;
                    }
                    spent += k;
                }
                thresholds.push((e - spent, j));
            }
            members.sort_unstable();
            thresholds.sort_unstable();
            taken.clear();
            taken.resize(thresholds.len(), false);
            let mut unmatched: Vec<(u64, usize)> = Vec::new();
            for &(m_cost, m) in &members {
                // The free group with the largest τ < cost (best fit).
                let below = thresholds.partition_point(|t| t.0 < m_cost);
                match (0..below).rev().find(|&k| !taken[k]) {
                    Some(k) => {
                        taken[k] = true;
                        groups[thresholds[k].1][l] = m;
                    }
                    None => unmatched.push((m_cost, m)),
                }
            }
            // Unmatched members are flipped wherever they go: into the free groups with
            // the largest τ, then into new groups.
            let mut free = (0..thresholds.len()).rev().filter(|&k| !taken[k]);
            for &(_, m) in &unmatched {
                match free.next() {
                    Some(k) => groups[thresholds[k].1][l] = m,
                    None => {
                        let mut g = vec![EMPTY; c];
                        g[l] = m;
                        groups.push(g);
                    }
                }
            }
        }
    }
    groups.retain(|g| g.iter().any(|&i| i != EMPTY));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::certify_points;
    use crate::certify::polish::polish_groups;
    use crate::certify::sweep::sweep_counts;
    use crate::rng::SplitMix64;
    use crate::votes::{TieRule, Votes};

    /// rNN-like votes: every label `0..spread` votes, the true label `0..boost` more, all
    /// times `scale` (a small spread or a scale above 1 gives tie-heavy instances).
    fn votes(
        rng: &mut SplitMix64,
        n: usize,
        c: usize,
        spread: u64,
        boost: u64,
        scale: u64,
    ) -> Votes {
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| {
                let own = if labels[k / c] as usize == k % c {
                    rng.below(boost)
                } else {
                    0
                };
                (scale * (rng.below(spread) + own)) as u32
            })
            .collect();
        Votes::new(counts, c, labels).unwrap()
    }

    /// The sweep (shared seeds, windowed evaluation) equals the naive twins count for count:
    /// CLUSTER's two curves and SEARCH's, on random and tie-heavy instances, with curves
    /// cut before and after their last non-zero `e`, with and without needs.
    #[test]
    fn the_sweep_equals_its_naive_twins() {
        let mut rng = SplitMix64::new(0x5eed_7115);
        let mut searched_above_floor = 0;
        for case in 0..120 {
            let c = 2 + rng.below(9) as usize;
            let n = 30 + rng.below(250) as usize;
            let (spread, boost, scale) = match case % 3 {
                0 => (40, 120, 1),
                1 => (4, 8, 1 + rng.below(12)),
                _ => (3, 5, 1),
            };
            let votes = votes(&mut rng, n, c, spread, boost, scale);
            let tie = if rng.below(2) == 0 {
                TieRule::Larger
            } else {
                TieRule::Smaller
            };
            let points = certify_points(&votes, tie);
            let needs = Needs::new(&votes, tie);
            let max_e = match rng.below(3) {
                0 => rng.below(40),
                _ => 20 + rng.below(200),
            };
            let (paper, label) = cluster_counts_reference(&points, c, Some(&needs), max_e);
            let label = label.unwrap();
            let search = search_label_counts_reference(&points, &needs, &label, max_e);
            let swept = sweep_counts(&points, c, Some(&needs), max_e, true);
            assert_eq!(swept.cluster, paper, "case {case}: cluster");
            assert_eq!(swept.cluster_label.as_ref(), Some(&label), "case {case}");
            assert_eq!(swept.search_label.as_ref(), Some(&search), "case {case}");
            searched_above_floor += usize::from(search != label);
            let without_search = sweep_counts(&points, c, Some(&needs), max_e, false);
            assert_eq!(without_search.cluster, paper, "case {case}");
            assert_eq!(without_search.cluster_label.as_ref(), Some(&label));
            assert_eq!(without_search.search_label, None);
            let without_needs = sweep_counts(&points, c, None, max_e, true);
            let (paper_only, none) = cluster_counts_reference(&points, c, None, max_e);
            assert_eq!(without_needs.cluster, paper_only, "case {case}");
            assert_eq!((none, without_needs.cluster_label), (None, None));
            assert_eq!(without_needs.search_label, None);
        }
        assert!(
            searched_above_floor > 20,
            "{searched_above_floor} cases where SEARCH found more"
        );
    }

    /// POLISH's matching with costs kept sorted equals the one that sorts again, partition
    /// for partition, from random starting partitions of D2 (random and tie-heavy votes,
    /// including groups that empty and members that need new groups).
    #[test]
    fn polish_equals_its_naive_twin() {
        let mut rng = SplitMix64::new(0x9011_5400);
        let mut moved = 0;
        for case in 0..400 {
            let c = 2 + rng.below(9) as usize;
            let n = 20 + rng.below(200) as usize;
            let (spread, boost, scale) = if case % 2 == 0 {
                (40, 120, 1)
            } else {
                (4, 8, 1 + rng.below(5))
            };
            let votes = votes(&mut rng, n, c, spread, boost, scale);
            let points = certify_points(&votes, TieRule::Larger);
            let e = 1 + rng.below(60);
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for (i, p) in points.iter().enumerate() {
                if !(p.correct() && p.margin > e && p.margin <= 2 * e) {
                    continue;
                }
                let l = p.prediction.predicted as usize;
                let j = rng.below(groups.len() as u64 + 2) as usize;
                match groups.get_mut(j) {
                    Some(g) if g[l] == EMPTY => g[l] = i,
                    _ => {
                        let mut g = vec![EMPTY; c];
                        g[l] = i;
                        groups.push(g);
                    }
                }
            }
            let rounds = 1 + rng.below(4) as usize;
            let mut fast = groups.clone();
            polish_groups(&mut fast, &points, e, rounds);
            let mut naive = groups.clone();
            polish_groups_reference(&mut naive, &points, e, rounds);
            assert_eq!(fast, naive, "case {case}, e = {e}, {rounds} rounds");
            moved += usize::from(fast != groups);
        }
        assert!(moved > 200, "{moved} partitions changed");
    }
}
