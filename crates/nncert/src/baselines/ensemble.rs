//! Built-in base learners for the baselines: classifiers that train in microseconds on a
//! handful of HOG vectors.
//!
//! - `centroid`: one prototype per label present, the mean of that label's examples; the
//!   model predicts the label of its nearest prototype (ℓ distance, ties: smaller label);
//! - `1nn`: every distinct training example is a prototype;
//! - `knn:K` and `rnn:R`: nncert's own nearest-neighbour classifiers on the model's part
//!   (the crate-internal `neighbour_learners` module; rNN abstains on an empty ball).
//!
//! A model with no training example abstains (casts no vote).

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Serialize, Serializer};

use super::neighbour_learners::{NeighbourModels, NeighbourRule};
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::kernel::{Kernel, LANES, Metric};

/// Which base classifier the partition ensembles and bagging train.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum BaseLearner {
    /// Nearest class centroid (default).
    #[default]
    Centroid,
    /// Nearest neighbour.
    OneNn,
    /// Majority of the `k` nearest members (of all members when the part has at most `k`).
    Knn(usize),
    /// Majority of the members within this radius; abstains when the ball is empty.
    Rnn(f32),
}

impl fmt::Display for BaseLearner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseLearner::Centroid => f.write_str("centroid"),
            BaseLearner::OneNn => f.write_str("1nn"),
            BaseLearner::Knn(k) => write!(f, "knn:{k}"),
            BaseLearner::Rnn(r) => write!(f, "rnn:{r}"),
        }
    }
}

/// Written as its command-line spelling (`"centroid"`, `"knn:5"`, `"rnn:20"`).
impl Serialize for BaseLearner {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for BaseLearner {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(format!(
                "base learner: expected centroid, 1nn, knn:K (K ≥ 1) or rnn:R (R ≥ 0, finite), found `{s}`"
            ))
        };
        match s.split_once(':') {
            None if s == "centroid" => Ok(BaseLearner::Centroid),
            None if s == "1nn" => Ok(BaseLearner::OneNn),
            Some(("knn", k)) => match k.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(BaseLearner::Knn(k)),
                _ => Err(bad()),
            },
            Some(("rnn", r)) => match r.parse::<f32>() {
                Ok(r) if r.is_finite() && r >= 0.0 => Ok(BaseLearner::Rnn(r)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// Scores per chunk of test inputs when votes are taken from scores: at most this many
/// `f32` values (64 MiB), so memory does not grow with the number of test inputs.
const CHUNK_VALUES: usize = 16 << 20;

/// Test rows per chunk so that `rows × n_models × n_classes` scores fit [`CHUNK_VALUES`]
/// (a multiple of 4, at least 4).
pub(crate) fn chunk_rows(n_models: usize, n_classes: usize) -> usize {
    (CHUNK_VALUES / (n_models * n_classes).max(1)).clamp(4, 4096) / 4 * 4
}

/// The vote of one model from its label scores: the highest score, the smaller label on
/// equal scores; `None` (abstain) when every score is `−∞`.
pub(crate) fn vote_of(scores: &[f32]) -> Option<u32> {
    let (mut best, mut at) = (f32::NEG_INFINITY, None);
    for (l, &s) in scores.iter().enumerate() {
        if s > best {
            (best, at) = (s, Some(l as u32));
        }
    }
    at
}

/// A trained ensemble: one base model per member list.
pub struct Ensemble {
    models: Models,
}

enum Models {
    Prototypes(Prototypes),
    Neighbours(NeighbourModels),
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
        let rule = match learner {
            BaseLearner::Knn(k) => Some(NeighbourRule::Nearest(k)),
            BaseLearner::Rnn(r) => Some(NeighbourRule::Radius(r)),
            BaseLearner::Centroid | BaseLearner::OneNn => None,
        };
        let models = match rule {
            Some(rule) => Models::Neighbours(NeighbourModels::train(
                rule, train, labels, n_classes, members,
            )),
            None => Models::Prototypes(Prototypes::train(
                learner, train, labels, n_classes, members,
            )),
        };
        Ensemble { models }
    }

    /// Number of models.
    pub fn n_models(&self) -> usize {
        match &self.models {
            Models::Prototypes(p) => p.n_models,
            Models::Neighbours(n) => n.n_models(),
        }
    }

    /// Votes of every test row: `n_test × c` counts of the models' predictions.
    pub fn votes(
        &self,
        test: &FeatureMatrix,
        n_classes: usize,
        metric: Metric,
        kernel: Kernel,
    ) -> Vec<u32> {
        match &self.models {
            Models::Prototypes(p) => p.votes(test, n_classes, metric, kernel),
            Models::Neighbours(nm) => {
                let chunk = chunk_rows(nm.n_models(), n_classes);
                let mut counts = vec![0u32; test.n * n_classes];
                for start in (0..test.n).step_by(chunk) {
                    let rows = start..(start + chunk).min(test.n);
                    let scores = nm.scores(test, rows.clone(), metric, kernel);
                    let per_query = nm.n_models() * n_classes;
                    for (q, row) in scores.chunks_exact(per_query).enumerate() {
                        let out = &mut counts[(start + q) * n_classes..(start + q + 1) * n_classes];
                        for model in row.chunks_exact(n_classes) {
                            if let Some(v) = vote_of(model) {
                                out[v as usize] += 1;
                            }
                        }
                    }
                }
                counts
            }
        }
    }

    /// Label scores of each test row in `rows` for every model: `rows.len() × n_models ×
    /// n_classes`, all `−∞` for a model that abstains. The vote is the highest score, the
    /// smaller label first; Run-Off Election ranks labels by these scores.
    /// Prototype learners score a label by minus the distance to the model's nearest
    /// prototype of that label; kNN and rNN by its number of voting neighbours.
    pub fn scores(
        &self,
        test: &FeatureMatrix,
        rows: std::ops::Range<usize>,
        n_classes: usize,
        metric: Metric,
        kernel: Kernel,
    ) -> Vec<f32> {
        match &self.models {
            Models::Prototypes(p) => p
                .min_distances(test, rows, n_classes, metric, kernel)
                .into_iter()
                .map(|d| -d)
                .collect(),
            Models::Neighbours(nm) => nm.scores(test, rows, metric, kernel),
        }
    }
}

/// The prototypes of every model, padded for the distance kernels.
struct Prototypes {
    dim: usize,
    /// Row-major prototypes, each padded to a multiple of 16 values; row count padded to
    /// a multiple of 4 with rows that belong to no model.
    rows: Vec<f32>,
    labels: Vec<u32>,
    /// Model of each prototype (`u32::MAX` for padding).
    model: Vec<u32>,
    n_models: usize,
}

impl Prototypes {
    /// Trains one model per member list (indices into `train`, repeats allowed).
    fn train(
        learner: BaseLearner,
        train: &FeatureMatrix,
        labels: &[u32],
        n_classes: usize,
        members: &[Vec<usize>],
    ) -> Prototypes {
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
                // 1nn (kNN and rNN models are `NeighbourModels`).
                _ => {
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
        Prototypes {
            dim,
            rows,
            labels: proto_labels,
            model,
            n_models: members.len(),
        }
    }

    /// Votes of every test row: `n_test × c` counts of the models' predictions.
    fn votes(
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
    fn min_distances(
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
