//! The exact order of one test row's candidates from several shards.
//!
//! Each shard gives its exact k_max nearest as a set; of every candidate only a proven
//! interval `[lo, hi]` of its exact key is known. Sorted by `lo`, the candidates fall into
//! *clusters*: maximal runs whose intervals chain together (each member's `lo` is at most
//! the largest `hi` before it in the run). Every member of a cluster is exactly nearer than
//! every member of any later cluster, so the order is known up to the order inside
//! clusters. A cluster of several members needs the exact keys of all of them — but only
//! if its order matters: if it straddles a k (the k nearest take some of its members and
//! not others), or, when neighbour lists are written, if it lies within the k_max nearest
//! at all (`docs/SCALING.md`). Computing the keys of the whole cluster makes the order
//! inside it total and consistent with the intervals outside it.

use std::cmp::Ordering;
use std::ops::Range;

use crate::neighbours::exact::Exact;
use crate::neighbours::key_interval::KeyDomain;

use super::partial::Segment;

/// One candidate with its interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    /// Which segment (shard list) it came from.
    pub seg: usize,
    /// Its place in that segment (for a deterministic order where the order is free).
    pub rank: usize,
    /// Global training index.
    pub index: u32,
    /// Fast value (in the shard's domain).
    pub fast: f32,
    /// Interval of its exact key.
    pub lo: f64,
    pub hi: f64,
}

/// The intervals of every candidate of `segments`; `domains[i]` is the key domain of
/// `segments[i]`'s shard (resolved, with an error for an unknown shard, by the caller:
/// [`super::partial::Partial::segment_domains`]).
fn items(segments: &[Segment], domains: &[KeyDomain]) -> Vec<Item> {
    let mut out = Vec::with_capacity(segments.iter().map(|s| s.items.len()).sum());
    for ((seg, s), &domain) in segments.iter().enumerate().zip(domains) {
        for (rank, &(index, fast)) in s.items.iter().enumerate() {
            let (lo, hi) = domain.interval(&s.bound, fast);
            out.push(Item {
                seg,
                rank,
                index,
                fast,
                lo,
                hi,
            });
        }
    }
    out
}

/// Drops every candidate that at least `k_max` others provably precede (their intervals
/// lie wholly below its own). Such a candidate is not among the k_max nearest of the
/// union.
pub(crate) fn prune(segments: &mut [Segment], k_max: usize, domains: &[KeyDomain]) {
    if segments.len() < 2 {
        return;
    }
    let all = items(segments, domains);
    let sorted_his = |it: &mut dyn Iterator<Item = f64>| {
        let mut v: Vec<f64> = it.collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let all_his = sorted_his(&mut all.iter().map(|i| i.hi));
    let below = |his: &[f64], lo: f64| his.partition_point(|&h| h < lo);
    let mut keep = all.iter().map(|i| below(&all_his, i.lo) < k_max);
    for s in segments.iter_mut() {
        s.items.retain(|_| keep.next().unwrap_or(true));
    }
}

/// What decides the order of one list.
pub(crate) struct Needs<'a> {
    /// The k whose nearest must be exact as a set (ascending; each ≤ `limit`).
    pub boundaries: &'a [usize],
    /// Whether the full order up to `limit` matters (neighbour lists).
    pub full_order: bool,
    /// How many of the nearest matter.
    pub limit: usize,
}

/// The candidates sorted by `lo` and the clusters among them that need exact keys.
pub(crate) fn clusters(
    segments: &[Segment],
    domains: &[KeyDomain],
    needs: &Needs<'_>,
) -> (Vec<Item>, Vec<(Range<usize>, bool)>) {
    let mut all = items(segments, domains);
    all.sort_by(|a, b| {
        a.lo.total_cmp(&b.lo)
            .then(a.seg.cmp(&b.seg))
            .then(a.rank.cmp(&b.rank))
    });
    let mut out = Vec::new();
    let mut start = 0;
    while start < all.len() && start < needs.limit {
        let mut end = start + 1;
        let mut reach = all[start].hi;
        // A NaN (only from a hostile file) joins the cluster: never a false separation.
        while end < all.len() && all[end].lo.partial_cmp(&reach) != Some(Ordering::Greater) {
            reach = reach.max(all[end].hi);
            end += 1;
        }
        let matters = if needs.full_order {
            true
        } else {
            needs.boundaries.iter().any(|&k| start < k && k < end)
        };
        out.push((start..end, end - start > 1 && matters));
        start = end;
    }
    (all, out)
}

/// The first `limit` candidates in exact order. `key(index)` gives the exact key of the
/// members of clusters that need one (`None`: missing, an error of the caller's),
/// `position(index)` the tie-break position.
pub(crate) fn ordered(
    segments: &[Segment],
    domains: &[KeyDomain],
    needs: &Needs<'_>,
    key: &dyn Fn(u32) -> Option<Exact>,
    position: &dyn Fn(u32) -> u32,
) -> Result<Vec<Item>, u32> {
    let (mut all, clusters) = clusters(segments, domains, needs);
    let mut end_all = 0;
    for (range, exact) in clusters {
        end_all = range.end;
        let members = &mut all[range];
        if exact {
            let mut keyed = Vec::with_capacity(members.len());
            for m in members.iter() {
                keyed.push((key(m.index).ok_or(m.index)?, position(m.index), *m));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            for (slot, (_, _, m)) in members.iter_mut().zip(keyed) {
                *slot = m;
            }
        } else {
            members.sort_by(|a, b| match a.seg.cmp(&b.seg) {
                Ordering::Equal => a.rank.cmp(&b.rank),
                o => o,
            });
        }
    }
    all.truncate(end_all.min(needs.limit));
    Ok(all)
}
