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

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, in
/// USER_HZ = 100 ticks), `None` elsewhere. On a machine shared with other builds the wall
/// time measures the load as much as the code; the CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Prints the checksum of `run`'s certificates and the smallest CPU time of 3 runs.
fn checksum_and_cpu(name: &str, run: impl Fn() -> Vec<AggregateCertificate>) {
    let mut best = f64::INFINITY;
    let mut sum = 0;
    for _ in 0..3 {
        let start = cpu_seconds();
        sum = checksum(&run());
        if let (Some(a), Some(b)) = (start, cpu_seconds()) {
            best = best.min(b - a);
        }
    }
    eprintln!("checksum {name}: {sum:016x}; CPU time (best of 3): {best:.2} s");
}

fn bench(c: &mut Criterion) {
    let (scores, labels) = logits();
    let m = K * D;
    let rankings = ModelRankings::from_scores(&scores, m, C, labels.clone()).unwrap();
    let fa = Spread::seeded(K, D, 0).unwrap();
    let dpa = Spread::dpa(m).unwrap();
    checksum_and_cpu("dpa", || fa_certificates(rankings.votes(), &dpa).unwrap());
    checksum_and_cpu("fa_d16", || fa_certificates(rankings.votes(), &fa).unwrap());
    checksum_and_cpu("roe_dpa", || roe_certificates(&rankings, &dpa).unwrap());
    checksum_and_cpu("roe_fa_d16", || roe_certificates(&rankings, &fa).unwrap());
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
