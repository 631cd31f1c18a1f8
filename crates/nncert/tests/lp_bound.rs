//! The LP upper bound on any grouping (`docs/JOINT.md`, "An LP upper bound"): its pricing
//! step against brute force over every real group, and the bound against the best
//! partition found by exhausting every partition of tiny instances.

use nncert::certify::cluster::cluster_counts;
use nncert::certify::grouping::SplitMix64;
use nncert::certify::joint::group_certified;
use nncert::certify::lp_bound::{
    BucketedD2, Buckets, SCALE, dual_bound_scaled, lp_bound_at, lp_prices, max_reduced_value,
};
use nncert::certify::lp_group::{lp_counts, lp_groups};
use nncert::certify::one_label::Needs;
use nncert::certify::one_label::correct_by_label_descending;
use nncert::certify::polish::EMPTY;
use nncert::certify::{PointCertificate, certify_points};
use nncert::{TieRule, Votes};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// The paper's certified count of a group given by its members' costs at `e`.
fn certified_of_costs(costs: &[u64], e: u64) -> u64 {
    let mut sorted = costs.to_vec();
    sorted.sort_unstable();
    let mut spent = 0;
    let mut flipped = 0;
    for c in &sorted {
        if spent + c > e {
            break;
        }
        spent += c;
        flipped += 1;
    }
    (sorted.len() - flipped) as u64
}

/// `max_G (v(G)·SCALE − Σ price)` over every real group (at most one member per label,
/// members from `costs`), by enumeration; 0 for the empty group.
fn brute_max_reduced(costs: &[Vec<u64>], d2: &BucketedD2, prices: &[Vec<i64>]) -> i64 {
    fn walk(
        l: usize,
        costs: &[Vec<u64>],
        d2: &BucketedD2,
        prices: &[Vec<i64>],
        chosen: &mut Vec<(usize, u64)>,
        best: &mut i64,
    ) {
        if l == costs.len() {
            let group: Vec<u64> = chosen.iter().map(|x| x.1).collect();
            let v = certified_of_costs(&group, d2.e) as i64 * SCALE;
            let price: i64 = chosen
                .iter()
                .map(|&(l, c)| prices[l][d2.bucket_of(c)])
                .sum();
            *best = (*best).max(v - price);
            return;
        }
        walk(l + 1, costs, d2, prices, chosen, best);
        let mut seen = costs[l].clone();
        seen.sort_unstable();
        seen.dedup();
        for &c in &seen {
            chosen.push((l, c));
            walk(l + 1, costs, d2, prices, chosen, best);
            chosen.pop();
        }
    }
    let mut best = 0;
    walk(0, costs, d2, prices, &mut Vec::new(), &mut best);
    best
}

/// Prices per label and bucket, each a random multiple of a quarter in `[0, 1]`.
fn random_prices(rng: &mut SplitMix64, c: usize, n_buckets: usize) -> Vec<Vec<i64>> {
    (0..c)
        .map(|_| {
            (0..n_buckets)
                .map(|_| (rng.below(5) as i64) * SCALE / 4)
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(config(400, 0x01b0_0d01))]

    /// The relaxed pricing is never below the best real group, for any prices and any
    /// bucket width: the dual bound it certifies holds.
    #[test]
    fn pricing_is_never_below_the_best_real_group(
        c in 1usize..5,
        e in 1u64..30,
        width in 1u64..6,
        seed in any::<u64>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let costs: Vec<Vec<u64>> = (0..c)
            .map(|_| (0..rng.below(4)).map(|_| 1 + rng.below(e)).collect())
            .collect();
        // Half the cases with buckets of random widths (the adaptive scheme's shape is
        // one of them), half uniform.
        let d2 = if seed % 2 == 0 {
            BucketedD2::new(&costs, e, width)
        } else {
            let tops: Vec<u64> = (0..rng.below(e)).map(|_| 1 + rng.below(e)).collect();
            BucketedD2::with_tops(&costs, e, tops)
        };
        let prices = random_prices(&mut rng, c, d2.n_buckets);
        let (relaxed, _) = max_reduced_value(&d2, &prices);
        let brute = brute_max_reduced(&costs, &d2, &prices);
        prop_assert!(relaxed >= brute, "relaxed {} < brute {}", relaxed, brute);
        if d2.n_buckets as u64 == e {
            // With exact buckets and no prices, the best relaxed group is the best real one
            // (a real group certifying the most).
            let zero = vec![vec![0i64; d2.n_buckets]; c];
            let (r0, _) = max_reduced_value(&d2, &zero);
            let b0 = brute_max_reduced(&costs, &d2, &zero);
            prop_assert_eq!(r0, b0);
        }
    }
}

proptest! {
    #![proptest_config(config(300, 0x01b0_0d07))]

    /// With buckets wide enough that each threshold range holds several costs (up to the
    /// whole of `[1, e]` in one bucket), the pricing is still never below the best real
    /// group: the split thresholds (`m` known only up to its range, a flipped member of the
    /// threshold bucket counted at the largest cost up to the range's top) relax every real
    /// group.
    #[test]
    fn split_thresholds_are_never_below_the_best_real_group(
        c in 1usize..5,
        e in 8u64..60,
        width in 4u64..60,
        seed in any::<u64>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let costs: Vec<Vec<u64>> = (0..c)
            .map(|_| (0..rng.below(5)).map(|_| 1 + rng.below(e)).collect())
            .collect();
        let d2 = BucketedD2::new(&costs, e, width);
        let prices = random_prices(&mut rng, c, d2.n_buckets);
        let (relaxed, _) = max_reduced_value(&d2, &prices);
        let brute = brute_max_reduced(&costs, &d2, &prices);
        prop_assert!(relaxed >= brute, "relaxed {} < brute {}", relaxed, brute);
    }
}

/// The best grouping of D2 at e by exhaustion (D1 added).
fn best_grouping_brute_force(points: &[PointCertificate], e: u64) -> u64 {
    fn extend(
        points: &[PointCertificate],
        rest: &[usize],
        groups: &mut Vec<Vec<usize>>,
        e: u64,
    ) -> u64 {
        let Some((&first, tail)) = rest.split_first() else {
            return groups
                .iter()
                .map(|g| {
                    let members: Vec<&PointCertificate> = g.iter().map(|&i| &points[i]).collect();
                    group_certified(&members, e) as u64
                })
                .sum();
        };
        let label = points[first].prediction.predicted;
        let mut best = 0;
        for j in 0..groups.len() {
            if groups[j]
                .iter()
                .all(|&i| points[i].prediction.predicted != label)
            {
                groups[j].push(first);
                best = best.max(extend(points, tail, groups, e));
                groups[j].pop();
            }
        }
        groups.push(vec![first]);
        best = best.max(extend(points, tail, groups, e));
        groups.pop();
        best
    }
    let d1 = points
        .iter()
        .filter(|p| p.correct() && p.margin > 2 * e)
        .count() as u64;
    let d2: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].correct() && points[i].margin > e && points[i].margin <= 2 * e)
        .collect();
    d1 + extend(points, &d2, &mut Vec::new(), e)
}

proptest! {
    #![proptest_config(config(80, 0x01b0_0d02))]

    /// The LP bound (any bucket count) is never below the best partition found by
    /// exhausting every partition of tiny instances.
    #[test]
    fn lp_bound_is_never_below_the_best_grouping(
        (c, n) in (2usize..5, 1usize..10),
        seed in any::<u64>(),
        buckets in 1u64..6,
    ) {
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| rng.below(6) as u32 + if labels[k / c] as usize == k % c { rng.below(14) as u32 } else { 0 })
            .collect();
        let votes = Votes::new(counts, c, labels).unwrap();
        let points = certify_points(&votes, TieRule::Larger);
        let by_label = correct_by_label_descending(&points, c);
        for e in 0..=12u64 {
            let best = best_grouping_brute_force(&points, e);
            for scheme in [Buckets::Uniform(buckets), Buckets::Adaptive(buckets + 1), Buckets::Quantile(buckets + 1)] {
                let bound = lp_bound_at(&by_label, e, scheme);
                prop_assert!(best <= bound, "e = {}, {:?}: best grouping {} > LP bound {}", e, scheme, best, bound);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(40, 0x01b0_0d04))]

    /// LP's groups partition D2 with one member per label; its curves are never below
    /// CLUSTER's (paper and one-label) and never above the best grouping found by
    /// exhaustion, and its one-label curve is never below its paper curve.
    #[test]
    fn lp_grouping_is_a_partition_between_cluster_and_the_best_grouping(
        (c, n) in (2usize..5, 1usize..9),
        seed in any::<u64>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| rng.below(6) as u32 + if labels[k / c] as usize == k % c { rng.below(14) as u32 } else { 0 })
            .collect();
        let votes = Votes::new(counts, c, labels).unwrap();
        let points = certify_points(&votes, TieRule::Larger);
        let needs = Needs::new(&votes, TieRule::Larger);
        let max_e = 12;
        let (cluster, cluster_label) = cluster_counts(&points, c, Some(&needs), max_e);
        let lp = lp_counts(&points, c, Some(&needs), &cluster, cluster_label.as_deref());
        let lp_label = lp.one_label.clone().unwrap();
        // The LP partitions' own counts, without CLUSTER's curves as a floor: on instances
        // this small CLUSTER is usually at least as good, so the curve above would mostly
        // test CLUSTER (review finding).
        let zero = vec![0u64; max_e as usize + 1];
        let own = lp_counts(&points, c, Some(&needs), &zero, Some(&zero));
        let own_label = own.one_label.clone().unwrap();
        let by_label = correct_by_label_descending(&points, c);
        // Slot l of a group holds the l-th label some correct input predicts (increasing).
        let slots: Vec<u32> = by_label.iter().map(|list| points[list[0].1].prediction.predicted).collect();
        for e in 0..=max_e {
            let at = e as usize;
            let best = best_grouping_brute_force(&points, e);
            prop_assert!(own.paper[at] <= best, "e = {}: LP partition {} > best grouping {}", e, own.paper[at], best);
            prop_assert!(own.paper[at] <= lp.paper[at], "e = {}", e);
            prop_assert!(own_label[at] >= own.paper[at], "e = {}", e);
            prop_assert!(own_label[at] <= lp_label[at], "e = {}", e);
            prop_assert!(lp.paper[at] >= cluster[at], "e = {}", e);
            prop_assert!(lp_label[at] >= cluster_label.as_ref().unwrap()[at], "e = {}", e);
            prop_assert!(lp_label[at] >= lp.paper[at], "e = {}", e);
            prop_assert!(lp.paper[at] <= best, "e = {}: lp {} > best grouping {}", e, lp.paper[at], best);
            let scheme = [Buckets::Uniform(3), Buckets::Adaptive(4), Buckets::Quantile(4)][e as usize % 3];
            let (d1, groups, bound) = lp_groups(&by_label, &points, e, scheme);
            prop_assert!(best <= bound, "e = {}: best {} > LP bound {}", e, best, bound);
            let mut seen: Vec<usize> = Vec::new();
            for g in &groups {
                prop_assert_eq!(g.len(), slots.len());
                for (l, &i) in g.iter().enumerate().filter(|(_, i)| **i != EMPTY) {
                    prop_assert_eq!(points[i].prediction.predicted, slots[l]);
                    seen.push(i);
                }
            }
            seen.sort_unstable();
            let d2: Vec<usize> = (0..points.len())
                .filter(|&i| points[i].correct() && points[i].margin > e && points[i].margin <= 2 * e)
                .collect();
            prop_assert_eq!(&seen, &d2);
            prop_assert_eq!(d1, points.iter().filter(|p| p.correct() && p.margin > 2 * e).count() as u64);
        }
        for &(e, bound) in &lp.bounds {
            prop_assert!(best_grouping_brute_force(&points, e) <= bound);
        }
    }
}

/// Column generation converges on a random instance of realistic shape: the prices the
/// LP finds satisfy every group up to a small violation, so the correction term
/// `⌊|D2|/2⌋·Δ` adds less than one member here (the loop stops once the best proven bound
/// is within a member of the restricted LP's objective; that best can come from an earlier
/// round, so this is what happens on such instances, not what the rule guarantees).
#[test]
fn column_generation_converges() {
    let mut rng = SplitMix64::new(0x1b0_0d03);
    let e = 200;
    let costs: Vec<Vec<u64>> = (0..10)
        .map(|_| (0..40).map(|_| 1 + rng.below(e)).collect())
        .collect();
    let d2 = BucketedD2::new(&costs, e, 8);
    let (prices, _) = lp_prices(&d2);
    let (delta, _) = max_reduced_value(&d2, &prices);
    let correction = i128::from(delta) * i128::from(d2.len() / 2);
    assert!(correction < i128::from(SCALE), "Δ = {delta}");
    let scaled = dual_bound_scaled(&d2, &prices);
    let bound = (scaled / i128::from(SCALE)) as u64;
    assert!(bound > 0 && bound < d2.len(), "bound {bound}");
}

/// The price of the substitutions, pinned: on the review's instance (8 members,
/// `e = 1,360`) the bucketed LP's optimum is 3 without them and 4 with them (a flipped
/// member of the threshold bucket has no relaxed counterpart one bucket up), so the bound
/// is 4, still above the best real partition (2, by exhaustion here). A change that makes
/// the bound 3 again should update `docs/JOINT.md`; one that goes below 2 is unsound.
#[test]
fn substitutions_cost_at_most_their_lp_on_the_review_instance() {
    let e = 1360;
    let costs: Vec<Vec<u64>> = vec![
        vec![],
        vec![425, 446],
        vec![441, 441],
        vec![455, 871],
        vec![454, 456],
    ];
    let d2 = BucketedD2::with_tops(&costs, e, vec![456]);
    let (prices, _) = lp_prices(&d2);
    let bound = dual_bound_scaled(&d2, &prices) / i128::from(SCALE);
    // The best real partition, by exhausting the groups of at most one member per label.
    let mut members: Vec<(usize, u64)> = Vec::new();
    for (l, list) in costs.iter().enumerate() {
        members.extend(list.iter().map(|&c| (l, c)));
    }
    let best = best_partition_of_costs(&members, e);
    assert_eq!(best, 2);
    assert_eq!(bound, 4);
}

/// The largest sum of paper counts over partitions of `members` (label, D2 cost) into
/// groups with at most one member per label (exhaustive; a handful of members only).
fn best_partition_of_costs(members: &[(usize, u64)], e: u64) -> u64 {
    fn place(
        i: usize,
        members: &[(usize, u64)],
        groups: &mut Vec<Vec<(usize, u64)>>,
        e: u64,
    ) -> u64 {
        if i == members.len() {
            return groups
                .iter()
                .map(|g| {
                    let costs: Vec<u64> = g.iter().map(|m| m.1).collect();
                    certified_of_costs(&costs, e)
                })
                .sum();
        }
        let mut best = 0;
        for k in 0..groups.len() {
            if groups[k].iter().all(|m| m.0 != members[i].0) {
                groups[k].push(members[i]);
                best = best.max(place(i + 1, members, groups, e));
                groups[k].pop();
            }
        }
        groups.push(vec![members[i]]);
        best = best.max(place(i + 1, members, groups, e));
        groups.pop();
        best
    }
    place(0, members, &mut Vec::new(), e)
}

/// The primal LP's substitutions (a costlier bucket's member in place of a cheaper one
/// of the same label) make the prices it finds non-decreasing in the bucket within each
/// label (up to rounding), over the buckets that have members (the dual-optimal inequalities of
/// `docs/JOINT.md`, "Costlier members are worth at least as much"); without them the
/// prices zigzag.
#[test]
fn prices_rise_with_cost_within_each_label() {
    let mut rng = SplitMix64::new(0x1b0_0d07);
    // 30 buckets of 30 members per label: without the substitutions many labels get
    // prices that fall somewhere (in a probe of 30 such instances, 145 of 300 labels).
    for e in [60, 200, 500].repeat(3) {
        let costs: Vec<Vec<u64>> = (0..10)
            .map(|_| (0..30).map(|_| 1 + rng.below(e)).collect())
            .collect();
        let d2 = BucketedD2::new(&costs, e, e.div_ceil(30));
        let (prices, _) = lp_prices(&d2);
        for (l, (row, counts)) in prices.iter().zip(&d2.counts).enumerate() {
            let used: Vec<i64> = row
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(y, _)| *y)
                .collect();
            // Up to the solver's rounding (prices are its duals rounded up to 1/SCALE).
            assert!(
                used.windows(2).all(|w| w[0] <= w[1] + 16),
                "e {e} label {l}: {used:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(config(30, 0x01b0_0d05))]

    /// The LP partitions' own counts (no CLUSTER floor) on instances with margins of a few
    /// hundred, so that the grid points (every 100th e) fall inside the members' D2 ranges
    /// and the partitions are not empty: never above the best grouping found by
    /// exhaustion at any e of the windows, edges included (review finding: with margins
    /// below 100 every LP partition is empty and the test above cannot fail on them).
    #[test]
    fn lp_partitions_with_large_margins_never_exceed_the_best_grouping(
        (c, n) in (2usize..5, 3usize..9),
        seed in any::<u64>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| rng.below(40) as u32 + if labels[k / c] as usize == k % c { 60 + rng.below(400) as u32 } else { 0 })
            .collect();
        let votes = Votes::new(counts, c, labels).unwrap();
        let points = certify_points(&votes, TieRule::Larger);
        let needs = Needs::new(&votes, TieRule::Larger);
        let max_e = 260u64;
        let zero = vec![0u64; max_e as usize + 1];
        let own = lp_counts(&points, c, Some(&needs), &zero, Some(&zero));
        let own_label = own.one_label.clone().unwrap();
        for e in [0u64, 1, 2, 50, 99, 100, 101, 150, 199, 200, 201, 230, 259, 260] {
            let at = e as usize;
            let best = best_grouping_brute_force(&points, e);
            prop_assert!(own.paper[at] <= best, "e = {}: LP partition {} > best grouping {}", e, own.paper[at], best);
            prop_assert!(own_label[at] >= own.paper[at], "e = {}", e);
        }
        for &(e, bound) in &own.bounds {
            prop_assert!(best_grouping_brute_force(&points, e) <= bound);
        }
    }
}

proptest! {
    #![proptest_config(config(12, 0x01b0_0d06))]

    /// On random instances too large to exhaust (tens of inputs, margins of a few hundred),
    /// the LP bound at `e` — uniform and adaptive buckets — is never below any grouping
    /// nncert builds at that `e` (POLISH, CLUSTER's two rules, LP's rounding), and each LP
    /// partition is a partition of D2 with one member per label.
    #[test]
    fn lp_bound_is_never_below_any_grouping_nncert_builds(
        c in 3usize..7,
        n in 20usize..60,
        seed in any::<u64>(),
    ) {
        use nncert::certify::cluster::{Sacrifices, cluster_groups};
        use nncert::certify::polish::polished_groups;
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| rng.below(30) as u32 + if labels[k / c] as usize == k % c { 20 + rng.below(300) as u32 } else { 0 })
            .collect();
        let votes = Votes::new(counts, c, labels).unwrap();
        let points = certify_points(&votes, TieRule::Larger);
        let by_label = correct_by_label_descending(&points, c);
        for e in [20u64, 60, 100, 150] {
            // The paper's count of a partition, recomputed here from the margins.
            let count = |d1: u64, groups: &[Vec<usize>]| {
                d1 + groups
                    .iter()
                    .map(|g| {
                        let costs: Vec<u64> =
                            g.iter().filter(|&&i| i != EMPTY).map(|&i| points[i].margin - e).collect();
                        certified_of_costs(&costs, e)
                    })
                    .sum::<u64>()
            };
            let mut built = Vec::new();
            let (d1, groups) = polished_groups(&by_label, &points, e);
            built.push(("polish", count(d1, &groups)));
            for rule in Sacrifices::ALL {
                let (d1, groups) = cluster_groups(&by_label, &points, e, rule);
                built.push(("cluster", count(d1, &groups)));
            }
            for scheme in [Buckets::Uniform(6), Buckets::Adaptive(8), Buckets::Uniform(e), Buckets::Quantile(8)] {
                let (d1, groups, _) = lp_groups(&by_label, &points, e, scheme);
                built.push(("lp", count(d1, &groups)));
                let mut seen: Vec<usize> = groups.iter().flatten().copied().filter(|&i| i != EMPTY).collect();
                seen.sort_unstable();
                let d2: Vec<usize> = (0..points.len())
                    .filter(|&i| points[i].correct() && points[i].margin > e && points[i].margin <= 2 * e)
                    .collect();
                prop_assert_eq!(&seen, &d2);
            }
            for scheme in [Buckets::Uniform(6), Buckets::Uniform(24), Buckets::Adaptive(8), Buckets::Adaptive(24), Buckets::Quantile(8), Buckets::Quantile(32)] {
                let bound = lp_bound_at(&by_label, e, scheme);
                for &(name, count) in &built {
                    prop_assert!(count <= bound, "e = {}, {:?}: {} certifies {} > LP bound {}", e, scheme, name, count, bound);
                }
            }
        }
    }
}

/// With more non-empty (label, bucket) cells than the dense simplex takes (100 labels with
/// a member in each of 32 buckets: 3,200 cells), the LP is skipped: the bound is the
/// trivial one (every D2 member, plus D1), which the caller combines with the pooled
/// bound, and no memory of `cells²` is allocated.
#[test]
fn many_cells_skip_the_lp_with_the_trivial_bound() {
    let e = 320u64;
    let by_label: Vec<Vec<(u64, usize)>> = (0..100)
        .map(|l| {
            // Margins e + 1 + 10·k (costs 1, 11, …, 311): one member per bucket, descending.
            (0..32u64)
                .rev()
                .map(|k| (e + 1 + 10 * k, l * 32 + k as usize))
                .collect()
        })
        .collect();
    assert_eq!(lp_bound_at(&by_label, e, Buckets::Quantile(32)), 3_200);
}
