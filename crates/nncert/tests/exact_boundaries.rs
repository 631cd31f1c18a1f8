//! Exactness at the decision boundary on adversarial data: the search must return the
//! neighbour sets, their order and the votes of exact arithmetic on the f32 inputs, for
//! every metric, kernel and thread count, byte for byte.
//!
//! Every feature is a multiple of 1/8 below 2^23, so 8·feature is an integer and the exact
//! distances are computed here independently, in i128 (ℓ2 compared by 64·D²). The data
//! is built so that float32 sums cannot separate the candidates: one coordinate holds a
//! large offset (2^22) that swallows the small parts of the sum, features near 2^20 with
//! differences of 1/8 (large norms, tiny differences), duplicate rows under other labels,
//! radii equal to exact distances of training rows (and their f64 neighbours), and many
//! near-ties at the k-th place.

use nncert::certify::grouping::SplitMix64;
use nncert::features::FeatureMatrix;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, SearchResult, search};
use nncert::rank::tie_break_positions;

const METRICS: [Metric; 4] = [Metric::L1, Metric::L2, Metric::Linf, Metric::Ip];

/// Exact distance key in i128: 8·ℓ1, 64·ℓ2², 8·ℓ∞, −64·a·b (inner product and cosine,
/// whose rows here already have unit length).
fn exact(metric: Metric, a: &[f32], b: &[f32]) -> i128 {
    let eight = |x: f32| (x as f64 * 8.0) as i128;
    let diffs = a.iter().zip(b).map(|(&x, &y)| eight(x) - eight(y));
    match metric {
        Metric::L1 => diffs.map(i128::abs).sum(),
        Metric::L2 => diffs.map(|d| d * d).sum(),
        Metric::Linf => diffs.map(i128::abs).max().unwrap_or(0),
        Metric::Ip | Metric::Cosine => -a
            .iter()
            .zip(b)
            .map(|(&x, &y)| eight(x) * eight(y))
            .sum::<i128>(),
    }
}

/// floor(x) of a finite f64 as an integer.
fn floor_int(x: f64) -> i128 {
    x.floor() as i128
}

/// Whether the exact key is within radius `r` (an f64): ℓ1/ℓ∞ compare key/8 ≤ r, ℓ2
/// compares key/64 ≤ r², both exactly (r = m·2^e in integers).
fn within(metric: Metric, key: i128, r: f64) -> bool {
    match metric {
        // a·b ≥ r  ⟺  key = −64·a·b ≤ −64 r  ⟺  key ≤ floor(−64 r).
        Metric::Ip => return key <= floor_int(-64.0 * r),
        // 1 − a·b ≤ r  ⟺  64 + key ≤ 64 r.
        Metric::Cosine => return key + 64 <= floor_int(64.0 * r),
        _ => {}
    }
    let (m, e) = decompose(r);
    let (lhs, lhs_exp, rhs, rhs_exp) = match metric {
        Metric::L2 => (key as u128, -6, (m * m) as u128, 2 * e),
        _ => (key as u128, -3, m as u128, e),
    };
    // lhs·2^lhs_exp ≤ rhs·2^rhs_exp, shifting whichever side has the larger exponent.
    if lhs == 0 {
        return true;
    }
    if rhs == 0 {
        return false;
    }
    let shift = rhs_exp - lhs_exp;
    if shift >= 0 {
        // rhs·2^shift ≥ 2^128 > lhs when it would overflow.
        rhs.leading_zeros() as i32 <= shift || lhs <= rhs << shift
    } else {
        (lhs.leading_zeros() as i32) > -shift && lhs << -shift <= rhs
    }
}

/// r = m·2^e with an integer m < 2^53.
fn decompose(r: f64) -> (i128, i32) {
    if r == 0.0 {
        return (0, 0);
    }
    let bits = r.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = (bits & ((1u64 << 52) - 1)) as i128;
    if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), biased - 1075)
    }
}

struct Case {
    train: FeatureMatrix,
    test: FeatureMatrix,
    labels: Vec<u32>,
    positions: Vec<u32>,
    c: usize,
}

fn case(seed: u64, n_train: usize, n_test: usize, dim: usize, large_norms: bool) -> Case {
    let mut rng = SplitMix64::new(seed);
    let c = 3;
    let base = if large_norms { 1_048_576.0f32 } else { 0.0 };
    let value = |rng: &mut SplitMix64| base + rng.below(24) as f32 / 8.0;
    let mut train: Vec<f32> = (0..n_train * dim).map(|_| value(&mut rng)).collect();
    let mut labels: Vec<u32> = (0..n_train).map(|_| rng.below(c as u64) as u32).collect();
    if !large_norms {
        // Half the rows carry 2^22 in coordinate 0: float32 sums then round away the
        // small parts, so their kernel distances tie while the exact ones differ by 1/8.
        for j in (0..n_train).step_by(2) {
            train[j * dim] = 4_194_304.0;
        }
    }
    for j in 0..n_train / 6 {
        let (src, dst) = (rng.below(n_train as u64) as usize, (6 * j + 1) % n_train);
        let row = train[src * dim..(src + 1) * dim].to_vec();
        train[dst * dim..(dst + 1) * dim].copy_from_slice(&row);
        labels[dst] = (labels[src] + 1) % c as u32;
    }
    let test: Vec<f32> = (0..n_test * dim).map(|_| value(&mut rng)).collect();
    let records: Vec<u8> = train.iter().flat_map(|v| v.to_le_bytes()).collect();
    let positions = tie_break_positions(&labels, &records, dim * 4);
    Case {
        train: FeatureMatrix {
            n: n_train,
            dim,
            data: train,
        },
        test: FeatureMatrix {
            n: n_test,
            dim,
            data: test,
        },
        labels,
        positions,
        c,
    }
}

/// Radii on the boundary: exact distances of training rows to the first query, and the
/// next f64 on either side.
fn boundary_radii(case: &Case, metric: Metric) -> Vec<f64> {
    let q = case.test.row(0);
    let mut radii = Vec::new();
    for j in [0usize, 1, 2, 5] {
        let key = exact(metric, q, case.train.row(j));
        let r = match metric {
            Metric::L2 => (key as f64).sqrt() / 8.0,
            Metric::Ip => -(key as f64) / 64.0,
            Metric::Cosine => 1.0 + key as f64 / 64.0,
            _ => key as f64 / 8.0,
        };
        radii.extend([r, r.next_down(), r.next_up()]);
    }
    radii
}

fn run(case: &Case, config: &SearchConfig, threads: usize) -> SearchResult {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let reference = Reference {
            features: &case.train,
            labels: &case.labels,
            positions: &case.positions,
            n_classes: case.c,
        };
        let y = vec![0u32; case.test.n];
        search(reference, &case.test, &y, config, &|_| {}).unwrap()
    })
}

fn check(case: &Case, ks: &[usize], label: &str, metrics: &[Metric]) {
    let mut kernel_runs = 0;
    for &metric in metrics {
        let radii = boundary_radii(case, metric);
        let mut first: Option<SearchResult> = None;
        for kernel in Kernel::available() {
            let config = SearchConfig {
                metric,
                ks: ks.to_vec(),
                radii: radii.clone(),
                kernel,
                keep_neighbours: true,
            };
            for threads in [1, 2] {
                let got = run(case, &config, threads);
                match &first {
                    None => first = Some(got),
                    Some(f) => assert_eq!(
                        f, &got,
                        "{label} {metric}: {kernel} on {threads} threads differs"
                    ),
                }
                kernel_runs += 1;
            }
        }
        let got = first.expect("at least the scalar kernel");
        verify(case, &case.train, ks, label, metric, &radii, &got);
    }
    assert!(kernel_runs >= 6);
}

/// Runs the search on `case` (one metric) and checks it against `reference_train` (the
/// rows the exact reference should see).
fn check_against(
    case: &Case,
    reference_train: &FeatureMatrix,
    ks: &[usize],
    label: &str,
    metric: Metric,
) {
    let mut radii = vec![0.0, 0.25, 0.5, 1.0, 1.25, 2.0];
    radii.extend(radii.clone().iter().map(|r: &f64| r.next_up()));
    radii.push(0.5f64.next_down());
    let mut first: Option<SearchResult> = None;
    for kernel in Kernel::available() {
        let config = SearchConfig {
            metric,
            ks: ks.to_vec(),
            radii: radii.clone(),
            kernel,
            keep_neighbours: true,
        };
        for threads in [1, 2] {
            let got = run(case, &config, threads);
            match &first {
                None => first = Some(got),
                Some(f) => assert_eq!(f, &got, "{label}: {kernel} on {threads} threads"),
            }
        }
    }
    let got = first.expect("at least the scalar kernel");
    verify(case, reference_train, ks, label, metric, &radii, &got);
}

/// The search result `got` against the exact reference on `train`.
fn verify(
    case: &Case,
    train: &FeatureMatrix,
    ks: &[usize],
    label: &str,
    metric: Metric,
    radii: &[f64],
    got: &SearchResult,
) {
    {
        let lists = got.neighbours.as_ref().expect("lists were asked for");
        let c = case.c;
        let mut boundary_hits = 0;
        for q in 0..case.test.n {
            let a = case.test.row(q);
            let mut order: Vec<(i128, u32, usize)> = (0..case.train.n)
                .map(|j| (exact(metric, a, train.row(j)), case.positions[j], j))
                .collect();
            order.sort();
            for (ki, &k) in ks.iter().enumerate() {
                let mut want = vec![0u32; c];
                for &(_, _, j) in order.iter().take(k) {
                    want[case.labels[j] as usize] += 1;
                }
                assert_eq!(
                    got.knn[ki].votes.row(q),
                    &want[..],
                    "{label} {metric} query {q} k = {k}"
                );
            }
            let k_max = ks.iter().copied().max().unwrap().min(case.train.n);
            let want: Vec<u32> = order[..k_max].iter().map(|x| x.2 as u32).collect();
            let have: Vec<u32> = lists.knn[q].iter().map(|n| n.index).collect();
            assert_eq!(have, want, "{label} {metric} query {q}: kNN list");
            for (ri, &r) in radii.iter().enumerate() {
                let mut want = vec![0u32; c];
                for &(key, _, j) in &order {
                    if within(metric, key, r) {
                        want[case.labels[j] as usize] += 1;
                    }
                }
                boundary_hits += order.iter().filter(|x| within(metric, x.0, r)).count();
                assert_eq!(
                    got.rnn[ri].votes.row(q),
                    &want[..],
                    "{label} {metric} query {q} r = {r}"
                );
            }
            let r_max = radii.iter().copied().fold(0.0, f64::max);
            let want: Vec<u32> = order
                .iter()
                .filter(|x| within(metric, x.0, r_max))
                .map(|x| x.2 as u32)
                .collect();
            let have: Vec<u32> = lists.rnn[q].iter().map(|n| n.index).collect();
            assert_eq!(have, want, "{label} {metric} query {q}: rNN list");
        }
        assert!(boundary_hits > 0, "{label} {metric}: radii catch nothing");
    }
}

#[test]
fn kernel_ties_are_broken_by_exact_distances() {
    let c = case(31, 1800, 24, 20, false);
    check(&c, &[1, 5, 40, 300], "offset 2^22", &METRICS);
}

#[test]
fn large_norms_with_tiny_differences() {
    let c = case(32, 900, 24, 33, true);
    check(&c, &[1, 9, 100, 2000], "norms near 2^20", &METRICS);
}

/// Cosine on rows of four ±1/2 entries (unit length, so the reference needs no scaling)
/// given to the search multiplied by powers of two, which its scaling to unit length
/// undoes exactly: many exact ties and radii on the boundary.
#[test]
fn cosine_ties_and_radii() {
    let mut rng = SplitMix64::new(33);
    let (n_train, n_test, dim) = (1200, 20, 12);
    let unit_row = |rng: &mut SplitMix64| {
        let mut r = vec![0f32; dim];
        for _ in 0..4 {
            let mut i = rng.below(dim as u64) as usize;
            while r[i] != 0.0 {
                i = (i + 1) % dim;
            }
            r[i] = if rng.below(2) == 0 { 0.5 } else { -0.5 };
        }
        r
    };
    let mut c = case(34, n_train, n_test, dim, false);
    let scale = |rng: &mut SplitMix64| 2f32.powi(rng.below(9) as i32 - 4);
    for j in 0..n_train {
        let (r, s) = (unit_row(&mut rng), scale(&mut rng));
        for (v, x) in c.train.data[j * dim..(j + 1) * dim].iter_mut().zip(r) {
            *v = x * s;
        }
    }
    for q in 0..n_test {
        let r = unit_row(&mut rng);
        c.test.data[q * dim..(q + 1) * dim].copy_from_slice(&r);
    }
    let records: Vec<u8> = c.train.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    c.positions = tie_break_positions(&c.labels, &records, dim * 4);
    // The reference sees the unit rows.
    let mut unit = FeatureMatrix {
        n: n_train,
        dim,
        data: c.train.data.clone(),
    };
    for row in unit.data.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    check_against(&c, &unit, &[1, 3, 50, 400], "cosine", Metric::Cosine);
}

/// The independent reference above must itself see the near-ties it is meant to test:
/// float32 sums of the offset rows tie where the exact ones differ.
#[test]
fn the_data_defeats_float32() {
    let c = case(31, 1800, 24, 20, false);
    let q = c.test.row(0);
    let mut collisions = 0;
    for j in (0..c.train.n).step_by(2) {
        for i in (j + 2..c.train.n.min(j + 40)).step_by(2) {
            let (a, b) = (c.train.row(j), c.train.row(i));
            let f = |r: &[f32]| q.iter().zip(r).map(|(x, y)| (x - y).abs()).sum::<f32>();
            if f(a) == f(b) && exact(Metric::L1, q, a) != exact(Metric::L1, q, b) {
                collisions += 1;
            }
        }
    }
    assert!(collisions > 10, "{collisions}");
}

/// More queries than one matrix-multiplication block holds (256, then a tail of 44): the
/// blocks' answers are exact, whatever the thread count, on the offset rows of
/// [`kernel_ties_are_broken_by_exact_distances`] and on duplicated large-norm rows.
#[test]
fn many_query_blocks_stay_exact() {
    let c = case(35, 500, 300, 20, false);
    check(
        &c,
        &[1, 7, 60, 500],
        "300 queries, offset 2^22",
        &[Metric::L2, Metric::Ip],
    );
    let c = case(36, 300, 300, 9, true);
    check(
        &c,
        &[2, 33, 300],
        "300 queries, norms near 2^20",
        &[Metric::L2, Metric::Ip],
    );
}
