//! AVX-512F kernel: one 512-bit accumulator per pair holds the reference order's 16
//! lanes; the 16 accumulators of a 4 × 4 block are reduced together by two-source
//! permutes that follow the reference tree exactly (`l + (l+8)`, `l + (l+4)`,
//! `l + (l+2)`, `0 + 1`), ending with the 16 distances in one register.
//!
//! `max_ps` is used for ℓ∞ with operands that are never NaN (features are checked to be
//! finite), where it agrees with the scalar `f32::max`.

use std::arch::x86_64::*;

use super::{LANES, Metric};

#[inline]
#[target_feature(enable = "avx512f")]
fn combine(metric: Metric, x: __m512, y: __m512, lo: __m512i, hi: __m512i) -> __m512 {
    let a = _mm512_permutex2var_ps(x, lo, y);
    let b = _mm512_permutex2var_ps(x, hi, y);
    match metric {
        Metric::Linf => _mm512_max_ps(a, b),
        _ => _mm512_add_ps(a, b),
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn idx(v: [i32; 16]) -> __m512i {
    // SAFETY: reads 16 i32 from a 16-element array.
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}

/// 4 × 4 block.
///
/// # Safety
/// The CPU must support AVX-512F; every slice must have the same length, a multiple of 16.
#[target_feature(enable = "avx512f")]
pub unsafe fn block(metric: Metric, queries: [&[f32]; 4], rows: [&[f32]; 4], out: &mut [f32; 16]) {
    let dim = queries[0].len();
    debug_assert!(dim.is_multiple_of(LANES));
    debug_assert!(queries.iter().chain(rows.iter()).all(|s| s.len() == dim));
    let mut acc = [_mm512_setzero_ps(); 16];
    let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
    let mut j = 0;
    while j < dim {
        // SAFETY: 16-float loads at offset j with j + 16 ≤ dim, inside slices of length dim.
        let (a, b) = unsafe {
            (
                [0, 1, 2, 3].map(|q| _mm512_loadu_ps(queries[q].as_ptr().add(j))),
                [0, 1, 2, 3].map(|t| _mm512_loadu_ps(rows[t].as_ptr().add(j))),
            )
        };
        for q in 0..4 {
            for t in 0..4 {
                let d = _mm512_sub_ps(a[q], b[t]);
                let slot = &mut acc[4 * q + t];
                *slot = match metric {
                    Metric::L1 => _mm512_add_ps(
                        *slot,
                        _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(d), abs_mask)),
                    ),
                    Metric::L2 => _mm512_add_ps(*slot, _mm512_mul_ps(d, d)),
                    Metric::Linf => _mm512_max_ps(
                        *slot,
                        _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(d), abs_mask)),
                    ),
                };
            }
        }
        j += LANES;
    }
    // Step 1: two pairs per vector, lane l of each pair = l + (l+8).
    let lo1 = idx([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
    let hi1 = idx([8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]);
    let s: [__m512; 8] =
        std::array::from_fn(|k| combine(metric, acc[2 * k], acc[2 * k + 1], lo1, hi1));
    // Step 2: four pairs per vector, l + (l+4).
    let lo2 = idx([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
    let hi2 = idx([4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]);
    let t: [__m512; 4] = std::array::from_fn(|k| combine(metric, s[2 * k], s[2 * k + 1], lo2, hi2));
    // Step 3: eight pairs per vector, l + (l+2).
    let lo3 = idx([0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29]);
    let hi3 = idx([2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31]);
    let u: [__m512; 2] = std::array::from_fn(|k| combine(metric, t[2 * k], t[2 * k + 1], lo3, hi3));
    // Step 4: sixteen pairs, 0 + 1.
    let lo4 = idx([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);
    let hi4 = idx([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]);
    let mut v = combine(metric, u[0], u[1], lo4, hi4);
    if metric == Metric::L2 {
        v = _mm512_sqrt_ps(v);
    }
    // SAFETY: stores 16 floats into a 16-element array.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
}
