//! The reference kernel: defines the summation order (see the parent module).

use super::{LANES, Metric, reduce_lanes};

/// Distance of one pair; `a.len() == b.len()`, a multiple of [`LANES`].
#[inline]
pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    debug_assert!(a.len().is_multiple_of(LANES));
    let mut lanes = [0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            let d = ca[l] - cb[l];
            lanes[l] = match metric {
                Metric::L1 => lanes[l] + d.abs(),
                Metric::L2 => lanes[l] + d * d,
                Metric::Linf => lanes[l].max(d.abs()),
            };
        }
    }
    reduce_lanes(metric, &lanes)
}

/// Distances of 4 queries to every row of `rows`: `out[q · n_rows + t]`.
pub fn tile(metric: Metric, queries: [&[f32]; 4], rows: &[f32], dim: usize, out: &mut [f32]) {
    let n_rows = rows.len() / dim;
    for (q, a) in queries.iter().enumerate() {
        for (t, b) in rows.chunks_exact(dim).enumerate() {
            out[q * n_rows + t] = distance(metric, a, b);
        }
    }
}
