//! Which GEMM crate computes nncert's tile products fastest on this CPU?
//!
//! nncert's ℓ2 / inner-product / cosine search (`crates/nncert/src/neighbours/gemm.rs`)
//! multiplies a block of `QB` query rows by a tile of training rows, both row-major with
//! `P` values per row (padded to a multiple of 16), into a `QB × T` row-major block:
//! `out[i·T + t] = q_i · y_t`, with `T = 1 MiB / (4 P)` rounded down to a multiple of 4
//! (`GEMM_TILE_BYTES` in `search.rs`). Each rayon task of the search owns one query block
//! and walks the whole training set tile by tile, every GEMM call single-threaded.
//!
//! This program does exactly that for `matrixmultiply::sgemm` (what nncert uses), `gemm`
//! (sarah-ek) and `faer`, with 1 and 2 threads each working on its own query blocks (as
//! the search does), and prints GFLOP/s (2 flops per multiply-add) per crate, padded
//! width `P`, query block and thread count: per wall second and per CPU second (the
//! latter steadier on a shared machine). It also checks every crate's products against
//! f64 dot products: the error must stay within the bound `γ_P Σ|x_i y_i|` that
//! `docs/SEARCH.md` proves for any summation order (the largest ratio error / bound is
//! printed; above 1 would break nncert's exactness proof).
//!
//! Run (from the repository root, with the workspace's own target directory):
//!
//! ```sh
//! cargo run --release --manifest-path tools/gemm-bench/Cargo.toml --target-dir target
//! ```

use std::time::Instant;

/// The search's tile budget (`GEMM_TILE_BYTES` in `crates/nncert/src/neighbours/search.rs`).
const TILE_BYTES: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug)]
enum Crate {
    MatrixMultiply,
    Gemm,
    Faer,
}

impl Crate {
    fn name(self) -> &'static str {
        match self {
            Crate::MatrixMultiply => "matrixmultiply",
            Crate::Gemm => "gemm",
            Crate::Faer => "faer",
        }
    }

    /// `out[i·n + t] = queries[i] · rows[t]`, single-threaded.
    fn dots(self, queries: &[f32], rows: &[f32], dim: usize, out: &mut [f32]) {
        let (m, n) = (queries.len() / dim, rows.len() / dim);
        assert!(queries.len() == m * dim && rows.len() == n * dim && out.len() >= m * n);
        match self {
            // SAFETY (all three): A is m × dim with strides (dim, 1), B = rowsᵀ is dim × n
            // with strides (1, dim), C is m × n with strides (n, 1), inside the slices.
            Crate::MatrixMultiply => unsafe {
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
                )
            },
            // gemm's convention: dst = alpha·dst + beta·lhs·rhs (dst not read here);
            // strides are (column stride, row stride).
            Crate::Gemm => unsafe {
                gemm::gemm(
                    m,
                    n,
                    dim,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    queries.as_ptr(),
                    1,
                    dim as isize,
                    rows.as_ptr(),
                    dim as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            },
            Crate::Faer => {
                let a = faer::MatRef::from_row_major_slice(queries, m, dim);
                let b = faer::MatRef::from_row_major_slice(rows, n, dim).transpose();
                let c = faer::MatMut::from_row_major_slice_mut(&mut out[..m * n], m, n);
                faer::linalg::matmul::matmul(c, faer::Accum::Replace, a, b, 1.0f32, faer::Par::Seq);
            }
        }
    }
}

/// SplitMix64, for reproducible data without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Roughly N(0, 1) (sum of 4 uniforms, rescaled).
    fn normal(&mut self) -> f32 {
        let s: f64 = (0..4)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        ((s - 2.0) * 3f64.sqrt()) as f32
    }
}

/// Rows of `dim` values around `centres` Gaussian centres, the last `dim − real` zero
/// (the search's padding).
fn rows(rng: &mut Rng, n: usize, dim: usize, real: usize, centres: &[f32]) -> Vec<f32> {
    let nc = centres.len() / dim;
    let mut v = vec![0f32; n * dim];
    for row in v.chunks_exact_mut(dim) {
        let c = &centres[(rng.next() as usize % nc) * dim..][..dim];
        for (j, x) in row.iter_mut().enumerate().take(real) {
            *x = c[j] + 0.5 * rng.normal();
        }
    }
    v
}

/// CPU seconds the calling thread has used (steadier than wall time on a shared machine).
fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// (wall seconds, CPU seconds of all threads) for `threads` threads to take every query
/// block of `test` against every tile of `train` (blocks dealt round-robin, as rayon's
/// split roughly does).
fn sweep(
    krate: Crate,
    train: &[f32],
    test: &[f32],
    dim: usize,
    qb: usize,
    threads: usize,
) -> (f64, f64) {
    let tile = (TILE_BYTES / (dim * 4)) / 4 * 4;
    let n_blocks = (test.len() / dim).div_ceil(qb);
    let start = Instant::now();
    let cpu: f64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let cpu0 = thread_cpu_seconds();
                    let mut out = vec![0f32; qb * tile];
                    let mut sink = 0f32;
                    for b in (t..n_blocks).step_by(threads) {
                        let q = &test[b * qb * dim..((b + 1) * qb * dim).min(test.len())];
                        for rows in train.chunks(tile * dim) {
                            krate.dots(q, rows, dim, &mut out);
                            sink += out[0];
                        }
                    }
                    std::hint::black_box(sink);
                    thread_cpu_seconds() - cpu0
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .sum()
    });
    (start.elapsed().as_secs_f64(), cpu)
}

/// Largest |c̃ − x·y| / (γ_P Σ|x_i y_i| + P·2^-149) over a block against a tile.
fn worst_error_ratio(krate: Crate, train: &[f32], test: &[f32], dim: usize) -> f64 {
    let (m, n) = (64.min(test.len() / dim), 512.min(train.len() / dim));
    let (q, y) = (&test[..m * dim], &train[..n * dim]);
    let mut out = vec![0f32; m * n];
    krate.dots(q, y, dim, &mut out);
    let u = f64::from(f32::EPSILON) / 2.0;
    let p = dim as f64;
    let gamma = p * u / (1.0 - p * u);
    let mut worst = 0f64;
    for i in 0..m {
        for t in 0..n {
            let (a, b) = (&q[i * dim..][..dim], &y[t * dim..][..dim]);
            let exact: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &z)| f64::from(x) * f64::from(z))
                .sum();
            let abs: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &z)| (f64::from(x) * f64::from(z)).abs())
                .sum();
            let bound = gamma * abs + p * 2f64.powi(-149);
            worst = worst.max((f64::from(out[i * n + t]) - exact).abs() / bound);
        }
    }
    worst
}

fn main() {
    let crates = [Crate::MatrixMultiply, Crate::Gemm, Crate::Faer];
    // (padded width, real width, training rows, test rows): ~2·10^10 flops per sweep.
    let shapes = [
        (96, 81, 60_000, 1_024),
        (128, 128, 100_000, 768),
        (512, 512, 40_000, 512),
    ];
    let mut rng = Rng(7);
    println!("crate\tP\tquery_block\tthreads\twall_s\tcpu_s\tGFLOP/s_wall\tGFLOP/cpu_s\tworst_error/bound");
    for &(dim, real, n_train, n_test) in &shapes {
        let centres = rows(&mut rng, 200, dim, real, &vec![0f32; 200 * dim]);
        let train = rows(&mut rng, n_train, dim, real, &centres);
        let test = rows(&mut rng, n_test, dim, real, &centres);
        let flops = 2.0 * (n_train * n_test * dim) as f64;
        for qb in [64, 256] {
            for threads in [1, 2] {
                for &krate in &crates {
                    // Best of 3 sweeps (by CPU time): the machine is shared.
                    let (wall, cpu) = (0..3)
                        .map(|_| sweep(krate, &train, &test, dim, qb, threads))
                        .fold((f64::INFINITY, f64::INFINITY), |a, b| {
                            if b.1 < a.1 {
                                b
                            } else {
                                a
                            }
                        });
                    let ratio = worst_error_ratio(krate, &train, &test, dim);
                    println!(
                        "{}\t{dim}\t{qb}\t{threads}\t{wall:.3}\t{cpu:.3}\t{:.1}\t{:.1}\t{ratio:.3}",
                        krate.name(),
                        flops / wall / 1e9,
                        flops / cpu / 1e9
                    );
                }
            }
        }
    }
}
