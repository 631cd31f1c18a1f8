//! kNN and rNN as base learners of DPA, Finite Aggregation and Run-Off Election:
//!
//! - an exhaustive attacker on tiny 1-D training sets: every poisoning of up to three
//!   insertions and deletions, the real SHA-256 buckets, the real `Ensemble` re-trained and
//!   re-scored through `certify_trained` each time; no poisoning within `ρ` changes a
//!   prediction, and `ρ + 1` operations do on many instances;
//! - abstentions (rNN with an empty ball, empty parts), kNN with `k` beyond a part's size
//!   (the part's majority), the command-line spelling of the learners.

mod common;
use common::multisets;

use nncert::FeatureMatrix;
use nncert::baselines::builtin::certify_trained;
use nncert::baselines::ensemble::{BaseLearner, Ensemble};
use nncert::baselines::spread::Spread;
use nncert::certify::grouping::SplitMix64;
use nncert::neighbours::{Kernel, Metric};

const C: usize = 3;

/// A 1-D training example: position and label; its stored bytes are the position as f32.
type Example = (u8, u32);

fn matrix(xs: &[f32]) -> FeatureMatrix {
    FeatureMatrix {
        n: xs.len(),
        dim: 1,
        data: xs.to_vec(),
    }
}

/// (plurality prediction, ROE prediction, plurality ρ, ROE ρ) of the ensemble trained on
/// `train` with the real buckets, at test position `x0`.
fn certify(learner: BaseLearner, spread: &Spread, train: &[Example], x0: f32) -> [u64; 4] {
    let labels: Vec<u32> = train.iter().map(|e| e.1).collect();
    let records: Vec<u8> = train
        .iter()
        .flat_map(|e| f32::from(e.0).to_le_bytes())
        .collect();
    let members = spread.members(&labels, &records, 4);
    let features: Vec<f32> = train.iter().map(|e| f32::from(e.0)).collect();
    let ensemble = Ensemble::train(learner, &matrix(&features), &labels, C, &members);
    let kernel = Kernel::detect().unwrap();
    let t = certify_trained(
        &ensemble,
        spread,
        &matrix(&[x0]),
        &[0],
        C,
        (Metric::L1, kernel),
        true,
    )
    .unwrap();
    let roe = t.runoff.unwrap()[0];
    let fa = t.plurality[0];
    [
        u64::from(fa.prediction.predicted),
        u64::from(roe.prediction.predicted),
        fa.rho,
        roe.rho,
    ]
}

fn subsets_of_size(n: usize, size: usize) -> Vec<Vec<usize>> {
    if size == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for first in 0..n {
        for mut rest in subsets_of_size(n, size - 1) {
            if rest.first().is_none_or(|&r| r > first) {
                rest.insert(0, first);
                out.push(rest);
            }
        }
    }
    out
}

fn random_spread(rng: &mut SplitMix64) -> Spread {
    match rng.below(3) {
        0 => Spread::dpa(2 + rng.below(3) as usize).unwrap(),
        1 => Spread::seeded(2, 2, rng.below(1000)).unwrap(),
        _ => Spread::seeded(3, 2, rng.below(1000)).unwrap(),
    }
}

/// Every poisoning of at most `MAX_OPS` insertions and deletions, the learner re-trained:
/// none within ρ flips the plurality or the run-off prediction.
fn exhaustive(learner: BaseLearner, seed: u64, instances: usize) -> (u64, u64) {
    const MAX_OPS: usize = 3;
    let mut rng = SplitMix64::new(seed);
    let candidates: Vec<Example> = (0..5u8)
        .flat_map(|p| (0..C as u32).map(move |l| (p, l)))
        .collect();
    let inserts = multisets(candidates.len(), MAX_OPS);
    let (mut tight, mut certified) = (0u64, 0u64);
    for _ in 0..instances {
        let spread = random_spread(&mut rng);
        let n = 5 + rng.below(3) as usize;
        let train: Vec<Example> = (0..n)
            .map(|_| {
                let label = if rng.below(5) < 3 {
                    0
                } else {
                    rng.below(C as u64) as u32
                };
                (rng.below(5) as u8, label)
            })
            .collect();
        let x0 = 2.0;
        let clean = certify(learner, &spread, &train, x0);
        let mut flip = [u64::MAX; 2];
        for removed in (0..=MAX_OPS).flat_map(|r| subsets_of_size(n, r)) {
            let kept: Vec<Example> = (0..n)
                .filter(|j| !removed.contains(j))
                .map(|j| train[j])
                .collect();
            for ins in inserts
                .iter()
                .filter(|i| removed.len() + i.len() <= MAX_OPS)
            {
                let mut poisoned = kept.clone();
                poisoned.extend(ins.iter().map(|&k| candidates[k]));
                let now = certify(learner, &spread, &poisoned, x0);
                let ops = (removed.len() + ins.len()) as u64;
                for w in 0..2 {
                    if now[w] != clean[w] {
                        flip[w] = flip[w].min(ops);
                    }
                }
            }
        }
        for w in 0..2 {
            let rho = clean[2 + w];
            assert!(
                flip[w] > rho,
                "{learner} ({}): ρ = {rho} but {} operations flip {train:?} with {spread:?}",
                ["plurality", "run-off"][w],
                flip[w]
            );
            tight += u64::from(flip[w] == rho + 1);
            certified += u64::from(rho > 0);
        }
    }
    (tight, certified)
}

#[test]
fn knn_base_learners_survive_every_small_poisoning() {
    for (learner, seed) in [(BaseLearner::Knn(1), 1), (BaseLearner::Knn(2), 2)] {
        let (tight, certified) = exhaustive(learner, seed, 8);
        eprintln!("{learner}: ρ + 1 flips {tight}, ρ ≥ 1 {certified} (of 16)");
        // An off-by-one certificate would be caught on these instances.
        assert!(
            tight >= 4 && certified >= 2,
            "{learner}: {tight} {certified}"
        );
    }
}

/// rNN with radius 1 and radius 0 (most models abstain: the run-off and the plurality
/// are decided by a few models).
#[test]
fn rnn_base_learners_survive_every_small_poisoning() {
    let (mut tight, mut certified) = (0, 0);
    for (learner, seed) in [(BaseLearner::Rnn(1.0), 3), (BaseLearner::Rnn(0.0), 4)] {
        let (t, c) = exhaustive(learner, seed, 12);
        eprintln!("{learner}: ρ + 1 flips {t}, ρ ≥ 1 {c} (of 24)");
        (tight, certified) = (tight + t, certified + c);
    }
    assert!(tight >= 8 && certified >= 4, "{tight} {certified}");
}

/// rNN abstains on an empty ball (and every learner on an empty part); kNN with `k`
/// beyond a part's size is the part's majority, whatever the test input.
#[test]
fn abstentions_and_majorities() {
    let kernel = Kernel::detect().unwrap();
    // Two parts: {0.0: label 1, 1.0: label 1, 9.0: label 2} and {} (abstains).
    let train = matrix(&[0.0, 1.0, 9.0]);
    let labels = [1, 1, 2];
    let members = vec![vec![0, 1, 2], vec![]];
    let test = matrix(&[0.5, 9.0, 20.0]);
    let votes = |learner| {
        Ensemble::train(learner, &train, &labels, C, &members).votes(&test, C, Metric::L1, kernel)
    };
    // rNN r = 1: test 0.5 sees two 1s; test 9 sees the 2; test 20 sees nobody: abstains.
    assert_eq!(votes(BaseLearner::Rnn(1.0)), [0, 1, 0, 0, 0, 1, 0, 0, 0]);
    // kNN with k ≥ 3: the part's majority (label 1) everywhere, the empty part abstains.
    for k in [3, 4, 1000] {
        assert_eq!(
            votes(BaseLearner::Knn(k)),
            [0, 1, 0, 0, 1, 0, 0, 1, 0],
            "k = {k}"
        );
    }
    // kNN k = 1: the nearest member.
    assert_eq!(votes(BaseLearner::Knn(1)), [0, 1, 0, 0, 0, 1, 0, 0, 1]);
    // kNN k = 2 at 9.0: {9.0 → 2, 1.0 → 1} tie, the smaller label wins.
    assert_eq!(votes(BaseLearner::Knn(2)), [0, 1, 0, 0, 1, 0, 0, 1, 0]);

    // An abstaining rNN model ranks no label, so ROE does not count it either.
    let spread = Spread::dpa(2).unwrap();
    let t = certify_trained(
        &Ensemble::train(BaseLearner::Rnn(1.0), &train, &labels, C, &members),
        &spread,
        &test,
        &[1, 2, 1],
        C,
        (Metric::L1, kernel),
        true,
    )
    .unwrap();
    assert_eq!(t.counts, [0, 1, 0, 0, 0, 1, 0, 0, 0]);
    let roe = t.runoff.unwrap();
    assert_eq!(roe[2].prediction.votes_predicted, 0);
    assert_eq!(roe[2].prediction.votes_runner_up, 0);
}

#[test]
fn learners_are_spelled_as_on_the_command_line() {
    for s in ["centroid", "1nn", "knn:5", "rnn:20", "rnn:0.5"] {
        let l: BaseLearner = s.parse().unwrap();
        assert_eq!(l.to_string(), s);
    }
    for bad in [
        "knn", "knn:0", "knn:-1", "rnn:", "rnn:-1", "rnn:nan", "rnn:inf", "2nn", "",
    ] {
        let e = bad.parse::<BaseLearner>().unwrap_err().to_string();
        assert!(
            e.contains("base learner") && !e.contains('\n'),
            "{bad}: {e}"
        );
    }
}
