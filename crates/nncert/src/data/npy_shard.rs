//! A shard job's rows read from `.npy` files without holding the rest of them: a
//! training shard `I/N` and a test block `J/M` of a user dataset (`docs/MEMORY.md`, "A
//! training matrix larger than memory").
//!
//! The tie-break position of a training row is its place among the SHA-1 ranks of *every*
//! training row (`docs/METHOD.md` §2), so a shard job cannot skip the other rows: it
//! reads the whole training file once, as the whole-file loader does, hashes each row as
//! it passes (20 bytes kept per row, the row itself dropped) and keeps the values of its
//! own rows only. The file's checksums (recorded in the report and compared by the
//! merge), its length and every value's finiteness are checked over the whole file on
//! the way, so a shard job accepts or refuses exactly the files a whole run does. The
//! cost over a job that would read only its rows is one sequential pass of reading and
//! hashing the file; the memory is the shard's rows plus about 32 bytes per training row
//! (label, rank, and the two position tables while the ranks are ordered).

use std::ops::Range;
use std::path::Path;

use super::npy_features::{NpyPaths, file_record, open_dataset, stream_rows};
use super::npy_stream::{Checksums, NpyStream};
use super::shard_rows::{ShardDataset, shard_ranges};
use crate::error::Error;
use crate::features::FeatureMatrix;
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
    let train_read = read_rows(
        o.train_stream,
        &paths.train_features,
        dims,
        tr.clone(),
        Some(&o.train_labels),
    )?;
    // Positions of every row, then only the shard's kept (the rest are 4 bytes a row).
    let train_positions = positions_of_ranks(&train_read.ranks)[tr.clone()].to_vec();
    drop(train_read.ranks);
    let test_read = read_rows(
        o.test_stream,
        &paths.test_features,
        (o.n_test, o.dim),
        te.clone(),
        None,
    )?;
    Ok(ShardDataset {
        name: "npy".into(),
        n_classes: o.n_classes,
        files: vec![
            file_record(&paths.train_features, "train-features", train_read.sums),
            o.label_records.0,
            file_record(&paths.test_features, "test-features", test_read.sums),
            o.label_records.1,
        ],
        caveat: None,
        train_spec: train,
        block_spec: block,
        n_train: o.n_train,
        n_test: o.n_test,
        train: train_read.rows,
        train_labels: o.train_labels[tr].to_vec(),
        train_positions,
        test: test_read.rows,
        test_labels: o.test_labels[te].to_vec(),
    })
}

/// What one pass over a feature file kept.
struct RowsRead {
    /// The rows of the range asked for, as f32.
    rows: FeatureMatrix,
    /// Every row's rank (when labels were given), in file order.
    ranks: Vec<Rank>,
    /// The file's checksums.
    sums: Checksums,
}

/// Reads every row of `stream` (`n × dim`), keeping the f32 values of the rows in `keep`
/// and, when `rank_labels` is given, every row's tie-break rank (SHA-1 of its label and
/// its record as stored, as [`crate::rank::rank`]).
fn read_rows(
    mut stream: NpyStream,
    path: &Path,
    (n, dim): (usize, usize),
    keep: Range<usize>,
    rank_labels: Option<&[u32]>,
) -> Result<RowsRead, Error> {
    // A plain file's length matches its header (checked when it was opened): allocate
    // once. A compressed one grows with what it really holds.
    let checked = stream.length_checked();
    let mut data = Vec::with_capacity(if checked { keep.len() * dim } else { 0 });
    let mut ranks = Vec::with_capacity(match rank_labels {
        Some(_) if checked => n,
        _ => 0,
    });
    stream_rows(&mut stream, path, n, dim, |row, record, values| {
        if let Some(labels) = rank_labels {
            ranks.push(rank(labels[row], record));
        }
        if keep.contains(&row) {
            data.extend_from_slice(values);
        }
    })?;
    let sums = stream.finish()?;
    Ok(RowsRead {
        rows: FeatureMatrix {
            n: keep.len(),
            dim,
            data,
        },
        ranks,
        sums,
    })
}
