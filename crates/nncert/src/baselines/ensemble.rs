//! Built-in base learners for the baselines: classifiers that train in microseconds on a
//! handful of HOG vectors. Each base model is a set of prototypes (feature vector, label)
//! and predicts the label of its nearest prototype (ℓ distance, ties: smaller label).
//!
//! - `centroid`: one prototype per label present, the mean of that label's examples;
//! - `1nn`: every distinct training example is a prototype.
//!
//! A model with no training example abstains (casts no vote).

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::kernel::{Kernel, LANES, Metric};

/// Which base classifier DPA and bagging train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseLearner {
    /// Nearest class centroid (default).
    #[default]
    Centroid,
    /// Nearest neighbour.
    #[serde(rename = "1nn")]
    OneNn,
}

impl fmt::Display for BaseLearner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaseLearner::Centroid => "centroid",
            BaseLearner::OneNn => "1nn",
        })
    }
}

impl FromStr for BaseLearner {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "centroid" => Ok(BaseLearner::Centroid),
            "1nn" => Ok(BaseLearner::OneNn),
            other => Err(Error::invalid(format!(
                "base learner: expected centroid or 1nn, found `{other}`"
            ))),
        }
    }
}

/// The prototypes of every model, padded for the distance kernels.
pub struct Ensemble {
    dim: usize,
    /// Row-major prototypes, each padded to a multiple of 16 values; row count padded to
    /// a multiple of 4 with rows that belong to no model.
    rows: Vec<f32>,
    labels: Vec<u32>,
    /// Model of each prototype (`u32::MAX` for padding).
    model: Vec<u32>,
    n_models: usize,
}

impl Ensemble {
    /// Trains one model per member list (indices into `train`, repeats allowed).
    pub fn train(
        learner: BaseLearner,
        train: &FeatureMatrix,
        labels: &[u32],
        n_classes: usize,
        members: &[Vec<usize>],
    ) -> Ensemble {
        let dim = train.dim.div_ceil(LANES).max(1) * LANES;
        let per_model: Vec<Vec<(Vec<f32>, u32)>> = members
            .par_iter()
            .map(|m| match learner {
                BaseLearner::Centroid => {
                    let mut sums = vec![vec![0f64; train.dim]; n_classes];
                    let mut counts = vec![0usize; n_classes];
                    for &i in m {
                        let y = labels[i] as usize;
                        counts[y] += 1;
                        for (s, &v) in sums[y].iter_mut().zip(train.row(i)) {
                            *s += f64::from(v);
                        }
                    }
                    (0..n_classes)
                        .filter(|&y| counts[y] > 0)
                        .map(|y| {
                            let mean = sums[y]
                                .iter()
                                .map(|s| (s / counts[y] as f64) as f32)
                                .collect();
                            (mean, y as u32)
                        })
                        .collect()
                }
                BaseLearner::OneNn => {
                    let mut unique = m.clone();
                    unique.sort_unstable();
                    unique.dedup();
                    unique
                        .iter()
                        .map(|&i| (train.row(i).to_vec(), labels[i]))
                        .collect()
                }
            })
            .collect();
        let total: usize = per_model.iter().map(Vec::len).sum();
        let padded = total.div_ceil(4).max(1) * 4;
        let mut rows = vec![0f32; padded * dim];
        let mut proto_labels = vec![0u32; padded];
        let mut model = vec![u32::MAX; padded];
        let mut k = 0;
        for (mi, protos) in per_model.into_iter().enumerate() {
            for (v, y) in protos {
                rows[k * dim..k * dim + v.len()].copy_from_slice(&v);
                proto_labels[k] = y;
                model[k] = mi as u32;
                k += 1;
            }
        }
        Ensemble {
            dim,
            rows,
            labels: proto_labels,
            model,
            n_models: members.len(),
        }
    }

    /// Number of models.
    pub fn n_models(&self) -> usize {
        self.n_models
    }

    /// Votes of every test row: `n_test × c` counts of the models' predictions.
    pub fn votes(
        &self,
        test: &FeatureMatrix,
        n_classes: usize,
        metric: Metric,
        kernel: Kernel,
    ) -> Vec<u32> {
        let n_protos = self.labels.len();
        let tile = ((128 * 1024 / (self.dim * 4)) / 4 * 4).max(4);
        let pad_query = |i: usize| -> Vec<f32> {
            let mut r = vec![0f32; self.dim];
            if i < test.n {
                r[..test.dim].copy_from_slice(test.row(i));
            }
            r
        };
        let groups: Vec<Vec<u32>> = (0..test.n.div_ceil(4))
            .into_par_iter()
            .map(|g| {
                let queries: Vec<Vec<f32>> = (0..4).map(|i| pad_query(4 * g + i)).collect();
                let qs = [0, 1, 2, 3].map(|i| queries[i].as_slice());
                // Best (distance bits, label) per model and query.
                let mut best = vec![u64::MAX; 4 * self.n_models];
                let mut out = vec![0f32; 4 * tile];
                for start in (0..n_protos).step_by(tile) {
                    let end = (start + tile).min(n_protos);
                    let rows = end - start;
                    kernel.tile(
                        metric,
                        qs,
                        &self.rows[start * self.dim..end * self.dim],
                        self.dim,
                        &mut out[..4 * rows],
                    );
                    for q in 0..4 {
                        for t in 0..rows {
                            let m = self.model[start + t];
                            if m == u32::MAX {
                                continue;
                            }
                            let key = (u64::from(out[q * rows + t].to_bits()) << 32)
                                | u64::from(self.labels[start + t]);
                            let slot = &mut best[q * self.n_models + m as usize];
                            *slot = (*slot).min(key);
                        }
                    }
                }
                let mut counts = vec![0u32; 4 * n_classes];
                for q in 0..4 {
                    for &key in &best[q * self.n_models..(q + 1) * self.n_models] {
                        if key != u64::MAX {
                            counts[q * n_classes + (key & 0xffff_ffff) as usize] += 1;
                        }
                    }
                }
                counts
            })
            .collect();
        let mut all: Vec<u32> = groups.into_iter().flatten().collect();
        all.truncate(test.n * n_classes);
        all
    }

    /// Distance from each test row in `rows` to each model's nearest prototype of each
    /// label: `rows.len() × n_models × n_classes`, `+∞` where a model has no prototype of
    /// that label. Minus these distances are the models' label scores (Run-Off Election's
    /// logits); the smallest, the smaller label first, is the model's vote.
    pub fn min_distances(
        &self,
        test: &FeatureMatrix,
        rows: std::ops::Range<usize>,
        n_classes: usize,
        metric: Metric,
        kernel: Kernel,
    ) -> Vec<f32> {
        let n_protos = self.labels.len();
        let tile = ((128 * 1024 / (self.dim * 4)) / 4 * 4).max(4);
        let per_query = self.n_models * n_classes;
        let pad_query = |i: usize| -> Vec<f32> {
            let mut r = vec![0f32; self.dim];
            if i < rows.end {
                r[..test.dim].copy_from_slice(test.row(i));
            }
            r
        };
        let groups: Vec<Vec<f32>> = (0..rows.len().div_ceil(4))
            .into_par_iter()
            .map(|g| {
                let queries: Vec<Vec<f32>> =
                    (0..4).map(|i| pad_query(rows.start + 4 * g + i)).collect();
                let qs = [0, 1, 2, 3].map(|i| queries[i].as_slice());
                let mut best = vec![f32::INFINITY; 4 * per_query];
                let mut out = vec![0f32; 4 * tile];
                for start in (0..n_protos).step_by(tile) {
                    let end = (start + tile).min(n_protos);
                    let rows = end - start;
                    kernel.tile(
                        metric,
                        qs,
                        &self.rows[start * self.dim..end * self.dim],
                        self.dim,
                        &mut out[..4 * rows],
                    );
                    for q in 0..4 {
                        for t in 0..rows {
                            let m = self.model[start + t];
                            if m == u32::MAX {
                                continue;
                            }
                            let slot = &mut best[q * per_query
                                + m as usize * n_classes
                                + self.labels[start + t] as usize];
                            *slot = slot.min(out[q * rows + t]);
                        }
                    }
                }
                best
            })
            .collect();
        let mut all: Vec<f32> = groups.into_iter().flatten().collect();
        all.truncate(rows.len() * per_query);
        all
    }
}
