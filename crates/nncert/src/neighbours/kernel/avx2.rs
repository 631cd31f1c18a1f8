//! AVX2 kernel: each pair's 16 lanes live in two 256-bit accumulators (lanes 0–7 and
//! 8–15), updated in the reference order; the lanes are then reduced by the reference
//! tree in scalar code.

use std::arch::x86_64::*;

use super::{LANES, Metric, reduce_lanes};

/// 4 × 4 block.
///
/// # Safety
/// The CPU must support AVX2; every slice must have the same length, a multiple of 16.
#[target_feature(enable = "avx2")]
pub unsafe fn block(metric: Metric, queries: [&[f32]; 4], rows: [&[f32]; 4], out: &mut [f32; 16]) {
    let dim = queries[0].len();
    debug_assert!(dim.is_multiple_of(LANES));
    debug_assert!(queries.iter().chain(rows.iter()).all(|s| s.len() == dim));
    // Two query rows at a time keeps the 2 × 4 × 2 = 16 accumulators in registers.
    for qp in 0..2 {
        let (qa, qb) = (queries[2 * qp], queries[2 * qp + 1]);
        // SAFETY: all loads read 8 floats at offsets j and j + 8 with j + 16 ≤ dim, inside
        // slices of length dim (checked above); AVX2 is enabled by the caller's contract.
        unsafe {
            let sign = _mm256_set1_ps(-0.0);
            let mut acc = [[_mm256_setzero_ps(); 2]; 8];
            let mut j = 0;
            while j < dim {
                let a = [
                    [
                        _mm256_loadu_ps(qa.as_ptr().add(j)),
                        _mm256_loadu_ps(qa.as_ptr().add(j + 8)),
                    ],
                    [
                        _mm256_loadu_ps(qb.as_ptr().add(j)),
                        _mm256_loadu_ps(qb.as_ptr().add(j + 8)),
                    ],
                ];
                for (t, row) in rows.iter().enumerate() {
                    let b0 = _mm256_loadu_ps(row.as_ptr().add(j));
                    let b1 = _mm256_loadu_ps(row.as_ptr().add(j + 8));
                    for (q, aq) in a.iter().enumerate() {
                        let slot = &mut acc[q * 4 + t];
                        let d0 = _mm256_sub_ps(aq[0], b0);
                        let d1 = _mm256_sub_ps(aq[1], b1);
                        match metric {
                            Metric::L1 => {
                                slot[0] = _mm256_add_ps(slot[0], _mm256_andnot_ps(sign, d0));
                                slot[1] = _mm256_add_ps(slot[1], _mm256_andnot_ps(sign, d1));
                            }
                            Metric::L2 => {
                                slot[0] = _mm256_add_ps(slot[0], _mm256_mul_ps(d0, d0));
                                slot[1] = _mm256_add_ps(slot[1], _mm256_mul_ps(d1, d1));
                            }
                            Metric::Linf => {
                                slot[0] = _mm256_max_ps(slot[0], _mm256_andnot_ps(sign, d0));
                                slot[1] = _mm256_max_ps(slot[1], _mm256_andnot_ps(sign, d1));
                            }
                        }
                    }
                }
                j += LANES;
            }
            for (p, slot) in acc.iter().enumerate() {
                let mut lanes = [0f32; LANES];
                _mm256_storeu_ps(lanes.as_mut_ptr(), slot[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), slot[1]);
                let (q, t) = (2 * qp + p / 4, p % 4);
                out[4 * q + t] = reduce_lanes(metric, &lanes);
            }
        }
    }
}
