//! POLISH: ISLAND's groups improved label by label with an exact matching step
//! (derivation in `docs/JOINT.md`, section "A better grouping").
//!
//! At poisoning size `e`, D1 (`g > 2e`) is certified one by one and D0 (`g ≤ e`, or
//! misclassified) never is, exactly as in ISLAND; only D2 (`e < g ≤ 2e`, cost `g − e`) is
//! grouped. Start from ISLAND's groups. For one label `l`, take every label-`l` member out
//! of its group. Adding one member of cost `c` to a group `G` changes the paper's count of
//! `G` by +1 or 0 (one more member, at most one more flip), and it is +1 exactly when
//! `c > τ(G) = e − P(G)`, `P(G)` the cost of the members the attacker flips in `G` (the
//! largest prefix of its sorted costs with sum ≤ e). So re-inserting the label-`l` members
//! is a bipartite matching between members and groups with nested neighbourhoods
//! (a costlier member fits every group a cheaper one fits); taking members in ascending
//! cost, each into the free group with the largest `τ` below its cost, is a maximum
//! matching. The old placement is one matching, so the count never decreases: the result
//! is never below ISLAND (property-tested). Members left unmatched (they are flipped
//! wherever they go) are put into the free groups with the largest `τ`, where their cost
//! adds the most to what the attacker must spend there, or into new groups.
//!
//! Two rounds over all labels are made. Every step is deterministic (ties by group and
//! test index), so the partition and the counts do not depend on the thread count.

use super::PointCertificate;
use super::joint::certified_in_sorted_group;
use super::one_label::{Needs, OneLabelSolver, correct_by_label_descending, largest_margin};

/// Rounds over all labels.
const ROUNDS: usize = 2;

/// No member of this label in the group.
pub const EMPTY: usize = usize::MAX;

/// The POLISH partition of D2 at `e`: each group as one test index (or [`EMPTY`]) per label.
/// Also returns the number of D1 inputs (certified individually). `by_label` is
/// [`correct_by_label_descending`].
pub fn polished_groups(
    by_label: &[Vec<(u64, usize)>],
    points: &[PointCertificate],
    e: u64,
) -> (u64, Vec<Vec<usize>>) {
    let c = by_label.len();
    let mut d1 = 0u64;
    let mut slices: Vec<&[(u64, usize)]> = Vec::with_capacity(c);
    for list in by_label {
        let d2_start = list.partition_point(|x| x.0 > 2 * e);
        let d2_end = list.partition_point(|x| x.0 > e);
        d1 += d2_start as u64;
        slices.push(&list[d2_start..d2_end]);
    }
    let longest = slices.iter().map(|s| s.len()).max().unwrap_or(0);
    // ISLAND: group j holds the j-th costliest D2 input of every label.
    let mut groups: Vec<Vec<usize>> = (0..longest)
        .map(|j| {
            slices
                .iter()
                .map(|s| s.get(j).map_or(EMPTY, |x| x.1))
                .collect()
        })
        .collect();
    polish_groups(&mut groups, points, e, ROUNDS);
    (d1, groups)
}

/// Polishes `groups` (each one test index or [`EMPTY`] per label, every member in D2 at
/// `e`) label by label, `rounds` times over all labels, and drops emptied groups. The
/// paper's count of the partition never decreases (see the module documentation).
pub fn polish_groups(
    groups: &mut Vec<Vec<usize>>,
    points: &[PointCertificate],
    e: u64,
    rounds: usize,
) {
    let c = groups.first().map_or(0, Vec::len);
    let cost = |i: usize| points[i].cost_key() - e;
    let mut costs = SortedCosts::new(groups, c, cost);
    let mut thresholds: Vec<(u64, usize)> = Vec::new();
    let mut members: Vec<(u64, usize)> = Vec::new();
    let mut taken: Vec<bool> = Vec::new();
    let mut free_below = FreeBelow::default();
    for _ in 0..rounds {
        for l in 0..c {
            if groups.iter().all(|g| g[l] == EMPTY) {
                continue;
            }
            members.clear();
            thresholds.clear();
            for (j, g) in groups.iter_mut().enumerate() {
                if g[l] != EMPTY {
                    let k = costs.take_out(j, l);
                    members.push((k, g[l]));
                    g[l] = EMPTY;
                }
                thresholds.push((e - costs.flipped_cost(j, e), j));
            }
            members.sort_unstable();
            thresholds.sort_unstable();
            taken.clear();
            taken.resize(thresholds.len(), false);
            free_below.reset(thresholds.len());
            let mut unmatched: Vec<(u64, usize)> = Vec::new();
            for &(m_cost, m) in &members {
                // The free group with the largest τ < cost (best fit).
                let below = thresholds.partition_point(|t| t.0 < m_cost);
                match free_below.take_last_before(below) {
                    Some(k) => {
                        taken[k] = true;
                        groups[thresholds[k].1][l] = m;
                        costs.insert(thresholds[k].1, l, m_cost);
                    }
                    None => unmatched.push((m_cost, m)),
                }
            }
            // Unmatched members are flipped wherever they go: into the free groups with
            // the largest τ, then into new groups.
            let mut free = (0..thresholds.len()).rev().filter(|&k| !taken[k]);
            for &(m_cost, m) in &unmatched {
                match free.next() {
                    Some(k) => {
                        groups[thresholds[k].1][l] = m;
                        costs.insert(thresholds[k].1, l, m_cost);
                    }
                    None => {
                        let mut g = vec![EMPTY; c];
                        g[l] = m;
                        groups.push(g);
                        costs.push_group(l, m_cost);
                    }
                }
            }
        }
    }
    groups.retain(|g| g.iter().any(|&i| i != EMPTY));
}

/// Each group's member costs in ascending order, kept up to date as members move, so that
/// a group's flipped cost (the attacker's greedy prefix) is one pass over at most `c`
/// values instead of a gather and a sort per group and label; and each slot's cost, so that
/// taking a member out reads no test input's certificate.
struct SortedCosts {
    /// Group `j`'s costs in `values[j·c .. j·c + len[j]]`, ascending.
    values: Vec<u64>,
    len: Vec<usize>,
    /// The cost of the member in group `j`'s slot `l` at `slot[j·c + l]` (when there is one).
    slot: Vec<u64>,
    c: usize,
}

impl SortedCosts {
    fn new(groups: &[Vec<usize>], c: usize, cost: impl Fn(usize) -> u64) -> Self {
        let mut costs = SortedCosts {
            values: Vec::with_capacity(groups.len() * c),
            len: Vec::with_capacity(groups.len()),
            slot: Vec::with_capacity(groups.len() * c),
            c,
        };
        for g in groups {
            costs
                .slot
                .extend(g.iter().map(|&i| if i == EMPTY { 0 } else { cost(i) }));
            let start = costs.values.len();
            costs
                .values
                .extend(g.iter().filter(|&&i| i != EMPTY).map(|&i| cost(i)));
            let len = costs.values.len() - start;
            costs.values[start..].sort_unstable();
            costs.values.resize(start + c, 0);
            costs.len.push(len);
        }
        costs
    }

    fn group(&self, j: usize) -> &[u64] {
        &self.values[j * self.c..j * self.c + self.len[j]]
    }

    /// Takes the member in group `j`'s slot `l` out of the sorted costs; returns its cost.
    fn take_out(&mut self, j: usize, l: usize) -> u64 {
        let k = self.slot[j * self.c + l];
        let at = self.group(j).partition_point(|&x| x < k);
        debug_assert_eq!(self.group(j).get(at), Some(&k));
        let start = j * self.c;
        self.values[start + at..start + self.len[j]].rotate_left(1);
        self.len[j] -= 1;
        k
    }

    /// Puts a member of cost `k` into group `j`'s free slot `l`.
    fn insert(&mut self, j: usize, l: usize, k: u64) {
        self.slot[j * self.c + l] = k;
        let at = self.group(j).partition_point(|&x| x < k);
        let start = j * self.c;
        self.len[j] += 1;
        self.values[start + at..start + self.len[j]].rotate_right(1);
        self.values[start + at] = k;
    }

    /// A new group with one member of cost `k`, in slot `l`.
    fn push_group(&mut self, l: usize, k: u64) {
        let start = self.values.len();
        self.values.resize(start + self.c, 0);
        self.values[start] = k;
        self.len.push(1);
        self.slot.resize(start + self.c, 0);
        self.slot[start + l] = k;
    }

    /// What the attacker spends in group `j` at `e` under the paper's bound: the largest
    /// prefix of its ascending costs with sum ≤ `e`.
    fn flipped_cost(&self, j: usize, e: u64) -> u64 {
        let mut spent = 0u64;
        for &k in self.group(j) {
            if spent + k > e {
                break;
            }
            spent += k;
        }
        spent
    }
}

/// The free positions of `0..n`, answering "the largest free position below `k`" in
/// near-constant time (a union-find that skips taken positions) where a scan down from `k`
/// would pass over every taken one: best fit fills runs of neighbouring groups.
#[derive(Default)]
struct FreeBelow {
    /// `up[k + 1]` leads towards the largest free position `≤ k` (`up[k + 1] = k + 1` when
    /// `k` is free); `up[0] = 0` stands for "none".
    up: Vec<usize>,
}

impl FreeBelow {
    /// Every position of `0..n` free.
    fn reset(&mut self, n: usize) {
        self.up.clear();
        self.up.extend(0..=n);
    }

    /// Takes and returns the largest free position `< below`, if any.
    fn take_last_before(&mut self, below: usize) -> Option<usize> {
        let mut x = below;
        while self.up[x] != x {
            self.up[x] = self.up[self.up[x]];
            x = self.up[x];
        }
        if x == 0 {
            return None;
        }
        self.up[x] = x - 1;
        Some(x - 1)
    }
}

/// Groups what is left in `lists` (each label's members, `(g, index)` in any order of
/// the caller's) as ISLAND does: the j-th member from the end of every label together.
/// CLUSTER and LP use it for the members their own groups did not take.
pub(crate) fn push_island_rest(groups: &mut Vec<Vec<usize>>, lists: &[Vec<(u64, usize)>]) {
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    for j in 0..longest {
        groups.push(
            lists
                .iter()
                .map(|list| {
                    list.len()
                        .checked_sub(j + 1)
                        .map_or(EMPTY, |pos| list[pos].1)
                })
                .collect(),
        );
    }
}

/// `certified[e]` for `e` in `0..=max_e` of the POLISH partition, under the paper's bound,
/// and, when `needs` is given, under the one-label bound (same groups). Incomplete once a
/// cancellation is requested (see [`crate::cancel`]; the caller returns the error).
pub fn polish_counts(
    points: &[PointCertificate],
    n_classes: usize,
    needs: Option<&Needs>,
    max_e: u64,
) -> (Vec<u64>, Option<Vec<u64>>) {
    use rayon::prelude::*;
    let by_label = correct_by_label_descending(points, n_classes);
    let max_margin = largest_margin(&by_label);
    let last = max_e.min(max_margin);
    let per_e: Vec<(u64, u64)> = (0..=last)
        .into_par_iter()
        .map_init(OneLabelSolver::new, |solver, e| {
            if crate::cancel::requested() {
                return (0, 0);
            }
            let (d1, groups) = polished_groups(&by_label, points, e);
            let (paper, one_label) = groups_certified(&groups, points, needs, e, solver);
            (d1 + paper, d1 + one_label.unwrap_or(0))
        })
        .collect();
    let mut paper: Vec<u64> = per_e.iter().map(|x| x.0).collect();
    paper.resize(max_e as usize + 1, 0);
    let one_label = needs.map(|_| {
        let mut v: Vec<u64> = per_e.iter().map(|x| x.1).collect();
        v.resize(max_e as usize + 1, 0);
        v
    });
    (paper, one_label)
}

/// The certified count of `groups` (each one test index or [`EMPTY`] per label) at `e`
/// under the paper's bound, and, when `needs` is given, under the one-label bound.
pub(crate) fn groups_certified(
    groups: &[Vec<usize>],
    points: &[PointCertificate],
    needs: Option<&Needs>,
    e: u64,
    solver: &mut OneLabelSolver,
) -> (u64, Option<u64>) {
    let c = groups.first().map_or(0, Vec::len);
    let (mut paper, mut one_label) = (0u64, 0u64);
    let mut keys: Vec<u64> = Vec::with_capacity(c);
    let mut rows: Vec<&[u64]> = Vec::with_capacity(c);
    for g in groups {
        keys.clear();
        keys.extend(
            g.iter()
                .filter(|&&i| i != EMPTY)
                .map(|&i| points[i].cost_key()),
        );
        keys.sort_unstable();
        let certified = certified_in_sorted_group(&keys, e);
        paper += certified as u64;
        if let Some(needs) = needs {
            rows.clear();
            rows.extend(g.iter().filter(|&&i| i != EMPTY).map(|&i| needs.row(i)));
            let flips = solver.max_flips(&rows, e, rows.len() - certified);
            one_label += (rows.len() - flips) as u64;
        }
    }
    (paper, needs.map(|_| one_label))
}
