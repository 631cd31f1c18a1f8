//! Loading: bytes on disk → checked in-memory values.
//!
//! Every parser works on bytes already in memory and checks each header against the real
//! length before it allocates anything from it; every failure is a typed [`DataError`]
//! wrapped with the file's path.

pub(crate) mod bounded_read;
pub mod canonical;
pub mod cifar;
pub mod dataset;
pub mod ensemble_file;
pub mod embedded;
pub mod idx;
pub mod npy;
pub mod npy_features;
pub mod npy_shard;
pub mod npy_stream;
pub mod source;
pub(crate) mod shard_rows;
pub mod trigger;
pub mod votes_file;

pub use dataset::{Content, Dataset, FileRecord, ImageShape, Split};
pub use shard_rows::{FileIdentity, ShardDataset, ShardFiles};

/// What is wrong with a dataset file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A magic number or signature does not match the format.
    #[error("not {format}: expected magic number {expected}, found {found}")]
    BadMagic {
        /// The format expected.
        format: &'static str,
        /// The magic expected.
        expected: String,
        /// The bytes found.
        found: String,
    },
    /// The file is shorter than its header says.
    #[error("truncated: the header announces {expected} bytes, the file has {found}")]
    Truncated {
        /// Bytes announced.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// Bytes after the announced content.
    #[error("{extra} bytes of trailing garbage after the {expected} bytes the header announces")]
    TrailingBytes {
        /// Bytes announced.
        expected: u64,
        /// Extra bytes found.
        extra: u64,
    },
    /// Header dimensions that are impossible or not what this dataset has.
    #[error("unexpected header: expected {expected}, found {found}")]
    BadHeader {
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A record-based file whose length is not a whole number of records.
    #[error("expected a whole number of {record_len}-byte records, found {len} bytes")]
    PartialRecord {
        /// Bytes per record.
        record_len: usize,
        /// File length.
        len: u64,
    },
    /// Two candidate files for one input: which one is meant cannot be told.
    #[error("ambiguous input: both {} and {} exist; remove one", first.display(), second.display())]
    Ambiguous {
        /// The first candidate.
        first: std::path::PathBuf,
        /// The other candidate.
        second: std::path::PathBuf,
    },
    /// Two files that must agree in count do not.
    #[error("expected {expected} {what} (as many as in {other}), found {found}")]
    CountMismatch {
        /// What is counted.
        what: &'static str,
        /// The count the other file has.
        expected: usize,
        /// The count found.
        found: usize,
        /// The other file.
        other: String,
    },
    /// A label not below the number of classes.
    #[error("label {label} at index {index}: expected a label below {n_classes}")]
    LabelOutOfRange {
        /// Position of the label.
        index: usize,
        /// The label.
        label: i128,
        /// Number of classes.
        n_classes: usize,
    },
    /// More classes than a dataset of this size can use: votes are counted per class, so
    /// memory would follow the largest label instead of the data.
    #[error(
        "{n_classes} classes for {n_examples} examples: expected at most {limit} (labels must be \
         class indices 0..c−1, and memory grows with c; remap sparse labels to 0, 1, 2, … first)"
    )]
    TooManyClasses {
        /// Number of classes asked for or implied by the largest label.
        n_classes: usize,
        /// Training plus test examples.
        n_examples: usize,
        /// The largest accepted class count.
        limit: usize,
    },
    /// A NaN or infinite feature.
    #[error("row {row}, column {col}: expected a finite feature value, found {value}")]
    NonFinite {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value as text.
        value: String,
    },
    /// Train and test features of different widths.
    #[error("expected {expected} feature columns (as the training features), found {found}")]
    DimensionMismatch {
        /// Training width.
        expected: usize,
        /// Test width.
        found: usize,
    },
    /// No examples at all.
    #[error("expected at least one {what}, found none")]
    Empty {
        /// What is missing.
        what: &'static str,
    },
    /// A compressed file expands beyond what its format allows (a decompression bomb, or
    /// not the file expected); refused while streaming, before it is buffered.
    #[error(
        "expected at most {max} bytes once decompressed (the most this file's format allows), found more"
    )]
    Oversized {
        /// The cap.
        max: u64,
    },
    /// The gzip stream is corrupt.
    #[error("corrupt gzip data: {0}")]
    Gzip(String),
    /// The tar archive is corrupt or lacks a member.
    #[error("archive: {0}")]
    Archive(String),
    /// A required file could not be found.
    #[error("missing: looked for {looked_for}")]
    Missing {
        /// The names tried.
        looked_for: String,
    },
}

use std::path::PathBuf;

use crate::error::Error;

/// Which dataset to load, as the CLI's `--dataset` and friends describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSpec {
    /// The MNIST subset compiled into the library.
    Embedded,
    /// MNIST from a directory (see [`idx::load_mnist`]).
    Mnist(PathBuf),
    /// CIFAR-10 from a directory or archive (see [`cifar::load_cifar10`]).
    Cifar10(PathBuf),
    /// User features and labels, with an optional number of classes.
    Npy(npy_features::NpyPaths, Option<usize>),
}

/// Loads and validates the dataset `spec` describes, for the neighbour search: float32
/// `.npy` training features go straight into the search's layout, the only copy of them
/// (see [`npy_features::TrainInto::SearchLayout`]); everything else as [`load`].
pub fn load_for_search(spec: &DatasetSpec) -> Result<Dataset, Error> {
    match spec {
        DatasetSpec::Npy(paths, classes) => npy_features::load_npy_dataset_into(
            paths,
            *classes,
            npy_features::TrainInto::SearchLayout,
        ),
        other => load(other),
    }
}

/// Loads and validates the dataset `spec` describes.
pub fn load(spec: &DatasetSpec) -> Result<Dataset, Error> {
    match spec {
        DatasetSpec::Embedded => embedded::embedded_mnist(),
        DatasetSpec::Mnist(dir) => idx::load_mnist(dir),
        DatasetSpec::Cifar10(dir) => {
            if dir.is_file() {
                cifar::load_cifar10_archive(dir)
            } else {
                cifar::load_cifar10(dir)
            }
        }
        DatasetSpec::Npy(paths, classes) => npy_features::load_npy_dataset(paths, *classes),
    }
}
