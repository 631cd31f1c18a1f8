//! Distance kernels. One summation order, defined by [`scalar`], is reproduced bit for bit
//! by every SIMD kernel:
//!
//! - rows are padded with zeros to a multiple of 16 values (padding adds exactly 0);
//! - value `j` of a row goes to lane `j mod 16`; each lane accumulates, in increasing `j`,
//!   `|a − b|` (ℓ1), `(a − b)·(a − b)` rounded after the multiply and after the add (ℓ2,
//!   never fused), or `max(acc, |a − b|)` (ℓ∞);
//! - the 16 lanes are then reduced by a fixed tree: `l + (l+8)` for `l < 8`, then
//!   `l + (l+4)`, then `l + (l+2)`, then `0 + 1` (ℓ∞: the same tree with `max`);
//! - ℓ2 takes the square root of the reduced sum (correctly rounded).
//!
//! Kernels compute 4 queries against a tile of training rows, 4 × 4 pairs at a time. The kernel is
//! chosen once at run time from the CPU's features; `NNCERT_KERNEL=scalar|avx2|avx512`
//! forces one (CI forces the scalar one to test it on the same machine).

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

use std::fmt;

use serde::Serialize;

use crate::error::Error;

/// Lanes of the summation order.
pub const LANES: usize = 16;

/// Distance between feature vectors (METHOD §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Σ|u − v| (default).
    #[default]
    L1,
    /// sqrt(Σ(u − v)²).
    L2,
    /// max|u − v|.
    Linf,
    /// Inner product as a distance: −u·v (larger inner products are nearer). rNN keeps
    /// the examples with u·v ≥ r (`docs/SEARCH.md`).
    Ip,
    /// Cosine distance 1 − û·v̂ of the rows scaled to unit length (`docs/SEARCH.md`).
    Cosine,
}

impl Metric {
    /// Whether the search computes this metric through matrix multiplication (inner
    /// products) rather than the fixed-order distance kernels.
    pub(crate) fn uses_gemm(self) -> bool {
        matches!(self, Metric::L2 | Metric::Ip | Metric::Cosine)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::L1 => "l1",
            Metric::L2 => "l2",
            Metric::Linf => "linf",
            Metric::Ip => "ip",
            Metric::Cosine => "cosine",
        })
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "l1" => Ok(Metric::L1),
            "l2" => Ok(Metric::L2),
            "linf" => Ok(Metric::Linf),
            "ip" => Ok(Metric::Ip),
            "cosine" => Ok(Metric::Cosine),
            other => Err(Error::invalid(format!(
                "metric: expected l1, l2, linf, ip or cosine, found `{other}`"
            ))),
        }
    }
}

/// An implementation of the distance kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    /// Portable Rust, the reference.
    Scalar,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        })
    }
}

impl Kernel {
    /// Whether this CPU can run the kernel.
    pub(crate) fn is_available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every kernel this CPU can run, fastest last.
    pub fn available() -> Vec<Kernel> {
        [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }

    /// The kernel to use: `NNCERT_KERNEL` if set, else the fastest available.
    pub fn detect() -> Result<Kernel, Error> {
        match std::env::var("NNCERT_KERNEL") {
            Ok(name) => {
                let k = match name.as_str() {
                    "scalar" => Kernel::Scalar,
                    "avx2" => Kernel::Avx2,
                    "avx512" => Kernel::Avx512,
                    other => {
                        return Err(Error::invalid(format!(
                            "NNCERT_KERNEL: expected scalar, avx2 or avx512, found `{other}`"
                        )));
                    }
                };
                if !k.is_available() {
                    return Err(Error::invalid(format!(
                        "NNCERT_KERNEL={k}: this CPU does not support it"
                    )));
                }
                Ok(k)
            }
            Err(_) => Ok(*Kernel::available().last().unwrap_or(&Kernel::Scalar)),
        }
    }

    /// Distances of 4 queries to every row of `rows` (`n_rows × dim` row-major, `n_rows` a
    /// multiple of 4, `dim` a multiple of [`LANES`]): `out[q · n_rows + t]`.
    #[inline]
    pub fn tile(
        self,
        metric: Metric,
        queries: [&[f32]; 4],
        rows: &[f32],
        dim: usize,
        out: &mut [f32],
    ) {
        // Keeps the SIMD calls sound even for a hand-built `Kernel` value (one cached
        // atomic load per tile).
        assert!(
            self.is_available(),
            "kernel {self} is not supported by this CPU"
        );
        if matches!(metric, Metric::Ip | Metric::Cosine) {
            // Inner products have no SIMD tile: the search multiplies matrices instead.
            return scalar::tile(metric, queries, rows, dim, out);
        }
        match self {
            Kernel::Scalar => scalar::tile(metric, queries, rows, dim, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only used after `is_available` confirmed AVX2 (see
            // `detect`, `available` and the check in `search`); shapes are asserted inside.
            Kernel::Avx2 => unsafe { avx2::tile(metric, queries, rows, dim, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AVX-512F.
            Kernel::Avx512 => unsafe { avx512::tile(metric, queries, rows, dim, out) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => scalar::tile(metric, queries, rows, dim, out),
        }
    }
}

/// Panics unless the shapes of a tile call are consistent: `dim` a positive multiple of
/// [`LANES`], every query `dim` long, `rows` whole groups of 4 rows, `out` 4 × rows long.
/// The SIMD kernels rely on it for the bounds of their unchecked loads.
pub(crate) fn check_tile(queries: &[&[f32]; 4], rows: &[f32], dim: usize, out: &[f32]) {
    assert!(dim.is_multiple_of(LANES) && dim > 0);
    assert!(queries.iter().all(|s| s.len() == dim));
    assert!(rows.len().is_multiple_of(4 * dim));
    assert_eq!(out.len(), 4 * (rows.len() / dim));
}

/// The lane tree of the module documentation, for one pair's 16 lanes.
#[inline]
pub(crate) fn reduce_lanes(metric: Metric, lanes: &[f32; LANES]) -> f32 {
    let op = |a: f32, b: f32| {
        if metric == Metric::Linf {
            a.max(b)
        } else {
            a + b
        }
    };
    let mut l8 = [0f32; 8];
    for l in 0..8 {
        l8[l] = op(lanes[l], lanes[l + 8]);
    }
    let mut l4 = [0f32; 4];
    for l in 0..4 {
        l4[l] = op(l8[l], l8[l + 4]);
    }
    let l2 = [op(l4[0], l4[2]), op(l4[1], l4[3])];
    let total = op(l2[0], l2[1]);
    if metric == Metric::L2 {
        total.sqrt()
    } else {
        total
    }
}
