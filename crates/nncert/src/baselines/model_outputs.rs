//! What base models said about each test input: their votes (DPA, Finite Aggregation) or
//! their ranking of the labels (Run-Off Election), checked once at construction.

use rayon::prelude::*;

use crate::error::Error;

/// The vote of a base model that abstains (casts no vote).
pub const ABSTAIN: u32 = u32::MAX;

/// Round-one votes of `n_models` base models on `n_test` inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVotes {
    n_models: usize,
    n_classes: usize,
    /// `n_test × n_models`, a label below `n_classes` or [`ABSTAIN`].
    votes: Vec<u32>,
    labels: Vec<u32>,
}

impl ModelVotes {
    /// Checks shapes and values: `votes.len() = labels.len() · n_models`, every vote a label
    /// or [`ABSTAIN`], every true label below `n_classes ≥ 2`.
    pub fn new(
        votes: Vec<u32>,
        n_models: usize,
        n_classes: usize,
        labels: Vec<u32>,
    ) -> Result<ModelVotes, Error> {
        check_common(n_models, n_classes, &labels)?;
        if votes.len() != labels.len() * n_models {
            return Err(Error::invalid(format!(
                "model votes: expected {} × {n_models} = {} votes, found {}",
                labels.len(),
                labels.len() * n_models,
                votes.len()
            )));
        }
        if let Some(p) = votes
            .iter()
            .position(|&v| v != ABSTAIN && v as usize >= n_classes)
        {
            return Err(Error::invalid(format!(
                "model votes: test input {}, model {}: expected a label below {n_classes} or an abstention, found {}",
                p / n_models,
                p % n_models,
                votes[p]
            )));
        }
        Ok(ModelVotes {
            n_models,
            n_classes,
            votes,
            labels,
        })
    }

    /// Number of test inputs.
    pub fn n_test(&self) -> usize {
        self.labels.len()
    }

    /// Number of base models.
    pub fn n_models(&self) -> usize {
        self.n_models
    }

    /// Number of labels.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// True labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The votes of every model on test input `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.votes[i * self.n_models..(i + 1) * self.n_models]
    }

    /// Per test input, how many models vote each label (`n_test × c`, abstentions not
    /// counted): the votes matrix of DPA's `certify-votes`.
    pub fn counts(&self) -> Vec<u32> {
        let c = self.n_classes;
        let mut out = vec![0u32; self.n_test() * c];
        for (i, counts) in out.chunks_exact_mut(c).enumerate() {
            for &v in self.row(i) {
                if v != ABSTAIN {
                    counts[v as usize] += 1;
                }
            }
        }
        out
    }
}

/// How each base model ranks the labels on each test input, from its scores (logits):
/// labels by score descending, equal scores by label ascending. A model whose scores are
/// all −∞ abstains in both rounds of Run-Off Election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRankings {
    /// The round-one vote (the top-ranked label) or [`ABSTAIN`].
    pub(crate) votes: ModelVotes,
    /// `n_test × n_models × c`: the position of each label in the model's ranking (0 = top).
    positions: Vec<u16>,
}

impl ModelRankings {
    /// Ranks scores given as `n_test × n_models × n_classes` values (C order). NaN is
    /// refused; ±∞ are ordinary values (all −∞: the model abstains).
    pub fn from_scores<T>(
        scores: &[T],
        n_models: usize,
        n_classes: usize,
        labels: Vec<u32>,
    ) -> Result<ModelRankings, Error>
    where
        T: Copy + Into<f64> + Send + Sync,
    {
        check_common(n_models, n_classes, &labels)?;
        if n_classes > usize::from(u16::MAX) {
            return Err(Error::invalid(format!(
                "model scores: expected at most {} labels, found {n_classes}",
                u16::MAX
            )));
        }
        let n_test = labels.len();
        if scores.len() != n_test * n_models * n_classes {
            return Err(Error::invalid(format!(
                "model scores: expected {n_test} × {n_models} × {n_classes} = {} scores, found {}",
                n_test * n_models * n_classes,
                scores.len()
            )));
        }
        if let Some(p) = scores.par_iter().position_first(|&s| s.into().is_nan()) {
            let per_test = n_models * n_classes;
            return Err(Error::invalid(format!(
                "model scores: test input {}, model {}, label {}: expected a number, found NaN",
                p / per_test,
                (p % per_test) / n_classes,
                p % n_classes
            )));
        }
        let c = n_classes;
        let mut positions = vec![0u16; scores.len()];
        let mut votes = vec![0u32; n_test * n_models];
        positions
            .par_chunks_mut(c)
            .zip(votes.par_iter_mut())
            .zip(scores.par_chunks(c))
            .for_each_init(
                || Vec::with_capacity(c),
                |order: &mut Vec<(f64, u16)>, ((pos, vote), row)| {
                    order.clear();
                    order.extend(row.iter().enumerate().map(|(l, &s)| (s.into(), l as u16)));
                    // Score descending, then label ascending (no NaN here).
                    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    for (rank, &(_, l)) in order.iter().enumerate() {
                        pos[l as usize] = rank as u16;
                    }
                    *vote = if order[0].0 == f64::NEG_INFINITY {
                        ABSTAIN
                    } else {
                        u32::from(order[0].1)
                    };
                },
            );
        Ok(ModelRankings {
            votes: ModelVotes::new(votes, n_models, n_classes, labels)?,
            positions,
        })
    }

    /// The round-one votes.
    pub fn votes(&self) -> &ModelVotes {
        &self.votes
    }

    /// Positions of the labels for test input `i`: `n_models × c`.
    pub(crate) fn positions_row(&self, i: usize) -> &[u16] {
        let len = self.votes.n_models * self.votes.n_classes;
        &self.positions[i * len..(i + 1) * len]
    }
}

fn check_common(n_models: usize, n_classes: usize, labels: &[u32]) -> Result<(), Error> {
    if n_models == 0 {
        return Err(Error::invalid(
            "model outputs: expected at least one base model, found none",
        ));
    }
    if n_classes < 2 {
        return Err(Error::invalid(format!(
            "model outputs: expected at least 2 labels, found {n_classes}"
        )));
    }
    if labels.is_empty() {
        return Err(Error::invalid(
            "model outputs: expected at least one test input, found none",
        ));
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= n_classes) {
        return Err(Error::invalid(format!(
            "labels: test input {i}: expected a label below {n_classes}, found {}",
            labels[i]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rankings_order_by_score_then_label() {
        let scores = [
            0.5f32,
            2.0,
            2.0,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ];
        let r = ModelRankings::from_scores(&scores, 2, 3, vec![1]).unwrap();
        assert_eq!(r.votes().row(0), &[1, ABSTAIN]);
        assert_eq!(&r.positions_row(0)[..3], &[2, 0, 1]);
    }

    #[test]
    fn nan_and_bad_shapes_are_one_line_errors() {
        let e = ModelRankings::from_scores(&[1.0f64, f64::NAN], 1, 2, vec![0])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("label 1") && e.contains("NaN") && !e.contains('\n'),
            "{e}"
        );
        assert!(ModelRankings::from_scores(&[1.0f64; 5], 1, 2, vec![0]).is_err());
        assert!(ModelVotes::new(vec![0, 7], 2, 3, vec![0]).is_err());
        assert!(ModelVotes::new(vec![0, 1], 2, 3, vec![3]).is_err());
        assert!(ModelVotes::new(vec![], 0, 3, vec![0]).is_err());
    }
}
