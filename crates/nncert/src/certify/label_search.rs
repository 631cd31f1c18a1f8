//! SEARCH: a grouping built for the one-label bound (derivation in `docs/JOINT.md`,
//! section "A grouping for the one-label bound: SEARCH").
//!
//! POLISH, CLUSTER and LP build their groups for the paper's bound and are only *evaluated*
//! under the one-label bound ([`super::one_label`]). The one-label bound rewards another
//! structure: an inserted example carries one label, so in a group of D2 members
//! (`e < g ≤ 2e`, every need above `e`) the attacker's best move is to put all `e`
//! insertions on one label `l*`; then only the members whose need against `l*` is at most
//! `2e` can be flipped at all. Members attacked towards *different* labels protect each
//! other, which the paper's bound cannot see.
//!
//! At a grid point `e` ([`SEARCH_GRID`]) the search starts from the best, by one-label
//! count, of POLISH's and CLUSTER's partitions at `e`, and improves it label by label: take
//! every member of label `l` out of its group; adding one member to a group changes the
//! group's one-label count by `+1` or `0` (one member more, at most one flip more), so
//! re-inserting them is a bipartite matching between label-`l` members and groups, with an
//! edge where the count rises. For a group of D2 members the edge test is exact and cheap:
//! with `T_x` and `τ_x` the attacker's flips and leftover removals when all insertions go
//! to label `x`, the count rises iff the new member's cost under `x` exceeds `τ_x` for
//! every `x` that reaches the group's maximum `T`. Members whose old group is still an edge
//! keep it (so the count never decreases); the others, smallest margin first, take the
//! free fitting group with the largest `τ` (best fit, as POLISH does). A maximum matching
//! by augmenting paths finds a little more (MNIST r = 4: +0.1 to +0.5 point) but costs
//! about eight times the CPU, so it is not used. Members left unmatched are flipped
//! wherever they go; they fill the free groups, then groups of their own.
//!
//! Whatever the search does, the number reported is the exact one-label count of the
//! partition it built (recomputed by the solver), at each `e` it is reported for; below
//! the grid point the same partition is evaluated again (see [`SEARCH_GRID`]). At every
//! `e` the curve is the larger of that and `cluster-label`, so it is never below it. Every
//! step is deterministic (ties by position), so the result does not depend on the thread
//! count.

use super::PointCertificate;
use super::cluster::{Sacrifices, cluster_groups};
use super::one_label::{Needs, OneLabelSolver, correct_by_label_descending};
use super::polish::{EMPTY, groups_certified, polished_groups};

/// Rounds of the exact label-by-label matching over all labels.
pub(crate) const ROUNDS: usize = 2;

/// The search runs at every `SEARCH_GRID`-th `e` (and the last); its partition is also
/// evaluated, exactly, at the `SEARCH_GRID − 1` values of `e` below. Any partition is valid
/// at any `e`, so this only changes which partitions are tried where. Below its grid point
/// every member of the partition still has `g > e`, so the solver stays on its fast path.
pub const SEARCH_GRID: u64 = 8;

/// The attacker's position in one group when every insertion goes to one label `x`
/// (the fast path of the one-label solver: every need of every member exceeds `e`).
struct GroupState {
    /// Per label `x`: flips `T_x` and leftover removals `τ_x = e − P_x`.
    per_label: Vec<(usize, u64)>,
    /// `max_x T_x`.
    flips: usize,
}

/// A member's removal cost when all `e` insertions go to label `x` (all needs `> e`).
#[inline]
fn cost_under(row: &[u64], margin: u64, x: usize, e: u64) -> u64 {
    margin.min(row[x].saturating_sub(e))
}

impl GroupState {
    fn new(members: &[usize], points: &[PointCertificate], needs: &Needs, e: u64) -> Self {
        let c = needs.n_classes();
        let mut per_label = Vec::with_capacity(c);
        let mut costs: Vec<u64> = Vec::with_capacity(members.len());
        let mut flips = 0;
        for x in 0..c {
            costs.clear();
            costs.extend(
                members
                    .iter()
                    .map(|&i| cost_under(needs.row(i), points[i].margin, x, e)),
            );
            costs.sort_unstable();
            let (mut spent, mut t) = (0u64, 0usize);
            for &k in &costs {
                if spent + k > e {
                    break;
                }
                spent += k;
                t += 1;
            }
            flips = flips.max(t);
            per_label.push((t, e - spent));
        }
        GroupState { per_label, flips }
    }

    /// The largest `τ_x` over the labels `x` that reach the maximum: a member fits only if
    /// its margin is above it.
    fn tau_max(&self) -> u64 {
        self.per_label
            .iter()
            .filter(|(t, _)| *t == self.flips)
            .map(|x| x.1)
            .max()
            .unwrap_or(0)
    }

    /// Whether adding a member with this need row raises the group's certified count.
    fn certifies_one_more(&self, row: &[u64], margin: u64, e: u64) -> bool {
        self.per_label
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| *t == self.flips)
            .all(|(x, &(_, tau))| cost_under(row, margin, x, e) > tau)
    }
}

/// Improves `groups` (one test index or [`EMPTY`] per label; every member in D2 at `e`)
/// for the one-label count at `e`, label by label (see the module documentation). The
/// one-label count of the partition never decreases.
pub fn search_groups(
    groups: &mut Vec<Vec<usize>>,
    points: &[PointCertificate],
    needs: &Needs,
    e: u64,
    rounds: usize,
) {
    // One slot per list of the groups' labels (not per class: see `label_lists`).
    let c = groups.first().map_or(0, Vec::len);
    let mut members: Vec<usize> = Vec::new();
    let mut old: Vec<usize> = Vec::new();
    for _ in 0..rounds {
        for l in 0..c {
            // Take label l out; remember each member's old group.
            members.clear();
            old.clear();
            for (j, g) in groups.iter_mut().enumerate() {
                if g[l] != EMPTY {
                    members.push(g[l]);
                    old.push(j);
                    g[l] = EMPTY;
                }
            }
            if members.is_empty() {
                continue;
            }
            let targets: Vec<usize> = (0..groups.len())
                .filter(|&j| groups[j].iter().any(|&i| i != EMPTY))
                .collect();
            let states: Vec<GroupState> = targets
                .iter()
                .map(|&j| {
                    let present: Vec<usize> =
                        groups[j].iter().copied().filter(|&i| i != EMPTY).collect();
                    GroupState::new(&present, points, needs, e)
                })
                .collect();
            let matched = best_fit(&members, &old, &targets, &states, points, needs, e);
            // The members left over are flipped wherever they go: into the free targets
            // (the last first), then into groups of their own.
            let mut taken = vec![false; targets.len()];
            matched.iter().flatten().for_each(|&t| taken[t] = true);
            let mut free = (0..targets.len()).rev().filter(|&t| !taken[t]);
            for (k, &m) in members.iter().enumerate() {
                match matched[k].or_else(|| free.next()) {
                    Some(t) => groups[targets[t]][l] = m,
                    None => {
                        let mut g = vec![EMPTY; c];
                        g[l] = m;
                        groups.push(g);
                    }
                }
            }
            groups.retain(|g| g.iter().any(|&i| i != EMPTY));
        }
    }
}

/// Places members into targets where they raise the count: first every member whose old
/// group is still a fit keeps it (so the count never decreases), then the others, the
/// smallest margin first, each into the free fitting target with the largest `τ` below its
/// margin (best fit). Returns each member's target.
fn best_fit(
    members: &[usize],
    old: &[usize],
    targets: &[usize],
    states: &[GroupState],
    points: &[PointCertificate],
    needs: &Needs,
    e: u64,
) -> Vec<Option<usize>> {
    let mut matched: Vec<Option<usize>> = vec![None; members.len()];
    let mut taken = vec![false; targets.len()];
    for (k, &m) in members.iter().enumerate() {
        if let Ok(t) = targets.binary_search(&old[k])
            && states[t].certifies_one_more(needs.row(m), points[m].margin, e)
        {
            matched[k] = Some(t);
            taken[t] = true;
        }
    }
    // Targets by the largest τ of their maximising labels: a member of margin g can only
    // fit targets below g.
    let mut order: Vec<(u64, usize)> = states
        .iter()
        .enumerate()
        .map(|(t, s)| (s.tau_max(), t))
        .collect();
    order.sort_unstable();
    let mut pending: Vec<(u64, usize)> = members
        .iter()
        .enumerate()
        .filter(|(k, _)| matched[*k].is_none())
        .map(|(k, &m)| (points[m].margin, k))
        .collect();
    pending.sort_unstable();
    for (g, k) in pending {
        let m = members[k];
        let below = order.partition_point(|x| x.0 < g);
        if let Some(&(_, t)) = order[..below].iter().rev().find(|&&(_, t)| {
            !taken[t] && states[t].certifies_one_more(needs.row(m), points[m].margin, e)
        }) {
            matched[k] = Some(t);
            taken[t] = true;
        }
    }
    matched
}

/// SEARCH's partition of D2 at `e`: each group as one test index (or [`EMPTY`]) per label.
/// The `search_label` curve of [`sweep_counts`](super::sweep::sweep_counts) at a grid point
/// `e` is at least its exact one-label count (plus D1).
pub fn search_partition(points: &[PointCertificate], needs: &Needs, e: u64) -> Vec<Vec<usize>> {
    let by_label = correct_by_label_descending(points, needs.n_classes());
    search_partition_from(&by_label, points, needs, e, &mut OneLabelSolver::new())
}

/// The best seed at `e` ([`best_seed`]) improved by [`search_groups`]; the sweep gets the
/// same partition from the seeds it has already built.
pub(crate) fn search_partition_from(
    by_label: &[Vec<(u64, usize)>],
    points: &[PointCertificate],
    needs: &Needs,
    e: u64,
    solver: &mut OneLabelSolver,
) -> Vec<Vec<usize>> {
    let mut groups = best_seed(by_label, points, needs, e, solver);
    search_groups(&mut groups, points, needs, e, ROUNDS);
    groups
}

/// The partition, among POLISH's and CLUSTER's (both sacrifice rules) at `e`, with the
/// largest one-label count (the first on a tie; see [`pick_seed`]).
fn best_seed(
    by_label: &[Vec<(u64, usize)>],
    points: &[PointCertificate],
    needs: &Needs,
    e: u64,
    solver: &mut OneLabelSolver,
) -> Vec<Vec<usize>> {
    let seeds = std::iter::once(polished_groups(by_label, points, e).1).chain(
        Sacrifices::ALL
            .iter()
            .map(|&s| cluster_groups(by_label, points, e, s).1),
    );
    pick_seed(seeds.map(|groups| {
        let (_, label) = groups_certified(&groups, points, Some(needs), e, solver);
        (label.unwrap_or(0), groups)
    }))
}

/// SEARCH's seed among `(one-label count, partition)` pairs, in the order POLISH, CLUSTER
/// *few*, CLUSTER *cheap*: the largest count, the first on a tie.
pub(crate) fn pick_seed(
    seeds: impl IntoIterator<Item = (u64, Vec<Vec<usize>>)>,
) -> Vec<Vec<usize>> {
    let mut best: Option<(u64, Vec<Vec<usize>>)> = None;
    for (label, groups) in seeds {
        if best.as_ref().is_none_or(|(b, _)| label > *b) {
            best = Some((label, groups));
        }
    }
    best.map(|b| b.1).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::certify_points;
    use crate::certify::one_label::group_certified_one_label;
    use crate::rng::SplitMix64;
    use crate::votes::{TieRule, Votes};

    /// The edge test of the search against the exact solver: on random groups of D2
    /// members, adding a member raises the one-label count exactly when
    /// `certifies_one_more` says so.
    #[test]
    fn the_edge_test_is_exact_on_d2_groups() {
        let mut rng = SplitMix64::new(0x5ea7_c4ed);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..3000 {
            let c = 2 + rng.below(5) as usize;
            let n = 3 * c;
            let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
            let counts: Vec<u32> = (0..n * c)
                .map(|k| {
                    rng.below(8) as u32
                        + if labels[k / c] as usize == k % c {
                            4 + rng.below(16) as u32
                        } else {
                            0
                        }
                })
                .collect();
            let tie = TieRule::default();
            let votes = Votes::new(counts, c, labels).unwrap();
            let points = certify_points(&votes, tie);
            let needs = Needs::new(&votes, tie);
            let e = 1 + rng.below(10);
            // One D2 member per label at most, the last label's candidate apart.
            let mut group: Vec<usize> = Vec::new();
            let mut candidate = None;
            for l in 0..c as u32 {
                let d2: Vec<usize> = (0..n)
                    .filter(|&i| {
                        let p = &points[i];
                        p.correct()
                            && p.prediction.predicted == l
                            && p.margin > e
                            && p.margin <= 2 * e
                    })
                    .collect();
                if d2.is_empty() {
                    continue;
                }
                let pick = d2[rng.below(d2.len() as u64) as usize];
                if candidate.is_none() && rng.below(3) == 0 {
                    candidate = Some(pick);
                } else if rng.below(4) != 0 {
                    group.push(pick);
                }
            }
            let (Some(m), false) = (candidate, group.is_empty()) else {
                continue;
            };
            let mut solver = OneLabelSolver::new();
            let before = group_certified_one_label(&group, &points, &needs, e, &mut solver);
            let state = GroupState::new(&group, &points, &needs, e);
            group.push(m);
            let after = group_certified_one_label(&group, &points, &needs, e, &mut solver);
            let predicted = state.certifies_one_more(needs.row(m), points[m].margin, e);
            assert_eq!(
                after == before + 1,
                predicted,
                "group {group:?} at e = {e}: {before} -> {after}"
            );
            if predicted { yes += 1 } else { no += 1 }
        }
        assert!(yes > 100 && no > 100, "{yes} raises, {no} not");
    }
}
