//! The neighbour engine against its slow twins: every SIMD kernel against the scalar
//! reference bit for bit, and the whole search against a naive full sort, on seeded random
//! data with constructed distance ties and radius-boundary cases.

use nncert::features::FeatureMatrix;
use nncert::neighbours::kernel::scalar;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, search};
use nncert::rank::tie_break_positions;
use nncert::rng::SplitMix64;

const METRICS: [Metric; 3] = [Metric::L1, Metric::L2, Metric::Linf];

fn random_rows(rng: &mut SplitMix64, n: usize, dim: usize, scale: f32) -> Vec<f32> {
    (0..n * dim)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * scale)
        .collect()
}

#[test]
fn every_kernel_matches_the_scalar_reference_bit_for_bit() {
    let mut rng = SplitMix64::new(11);
    let kernels = Kernel::available();
    eprintln!("kernels on this CPU: {kernels:?}");
    let mut compared = 0;
    for dim in [16usize, 32, 48, 96, 336, 800] {
        for scale in [1.0f32, 255.0, 1e-3] {
            // Mixed signs; 4 queries and a tile of 12 rows.
            let data: Vec<f32> = random_rows(&mut rng, 16, dim, scale)
                .into_iter()
                .enumerate()
                .map(|(i, v)| if i % 7 == 3 { -v } else { v })
                .collect();
            let q: [&[f32]; 4] = std::array::from_fn(|i| &data[i * dim..(i + 1) * dim]);
            let rows = &data[4 * dim..];
            let n_rows = rows.len() / dim;
            for metric in METRICS {
                let mut reference = vec![0f32; 4 * n_rows];
                scalar::tile(metric, q, rows, dim, &mut reference);
                for (i, r) in reference.iter().enumerate() {
                    let (qi, t) = (i / n_rows, i % n_rows);
                    let row = &rows[t * dim..(t + 1) * dim];
                    assert_eq!(r.to_bits(), scalar::distance(metric, q[qi], row).to_bits());
                }
                for &k in &kernels {
                    let mut got = vec![0f32; 4 * n_rows];
                    k.tile(metric, q, rows, dim, &mut got);
                    let same = got
                        .iter()
                        .zip(&reference)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{k} {metric} dim {dim} scale {scale}: {got:?} vs {reference:?}"
                    );
                    compared += got.len();
                }
            }
        }
    }
    assert!(compared > 0);
}

/// Every training example in the order of METHOD §2 for query `q`: (distance, position, index).
fn naive_order(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    metric: Metric,
    q: usize,
) -> Vec<(f32, u32, usize)> {
    let pad = |m: &FeatureMatrix, i: usize| {
        let mut r = m.row(i).to_vec();
        r.resize(m.dim.div_ceil(16) * 16, 0.0);
        r
    };
    let a = pad(test, q);
    let mut order: Vec<(f32, u32, usize)> = (0..reference.features.n)
        .map(|j| {
            (
                scalar::distance(metric, &a, &pad(reference.features, j)),
                reference.positions[j],
                j,
            )
        })
        .collect();
    order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    order
}

/// Naive reference: all distances with the scalar kernel, one full sort per query.
fn naive(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    metric: Metric,
    ks: &[usize],
    radii: &[f64],
) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let (train, labels, positions, c) = (
        reference.features,
        reference.labels,
        reference.positions,
        reference.n_classes,
    );
    let pad = |m: &FeatureMatrix, i: usize| {
        let mut r = m.row(i).to_vec();
        r.resize(m.dim.div_ceil(16) * 16, 0.0);
        r
    };
    let mut knn = vec![Vec::new(); ks.len()];
    let mut rnn = vec![Vec::new(); radii.len()];
    for q in 0..test.n {
        let a = pad(test, q);
        let mut order: Vec<(f32, u32, usize)> = (0..train.n)
            .map(|j| {
                (
                    scalar::distance(metric, &a, &pad(train, j)),
                    positions[j],
                    j,
                )
            })
            .collect();
        order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        for (ki, &k) in ks.iter().enumerate() {
            let mut v = vec![0u32; c];
            for &(_, _, j) in order.iter().take(k) {
                v[labels[j] as usize] += 1;
            }
            knn[ki].extend(v);
        }
        for (ri, &r) in radii.iter().enumerate() {
            let mut v = vec![0u32; c];
            for &(d, _, j) in &order {
                if f64::from(d) <= r {
                    v[labels[j] as usize] += 1;
                }
            }
            rnn[ri].extend(v);
        }
    }
    (knn, rnn)
}

#[test]
fn search_matches_a_naive_full_sort_with_ties_and_radius_boundaries() {
    let mut rng = SplitMix64::new(12);
    let mut checked = 0;
    for case in 0..24 {
        let dim = [3usize, 16, 17, 81][case % 4];
        // Some training sets large enough that the sampled top-k threshold is used.
        let n_train = if case % 3 == 0 {
            1500 + rng.below(1500) as usize
        } else {
            50 + rng.below(300) as usize
        };
        let n_test = 1 + (rng.below(130) as usize);
        let c = 2 + (rng.below(4) as usize);
        // Small integer features: many exact distance ties and distances exactly equal to
        // integer radii.
        let mut train: Vec<f32> = (0..n_train * dim).map(|_| rng.below(4) as f32).collect();
        let mut labels: Vec<u32> = (0..n_train).map(|_| rng.below(c as u64) as u32).collect();
        // Duplicate training points (same features, other labels → other ranks).
        for j in 0..n_train / 5 {
            let src = rng.below(n_train as u64) as usize;
            let dst = (j * 5 + 3) % n_train;
            let row: Vec<f32> = train[src * dim..(src + 1) * dim].to_vec();
            train[dst * dim..(dst + 1) * dim].copy_from_slice(&row);
            labels[dst] = (labels[src] + 1) % c as u32;
        }
        let test: Vec<f32> = (0..n_test * dim).map(|_| rng.below(4) as f32).collect();
        let records: Vec<u8> = train.iter().flat_map(|v| v.to_le_bytes()).collect();
        let positions = tie_break_positions(&labels, &records, dim * 4);
        let train_m = FeatureMatrix {
            n: n_train,
            dim,
            data: train,
        };
        let test_m = FeatureMatrix {
            n: n_test,
            dim,
            data: test,
        };
        let test_labels: Vec<u32> = (0..n_test).map(|_| rng.below(c as u64) as u32).collect();
        let ks = if case % 2 == 0 {
            vec![1, 7, 30, n_train + 5]
        } else {
            vec![1, 7, 30, 120]
        };
        let radii = vec![0.0, 1.0, 2.0, 3.0, 5.5];
        let reference = Reference {
            features: &train_m,
            labels: &labels,
            positions: &positions,
            n_classes: c,
        };
        for metric in METRICS {
            let (want_knn, want_rnn) = naive(reference, &test_m, metric, &ks, &radii);
            for kernel in Kernel::available() {
                let config = SearchConfig {
                    metric,
                    ks: ks.clone(),
                    radii: radii.clone(),
                    kernel,
                    keep_neighbours: true,
                };
                let got = search(reference, &test_m, &test_labels, &config, &|_| {}).unwrap();
                let lists = got
                    .neighbours
                    .as_ref()
                    .expect("neighbour lists were asked for");
                let k_max = (*ks.iter().max().unwrap()).min(n_train);
                for q in 0..n_test {
                    let order = naive_order(reference, &test_m, metric, q);
                    let want: Vec<u32> = order
                        .iter()
                        .take(k_max)
                        .map(|&(_, _, j)| j as u32)
                        .collect();
                    let have: Vec<u32> = lists.knn[q].iter().map(|n| n.index).collect();
                    assert_eq!(
                        have, want,
                        "case {case} {metric} {kernel} query {q}: kNN list"
                    );
                    let r_max = radii.iter().cloned().fold(0.0, f64::max);
                    let want: Vec<u32> = order
                        .iter()
                        .filter(|x| f64::from(x.0) <= r_max)
                        .map(|&(_, _, j)| j as u32)
                        .collect();
                    let have: Vec<u32> = lists.rnn[q].iter().map(|n| n.index).collect();
                    assert_eq!(
                        have, want,
                        "case {case} {metric} {kernel} query {q}: rNN list"
                    );
                }
                for (ki, kv) in got.knn.iter().enumerate() {
                    assert_eq!(
                        kv.votes.counts(),
                        &want_knn[ki][..],
                        "case {case} {metric} {kernel} k={}",
                        kv.k
                    );
                }
                for (ri, rv) in got.rnn.iter().enumerate() {
                    assert_eq!(
                        rv.votes.counts(),
                        &want_rnn[ri][..],
                        "case {case} {metric} {kernel} r={}",
                        rv.radius
                    );
                    let empty = want_rnn[ri]
                        .chunks(c)
                        .filter(|r| r.iter().all(|&v| v == 0))
                        .count();
                    assert_eq!(rv.empty, empty);
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 72);
}

#[test]
fn search_is_identical_for_every_thread_count() {
    let mut rng = SplitMix64::new(13);
    let (n_train, n_test, dim, c) = (700, 300, 40, 5);
    let train = FeatureMatrix {
        n: n_train,
        dim,
        data: random_rows(&mut rng, n_train, dim, 1.0),
    };
    let test = FeatureMatrix {
        n: n_test,
        dim,
        data: random_rows(&mut rng, n_test, dim, 1.0),
    };
    let labels: Vec<u32> = (0..n_train).map(|i| (i % c) as u32).collect();
    let records: Vec<u8> = train.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let positions = tie_break_positions(&labels, &records, dim * 4);
    let test_labels = vec![0u32; n_test];
    let config = SearchConfig {
        metric: Metric::L1,
        ks: vec![5, 50, 300],
        radii: vec![10.0, 13.0],
        kernel: Kernel::detect().unwrap(),
        keep_neighbours: false,
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let r = Reference {
                features: &train,
                labels: &labels,
                positions: &positions,
                n_classes: c,
            };
            search(r, &test, &test_labels, &config, &|_| {}).unwrap()
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}
