//! Votes on real MNIST HOG features against a naive float64 reference: the same features,
//! distances summed in f64, one full sort per query. The search decides every comparison
//! as exact arithmetic does (`docs/SEARCH.md`), so no row may differ, unless the float64
//! reference itself cannot separate two values (a gap below its own rounding, ~1e-12).
//!
//! `NNCERT_MNIST_QUERIES` sets how many test inputs are checked (default 300; 10000 = all).

mod common;

use nncert::data::{DatasetSpec, load};
use nncert::features::{FeatureKind, HogParams, extract};
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, search};
use nncert::rank::tie_break_positions;

#[test]
fn mnist_votes_agree_with_a_float64_reference() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let d = load(&DatasetSpec::Mnist(dir)).unwrap();
    let hog = FeatureKind::Hog(HogParams::default());
    let train = extract(&d, &d.train, hog).unwrap();
    let test_all = extract(&d, &d.test, hog).unwrap();
    let n_q: usize = std::env::var("NNCERT_MNIST_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
        .min(test_all.n);
    let test = nncert::features::FeatureMatrix {
        n: n_q,
        dim: test_all.dim,
        data: test_all.data[..n_q * test_all.dim].to_vec(),
    };
    let positions = tie_break_positions(&d.train.labels, &d.train.records, d.train.record_len);
    let ks = [1000usize, 3000, 5000];
    let radii = [3.0f64, 4.0, 5.0];
    let config = SearchConfig {
        metric: Metric::L1,
        ks: ks.to_vec(),
        radii: radii.to_vec(),
        kernel: Kernel::detect().unwrap(),
        keep_neighbours: false,
    };
    let reference = Reference {
        features: &train,
        labels: &d.train.labels,
        positions: &positions,
        n_classes: 10,
    };
    let got = search(reference, &test, &d.test.labels[..n_q], &config, &|_| {}).unwrap();

    // Float64 rounding of an ℓ1 sum of 81 terms of size ≤ 1: below 1e-12.
    let tol = 1e-12;
    let (mut knn_diff, mut rnn_diff) = (0, 0);
    for q in 0..n_q {
        let a = test.row(q);
        let mut order: Vec<(f64, u32, usize)> = (0..train.n)
            .map(|j| {
                let dist: f64 = a
                    .iter()
                    .zip(train.row(j))
                    .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
                    .sum();
                (dist, positions[j], j)
            })
            .collect();
        order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        for (ki, &k) in ks.iter().enumerate() {
            let mut want = [0u32; 10];
            for &(_, _, j) in &order[..k] {
                want[d.train.labels[j] as usize] += 1;
            }
            if got.knn[ki].votes.row(q) != want {
                knn_diff += 1;
                let gap = order[k].0 - order[k - 1].0;
                assert!(
                    gap < tol,
                    "query {q}, k = {k}: votes differ from float64 (gap {gap})"
                );
            }
        }
        for (ri, &r) in radii.iter().enumerate() {
            let mut want = [0u32; 10];
            for &(dist, _, j) in &order {
                if dist <= r {
                    want[d.train.labels[j] as usize] += 1;
                }
            }
            if got.rnn[ri].votes.row(q) != want {
                rnn_diff += 1;
                let near = order.iter().any(|&(dist, _, _)| (dist - r).abs() < tol);
                assert!(near, "query {q}, r = {r}: votes differ from float64");
            }
        }
    }
    eprintln!(
        "{n_q} MNIST test points × (3 k + 3 r): kNN rows differing from float64 {knn_diff}, rNN rows {rnn_diff} (only where float64 itself cannot separate)"
    );
}
