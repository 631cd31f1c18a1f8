//! The counts of one fixed partition at every `e` of a window, without solving every group
//! at every `e` (derivation in `docs/JOINT.md`, section "Evaluating a partition over a
//! window of e").
//!
//! CLUSTER and SEARCH build a partition at a grid point and report its exact counts at the
//! values of `e` just below it. Per group, the attacker's largest number of flips can only
//! grow with `e`: an attack of budget `e` is also one of budget `e + 1` (under the paper's
//! bound every cost `g − e` also falls while the budget grows). The one-label solver returns
//! `min(T, cap)`, `T` the attacker's optimum and `cap` the paper's flips, which is then
//! non-decreasing too, provided the solver is exact at every `e` of the window: that holds
//! when every need of every member exceeds the window's last `e` (no insertion
//! breakpoints, so at most one candidate per label) and there are at most
//! [`MAX_CANDIDATES`] labels. So a group whose flips are equal at the two ends of the
//! window has the same flips everywhere in it; otherwise the window is halved and each
//! half treated alike. Most groups keep their flips over a window of 4 or 8 values of `e`,
//! so most are solved twice instead of at every `e`. When the condition fails the group is
//! solved at every `e`.
//!
//! Every value returned is the one the solver gives at that `e` (tested against
//! [`groups_certified_away`](super::cluster::groups_certified_away) at every `e`), so the
//! curves do not change by a single count.

use super::PointCertificate;
use super::joint::certified_in_sorted_group;
use super::one_label::{MAX_CANDIDATES, Needs, OneLabelSolver};
use super::polish::EMPTY;

/// The counts of a partition at every `e` of `from..=to`, as
/// [`groups_certified_away`](super::cluster::groups_certified_away) gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowCounts {
    /// First `e` of the window.
    pub from: u64,
    /// Per `e`: the paper's count, not counting members certified alone at `e`.
    pub paper: Vec<u64>,
    /// Per `e`: the one-label count, likewise (`None` without needs).
    pub label: Option<Vec<u64>>,
    /// Per `e`: the members certified alone at `e` (`g > 2e`), left out of both counts.
    pub alone: Vec<u64>,
}

/// The counts of `groups` (each one test index or [`EMPTY`] per label) at every `e` of
/// `from..=to` (`from ≤ to`), under the paper's bound and, with `needs`, the one-label bound.
pub(crate) fn window_counts(
    groups: &[Vec<usize>],
    points: &[PointCertificate],
    needs: Option<&Needs>,
    from: u64,
    to: u64,
    solver: &mut OneLabelSolver,
) -> WindowCounts {
    debug_assert!(from <= to);
    let len = (to - from + 1) as usize;
    let mut paper = vec![0u64; len];
    let mut label = vec![0u64; len];
    let mut alone = vec![0u64; len];
    let mut keys: Vec<u64> = Vec::new();
    let mut rows: Vec<&[u64]> = Vec::new();
    let mut certified = vec![0usize; len];
    let mut flips: Vec<Option<usize>> = vec![None; len];
    for g in groups {
        let present = || g.iter().copied().filter(|&i| i != EMPTY);
        keys.clear();
        keys.extend(present().map(|i| points[i].cost_key()));
        keys.sort_unstable();
        for (k, e) in (from..=to).enumerate() {
            certified[k] = certified_in_sorted_group(&keys, e);
            paper[k] += certified[k] as u64;
            alone[k] += present().filter(|&i| points[i].margin > 2 * e).count() as u64;
        }
        let Some(needs) = needs else { continue };
        rows.clear();
        rows.extend(present().map(|i| needs.row(i)));
        let n = rows.len();
        let mut solve = |k: usize| {
            let e = from + k as u64;
            solver.max_flips(&rows, e, n - certified[k])
        };
        if monotone_over(&rows, needs.n_classes(), to) {
            flips.iter_mut().for_each(|f| *f = None);
            fill_monotone(&mut flips, 0, len - 1, &mut solve);
            for (k, f) in flips.iter().enumerate() {
                label[k] += (n - f.expect("every e of the window is filled")) as u64;
            }
        } else {
            for (k, total) in label.iter_mut().enumerate() {
                *total += (n - solve(k)) as u64;
            }
        }
    }
    for k in 0..len {
        paper[k] -= alone[k];
        if needs.is_some() {
            label[k] -= alone[k];
        }
    }
    WindowCounts {
        from,
        paper,
        label: needs.map(|_| label),
        alone,
    }
}

/// Whether the solver's flips of a group with these need rows are non-decreasing over every
/// `e ≤ to` (see the module documentation): every need above `to`, at most
/// [`MAX_CANDIDATES`] labels.
fn monotone_over(rows: &[&[u64]], n_classes: usize, to: u64) -> bool {
    n_classes <= MAX_CANDIDATES && rows.iter().all(|r| r.iter().all(|&need| need > to))
}

/// Fills `flips[lo..=hi]` from a non-decreasing `solve`, solving only where the values can
/// change: the ends first; if they are equal, everything between is equal to them;
/// otherwise the middle, then each half alike.
fn fill_monotone(
    flips: &mut [Option<usize>],
    lo: usize,
    hi: usize,
    solve: &mut impl FnMut(usize) -> usize,
) {
    let lo_value = *flips[lo].get_or_insert_with(|| solve(lo));
    let hi_value = *flips[hi].get_or_insert_with(|| solve(hi));
    if lo_value == hi_value {
        flips[lo..=hi].iter_mut().for_each(|f| *f = Some(lo_value));
    } else if hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        fill_monotone(flips, lo, mid, solve);
        fill_monotone(flips, mid, hi, solve);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::certify_points;
    use crate::certify::cluster::groups_certified_away;
    use crate::rng::SplitMix64;
    use crate::votes::{TieRule, Votes};

    /// Random rNN-like votes: every label `0..spread` votes, the true label `0..boost` more
    /// (a small spread gives tie-heavy instances: equal margins, needs and costs).
    fn votes(rng: &mut SplitMix64, n: usize, c: usize, spread: u64, boost: u64) -> Votes {
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| {
                (rng.below(spread)
                    + if labels[k / c] as usize == k % c {
                        rng.below(boost)
                    } else {
                        0
                    }) as u32
            })
            .collect();
        Votes::new(counts, c, labels).unwrap()
    }

    /// A random partition of the correct inputs in D2 at `at` (one per label and group), as
    /// CLUSTER and SEARCH build at a grid point `at` — plus, when `loose`, correct inputs of
    /// any margin (then the monotone shortcut must step aside for some groups).
    fn partition(
        rng: &mut SplitMix64,
        points: &[PointCertificate],
        c: usize,
        at: u64,
        loose: bool,
    ) -> Vec<Vec<usize>> {
        let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); c];
        for (i, p) in points.iter().enumerate() {
            let d2 = p.correct() && p.margin > at && p.margin <= 2 * at;
            if d2 || (loose && p.correct() && rng.below(3) == 0) {
                by_label[p.prediction.predicted as usize].push(i);
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (l, list) in by_label.iter().enumerate() {
            for &i in list {
                let j = rng.below(groups.len() as u64 + 1) as usize;
                match groups.get_mut(j) {
                    Some(g) if g[l] == EMPTY => g[l] = i,
                    _ => {
                        let mut g = vec![EMPTY; c];
                        g[l] = i;
                        groups.push(g);
                    }
                }
            }
        }
        groups
    }

    /// The windowed counts equal [`groups_certified_away`] solved at every `e`, on random
    /// and tie-heavy instances, windows of 1 to 12 values of `e`, with and without needs,
    /// and on partitions where the shortcut does not apply.
    #[test]
    fn window_counts_equal_the_counts_at_every_e() {
        let mut rng = SplitMix64::new(0x3e1d_0a11);
        let mut shortcut_groups = 0usize;
        for case in 0..600 {
            let c = 2 + rng.below(9) as usize;
            let (spread, boost) = if case % 2 == 0 { (4, 8) } else { (40, 120) };
            let n = 20 + rng.below(200) as usize;
            let votes = votes(&mut rng, n, c, spread, boost);
            let tie = if rng.below(2) == 0 {
                TieRule::Larger
            } else {
                TieRule::Smaller
            };
            let points = certify_points(&votes, tie);
            let needs = Needs::new(&votes, tie);
            let at = 1 + rng.below(if case % 2 == 0 { 8 } else { 100 });
            let from = at.saturating_sub(rng.below(12));
            let loose = case % 5 == 0;
            let groups = partition(&mut rng, &points, c, at, loose);
            let mut solver = OneLabelSolver::new();
            shortcut_groups += groups
                .iter()
                .filter(|g| {
                    let rows: Vec<&[u64]> = g
                        .iter()
                        .filter(|&&i| i != EMPTY)
                        .map(|&i| needs.row(i))
                        .collect();
                    monotone_over(&rows, c, at)
                })
                .count();
            for with_needs in [Some(&needs), None] {
                let window = window_counts(&groups, &points, with_needs, from, at, &mut solver);
                for (k, e) in (from..=at).enumerate() {
                    let (paper, label) =
                        groups_certified_away(&groups, &points, with_needs, e, &mut solver);
                    let alone = groups
                        .iter()
                        .flatten()
                        .filter(|&&i| i != EMPTY && points[i].margin > 2 * e)
                        .count() as u64;
                    assert_eq!(window.paper[k], paper, "case {case}, e = {e}");
                    assert_eq!(
                        window.label.as_ref().map(|l| l[k]),
                        label,
                        "case {case}, e = {e}"
                    );
                    assert_eq!(window.alone[k], alone, "case {case}, e = {e}");
                }
            }
        }
        assert!(
            shortcut_groups > 1000,
            "{shortcut_groups} groups took the shortcut"
        );
    }

    /// The fill solves the ends, and between them only where the values change.
    #[test]
    fn fill_monotone_solves_few_points_and_fills_all() {
        for len in 1..20usize {
            for step in 0..len {
                // A step function: 3 before `step`, 5 from it on.
                let mut solved = 0;
                let mut flips = vec![None; len];
                fill_monotone(&mut flips, 0, len - 1, &mut |k| {
                    solved += 1;
                    if k < step { 3 } else { 5 }
                });
                let want: Vec<Option<usize>> = (0..len)
                    .map(|k| Some(if k < step { 3 } else { 5 }))
                    .collect();
                assert_eq!(flips, want, "len {len}, step {step}");
                assert!(solved <= 2 + 2 * (usize::BITS - len.leading_zeros()) as usize);
            }
        }
    }
}
