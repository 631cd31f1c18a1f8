//! SEARCH, the grouping built for the one-label bound (`docs/JOINT.md`): its groups are a
//! real partition of D2, every value of its curve is the exact one-label count of a real
//! partition at that very `e` (or `cluster-label`'s), it is never below `cluster-label`, and
//! it does not depend on the thread count. Soundness against every real poisoning of tiny
//! instances is checked in `exhaustive_attacker.rs`.

mod common;

use nncert::certify::label_search::{SEARCH_GRID, search_partition};
use nncert::certify::one_label::{
    Needs, OneLabelSolver, correct_by_label_descending, group_certified_one_label,
};
use nncert::certify::polish::EMPTY;
use nncert::certify::sweep::sweep_counts;
use nncert::certify::{PointCertificate, certify_points};
use nncert::{Certification, CurveOptions, Method, TieRule, Votes};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Random votes with margins spread from 1 to a few dozen, `c` classes.
fn votes_strategy() -> impl Strategy<Value = Votes> {
    (2usize..7, 1usize..70).prop_flat_map(|(c, n)| {
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

/// The exact one-label count at `e` of a partition of some test inputs (the others alone):
/// inputs with `g > 2e` are certified wherever they are.
fn count_at(groups: &[Vec<usize>], points: &[PointCertificate], needs: &Needs, e: u64) -> u64 {
    let mut solver = OneLabelSolver::new();
    let grouped: Vec<usize> = groups
        .iter()
        .flatten()
        .copied()
        .filter(|&i| i != EMPTY)
        .collect();
    let alone = (0..points.len())
        .filter(|i| !grouped.contains(i))
        .filter(|&i| points[i].certified_at(e))
        .count() as u64;
    alone
        + groups
            .iter()
            .map(|g| {
                let members: Vec<usize> = g.iter().copied().filter(|&i| i != EMPTY).collect();
                group_certified_one_label(&members, points, needs, e, &mut solver) as u64
            })
            .sum::<u64>()
}

proptest! {
    #![proptest_config(Config {
        cases: 200,
        rng_seed: RngSeed::Fixed(0x5ea7_c401),
        failure_persistence: None,
        ..Config::default()
    })]

    /// SEARCH's groups partition D2 with one member per label slot; at every `e` its curve
    /// is `cluster-label`'s or the exact one-label count, at that `e`, of the partition
    /// searched at the next grid point; so it is never below `cluster-label`.
    #[test]
    fn search_partitions_d2_and_reports_exact_counts(votes in votes_strategy(), tie in tie_strategy()) {
        let points = certify_points(&votes, tie);
        let c = votes.n_classes();
        let needs = Needs::new(&votes, tie);
        let max_e = 60;
        let swept = sweep_counts(&points, c, Some(&needs), max_e, true);
        let (cluster_label, search) = (swept.cluster_label.unwrap(), swept.search_label.unwrap());
        prop_assert_eq!(search.len(), max_e as usize + 1);
        let last = points.iter().filter(|p| p.correct()).map(|p| p.margin).max().unwrap_or(0).min(max_e);
        // Slot l of a group holds the l-th label some correct input predicts (increasing).
        let slots: Vec<u32> = correct_by_label_descending(&points, c)
            .iter()
            .map(|list| points[list[0].1].prediction.predicted)
            .collect();
        for e in 0..=max_e {
            let at = e as usize;
            prop_assert!(search[at] >= cluster_label[at], "e = {}", e);
            if e > last {
                prop_assert_eq!(search[at], cluster_label[at]);
                continue;
            }
            let grid = (e.div_ceil(SEARCH_GRID) * SEARCH_GRID).min(last);
            let groups = search_partition(&points, &needs, grid);
            if e == grid {
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
            }
            let exact = count_at(&groups, &points, &needs, e);
            prop_assert_eq!(
                search[at],
                exact.max(cluster_label[at]),
                "e = {}: partition built at {}", e, grid
            );
        }
    }
}

/// Same `search-label` and `best` curves, byte for byte, on one thread and on several.
#[test]
fn search_curves_do_not_depend_on_the_thread_count() {
    let votes = common::random_rnn_votes(0x5ea7_7a11, 600, 10);
    let mut options = CurveOptions::new(Method::Rnn, "");
    options.joint = vec![
        Certification::ClusterLabel,
        Certification::SearchLabel,
        Certification::Best,
    ];
    let run = |threads: usize| common::certify_on_threads(&votes, &options, threads);
    let one = run(1);
    let (cluster, search) = (&one.curves[1].certified, &one.curves[2].certified);
    assert!(
        search.iter().zip(cluster).any(|(s, c)| s > c),
        "the search should find something here"
    );
    for threads in [2, 3] {
        let many = run(threads);
        assert_eq!(one.curves, many.curves);
    }
}

/// Tie-heavy rNN votes: every label 0–3 votes and the true label 0–7 more, each times
/// `scale`, so margins and needs collide everywhere (equal costs, equal thresholds, ties
/// between groups); with a `scale` above 1 the curves are long enough for the grids.
fn tie_heavy_votes(seed: u64, n: usize, c: usize, scale: u32) -> Votes {
    let mut rng = nncert::SplitMix64::new(seed);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(c as u64) as u32).collect();
    let counts: Vec<u32> = (0..n * c)
        .map(|k| {
            scale
                * (rng.below(4) as u32
                    + if labels[k / c] as usize == k % c {
                        rng.below(8) as u32
                    } else {
                        0
                    })
        })
        .collect();
    Votes::new(counts, c, labels).unwrap()
}

/// The curves `best` is assembled from, on seeded instances, one line per instance and
/// certification: `name certification count count …` (counts from `e = 0`).
fn golden_lines() -> String {
    let instances: [(&str, Votes, TieRule); 5] = [
        (
            "random-600x10",
            common::random_rnn_votes(0x601d_0001, 600, 10),
            TieRule::Larger,
        ),
        (
            "random-300x3",
            common::random_rnn_votes(0x601d_0002, 300, 3),
            TieRule::Smaller,
        ),
        (
            "ties-500x4",
            tie_heavy_votes(0x601d_0003, 500, 4, 1),
            TieRule::Smaller,
        ),
        (
            "ties-400x10",
            tie_heavy_votes(0x601d_0004, 400, 10, 1),
            TieRule::Larger,
        ),
        (
            "ties-x10-500x6",
            tie_heavy_votes(0x601d_0005, 500, 6, 10),
            TieRule::Larger,
        ),
    ];
    let mut out = String::new();
    for (name, votes, tie) in instances {
        let mut options = CurveOptions::new(Method::Rnn, "");
        options.tie = tie;
        options.joint = vec![
            Certification::IslandLabel,
            Certification::Cluster,
            Certification::ClusterLabel,
            Certification::SearchLabel,
            Certification::Best,
        ];
        let result = nncert::certify_votes(&votes, &options).unwrap();
        for curve in &result.curves {
            let counts: Vec<String> = curve.certified.iter().map(u64::to_string).collect();
            out += &format!("{name} {} {}\n", curve.certification, counts.join(" "));
        }
    }
    out
}

/// `best` and the curves it is assembled from, count for count, as the code before the
/// windowed evaluation and the shared seeds computed them (`tests/fixtures/best_golden.txt`,
/// written by that code; `NNCERT_BLESS=1` rewrites it — only when the numbers are meant to
/// change, and then the change must be explained in `docs/REPRODUCTION.md`).
#[test]
fn best_matches_the_golden_curves() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/best_golden.txt");
    let lines = golden_lines();
    if std::env::var_os("NNCERT_BLESS").is_some() {
        std::fs::write(&path, &lines).unwrap();
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the golden curves of best)", path.display()));
    for (k, (got, want)) in lines.lines().zip(golden.lines()).enumerate() {
        assert_eq!(got, want, "line {} of {}", k + 1, path.display());
    }
    assert_eq!(lines.lines().count(), golden.lines().count());
}
