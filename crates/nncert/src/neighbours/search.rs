//! Exact all-pairs search, tiled and multithreaded, straight into votes.
//!
//! Queries are processed in blocks of [`QUERY_BLOCK`], one rayon task per block; each
//! task walks the training set in tiles sized to stay in L2 and, inside a tile, computes
//! 4 × 4 blocks of distances with the chosen kernel. Every distance goes straight to the
//! query's selection state (radius counts and a streaming top-k), so no
//! `n_test × n_train` matrix ever exists. A query's result depends only on its own
//! distances, which are bit-identical across kernels, so the output is the same for every
//! thread count and kernel.

use rayon::prelude::*;
use serde::Serialize;

use super::kernel::{Kernel, LANES, Metric};
use super::select::{TopK, order_key};
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::votes::Votes;

/// Queries per rayon task.
pub const QUERY_BLOCK: usize = 64;
/// Bytes of training rows per tile (kept in L2 while a query block passes over it).
pub const TILE_BYTES: usize = 256 * 1024;

/// What to search for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchConfig {
    /// Distance.
    pub metric: Metric,
    /// kNN sizes (any order; a k above the training set size means every example votes).
    pub ks: Vec<usize>,
    /// rNN radii: a training example is a neighbour when its distance ≤ r.
    pub radii: Vec<f64>,
    /// Kernel.
    pub kernel: Kernel,
}

/// The training side of a search.
#[derive(Debug, Clone, Copy)]
pub struct Reference<'a> {
    /// Training features.
    pub features: &'a FeatureMatrix,
    /// Training labels.
    pub labels: &'a [u32],
    /// Tie-break positions ([`crate::rank::tie_break_positions`]).
    pub positions: &'a [u32],
    /// Number of classes.
    pub n_classes: usize,
}

/// kNN votes for one k.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnnVotes {
    /// k as asked.
    pub k: usize,
    /// Votes (n_test × c).
    pub votes: Votes,
}

/// rNN votes for one radius.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnVotes {
    /// r as asked.
    pub radius: f64,
    /// Votes (n_test × c).
    pub votes: Votes,
    /// Test inputs with no training example within r.
    pub empty: usize,
}

/// Votes for every k and every r, in the order asked.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// One per k.
    pub knn: Vec<KnnVotes>,
    /// One per r.
    pub rnn: Vec<RnnVotes>,
}

/// A feature matrix with rows padded to a multiple of [`LANES`] values and the row count
/// padded to a multiple of 4 with zero rows.
struct Padded {
    dim: usize,
    data: Vec<f32>,
}

impl Padded {
    fn new(m: &FeatureMatrix) -> Padded {
        let dim = m.dim.div_ceil(LANES).max(1) * LANES;
        let rows = m.n.div_ceil(4) * 4;
        let mut data = vec![0f32; rows * dim];
        for i in 0..m.n {
            data[i * dim..i * dim + m.dim].copy_from_slice(m.row(i));
        }
        Padded { dim, data }
    }

    #[inline]
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Searches every test row against the reference; `progress(n)` is called as blocks of
/// `n` queries finish.
pub fn search(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    test_labels: &[u32],
    config: &SearchConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SearchResult, Error> {
    let train = reference.features;
    let c = reference.n_classes;
    if train.dim != test.dim {
        return Err(Error::invalid(format!(
            "search: training features have {} columns, test features {}",
            train.dim, test.dim
        )));
    }
    if train.n == 0 || test.n == 0 {
        return Err(Error::invalid(
            "search: expected non-empty training and test sets",
        ));
    }
    if config.ks.contains(&0) {
        return Err(Error::invalid("k: expected at least 1, found 0"));
    }
    if let Some(r) = config.radii.iter().find(|r| !r.is_finite() || **r < 0.0) {
        return Err(Error::invalid(format!(
            "radius: expected a finite r ≥ 0, found {r}"
        )));
    }
    if !config.kernel.is_available() {
        return Err(Error::invalid(format!(
            "kernel {}: not supported by this CPU",
            config.kernel
        )));
    }
    assert_eq!(reference.labels.len(), train.n);
    assert_eq!(reference.positions.len(), train.n);
    assert_eq!(test_labels.len(), test.n);

    let n_train = train.n;
    let mut label_by_position = vec![0u32; n_train];
    for (j, &p) in reference.positions.iter().enumerate() {
        label_by_position[p as usize] = reference.labels[j];
    }
    // Effective k (clamped to the training set), ascending and unique.
    let mut ks_eff: Vec<usize> = config.ks.iter().map(|&k| k.min(n_train)).collect();
    ks_eff.sort_unstable();
    ks_eff.dedup();
    let k_max = ks_eff.last().copied().unwrap_or(0);
    let mut radii_sorted: Vec<f64> = config.radii.clone();
    radii_sorted.sort_by(f64::total_cmp);
    radii_sorted.dedup();
    let r_max = radii_sorted.last().copied().unwrap_or(-1.0);
    let nr = radii_sorted.len();
    let nk = ks_eff.len();

    let train_p = Padded::new(train);
    let test_p = Padded::new(test);
    let dim = train_p.dim;
    let tile_rows = ((TILE_BYTES / (dim * 4)) / 4 * 4).max(4);
    let n_train_padded = n_train.div_ceil(4) * 4;
    let metric = config.metric;
    let kernel = config.kernel;

    // Per query: nk × c kNN counts, then nr × c rNN counts.
    let row_len = (nk + nr) * c;
    let n_blocks = test.n.div_ceil(QUERY_BLOCK);
    let blocks: Vec<Vec<u32>> = (0..n_blocks)
        .into_par_iter()
        .map(|b| {
            let q0 = b * QUERY_BLOCK;
            let nq = QUERY_BLOCK.min(test.n - q0);
            let mut tops: Vec<TopK> = (0..if k_max > 0 { nq } else { 0 })
                .map(|_| TopK::new(k_max))
                .collect();
            let mut counts = vec![0u32; nq * row_len];
            let mut out = [0f32; 16];
            for tile in (0..n_train_padded).step_by(tile_rows) {
                let tile_end = (tile + tile_rows).min(n_train_padded);
                for qg in (0..nq).step_by(4) {
                    let qs = [0, 1, 2, 3].map(|i| test_p.row(q0 + qg + i));
                    for t in (tile..tile_end).step_by(4) {
                        let ts = [0, 1, 2, 3].map(|i| train_p.row(t + i));
                        kernel.block(metric, qs, ts, &mut out);
                        for qi in 0..4.min(nq - qg) {
                            let q = qg + qi;
                            for ti in 0..4.min(n_train - t.min(n_train)) {
                                let j = t + ti;
                                let d = out[4 * qi + ti];
                                if nr > 0 && f64::from(d) <= r_max {
                                    let label = reference.labels[j] as usize;
                                    let first = radii_sorted.partition_point(|&r| f64::from(d) > r);
                                    let base = q * row_len + nk * c;
                                    for ri in first..nr {
                                        counts[base + ri * c + label] += 1;
                                    }
                                }
                                if k_max > 0 {
                                    tops[q].push(order_key(d, reference.positions[j]));
                                }
                            }
                        }
                    }
                }
            }
            for (q, top) in tops.into_iter().enumerate() {
                let keys = top.finish(&ks_eff);
                let mut running = vec![0u32; c];
                let mut from = 0;
                for (ki, &k) in ks_eff.iter().enumerate() {
                    for &key in &keys[from..k.min(keys.len())] {
                        running[label_by_position[(key & 0xffff_ffff) as usize] as usize] += 1;
                    }
                    from = k.min(keys.len());
                    counts[q * row_len + ki * c..q * row_len + (ki + 1) * c]
                        .copy_from_slice(&running);
                }
            }
            progress(nq);
            counts
        })
        .collect();
    let all: Vec<u32> = blocks.into_iter().flatten().collect();

    let column = |slot: usize| -> Vec<u32> {
        (0..test.n)
            .flat_map(|q| all[q * row_len + slot * c..q * row_len + (slot + 1) * c].to_vec())
            .collect()
    };
    let knn = config
        .ks
        .iter()
        .map(|&k| {
            let slot = ks_eff
                .binary_search(&k.min(n_train))
                .expect("k was registered");
            Ok(KnnVotes {
                k,
                votes: Votes::new(column(slot), c, test_labels.to_vec())?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let rnn = config
        .radii
        .iter()
        .map(|&r| {
            let slot = nk
                + radii_sorted
                    .iter()
                    .position(|&x| x == r)
                    .expect("r was registered");
            let counts = column(slot);
            let empty = counts
                .chunks(c)
                .filter(|row| row.iter().all(|&v| v == 0))
                .count();
            Ok(RnnVotes {
                radius: r,
                votes: Votes::new(counts, c, test_labels.to_vec())?,
                empty,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(SearchResult { knn, rnn })
}
