//! What one shard job (`votes --train-shard I/N --test-shard J/M`) searches: the rows of
//! its training shard and of its test block, the tie-break ranks of its training rows
//! (each depends on its row alone, so no other row is hashed), and the facts about the
//! whole dataset that a merge checks.
//!
//! It is built either by [`load_npy_shard`](super::npy_shard::load_npy_shard), which
//! streams `.npy` files and keeps only those rows (`docs/MEMORY.md`, "A training matrix
//! larger than memory"), or from a dataset already in memory
//! ([`crate::pipeline::shard_dataset`]); both give the same values, labels and ranks.

use std::ops::Range;

use super::FileRecord;
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::TrainLayout;
use crate::rank::Rank;
use crate::shard::ShardSpec;

/// One shard job's rows and the whole dataset's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardDataset {
    /// Short name of the dataset (as [`super::Dataset::name`]).
    pub name: String,
    /// Number of classes of the whole dataset.
    pub n_classes: usize,
    /// Every file of the dataset, identified (the run context of the partial records
    /// them; the merge compares them).
    pub files: ShardFiles,
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
    /// Their tie-break ranks ([`crate::rank::rank`] of each row's label and record as
    /// stored).
    pub train_ranks: Vec<Rank>,
    /// The block's test rows (features), row-major.
    pub test: FeatureMatrix,
    /// Their labels.
    pub test_labels: Vec<u32>,
}

/// How a shard job identifies the dataset's files: what its partial's run context records
/// and the merge compares (`docs/SHARD-CHECKS.md`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ShardFiles {
    /// A dataset loaded whole (MNIST, CIFAR-10, features other than the raw `.npy`
    /// values): every file read, with the SHA-256 of its content (and MD5 as stored), as
    /// a single run records them.
    Checksummed(Vec<FileRecord>),
    /// User `.npy` features streamed for the job's rows only: every file's
    /// XXH3-128 as stored ([`FileIdentity`]), one cheap pass; the report's SHA-256 and MD5
    /// are computed once, by the merge.
    Identified(Vec<FileIdentity>),
}

impl ShardFiles {
    /// The files as the run context records them: role and checksum (never the path, so
    /// that jobs may see the same files under different paths).
    pub fn context_entries(&self) -> Vec<serde_json::Value> {
        match self {
            ShardFiles::Checksummed(files) => files
                .iter()
                .map(|f| serde_json::json!({"role": f.role, "sha256": f.sha256}))
                .collect(),
            ShardFiles::Identified(files) => files
                .iter()
                .map(|f| serde_json::json!({"role": f.role, "xxh3_128": f.xxh3_128}))
                .collect(),
        }
    }
}

/// A file identified by a fast whole-file checksum: enough for the jobs of a run and its
/// merge to prove they read the same bytes (an integrity check, not an authentication,
/// as the partial's own trailer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileIdentity {
    /// What the file is (e.g. `train-features`).
    pub role: String,
    /// Path as given.
    pub path: String,
    /// XXH3-128 of the file as stored, 32 lowercase hex digits.
    pub xxh3_128: String,
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
