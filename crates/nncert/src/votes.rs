//! Votes: the checkpoint between neighbour search and certification (METHOD §2).
//!
//! A [`Votes`] value is an `n_test × c` matrix of label counts `s_l` plus the true label of
//! every test input. Everything downstream (predictions, certificates, curves) is a pure
//! function of it, which is why users can bring their own votes (`certify-votes`) and why
//! tests can build one by hand.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::Error;

/// How equal vote counts are broken when choosing the predicted label and the runner-up.
///
/// METHOD §2: the paper's rule is that the larger label index wins; DPA and FA use the
/// smaller index. The rule changes certificates by one vote, so every output records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TieRule {
    /// Among labels with equal votes the larger index wins (paper, default).
    #[default]
    Larger,
    /// Among labels with equal votes the smaller index wins (DPA/FA convention).
    Smaller,
}

impl TieRule {
    /// Whether label `l` beats label `m` when both have the same number of votes.
    #[inline]
    pub fn wins_tie(self, l: u32, m: u32) -> bool {
        match self {
            TieRule::Larger => l > m,
            TieRule::Smaller => l < m,
        }
    }

    /// Whether `(votes_l, l)` ranks strictly before `(votes_m, m)`.
    #[inline]
    fn ranks_before(self, votes_l: u32, l: u32, votes_m: u32, m: u32) -> bool {
        votes_l > votes_m || (votes_l == votes_m && self.wins_tie(l, m))
    }
}

impl fmt::Display for TieRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TieRule::Larger => "larger",
            TieRule::Smaller => "smaller",
        })
    }
}

impl FromStr for TieRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "larger" => Ok(TieRule::Larger),
            "smaller" => Ok(TieRule::Smaller),
            other => Err(Error::invalid(format!(
                "tie rule: expected `larger` or `smaller`, found `{other}`"
            ))),
        }
    }
}

/// The predicted label `a` and runner-up `b` of one test input, with their votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prediction {
    /// Predicted label `a`: most votes, ties broken by the [`TieRule`].
    pub predicted: u32,
    /// Runner-up `b`: chosen by the same rule among the labels other than `a`.
    pub runner_up: u32,
    /// `s_a`.
    pub votes_predicted: u32,
    /// `s_b`.
    pub votes_runner_up: u32,
}

impl Prediction {
    /// Predicts from one row of counts. `counts` must hold at least two labels.
    ///
    /// The runner-up is the best label other than `a` under the same rule; when several
    /// labels tie for second place this is the one an attacker reaches most cheaply
    /// (METHOD §2–3), which is what makes the certificate tight.
    pub fn from_counts(counts: &[u32], tie: TieRule) -> Prediction {
        assert!(counts.len() >= 2, "a prediction needs at least two labels");
        let (mut a, mut b) = if tie.ranks_before(counts[1], 1, counts[0], 0) {
            (1u32, 0u32)
        } else {
            (0u32, 1u32)
        };
        for (l, &s) in counts.iter().enumerate().skip(2) {
            let l = l as u32;
            if tie.ranks_before(s, l, counts[a as usize], a) {
                b = a;
                a = l;
            } else if tie.ranks_before(s, l, counts[b as usize], b) {
                b = l;
            }
        }
        Prediction {
            predicted: a,
            runner_up: b,
            votes_predicted: counts[a as usize],
            votes_runner_up: counts[b as usize],
        }
    }

    /// The margin `g = s_a − s_b + [a wins a tie against b]`, always ≥ 1.
    ///
    /// `g` is the number of single-vote changes an attacker needs to make `b` win.
    #[inline]
    pub fn margin(&self, tie: TieRule) -> u64 {
        u64::from(self.votes_predicted) - u64::from(self.votes_runner_up)
            + u64::from(tie.wins_tie(self.predicted, self.runner_up))
    }
}

/// An `n_test × c` matrix of non-negative vote counts and the true label of each row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Votes {
    n_classes: usize,
    counts: Vec<u32>,
    labels: Vec<u32>,
}

impl Votes {
    /// Checks and wraps a row-major count matrix.
    ///
    /// Errors when `c < 2`, when `counts.len() != labels.len() × c`, or when a label is
    /// not below `c`.
    pub fn new(counts: Vec<u32>, n_classes: usize, labels: Vec<u32>) -> Result<Votes, Error> {
        if n_classes < 2 {
            return Err(Error::invalid(format!(
                "votes: expected at least 2 classes (columns), found {n_classes}"
            )));
        }
        let expected = labels.len().checked_mul(n_classes);
        if expected != Some(counts.len()) {
            return Err(Error::invalid(format!(
                "votes: expected {} × {n_classes} counts for {} labels, found {}",
                labels.len(),
                labels.len(),
                counts.len()
            )));
        }
        if let Some((i, &y)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &y)| y as usize >= n_classes)
        {
            return Err(Error::invalid(format!(
                "labels: expected values below the number of classes {n_classes}, found {y} at index {i}"
            )));
        }
        Ok(Votes {
            n_classes,
            counts,
            labels,
        })
    }

    /// Number of test inputs (rows).
    pub fn n_test(&self) -> usize {
        self.labels.len()
    }

    /// Number of classes `c` (columns).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The counts of test input `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.counts[i * self.n_classes..(i + 1) * self.n_classes]
    }

    /// True labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The row-major count matrix.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Predictions of every test input under `tie`.
    pub fn predictions(&self, tie: TieRule) -> Vec<Prediction> {
        (0..self.n_test())
            .map(|i| Prediction::from_counts(self.row(i), tie))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_index_wins_ties_for_first_and_second_place() {
        let p = Prediction::from_counts(&[3, 5, 5, 1, 3], TieRule::Larger);
        assert_eq!((p.predicted, p.runner_up), (2, 1));
        let p = Prediction::from_counts(&[3, 5, 5, 1, 3], TieRule::Smaller);
        assert_eq!((p.predicted, p.runner_up), (1, 2));
        // Several labels tie for second place: the rule picks among them too.
        let p = Prediction::from_counts(&[2, 9, 2, 2], TieRule::Larger);
        assert_eq!((p.predicted, p.runner_up), (1, 3));
        let p = Prediction::from_counts(&[2, 9, 2, 2], TieRule::Smaller);
        assert_eq!((p.predicted, p.runner_up), (1, 0));
    }

    #[test]
    fn all_zero_votes_pick_the_extreme_labels() {
        let p = Prediction::from_counts(&[0, 0, 0], TieRule::Larger);
        assert_eq!((p.predicted, p.runner_up), (2, 1));
        assert_eq!(p.margin(TieRule::Larger), 1);
        let p = Prediction::from_counts(&[0, 0, 0], TieRule::Smaller);
        assert_eq!((p.predicted, p.runner_up), (0, 1));
    }

    #[test]
    fn matches_a_full_sort() {
        let rows: [&[u32]; 5] = [&[1, 1], &[0, 4, 4, 4], &[7, 0, 7], &[5, 6, 7, 6], &[9, 9]];
        for tie in [TieRule::Larger, TieRule::Smaller] {
            for row in rows {
                let mut order: Vec<u32> = (0..row.len() as u32).collect();
                order.sort_by(|&l, &m| {
                    row[m as usize].cmp(&row[l as usize]).then(match tie {
                        TieRule::Larger => m.cmp(&l),
                        TieRule::Smaller => l.cmp(&m),
                    })
                });
                let p = Prediction::from_counts(row, tie);
                assert_eq!((p.predicted, p.runner_up), (order[0], order[1]), "{row:?}");
            }
        }
    }

    #[test]
    fn rejects_bad_shapes_and_labels() {
        assert!(Votes::new(vec![1, 2], 1, vec![0, 0]).is_err());
        assert!(Votes::new(vec![1, 2, 3], 2, vec![0, 0]).is_err());
        let e = Votes::new(vec![1, 2, 3, 4], 2, vec![0, 2]).unwrap_err();
        assert!(e.to_string().contains("found 2 at index 1"), "{e}");
    }
}
