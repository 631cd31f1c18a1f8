//! What one shard job (`votes --train-shard I/N --test-shard J/M`) searches: the rows of
//! its training shard and of its test block, the *global* tie-break positions of its
//! training rows, and the facts about the whole dataset that a merge checks.
//!
//! It is built either by [`load_npy_shard`](super::npy_shard::load_npy_shard), which
//! streams `.npy` files and keeps only those rows (`docs/MEMORY.md`, "A training matrix
//! larger than memory"), or from a dataset already in memory
//! ([`crate::pipeline::shard_dataset`]); both give the same values, labels and positions.

use std::ops::Range;

use super::FileRecord;
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::TrainLayout;
use crate::shard::ShardSpec;

/// One shard job's rows and the whole dataset's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardDataset {
    /// Short name of the dataset (as [`super::Dataset::name`]).
    pub name: String,
    /// Number of classes of the whole dataset.
    pub n_classes: usize,
    /// Every file read, with the checksums of its whole content.
    pub files: Vec<FileRecord>,
    /// A caveat that must accompany results (as [`super::Dataset::caveat`]).
    pub caveat: Option<String>,
    /// Which training shard.
    pub train_spec: ShardSpec,
    /// Which test block.
    pub block_spec: ShardSpec,
    /// Rows of the whole training set.
    pub n_train: usize,
    /// Rows of the whole test set.
    pub n_test: usize,
    /// The shard's training rows (features), in the search's layout (built with
    /// `train_labels` and `n_classes`): the one copy the shard search reads.
    pub train: TrainLayout,
    /// Their labels.
    pub train_labels: Vec<u32>,
    /// Their tie-break positions among *all* training rows
    /// ([`crate::rank::tie_break_positions`] of the whole training set).
    pub train_positions: Vec<u32>,
    /// The block's test rows (features), row-major.
    pub test: FeatureMatrix,
    /// Their labels.
    pub test_labels: Vec<u32>,
}

/// The rows of training shard `train` of `n_train` and of test block `block` of `n_test`;
/// an error names the option (`--train-shard`, `--test-shard`) that asked for an
/// impossible split.
pub(crate) fn shard_ranges(
    train: ShardSpec,
    block: ShardSpec,
    n_train: usize,
    n_test: usize,
) -> Result<(Range<usize>, Range<usize>), Error> {
    let tr = train
        .range(n_train)
        .map_err(|e| Error::invalid(format!("--train-shard: {e}")))?;
    let te = block
        .range(n_test)
        .map_err(|e| Error::invalid(format!("--test-shard: {e}")))?;
    Ok((tr, te))
}
