//! AVX2 kernel: each pair's 16 lanes live in two 256-bit accumulators (lanes 0–7 and
//! 8–15), updated in the reference order; the lanes are then reduced by the reference
//! tree in scalar code. Two queries × four rows at a time keep 16 accumulators in
//! registers.

use std::arch::x86_64::*;

use super::{LANES, Metric, reduce_lanes};

const L1: u8 = 0;
const L2: u8 = 1;
const LINF: u8 = 2;

#[target_feature(enable = "avx2")]
unsafe fn tile_impl<const M: u8>(queries: [&[f32]; 4], rows: &[f32], dim: usize, out: &mut [f32]) {
    let n_rows = rows.len() / dim;
    let sign = _mm256_set1_ps(-0.0);
    let metric = match M {
        L1 => Metric::L1,
        L2 => Metric::L2,
        LINF => Metric::Linf,
        _ => unreachable!("metric constant"),
    };
    for t in (0..n_rows).step_by(4) {
        for qp in 0..2 {
            let (qa, qb) = (queries[2 * qp].as_ptr(), queries[2 * qp + 1].as_ptr());
            let mut acc = [[_mm256_setzero_ps(); 2]; 8];
            let mut j = 0;
            while j < dim {
                // SAFETY: j + 16 ≤ dim; the query rows and the four rows t..t+4 each hold
                // dim floats (checked by `tile`).
                unsafe {
                    let a = [
                        [_mm256_loadu_ps(qa.add(j)), _mm256_loadu_ps(qa.add(j + 8))],
                        [_mm256_loadu_ps(qb.add(j)), _mm256_loadu_ps(qb.add(j + 8))],
                    ];
                    for r in 0..4 {
                        let row = rows.as_ptr().add((t + r) * dim + j);
                        let b = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
                        for (qi, aq) in a.iter().enumerate() {
                            let slot = &mut acc[qi * 4 + r];
                            for h in 0..2 {
                                let d = _mm256_sub_ps(aq[h], b[h]);
                                slot[h] = match M {
                                    L1 => _mm256_add_ps(slot[h], _mm256_andnot_ps(sign, d)),
                                    L2 => _mm256_add_ps(slot[h], _mm256_mul_ps(d, d)),
                                    _ => _mm256_max_ps(slot[h], _mm256_andnot_ps(sign, d)),
                                };
                            }
                        }
                    }
                }
                j += LANES;
            }
            for (p, slot) in acc.iter().enumerate() {
                let mut lanes = [0f32; LANES];
                // SAFETY: stores 8 + 8 floats into a 16-element array.
                unsafe {
                    _mm256_storeu_ps(lanes.as_mut_ptr(), slot[0]);
                    _mm256_storeu_ps(lanes.as_mut_ptr().add(8), slot[1]);
                }
                let (q, r) = (2 * qp + p / 4, p % 4);
                out[q * n_rows + t + r] = reduce_lanes(metric, &lanes);
            }
        }
    }
}

/// Distances of 4 queries to every row of `rows` (`n_rows × dim`, `n_rows` a multiple of
/// 4): `out[q · n_rows + t]`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn tile(
    metric: Metric,
    queries: [&[f32]; 4],
    rows: &[f32],
    dim: usize,
    out: &mut [f32],
) {
    super::check_tile(&queries, rows, dim, out);
    // SAFETY: shapes checked above; AVX2 by the caller's contract.
    unsafe {
        match metric {
            Metric::L1 => tile_impl::<L1>(queries, rows, dim, out),
            Metric::L2 => tile_impl::<L2>(queries, rows, dim, out),
            Metric::Linf => tile_impl::<LINF>(queries, rows, dim, out),
            Metric::Ip | Metric::Cosine => super::scalar::tile(metric, queries, rows, dim, out),
        }
    }
}
