//! ℓ2, inner product and cosine through matrix multiplication: a block of queries times a
//! tile of training rows with `matrixmultiply::sgemm`, then per pair
//!
//! - ℓ2: the squared distance `‖x‖² + ‖y‖² − 2 x·y` (clamped at 0),
//! - inner product: `−x·y`,
//! - cosine: `1 − x·y` of rows scaled to unit length beforehand,
//!
//! as fast values for the shortlist. Their error bound ([`GemmNorms::bound`],
//! `docs/SEARCH.md`) holds for any summation order, blocking or fused multiply-add the
//! GEMM may use, so the exact recheck makes the answer independent of it.

use super::exact::Bound;
use super::kernel::Metric;

/// Squared norms and the norm bounds the fast values and their error bound need.
#[derive(Debug, Clone)]
pub(crate) struct GemmNorms {
    /// ‖y‖² of each padded training row, rounded to f32 (ℓ2 only).
    pub train_sq: Vec<f32>,
    /// ‖x‖² of each padded test row, rounded to f32 (ℓ2 only).
    pub test_sq: Vec<f32>,
    /// An upper bound on ‖x‖ of each test row.
    pub test_norm: Vec<f64>,
    /// An upper bound on every training row's ‖y‖.
    pub train_norm_max: f64,
    /// Values per padded row.
    pub dim: usize,
}

/// ‖v‖² summed in f64 (each square exact, the sum within a relative 2^-40 for any row
/// shorter than 2^12·… values, covered by the slack of [`upper_norm`]).
pub(crate) fn sq_norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum()
}

/// An upper bound on ‖v‖ from its f64 square sum.
fn upper_norm(sq: f64) -> f64 {
    (sq * (1.0 + 1e-9)).sqrt()
}

/// Scales every row of `data` (rows of `dim`) to unit length: `x_i / ‖x‖` with ‖x‖ =
/// sqrt(Σ x_i² in f64, in index order), each quotient computed in f64 and rounded to f32.
/// Zero rows stay zero (cosine distance 1 to everything).
pub(crate) fn normalize_rows(data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        let norm = row_norm(row);
        if norm > 0.0 {
            for x in row.iter_mut() {
                *x = (f64::from(*x) / norm) as f32;
            }
        }
    }
}

/// The norm [`normalize_rows`] divides `row` by.
pub(crate) fn row_norm(row: &[f32]) -> f64 {
    sq_norm(row).sqrt()
}

/// `row` scaled as [`normalize_rows`] scales it, given its [`row_norm`], into `out` (of
/// the same length): the same f32 values, bit for bit, without changing `row`. This is how
/// the search reads cosine's training rows without holding a scaled copy of them.
pub(crate) fn scale_into(row: &[f32], norm: f64, out: &mut [f32]) {
    if norm > 0.0 {
        for (o, &x) in out.iter_mut().zip(row) {
            *o = (f64::from(x) / norm) as f32;
        }
    } else {
        out.copy_from_slice(row);
    }
}

impl GemmNorms {
    /// Norms from the squared norms ([`sq_norm`]) of every padded training and test row
    /// (`dim` values per row), as searched.
    pub fn from_sq_norms(train64: &[f64], test64: &[f64], dim: usize) -> GemmNorms {
        GemmNorms {
            train_sq: train64.iter().map(|&v| v as f32).collect(),
            test_sq: test64.iter().map(|&v| v as f32).collect(),
            test_norm: test64.iter().map(|&v| upper_norm(v)).collect(),
            train_norm_max: train64.iter().map(|&v| upper_norm(v)).fold(0.0, f64::max),
            dim,
        }
    }

    /// Whether every fast value stays far from f32 overflow (else ℓ2 uses the kernels and
    /// the inner product is refused).
    pub(crate) fn fits_f32(&self) -> bool {
        let x = self.test_norm.iter().copied().fold(0.0, f64::max);
        let s = x + self.train_norm_max;
        s * s < 1e36
    }

    /// The error bound of test row `q`'s fast values (see `docs/SEARCH.md`): with
    /// `u = 2^-24`, `P` values per row and `γ_P = P·u / (1 − P·u)`, a dot product computed
    /// in any order is within `E_dot = γ_P ‖x‖ max‖y‖ + P·2^-149` (underflow) of `x·y`.
    pub fn bound(&self, metric: Metric, q: usize) -> Bound {
        let u = f64::from(f32::EPSILON) / 2.0;
        let p = self.dim as f64;
        let gamma = if p * u < 0.25 {
            p * u / (1.0 - p * u)
        } else {
            f64::INFINITY
        };
        let (x, y) = (self.test_norm[q], self.train_norm_max);
        let e_dot = gamma * x * y + p * 2f64.powi(-149);
        // Doubled for the second-order terms.
        match metric {
            // Norms rounded to f32 (≤ 2u each, with their f64 sums), one addition, one
            // subtraction (each ≤ u of at most (‖x‖ + ‖y‖)²), and 2·E_dot.
            Metric::L2 => Bound::absolute(2.0 * (4.0 * u * (x + y) * (x + y) + 2.0 * e_dot), 0.0),
            Metric::Ip => Bound::absolute(2.0 * e_dot, f64::NEG_INFINITY),
            // 1 − c rounds once more, by at most u·(1 + ‖x‖‖y‖).
            _ => Bound::absolute(2.0 * (e_dot + 2.0 * u * (1.0 + x * y)), f64::NEG_INFINITY),
        }
    }

    /// The fast value from a dot product `c` of test row `q` and padded training row `j`.
    #[inline]
    pub fn fast(&self, metric: Metric, q: usize, j: usize, c: f32) -> f32 {
        match metric {
            Metric::L2 => ((self.test_sq[q] + self.train_sq[j]) - 2.0 * c).max(0.0),
            Metric::Ip => -c,
            _ => 1.0 - c,
        }
    }
}

/// `out[i · n + t] = queries[i] · rows[t]` for `m` query rows and `n` training rows of
/// `dim` values (both row-major).
pub(crate) fn dots(queries: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
    let (m, n) = (queries.len() / dim, rows.len() / dim);
    assert!(queries.len() == m * dim && rows.len() == n * dim && out.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: A is m × dim with strides (dim, 1), B = rowsᵀ is dim × n with strides
    // (1, dim), C is m × n with strides (n, 1); the asserts above keep every access
    // inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            dim,
            n,
            1.0,
            queries.as_ptr(),
            dim as isize,
            1,
            rows.as_ptr(),
            1,
            dim as isize,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
