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
        const ROWS: usize = 1024;
        positions
            .par_chunks_mut(c * ROWS)
            .zip(votes.par_chunks_mut(ROWS))
            .zip(scores.par_chunks(c * ROWS))
            .for_each(|((pos, vote), rows)| {
                for ((pos, vote), row) in pos
                    .chunks_exact_mut(c)
                    .zip(vote.iter_mut())
                    .zip(rows.chunks_exact(c))
                {
                    rank_row(row, pos, vote);
                }
            });
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

/// A key that orders a label before another exactly when it ranks higher: its score's
/// bits mapped to an order-preserving unsigned integer (−0 counted as +0), then the label
/// reversed (a smaller label ranks first among equal scores). NaN never reaches here.
#[inline]
fn rank_key(score: f64, label: usize) -> u128 {
    let bits = (score + 0.0).to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    (u128::from(ordered) << 16) | (0xFFFF - label as u128)
}

/// Positions of one model's labels (0 = top): the number of labels that rank higher (a
/// larger score, or an equal score and a smaller label); the vote is the label at 0.
fn rank_row<T: Copy + Into<f64>>(row: &[T], pos: &mut [u16], vote: &mut u32) {
    if row.len() > 32 {
        return rank_row_by_sorting(row, pos, vote);
    }
    let mut keys = [0u128; 32];
    let mut all_minus_infinity = true;
    for (l, (k, &s)) in keys.iter_mut().zip(row).enumerate() {
        let s: f64 = s.into();
        all_minus_infinity &= s == f64::NEG_INFINITY;
        *k = rank_key(s, l);
    }
    let keys = &keys[..row.len()];
    let mut top = 0;
    for (l, (p, &key)) in pos.iter_mut().zip(keys).enumerate() {
        *p = keys.iter().map(|&other| u16::from(other > key)).sum();
        if *p == 0 {
            top = l;
        }
    }
    *vote = if all_minus_infinity {
        ABSTAIN
    } else {
        top as u32
    };
}

/// [`rank_row`] for many labels: sort by score descending, then label ascending.
fn rank_row_by_sorting<T: Copy + Into<f64>>(row: &[T], pos: &mut [u16], vote: &mut u32) {
    let mut order: Vec<(f64, u16)> = row
        .iter()
        .enumerate()
        .map(|(l, &s)| (s.into(), l as u16))
        .collect();
    // `partial_cmp` (not `total_cmp`) so that −0 and +0 are equal scores, as in
    // `rank_row`; there is no NaN here.
    order.sort_unstable_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    for (rank, &(_, l)) in order.iter().enumerate() {
        pos[l as usize] = rank as u16;
    }
    *vote = if order[0].0 == f64::NEG_INFINITY {
        ABSTAIN
    } else {
        u32::from(order[0].1)
    };
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
    fn counting_and_sorting_rank_alike() {
        let mut rng = crate::certify::grouping::SplitMix64::new(3);
        let values = [f64::NEG_INFINITY, -0.0, 0.0, 1.0, 2.5, f64::INFINITY];
        for _ in 0..2000 {
            let c = 2 + rng.below(8) as usize;
            let row: Vec<f64> = (0..c).map(|_| values[rng.below(6) as usize]).collect();
            let (mut p1, mut p2) = (vec![0u16; c], vec![0u16; c]);
            let (mut v1, mut v2) = (0, 0);
            rank_row(&row, &mut p1, &mut v1);
            rank_row_by_sorting(&row, &mut p2, &mut v2);
            assert_eq!((p1, v1), (p2, v2), "{row:?}");
        }
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
