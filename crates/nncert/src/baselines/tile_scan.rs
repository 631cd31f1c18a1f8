//! The distance scan the built-in base learners share ([`super::ensemble`]'s prototypes and
//! the kNN/rNN learners): test rows four at a time, the distance kernels' tile shape,
//! against every reference row, one cache-sized tile of reference rows at a time.
//!
//! Each group of four test rows is computed on its own, in parallel, and the groups'
//! outputs are concatenated in order, so the results are the same bytes whatever the
//! thread count.

use std::ops::Range;

use rayon::prelude::*;

use crate::features::FeatureMatrix;
use crate::neighbours::kernel::{Kernel, Metric};

/// Reference rows per tile: as many as fit 128 KiB of `f32` (so that a tile stays in the
/// L2 cache while four queries stream over it), a multiple of 4, at least 4.
fn tile_rows(dim: usize) -> usize {
    ((128 * 1024 / (dim * 4)) / 4 * 4).max(4)
}

/// Runs `per_group` on every group of four consecutive test rows of `rows`, in parallel,
/// and concatenates the outputs in order, truncated to `rows.len() × per_query` values.
///
/// `per_group` receives the four rows padded with zeros to `dim` values (the kernels'
/// padded width, at least `test.dim`); past `rows.end` a query is all zeros, and
/// `per_group` must return `4 × per_query` values, those of the padding queries last.
pub(crate) fn per_query_group<T: Send>(
    test: &FeatureMatrix,
    rows: Range<usize>,
    dim: usize,
    per_query: usize,
    per_group: impl Fn([&[f32]; 4]) -> Vec<T> + Sync,
) -> Vec<T> {
    let pad_query = |i: usize| -> Vec<f32> {
        let mut r = vec![0f32; dim];
        if i < rows.end {
            r[..test.dim].copy_from_slice(test.row(i));
        }
        r
    };
    let groups: Vec<Vec<T>> = (0..rows.len().div_ceil(4))
        .into_par_iter()
        .map(|g| {
            let queries: Vec<Vec<f32>> =
                (0..4).map(|i| pad_query(rows.start + 4 * g + i)).collect();
            per_group([0, 1, 2, 3].map(|i| queries[i].as_slice()))
        })
        .collect();
    let mut all: Vec<T> = groups.into_iter().flatten().collect();
    all.truncate(rows.len() * per_query);
    all
}

/// Distances of the four `queries` to every row of `reference` (row-major, `dim` values a
/// row, a multiple of 4 rows), one tile at a time: `per_tile(start, n, out)` receives
/// `out[q · n + t]`, the distance of query `q` to reference row `start + t`.
pub(crate) fn scan_tiles(
    kernel: Kernel,
    metric: Metric,
    queries: [&[f32]; 4],
    reference: &[f32],
    dim: usize,
    mut per_tile: impl FnMut(usize, usize, &[f32]),
) {
    let n_rows = reference.len() / dim;
    let tile = tile_rows(dim);
    let mut out = vec![0f32; 4 * tile.min(n_rows)];
    for start in (0..n_rows).step_by(tile) {
        let end = (start + tile).min(n_rows);
        let n = end - start;
        kernel.tile(
            metric,
            queries,
            &reference[start * dim..end * dim],
            dim,
            &mut out[..4 * n],
        );
        per_tile(start, n, &out[..4 * n]);
    }
}
