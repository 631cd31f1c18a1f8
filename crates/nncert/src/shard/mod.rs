//! Sharded search with an exact merge: the training set split into shards `I/N`, the test
//! set into blocks `J/M`, one job per (shard, block), and a merge that reproduces the
//! single-machine votes and neighbour lists bit for bit (`docs/SCALING.md`) — except the
//! f32 *distances* of neighbour lists for ℓ2, the inner product and cosine, which are the
//! same exact distance computed on another path and may differ in the last bits
//! (`docs/SHARD-CHECKS.md`, which also lists what a merge checks of untrusted files).
//!
//! - [`search`] / [`search_rows`]: one training shard against one test block → a
//!   [`Partial`] (each shard's exact k_max nearest, as a set, with proven intervals of
//!   their exact keys, and its rNN label counts);
//! - [`Partial::merge`]: partials of one block and disjoint shards → one partial (in any
//!   order or tree);
//! - [`Partial::pending`] → [`exact_keys`] → [`Partial::finish_with`] (or
//!   [`Partial::finish`] in the same process): the few pairs whose order the intervals
//!   leave open get exact keys from whoever holds the data, then the result is the
//!   single-machine [`crate::SearchResult`];
//! - [`Merge`]: the same for every block of a run at once, blocks checked and stacked;
//!   [`BlockStream`]: the same one block at a time (a merge then holds one block's
//!   candidates only), with [`read_header`] to group files by block from their
//!   headers;
//! - [`Partial::to_bytes`] / [`Partial::from_bytes`]: the versioned, checksummed file.

mod block_stream;
mod bytes;
mod finish;
mod merge_all;
mod order;
mod partial;
mod spec;

use rayon::prelude::*;

use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::Metric;
use crate::neighbours::exact::{Exact, exact_key};
use crate::neighbours::layout::TrainLayout;
use crate::neighbours::search::{
    LaidOutReference, Lists, Reference, SearchConfig, search_detailed_laid_out,
};
use crate::rank::{Rank, positions_of_ranks};

pub use block_stream::BlockStream;
pub use bytes::{CHECKSUM_BYTES, FORMAT_VERSION, PartialHeader, checksum, read_header};
pub use merge_all::Merge;
pub use partial::{Partial, ShardSettings};
pub use spec::ShardSpec;

use partial::{Row, Segment, ShardTable};

/// The sample margin of the search (as [`crate::neighbours::search()`] uses it).
const MARGIN: (f64, usize) = (1.25, 32);

/// One training shard: its rows only, with the global facts a merge needs. The rows are
/// a row-major [`FeatureMatrix`] (laid out for the search by [`search_rows`], a copy) or
/// already in the search's [`TrainLayout`] (built with `labels` and `n_classes`: searched
/// where they are, so a loader can stream a shard's rows straight into it,
/// `docs/MEMORY.md`).
#[derive(Debug, Clone, Copy)]
pub struct TrainShard<'a, R: TrainRows + ?Sized = FeatureMatrix> {
    /// Which shard (of the whole training set of `n_train` rows).
    pub spec: ShardSpec,
    /// Rows of the whole training set.
    pub n_train: usize,
    /// The shard's rows (`spec.range(n_train)` of the whole set).
    pub features: &'a R,
    /// Their labels.
    pub labels: &'a [u32],
    /// Their tie-break ranks ([`crate::rank::rank`] of each row: the SHA-1 of its label
    /// and its record as stored, `docs/METHOD.md` §2). A rank depends on its row alone,
    /// so a shard job hashes its own rows only; the order (rank descending, global index
    /// ascending) is the whole training set's tie-break order, without any global step.
    pub ranks: &'a [Rank],
    /// Number of classes of the whole run.
    pub n_classes: usize,
}

/// One test block: its rows only.
#[derive(Debug, Clone, Copy)]
pub struct TestBlock<'a> {
    /// Which block (of the whole test set of `n_test` rows).
    pub spec: ShardSpec,
    /// Rows of the whole test set.
    pub n_test: usize,
    /// The block's rows (`spec.range(n_test)` of the whole set).
    pub features: &'a FeatureMatrix,
    /// Their labels.
    pub labels: &'a [u32],
}

/// Rows `range` of a matrix, copied.
fn rows_of(m: &FeatureMatrix, range: std::ops::Range<usize>) -> FeatureMatrix {
    FeatureMatrix {
        n: range.len(),
        dim: m.dim,
        data: m.data[range.start * m.dim..range.end * m.dim].to_vec(),
    }
}

/// Stand-in ranks for rows whose global tie-break positions are known instead of their
/// ranks (e.g. an [`crate::Index`], which keeps positions only): row `i` gets a rank
/// whose order (descending) is the order of the positions (ascending), so the tie-break
/// order of METHOD §2 is unchanged. Distinct positions give distinct ranks, so the index
/// never has to decide. Every shard of one run must use the same kind of ranks (all
/// SHA-1 ranks, or all stand-ins from one permutation): the two kinds do not compare.
pub fn ranks_of_positions(positions: &[u32]) -> Vec<Rank> {
    positions
        .iter()
        .map(|&p| {
            let mut r = [0u8; 20];
            r[..4].copy_from_slice(&(u32::MAX - p).to_be_bytes());
            Rank(r)
        })
        .collect()
}

/// [`search_rows`] from the whole training reference and test set: slices shard `train`
/// and block `block` out of them (its positions become stand-in ranks,
/// [`ranks_of_positions`]).
pub fn search(
    reference: Reference<'_>,
    test: &FeatureMatrix,
    test_labels: &[u32],
    config: &SearchConfig,
    train: ShardSpec,
    block: ShardSpec,
    context: &str,
) -> Result<Partial, Error> {
    let tr = train.range(reference.features.n)?;
    let te = block.range(test.n)?;
    if reference.labels.len() != reference.features.n
        || reference.positions.len() != reference.features.n
        || test_labels.len() != test.n
    {
        return Err(Error::invalid(
            "shard search: expected one label and position per training row and one label per test row",
        ));
    }
    let shard_rows = rows_of(reference.features, tr.clone());
    let block_rows = rows_of(test, te.clone());
    let ranks = ranks_of_positions(&reference.positions[tr.clone()]);
    search_rows(
        TrainShard {
            spec: train,
            n_train: reference.features.n,
            features: &shard_rows,
            labels: &reference.labels[tr],
            ranks: &ranks,
            n_classes: reference.n_classes,
        },
        TestBlock {
            spec: block,
            n_test: test.n,
            features: &block_rows,
            labels: &test_labels[te],
        },
        config,
        context,
    )
}

/// Searches one training shard for one test block: the shard's exact k_max nearest of
/// every test row as a set (ties broken by rank, then index, as in the whole set; listed
/// by fast value, not in exact order), with the error bound of their
/// fast values, and its rNN label counts (and balls, with neighbour lists). `context`
/// is recorded and must match in every partial merged with this one (the CLI puts the
/// dataset checksums, features and tie rule there).
pub fn search_rows<R: TrainRows + ?Sized>(
    train: TrainShard<'_, R>,
    test: TestBlock<'_>,
    config: &SearchConfig,
    context: &str,
) -> Result<Partial, Error> {
    let tr = check_rows(&train, &test, config)?;
    let settings = ShardSettings {
        metric: config.metric,
        ks: config.ks.clone(),
        radii: config.radii.clone(),
        keep_neighbours: config.keep_neighbours,
        n_train: train.n_train,
        n_test: test.n_test,
        n_classes: train.n_classes,
        context: context.to_string(),
    };
    let shard_config = SearchConfig {
        ks: if config.ks.is_empty() {
            Vec::new()
        } else {
            vec![settings.k_max()]
        },
        keep_neighbours: false,
        ..config.clone()
    };
    let lists = Lists {
        knn: !config.ks.is_empty(),
        rnn: config.keep_neighbours && !config.radii.is_empty(),
        // The merge orders what matters; exact order here would cost exact keys for every
        // near-tie of every list.
        ordered: false,
    };
    // The shard searched on its own, with local positions in the global order: within a
    // shard, (rank descending, local index ascending) is (rank descending, global index
    // ascending), the global offset being the same for every row.
    let local = positions_of_ranks(train.ranks);
    let built;
    let layout = match train.features.as_layout() {
        Some(layout) => layout,
        None => {
            built = TrainLayout::from_rows_of(train.features, train.labels, train.n_classes);
            &built
        }
    };
    let reference = LaidOutReference {
        layout,
        labels: train.labels,
        positions: &local,
        n_classes: train.n_classes,
    };
    let d = search_detailed_laid_out(
        reference,
        test.features,
        test.labels,
        &shard_config,
        lists,
        MARGIN,
    )?;
    let rows = rows_of_search(
        d.result.rnn.as_slice(),
        d.knn,
        d.rnn,
        &d.bounds,
        &train,
        tr.start,
    );
    Ok(Partial {
        settings,
        train_count: train.spec.count(),
        shards: vec![ShardTable {
            index: train.spec.index(),
            domain: d.domain,
            labels: train.labels.to_vec(),
            ranks: train.ranks.to_vec(),
            origin: String::new(),
        }],
        block: test.spec,
        test_labels: test.labels.to_vec(),
        rows,
        known: Default::default(),
    })
}

/// Checks a shard job's inputs against its shard and block; the shard's training rows.
fn check_rows<R: TrainRows + ?Sized>(
    train: &TrainShard<'_, R>,
    test: &TestBlock<'_>,
    config: &SearchConfig,
) -> Result<std::ops::Range<usize>, Error> {
    let tr = train.spec.range(train.n_train)?;
    let te = test.spec.range(test.n_test)?;
    // Global indices are u32 (offset + local index must not wrap).
    if train.n_train > u32::MAX as usize {
        return Err(Error::invalid(format!(
            "train shard {}: n_train = {} is above 2^32 − 1",
            train.spec, train.n_train
        )));
    }
    check_ks_and_radii(config.metric, &config.ks, &config.radii)?;
    if train.features.n_rows() != tr.len()
        || train.labels.len() != tr.len()
        || train.ranks.len() != tr.len()
    {
        return Err(Error::invalid(format!(
            "train shard {}: expected {} rows, labels and ranks (rows {}..{} of {}), found {}, {} and {}",
            train.spec,
            tr.len(),
            tr.start,
            tr.end,
            train.n_train,
            train.features.n_rows(),
            train.labels.len(),
            train.ranks.len()
        )));
    }
    if test.features.n != te.len() || test.labels.len() != te.len() {
        return Err(Error::invalid(format!(
            "test block {}: expected {} rows and labels (rows {}..{} of {}), found {} and {}",
            test.spec,
            te.len(),
            te.start,
            te.end,
            test.n_test,
            test.features.n,
            test.labels.len()
        )));
    }
    if let Some(&l) = train
        .labels
        .iter()
        .chain(test.labels)
        .find(|&&l| l as usize >= train.n_classes)
    {
        return Err(Error::invalid(format!(
            "labels: expected values below n_classes = {}, found {l}",
            train.n_classes
        )));
    }
    Ok(tr)
}

/// The partial's rows from the shard search: rNN counts, and the kNN (and rNN) lists
/// moved in (not copied), their indices made global by adding the shard's first row.
fn rows_of_search<R: TrainRows + ?Sized>(
    rnn_votes: &[crate::neighbours::RnnVotes],
    knn: Vec<Vec<(u32, f32)>>,
    rnn: Vec<Vec<(u32, f32)>>,
    bounds: &[crate::neighbours::exact::Bound],
    train: &TrainShard<'_, R>,
    start: usize,
) -> Vec<Row> {
    let c = train.n_classes;
    let shard = train.spec.index();
    let segment = |q: usize, list: Option<Vec<(u32, f32)>>| -> Vec<Segment> {
        list.map(|mut items| {
            for item in &mut items {
                item.0 += start as u32;
            }
            Segment {
                shard,
                bound: bounds[q],
                items,
            }
        })
        .into_iter()
        .collect()
    };
    let (mut knn, mut rnn) = (knn.into_iter(), rnn.into_iter());
    (0..bounds.len())
        .map(|q| Row {
            rnn_counts: rnn_votes
                .iter()
                .flat_map(|rv| rv.votes.row(q)[..c].to_vec())
                .collect(),
            knn: segment(q, knn.next()),
            rnn: segment(q, rnn.next()),
        })
        .collect()
}

/// The k and radii a search accepts ([`crate::neighbours::search()`] refuses the same):
/// every k ≥ 1, every radius finite and, except for the inner product, ≥ 0. Checked
/// again on every partial read from a file.
pub(crate) fn check_ks_and_radii(metric: Metric, ks: &[usize], radii: &[f64]) -> Result<(), Error> {
    if ks.contains(&0) {
        return Err(Error::invalid("k: expected at least 1, found 0"));
    }
    let signed_radius = metric == Metric::Ip;
    if let Some(r) = radii
        .iter()
        .find(|r| !r.is_finite() || (**r < 0.0 && !signed_radius))
    {
        return Err(Error::invalid(format!(
            "radius: expected a finite r ≥ 0, found {r}"
        )));
    }
    Ok(())
}

/// Training rows read by index, whatever their layout: a row-major [`FeatureMatrix`] or
/// the search's own [`TrainLayout`] (so a holder of an index computes exact keys from the
/// copy it searches, without a row-major copy of the training set).
pub trait TrainRows: Sync {
    /// Number of rows.
    fn n_rows(&self) -> usize;
    /// Values per row.
    fn n_cols(&self) -> usize;
    /// Row `i` (its `n_cols` values).
    fn values(&self, i: usize) -> &[f32];
    /// The rows already in the search's layout, if they are (then searched in place).
    fn as_layout(&self) -> Option<&TrainLayout> {
        None
    }
}

impl TrainRows for FeatureMatrix {
    fn n_rows(&self) -> usize {
        self.n
    }
    fn n_cols(&self) -> usize {
        self.dim
    }
    fn values(&self, i: usize) -> &[f32] {
        self.row(i)
    }
}

impl TrainRows for TrainLayout {
    fn n_rows(&self) -> usize {
        self.n()
    }
    fn n_cols(&self) -> usize {
        self.dim()
    }
    fn values(&self, i: usize) -> &[f32] {
        self.row(i)
    }
    fn as_layout(&self) -> Option<&TrainLayout> {
        Some(self)
    }
}

/// The exact keys of `pairs` (global test row, global training index), in order, for
/// [`Partial::finish`]: `train` holds training rows `train_start..` and `test` test rows
/// `test_start..` (0 and 0 for the whole sets).
pub fn exact_keys(
    metric: Metric,
    train: &impl TrainRows,
    train_start: usize,
    test: &FeatureMatrix,
    test_start: usize,
    pairs: &[(usize, u32)],
) -> Result<Vec<Exact>, Error> {
    if train.n_cols() != test.dim {
        return Err(Error::invalid(format!(
            "exact keys: training features have {} columns, test features {}",
            train.n_cols(),
            test.dim
        )));
    }
    let local = |(q, j): (usize, u32)| -> Option<(usize, usize)> {
        let q = q.checked_sub(test_start).filter(|&q| q < test.n)?;
        let j = (j as usize)
            .checked_sub(train_start)
            .filter(|&j| j < train.n_rows())?;
        Some((q, j))
    };
    if let Some(&(q, j)) = pairs.iter().find(|&&p| local(p).is_none()) {
        return Err(Error::invalid(format!(
            "exact keys: pair (test row {q}, training row {j}) is outside the rows given (test {}..{}, training {}..{})",
            test_start,
            test_start + test.n,
            train_start,
            train_start + train.n_rows()
        )));
    }
    Ok(pairs
        .par_iter()
        .map(|&p| {
            let (q, j) = local(p).expect("checked above");
            let (a, b) = (test.row(q), train.values(j));
            if metric == Metric::Cosine {
                // The search compares the rows scaled to unit length, exactly so.
                let dim = a.len().max(1);
                let (mut a, mut b) = (a.to_vec(), b.to_vec());
                crate::neighbours::gemm::normalize_rows(&mut a, dim);
                crate::neighbours::gemm::normalize_rows(&mut b, dim);
                exact_key(metric, &a, &b)
            } else {
                exact_key(metric, a, b)
            }
        })
        .collect())
}
