//! Property tests (fixed seeds) of the certificate engine on random votes matrices, and the
//! fast curve code against slow twins written straight from METHOD §3–4.

mod common;

use nncert::certify::cluster::{Sacrifices, cluster_counts, cluster_groups};
use nncert::certify::grouping::{Partition, SplitMix64, island_counts};
use nncert::certify::grouping_bound::grouping_upper_bound;
use nncert::certify::individual::individual_counts;
use nncert::certify::joint::group_certified;
use nncert::certify::one_label::{
    Needs, OneLabelSolver, correct_by_label_descending, group_certified_one_label,
    partition_one_label_counts,
};
use nncert::certify::polish::{EMPTY, polish_counts, polished_groups};
use nncert::certify::{PointCertificate, certify_points};
use nncert::{Certification, CurveOptions, Method, TieRule, Votes, certify_votes};
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

/// Random votes: `n` rows, `c` classes, counts biased towards the true label so that both
/// large and small margins occur.
fn votes_strategy() -> impl Strategy<Value = Votes> {
    (2usize..6, 1usize..60).prop_flat_map(|(c, n)| {
        (
            proptest::collection::vec(0u32..30, n * c),
            proptest::collection::vec(0u32..c as u32, n),
            proptest::collection::vec(0u32..60, n),
        )
            .prop_map(move |(mut counts, labels, boost)| {
                for (i, (&y, &b)) in labels.iter().zip(&boost).enumerate() {
                    counts[i * c + y as usize] += b;
                }
                Votes::new(counts, c, labels).unwrap()
            })
    })
}

fn tie_strategy() -> impl Strategy<Value = TieRule> {
    prop_oneof![Just(TieRule::Larger), Just(TieRule::Smaller)]
}

/// ISLAND exactly as METHOD §4 words it, recomputed from scratch for every e.
fn island_reference(points: &[PointCertificate], n_classes: usize, e: u64) -> u64 {
    let mut d1 = 0u64;
    let mut d2: Vec<usize> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let cost = p.joint_cost(e);
        if cost == 0 {
            continue; // D0
        }
        if p.certified_at(e) {
            d1 += 1;
        } else {
            d2.push(i);
        }
    }
    let mut total = d1;
    while !d2.is_empty() {
        let mut group: Vec<usize> = Vec::new();
        for l in 0..n_classes as u32 {
            // The remaining D2 input predicted l with the largest cost, ties lower index.
            let best = d2
                .iter()
                .copied()
                .filter(|&i| points[i].prediction.predicted == l)
                .max_by(|&x, &y| {
                    points[x]
                        .joint_cost(e)
                        .cmp(&points[y].joint_cost(e))
                        .then(y.cmp(&x))
                });
            if let Some(i) = best {
                group.push(i);
                d2.retain(|&j| j != i);
            }
        }
        let members: Vec<&PointCertificate> = group.iter().map(|&i| &points[i]).collect();
        total += reference_group_certified(&members, e);
    }
    total
}

/// |U| − t with t the largest number of members whose smallest costs sum to ≤ e, by trying
/// every t.
fn reference_group_certified(members: &[&PointCertificate], e: u64) -> u64 {
    let mut costs: Vec<u64> = members.iter().map(|p| p.joint_cost(e)).collect();
    costs.sort();
    let t = (0..=costs.len())
        .filter(|&t| costs[..t].iter().sum::<u64>() <= e)
        .max()
        .unwrap();
    (members.len() - t) as u64
}

proptest! {
    #![proptest_config(config(400, 0x00c0_ffee))]

    #[test]
    fn fast_curves_match_their_slow_twins(votes in votes_strategy(), tie in tie_strategy(), seed in 0u64..4) {
        let points = certify_points(&votes, tie);
        let max_e = 80;
        let ind = individual_counts(&points, max_e);
        let island = island_counts(&points, votes.n_classes(), max_e);
        let partition = Partition::random_division(&points, votes.n_classes(), seed);
        let rd = partition.counts(&points, max_e);
        for e in 0..=max_e {
            let direct = points.iter().filter(|p| p.certified_at(e)).count() as u64;
            prop_assert_eq!(ind[e as usize], direct);
            prop_assert_eq!(island[e as usize], island_reference(&points, votes.n_classes(), e), "e = {}", e);
            let rd_direct: u64 = partition.groups.iter().map(|g| {
                let members: Vec<&PointCertificate> = g.iter().map(|&i| &points[i]).collect();
                let fast = group_certified(&members, e) as u64;
                assert_eq!(fast, reference_group_certified(&members, e));
                fast
            }).sum();
            prop_assert_eq!(rd[e as usize], rd_direct);
        }
    }

    #[test]
    fn curves_are_monotone_and_joint_dominates_individual(votes in votes_strategy(), tie in tie_strategy()) {
        let mut options = CurveOptions::new(Method::Rnn, "r");
        options.joint = vec![Certification::Island, Certification::Rd, Certification::Best];
        options.tie = tie;
        let out = certify_votes(&votes, &options).unwrap();
        let [ind, island, rd, best] = &out.curves[..] else { panic!("four curves") };
        for curve in &out.curves {
            prop_assert!(curve.certified.windows(2).all(|w| w[0] >= w[1]),
                "{} not non-increasing: {:?}", curve.certification, curve.certified);
            prop_assert_eq!(curve.certified.len() as u64, out.max_e + 1);
        }
        // The default range ends on the first row where every curve is 0.
        prop_assert!(out.curves.iter().all(|c| *c.certified.last().unwrap() == 0));
        for e in 0..ind.certified.len() {
            prop_assert!(island.certified[e] >= ind.certified[e]);
            prop_assert!(rd.certified[e] >= ind.certified[e]);
            // best also holds ISLAND under the one-label bound, which is never below ISLAND.
            prop_assert!(best.certified[e] >= ind.certified[e].max(island.certified[e]).max(rd.certified[e]));
        }
        // CA(0) is the clean accuracy for every bound.
        let correct = out.points.iter().filter(|p| p.correct()).count() as u64;
        for curve in &out.curves {
            prop_assert_eq!(curve.certified[0], correct);
        }
    }

    #[test]
    fn individual_and_island_do_not_depend_on_test_order(votes in votes_strategy(), tie in tie_strategy(), rotate in 0usize..60) {
        let n = votes.n_test();
        let c = votes.n_classes();
        let shift = rotate % n;
        // Reverse, then rotate: a permutation that moves every row unless n is tiny.
        let order: Vec<usize> = (0..n).rev().cycle().skip(shift).take(n).collect();
        let counts = order.iter().flat_map(|&i| votes.row(i).to_vec()).collect();
        let labels = order.iter().map(|&i| votes.labels()[i]).collect();
        let permuted = Votes::new(counts, c, labels).unwrap();
        let mut options = CurveOptions::new(Method::Rnn, "");
        options.tie = tie;
        let a = certify_votes(&votes, &options).unwrap();
        let b = certify_votes(&permuted, &options).unwrap();
        prop_assert_eq!(a.curves, b.curves);
        for (k, &i) in order.iter().enumerate() {
            prop_assert_eq!(a.points[i], b.points[k]);
        }
    }

    #[test]
    fn tie_rules_differ_only_on_ties(votes in votes_strategy()) {
        let larger = certify_points(&votes, TieRule::Larger);
        let smaller = certify_points(&votes, TieRule::Smaller);
        for (i, (l, s)) in larger.iter().zip(&smaller).enumerate() {
            let row = votes.row(i);
            let top = *row.iter().max().unwrap();
            let tied_top = row.iter().filter(|&&v| v == top).count() > 1;
            if !tied_top {
                prop_assert_eq!(l.prediction.predicted, s.prediction.predicted);
            }
            // With the same (a, b), the margins differ by exactly the tie bonus.
            if (l.prediction.predicted, l.prediction.runner_up) == (s.prediction.predicted, s.prediction.runner_up) {
                let a = l.prediction.predicted;
                let b = l.prediction.runner_up;
                prop_assert_eq!(l.margin as i64 - s.margin as i64, (a > b) as i64 - (a < b) as i64);
            }
        }
    }
}

#[test]
fn best_of_several_partitions_is_reported_when_asked() {
    let votes = Votes::new(vec![9, 1, 0, 0, 7, 2, 3, 0, 8], 3, vec![0, 1, 2]).unwrap();
    let mut options = CurveOptions::new(Method::Rnn, "4");
    options.joint = vec![Certification::Rd, Certification::Best];
    let out = certify_votes(&votes, &options).unwrap();
    let names: Vec<String> = out
        .curves
        .iter()
        .map(|c| c.certification.to_string())
        .collect();
    assert_eq!(names, ["individual", "rd", "best"]);
}

/// A group with pairwise different predicted labels: the first input of each predicted
/// label, in test order, among the inputs selected by `pick` (bit i of a 64-bit mask).
fn distinct_label_group(points: &[PointCertificate], pick: u64) -> Vec<usize> {
    let mut seen = 0u64;
    let mut group = Vec::new();
    for (i, p) in points.iter().enumerate().take(64) {
        let bit = 1u64 << p.prediction.predicted;
        if pick & (1 << i) != 0 && seen & bit == 0 {
            seen |= bit;
            group.push(i);
        }
    }
    group
}

/// The one-label attacker straight from its definition (docs/JOINT.md): every insertion
/// vector x (Σ x ≤ e) and every removal vector r (Σ r ≤ e); member i is flipped when, with
/// its votes moved to s_l + x_l (l ≠ a_i) and s_a − r_i, some rival wins under the tie rule.
/// Returns the fewest correct members left unflipped.
fn one_label_brute_force(votes: &Votes, group: &[usize], tie: TieRule, e: u64) -> usize {
    fn vectors(len: usize, budget: u64) -> Vec<Vec<u64>> {
        let mut out = vec![Vec::new()];
        for _ in 0..len {
            out = out
                .into_iter()
                .flat_map(|v: Vec<u64>| {
                    let used: u64 = v.iter().sum();
                    (0..=budget - used).map(move |x| {
                        let mut w = v.clone();
                        w.push(x);
                        w
                    })
                })
                .collect();
        }
        out
    }
    let c = votes.n_classes();
    let members: Vec<(usize, u32)> = group
        .iter()
        .map(|&i| {
            (
                i,
                nncert::Prediction::from_counts(votes.row(i), tie).predicted,
            )
        })
        .filter(|&(i, a)| a == votes.labels()[i])
        .collect();
    let mut fewest = members.len();
    for x in vectors(c, e) {
        for r in vectors(members.len(), e) {
            let standing = members
                .iter()
                .zip(&r)
                .filter(|&(&(i, a), &ri)| {
                    let row = votes.row(i);
                    let top = i64::from(row[a as usize]) - ri as i64;
                    (0..c as u32).filter(|&l| l != a).all(|l| {
                        let s = i64::from(row[l as usize]) + x[l as usize] as i64;
                        s < top || (s == top && tie.wins_tie(a, l))
                    })
                })
                .count();
            fewest = fewest.min(standing);
        }
    }
    fewest
}

/// Small votes with margins of a few votes, so that small e already flips members.
fn small_votes_strategy() -> impl Strategy<Value = Votes> {
    (2usize..6, 1usize..12).prop_flat_map(|(c, n)| {
        (
            proptest::collection::vec(0u32..4, n * c),
            proptest::collection::vec(0u32..c as u32, n),
            proptest::collection::vec(0u32..5, n),
        )
            .prop_map(move |(mut counts, labels, boost)| {
                for (i, (&y, &b)) in labels.iter().zip(&boost).enumerate() {
                    counts[i * c + y as usize] += b;
                }
                Votes::new(counts, c, labels).unwrap()
            })
    })
}

/// A whole group: member j has 12 votes for label j and 12 − d for every other label, d
/// drawn from 0..10 (so the needs are arbitrary), true label j except for an occasional
/// wrong one.
fn group_votes_strategy() -> impl Strategy<Value = Votes> {
    (3usize..6, 2usize..6).prop_flat_map(|(c, m)| {
        let m = m.min(c);
        (
            proptest::collection::vec(0u32..10, m * c),
            proptest::collection::vec(0u32..12, m),
        )
            .prop_map(move |(gaps, wrong)| {
                let labels = (0..m)
                    .map(|j| {
                        if wrong[j] == 0 {
                            ((j + 1) % c) as u32
                        } else {
                            j as u32
                        }
                    })
                    .collect();
                let counts = (0..m * c)
                    .map(|k| if k % c == k / c { 12 } else { 12 - gaps[k] })
                    .collect();
                Votes::new(counts, c, labels).unwrap()
            })
    })
}

proptest! {
    #![proptest_config(config(600, 0x0001_abe1))]

    #[test]
    fn one_label_solver_matches_brute_force(
        (votes, pick) in prop_oneof![
            (small_votes_strategy(), any::<u64>()),
            (group_votes_strategy(), Just(u64::MAX)),
        ],
        tie in tie_strategy(),
        e in 0u64..6,
    ) {
        let points = certify_points(&votes, tie);
        let needs = Needs::new(&votes, tie);
        let group = distinct_label_group(&points, pick);
        let mut solver = OneLabelSolver::new();
        let fast = group_certified_one_label(&group, &points, &needs, e, &mut solver);
        let slow = one_label_brute_force(&votes, &group, tie, e);
        prop_assert_eq!(fast, slow, "group {:?} at e = {}", group, e);
    }

    #[test]
    fn one_label_bound_dominates_the_paper_and_matches_individual_singletons(
        votes in votes_strategy(),
        tie in tie_strategy(),
        pick in any::<u64>(),
    ) {
        let points = certify_points(&votes, tie);
        let needs = Needs::new(&votes, tie);
        let group = distinct_label_group(&points, pick);
        let members: Vec<&PointCertificate> = group.iter().map(|&i| &points[i]).collect();
        let mut solver = OneLabelSolver::new();
        for e in 0..=100 {
            let paper = group_certified(&members, e);
            let one_label = group_certified_one_label(&group, &points, &needs, e, &mut solver);
            prop_assert!(one_label >= paper, "e = {}: one-label {} < paper {}", e, one_label, paper);
            prop_assert!(one_label <= members.iter().filter(|p| p.correct()).count());
            for &i in &group {
                let alone = group_certified_one_label(&[i], &points, &needs, e, &mut solver);
                prop_assert_eq!(alone == 1, points[i].certified_at(e), "input {} at e = {}", i, e);
            }
        }
    }

    #[test]
    fn one_label_curves_dominate_their_groupings(votes in votes_strategy(), tie in tie_strategy(), seed in 0u64..4) {
        let mut options = CurveOptions::new(Method::Rnn, "r");
        options.joint = vec![
            Certification::Island,
            Certification::Rd,
            Certification::IslandLabel,
            Certification::RdLabel,
            Certification::ClusterLabel,
            Certification::SearchLabel,
            Certification::Best,
        ];
        options.tie = tie;
        options.seed = seed;
        let out = certify_votes(&votes, &options).unwrap();
        let [ind, island, rd, island_label, rd_label, cluster_label, search_label, best] = &out.curves[..] else { panic!("eight curves") };
        prop_assert!(out.curves.iter().all(|c| *c.certified.last().unwrap() == 0));
        for e in 0..ind.certified.len() {
            prop_assert!(island_label.certified[e] >= island.certified[e]);
            prop_assert!(rd_label.certified[e] >= rd.certified[e]);
            prop_assert!(search_label.certified[e] >= cluster_label.certified[e]);
            let max = [ind, island, rd, island_label, rd_label, search_label].iter().map(|c| c.certified[e]).max().unwrap();
            prop_assert_eq!(best.certified[e], max);
        }
        // `best` includes island-label and search-label (never below cluster-label) even when
        // they are not listed.
        options.joint = vec![Certification::Best];
        let alone = certify_votes(&votes, &options).unwrap();
        for (e, &b) in alone.curves[1].certified.iter().enumerate() {
            let max = [ind, island_label, search_label].iter().map(|c| c.certified[e]).max().unwrap();
            prop_assert_eq!(b, max, "e = {}", e);
        }
        // Under the one-label bound, a fixed partition's raw counts are exactly the sum of its
        // groups' counts.
        let points = certify_points(&votes, tie);
        let needs = Needs::new(&votes, tie);
        let partition = Partition::random_division(&points, votes.n_classes(), seed);
        let raw = partition_one_label_counts(&partition, &points, &needs, 60);
        let mut solver = OneLabelSolver::new();
        for e in 0..=60u64 {
            let direct: usize = partition.groups.iter()
                .map(|g| group_certified_one_label(g, &points, &needs, e, &mut solver)).sum();
            prop_assert_eq!(raw[e as usize], direct as u64);
        }
    }
}

proptest! {
    #![proptest_config(config(300, 0x0000_9011))]

    #[test]
    fn polish_partitions_d2_and_never_certifies_less_than_island(votes in votes_strategy(), tie in tie_strategy()) {
        let points = certify_points(&votes, tie);
        let c = votes.n_classes();
        let needs = Needs::new(&votes, tie);
        let max_e = 80;
        let island = island_counts(&points, c, max_e);
        let (polish, polish_label) = polish_counts(&points, c, Some(&needs), max_e);
        let polish_label = polish_label.unwrap();
        let by_label = correct_by_label_descending(&points, c);
        // Slot l of a group holds the l-th label some correct input predicts (increasing).
        let slots: Vec<u32> = by_label.iter().map(|list| points[list[0].1].prediction.predicted).collect();
        for e in 0..=max_e {
            prop_assert!(polish[e as usize] >= island[e as usize], "e = {}", e);
            prop_assert!(polish_label[e as usize] >= polish[e as usize], "e = {}", e);
            // The groups are a partition of D2 (correct, e < g ≤ 2e), one member per label slot.
            let (d1, groups) = polished_groups(&by_label, &points, e);
            let mut seen: Vec<usize> = Vec::new();
            let mut total = d1;
            for g in &groups {
                prop_assert_eq!(g.len(), slots.len());
                for (l, &i) in g.iter().enumerate().filter(|(_, i)| **i != EMPTY) {
                    prop_assert_eq!(points[i].prediction.predicted, slots[l]);
                    seen.push(i);
                }
                let members: Vec<&PointCertificate> =
                    g.iter().filter(|&&i| i != EMPTY).map(|&i| &points[i]).collect();
                total += group_certified(&members, e) as u64;
            }
            seen.sort_unstable();
            let d2: Vec<usize> = (0..points.len())
                .filter(|&i| points[i].correct() && points[i].margin > e && points[i].margin <= 2 * e)
                .collect();
            prop_assert_eq!(&seen, &d2);
            prop_assert_eq!(total, polish[e as usize]);
            prop_assert_eq!(d1, points.iter().filter(|p| p.correct() && p.margin > 2 * e).count() as u64);
        }
    }
}

/// The best grouping of D2 at e by exhaustion: every partition into groups with pairwise
/// different predicted labels (D1 and D0 do not depend on the grouping).
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
    #![proptest_config(config(300, 0x000b_0a4d))]

    #[test]
    fn island_polish_and_cluster_stay_below_the_best_grouping_and_its_upper_bound(
        (c, n) in (2usize..5, 1usize..9),
        seed in any::<u64>(),
        tie in tie_strategy(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
        let counts: Vec<u32> = (0..n * c)
            .map(|k| rng.below(6) as u32 + if labels[k / c] as usize == k % c { rng.below(14) as u32 } else { 0 })
            .collect();
        let votes = Votes::new(counts, c, labels).unwrap();
        let points = certify_points(&votes, tie);
        let max_e = 12;
        let island = island_counts(&points, c, max_e);
        let (polish, _) = polish_counts(&points, c, None, max_e);
        let (cluster, _) = cluster_counts(&points, c, None, max_e);
        let bound = grouping_upper_bound(&points, c, max_e);
        for e in 0..=max_e {
            let best = best_grouping_brute_force(&points, e);
            let at = e as usize;
            prop_assert!(island[at] <= polish[at]);
            prop_assert!(polish[at] <= cluster[at], "e = {}: polish {} > cluster {}", e, polish[at], cluster[at]);
            prop_assert!(polish[at] <= best, "e = {}: polish {} > best grouping {}", e, polish[at], best);
            prop_assert!(cluster[at] <= best, "e = {}: cluster {} > best grouping {}", e, cluster[at], best);
            prop_assert!(best <= bound[at], "e = {}: best grouping {} > upper bound {}", e, best, bound[at]);
        }
    }
}

proptest! {
    #![proptest_config(config(200, 0x00c1_0573))]

    /// CLUSTER's groups partition D2 with one member per label slot, its count is the exact
    /// group bound of those groups, and its curves are never below POLISH's.
    #[test]
    fn cluster_partitions_d2_and_never_certifies_less_than_polish(votes in votes_strategy(), tie in tie_strategy()) {
        let points = certify_points(&votes, tie);
        let c = votes.n_classes();
        let needs = Needs::new(&votes, tie);
        let max_e = 80;
        let (polish, polish_label) = polish_counts(&points, c, Some(&needs), max_e);
        let (cluster, cluster_label) = cluster_counts(&points, c, Some(&needs), max_e);
        let (polish_label, cluster_label) = (polish_label.unwrap(), cluster_label.unwrap());
        let by_label = correct_by_label_descending(&points, c);
        // Slot l of a group holds the l-th label some correct input predicts (increasing).
        let slots: Vec<u32> = by_label.iter().map(|list| points[list[0].1].prediction.predicted).collect();
        let mut solver = OneLabelSolver::new();
        for e in 0..=max_e {
            let at = e as usize;
            prop_assert!(cluster[at] >= polish[at], "e = {}", e);
            prop_assert!(cluster_label[at] >= polish_label[at], "e = {}", e);
            prop_assert!(cluster_label[at] >= cluster[at], "e = {}", e);
            for strategy in Sacrifices::ALL {
                let (d1, groups) = cluster_groups(&by_label, &points, e, strategy);
                let mut seen: Vec<usize> = Vec::new();
                let (mut paper, mut one_label) = (d1, d1);
                for g in &groups {
                    prop_assert_eq!(g.len(), slots.len());
                    let members: Vec<usize> = g.iter().copied().filter(|&i| i != EMPTY).collect();
                    for (l, &i) in g.iter().enumerate().filter(|(_, i)| **i != EMPTY) {
                        prop_assert_eq!(points[i].prediction.predicted, slots[l]);
                    }
                    seen.extend(&members);
                    let refs: Vec<&PointCertificate> = members.iter().map(|&i| &points[i]).collect();
                    paper += group_certified(&refs, e) as u64;
                    one_label += group_certified_one_label(&members, &points, &needs, e, &mut solver) as u64;
                }
                seen.sort_unstable();
                let d2: Vec<usize> = (0..points.len())
                    .filter(|&i| points[i].correct() && points[i].margin > e && points[i].margin <= 2 * e)
                    .collect();
                prop_assert_eq!(&seen, &d2);
                // The grid point's own partition is among those the curve takes the best of.
                if e % nncert::certify::cluster::GRID == 0 {
                    prop_assert!(cluster[at] >= paper, "e = {}", e);
                    prop_assert!(cluster_label[at] >= one_label, "e = {}", e);
                }
            }
        }
    }
}

/// Same curves, bytes for bytes, on one thread and on several.
#[test]
fn cluster_curves_do_not_depend_on_the_thread_count() {
    let votes = common::random_rnn_votes(0x7e57_c1a5, 600, 10);
    let mut options = CurveOptions::new(Method::Rnn, "");
    options.joint = vec![
        Certification::Cluster,
        Certification::ClusterLabel,
        Certification::Lp,
        Certification::LpLabel,
        Certification::Best,
    ];
    let run = |threads: usize| common::certify_on_threads(&votes, &options, threads);
    let one = run(1);
    assert!(
        one.curves
            .iter()
            .any(|c| c.certified.iter().any(|&x| x > 0))
    );
    for threads in [2, 3] {
        let many = run(threads);
        assert_eq!(one.curves, many.curves);
        assert_eq!(one.grouping_gap, many.grouping_gap);
    }
}
