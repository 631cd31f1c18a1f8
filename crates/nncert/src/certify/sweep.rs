//! One pass over the curve that computes POLISH, CLUSTER and SEARCH together, so that
//! SEARCH starts from the partitions POLISH and CLUSTER already built instead of building
//! them again (`docs/JOINT.md`, section "How the curves are computed").
//!
//! The curve `0..=last` is cut into SEARCH's windows: `[0, 0]`, then `(p, q]` for
//! consecutive points `p < q` of SEARCH's grid (every [`SEARCH_GRID`]-th `e`, and the last).
//! One task per window, spread over threads, computes in it
//!
//! - POLISH's partition at every `e` and its counts there;
//! - CLUSTER's partitions (both sacrifice rules) at each of CLUSTER's grid points in the
//!   window ([`GRID`]; every SEARCH grid point is one), each evaluated at the `GRID` values
//!   of `e` up to its grid point;
//! - with SEARCH: the search from the best of the POLISH and CLUSTER partitions at the
//!   window's grid point, evaluated at every `e` of the window.
//!
//! The partitions, the seed chosen and every count are exactly those of computing each
//! curve on its own (POLISH at every `e`, CLUSTER at its grid points, SEARCH rebuilding its
//! seeds); the windows' counts come from `window_eval`, which equals solving every
//! group at every `e`. Results are maxima of exact integers, so they do not depend on how
//! the windows are spread over threads.

use super::PointCertificate;
use super::cluster::{GRID, Sacrifices, cluster_groups};
use super::label_search::{ROUNDS, SEARCH_GRID, pick_seed, search_groups};
use super::one_label::{
    Needs, OneLabelSolver, certified_alone, correct_by_label_descending, largest_margin,
};
use super::polish::{groups_certified, polished_groups};
use super::window_eval::window_counts;
use crate::cancel;

// SEARCH's seeds at a grid point are the CLUSTER partitions built there, which exist only
// if every SEARCH grid point is also a CLUSTER grid point.
const _: () = assert!(
    SEARCH_GRID.is_multiple_of(GRID),
    "SEARCH_GRID must be a multiple of GRID"
);

/// The curves of one sweep, `0..=max_e` each (raw: not yet made non-increasing).
pub struct SweepCounts {
    /// CLUSTER under the paper's bound (never below POLISH).
    pub cluster: Vec<u64>,
    /// CLUSTER's partitions under the one-label bound (with needs).
    pub cluster_label: Option<Vec<u64>>,
    /// SEARCH under the one-label bound, never below `cluster_label` (when asked).
    pub search_label: Option<Vec<u64>>,
}

/// What one window contributes: `(e, paper, one-label)` maxima candidates, and SEARCH's
/// counts at every `e` of the window.
#[derive(Default)]
struct WindowResult {
    candidates: Vec<(u64, u64, u64)>,
    search: Vec<(u64, u64)>,
}

/// POLISH, CLUSTER and (when `search` is set and `needs` given) SEARCH over `0..=max_e`
/// (see the module documentation).
///
/// Once a cancellation is requested ([`crate::cancel`]) the remaining steps of every window
/// are skipped and the counts are incomplete; the caller that returns a `Result` then
/// returns [`Error::Interrupted`](crate::Error::Interrupted) instead of them.
pub fn sweep_counts(
    points: &[PointCertificate],
    n_classes: usize,
    needs: Option<&Needs>,
    max_e: u64,
    search: bool,
) -> SweepCounts {
    use rayon::prelude::*;
    let search_needs = needs.filter(|_| search);
    let by_label = correct_by_label_descending(points, n_classes);
    let last = max_e.min(largest_margin(&by_label));
    // D1 at each e: correct inputs with g > 2e, certified alone or in any group.
    let alone: Vec<u64> = (0..=last).map(|e| certified_alone(&by_label, e)).collect();
    let search_grid = grid(last, SEARCH_GRID);
    let cluster_grid = grid(last, GRID);
    let windows: Vec<(u64, u64)> = (0..search_grid.len())
        .map(|k| match k {
            0 => (0, 0),
            _ => (search_grid[k - 1] + 1, search_grid[k]),
        })
        .collect();
    let results: Vec<WindowResult> = windows
        .par_iter()
        .map_init(OneLabelSolver::new, |solver, &(from, at)| {
            let mut candidates: Vec<(u64, u64, u64)> = Vec::new();
            // Seeds for SEARCH at `at`, in the order they are compared: POLISH, then
            // CLUSTER's rules, each with its one-label count at `at`.
            let mut seeds: Vec<(u64, Vec<Vec<usize>>)> = Vec::new();
            for e in from..=at {
                if cancel::requested() {
                    return WindowResult::default();
                }
                let (d1, groups) = polished_groups(&by_label, points, e);
                let (paper, label) = groups_certified(&groups, points, needs, e, solver);
                let label = label.unwrap_or(0);
                candidates.push((e, d1 + paper, d1 + label));
                if e == at && search_needs.is_some() {
                    seeds.push((label, groups));
                }
            }
            for &point in cluster_grid.iter().filter(|&&g| from <= g && g <= at) {
                let lo = point.saturating_sub(GRID - 1);
                for strategy in Sacrifices::ALL {
                    if cancel::requested() {
                        return WindowResult::default();
                    }
                    let (_, groups) = cluster_groups(&by_label, points, point, strategy);
                    let counts = window_counts(&groups, points, needs, lo, point, solver);
                    for (k, e) in (lo..=point).enumerate() {
                        let d1 = alone[e as usize];
                        let label = counts.label.as_ref().map_or(0, |l| l[k]);
                        candidates.push((e, d1 + counts.paper[k], d1 + label));
                    }
                    if point == at && search_needs.is_some() {
                        // The seed's own count at `at`, members alone included.
                        let k = (at - lo) as usize;
                        let label = counts.label.as_ref().map_or(0, |l| l[k]);
                        seeds.push((label + counts.alone[k], groups));
                    }
                }
            }
            let mut search = Vec::new();
            if cancel::requested() {
                return WindowResult::default();
            }
            if let Some(needs) = search_needs {
                let mut groups = pick_seed(seeds);
                search_groups(&mut groups, points, needs, at, ROUNDS);
                let counts = window_counts(&groups, points, Some(needs), from, at, solver);
                let label = counts.label.unwrap_or_default();
                search.extend(
                    (from..=at)
                        .zip(label)
                        .map(|(e, l)| (e, alone[e as usize] + l)),
                );
            }
            WindowResult { candidates, search }
        })
        .collect();
    let len = max_e as usize + 1;
    let mut cluster = vec![0u64; len];
    let mut cluster_label = vec![0u64; len];
    for r in &results {
        for &(e, p, l) in &r.candidates {
            cluster[e as usize] = cluster[e as usize].max(p);
            cluster_label[e as usize] = cluster_label[e as usize].max(l);
        }
    }
    let search_label = search_needs.map(|_| {
        let mut counts = cluster_label.clone();
        for &(e, v) in results.iter().flat_map(|r| &r.search) {
            counts[e as usize] = counts[e as usize].max(v);
        }
        counts
    });
    SweepCounts {
        cluster,
        cluster_label: needs.map(|_| cluster_label),
        search_label,
    }
}

/// Every `step`-th `e` from 0, and `last`: the grid points of a curve ending at `last`.
fn grid(last: u64, step: u64) -> Vec<u64> {
    (0..=last.div_ceil(step))
        .map(|k| (k * step).min(last))
        .collect()
}
