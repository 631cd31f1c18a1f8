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
use super::tile_scan::{per_query_group, scan_tiles};
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
///
/// A prototype shared by several models (1-NN under Finite Aggregation or bagging, where a
/// training example belongs to `d` models) is stored once and credits every model that
/// holds it, so its distance to a test input is computed once, not once per model.
struct Prototypes {
    dim: usize,
    /// Row-major prototypes, each padded to a multiple of 16 values; row count padded to
    /// a multiple of 4 with rows that belong to no model.
    rows: Vec<f32>,
    labels: Vec<u32>,
    /// The model holding each prototype, read without indirection in the common case of
    /// one holder (every centroid, 1-NN under DPA); [`NO_MODEL`] for padding, [`SHARED`]
    /// when several models hold it (then see `holders`).
    owner: Vec<u32>,
    /// Models holding each prototype (CSR, each model once):
    /// `holders[holder_starts[p]..holder_starts[p + 1]]`, empty for padding.
    holder_starts: Vec<usize>,
    holders: Vec<u32>,
    n_models: usize,
}

/// [`Prototypes::owner`] of a padding prototype.
const NO_MODEL: u32 = u32::MAX;
/// [`Prototypes::owner`] of a prototype several models hold (model indices stay below it:
/// a spread has at most `u32::MAX` models, and that many member lists would not fit in
/// memory long before).
const SHARED: u32 = u32::MAX - 1;

impl Prototypes {
    /// Trains one model per member list (indices into `train`, repeats allowed).
    fn train(
        learner: BaseLearner,
        train: &FeatureMatrix,
        labels: &[u32],
        n_classes: usize,
        members: &[Vec<usize>],
    ) -> Prototypes {
        let protos: Vec<Prototype> = match learner {
            BaseLearner::Centroid => centroids(train, labels, n_classes, members),
            // 1nn (kNN and rNN models are `NeighbourModels`).
            _ => distinct_examples(train, labels, members),
        };
        let dim = train.dim.div_ceil(LANES).max(1) * LANES;
        let padded = protos.len().div_ceil(4).max(1) * 4;
        let mut rows = vec![0f32; padded * dim];
        let mut proto_labels = vec![0u32; padded];
        let mut owner = vec![NO_MODEL; padded];
        let mut holder_starts = Vec::with_capacity(padded + 1);
        holder_starts.push(0);
        let mut holders = Vec::new();
        for (k, p) in protos.into_iter().enumerate() {
            rows[k * dim..k * dim + p.vector.len()].copy_from_slice(&p.vector);
            proto_labels[k] = p.label;
            owner[k] = match p.models[..] {
                [] => NO_MODEL,
                [m] => m,
                _ => SHARED,
            };
            holders.extend(p.models);
            holder_starts.push(holders.len());
        }
        holder_starts.resize(padded + 1, holders.len());
        Prototypes {
            dim,
            rows,
            labels: proto_labels,
            owner,
            holder_starts,
            holders,
            n_models: members.len(),
        }
    }

    /// Calls `credit` with every model holding prototype `p`.
    #[inline(always)]
    fn for_each_holder(&self, p: usize, mut credit: impl FnMut(usize)) {
        match self.owner[p] {
            NO_MODEL => {}
            SHARED => {
                for &m in &self.holders[self.holder_starts[p]..self.holder_starts[p + 1]] {
                    credit(m as usize);
                }
            }
            m => credit(m as usize),
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
        per_query_group(test, 0..test.n, self.dim, n_classes, |qs| {
            // Best (distance bits, label) per model and query.
            let mut best = vec![u64::MAX; 4 * self.n_models];
            scan_tiles(kernel, metric, qs, &self.rows, self.dim, |start, n, out| {
                for q in 0..4 {
                    for t in 0..n {
                        let key = (u64::from(out[q * n + t].to_bits()) << 32)
                            | u64::from(self.labels[start + t]);
                        self.for_each_holder(start + t, |m| {
                            let slot = &mut best[q * self.n_models + m];
                            *slot = (*slot).min(key);
                        });
                    }
                }
            });
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
        let per_query = self.n_models * n_classes;
        per_query_group(test, rows, self.dim, per_query, |qs| {
            let mut best = vec![f32::INFINITY; 4 * per_query];
            scan_tiles(kernel, metric, qs, &self.rows, self.dim, |start, n, out| {
                for q in 0..4 {
                    for t in 0..n {
                        let label = self.labels[start + t] as usize;
                        self.for_each_holder(start + t, |m| {
                            let slot = &mut best[q * per_query + m * n_classes + label];
                            *slot = slot.min(out[q * n + t]);
                        });
                    }
                }
            });
            best
        })
    }
}

/// One prototype before padding: its vector, its label and the models holding it.
struct Prototype {
    vector: Vec<f32>,
    label: u32,
    models: Vec<u32>,
}

/// Centroid prototypes: per model, the mean of each label's members, for the labels present.
fn centroids(
    train: &FeatureMatrix,
    labels: &[u32],
    n_classes: usize,
    members: &[Vec<usize>],
) -> Vec<Prototype> {
    let per_model: Vec<Vec<Prototype>> = members
        .par_iter()
        .enumerate()
        .map(|(model, m)| {
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
                    Prototype {
                        vector: mean,
                        label: y as u32,
                        models: vec![model as u32],
                    }
                })
                .collect()
        })
        .collect();
    per_model.into_iter().flatten().collect()
}

/// 1-NN prototypes: every training example some model holds, once, with the models holding
/// it (each once, in model order), in training order.
fn distinct_examples(
    train: &FeatureMatrix,
    labels: &[u32],
    members: &[Vec<usize>],
) -> Vec<Prototype> {
    let mut holders: Vec<Vec<u32>> = vec![Vec::new(); train.n];
    for (model, m) in members.iter().enumerate() {
        for &i in m {
            // A repeated member (bagging) is one prototype of its model.
            if holders[i].last() != Some(&(model as u32)) {
                holders[i].push(model as u32);
            }
        }
    }
    holders
        .into_iter()
        .enumerate()
        .filter(|(_, models)| !models.is_empty())
        .map(|(i, models)| Prototype {
            vector: train.row(i).to_vec(),
            label: labels[i],
            models,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A model trained alone: its label scores and votes are those it has inside an
    /// ensemble, where a training example shared by several models is one prototype
    /// credited to each (1-NN under FA or bagging) — same bits, nothing lost or misrouted.
    #[test]
    fn shared_prototypes_score_like_models_trained_alone() {
        let (n, dim, c) = (61, 5, 3);
        let mut rng = SplitMix64::new(7);
        let mut draw = || (rng.next_u64() % 1000) as f32 / 100.0;
        let train = FeatureMatrix {
            n,
            dim,
            data: (0..n * dim).map(|_| draw()).collect(),
        };
        let test = FeatureMatrix {
            n: 9,
            dim,
            data: (0..9 * dim).map(|_| draw()).collect(),
        };
        let labels: Vec<u32> = (0..n as u32).map(|i| (i * 7 + i / 5) % c as u32).collect();
        // Every example in 3 of 8 models (FA-like), model 5 with repeats (bagging-like),
        // model 7 empty (abstains).
        let mut members: Vec<Vec<usize>> = (0..8)
            .map(|m| (0..n).filter(|i| (i + m) % 8 < 3 && m != 7).collect())
            .collect();
        members[5].extend([0, 0, 3, 3, 3]);
        let kernel = Kernel::detect().expect("kernel");
        for learner in [BaseLearner::OneNn, BaseLearner::Centroid] {
            for metric in [Metric::L1, Metric::L2, Metric::Linf] {
                let ensemble = Ensemble::train(learner, &train, &labels, c, &members);
                let scores = ensemble.scores(&test, 0..test.n, c, metric, kernel);
                let votes = ensemble.votes(&test, c, metric, kernel);
                let mut expected_votes = vec![0u32; test.n * c];
                for (m, list) in members.iter().enumerate() {
                    let alone =
                        Ensemble::train(learner, &train, &labels, c, std::slice::from_ref(list));
                    let own = alone.scores(&test, 0..test.n, c, metric, kernel);
                    for q in 0..test.n {
                        let inside = &scores[(q * members.len() + m) * c..][..c];
                        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(inside),
                            bits(&own[q * c..(q + 1) * c]),
                            "{learner} model {m}"
                        );
                    }
                    for (q, v) in alone.votes(&test, c, metric, kernel).iter().enumerate() {
                        expected_votes[q] += v;
                    }
                }
                assert_eq!(votes, expected_votes, "{learner} {metric}");
            }
        }
    }
}
