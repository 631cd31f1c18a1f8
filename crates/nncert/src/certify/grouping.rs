//! Partitions of the test set for the dataset bound (METHOD §4), and the joint curves they
//! give. Any partition into groups with pairwise different predicted labels is valid, and
//! may be chosen anew for every `e`.

use super::PointCertificate;
use super::joint::certified_in_sorted_group;
use super::label_lists::{correct_by_label_descending, lists_by_predicted_label};
/// Re-exported where RD has always found it; the generator lives in [`crate::rng`].
pub use crate::rng::SplitMix64;

/// ISLAND counts: `certified[e]` for `e` in `0..=max_e`.
///
/// For each `e`: D0 (cost 0) is never certified; D1 (correct and `2e < g`, i.e. `e ≤ e*`)
/// is certified one by one; D2 (correct and `e < g ≤ 2e`) is grouped by taking, for every
/// label in order, the remaining D2 input predicted that label with the largest cost
/// (ties: lower test index), until D2 is empty.
///
/// The cost `g − e` orders D2 the same way for every `e`, so each label's correct inputs
/// are sorted once by `g` descending; D2 of a label is then a contiguous slice of that
/// list, and ISLAND group `j` holds the `j`-th element of every label's slice. Total work
/// is the sum over `e` of `|D2(e)|`, with no sort of the test set per `e`.
pub fn island_counts(points: &[PointCertificate], n_classes: usize, max_e: u64) -> Vec<u64> {
    let by_label = correct_by_label_descending(points, n_classes);
    let max_margin = by_label
        .iter()
        .filter_map(|list| list.first().map(|x| x.0))
        .max()
        .unwrap_or(0);

    let mut counts = vec![0u64; max_e as usize + 1];
    let mut group_keys: Vec<u64> = Vec::with_capacity(by_label.len());
    let mut ranges: Vec<(usize, usize)> = vec![(0, 0); by_label.len()];
    // At e ≥ max g every cost is 0: nothing is certified, the counts stay 0.
    for e in 0..=max_e.min(max_margin) {
        let mut certified = 0u64;
        let mut longest = 0usize;
        for (list, range) in by_label.iter().zip(ranges.iter_mut()) {
            let d2_start = list.partition_point(|x| x.0 > 2 * e); // D1: g > 2e
            let d2_end = list.partition_point(|x| x.0 > e); // D2: e < g ≤ 2e
            certified += d2_start as u64;
            *range = (d2_start, d2_end);
            longest = longest.max(d2_end - d2_start);
        }
        for j in 0..longest {
            group_keys.clear();
            for (list, &(start, end)) in by_label.iter().zip(ranges.iter()) {
                if start + j < end {
                    group_keys.push(list[start + j].0);
                }
            }
            group_keys.sort_unstable();
            certified += certified_in_sorted_group(&group_keys, e) as u64;
        }
        counts[e as usize] = certified;
    }
    counts
}

/// A fixed partition of the test set into groups with pairwise different predicted labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Each group's member test indices.
    pub groups: Vec<Vec<usize>>,
}

impl Partition {
    /// RD, random division (METHOD §4): the test inputs of each predicted label, in index
    /// order, are shuffled with [`SplitMix64`] seeded by `seed` (labels in increasing order
    /// share one stream, Fisher–Yates from the last position down); group `j` takes the
    /// `j`-th input of every label that still has one.
    ///
    /// The generator and the shuffle are written out here, not taken from a crate, so that a
    /// seed gives the same partition on every machine and every nncert version.
    pub fn random_division(points: &[PointCertificate], n_classes: usize, seed: u64) -> Self {
        debug_assert!(
            points
                .iter()
                .all(|p| (p.prediction.predicted as usize) < n_classes)
        );
        // Labels predicted by no input draw no random number, so leaving them out keeps
        // every partition as it was.
        let mut by_label = lists_by_predicted_label(points, |i, _| Some(i));
        let mut rng = SplitMix64::new(seed);
        for list in &mut by_label {
            for pos in (1..list.len()).rev() {
                let other = rng.below(pos as u64 + 1) as usize;
                list.swap(pos, other);
            }
        }
        let longest = by_label.iter().map(Vec::len).max().unwrap_or(0);
        let groups = (0..longest)
            .map(|j| by_label.iter().filter_map(|l| l.get(j).copied()).collect())
            .collect();
        Partition { groups }
    }

    /// `certified[e]` for `e` in `0..=max_e` under this fixed partition.
    pub fn counts(&self, points: &[PointCertificate], max_e: u64) -> Vec<u64> {
        let sorted_groups: Vec<Vec<u64>> = self
            .groups
            .iter()
            .map(|g| {
                let mut keys: Vec<u64> = g.iter().map(|&i| points[i].cost_key()).collect();
                keys.sort_unstable();
                keys
            })
            .collect();
        let max_key = sorted_groups
            .iter()
            .filter_map(|k| k.last().copied())
            .max()
            .unwrap_or(0);
        let mut counts = vec![0u64; max_e as usize + 1];
        for e in 0..=max_e.min(max_key) {
            counts[e as usize] = sorted_groups
                .iter()
                .map(|keys| certified_in_sorted_group(keys, e) as u64)
                .sum();
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::votes::{Prediction, TieRule};

    /// Test inputs predicted `labels[i]` with margin `2 + i % 5`, correct for every
    /// third one wrong.
    fn points(labels: &[u32]) -> Vec<PointCertificate> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let s_b = 3;
                let prediction = Prediction {
                    predicted: a,
                    runner_up: a.wrapping_add(1),
                    votes_predicted: s_b + 2 + (i % 5) as u32,
                    votes_runner_up: s_b,
                };
                let label = if i % 3 == 2 { a.wrapping_add(1) } else { a };
                PointCertificate::new(label, prediction, TieRule::Larger)
            })
            .collect()
    }

    /// Audit finding 7: the per-label tables were sized by the class count (from a votes
    /// file's header), so 2³⁶ classes asked for terabytes; now they are sized by the test
    /// set, and spreading the same labels over a huge label space changes nothing.
    #[test]
    fn tables_are_sized_by_the_labels_predicted_not_the_class_count() {
        let small: Vec<u32> = (0..40).map(|i| [0, 1, 2, 1, 0, 2, 2][i % 7]).collect();
        let spread: Vec<u32> = small.iter().map(|&a| a * 1_000_003 + 7).collect();
        let (a, b) = (points(&small), points(&spread));
        let huge = 1usize << 36;
        assert_eq!(island_counts(&a, 3, 12), island_counts(&b, huge, 12));
        for seed in [0, 1, 99] {
            let pa = Partition::random_division(&a, 3, seed);
            let pb = Partition::random_division(&b, huge, seed);
            assert_eq!(pa, pb, "seed {seed}");
            assert_eq!(pa.counts(&a, 12), pb.counts(&b, 12));
        }
    }

    /// The partition keeps its documented construction: one shuffled list per label in
    /// increasing label order, group `j` takes every label's `j`-th input.
    #[test]
    fn random_division_groups_have_distinct_labels_and_cover_the_test_set() {
        let labels: Vec<u32> = (0..25).map(|i| (i * 7 % 4) as u32).collect();
        let p = points(&labels);
        let part = Partition::random_division(&p, 4, 5);
        let mut all: Vec<usize> = part.groups.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..25).collect::<Vec<_>>());
        for g in &part.groups {
            let mut l: Vec<u32> = g.iter().map(|&i| labels[i]).collect();
            assert!(l.windows(2).all(|w| w[0] < w[1]), "{l:?}");
            l.dedup();
            assert_eq!(l.len(), g.len());
        }
    }
}
