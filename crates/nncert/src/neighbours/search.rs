//! Exact all-pairs search, tiled and multithreaded, straight into votes.
//!
//! Queries are processed in blocks of [`QUERY_BLOCK`] ([`GEMM_QUERY_BLOCK`] in the
//! matrix-multiplication path), one rayon task per block. Each
//! task walks the training set in tiles sized to stay in L2 and, for 4 queries at a time,
//! computes a tile of distances with the chosen kernel; each distance then goes to its
//! query's radius counts and top-k candidates. No `n_test × n_train` matrix ever exists.
//!
//! Layout: the training rows are grouped by label, and within a label visited in a fixed
//! pseudo-random order (a seeded shuffle). Grouping by label turns the rNN counts into
//! plain counts of `d ≤ r` over contiguous runs (vectorisable, no per-pair branch).
//!
//! Top-k uses a threshold found on a sample: the first eighth of every label's run is
//! visited first (a stratified random sample), and the distance of a slightly-more-than-
//! proportional order statistic of the sample becomes the query's threshold τ. Afterwards
//! only keys with distance ≤ τ are kept. If at least `k_max` keys have distance ≤ τ, the
//! `k_max` smallest keys are all among them (exact); otherwise the query is searched again
//! without a threshold (rare, and exact).
//!
//! Exactness: the kernels' f32 distances only shortlist. Every decision is the one exact
//! arithmetic on the f32 inputs makes: a candidate whose proven error interval
//! ([`Bound`]) straddles the k-th distance or a radius is recomputed exactly
//! ([`exact_key`]), and neighbour lists are put in exact order (`docs/SEARCH.md`). The
//! output is therefore the same for every thread count, kernel and summation order.

use std::borrow::Cow;

use rayon::prelude::*;
use serde::Serialize;

use super::exact::{Bound, Exact, exact_key, radius_key, select_exact};
use super::gemm::{self, GemmNorms};
use super::kernel::{Kernel, Metric, scalar};
use super::key_interval::KeyDomain;
pub use super::layout::TrainLayout;
use super::select::{TopK, from_ord_bits, order_key};
use crate::cancel;
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::votes::Votes;

/// Queries per rayon task.
pub const QUERY_BLOCK: usize = 64;
/// Queries per rayon task in the matrix-multiplication path (ℓ2, ip, cosine), at most:
/// every GEMM call packs its training tile afresh, so a taller query block amortises that
/// packing over more products (about 20 % of the search's time at 64; BENCHMARKS.md, "GEMM
/// crate and query block"). Lowered for large k (down to [`QUERY_BLOCK`]) so that the
/// block's top-k buffers stay within 16 MiB.
pub const GEMM_QUERY_BLOCK: usize = 256;
/// Bytes of top-k candidate buffers a GEMM query block may hold (each query's buffer
/// holds up to `2 k_max + 16` keys of 8 bytes): a taller block must not cost memory for
/// large k, where the block falls back to [`QUERY_BLOCK`].
const GEMM_BLOCK_CANDIDATE_BYTES: usize = 16 * 1024 * 1024;

/// Queries per GEMM block for a largest k of `k_max`: as many as
/// [`GEMM_BLOCK_CANDIDATE_BYTES`] of candidate buffers allow, between [`QUERY_BLOCK`] and
/// [`GEMM_QUERY_BLOCK`], a multiple of 4.
fn gemm_query_block(k_max: usize) -> usize {
    let per_query = k_max.saturating_mul(2).saturating_add(16).saturating_mul(8);
    (GEMM_BLOCK_CANDIDATE_BYTES / per_query / 4 * 4).clamp(QUERY_BLOCK, GEMM_QUERY_BLOCK)
}
/// Bytes of training rows per tile (kept in L2 while a query block passes over it).
pub(crate) const TILE_BYTES: usize = 192 * 1024;
/// Bytes of training rows per tile in the matrix-multiplication path (ℓ2, ip, cosine).
pub(crate) const GEMM_TILE_BYTES: usize = 1024 * 1024;

/// What to search for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchConfig {
    /// Distance.
    pub metric: Metric,
    /// kNN sizes (any order; a k above the training set size means every example votes).
    pub ks: Vec<usize>,
    /// rNN radii: a training example is a neighbour when its distance ≤ r.
    pub radii: Vec<f64>,
    /// Kernel.
    pub kernel: Kernel,
    /// Also return every query's neighbours (indices and distances): the k_max nearest in
    /// the order of METHOD §2, and every example within the largest radius in the same order.
    /// Off by default: it costs memory (k_max or ball size per query).
    pub keep_neighbours: bool,
}

/// One neighbour of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Index in the training set.
    pub index: u32,
    /// Distance to the query as the fast path computes it in f32 (ℓ1, ℓ∞: the same bits
    /// for every kernel; ℓ2, ip, cosine: from the matrix multiplication), within the bound
    /// of `docs/SEARCH.md` of the exact distance. Lists are in the exact order, so two
    /// neighbours closer than that bound may appear with their f32 distances out of order.
    pub distance: f32,
}

/// Per-query neighbour lists (when [`SearchConfig::keep_neighbours`] is set).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NeighbourLists {
    /// The k_max nearest of each query, nearest first (empty without k).
    pub knn: Vec<Vec<Neighbour>>,
    /// Every training example within the largest radius, nearest first (empty without r).
    pub rnn: Vec<Vec<Neighbour>>,
}

/// The training side of a search.
#[derive(Debug, Clone, Copy)]
pub struct Reference<'a> {
    /// Training features.
    pub features: &'a FeatureMatrix,
    /// Training labels.
    pub labels: &'a [u32],
    /// Tie-break positions ([`crate::rank::tie_break_positions`]).
    pub positions: &'a [u32],
    /// Number of classes.
    pub n_classes: usize,
}

/// kNN votes for one k.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnnVotes {
    /// k as asked.
    pub k: usize,
    /// Votes (n_test × c).
    pub votes: Votes,
}

/// rNN votes for one radius.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnVotes {
    /// r as asked.
    pub radius: f64,
    /// Votes (n_test × c).
    pub votes: Votes,
    /// Test inputs with no training example within r.
    pub empty: usize,
}

/// Votes for every k and every r, in the order asked.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// One per k.
    pub knn: Vec<KnnVotes>,
    /// One per r.
    pub rnn: Vec<RnnVotes>,
    /// Queries whose sampled threshold kept fewer than k_max keys and were searched again
    /// (a speed statistic; results are exact either way).
    pub threshold_fallbacks: usize,
    /// Neighbour lists, if asked for.
    pub neighbours: Option<NeighbourLists>,
}

/// Training rows padded to a multiple of [`LANES`](super::kernel::LANES) values (borrowed from a
/// [`TrainLayout`] when it can be).
struct Padded<'a> {
    dim: usize,
    data: Cow<'a, [f32]>,
}

impl Padded<'_> {
    #[inline]
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    #[inline]
    fn rows(&self, from: usize, to: usize) -> &[f32] {
        &self.data[from * self.dim..to * self.dim]
    }
}

/// The test rows of a search: `n` row-major rows of `dim` values, borrowed. The search
/// makes no padded copy of them as a whole: each block of queries pads (and for cosine
/// scales) its own rows, so the test side costs the caller's matrix and a
/// few blocks (`docs/MEMORY.md`).
#[derive(Debug, Clone, Copy)]
pub struct QueryRows<'a> {
    n: usize,
    dim: usize,
    data: &'a [f32],
}

impl<'a> QueryRows<'a> {
    /// `data.len() / dim` rows of `dim` values; an error unless `dim ≥ 1` divides
    /// `data.len()`.
    pub fn new(data: &'a [f32], dim: usize) -> Result<QueryRows<'a>, Error> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(Error::invalid(format!(
                "search: expected test rows of {dim} values, found {} values",
                data.len()
            )));
        }
        Ok(QueryRows {
            n: data.len() / dim,
            dim,
            data,
        })
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.n
    }

    #[inline]
    fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

impl<'a> From<&'a FeatureMatrix> for QueryRows<'a> {
    fn from(m: &'a FeatureMatrix) -> QueryRows<'a> {
        QueryRows {
            n: m.n,
            dim: m.dim,
            data: &m.data,
        }
    }
}

/// One block's queries, padded to the training rows' width (cosine: scaled to unit length,
/// `docs/SEARCH.md`), followed by zero rows up to a multiple of 4: exactly the rows a
/// padded copy of the whole test matrix would hold there.
struct Queries {
    q0: usize,
    dim: usize,
    data: Vec<f32>,
}

impl Queries {
    fn new(plan: &Plan<'_>, q0: usize, nq: usize) -> Queries {
        let dim = plan.train.dim;
        let mut data = vec![0f32; nq.div_ceil(4) * 4 * dim];
        for i in 0..nq {
            data[i * dim..i * dim + plan.test.dim].copy_from_slice(plan.test.row(q0 + i));
        }
        if plan.metric == Metric::Cosine {
            gemm::normalize_rows(&mut data[..nq * dim], dim);
        }
        Queries { q0, dim, data }
    }

    /// Test row `q` (of the whole test set).
    #[inline]
    fn row(&self, q: usize) -> &[f32] {
        let i = q - self.q0;
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Test rows `from..to` (of the whole test set).
    #[inline]
    fn rows(&self, from: usize, to: usize) -> &[f32] {
        &self.data[(from - self.q0) * self.dim..(to - self.q0) * self.dim]
    }
}

/// A contiguous run of padded training rows of one label.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// First padded row.
    start: usize,
    /// Padded rows (a multiple of 4, at most the tile size).
    rows: usize,
    /// Real rows at the start of the run (the rest is zero padding).
    valid: usize,
    /// Label of every real row.
    label: u32,
}

/// Everything the per-block workers share.
struct Plan<'a> {
    train: Padded<'a>,
    /// Cosine: the norm of every training slot's row, by which [`Plan::train_tile`]
    /// scales it as it is read (no second, scaled copy of the training rows).
    train_norms: Option<Vec<f64>>,
    test: QueryRows<'a>,
    /// Tie-break position of every padded training row (padding: unused).
    positions: Vec<u32>,
    label_by_position: Vec<u32>,
    n_train: usize,
    n_classes: usize,
    ks: Vec<usize>,
    k_max: usize,
    radii: Vec<f64>,
    /// Per radius (ascending), how kernel distances decide `D ≤ r`.
    radius_limits: Vec<RadiusLimits>,
    /// Error bound of the kernels' distances.
    bound: Bound,
    /// Padded training row of each tie-break position (for exact rechecks).
    row_by_position: Vec<u32>,
    /// Norms for the inner-product path (ℓ2, inner product, cosine), `None`: kernels.
    gemm: Option<GemmNorms>,
    /// Runs of the sample (phase 0) and of the rest (phase 1), each at most a tile long.
    phases: [Vec<Run>; 2],
    /// Real rows in the sample.
    sample_size: usize,
    metric: Metric,
    kernel: Kernel,
    /// (factor, extra) of [`Plan::sample_rank`].
    margin: (f64, usize),
    /// Training index of each tie-break position (for neighbour lists).
    index_by_position: Vec<u32>,
    /// Which neighbour lists to keep.
    lists: Lists,
    /// What the fast values measure, relative to the exact key.
    domain: KeyDomain,
}

/// Which neighbour lists a search keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lists {
    /// The k_max nearest of each query, in exact order.
    pub knn: bool,
    /// Every example within the largest radius, in exact order.
    pub rnn: bool,
    /// Whether lists are put in exact order (else: the same sets, ordered by fast value
    /// then position, which saves the exact keys of their near-ties).
    pub ordered: bool,
}

/// A neighbour as the search found it: training index and fast value (in the search's
/// [`KeyDomain`]).
pub(crate) type RawNeighbour = (u32, f32);

/// Everything a search computed, before the public [`SearchResult`] is assembled: the
/// neighbour lists keep their fast values, and each query's error bound comes along, so
/// that a caller can turn every list entry into a proven interval of its exact key (the
/// shards of `crate::shard`).
pub(crate) struct Detailed {
    /// Votes (without neighbour lists).
    pub result: SearchResult,
    /// Per query, the k_max nearest in exact order (empty unless kept).
    pub knn: Vec<Vec<RawNeighbour>>,
    /// Per query, every example within the largest radius in exact order (empty unless
    /// kept).
    pub rnn: Vec<Vec<RawNeighbour>>,
    /// Per query, the error bound of its fast values.
    pub bounds: Vec<Bound>,
    /// What the fast values measure.
    pub domain: KeyDomain,
}

/// The sample margin: 25 % more than proportional, plus 32.
const MARGIN: (f64, usize) = (1.25, 32);

impl Plan<'_> {
    fn row_len(&self) -> usize {
        (self.ks.len() + self.radii.len()) * self.n_classes
    }

    /// Queries per rayon task: [`QUERY_BLOCK`] for the kernels, [`gemm_query_block`] for
    /// the GEMM path. The block size changes no result: every query's answer is exact on
    /// its own.
    fn query_block(&self) -> usize {
        if self.gemm.is_some() {
            gemm_query_block(self.k_max)
        } else {
            QUERY_BLOCK
        }
    }

    /// Sample order statistic to use as τ: proportional to k_max, with a margin.
    fn sample_rank(&self) -> usize {
        let proportional = (self.k_max as f64) * (self.sample_size as f64) / (self.n_train as f64);
        (proportional * self.margin.0).ceil() as usize + self.margin.1
    }
}

struct QueryState {
    candidates: TopK,
    /// The sampled threshold τ (distance bits; `u32::MAX` before the sample is done).
    tau_bits: u32,
    /// Keep only keys whose distance bits are ≤ this (τ widened by the error bound).
    accept_bits: u32,
}

/// How kernel distances `d̃` decide `D ≤ r` for one radius.
#[derive(Debug, Clone, Copy)]
struct RadiusLimits {
    /// `d̃ ≤ certain` ⟹ `D ≤ r` (−1 when no `d̃` is certain).
    certain: f32,
    /// `d̃ > reach` ⟹ `D > r`; in between, [`exact_key`] decides.
    reach: f32,
    /// `D ≤ r ⟺ exact_key ≤ key`.
    key: Exact,
}

impl RadiusLimits {
    /// Limits for fast values in the inner-product path: compared with r² (ℓ2, rounded
    /// outwards), −r (inner product) or r (cosine).
    fn for_gemm(metric: Metric, bound: &Bound, r: f64) -> RadiusLimits {
        let (low, high) = match metric {
            Metric::L2 => {
                let sq = r * r;
                (sq * (1.0 - 1e-15), sq * (1.0 + 1e-15))
            }
            Metric::Ip => (-r, -r),
            _ => (r, r),
        };
        RadiusLimits {
            certain: bound
                .certain_bits(low, false)
                .map_or(f32::NEG_INFINITY, from_ord_bits),
            reach: match bound.reach_bits(high) {
                u32::MAX => f32::INFINITY,
                b => from_ord_bits(b),
            },
            key: radius_key(metric, r),
        }
    }

    fn new(metric: Metric, bound: &Bound, r: f64) -> RadiusLimits {
        RadiusLimits {
            certain: bound
                .certain_bits(r, false)
                .map_or(f32::NEG_INFINITY, from_ord_bits),
            reach: match bound.reach_bits(r) {
                u32::MAX => f32::INFINITY,
                b => from_ord_bits(b),
            },
            key: radius_key(metric, r),
        }
    }
}

/// Searches every test row against the reference; `progress(n)` is called as blocks of
/// `n` queries finish.
pub fn search(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    test_labels: &[u32],
    config: &SearchConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SearchResult, Error> {
    search_with_margin(reference, test, test_labels, config, progress, MARGIN)
}

fn search_with_margin(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    test_labels: &[u32],
    config: &SearchConfig,
    progress: &(dyn Fn(usize) + Sync),
    margin: (f64, usize),
) -> Result<SearchResult, Error> {
    let lists = Lists {
        knn: config.keep_neighbours,
        rnn: config.keep_neighbours,
        ordered: true,
    };
    let detailed = search_detailed(
        reference,
        test,
        test_labels,
        config,
        lists,
        progress,
        margin,
    )?;
    Ok(into_result(detailed, config.keep_neighbours))
}

/// The result of a search, with its neighbour lists in reported distances if `keep`.
fn into_result(detailed: Detailed, keep: bool) -> SearchResult {
    let mut result = detailed.result;
    if keep {
        let domain = detailed.domain;
        let convert = |lists: Vec<Vec<RawNeighbour>>| -> Vec<Vec<Neighbour>> {
            lists
                .into_iter()
                .map(|l| {
                    l.into_iter()
                        .map(|(index, fast)| Neighbour {
                            index,
                            distance: domain.reported(fast),
                        })
                        .collect()
                })
                .collect()
        };
        result.neighbours = Some(NeighbourLists {
            knn: convert(detailed.knn),
            rnn: convert(detailed.rnn),
        });
    }
    result
}

/// The training side of a search whose rows are already in the search's layout (e.g.
/// streamed there by the `.npy` loader): the search then makes no copy of them (cosine
/// scales each tile of rows as it reads it).
#[derive(Debug, Clone, Copy)]
pub struct LaidOutReference<'a> {
    /// Training rows.
    pub layout: &'a TrainLayout,
    /// Training labels (those the layout was built with).
    pub labels: &'a [u32],
    /// Tie-break positions ([`crate::rank::tie_break_positions`]).
    pub positions: &'a [u32],
    /// Number of classes (as the layout was built with).
    pub n_classes: usize,
}

/// As [`search()`], for training rows already in the search's layout and test rows
/// borrowed as they are (`QueryRows::from(&matrix)`, or [`QueryRows::new`] on a slice).
pub fn search_laid_out(
    reference: LaidOutReference<'_>,
    test: QueryRows<'_>,
    test_labels: &[u32],
    config: &SearchConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SearchResult, Error> {
    let train = TrainSide {
        n: reference.layout.n(),
        dim: reference.layout.dim(),
        labels: reference.labels,
        positions: reference.positions,
        n_classes: reference.n_classes,
    };
    check(&train, &test, test_labels, config)?;
    check_layout(&reference)?;
    let lists = Lists {
        knn: config.keep_neighbours,
        rnn: config.keep_neighbours,
        ordered: true,
    };
    let detailed = search_in(
        Cow::Borrowed(reference.layout),
        &train,
        test,
        test_labels,
        config,
        lists,
        progress,
        MARGIN,
    )?;
    Ok(into_result(detailed, config.keep_neighbours))
}

/// A layout fits its reference: built for its class count and its labels (every slot's
/// row in the group of its label), else rNN counts would go to the wrong class.
fn check_layout(reference: &LaidOutReference<'_>) -> Result<(), Error> {
    let layout = reference.layout;
    if layout.groups().len() != reference.n_classes {
        return Err(Error::invalid(format!(
            "search: the training layout has {} classes, the reference {}",
            layout.groups().len(),
            reference.n_classes
        )));
    }
    for (label, group) in layout.groups().iter().enumerate() {
        for slot in group.start..group.start + group.len {
            match layout.row_of_slot(slot) {
                Some(j) if reference.labels.get(j) == Some(&(label as u32)) => {}
                _ => {
                    return Err(Error::invalid(
                        "search: the training layout was built for other labels than the reference's",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// As [`search_detailed`], for training rows already in the search's layout.
pub(crate) fn search_detailed_laid_out(
    reference: LaidOutReference<'_>,
    test: &FeatureMatrix,
    test_labels: &[u32],
    config: &SearchConfig,
    lists: Lists,
    margin: (f64, usize),
) -> Result<Detailed, Error> {
    let train = TrainSide {
        n: reference.layout.n(),
        dim: reference.layout.dim(),
        labels: reference.labels,
        positions: reference.positions,
        n_classes: reference.n_classes,
    };
    let test = QueryRows::from(test);
    check(&train, &test, test_labels, config)?;
    check_layout(&reference)?;
    search_in(
        Cow::Borrowed(reference.layout),
        &train,
        test,
        test_labels,
        config,
        lists,
        &|_| {},
        margin,
    )
}

/// What the search needs to know of the training side besides its rows.
struct TrainSide<'a> {
    n: usize,
    dim: usize,
    labels: &'a [u32],
    positions: &'a [u32],
    n_classes: usize,
}

/// [`search`] with the lists asked for by `lists` (whatever `config.keep_neighbours`
/// says) kept with their fast values and bounds; `margin` as in [`Plan::sample_rank`].
pub(crate) fn search_detailed(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    test_labels: &[u32],
    config: &SearchConfig,
    lists: Lists,
    progress: &(dyn Fn(usize) + Sync),
    margin: (f64, usize),
) -> Result<Detailed, Error> {
    let train = TrainSide {
        n: reference.features.n,
        dim: reference.features.dim,
        labels: reference.labels,
        positions: reference.positions,
        n_classes: reference.n_classes,
    };
    let test = QueryRows::from(test);
    check(&train, &test, test_labels, config)?;
    let layout = TrainLayout::from_matrix(reference.features, reference.labels, train.n_classes);
    search_in(
        Cow::Owned(layout),
        &train,
        test,
        test_labels,
        config,
        lists,
        progress,
        margin,
    )
}

/// Checks the arguments of a search before anything is allocated for it.
fn check(
    train: &TrainSide<'_>,
    test: &QueryRows<'_>,
    test_labels: &[u32],
    config: &SearchConfig,
) -> Result<(), Error> {
    if train.dim != test.dim {
        return Err(Error::invalid(format!(
            "search: training features have {} columns, test features {}",
            train.dim, test.dim
        )));
    }
    if train.n == 0 || test.n == 0 {
        return Err(Error::invalid(
            "search: expected non-empty training and test sets",
        ));
    }
    if train.n > u32::MAX as usize {
        return Err(Error::invalid("search: at most 2^32 − 1 training examples"));
    }
    if config.ks.contains(&0) {
        return Err(Error::invalid("k: expected at least 1, found 0"));
    }
    let signed_radius = config.metric == Metric::Ip;
    if let Some(r) = config
        .radii
        .iter()
        .find(|r| !r.is_finite() || (**r < 0.0 && !signed_radius))
    {
        return Err(Error::invalid(format!(
            "radius: expected a finite r ≥ 0, found {r}"
        )));
    }
    if !config.kernel.is_available() {
        return Err(Error::invalid(format!(
            "kernel {}: not supported by this CPU",
            config.kernel
        )));
    }
    assert_eq!(train.labels.len(), train.n);
    assert_eq!(train.positions.len(), train.n);
    assert_eq!(test_labels.len(), test.n);

    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn search_in(
    layout: Cow<'_, TrainLayout>,
    train: &TrainSide<'_>,
    test: QueryRows<'_>,
    test_labels: &[u32],
    config: &SearchConfig,
    lists: Lists,
    progress: &(dyn Fn(usize) + Sync),
    margin: (f64, usize),
) -> Result<Detailed, Error> {
    let plan = plan_search(layout, train, test, config, lists, margin)?;
    let query_block = plan.query_block();
    let n_blocks = test.n.div_ceil(query_block);
    // A cancellation (crate::cancel) stops every block at its next tile; the blocks
    // already done are dropped with the error.
    let blocks: Vec<BlockResult> = (0..n_blocks)
        .into_par_iter()
        .map(|b| {
            let q0 = b * query_block;
            let nq = query_block.min(test.n - q0);
            let out = search_block(&plan, q0, nq)?;
            progress(nq);
            Ok(out)
        })
        .collect::<Result<_, Error>>()?;
    assemble(&plan, blocks, config, test_labels)
}

/// Everything the blocks of a search share: the runs of training rows to visit, the
/// tables by tie-break position, the rows (cosine: scaled to unit length) with their
/// norms for the matrix-multiplication path, the k and radii with their limits.
fn plan_search<'a>(
    layout: Cow<'a, TrainLayout>,
    train: &TrainSide<'_>,
    test: QueryRows<'a>,
    config: &SearchConfig,
    lists: Lists,
    margin: (f64, usize),
) -> Result<Plan<'a>, Error> {
    let n_train = train.n;
    let dim = layout.padded_dim();
    let (phases, sample_size) = visiting_runs(&layout, config.metric);
    let tables = PositionTables::new(&layout, train);
    let mut ks: Vec<usize> = config.ks.iter().map(|&k| k.min(n_train)).collect();
    ks.sort_unstable();
    ks.dedup();
    let mut radii = config.radii.clone();
    radii.sort_by(f64::total_cmp);
    radii.dedup();
    let bound = Bound::for_kernels(config.metric, dim);
    let radius_limits: Vec<RadiusLimits> = radii
        .iter()
        .map(|&r| RadiusLimits::new(config.metric, &bound, r))
        .collect();
    let SearchedRows {
        train: train_rows,
        train_norms,
        gemm,
    } = searched_rows(layout, test, config.metric)?;
    let domain = match (config.metric, gemm.is_some()) {
        (Metric::L2, true) => KeyDomain::SquaredDistance,
        (Metric::L2, false) => KeyDomain::Distance,
        (Metric::Cosine, _) => KeyDomain::OneMinusDot,
        _ => KeyDomain::Key,
    };
    Ok(Plan {
        positions: tables.positions,
        train: train_rows,
        train_norms,
        test,
        gemm,
        label_by_position: tables.label_by_position,
        n_train,
        n_classes: train.n_classes,
        k_max: ks.last().copied().unwrap_or(0),
        ks,
        radii,
        radius_limits,
        bound,
        row_by_position: tables.row_by_position,
        phases,
        sample_size,
        metric: config.metric,
        kernel: config.kernel,
        margin,
        index_by_position: tables.index_by_position,
        lists,
        domain,
    })
}

/// The runs of training slots a block visits, each at most a tile long and of one label:
/// phase 0 is the first eighth of every label's slots (the sample that sets the
/// threshold), phase 1 the rest. Also the number of real rows in the sample.
fn visiting_runs(layout: &TrainLayout, metric: Metric) -> ([Vec<Run>; 2], usize) {
    // The matrix-multiplication path blocks for the caches itself: longer tiles amortise
    // its packing of the query block.
    let tile_bytes = if metric.uses_gemm() {
        GEMM_TILE_BYTES
    } else {
        TILE_BYTES
    };
    let tile_rows = ((tile_bytes / (layout.padded_dim() * 4)) / 4 * 4).max(4);
    let mut phases: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    let mut sample_size = 0;
    for (label, group) in layout.groups().iter().enumerate() {
        let (start, end) = (group.start, group.start + group.padded);
        let sample = (group.len.div_ceil(8).div_ceil(4) * 4).min(group.padded);
        sample_size += sample.min(group.len);
        let parts = [(start, start + sample), (start + sample, end)];
        for (phase, (from, to)) in parts.into_iter().enumerate() {
            for chunk in (from..to).step_by(tile_rows) {
                let stop = (chunk + tile_rows).min(to);
                phases[phase].push(Run {
                    start: chunk,
                    rows: stop - chunk,
                    valid: (start + group.len).saturating_sub(chunk).min(stop - chunk),
                    label: label as u32,
                });
            }
        }
    }
    (phases, sample_size)
}

/// The search's lookup tables between training rows, layout slots and tie-break
/// positions.
struct PositionTables {
    /// Tie-break position of every slot (padding: 0, unused).
    positions: Vec<u32>,
    /// Label of each position.
    label_by_position: Vec<u32>,
    /// Training index of each position.
    index_by_position: Vec<u32>,
    /// Slot of each position.
    row_by_position: Vec<u32>,
}

impl PositionTables {
    fn new(layout: &TrainLayout, train: &TrainSide<'_>) -> PositionTables {
        let mut label_by_position = vec![0u32; train.n];
        let mut index_by_position = vec![0u32; train.n];
        for (j, &p) in train.positions.iter().enumerate() {
            label_by_position[p as usize] = train.labels[j];
            index_by_position[p as usize] = j as u32;
        }
        let mut row_by_position = vec![0u32; train.n];
        let mut positions = vec![0u32; layout.slots()];
        for (slot, position) in positions.iter_mut().enumerate() {
            if let Some(j) = layout.row_of_slot(slot) {
                *position = train.positions[j];
                row_by_position[train.positions[j] as usize] = slot as u32;
            }
        }
        PositionTables {
            positions,
            label_by_position,
            index_by_position,
            row_by_position,
        }
    }
}

/// The padded training rows the kernels read, for cosine the norm of each (the rows are
/// scaled to unit length as they are read, `docs/SEARCH.md`, [`Plan::train_tile`]), and
/// for the matrix-multiplication path the norms of the rows it multiplies (`None` when
/// ℓ2's values are too large for f32 products: the kernels handle that). Every norm is
/// that of the padded row, as scaled (cosine), one row at a time: no copy of either
/// matrix.
fn searched_rows<'a>(
    layout: Cow<'a, TrainLayout>,
    test: QueryRows<'_>,
    metric: Metric,
) -> Result<SearchedRows<'a>, Error> {
    let dim = layout.padded_dim();
    let train_rows = Padded {
        dim,
        data: match layout {
            Cow::Borrowed(l) => Cow::Borrowed(l.data()),
            Cow::Owned(l) => Cow::Owned(l.into_data()),
        },
    };
    let cosine = metric == Metric::Cosine;
    let train_norms: Option<Vec<f64>> = cosine.then(|| {
        train_rows
            .data
            .chunks_exact(dim)
            .map(gemm::row_norm)
            .collect()
    });
    let gemm = if metric.uses_gemm() {
        // ‖row‖² of each row as searched (cosine: scaled), padded with zeros.
        let mut padded = vec![0f32; dim];
        let train_sq: Vec<f64> = match &train_norms {
            Some(norms) => train_rows
                .data
                .chunks_exact(dim)
                .zip(norms)
                .map(|(row, &norm)| {
                    gemm::scale_into(row, norm, &mut padded);
                    gemm::sq_norm(&padded)
                })
                .collect(),
            None => train_rows
                .data
                .chunks_exact(dim)
                .map(gemm::sq_norm)
                .collect(),
        };
        padded.fill(0.0);
        let test_sq: Vec<f64> = (0..test.n)
            .map(|i| {
                padded[..test.dim].copy_from_slice(test.row(i));
                if cosine {
                    gemm::normalize_rows(&mut padded, dim);
                }
                gemm::sq_norm(&padded)
            })
            .collect();
        let norms = GemmNorms::from_sq_norms(&train_sq, &test_sq, dim);
        if norms.fits_f32() {
            Some(norms)
        } else if metric == Metric::Ip {
            return Err(Error::invalid(
                "metric ip: feature norms too large for float32 inner products (‖x‖·‖y‖ ≥ 1e18)",
            ));
        } else {
            None // ℓ2 of huge values: the kernels handle overflow.
        }
    } else {
        None
    };
    Ok(SearchedRows {
        train: train_rows,
        train_norms,
        gemm,
    })
}

/// What [`searched_rows`] gives the plan.
struct SearchedRows<'a> {
    train: Padded<'a>,
    train_norms: Option<Vec<f64>>,
    gemm: Option<GemmNorms>,
}

/// The blocks' counts and lists, in test order, as votes per k and r of `config` (in the
/// order asked for, repeats included).
fn assemble(
    plan: &Plan<'_>,
    blocks: Vec<BlockResult>,
    config: &SearchConfig,
    test_labels: &[u32],
) -> Result<Detailed, Error> {
    let (c, n_test) = (plan.n_classes, test_labels.len());
    let threshold_fallbacks = blocks.iter().map(|b| b.fallbacks).sum();
    let row_len = plan.row_len();
    let (mut knn_lists, mut rnn_lists, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
    let mut all: Vec<u32> = Vec::with_capacity(n_test * row_len);
    for b in blocks {
        all.extend(b.counts);
        knn_lists.extend(b.knn);
        rnn_lists.extend(b.rnn);
        bounds.extend(b.bounds);
    }
    let column = |slot: usize| -> Vec<u32> {
        (0..n_test)
            .flat_map(|q| all[q * row_len + slot * c..q * row_len + (slot + 1) * c].to_vec())
            .collect()
    };
    let nk = plan.ks.len();
    let knn = config
        .ks
        .iter()
        .map(|&k| {
            let slot = plan
                .ks
                .binary_search(&k.min(plan.n_train))
                .expect("k was registered");
            Ok(KnnVotes {
                k,
                votes: Votes::new(column(slot), c, test_labels.to_vec())?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let rnn = config
        .radii
        .iter()
        .map(|&r| {
            let slot = nk
                + plan
                    .radii
                    .iter()
                    .position(|&x| x == r)
                    .expect("r was registered");
            let counts = column(slot);
            let empty = counts
                .chunks(c)
                .filter(|row| row.iter().all(|&v| v == 0))
                .count();
            Ok(RnnVotes {
                radius: r,
                votes: Votes::new(counts, c, test_labels.to_vec())?,
                empty,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Detailed {
        result: SearchResult {
            knn,
            rnn,
            threshold_fallbacks,
            neighbours: None,
        },
        knn: knn_lists,
        rnn: rnn_lists,
        bounds,
        domain: plan.domain,
    })
}

/// Position (tie-break order) of a key.
#[inline]
fn position_of(key: u64) -> usize {
    (key & 0xffff_ffff) as usize
}

/// Kernel distance of a key.
#[inline]
fn distance_of(key: u64) -> f32 {
    from_ord_bits((key >> 32) as u32)
}

impl Plan<'_> {
    /// The exact distance key of `query` (a padded test row, as searched) and the
    /// training example at `key`.
    fn exact(&self, query: &[f32], key: u64) -> Exact {
        let row = self.row_by_position[position_of(key)] as usize;
        exact_key(self.metric, query, &self.train_row(row))
    }

    /// Padded training row `j` as searched (cosine: scaled, a copy of this one row).
    fn train_row(&self, j: usize) -> Cow<'_, [f32]> {
        let row = self.train.row(j);
        match &self.train_norms {
            Some(norms) => {
                let mut scaled = vec![0f32; row.len()];
                gemm::scale_into(row, norms[j], &mut scaled);
                Cow::Owned(scaled)
            }
            None => Cow::Borrowed(row),
        }
    }

    /// Padded training rows `run` as searched: borrowed, or for cosine scaled into
    /// `buf` (one tile, reused by the block).
    fn train_tile<'b>(&'b self, run: &Run, buf: &'b mut Vec<f32>) -> &'b [f32] {
        let rows = self.train.rows(run.start, run.start + run.rows);
        let Some(norms) = &self.train_norms else {
            return rows;
        };
        let dim = self.train.dim;
        buf.resize(rows.len(), 0.0);
        for ((row, out), &norm) in rows
            .chunks_exact(dim)
            .zip(buf.chunks_exact_mut(dim))
            .zip(&norms[run.start..run.start + run.rows])
        {
            gemm::scale_into(row, norm, out);
        }
        &buf[..rows.len()]
    }

    /// The error bound of query `q`'s fast values.
    fn query_bound(&self, q: usize) -> Bound {
        match &self.gemm {
            Some(norms) => norms.bound(self.metric, q),
            None => self.bound,
        }
    }

    /// How query `q`'s fast values decide each radius.
    fn query_limits(&self, q: usize) -> Vec<RadiusLimits> {
        match &self.gemm {
            Some(_) => {
                let bound = self.query_bound(q);
                self.radii
                    .iter()
                    .map(|&r| RadiusLimits::for_gemm(self.metric, &bound, r))
                    .collect()
            }
            None => self.radius_limits.clone(),
        }
    }

    /// The fast value of query `q` and padded training row `j`, computed on its own (the
    /// fallback; any value within the bound will do).
    fn fast_value(&self, query: &[f32], q: usize, j: usize) -> f32 {
        let b = self.train_row(j);
        match &self.gemm {
            Some(norms) => {
                let dot: f32 = query.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
                norms.fast(self.metric, q, j, dot)
            }
            None => scalar::distance(self.metric, query, &b),
        }
    }

    /// Sorts keys into the exact order (exact distance, then position): by fast value
    /// first, then every run of keys whose error intervals chain together is recomputed
    /// exactly and re-sorted. Keys in different runs are already in exact order, as `lo`
    /// and `hi` are non-decreasing.
    fn exact_order(&self, query: &[f32], bound: &Bound, keys: &mut [u64]) {
        keys.sort_unstable();
        let mut start = 0;
        while start < keys.len() {
            let mut end = start + 1;
            while end < keys.len()
                && bound.hi(distance_of(keys[end - 1])) >= bound.lo(distance_of(keys[end]))
            {
                end += 1;
            }
            if end - start > 1 {
                let run = &mut keys[start..end];
                let mut exact: Vec<(Exact, u64)> =
                    run.iter().map(|&k| (self.exact(query, k), k)).collect();
                exact.sort_unstable_by(|a, b| {
                    a.0.cmp(&b.0).then(position_of(a.1).cmp(&position_of(b.1)))
                });
                for (slot, (_, k)) in run.iter_mut().zip(exact) {
                    *slot = k;
                }
            }
            start = end;
        }
    }

    /// Of `keys` (which hold every candidate whose interval reaches the k-th), the exact
    /// k nearest of `query`, moved to `keys[..k]` in no particular order.
    fn exact_top(&self, query: &[f32], bound: &Bound, keys: &mut [u64], k: usize) {
        select_exact(
            bound,
            keys,
            k,
            |&key| distance_of(key),
            |&key| self.exact(query, key),
            |&key| position_of(key),
        );
    }
}

/// What one block of queries produced.
struct BlockResult {
    /// Per query, `ks.len() × c` kNN counts then `radii.len() × c` rNN counts.
    counts: Vec<u32>,
    fallbacks: usize,
    /// Neighbour lists (empty unless kept).
    knn: Vec<Vec<RawNeighbour>>,
    rnn: Vec<Vec<RawNeighbour>>,
    /// Each query's error bound.
    bounds: Vec<Bound>,
}

/// Neighbours from order keys, in the order given.
fn to_neighbours(plan: &Plan<'_>, keys: &[u64]) -> Vec<RawNeighbour> {
    keys.iter()
        .map(|&k| (plan.index_by_position[position_of(k)], distance_of(k)))
        .collect()
}

/// Per-query state of a block: counts, candidates, bound and radius limits.
struct BlockState {
    q0: usize,
    counts: Vec<u32>,
    states: Vec<QueryState>,
    bounds: Vec<Bound>,
    limits: Vec<Vec<RadiusLimits>>,
    ball_keys: Vec<Vec<u64>>,
    keep_rnn: bool,
}

impl BlockState {
    /// Takes the fast values `dq` of block query `q` (its padded row: `query`) against
    /// the valid rows of `run` (`tile`, as searched).
    fn take(
        &mut self,
        plan: &Plan<'_>,
        (run, tile): (&Run, &[f32]),
        (q, query): (usize, &[f32]),
        dq: &[f32],
    ) {
        let c = plan.n_classes;
        let row_len = plan.row_len();
        let positions = &plan.positions[run.start..run.start + run.valid];
        // rNN: counts of D ≤ r over a run of one label; the fast value decides all but
        // the few within the error bound of r.
        let base = q * row_len + plan.ks.len() * c + run.label as usize;
        for (ri, lim) in self.limits[q].iter().enumerate() {
            let (mut certain, mut reach) = (0u32, 0u32);
            for &d in dq {
                certain += u32::from(d <= lim.certain);
                reach += u32::from(d <= lim.reach);
            }
            let mut n = certain;
            if reach > certain {
                let dim = plan.train.dim;
                for (t, &d) in dq.iter().enumerate() {
                    if d > lim.certain
                        && d <= lim.reach
                        && exact_key(plan.metric, query, &tile[t * dim..(t + 1) * dim]) <= lim.key
                    {
                        n += 1;
                    }
                }
            }
            self.counts[base + ri * c] += n;
        }
        if plan.k_max > 0 {
            let state = &mut self.states[q];
            state
                .candidates
                .extend_below(dq, positions, state.accept_bits);
        }
        if self.keep_rnn {
            let reach = self.limits[q].last().map_or(f32::NEG_INFINITY, |l| l.reach);
            for (&d, &p) in dq.iter().zip(positions) {
                if d <= reach {
                    self.ball_keys[q].push(order_key(d, p));
                }
            }
        }
    }
}

/// Counts (and neighbour lists, if kept) of queries `q0..q0+nq`: every run of training
/// rows scanned (the sample first, which sets each query's threshold), then the exact k
/// nearest and the exact balls.
fn search_block(plan: &Plan<'_>, q0: usize, nq: usize) -> Result<BlockResult, Error> {
    let queries = Queries::new(plan, q0, nq);
    let mut block = BlockState::new(plan, q0, nq);
    scan_runs(plan, &queries, &mut block, nq)?;
    let BlockState {
        mut counts,
        states,
        bounds,
        limits,
        ball_keys,
        ..
    } = block;
    let (knn, fallbacks) = if plan.k_max > 0 {
        exact_nearest(plan, &queries, states, &bounds, &mut counts)
    } else {
        (Vec::new(), 0)
    };
    let rnn = exact_balls(plan, &queries, ball_keys, &limits, &bounds);
    Ok(BlockResult {
        counts,
        fallbacks,
        knn,
        rnn,
        bounds,
    })
}

impl BlockState {
    /// Queries `q0..q0+nq` before any training row is seen.
    fn new(plan: &Plan<'_>, q0: usize, nq: usize) -> BlockState {
        let bounds: Vec<Bound> = (0..nq).map(|q| plan.query_bound(q0 + q)).collect();
        let keep_rnn = plan.lists.rnn && !plan.radii.is_empty();
        BlockState {
            q0,
            counts: vec![0u32; nq * plan.row_len()],
            states: bounds
                .iter()
                .map(|&b| QueryState {
                    candidates: TopK::with_bound(plan.k_max.max(1), Some(b)),
                    tau_bits: u32::MAX,
                    accept_bits: u32::MAX,
                })
                .collect(),
            limits: (0..nq).map(|q| plan.query_limits(q0 + q)).collect(),
            bounds,
            ball_keys: vec![Vec::new(); if keep_rnn { nq } else { 0 }],
            keep_rnn,
        }
    }
}

/// The fast values of the block's `nq` queries against every run, phase by phase, fed
/// to [`BlockState::take`]; after the sample (phase 0), each query's threshold is set.
/// Polls for a cancellation before every run (a tile: about a millisecond of work).
fn scan_runs(
    plan: &Plan<'_>,
    queries: &Queries,
    block: &mut BlockState,
    nq: usize,
) -> Result<(), Error> {
    let q0 = block.q0;
    let max_rows = plan
        .phases
        .iter()
        .flatten()
        .map(|r| r.rows)
        .max()
        .unwrap_or(0);
    let nq4 = nq.div_ceil(4) * 4;
    let mut dists = vec![0f32; nq4 * max_rows];
    let dim = plan.train.dim;
    let mut scaled = Vec::new();
    for (phase, runs) in plan.phases.iter().enumerate() {
        for run in runs {
            cancel::check()?;
            let rows = plan.train_tile(run, &mut scaled);
            if let Some(norms) = &plan.gemm {
                let out = &mut dists[..nq * run.rows];
                gemm::dots(queries.rows(q0, q0 + nq), rows, dim, out);
                for q in 0..nq {
                    let dq = &mut out[q * run.rows..q * run.rows + run.valid];
                    for (t, v) in dq.iter_mut().enumerate() {
                        *v = norms.fast(plan.metric, q0 + q, run.start + t, *v);
                    }
                    block.take(plan, (run, rows), (q, queries.row(q0 + q)), dq);
                }
                continue;
            }
            let out = &mut dists[..4 * run.rows];
            for qg in (0..nq).step_by(4) {
                let qs = [0, 1, 2, 3].map(|i| queries.row(q0 + qg + i));
                plan.kernel.tile(plan.metric, qs, rows, dim, out);
                for qi in 0..4.min(nq - qg) {
                    let dq = &out[qi * run.rows..qi * run.rows + run.valid];
                    block.take(plan, (run, rows), (qg + qi, qs[qi]), dq);
                }
            }
        }
        if phase == 0 && plan.k_max > 0 {
            for state in &mut block.states {
                (state.tau_bits, state.accept_bits) =
                    state.candidates.threshold_at(plan.sample_rank());
            }
        }
    }
    Ok(())
}

/// The exact k nearest of every query of the block (starting at `q0`) for every k: their
/// label counts into `counts`, and the k_max nearest as a list if kept. Also the number
/// of queries whose threshold kept too few candidates and were searched again.
fn exact_nearest(
    plan: &Plan<'_>,
    queries: &Queries,
    states: Vec<QueryState>,
    bounds: &[Bound],
    counts: &mut [u32],
) -> (Vec<Vec<RawNeighbour>>, usize) {
    let (c, row_len) = (plan.n_classes, plan.row_len());
    let q0 = queries.q0;
    let mut fallbacks = 0;
    let mut knn_lists = Vec::new();
    for (q, state) in states.into_iter().enumerate() {
        let query = queries.row(q0 + q);
        // Exact when at least k_max keys are ≤ τ: then the k_max-th fast value is ≤ τ
        // and everything its interval reaches was accepted.
        let mut keys = if state.tau_bits == u32::MAX
            || state.candidates.count_at_most(state.tau_bits) >= plan.k_max
        {
            state.candidates.into_keys()
        } else {
            fallbacks += 1;
            exhaustive_keys(plan, (q0 + q, query), bounds[q])
        };
        for (ki, &k) in plan.ks.iter().enumerate().rev() {
            plan.exact_top(query, &bounds[q], &mut keys, k);
            let mut running = vec![0u32; c];
            for &key in &keys[..k.min(keys.len())] {
                running[plan.label_by_position[position_of(key)] as usize] += 1;
            }
            counts[q * row_len + ki * c..q * row_len + (ki + 1) * c].copy_from_slice(&running);
            if plan.lists.knn && ki + 1 == plan.ks.len() {
                let mut nearest = keys[..k.min(keys.len())].to_vec();
                if plan.lists.ordered {
                    plan.exact_order(query, &bounds[q], &mut nearest);
                } else {
                    nearest.sort_unstable();
                }
                knn_lists.push(to_neighbours(plan, &nearest));
            }
            // The exact k nearest hold the exact k' nearest of every k' < k, in the
            // same exact order: the smaller k select among them only.
            keys.truncate(k);
        }
    }
    (knn_lists, fallbacks)
}

/// The rNN lists of the block's queries (starting at `q0`): of the keys each query's
/// largest radius may reach, those exactly within it, in order.
fn exact_balls(
    plan: &Plan<'_>,
    queries: &Queries,
    ball_keys: Vec<Vec<u64>>,
    limits: &[Vec<RadiusLimits>],
    bounds: &[Bound],
) -> Vec<Vec<RawNeighbour>> {
    ball_keys
        .into_iter()
        .enumerate()
        .map(|(q, mut keys)| {
            let query = queries.row(queries.q0 + q);
            if let Some(lim) = limits[q].last() {
                keys.retain(|&k| distance_of(k) <= lim.certain || plan.exact(query, k) <= lim.key);
            }
            if plan.lists.ordered {
                plan.exact_order(query, &bounds[q], &mut keys);
            } else {
                keys.sort_unstable();
            }
            to_neighbours(plan, &keys)
        })
        .collect()
}

/// Every key whose interval reaches the k_max-th of one query, without any threshold (the
/// rare fallback).
fn exhaustive_keys(plan: &Plan<'_>, (q, query): (usize, &[f32]), bound: Bound) -> Vec<u64> {
    let mut top = TopK::with_bound(plan.k_max, Some(bound));
    for run in plan.phases.iter().flatten() {
        for j in run.start..run.start + run.valid {
            top.push(order_key(plan.fast_value(query, q, j), plan.positions[j]));
        }
    }
    top.into_keys()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::tie_break_positions;
    use crate::rng::SplitMix64;

    /// A margin far too small makes τ too tight for nearly every query: the exhaustive
    /// fallback must then give exactly the same votes as the normal path.
    #[test]
    fn gemm_query_blocks_stay_within_their_memory() {
        assert_eq!(gemm_query_block(0), GEMM_QUERY_BLOCK);
        assert_eq!(gemm_query_block(1000), GEMM_QUERY_BLOCK);
        assert_eq!(gemm_query_block(usize::MAX / 64), QUERY_BLOCK);
        let mut last = usize::MAX;
        for k in [1, 100, 1000, 4000, 5000, 8000, 20_000, 100_000, 1 << 30] {
            let b = gemm_query_block(k);
            assert!(
                b.is_multiple_of(4) && (QUERY_BLOCK..=GEMM_QUERY_BLOCK).contains(&b),
                "{k}: {b}"
            );
            assert!(b <= last, "k = {k}: blocks grow with k");
            // Above the fixed floor, the block's candidate buffers fit the budget.
            assert!(b == QUERY_BLOCK || b * (2 * k + 16) * 8 <= GEMM_BLOCK_CANDIDATE_BYTES);
            last = b;
        }
        assert_eq!(gemm_query_block(5000), 208);
    }

    #[test]
    fn threshold_fallback_is_exact() {
        let mut rng = SplitMix64::new(21);
        let (n_train, n_test, dim, c) = (3000, 70, 24, 4);
        let rows = |n: usize, rng: &mut SplitMix64| FeatureMatrix {
            n,
            dim,
            data: (0..n * dim).map(|_| rng.below(5) as f32).collect(),
        };
        let train = rows(n_train, &mut rng);
        let test = rows(n_test, &mut rng);
        let labels: Vec<u32> = (0..n_train).map(|_| rng.below(c as u64) as u32).collect();
        let records: Vec<u8> = train.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let positions = tie_break_positions(&labels, &records, dim * 4);
        let reference = Reference {
            features: &train,
            labels: &labels,
            positions: &positions,
            n_classes: c,
        };
        let config = SearchConfig {
            metric: Metric::L1,
            ks: vec![10, 200, 900],
            radii: vec![20.0],
            kernel: Kernel::detect().unwrap(),
            keep_neighbours: false,
        };
        let y = vec![0u32; n_test];
        let normal = search(reference, &test, &y, &config, &|_| {}).unwrap();
        let forced =
            search_with_margin(reference, &test, &y, &config, &|_| {}, (0.001, 1)).unwrap();
        assert!(
            forced.threshold_fallbacks >= n_test / 2,
            "{}",
            forced.threshold_fallbacks
        );
        assert_eq!(normal.knn, forced.knn);
        assert_eq!(normal.rnn, forced.rnn);
    }
}
