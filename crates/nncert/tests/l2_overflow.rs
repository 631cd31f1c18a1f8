//! Found by an independent review: an ℓ2 distance whose f32 sum of squares overflows to +∞
//! was taken to be at least `f32::MAX` (the ℓ1 reading of an overflowed sum), so such a
//! training row escaped the exact recheck: a ball of radius r ≥ 2^64 missed it, and a kNN
//! query picked the wrong nearest. Every kernel must now agree with exact arithmetic.

use nncert::features::FeatureMatrix;
use nncert::neighbours::exact::exact_key;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, SearchResult, search};

fn run(
    train: Vec<f32>,
    n: usize,
    dim: usize,
    labels: Vec<u32>,
    ks: Vec<usize>,
    radii: Vec<f64>,
    kernel: Kernel,
) -> SearchResult {
    let train = FeatureMatrix {
        n,
        dim,
        data: train,
    };
    let test = FeatureMatrix {
        n: 1,
        dim,
        data: vec![0.0; dim],
    };
    let positions: Vec<u32> = (0..n as u32).collect();
    let reference = Reference {
        features: &train,
        labels: &labels,
        positions: &positions,
        n_classes: 2,
    };
    let config = SearchConfig {
        metric: Metric::L2,
        ks,
        radii,
        kernel,
        keep_neighbours: true,
    };
    search(reference, &test, &[0u32], &config, &|_| {}).unwrap()
}

#[test]
fn a_ball_holds_a_point_whose_squared_distance_overflows() {
    // One training row at 2^64 from the query: D = 2^64 exactly, D² overflows f32.
    for kernel in Kernel::available() {
        let r = run(
            vec![2f32.powi(64)],
            1,
            1,
            vec![1],
            vec![],
            vec![1e20, 2f64.powi(64)],
            kernel,
        );
        assert_eq!(r.rnn[0].votes.row(0), [0, 1], "{kernel}, r = 1e20");
        assert_eq!(r.rnn[1].votes.row(0), [0, 1], "{kernel}, r = 2^64");
    }
}

#[test]
fn the_nearest_is_exact_when_a_squared_distance_overflows() {
    let dim = 96;
    let mut a = vec![0f32; dim];
    a[0] = f32::from_bits(0x5f7f_ffff); // 2^64 (1 − 2^-24)
    for j in [16, 32, 48, 64, 80] {
        a[j] = f32::from_bits(0x5935_04f3); // squares ≈ 2^103 each, absorbed in f32
    }
    let mut b = vec![0f32; dim];
    b[0] = 2f32.powi(64);
    let q = vec![0f32; dim];
    // Exactly, B (label 1) is nearer than A (label 0).
    assert!(exact_key(Metric::L2, &q, &a) > exact_key(Metric::L2, &q, &b));
    let mut train = a.clone();
    train.extend(&b);
    for kernel in Kernel::available() {
        let r = run(train.clone(), 2, dim, vec![0, 1], vec![1], vec![], kernel);
        assert_eq!(r.knn[0].votes.row(0), [0, 1], "{kernel}");
    }
}
