//! The test inputs of each predicted label, as the joint groupings read them: one list per
//! label that some kept input predicts, labels in increasing order.
//!
//! A votes file states its class count in its header, and nothing bounds it by the rest of
//! the file: one row of 10⁷ classes is 10 MB of uint8. A table of one list per class would
//! cost 24 bytes per class before any input is placed (240 MB there; audit finding 7), so
//! the lists are sized by the test set instead. A grouping only ever needs a label's
//! *position* among these lists ("slot"): groups hold one member per slot, and ties go to
//! the smaller slot, which is the smaller label, as before. No caller reads a slot as a
//! class id (a label's needs are read from the member's own row of [`super::one_label::Needs`]),
//! so leaving out the labels no kept input predicts changes no partition and no count.

use super::PointCertificate;

/// `keep`'s value for every test input it keeps, in one list per predicted label: labels in
/// increasing order, test indices in increasing order within a label, and only the labels
/// some kept input predicts (so at most one list per kept input, whatever the class count).
pub(crate) fn lists_by_predicted_label<T>(
    points: &[PointCertificate],
    keep: impl Fn(usize, &PointCertificate) -> Option<T>,
) -> Vec<Vec<T>> {
    // The labels first (4 bytes per kept input), then each kept value straight into its
    // list: no table per class, and no second copy of the values.
    let kept = |(i, p): &(usize, &PointCertificate)| keep(*i, p).is_some();
    let mut labels: Vec<u32> = points
        .iter()
        .enumerate()
        .filter(kept)
        .map(|(_, p)| p.prediction.predicted)
        .collect();
    labels.sort_unstable();
    labels.dedup();
    let mut lists: Vec<Vec<T>> = std::iter::repeat_with(Vec::new)
        .take(labels.len())
        .collect();
    for (i, p) in points.iter().enumerate() {
        if let Some(t) = keep(i, p)
            && let Ok(slot) = labels.binary_search(&p.prediction.predicted)
        {
            lists[slot].push(t);
        }
    }
    lists
}

/// The correct test inputs of each predicted label as `(g, index)`, `g` descending then
/// index ascending (the order ISLAND picks them in): one list per label that some correct
/// input predicts, labels in increasing order. The lists are not indexed by class: a
/// grouping uses a list's position only to keep one member per label in a group and to
/// break ties towards the smaller label, and an empty list would change neither, so a
/// votes header's class count (10⁷ in one 10 MB row) costs nothing here.
///
/// `n_classes` is the votes' class count; every predicted label is below it (checked in
/// debug builds). It sizes nothing.
pub fn correct_by_label_descending(
    points: &[PointCertificate],
    n_classes: usize,
) -> Vec<Vec<(u64, usize)>> {
    debug_assert!(
        points
            .iter()
            .all(|p| (p.prediction.predicted as usize) < n_classes),
        "a predicted label at or above the class count"
    );
    let mut lists = lists_by_predicted_label(points, |i, p| p.correct().then_some((p.margin, i)));
    for list in &mut lists {
        list.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::certify_points;
    use crate::certify::cluster::{Sacrifices, cluster_groups};
    use crate::certify::grouping::{Partition, island_counts};
    use crate::certify::grouping_bound::grouping_upper_bound;
    use crate::certify::label_search::search_partition_from;
    use crate::certify::lp_bound::BUCKETS;
    use crate::certify::lp_group::{lp_counts, lp_groups};
    use crate::certify::one_label::{Needs, OneLabelSolver};
    use crate::certify::polish::{EMPTY, polish_counts, polished_groups};
    use crate::certify::sweep::sweep_counts;
    use crate::certify::threat::{island_counts_delete, partition_counts_delete};
    use crate::rng::SplitMix64;
    use crate::votes::{Prediction, TieRule, Votes};

    /// `n` test inputs predicted labels `0..c` at random with margins `1..=20`, one in four
    /// misclassified; each label `a` is written `spread(a)`.
    fn points(
        rng: &mut SplitMix64,
        n: usize,
        c: u64,
        spread: impl Fn(u32) -> u32,
    ) -> Vec<PointCertificate> {
        (0..n)
            .map(|_| {
                let a = rng.below(c) as u32;
                let s_b = rng.below(6) as u32;
                let prediction = Prediction {
                    predicted: spread(a),
                    runner_up: spread(a + 1),
                    votes_predicted: s_b + 1 + rng.below(20) as u32,
                    votes_runner_up: s_b,
                };
                let label = if rng.below(4) == 0 { a + 1 } else { a };
                PointCertificate::new(spread(label), prediction, TieRule::Larger)
            })
            .collect()
    }

    /// The old construction, one list per class: kept here to show that the empty lists it
    /// had changed nothing.
    fn per_class(points: &[PointCertificate], n_classes: usize) -> Vec<Vec<(u64, usize)>> {
        let mut by_label: Vec<Vec<(u64, usize)>> = vec![Vec::new(); n_classes];
        for (i, p) in points.iter().enumerate().filter(|(_, p)| p.correct()) {
            by_label[p.prediction.predicted as usize].push((p.margin, i));
        }
        for list in &mut by_label {
            list.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        }
        by_label
    }

    /// One list per label some correct input predicts, in increasing label order, each in
    /// ISLAND's order, together holding every correct input once.
    #[test]
    fn one_list_per_label_predicted_by_a_correct_input() {
        let mut rng = SplitMix64::new(0x1157_5c0d);
        for case in 0..200 {
            let n = rng.below(30) as usize;
            let c = 1 + rng.below(12);
            let points = points(&mut rng, n, c, |a| a * 7919);
            let lists = correct_by_label_descending(&points, 12 * 7919);
            let mut labels: Vec<u32> = points
                .iter()
                .filter(|p| p.correct())
                .map(|p| p.prediction.predicted)
                .collect();
            labels.sort_unstable();
            labels.dedup();
            assert_eq!(lists.len(), labels.len(), "case {case}");
            for (list, &label) in lists.iter().zip(&labels) {
                assert!(
                    list.iter()
                        .all(|&(g, i)| points[i].prediction.predicted == label
                            && points[i].correct()
                            && points[i].margin == g),
                    "case {case}"
                );
                assert!(
                    list.windows(2)
                        .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
                    "case {case}"
                );
            }
            let mut all: Vec<usize> = lists.iter().flatten().map(|x| x.1).collect();
            all.sort_unstable();
            let correct: Vec<usize> = (0..n).filter(|&i| points[i].correct()).collect();
            assert_eq!(all, correct, "case {case}");
        }
    }

    /// Audit finding 7 on every grouping of the paper's bound: the same test inputs with
    /// their labels spread over 2³⁶ classes give the same curves as with 4 classes (one list
    /// per class would ask for terabytes and abort).
    #[test]
    fn every_grouping_is_sized_by_the_labels_predicted_not_the_class_count() {
        let (huge, max_e) = (1usize << 36, 24);
        for seed in 0..4 {
            let mut rng = SplitMix64::new(seed);
            let small = points(&mut rng, 60, 4, |a| a);
            let mut rng = SplitMix64::new(seed);
            let spread = points(&mut rng, 60, 4, |a| a * 1_000_003 + 7);
            let (a, b) = (&small[..], &spread[..]);
            assert_eq!(island_counts(a, 5, max_e), island_counts(b, huge, max_e));
            assert_eq!(
                island_counts_delete(a, 5, max_e),
                island_counts_delete(b, huge, max_e)
            );
            let (rd_a, rd_b) = (
                Partition::random_division(a, 5, seed),
                Partition::random_division(b, huge, seed),
            );
            assert_eq!(rd_a, rd_b);
            assert_eq!(
                partition_counts_delete(&rd_a, a, max_e),
                partition_counts_delete(&rd_b, b, max_e)
            );
            assert_eq!(
                polish_counts(a, 5, None, max_e),
                polish_counts(b, huge, None, max_e)
            );
            let (sa, sb) = (
                sweep_counts(a, 5, None, max_e, false),
                sweep_counts(b, huge, None, max_e, false),
            );
            assert_eq!(sa.cluster, sb.cluster);
            assert!(
                sa.cluster[..4].iter().all(|&x| x > 0),
                "seed {seed}: no D2 groups"
            );
            assert_eq!(
                grouping_upper_bound(a, 5, max_e),
                grouping_upper_bound(b, huge, max_e)
            );
            let (la, lb) = (
                lp_counts(a, 5, None, &sa.cluster, None),
                lp_counts(b, huge, None, &sb.cluster, None),
            );
            assert_eq!((la.paper, la.bounds), (lb.paper, lb.bounds));
        }
    }

    /// Random rNN-like votes in which some labels are predicted by no correct input.
    fn votes(rng: &mut SplitMix64, n: usize, c: usize) -> Votes {
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| {
                let boost = if labels[k / c] as usize == k % c {
                    24
                } else {
                    0
                };
                (rng.below(8) + rng.below(boost + 1)) as u32
            })
            .collect();
        Votes::new(counts, c, labels).expect("valid votes")
    }

    /// Drops the columns of per-class groups whose label has no list in the compact lists.
    fn without_empty_labels(groups: &[Vec<usize>], full: &[Vec<(u64, usize)>]) -> Vec<Vec<usize>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .zip(full)
                    .filter(|(_, list)| !list.is_empty())
                    .map(|(&i, _)| i)
                    .collect()
            })
            .collect()
    }

    /// The groupings that take the lists (POLISH, CLUSTER, SEARCH, LP) build the same groups
    /// from the compact lists as from one list per class, empty ones included: a slot is
    /// never read as a class.
    #[test]
    fn groupings_build_the_same_groups_without_the_empty_lists() {
        let mut rng = SplitMix64::new(0xc0_4ac7);
        let mut with_empty = 0;
        for case in 0..60 {
            let c = 3 + rng.below(8) as usize;
            let n = 6 + rng.below(30) as usize;
            let votes = votes(&mut rng, n, c);
            let tie = TieRule::Larger;
            let points = certify_points(&votes, tie);
            let needs = Needs::new(&votes, tie);
            let full = per_class(&points, c);
            let compact = correct_by_label_descending(&points, c);
            with_empty += usize::from(full.iter().any(Vec::is_empty));
            assert_eq!(
                full.iter().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
                compact.iter().collect::<Vec<_>>(),
                "case {case}"
            );
            let mut solver = OneLabelSolver::new();
            for e in 1..12 {
                let same = |f: (u64, Vec<Vec<usize>>), k: (u64, Vec<Vec<usize>>)| {
                    assert_eq!(f.0, k.0, "case {case}, e = {e}");
                    assert_eq!(
                        without_empty_labels(&f.1, &full),
                        k.1,
                        "case {case}, e = {e}"
                    );
                    assert!(k.1.iter().all(|g| g.iter().any(|&i| i != EMPTY)));
                };
                same(
                    polished_groups(&full, &points, e),
                    polished_groups(&compact, &points, e),
                );
                for s in Sacrifices::ALL {
                    same(
                        cluster_groups(&full, &points, e, s),
                        cluster_groups(&compact, &points, e, s),
                    );
                }
                same(
                    (
                        0,
                        search_partition_from(&full, &points, &needs, e, &mut solver),
                    ),
                    (
                        0,
                        search_partition_from(&compact, &points, &needs, e, &mut solver),
                    ),
                );
                let (lf, lk) = (
                    lp_groups(&full, &points, e, BUCKETS),
                    lp_groups(&compact, &points, e, BUCKETS),
                );
                assert_eq!(lf.2, lk.2, "case {case}, e = {e}: LP bound");
                same((lf.0, lf.1), (lk.0, lk.1));
            }
        }
        assert!(with_empty > 10, "{with_empty} cases had an empty label");
    }
}
