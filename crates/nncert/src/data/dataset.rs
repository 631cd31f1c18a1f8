//! The loaded dataset: raw training and test records, labels, and where they came from.

use serde::Serialize;

use super::DataError;
use crate::error::Error;

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
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// `n × record_len` bytes, the input bytes of METHOD §2's rank.
    pub records: Vec<u8>,
    /// One label per record.
    pub labels: Vec<u32>,
    /// Bytes per record.
    pub record_len: usize,
    /// For feature datasets: the values as f32, `n × dim` (None for images).
    pub features: Option<Vec<f32>>,
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
    pub fn record(&self, i: usize) -> &[u8] {
        &self.records[i * self.record_len..(i + 1) * self.record_len]
    }

    /// Count of each label, `0..n_classes`.
    pub fn label_histogram(&self, n_classes: usize) -> Vec<usize> {
        let mut h = vec![0; n_classes];
        for &y in &self.labels {
            h[y as usize] += 1;
        }
        h
    }

    /// Examples `range` (clamped to the split), e.g. one shard of a sharded search.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Split {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let dim = self
            .features
            .as_ref()
            .map_or(0, |f| f.len() / self.len().max(1));
        Split {
            records: self.records[start * self.record_len..end * self.record_len].to_vec(),
            labels: self.labels[start..end].to_vec(),
            record_len: self.record_len,
            features: self
                .features
                .as_ref()
                .map(|f| f[start * dim..end * dim].to_vec()),
        }
    }

    /// The first `n` examples (or all, if fewer).
    pub fn truncated(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split {
            records: self.records[..n * self.record_len].to_vec(),
            labels: self.labels[..n].to_vec(),
            record_len: self.record_len,
            features: self.features.as_ref().map(|f| {
                let dim = f.len() / self.len().max(1);
                f[..n * dim].to_vec()
            }),
        }
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
            assert_eq!(split.records.len(), split.len() * split.record_len);
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
