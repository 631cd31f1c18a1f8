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

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
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
    /// Upper end of the interval of its exact key (the lower end orders the candidates,
    /// and is kept in [`ByLo`]'s heap only).
    pub hi: f64,
}

/// The candidates of `segments` in the order (lo, segment, rank), each interval computed
/// once: a k-way merge of the segments, each already in that order (listed by fast value,
/// and `lo` is non-decreasing in the fast value — [`crate::neighbours::exact::Bound::lo`];
/// files with bounds that would break this are refused on reading). `domains[i]` is the
/// key domain of `segments[i]`'s shard (resolved, with an error for an unknown shard, by
/// the caller: [`super::partial::Partial::segment_domains`]).
struct ByLo<'a> {
    segments: &'a [Segment],
    domains: &'a [KeyDomain],
    /// The next candidate of each segment, with its interval.
    heads: Vec<Option<Item>>,
    /// The `lo` of every head (`None`: segment exhausted), scanned for the smallest when
    /// there are few segments ([`LINEAR_SCAN`]; no heap to maintain)...
    lows: Vec<Option<Lo>>,
    /// ...else (lo, segment) of every head in a heap, smallest first.
    heap: BinaryHeap<Reverse<(Lo, usize)>>,
    /// Whether the heap is used.
    use_heap: bool,
}

/// Up to this many segments (training shards), the next candidate is found by scanning
/// the heads: a few comparisons, cheaper than a heap's pushes and pops. Both give the same
/// order, (lo, segment).
const LINEAR_SCAN: usize = 8;

/// A `lo` ordered by [`f64::total_cmp`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Lo(f64);

impl Eq for Lo {}

impl PartialOrd for Lo {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Lo {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl<'a> ByLo<'a> {
    fn new(segments: &'a [Segment], domains: &'a [KeyDomain]) -> ByLo<'a> {
        ByLo::with_heap(segments, domains, segments.len() > LINEAR_SCAN)
    }

    /// [`ByLo::new`] with the way of finding the next head chosen by the caller.
    fn with_heap(segments: &'a [Segment], domains: &'a [KeyDomain], use_heap: bool) -> ByLo<'a> {
        let mut by_lo = ByLo {
            segments,
            domains,
            heads: vec![None; segments.len()],
            lows: vec![None; segments.len()],
            heap: BinaryHeap::with_capacity(if use_heap { segments.len() } else { 0 }),
            use_heap,
        };
        for seg in 0..segments.len() {
            by_lo.load(seg, 0);
        }
        by_lo
    }

    /// Makes candidate `rank` of segment `seg` its head (if there is one).
    fn load(&mut self, seg: usize, rank: usize) {
        let s = &self.segments[seg];
        if let Some(&(index, fast)) = s.items.get(rank) {
            let (lo, hi) = self.domains[seg].interval(&s.bound, fast);
            self.heads[seg] = Some(Item {
                seg,
                rank,
                index,
                fast,
                hi,
            });
            if self.use_heap {
                self.heap.push(Reverse((Lo(lo), seg)));
            } else {
                self.lows[seg] = Some(Lo(lo));
            }
        }
    }

    /// The (lo, segment) of the next candidate: the smallest `lo`, ties to the first
    /// segment.
    fn peek(&self) -> Option<(Lo, usize)> {
        if self.use_heap {
            return self.heap.peek().map(|&Reverse(head)| head);
        }
        let mut best: Option<(Lo, usize)> = None;
        for (seg, lo) in self.lows.iter().enumerate() {
            if let Some(lo) = *lo
                && best.is_none_or(|(b, _)| lo < b)
            {
                best = Some((lo, seg));
            }
        }
        best
    }

    /// The `lo` of the next candidate.
    fn peek_lo(&self) -> Option<f64> {
        self.peek().map(|(lo, _)| lo.0)
    }
}

impl Iterator for ByLo<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let seg = if self.use_heap {
            self.heap.pop()?.0.1
        } else {
            let (_, seg) = self.peek()?;
            self.lows[seg] = None;
            seg
        };
        let item = self.heads[seg].take()?;
        self.load(seg, item.rank + 1);
        Some(item)
    }
}

/// How many candidates of `segments` provably precede a key of at least `lo`: those whose
/// interval lies wholly below it (`hi < lo`). A segment lists its candidates by fast value
/// and `hi` is non-decreasing in the fast value, so each segment's count is one binary
/// search.
fn preceding(segments: &[Segment], domains: &[KeyDomain], lo: f64) -> usize {
    segments
        .iter()
        .zip(domains)
        .map(|(s, &domain)| {
            s.items
                .partition_point(|&(_, fast)| domain.hi(&s.bound, fast) < lo)
        })
        .sum()
}

/// Drops every candidate that at least `k_max` others provably precede (their intervals
/// lie wholly below its own). Such a candidate is not among the k_max nearest of the
/// union.
///
/// Within a segment (listed by fast value) `lo` is non-decreasing, so the candidates kept
/// are a prefix of it: a binary search over the segment finds its end, each step counting
/// the candidates below with [`preceding`]. `O(N² log² K)` per row for `N` segments of at
/// most `K` candidates, with no interval stored and nothing sorted.
pub(crate) fn prune(segments: &mut [Segment], k_max: usize, domains: &[KeyDomain]) {
    if segments.len() < 2 {
        return;
    }
    let keep: Vec<usize> = segments
        .iter()
        .zip(domains)
        .map(|(s, &domain)| {
            s.items.partition_point(|&(_, fast)| {
                preceding(segments, domains, domain.lo(&s.bound, fast)) < k_max
            })
        })
        .collect();
    for (s, n) in segments.iter_mut().zip(keep) {
        s.items.truncate(n);
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

/// The candidates sorted by `lo` and the clusters among them that need exact keys: every
/// cluster that starts before `needs.limit`, and the candidates up to the end of the last
/// one (later candidates are never needed, so never produced).
pub(crate) fn clusters(
    segments: &[Segment],
    domains: &[KeyDomain],
    needs: &Needs<'_>,
) -> (Vec<Item>, Vec<(Range<usize>, bool)>) {
    let mut by_lo = ByLo::new(segments, domains);
    let mut all = Vec::with_capacity(
        needs
            .limit
            .min(segments.iter().map(|s| s.items.len()).sum()),
    );
    let mut out = Vec::new();
    while all.len() < needs.limit {
        let Some(first) = by_lo.next() else {
            break;
        };
        let start = all.len();
        let mut reach = first.hi;
        all.push(first);
        // A NaN (only from a hostile file) joins the cluster: never a false separation.
        while by_lo
            .peek_lo()
            .is_some_and(|lo| lo.partial_cmp(&reach) != Some(Ordering::Greater))
        {
            let Some(next) = by_lo.next() else {
                break;
            };
            reach = reach.max(next.hi);
            all.push(next);
        }
        let end = all.len();
        let matters = if needs.full_order {
            true
        } else {
            needs.boundaries.iter().any(|&k| start < k && k < end)
        };
        out.push((start..end, end - start > 1 && matters));
    }
    (all, out)
}

/// Where a training row stands among rows of equal exact key: smaller first. The larger
/// rank wins, then the smaller global index (METHOD §2), so this is (rank reversed,
/// index): the order of the single run's tie-break positions, without computing them.
pub(crate) type TieKey = (std::cmp::Reverse<crate::rank::Rank>, u32);

/// The first `limit` candidates in exact order. `key(index)` gives the exact key of the
/// members of clusters that need one (`None`: missing, an error of the caller's),
/// `tie(index)` the tie-break order of a training row (smaller first: its rank
/// reversed, then its index — the order of the single run's positions, METHOD §2).
pub(crate) fn ordered(
    segments: &[Segment],
    domains: &[KeyDomain],
    needs: &Needs<'_>,
    key: &dyn Fn(u32) -> Option<Exact>,
    tie: &dyn Fn(u32) -> TieKey,
) -> Result<Vec<Item>, u32> {
    let (mut all, clusters) = clusters(segments, domains, needs);
    let mut end_all = 0;
    for (range, exact) in clusters {
        end_all = range.end;
        let members = &mut all[range];
        if exact {
            let mut keyed = Vec::with_capacity(members.len());
            for m in members.iter() {
                keyed.push((key(m.index).ok_or(m.index)?, tie(m.index), *m));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbours::exact::Bound;
    use crate::neighbours::kernel::Metric;
    use crate::rng::SplitMix64;

    /// The scan of the heads and the heap give the same candidates in the same order
    /// (lo, segment, rank), with tied and distinct values, few and many segments.
    #[test]
    fn scanning_the_heads_orders_as_the_heap() {
        let mut rng = SplitMix64::new(0x15);
        for case in 0..200 {
            let n_seg = 1 + rng.below(12) as usize;
            let segments: Vec<Segment> = (0..n_seg)
                .map(|s| {
                    let mut values: Vec<f32> = (0..rng.below(40))
                        .map(|_| rng.below(if case % 2 == 0 { 8 } else { 1000 }) as f32 * 0.5)
                        .collect();
                    values.sort_by(f32::total_cmp);
                    Segment {
                        shard: s + 1,
                        bound: if rng.below(2) == 0 {
                            Bound::for_kernels(Metric::L1, 16)
                        } else {
                            Bound::for_kernels(Metric::L1, 4096)
                        },
                        items: values
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (i as u32, v))
                            .collect(),
                    }
                })
                .collect();
            let domains = vec![KeyDomain::Key; n_seg];
            let order = |heap: bool| -> Vec<(usize, usize)> {
                ByLo::with_heap(&segments, &domains, heap)
                    .map(|it| (it.seg, it.rank))
                    .collect()
            };
            let total: usize = segments.iter().map(|s| s.items.len()).sum();
            let scanned = order(false);
            assert_eq!(scanned.len(), total, "case {case}");
            assert_eq!(scanned, order(true), "case {case}, {n_seg} segments");
        }
    }
}
