//! A shard job's rows read from `.npy` files without holding the rest of them: a
//! training shard `I/N` and a test block `J/M` of a user dataset (`docs/MEMORY.md`, "A
//! training matrix larger than memory").
//!
//! The tie-break position of a training row is its place among the SHA-1 ranks of *every*
//! training row (`docs/METHOD.md` §2), so a shard job cannot skip the other rows: it
//! reads the whole training file once, as the whole-file loader does, hashes each row as
//! it passes (20 bytes kept per row, the row itself dropped) and keeps the values of its
//! own rows only, written straight into the search's layout of the shard (the one copy
//! the shard search reads). The file's checksums (recorded in the report and compared
//! by the merge), its length and every value's finiteness are checked over the whole
//! file on the way, so a shard job accepts or refuses exactly the files a whole run does.
//! The cost over a job that would read only its rows is one sequential pass of reading
//! and hashing the file; the memory is the shard's rows plus about 32 bytes per training
//! row (label, rank, and the two position tables while the ranks are ordered).

use std::ops::Range;
use std::path::Path;

use super::FileRecord;
use super::npy_features::{NpyPaths, file_record, open_dataset, stream_rows};
use super::npy_stream::{Checksums, NpyStream};
use super::shard_rows::{ShardDataset, shard_ranges};
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::TrainLayout;
use crate::rank::{Rank, positions_of_ranks, rank};
use crate::shard::ShardSpec;

/// Loads training shard `train` and test block `block` of the user dataset `paths`
/// (`n_classes` as [`super::npy_features::load_npy_dataset`]): the same values, labels,
/// global tie-break positions, class count and file checksums as the whole dataset
/// loaded in memory and cut into those rows, and the same errors for a bad file.
pub fn load_npy_shard(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    train: ShardSpec,
    block: ShardSpec,
) -> Result<ShardDataset, Error> {
    let o = open_dataset(paths, n_classes)?;
    let (tr, te) = shard_ranges(train, block, o.n_train, o.n_test)?;
    let dims = (o.n_train, o.dim);
    let train_labels = o.train_labels[tr.clone()].to_vec();
    // The shard's rows go straight into the layout its search reads.
    let mut layout = TrainLayout::zeroed(&train_labels, o.n_classes, o.dim);
    let train_read = read_rows(
        o.train_stream,
        &paths.train_features,
        dims,
        Keep::Range(tr.clone()),
        Some(&o.train_labels),
        |i, values| layout.row_mut(i).copy_from_slice(values),
    )?;
    // Positions of every row, then only the shard's kept (the rest are 4 bytes a row).
    let train_positions = positions_of_ranks(&train_read.ranks)[tr.clone()].to_vec();
    drop(train_read.ranks);
    let (test, test_sums) = read_matrix(
        o.test_stream,
        &paths.test_features,
        (o.n_test, o.dim),
        Keep::Range(te.clone()),
    )?;
    Ok(ShardDataset {
        name: "npy".into(),
        n_classes: o.n_classes,
        files: vec![
            file_record(&paths.train_features, "train-features", train_read.sums),
            o.label_records.0,
            file_record(&paths.test_features, "test-features", test_sums),
            o.label_records.1,
        ],
        caveat: None,
        train_spec: train,
        block_spec: block,
        n_train: o.n_train,
        n_test: o.n_test,
        train: layout,
        train_labels,
        train_positions,
        test,
        test_labels: o.test_labels[te].to_vec(),
    })
}

/// What one pass over a feature file kept besides the rows it handed on.
struct RowsRead {
    /// Every row's rank (when labels were given), in file order.
    ranks: Vec<Rank>,
    /// The file's checksums.
    sums: Checksums,
}

/// Which rows a pass keeps: a range (a shard), or a sorted list of distinct indices (the
/// rows some pairs name).
enum Keep<'a> {
    Range(Range<usize>),
    Rows(&'a [usize]),
}

impl Keep<'_> {
    fn len(&self) -> usize {
        match self {
            Keep::Range(r) => r.len(),
            Keep::Rows(rows) => rows.len(),
        }
    }
}

/// Reads every row of `stream` (`n × dim`), handing the f32 values of the rows `keep`
/// says to `put(i, values)` (`i` counts the kept rows, in file order) and, when
/// `rank_labels` is given, keeping every row's tie-break rank (SHA-1 of its label and its
/// record as stored, as [`crate::rank::rank`]).
fn read_rows(
    mut stream: NpyStream,
    path: &Path,
    (n, dim): (usize, usize),
    keep: Keep<'_>,
    rank_labels: Option<&[u32]>,
    mut put: impl FnMut(usize, &[f32]) + Send,
) -> Result<RowsRead, Error> {
    // A plain file's length matches its header (checked when it was opened): allocate
    // once. A compressed one grows with what it really holds.
    let checked = stream.length_checked();
    let mut kept = 0;
    let mut next = 0; // Keep::Rows: the next index of the list to keep.
    let mut ranks = Vec::with_capacity(match rank_labels {
        Some(_) if checked => n,
        _ => 0,
    });
    stream_rows(&mut stream, path, n, dim, |row, record, values| {
        if let Some(labels) = rank_labels {
            ranks.push(rank(labels[row], record));
        }
        let is_kept = match &keep {
            Keep::Range(r) => r.contains(&row),
            Keep::Rows(rows) => {
                rows.get(next) == Some(&row) && {
                    next += 1;
                    true
                }
            }
        };
        if is_kept {
            put(kept, values);
            kept += 1;
        }
    })?;
    let sums = stream.finish()?;
    Ok(RowsRead { ranks, sums })
}

/// [`read_rows`] into a row-major matrix of the kept rows.
fn read_matrix(
    stream: NpyStream,
    path: &Path,
    (n, dim): (usize, usize),
    keep: Keep<'_>,
) -> Result<(FeatureMatrix, Checksums), Error> {
    let mut data = Vec::with_capacity(if stream.length_checked() {
        keep.len() * dim
    } else {
        0
    });
    let read = read_rows(stream, path, (n, dim), keep, None, |_, values| {
        data.extend_from_slice(values)
    })?;
    let rows = FeatureMatrix {
        n: data.len() / dim.max(1),
        dim,
        data,
    };
    Ok((rows, read.sums))
}

/// The rows of a user dataset that some (test row, training row) pairs name, read from the
/// `.npy` files without holding the others (`nncert merge`'s exact keys,
/// `docs/MEMORY.md`), with the identity of the whole dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedRows {
    /// Number of classes of the whole dataset.
    pub n_classes: usize,
    /// Every file read, with the checksums of its whole content.
    pub files: Vec<FileRecord>,
    /// The training rows named, in index order (`train_index`).
    pub train: FeatureMatrix,
    /// Their indices in the whole training set, ascending.
    pub train_index: Vec<usize>,
    /// The test rows named, in index order (`test_index`).
    pub test: FeatureMatrix,
    /// Their indices in the whole test set, ascending.
    pub test_index: Vec<usize>,
}

/// Reads the rows of `paths` that `pairs` (global test row, global training row) name;
/// a pair outside the dataset is an error naming it. Every row is read (and checked)
/// once, as by [`load_npy_shard`]; only the named rows are kept.
pub fn load_npy_named_rows(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    pairs: &[(usize, u32)],
) -> Result<NamedRows, Error> {
    let o = open_dataset(paths, n_classes)?;
    if let Some(&(q, j)) = pairs
        .iter()
        .find(|&&(q, j)| q >= o.n_test || j as usize >= o.n_train)
    {
        return Err(Error::invalid(format!(
            "exact keys: pair (test row {q}, training row {j}) is outside the dataset ({} test, {} training rows)",
            o.n_test, o.n_train
        )));
    }
    let sorted = |mut v: Vec<usize>| {
        v.sort_unstable();
        v.dedup();
        v
    };
    let train_index = sorted(pairs.iter().map(|&(_, j)| j as usize).collect());
    let test_index = sorted(pairs.iter().map(|&(q, _)| q).collect());
    let (train, train_sums) = read_matrix(
        o.train_stream,
        &paths.train_features,
        (o.n_train, o.dim),
        Keep::Rows(&train_index),
    )?;
    let (test, test_sums) = read_matrix(
        o.test_stream,
        &paths.test_features,
        (o.n_test, o.dim),
        Keep::Rows(&test_index),
    )?;
    Ok(NamedRows {
        n_classes: o.n_classes,
        files: vec![
            file_record(&paths.train_features, "train-features", train_sums),
            o.label_records.0,
            file_record(&paths.test_features, "test-features", test_sums),
            o.label_records.1,
        ],
        train,
        train_index,
        test,
        test_index,
    })
}
