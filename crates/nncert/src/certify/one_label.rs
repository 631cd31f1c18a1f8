//! The one-label group bound for rNN: an inserted training example carries one label
//! (derivation and proofs in `docs/JOINT.md`).
//!
//! The paper's group bound ([`super::joint`]) lets every insertion help every member of a
//! group against its cheapest rival. A real insertion has one label `l`, so it raises the
//! `l` vote of the members whose balls it lies in and nothing else. For a group `U` with
//! pairwise different predicted labels `a_i` and poisoning size `e`, the attacker chooses
//! insertion counts `x_l ≥ 0` per label with `Σ_l x_l ≤ e` and removal counts `r_i ≥ 0`
//! per member with `Σ_i r_i ≤ e`; member `i` is flipped iff for some `l ≠ a_i`
//! `r_i + x_l ≥ need_{i,l} = s_{i,a_i} − s_{i,l} + [a_i wins the tie against l]`.
//! The certified count of `U` is its correct members minus the most correct members the
//! attacker can flip (a misclassified member is never certified and costs nothing).
//!
//! # The exact solver
//!
//! For a fixed insertion vector `x`, member `i` costs
//! `cost_i(x) = max(0, min_{l ≠ a_i} (need_{i,l} − x_l))` removals, and the attacker flips the
//! cheapest members whose costs fit in `e`. So the attacker's problem is to choose `x` in the
//! simplex `{x ≥ 0, Σ x ≤ e}`. `docs/JOINT.md` shows that some optimal `x` has every label but
//! one (`l*`) at 0 or at a *breakpoint* `need_{i,l} ≤ e` of some member, and `l*` takes all the
//! insertions left. The solver enumerates exactly those candidates. When every need exceeds
//! `e` (always the case in ISLAND's groups, whose members have `g > e`) the only candidates
//! are `x = e · 1_{l*}`: all insertions on one label, `O(c)` candidates of `O(c)` work each.
//!
//! The paper's bound is the relaxation in which every label receives all `e` insertions at
//! once, so it flips at least as many members; its count is an upper bound the search stops
//! at.

use super::PointCertificate;
use super::grouping::Partition;
use super::joint::certified_in_sorted_group;
// Re-exported where the groupings have always found it; it lives in `label_lists`.
pub use super::label_lists::correct_by_label_descending;
use crate::votes::{TieRule, Votes};

/// `need_{i,l}` for every test input `i` and label `l` (`u64::MAX` for `l = a_i`, which no
/// insertion can promote): the number of single-vote changes that make `l` beat `a_i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    n_classes: usize,
    values: Vec<u64>,
}

impl Needs {
    /// The needs of every row of `votes` under `tie`.
    pub fn new(votes: &Votes, tie: TieRule) -> Needs {
        let c = votes.n_classes();
        let mut values = Vec::with_capacity(votes.n_test() * c);
        for i in 0..votes.n_test() {
            let row = votes.row(i);
            let a = crate::votes::Prediction::from_counts(row, tie).predicted;
            let top = u64::from(row[a as usize]);
            for (l, &s) in row.iter().enumerate() {
                let l = l as u32;
                values.push(if l == a {
                    u64::MAX
                } else {
                    // a has the most votes, so top ≥ s; on equality a wins the tie, need ≥ 1.
                    top - u64::from(s) + u64::from(tie.wins_tie(a, l))
                });
            }
        }
        Needs {
            n_classes: c,
            values,
        }
    }

    /// Number of labels.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The needs of test input `i`, one per label.
    pub fn row(&self, i: usize) -> &[u64] {
        &self.values[i * self.n_classes..(i + 1) * self.n_classes]
    }
}

/// Reusable buffers of the exact solver (no allocation per group once warm).
#[derive(Debug, Default, Clone)]
pub struct OneLabelSolver {
    /// Smallest need of each member (its margin `g`).
    margins: Vec<u64>,
    /// Labels some member can be flipped towards at this `e` (a need ≤ 2e).
    labels: Vec<u32>,
    /// Per entry of `labels`: sorted distinct needs ≤ e (candidate insertion counts).
    breakpoints: Vec<Vec<u64>>,
    /// The candidate insertion vector, as its non-zero entries `(label, count)`.
    insertions: Vec<(u32, u64)>,
    costs: Vec<u64>,
    /// Candidates still allowed in the current search (see [`MAX_CANDIDATES`]).
    candidates_left: usize,
}

/// Most insertion vectors the exact search evaluates for one group. Groups of ISLAND need
/// at most `c`; a group with many members whose rivals need ≤ `e` votes can have
/// exponentially many breakpoint combinations. Past this limit the search stops and the
/// group is given the paper's count (which is always sound, only looser), so the run time
/// stays bounded; the result is still deterministic.
pub const MAX_CANDIDATES: usize = 256;

/// Whether the exact search over `n_labels` labels (needs ≤ 2e), `n_branching` of them
/// with a breakpoint (a need ≤ e), must evaluate more than [`MAX_CANDIDATES`] insertion
/// vectors unless it reaches its cap first: for each choice of `l*` it evaluates the vector
/// with every other label at 0, and for each other label with a breakpoint the vector with
/// that label alone at its smallest breakpoint (all ≤ e, so all feasible).
///
/// Either way [`OneLabelSolver::max_flips`] returns its cap, so answering it without the
/// search changes no count; it keeps the search's buffers and its recursion (one level per
/// label) bounded by [`MAX_CANDIDATES`] whatever the class count of the votes (a search
/// over 10⁷ labels overflowed the stack).
fn too_many_candidates(n_labels: usize, n_branching: usize) -> bool {
    // Σ over l* of 1 + n_branching − [l* has a breakpoint].
    n_labels
        .saturating_mul(1 + n_branching)
        .saturating_sub(n_branching)
        > MAX_CANDIDATES
}

impl OneLabelSolver {
    /// A solver with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest number of members of `rows` (the need rows of a group's *correct*
    /// members, predicted labels pairwise different) that one poisoning of size `e` flips,
    /// capped at `cap`: the search stops once `cap` flips are reached (pass the paper's
    /// count, which is never exceeded, or `rows.len()`). Exact unless the search would
    /// evaluate more than [`MAX_CANDIDATES`] insertion vectors; then it returns `cap`, an
    /// over-estimate of the attacker, so a certificate built on it stays sound.
    pub fn max_flips(&mut self, rows: &[&[u64]], e: u64, cap: usize) -> usize {
        let cap = cap.min(rows.len());
        if cap == 0 {
            return 0;
        }
        self.margins.clear();
        self.margins.extend(
            rows.iter()
                .map(|r| r.iter().copied().min().unwrap_or(u64::MAX)),
        );
        let two_e = e.saturating_mul(2);
        let n_classes = rows[0].len();
        let reachable = |l: usize, within: u64| rows.iter().any(|r| r[l] <= within);
        // Counted before anything is stored: a votes header may state 10⁷ labels.
        let (n_labels, n_branching) = (0..n_classes)
            .filter(|&l| reachable(l, two_e))
            .fold((0usize, 0usize), |(n, b), l| {
                (n + 1, b + usize::from(reachable(l, e)))
            });
        if n_labels == 0 {
            // Every member needs more than e insertions plus e removals.
            return 0;
        }
        if too_many_candidates(n_labels, n_branching) {
            // The search would reach `cap` or stop at the limit, and both return `cap`.
            return cap;
        }
        self.search_all(rows, e, cap)
    }

    /// The exact search of [`Self::max_flips`] (`cap ≥ 1`, margins set): every choice of
    /// `l*`, each depth-first over the other labels, until `cap` flips or the candidate limit.
    fn search_all(&mut self, rows: &[&[u64]], e: u64, cap: usize) -> usize {
        let two_e = e.saturating_mul(2);
        let n_classes = rows[0].len();
        let reachable = |l: usize, within: u64| rows.iter().any(|r| r[l] <= within);
        self.labels.clear();
        self.labels.extend(
            (0..n_classes)
                .filter(|&l| reachable(l, two_e))
                .map(|l| l as u32),
        );
        self.breakpoints.resize_with(self.labels.len(), Vec::new);
        for (k, &l) in self.labels.iter().enumerate() {
            let b = &mut self.breakpoints[k];
            b.clear();
            b.extend(rows.iter().map(|r| r[l as usize]).filter(|&need| need <= e));
            b.sort_unstable();
            b.dedup();
        }
        let mut best = 0;
        self.candidates_left = MAX_CANDIDATES;
        for star in 0..self.labels.len() {
            self.insertions.clear();
            best = best.max(self.search(rows, e, cap, star, 0, 0));
            if best >= cap {
                break;
            }
        }
        best.min(cap)
    }

    /// Depth-first over the labels other than `star` (index `k` onwards), each at 0 or at
    /// one of its breakpoints, with `spent` insertions so far; `star` takes the rest.
    fn search(
        &mut self,
        rows: &[&[u64]],
        e: u64,
        cap: usize,
        star: usize,
        k: usize,
        spent: u64,
    ) -> usize {
        if k == self.labels.len() {
            if self.candidates_left == 0 {
                // Search too large: concede the cap (the paper's count), which is sound.
                return cap;
            }
            self.candidates_left -= 1;
            let rest = e - spent;
            if rest > 0 {
                self.insertions.push((self.labels[star], rest));
            }
            let flips = self.flips_under_insertions(rows, e);
            if rest > 0 {
                self.insertions.pop();
            }
            return flips;
        }
        // x_l = 0 for this label.
        let mut best = self.search(rows, e, cap, star, k + 1, spent);
        if k == star || best >= cap {
            return best;
        }
        for j in 0..self.breakpoints[k].len() {
            let x = self.breakpoints[k][j];
            if spent + x > e {
                break;
            }
            self.insertions.push((self.labels[k], x));
            best = best.max(self.search(rows, e, cap, star, k + 1, spent + x));
            self.insertions.pop();
            if best >= cap {
                break;
            }
        }
        best.min(cap)
    }

    /// Greedy flips once the insertions are fixed: the cheapest members whose removal
    /// costs sum to ≤ e.
    fn flips_under_insertions(&mut self, rows: &[&[u64]], e: u64) -> usize {
        self.costs.clear();
        for (row, &g) in rows.iter().zip(&self.margins) {
            let mut cost = g;
            for &(l, x) in &self.insertions {
                cost = cost.min(row[l as usize].saturating_sub(x));
            }
            self.costs.push(cost);
        }
        self.costs.sort_unstable();
        let mut spent = 0u64;
        let mut flips = 0;
        for &cost in &self.costs {
            if spent + cost > e {
                break;
            }
            spent += cost;
            flips += 1;
        }
        flips
    }
}

/// The one-label certified count of a group of test inputs (pairwise different predicted
/// labels, checked in debug builds) at poisoning size `e`.
pub fn group_certified_one_label(
    members: &[usize],
    points: &[PointCertificate],
    needs: &Needs,
    e: u64,
    solver: &mut OneLabelSolver,
) -> usize {
    debug_assert!(
        {
            let mut labels: Vec<u32> = members
                .iter()
                .map(|&i| points[i].prediction.predicted)
                .collect();
            labels.sort_unstable();
            labels.windows(2).all(|w| w[0] != w[1])
        },
        "a joint group needs pairwise different predicted labels"
    );
    let rows: Vec<&[u64]> = members
        .iter()
        .filter(|&&i| points[i].correct())
        .map(|&i| needs.row(i))
        .collect();
    // The paper's bound flips at least as many members: its count caps the search.
    let mut keys: Vec<u64> = members.iter().map(|&i| points[i].cost_key()).collect();
    keys.sort_unstable();
    let paper_certified = certified_in_sorted_group(&keys, e);
    let paper_flips = rows.len() - paper_certified;
    rows.len() - solver.max_flips(&rows, e, paper_flips)
}

/// ISLAND's groups, recomputed for every `e` exactly as [`island_counts`] forms them,
/// each certified by the one-label bound: `certified[e]` for `e` in `0..=max_e`.
///
/// D1 (`g > 2e`) is certified one by one as in ISLAND; a D2 group whose paper count
/// already certifies every member needs no search. The `e` are independent, so they are
/// spread over threads; each count is an exact integer, so the result does not depend on
/// the thread count.
///
/// [`island_counts`]: super::grouping::island_counts
pub(crate) fn island_one_label_counts(
    points: &[PointCertificate],
    needs: &Needs,
    max_e: u64,
) -> Vec<u64> {
    use rayon::prelude::*;
    let by_label = correct_by_label_descending(points, needs.n_classes());
    let max_margin = by_label
        .iter()
        .filter_map(|list| list.first().map(|x| x.0))
        .max()
        .unwrap_or(0);
    let last = max_e.min(max_margin);
    let mut counts: Vec<u64> = (0..=last)
        .into_par_iter()
        .map_init(OneLabelSolver::new, |solver, e| {
            // Skipped once a cancellation is requested: the caller returns the error.
            if crate::cancel::requested() {
                return 0;
            }
            island_one_label_at(&by_label, needs, e, solver)
        })
        .collect();
    counts.resize(max_e as usize + 1, 0);
    counts
}

/// The largest margin `g` in lists from [`correct_by_label_descending`] (0 if none): past
/// `e = g` every curve is 0, so groupings stop there.
pub(crate) fn largest_margin(by_label: &[Vec<(u64, usize)>]) -> u64 {
    by_label
        .iter()
        .filter_map(|list| list.first().map(|x| x.0))
        .max()
        .unwrap_or(0)
}

/// How many inputs of lists from [`correct_by_label_descending`] are in D1 at `e`
/// (`g > 2e`): certified alone, and in any group.
pub(crate) fn certified_alone(by_label: &[Vec<(u64, usize)>], e: u64) -> u64 {
    by_label
        .iter()
        .map(|list| list.partition_point(|x| x.0 > 2 * e) as u64)
        .sum()
}

/// The one-label count of ISLAND's partition at one `e`.
fn island_one_label_at(
    by_label: &[Vec<(u64, usize)>],
    needs: &Needs,
    e: u64,
    solver: &mut OneLabelSolver,
) -> u64 {
    let mut certified = 0u64;
    let mut longest = 0usize;
    let ranges: Vec<(usize, usize)> = by_label
        .iter()
        .map(|list| {
            let d2_start = list.partition_point(|x| x.0 > 2 * e); // D1: g > 2e
            let d2_end = list.partition_point(|x| x.0 > e); // D2: e < g ≤ 2e
            certified += d2_start as u64;
            longest = longest.max(d2_end - d2_start);
            (d2_start, d2_end)
        })
        .collect();
    let mut keys: Vec<u64> = Vec::with_capacity(by_label.len());
    let mut rows: Vec<&[u64]> = Vec::with_capacity(by_label.len());
    for j in 0..longest {
        keys.clear();
        rows.clear();
        for (list, &(start, end)) in by_label.iter().zip(&ranges) {
            if start + j < end {
                let (g, i) = list[start + j];
                keys.push(g);
                rows.push(needs.row(i));
            }
        }
        keys.sort_unstable();
        let paper_certified = certified_in_sorted_group(&keys, e);
        let paper_flips = rows.len() - paper_certified;
        certified += (rows.len() - solver.max_flips(&rows, e, paper_flips)) as u64;
    }
    certified
}

/// From this `e` on a fixed partition certifies nothing under the one-label bound: the
/// removals alone cover every correct member's margin in every group.
///
/// Unlike the paper's bound, which certifies nothing once `e ≥ g` for every member, the
/// one-label bound can still certify members at `e ≥ g` (insertions towards different
/// labels compete), so the curve's horizon is the largest group sum of margins.
pub(crate) fn partition_one_label_horizon(
    partition: &Partition,
    points: &[PointCertificate],
) -> u64 {
    partition
        .groups
        .iter()
        .map(|g| g.iter().map(|&i| points[i].cost_key()).sum::<u64>())
        .max()
        .unwrap_or(0)
}

/// `certified[e]` for `e` in `0..=max_e` of a fixed partition (e.g. RD) under the one-label
/// bound.
pub fn partition_one_label_counts(
    partition: &Partition,
    points: &[PointCertificate],
    needs: &Needs,
    max_e: u64,
) -> Vec<u64> {
    use rayon::prelude::*;
    let last = max_e.min(partition_one_label_horizon(partition, points));
    let mut counts: Vec<u64> = (0..=last)
        .into_par_iter()
        .map_init(OneLabelSolver::new, |solver, e| {
            // Skipped once a cancellation is requested: the caller returns the error.
            if crate::cancel::requested() {
                return 0;
            }
            partition
                .groups
                .iter()
                .map(|g| group_certified_one_label(g, points, needs, e, solver) as u64)
                .sum()
        })
        .collect();
    counts.resize(max_e as usize + 1, 0);
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::{Certification, Method};
    use crate::curve::{CurveOptions, certify_votes};
    use crate::rng::SplitMix64;

    /// Needs of a group of `members` inputs over `c` labels: member `i` predicts label `i`
    /// (need `u64::MAX` there), its other needs are drawn from `1..=most`, label by label.
    fn need_rows(rng: &mut SplitMix64, members: usize, c: usize, most: u64) -> Vec<Vec<u64>> {
        (0..members)
            .map(|i| {
                (0..c)
                    .map(|l| {
                        if l == i {
                            u64::MAX
                        } else {
                            1 + rng.below(most)
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Where `max_flips` answers `cap` without searching (too many candidates), the search
    /// itself returns `cap` too, and elsewhere `max_flips` is the search: random groups with
    /// many labels and needs around `e`.
    #[test]
    fn too_many_candidates_is_what_the_search_returns() {
        let mut rng = SplitMix64::new(0x70_0a4e);
        let (mut shortcut, mut below_cap) = (0, 0);
        for case in 0..400 {
            let c = 2 + rng.below(40) as usize;
            let n = (1 + rng.below(5) as usize).min(c);
            let e = 1 + rng.below(8);
            // Row i predicts label i (need u64::MAX there), the others need 1..=3e.
            let rows = need_rows(&mut rng, n, c, 3 * e);
            let rows: Vec<&[u64]> = rows.iter().map(Vec::as_slice).collect();
            let cap = 1 + rng.below(n as u64) as usize;
            let mut solver = OneLabelSolver::new();
            let fast = solver.max_flips(&rows, e, cap); // also sets the margins
            let searched = solver.search_all(&rows, e, cap);
            assert_eq!(fast, searched, "case {case}");
            let reachable = |l: usize, w: u64| rows.iter().any(|r| r[l] <= w);
            let n_labels = (0..c).filter(|&l| reachable(l, 2 * e)).count();
            let n_branching = (0..c).filter(|&l| reachable(l, e)).count();
            if too_many_candidates(n_labels, n_branching) {
                shortcut += 1;
                assert_eq!(searched, cap, "case {case}");
            } else {
                below_cap += usize::from(searched < cap);
            }
        }
        assert!(
            shortcut > 100 && below_cap >= 10,
            "{shortcut} shortcuts, {below_cap} below the cap"
        );
    }

    /// One row of 2·10⁵ classes (the audit's reproducer, scaled down): every one-label curve
    /// is computed. The search used to recurse once per label and overflow the stack.
    #[test]
    fn one_label_curves_of_a_huge_class_count_do_not_recurse_per_label() {
        let c = 200_000;
        let mut counts = vec![0u32; c];
        counts[3] = 5;
        let votes = Votes::new(counts, c, vec![3]).expect("valid votes");
        let mut options = CurveOptions::new(Method::Rnn, "");
        options.joint = vec![
            Certification::IslandLabel,
            Certification::RdLabel,
            Certification::PolishLabel,
            Certification::ClusterLabel,
            Certification::SearchLabel,
            Certification::LpLabel,
            Certification::Best,
        ];
        options.max_e = Some(5);
        let out = certify_votes(&votes, &options).expect("certified");
        // g = 5: removals r and insertions x on one label flip it once r + x ≥ 5, i.e. e ≥ 3.
        for curve in &out.curves {
            assert_eq!(
                curve.certified,
                vec![1, 1, 1, 0, 0, 0],
                "{}",
                curve.certification
            );
        }
    }

    /// Members attacked towards different labels must share the insertions.
    #[test]
    fn rivals_on_different_labels_share_the_insertions() {
        // Rows are needs per label (u64::MAX at the predicted label). A predicts 2 and needs
        // 8 against label 1; C predicts 1 and needs 8 against label 0; B predicts 0 and
        // needs 20 against every rival.
        let a: &[u64] = &[20, 8, u64::MAX];
        let b: &[u64] = &[u64::MAX, 20, 20];
        let c: &[u64] = &[8, u64::MAX, 20];
        let mut solver = OneLabelSolver::new();
        // e = 6: the paper gives both A and C six insertions, costs 2 + 2 ≤ 6, both flip.
        // One label per insertion: x_0 + x_1 ≤ 6 leaves 16 − 6 = 10 > 6 removals: one flips.
        assert_eq!(solver.max_flips(&[a, c], 6, 2), 1);
        // B needs 20 > 2e whatever happens.
        assert_eq!(solver.max_flips(&[a, b, c], 6, 3), 1);
        // At e = 8: all insertions on label 1 flip A for free, 8 removals flip C.
        assert_eq!(solver.max_flips(&[a, c], 8, 2), 2);
        // The search stops at the cap.
        assert_eq!(solver.max_flips(&[a, c], 8, 1), 1);
    }

    /// No single label reaches the optimum here: two members are flipped for free by two
    /// insertions of label 1, the other two insertions go to label 2 for the third member.
    #[test]
    fn the_optimum_can_split_the_insertions() {
        let a: &[u64] = &[8, u64::MAX, 6];
        let b: &[u64] = &[10, 1, u64::MAX];
        let c: &[u64] = &[u64::MAX, 2, 8];
        let mut solver = OneLabelSolver::new();
        assert_eq!(solver.max_flips(&[a, b, c], 4, 3), 3);
    }

    /// Twelve members, each with one cheap rival label of its own (needs 20..31) and every
    /// other rival out of reach. Flipping all twelve would take 306 votes of coverage, and
    /// each insertion covers one member only, so the attacker flips at most 11 with 200.
    /// Yet the breakpoint search has thousands of candidates: the solver concedes the cap (12)
    /// rather than under-estimate the attacker.
    #[test]
    fn an_oversized_search_concedes_the_cap() {
        let c = 12;
        let rows: Vec<Vec<u64>> = (0..c)
            .map(|i| {
                (0..c)
                    .map(|l| match l {
                        l if l == i => u64::MAX,
                        l if l == (i + 1) % c => 20 + i as u64,
                        _ => 1000,
                    })
                    .collect()
            })
            .collect();
        let rows: Vec<&[u64]> = rows.iter().map(Vec::as_slice).collect();
        let mut solver = OneLabelSolver::new();
        assert_eq!(solver.max_flips(&rows, 100, 12), 12);
        // Six members fit under an exact search of a smaller instance.
        assert!(solver.max_flips(&rows[..6], 100, 6) <= 6);
    }

    /// Found by an independent review: the optimum puts insertions on a label's LARGEST
    /// breakpoint (x_2 = 2 flips B, C and D at once), so a solver that tried only the
    /// smallest breakpoint per label, or dropped the largest, certified one member too many.
    #[test]
    fn regression_the_largest_breakpoint_matters() {
        const X: u64 = u64::MAX;
        let rows: [&[u64]; 4] = [&[5, 4, X, 4], &[X, 4, 2, 3], &[3, 5, 2, X], &[2, X, 1, 4]];
        let mut solver = OneLabelSolver::new();
        assert_eq!(solver.max_flips(&rows, 3, 4), 4);
    }

    /// Every insertion vector with Σx ≤ e, then the cheapest members by removals.
    fn brute_force_flips(rows: &[&[u64]], e: u64) -> usize {
        let c = rows[0].len();
        let mut best = 0;
        let mut x = vec![0u64; c];
        loop {
            let mut costs: Vec<u64> = rows
                .iter()
                .map(|r| {
                    (0..c)
                        .map(|l| r[l].saturating_sub(x[l]))
                        .min()
                        .unwrap_or(X_NONE)
                })
                .collect();
            costs.sort_unstable();
            let (mut spent, mut flips) = (0u64, 0usize);
            for cost in costs {
                if spent + cost > e {
                    break;
                }
                spent += cost;
                flips += 1;
            }
            best = best.max(flips);
            // Next x in lexicographic order with Σx ≤ e.
            let mut i = 0;
            loop {
                if i == c {
                    return best;
                }
                x[i] += 1;
                if x.iter().sum::<u64>() <= e {
                    break;
                }
                x[i] = 0;
                i += 1;
            }
        }
    }
    const X_NONE: u64 = u64::MAX;

    /// The solver against brute force over every insertion vector on random full groups
    /// with needs near e (where split insertions and breakpoints matter), for every cap.
    #[test]
    fn solver_matches_brute_force_on_random_full_groups() {
        let mut rng = crate::rng::SplitMix64::new(0x0ab5_1e0f);
        let mut checked = 0;
        for _ in 0..4000 {
            let c = 2 + rng.below(4) as usize;
            let e = 1 + rng.below(8);
            // Mostly full groups: that is where one label's breakpoints interact most.
            let members = if rng.below(4) == 0 {
                1 + rng.below(c as u64) as usize
            } else {
                c
            };
            // Pairwise different predicted labels: member i predicts label i.
            let rows = need_rows(&mut rng, members, c, e + 3);
            let rows: Vec<&[u64]> = rows.iter().map(Vec::as_slice).collect();
            let exact = brute_force_flips(&rows, e);
            let mut solver = OneLabelSolver::new();
            for cap in 0..=members {
                assert_eq!(
                    solver.max_flips(&rows, e, cap),
                    exact.min(cap),
                    "rows {rows:?}, e = {e}, cap = {cap}"
                );
                checked += 1;
            }
        }
        assert!(checked > 8000);
    }

    #[test]
    fn cheap_members_use_split_insertions() {
        // A needs 2 against label 1, C needs 2 against label 0, D needs 7 against label 1.
        let a: &[u64] = &[u64::MAX, 2, 30, 30];
        let c: &[u64] = &[2, u64::MAX, 30, 30];
        let d: &[u64] = &[30, 7, 30, u64::MAX];
        let mut solver = OneLabelSolver::new();
        // e = 4: x = (x0 = 2, x1 = 2) flips A and C with no removals, D then costs 5 > 4;
        // x1 = 4: A free, D costs 3, C costs 2: 5 > 4 -> two. Best is two.
        assert_eq!(solver.max_flips(&[a, c, d], 4, 3), 2);
        // e = 5: x0 = 2, x1 = 3: A, C free, D costs 4 ≤ 5: all three.
        assert_eq!(solver.max_flips(&[a, c, d], 5, 3), 3);
    }
}
