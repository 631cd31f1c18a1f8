//! The reference kernel: defines the summation order (see the parent module).

use super::{LANES, Metric, reduce_lanes};

/// Distance of one pair; `a.len() == b.len()`, a multiple of [`LANES`]. (Inner product
/// and cosine: plain sequential sums, for callers outside the search such as the
/// baselines; the search computes them by matrix multiplication.)
#[inline]
pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    debug_assert!(a.len().is_multiple_of(LANES));
    if matches!(metric, Metric::Ip | Metric::Cosine) {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        if metric == Metric::Ip {
            return -dot;
        }
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let scale = norm(a) * norm(b);
        return if scale > 0.0 { 1.0 - dot / scale } else { 1.0 };
    }
    let mut lanes = [0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            let d = ca[l] - cb[l];
            lanes[l] = match metric {
                Metric::L1 => lanes[l] + d.abs(),
                Metric::L2 => lanes[l] + d * d,
                _ => lanes[l].max(d.abs()),
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
