//! kNN and rNN as base learners of a partition ensemble: each base model is nncert's
//! nearest-neighbour classifier restricted to its own training examples.
//!
//! - `knn:K` — the model's label scores are the labels of its `K` nearest members (ℓ
//!   distance, equal distances: the smaller training index first); with `K` at least the
//!   model's size every member votes, so the model predicts the majority of its part;
//! - `rnn:R` — the scores are the labels of its members within distance `R` (for ℓ2 the
//!   kernels compare squared distances, so with `R²`); a model with no member in the ball
//!   **abstains**, like a model with no member at all.
//!
//! The vote is the label with the highest score, the smaller label on equal scores
//! (Run-Off Election ranks by the same scores, [`super::model_outputs::ModelRankings`]).
//!
//! Why the layout: a test input's distance to a training example does not depend on the
//! model, so each is computed once per test input. kNN then gathers each model's members
//! (a model of `K` or fewer members needs no distance at all: its vote is fixed at
//! training); rNN walks only the training examples inside the ball and credits every model
//! that holds them (an inverted index), so a Finite Aggregation spread `d` costs `d` per
//! example in the ball, not `d` per training example. Every test input is computed on its
//! own, so the scores are the same bytes whatever the thread count.

use super::tile_scan::{per_query_group, scan_tiles};
use crate::features::FeatureMatrix;
use crate::neighbours::kernel::{Kernel, LANES, Metric};

/// Which neighbours vote in a base model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NeighbourRule {
    /// The `k` nearest members.
    Nearest(usize),
    /// Members within this radius (abstain when there is none).
    Radius(f32),
}

/// Base models that vote with their nearest members.
pub(crate) struct NeighbourModels {
    rule: NeighbourRule,
    /// Padded width of a feature row.
    dim: usize,
    /// Every training row, padded to `dim` values; row count padded to a multiple of 4.
    rows: Vec<f32>,
    n_train: usize,
    labels: Vec<u32>,
    n_classes: usize,
    /// Members of each model (CSR): `members[starts[m]..starts[m + 1]]`.
    starts: Vec<usize>,
    members: Vec<u32>,
    /// rNN: the models holding each training example (CSR, a model once per copy).
    holder_starts: Vec<usize>,
    holders: Vec<u32>,
    /// kNN: per-label member counts of each model whose size is at most `k` (its scores
    /// whatever the test input), `None` for the others.
    fixed: Vec<Option<Vec<u32>>>,
}

impl NeighbourModels {
    /// One model per member list (indices into `train`, repeats counted as copies).
    pub fn train(
        rule: NeighbourRule,
        train: &FeatureMatrix,
        labels: &[u32],
        n_classes: usize,
        member_lists: &[Vec<usize>],
    ) -> NeighbourModels {
        let dim = train.dim.div_ceil(LANES).max(1) * LANES;
        let padded_n = train.n.div_ceil(4).max(1) * 4;
        let mut rows = vec![0f32; padded_n * dim];
        for i in 0..train.n {
            rows[i * dim..i * dim + train.dim].copy_from_slice(train.row(i));
        }
        let mut starts = Vec::with_capacity(member_lists.len() + 1);
        starts.push(0);
        let mut members = Vec::new();
        for list in member_lists {
            members.extend(list.iter().map(|&i| i as u32));
            starts.push(members.len());
        }
        let (mut holder_starts, mut holders) = (Vec::new(), Vec::new());
        if matches!(rule, NeighbourRule::Radius(_)) {
            let mut count = vec![0usize; train.n + 1];
            for &i in &members {
                count[i as usize + 1] += 1;
            }
            for i in 0..train.n {
                count[i + 1] += count[i];
            }
            holder_starts = count.clone();
            holders = vec![0u32; members.len()];
            for (m, list) in member_lists.iter().enumerate() {
                for &i in list {
                    holders[count[i]] = m as u32;
                    count[i] += 1;
                }
            }
        }
        let fixed = member_lists
            .iter()
            .map(|list| match rule {
                NeighbourRule::Nearest(k) if list.len() <= k => {
                    let mut c = vec![0u32; n_classes];
                    for &i in list {
                        c[labels[i] as usize] += 1;
                    }
                    Some(c)
                }
                _ => None,
            })
            .collect();
        NeighbourModels {
            rule,
            dim,
            rows,
            n_train: train.n,
            labels: labels.to_vec(),
            n_classes,
            starts,
            members,
            holder_starts,
            holders,
            fixed,
        }
    }

    /// Number of models.
    pub fn n_models(&self) -> usize {
        self.starts.len() - 1
    }

    /// Label scores of each test row in `rows`: `rows.len() × n_models × n_classes`, the
    /// number of voting neighbours of each label, all `−∞` for a model that abstains.
    pub fn scores(
        &self,
        test: &FeatureMatrix,
        rows: std::ops::Range<usize>,
        metric: Metric,
        kernel: Kernel,
    ) -> Vec<f32> {
        let per_query = self.n_models() * self.n_classes;
        let padded_n = self.rows.len() / self.dim;
        per_query_group(test, rows, self.dim, per_query, |qs| {
            let mut distances = vec![0f32; 4 * padded_n];
            scan_tiles(kernel, metric, qs, &self.rows, self.dim, |start, n, out| {
                for q in 0..4 {
                    distances[q * padded_n + start..q * padded_n + start + n]
                        .copy_from_slice(&out[q * n..(q + 1) * n]);
                }
            });
            let mut scores = vec![0f32; 4 * per_query];
            let mut counts = vec![0u32; per_query];
            let mut buffer = Vec::new();
            for q in 0..4 {
                let d = &distances[q * padded_n..q * padded_n + self.n_train];
                match self.rule {
                    NeighbourRule::Nearest(k) => self.knn_counts(d, k, &mut counts, &mut buffer),
                    NeighbourRule::Radius(r) => {
                        let limit = if metric == Metric::L2 { r * r } else { r };
                        self.rnn_counts(d, limit, &mut counts)
                    }
                }
                let dst = &mut scores[q * per_query..(q + 1) * per_query];
                for (s, c) in dst
                    .chunks_exact_mut(self.n_classes)
                    .zip(counts.chunks_exact(self.n_classes))
                {
                    if c.iter().all(|&v| v == 0) {
                        s.fill(f32::NEG_INFINITY);
                    } else {
                        for (s, &v) in s.iter_mut().zip(c) {
                            *s = v as f32;
                        }
                    }
                }
            }
            scores
        })
    }

    /// Per-label counts of each model's `k` nearest members.
    fn knn_counts(&self, d: &[f32], k: usize, counts: &mut [u32], buffer: &mut Vec<(u32, u32)>) {
        let c = self.n_classes;
        for m in 0..self.n_models() {
            let dst = &mut counts[m * c..(m + 1) * c];
            if let Some(fixed) = &self.fixed[m] {
                dst.copy_from_slice(fixed);
                continue;
            }
            dst.fill(0);
            buffer.clear();
            // Ordered by distance (a total order on f32 bits, so inner-product "distances"
            // below 0 work too), the training index breaking ties.
            buffer.extend(
                self.members[self.starts[m]..self.starts[m + 1]]
                    .iter()
                    .map(|&i| (order_key(d[i as usize]), i)),
            );
            buffer.select_nth_unstable(k - 1);
            for &(_, i) in &buffer[..k] {
                dst[self.labels[i as usize] as usize] += 1;
            }
        }
    }

    /// Per-label counts of each model's members within `limit`.
    fn rnn_counts(&self, d: &[f32], limit: f32, counts: &mut [u32]) {
        counts.fill(0);
        let c = self.n_classes;
        for (i, &dist) in d.iter().enumerate() {
            if dist <= limit {
                let label = self.labels[i] as usize;
                for &m in &self.holders[self.holder_starts[i]..self.holder_starts[i + 1]] {
                    counts[m as usize * c + label] += 1;
                }
            }
        }
    }
}

/// An integer that orders like `x` (IEEE total order).
fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}
