//! Property tests (fixed seeds) of the certificate engine on random votes matrices, and the
//! fast curve code against slow twins written straight from SPEC §3–4.

use nncert::certify::grouping::{Partition, island_counts};
use nncert::certify::individual::individual_counts;
use nncert::certify::joint::group_certified;
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

/// ISLAND exactly as SPEC §4 words it, recomputed from scratch for every e.
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
            prop_assert_eq!(best.certified[e], ind.certified[e].max(island.certified[e]).max(rd.certified[e]));
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
