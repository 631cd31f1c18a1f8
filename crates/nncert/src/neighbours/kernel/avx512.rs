//! AVX-512F kernel: one 512-bit accumulator per pair holds the reference order's 16
//! lanes; the 16 accumulators of a 4 × 4 block are reduced together by two-source
//! permutes that follow the reference tree exactly (`l + (l+8)`, `l + (l+4)`,
//! `l + (l+2)`, `0 + 1`), ending with the 16 distances in one register.
//!
//! `max_ps` is used for ℓ∞ with operands that are never NaN (features are checked to be
//! finite), where it agrees with the scalar `f32::max`.

use std::arch::x86_64::*;

use super::{LANES, Metric};

const L1: u8 = 0;
const L2: u8 = 1;
const LINF: u8 = 2;

#[inline]
#[target_feature(enable = "avx512f")]
fn combine<const M: u8>(x: __m512, y: __m512, lo: __m512i, hi: __m512i) -> __m512 {
    let a = _mm512_permutex2var_ps(x, lo, y);
    let b = _mm512_permutex2var_ps(x, hi, y);
    if M == LINF {
        _mm512_max_ps(a, b)
    } else {
        _mm512_add_ps(a, b)
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn idx(v: [i32; 16]) -> __m512i {
    // SAFETY: reads 16 i32 from a 16-element array.
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}

/// The permutation indices of the four reduction steps.
struct Tree {
    lo: [__m512i; 4],
    hi: [__m512i; 4],
}

#[inline]
#[target_feature(enable = "avx512f")]
fn tree() -> Tree {
    Tree {
        lo: [
            idx([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]),
            idx([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]),
            idx([0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29]),
            idx([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]),
        ],
        hi: [
            idx([8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]),
            idx([4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]),
            idx([2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31]),
            idx([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]),
        ],
    }
}

/// Distances of 4 query pointers × 4 consecutive rows starting at `rows`, as one register
/// (lane `4q + t`).
///
/// # Safety
/// AVX-512F; every pointer must be valid for `dim` floats, `dim` a multiple of 16.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn block4<const M: u8>(
    q: [*const f32; 4],
    rows: *const f32,
    dim: usize,
    tr: &Tree,
) -> __m512 {
    let mut acc = [_mm512_setzero_ps(); 16];
    let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
    let mut j = 0;
    while j < dim {
        // SAFETY: j + 16 ≤ dim and every pointer is valid for dim floats (caller).
        let (a, b) = unsafe {
            (
                [0, 1, 2, 3].map(|i| _mm512_loadu_ps(q[i].add(j))),
                [0, 1, 2, 3].map(|t| _mm512_loadu_ps(rows.add(t * dim + j))),
            )
        };
        for qi in 0..4 {
            for t in 0..4 {
                let d = _mm512_sub_ps(a[qi], b[t]);
                let slot = &mut acc[4 * qi + t];
                let abs =
                    || _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(d), abs_mask));
                *slot = match M {
                    L1 => _mm512_add_ps(*slot, abs()),
                    L2 => _mm512_add_ps(*slot, _mm512_mul_ps(d, d)),
                    _ => _mm512_max_ps(*slot, abs()),
                };
            }
        }
        j += LANES;
    }
    let s: [__m512; 8] =
        std::array::from_fn(|k| combine::<M>(acc[2 * k], acc[2 * k + 1], tr.lo[0], tr.hi[0]));
    let t: [__m512; 4] =
        std::array::from_fn(|k| combine::<M>(s[2 * k], s[2 * k + 1], tr.lo[1], tr.hi[1]));
    let u: [__m512; 2] =
        std::array::from_fn(|k| combine::<M>(t[2 * k], t[2 * k + 1], tr.lo[2], tr.hi[2]));
    let v = combine::<M>(u[0], u[1], tr.lo[3], tr.hi[3]);
    if M == L2 { _mm512_sqrt_ps(v) } else { v }
}

#[target_feature(enable = "avx512f")]
unsafe fn tile_impl<const M: u8>(queries: [&[f32]; 4], rows: &[f32], dim: usize, out: &mut [f32]) {
    let n_rows = rows.len() / dim;
    let tr = tree();
    let q = queries.map(|s| s.as_ptr());
    let mut lanes = [0f32; 16];
    for t in (0..n_rows).step_by(4) {
        // SAFETY: rows t..t+4 exist (n_rows is a multiple of 4) and hold dim floats each;
        // the queries hold dim floats (checked by `tile`).
        let v = unsafe { block4::<M>(q, rows.as_ptr().add(t * dim), dim, &tr) };
        // SAFETY: stores 16 floats into a 16-element array.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
        for qi in 0..4 {
            out[qi * n_rows + t..qi * n_rows + t + 4].copy_from_slice(&lanes[4 * qi..4 * qi + 4]);
        }
    }
}

/// Distances of 4 queries to every row of `rows` (`n_rows × dim`, `n_rows` a multiple of
/// 4): `out[q · n_rows + t]`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn tile(
    metric: Metric,
    queries: [&[f32]; 4],
    rows: &[f32],
    dim: usize,
    out: &mut [f32],
) {
    super::check_tile(&queries, rows, dim, out);
    // SAFETY: shapes checked above; AVX-512F by the caller's contract.
    unsafe {
        match metric {
            Metric::L1 => tile_impl::<L1>(queries, rows, dim, out),
            Metric::L2 => tile_impl::<L2>(queries, rows, dim, out),
            Metric::Linf => tile_impl::<LINF>(queries, rows, dim, out),
            Metric::Ip | Metric::Cosine => super::scalar::tile(metric, queries, rows, dim, out),
        }
    }
}
