//! Certificate engine speed: 10,000 test inputs × 10 classes, every e up to 3,000,
//! individual + ISLAND + RD (the target: well under a second).
//!
//! Run: `cargo bench -p nncert --bench certify`

use criterion::{Criterion, criterion_group, criterion_main};
use nncert::rng::SplitMix64;
use nncert::{Certification, CurveOptions, Method, Votes, certify_votes};

/// rNN-like votes whose margins reach several thousand, so that D2 is large for every e.
fn votes(n_test: usize, n_classes: usize, max_ball: u64) -> Votes {
    let mut rng = SplitMix64::new(42);
    let mut counts = vec![0u32; n_test * n_classes];
    let mut labels = Vec::with_capacity(n_test);
    for i in 0..n_test {
        let y = rng.below(n_classes as u64) as usize;
        labels.push(y as u32);
        let row = &mut counts[i * n_classes..(i + 1) * n_classes];
        let ball = rng.below(max_ball) as u32;
        let own = ball / 100 * (40 + rng.below(61) as u32);
        row[y] = own;
        for _ in 0..(ball - own) / 16 {
            row[rng.below(n_classes as u64) as usize] += 16;
        }
    }
    Votes::new(counts, n_classes, labels).unwrap()
}

fn bench(c: &mut Criterion) {
    let v = votes(10_000, 10, 6_000);
    let mut group = c.benchmark_group("certify_10k_x10_e3000");
    group.sample_size(20);
    for joint in [
        vec![],
        vec![Certification::Island],
        vec![Certification::Rd],
        vec![Certification::Island, Certification::Rd],
    ] {
        let mut options = CurveOptions::new(Method::Rnn, "4");
        options.joint = joint.clone();
        options.max_e = Some(3_000);
        let name = format!("individual+{joint:?}");
        group.bench_function(name, |b| b.iter(|| certify_votes(&v, &options).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
