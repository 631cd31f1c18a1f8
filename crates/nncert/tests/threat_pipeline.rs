//! The exact kNN certificates under `insert` and `delete` (METHOD §8) through the real
//! search: `Index::certify` with a threat must give, for every test input, the e* that the
//! formulas give on the neighbour order computed by brute force.

use nncert::certify::threat::{Threat, knn_delete_e_star, knn_insert_e_star};
use nncert::rng::SplitMix64;
use nncert::{CertifyOptions, Index, Kernel, MatrixRef, Metric, SearchConfig, TieRule, Values};

#[test]
fn index_certify_uses_the_ordered_neighbours_under_insert_and_delete() {
    let mut rng = SplitMix64::new(0x7e_1000);
    let (n_train, n_test, c) = (60usize, 25usize, 3usize);
    // Distinct distances (no ties): distinct positions on a line, queries between them.
    let mut xs: Vec<f64> = (0..n_train).map(|i| i as f64 * 1.5).collect();
    for i in (1..xs.len()).rev() {
        xs.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let labels: Vec<u32> = xs
        .iter()
        .map(|&x| {
            if rng.below(3) == 0 {
                rng.below(c as u64) as u32
            } else {
                (x as usize * c / 90) as u32 % c as u32
            }
        })
        .collect();
    let queries: Vec<f64> = (0..n_test).map(|i| i as f64 * 3.6 + 0.2).collect();
    let test_labels: Vec<u32> = queries
        .iter()
        .map(|&q| (q as usize * c / 90) as u32 % c as u32)
        .collect();
    let index = Index::new(
        MatrixRef::new("X", Values::F64(&xs), n_train, 1).unwrap(),
        labels.clone(),
        Some(c),
    )
    .unwrap();
    for k in [1usize, 4, 9] {
        for threat in [Threat::Insert, Threat::Delete] {
            let options = CertifyOptions {
                threat,
                max_e: Some(12),
                tie: TieRule::Larger,
                ..CertifyOptions::default()
            };
            let config = SearchConfig {
                metric: Metric::L1,
                ks: vec![k],
                radii: vec![],
                kernel: Kernel::detect().unwrap(),
                keep_neighbours: false,
            };
            let exp = index
                .certify(
                    MatrixRef::new("Q", Values::F64(&queries), n_test, 1).unwrap(),
                    &test_labels,
                    &config,
                    &options,
                )
                .unwrap();
            assert_eq!(exp.settings.len(), 1, "the list-only k is not a setting");
            for (i, &q) in queries.iter().enumerate() {
                let mut order: Vec<usize> = (0..n_train).collect();
                order.sort_by(|&a, &b| (xs[a] - q).abs().total_cmp(&(xs[b] - q).abs()));
                let ordered: Vec<u32> = order.iter().map(|&j| labels[j]).collect();
                let want = match threat {
                    Threat::Insert => knn_insert_e_star(&ordered[..k], k, c, TieRule::Larger),
                    _ => knn_delete_e_star(&ordered[..k + 12], k, n_train, c, TieRule::Larger, 12),
                };
                assert_eq!(
                    exp.settings[0].rows[i].e_star,
                    Some(want),
                    "k = {k}, {threat}, test {i}"
                );
            }
        }
    }
}
