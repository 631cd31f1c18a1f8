//! Partition-ensemble certificates: 10,000 test inputs × 1,008 base models (FA: k = 63,
//! d = 16; the 1,000 models rounded up to a multiple of d), 10 labels. The
//! target: each under a second on 2 cores.
//!
//! Run: `cargo bench -p nncert --bench ensembles`

use criterion::{Criterion, criterion_group, criterion_main};
use nncert::baselines::aggregation::{AggregateCertificate, fa_certificates};
use nncert::baselines::model_outputs::ModelRankings;
use nncert::baselines::runoff::roe_certificates;
use nncert::baselines::spread::Spread;
use nncert::certify::grouping::SplitMix64;

const N_TEST: usize = 10_000;
const K: usize = 63;
const D: usize = 16;
const C: usize = 10;

/// Logits of models that are right about 60 % of the time, with random scores otherwise.
fn logits() -> (Vec<f32>, Vec<u32>) {
    let m = K * D;
    let mut rng = SplitMix64::new(7);
    let mut scores = Vec::with_capacity(N_TEST * m * C);
    let mut labels = Vec::with_capacity(N_TEST);
    for _ in 0..N_TEST {
        let y = rng.below(C as u64) as usize;
        labels.push(y as u32);
        for _ in 0..m {
            let boost = rng.below(10) < 6;
            for l in 0..C {
                let mut s = rng.below(1 << 20) as f32 / (1 << 20) as f32;
                if boost && l == y {
                    s += 1.0;
                }
                scores.push(s);
            }
        }
    }
    (scores, labels)
}

/// FNV-1a of every (prediction, ρ): printed once per method, so that a speed change can be
/// checked to leave every certificate bit-identical (compare the lines before and after).
fn checksum(certs: &[AggregateCertificate]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for c in certs {
        for x in [u64::from(c.prediction.predicted), c.rho] {
            h = (h ^ x).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

fn bench(c: &mut Criterion) {
    let (scores, labels) = logits();
    let m = K * D;
    let rankings = ModelRankings::from_scores(&scores, m, C, labels.clone()).unwrap();
    let fa = Spread::seeded(K, D, 0).unwrap();
    let dpa = Spread::dpa(m).unwrap();
    for (name, certs) in [
        ("dpa", fa_certificates(rankings.votes(), &dpa).unwrap()),
        ("fa_d16", fa_certificates(rankings.votes(), &fa).unwrap()),
        ("roe_dpa", roe_certificates(&rankings, &dpa).unwrap()),
        ("roe_fa_d16", roe_certificates(&rankings, &fa).unwrap()),
    ] {
        eprintln!("checksum {name}: {:016x}", checksum(&certs));
    }
    let mut group = c.benchmark_group("ensembles_10k_x1008_c10");
    group.sample_size(10);
    group.bench_function("rank_logits", |b| {
        b.iter(|| ModelRankings::from_scores(&scores, m, C, labels.clone()).unwrap())
    });
    group.bench_function("dpa", |b| {
        b.iter(|| fa_certificates(rankings.votes(), &dpa).unwrap())
    });
    group.bench_function("fa_d16", |b| {
        b.iter(|| fa_certificates(rankings.votes(), &fa).unwrap())
    });
    group.bench_function("roe_dpa", |b| {
        b.iter(|| roe_certificates(&rankings, &dpa).unwrap())
    });
    group.bench_function("roe_fa_d16", |b| {
        b.iter(|| roe_certificates(&rankings, &fa).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
