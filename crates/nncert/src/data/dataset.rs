//! The loaded dataset: raw training and test records, labels, and where they came from.

use std::borrow::Cow;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use super::DataError;
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::TrainLayout;
use crate::rank::{positions_of_ranks, rank_of_values};

/// Pixel layout of image records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImageShape {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels (1 for MNIST, 3 for CIFAR-10).
    pub channels: usize,
}

impl ImageShape {
    /// Bytes per image (uint8 pixels).
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Whether the image has no pixel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// uint8 images stored channel-planar (all of channel 0, then channel 1, …), as MNIST
    /// and CIFAR-10's binary version store them.
    Images(ImageShape),
    /// Feature vectors of `dim` values, stored little-endian with `bytes_per_value` bytes
    /// each (float32 = 4, float64 = 8, uint8 = 1), as in the user's `.npy`.
    Features {
        /// Values per row.
        dim: usize,
        /// Bytes per stored value.
        bytes_per_value: usize,
    },
}

impl Content {
    /// Bytes per record.
    pub fn record_len(&self) -> usize {
        match self {
            Content::Images(s) => s.len(),
            Content::Features {
                dim,
                bytes_per_value,
            } => dim * bytes_per_value,
        }
    }
}

/// One split (train or test): records as stored and their labels.
///
/// A split loaded for the search
/// ([`load_npy_dataset_into`](super::npy_features::load_npy_dataset_into)) keeps its
/// values only once: a training split in the search's [`TrainLayout`] (`layout`), a test
/// split as its f32 values (`features`). Their `records` are then empty whenever the f32
/// values give them back exactly (float32: a record is its values' little-endian bytes;
/// uint8: each value is a byte), and [`Split::records_bytes`] / [`Split::feature_matrix`]
/// rebuild them; float64 records are kept as stored (the f32 values lose their low bits,
/// and the tie-break rank hashes the stored bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// `n × record_len` bytes, the input bytes of METHOD §2's rank (empty when the values
    /// give them back, see above).
    pub records: Vec<u8>,
    /// One label per record.
    pub labels: Vec<u32>,
    /// Bytes per record.
    pub record_len: usize,
    /// For feature datasets: the values as f32, `n × dim` (None for images, and when
    /// `layout` holds the rows).
    pub features: Option<Vec<f32>>,
    /// For a training split loaded for the search: its rows, already in the search's
    /// layout (shared, so that cloning the dataset does not copy them).
    pub layout: Option<Arc<TrainLayout>>,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The raw bytes of record `i`.
    ///
    /// # Panics
    /// For a split whose records are rebuilt from its values (use
    /// [`Split::records_bytes`]).
    pub fn record(&self, i: usize) -> &[u8] {
        &self.records[i * self.record_len..(i + 1) * self.record_len]
    }

    /// Whether `records` holds every record (else they are rebuilt from the values).
    fn records_held(&self) -> bool {
        self.records.len() == self.len() * self.record_len
    }

    /// Values per row of a feature split, from wherever its values are.
    fn dim(&self) -> Option<usize> {
        match (&self.layout, &self.features) {
            (Some(layout), _) => Some(layout.dim()),
            (None, Some(data)) => Some(data.len() / self.len().max(1)),
            (None, None) => None,
        }
    }

    /// The f32 values of row `i` of a feature split.
    fn values(&self, i: usize) -> &[f32] {
        match (&self.layout, &self.features) {
            (Some(layout), _) => layout.row(i),
            (None, Some(data)) => {
                let dim = data.len() / self.len().max(1);
                &data[i * dim..(i + 1) * dim]
            }
            (None, None) => &[],
        }
    }

    /// Record `i` as stored, into `out`: the held bytes, or rebuilt from its values.
    fn record_into(&self, i: usize, out: &mut Vec<u8>) {
        out.clear();
        if self.records_held() {
            out.extend_from_slice(self.record(i));
        } else if self.dim() == Some(self.record_len) {
            // uint8: every value is a byte, exactly.
            out.extend(self.values(i).iter().map(|&v| v as u8));
        } else {
            le_bytes_into(self.values(i), out);
        }
    }

    /// Every record, `n × record_len` bytes: borrowed, or rebuilt from the values.
    pub fn records_bytes(&self) -> Cow<'_, [u8]> {
        if self.records_held() {
            return Cow::Borrowed(&self.records);
        }
        let mut out = Vec::with_capacity(self.len() * self.record_len);
        let mut bytes = Vec::new();
        for i in 0..self.len() {
            self.record_into(i, &mut bytes);
            out.extend_from_slice(&bytes);
        }
        Cow::Owned(out)
    }

    /// For feature datasets, the values as a row-major matrix of `dim` columns (a copy).
    pub fn feature_matrix(&self, dim: usize) -> Option<FeatureMatrix> {
        match (&self.layout, &self.features) {
            (Some(layout), _) => Some(layout.to_matrix()),
            (None, Some(data)) => Some(FeatureMatrix {
                n: self.len(),
                dim,
                data: data.clone(),
            }),
            (None, None) => None,
        }
    }

    /// Each example's tie-break position (see [`crate::rank::tie_break_positions`]),
    /// hashing the records as stored.
    pub fn tie_break_positions(&self) -> Vec<u32> {
        if self.records_held() {
            return crate::rank::tie_break_positions(&self.labels, &self.records, self.record_len);
        }
        // Rows hashed in parallel (each rank depends on its row alone), from their values
        // as the file stores them (no rebuilt record).
        let as_u8 = self.dim() == Some(self.record_len);
        let ranks: Vec<_> = (0..self.len())
            .into_par_iter()
            .map(|i| rank_of_values(self.labels[i], self.values(i), as_u8))
            .collect();
        positions_of_ranks(&ranks)
    }

    /// Count of each label, `0..n_classes`.
    pub fn label_histogram(&self, n_classes: usize) -> Vec<usize> {
        let mut h = vec![0; n_classes];
        for &y in &self.labels {
            h[y as usize] += 1;
        }
        h
    }

    /// Examples `range` (clamped to the split), e.g. one shard of a sharded search: a
    /// row-major split with its records held.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Split {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let records = if self.records_held() {
            self.records[start * self.record_len..end * self.record_len].to_vec()
        } else {
            let mut out = Vec::with_capacity((end - start) * self.record_len);
            let mut bytes = Vec::new();
            for i in start..end {
                self.record_into(i, &mut bytes);
                out.extend_from_slice(&bytes);
            }
            out
        };
        let features = self.dim().map(|dim| {
            let mut data = Vec::with_capacity((end - start) * dim);
            for i in start..end {
                data.extend_from_slice(self.values(i));
            }
            data
        });
        Split {
            records,
            labels: self.labels[start..end].to_vec(),
            record_len: self.record_len,
            features,
            layout: None,
        }
    }

    /// The first `n` examples (or all, if fewer).
    pub fn truncated(&self, n: usize) -> Split {
        self.rows(0..n)
    }
}

/// The little-endian bytes of `values` (what a float32 `.npy` stores), into `out`.
fn le_bytes_into(values: &[f32], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// One input file and its identity, recorded in every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    /// What the file is (e.g. `train-images`).
    pub role: String,
    /// Path as given (archive members as `archive!/member`).
    pub path: String,
    /// SHA-256 of the uncompressed content.
    pub sha256: String,
    /// MD5 of the file as stored.
    pub stored_md5: String,
    /// `Some(true)` if it matches the canonical release, `Some(false)` if a canonical
    /// checksum is known and differs, `None` if none is published for this file.
    pub canonical: Option<bool>,
}

/// A labelled dataset ready for feature extraction or neighbour search.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name (`mnist`, `cifar10`, `npy`, `mnist-embedded`).
    pub name: String,
    /// Number of classes `c`.
    pub n_classes: usize,
    /// What each record holds.
    pub content: Content,
    /// Training split.
    pub train: Split,
    /// Test split.
    pub test: Split,
    /// Every file read, with checksums.
    pub files: Vec<FileRecord>,
    /// A caveat that must accompany results (e.g. the CIFAR-10 JPEG fallback).
    pub caveat: Option<String>,
}

/// The largest number of classes a dataset of `n_examples` (training + test) may have:
/// that count, but at least [`MIN_CLASS_LIMIT`].
///
/// Every vote matrix holds one count per class and test input, so a class count read from a
/// label (`2³¹` in a 300-row file) must not decide how much memory a run takes. A class
/// with no example can never win a vote, so more classes than examples only wastes memory;
/// the floor keeps small experiments with a known class count (e.g. 1,000 ImageNet classes
/// on a handful of examples) possible.
pub fn max_classes(n_examples: usize) -> usize {
    n_examples.max(MIN_CLASS_LIMIT)
}

/// The floor of [`max_classes`].
pub const MIN_CLASS_LIMIT: usize = 1024;

impl Dataset {
    /// Checks the invariants every consumer relies on: non-empty splits, record lengths,
    /// labels below `n_classes`, and a class count the data can use (see
    /// [`max_classes`]).
    pub fn validate(&self) -> Result<(), Error> {
        let n_examples = self.train.len() + self.test.len();
        if self.n_classes > max_classes(n_examples) {
            return Err(Error::Data {
                path: self.name.clone().into(),
                problem: DataError::TooManyClasses {
                    n_classes: self.n_classes,
                    n_examples,
                    limit: max_classes(n_examples),
                },
            });
        }
        for (name, split) in [("training", &self.train), ("test", &self.test)] {
            let what = if name == "training" {
                "training example"
            } else {
                "test example"
            };
            if split.is_empty() {
                return Err(Error::Data {
                    path: self.name.clone().into(),
                    problem: DataError::Empty { what },
                });
            }
            assert_eq!(split.record_len, self.content.record_len());
            if let Some(layout) = &split.layout {
                assert_eq!(layout.n(), split.len());
            }
            // Records are held, or rebuilt exactly from f32 values (float32, uint8).
            let dim = split.dim();
            assert!(
                split.records_held()
                    || (split.records.is_empty()
                        && dim.is_some_and(|d| {
                            split.record_len == d || split.record_len == 4 * d
                        }))
            );
            if let Some((index, &label)) = split
                .labels
                .iter()
                .enumerate()
                .find(|&(_, &y)| y as usize >= self.n_classes)
            {
                return Err(Error::Data {
                    path: format!("{} ({name} labels)", self.name).into(),
                    problem: DataError::LabelOutOfRange {
                        index,
                        label: label.into(),
                        n_classes: self.n_classes,
                    },
                });
            }
        }
        Ok(())
    }

    /// The same dataset restricted to the first `n_train` training and `n_test` test
    /// examples.
    pub fn subset(&self, n_train: Option<usize>, n_test: Option<usize>) -> Dataset {
        let mut d = self.clone();
        if let Some(n) = n_train {
            d.train = self.train.truncated(n);
        }
        if let Some(n) = n_test {
            d.test = self.test.truncated(n);
        }
        d
    }
}
