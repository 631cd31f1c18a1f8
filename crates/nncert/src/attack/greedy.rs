//! The `greedy` strategy: one poisoned set for the whole test set that shares its budget.
//!
//! Removals take training examples that vote for the prediction of many attackable inputs
//! at once; insertions take test images (with a chosen label) that fall inside many
//! inputs' neighbourhoods — rNN balls overlap, which is what the joint certificate accounts
//! for. Actions are chosen in rounds by their weighted gain (an input `n` votes from
//! flipping counts `1/n`, a flipped one nothing); the caller cuts the sequence at each
//! budget and re-runs the classifier on the real poisoned set.

use rayon::prelude::*;

use super::clean::Neighbourhood;
use super::{Context, Target};
use crate::certify::PointCertificate;
use crate::neighbours::kernel::scalar;
use crate::votes::{TieRule, Votes};

/// Per attackable input: votes still needed to flip it, and the label that flips it most
/// cheaply.
type Need = (i64, u32);

/// The attacker's running view of every correctly classified test input ("target").
struct Greedy<'a> {
    train_labels: &'a [u32],
    n_classes: usize,
    tie: TieRule,
    /// Predicted label of each target.
    predicted: Vec<u32>,
    /// Current (poisoned) votes of each target.
    votes: Vec<Vec<i64>>,
    /// For each training example, the targets whose neighbourhood holds it.
    members: Vec<Vec<u32>>,
    /// For each test image, the targets an inserted copy of it would reach.
    reach: Vec<Vec<u32>>,
}

impl<'a> Greedy<'a> {
    fn new(
        ctx: &Context<'a>,
        test_rows: &[Vec<f32>],
        neighbourhoods: &[Neighbourhood],
        points: &[PointCertificate],
        clean: &Votes,
    ) -> Greedy<'a> {
        let (dataset, metric, target) = (ctx.dataset, ctx.metric, ctx.target);
        let targets: Vec<usize> = (0..points.len()).filter(|&i| points[i].correct()).collect();
        // kNN: an inserted example nearer than the k-th distance enters the k nearest.
        let bounds: Vec<f32> = targets
            .iter()
            .map(|&i| neighbourhoods[i].iter().map(|x| x.0).fold(0.0, f32::max))
            .collect();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); dataset.train.len()];
        for (ti, &i) in targets.iter().enumerate() {
            for &(_, j) in &neighbourhoods[i] {
                members[j].push(ti as u32);
            }
        }
        let reach: Vec<Vec<u32>> = (0..test_rows.len())
            .into_par_iter()
            .map(|j| {
                targets
                    .iter()
                    .enumerate()
                    .filter(|&(ti, &i)| {
                        let d = scalar::distance(metric, &test_rows[i], &test_rows[j]);
                        match target {
                            Target::Rnn(r) => f64::from(d) <= r,
                            Target::Knn(_) => d < bounds[ti],
                        }
                    })
                    .map(|(ti, _)| ti as u32)
                    .collect()
            })
            .collect();
        Greedy {
            train_labels: &dataset.train.labels,
            n_classes: dataset.n_classes,
            tie: ctx.tie,
            predicted: targets
                .iter()
                .map(|&i| points[i].prediction.predicted)
                .collect(),
            votes: targets
                .iter()
                .map(|&i| clean.row(i).iter().map(|&v| i64::from(v)).collect())
                .collect(),
            members,
            reach,
        }
    }

    fn need(&self, ti: usize) -> Need {
        let (v, a) = (&self.votes[ti], self.predicted[ti]);
        let mut best = (i64::MAX, 0u32);
        for l in (0..self.n_classes as u32).filter(|&l| l != a) {
            let n = v[a as usize] - v[l as usize] + i64::from(self.tie.wins_tie(a, l));
            if n < best.0 {
                best = (n, l);
            }
        }
        best
    }

    fn states(&self) -> Vec<Need> {
        (0..self.votes.len()).map(|ti| self.need(ti)).collect()
    }

    /// Chooses up to `room` removals by weighted gain; false when none helps.
    fn removal_round(&mut self, removed: &mut [bool], out: &mut Vec<usize>, room: usize) -> bool {
        let state = self.states();
        let mut scored: Vec<(f64, usize)> = (0..self.members.len())
            .filter(|&t| !removed[t] && !self.members[t].is_empty())
            .map(|t| {
                let y = self.train_labels[t];
                let gain: f64 = self.members[t]
                    .iter()
                    .map(|&ti| {
                        let ti = ti as usize;
                        if self.predicted[ti] == y {
                            weight(&state, ti)
                        } else if state[ti].1 == y {
                            -weight(&state, ti)
                        } else {
                            0.0
                        }
                    })
                    .sum();
                (gain, t)
            })
            .filter(|&(gain, _)| gain > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, t) in scored.iter().take(room) {
            removed[t] = true;
            out.push(t);
            for &ti in &self.members[t] {
                self.votes[ti as usize][self.train_labels[t] as usize] -= 1;
            }
        }
        !scored.is_empty() && room > 0
    }

    /// Chooses up to `room` insertions (test image, label) by weighted gain; false when none
    /// helps.
    fn insertion_round(&mut self, out: &mut Vec<(usize, u32)>, room: usize) -> bool {
        let state = self.states();
        let mut scored: Vec<(f64, usize, u32)> = self
            .reach
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .filter_map(|(j, r)| {
                let mut by_label = vec![0f64; self.n_classes];
                for &ti in r {
                    by_label[state[ti as usize].1 as usize] += weight(&state, ti as usize);
                }
                // The first label with the largest gain.
                let (l, gain) =
                    by_label
                        .iter()
                        .enumerate()
                        .fold(
                            (0usize, 0f64),
                            |best, (l, &v)| {
                                if v > best.1 { (l, v) } else { best }
                            },
                        );
                (gain > 0.0).then_some((gain, j, l as u32))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, j, l) in scored.iter().take(room) {
            out.push((j, l));
            for &ti in &self.reach[j] {
                self.votes[ti as usize][l as usize] += 1;
            }
        }
        !scored.is_empty() && room > 0
    }
}

/// An input `n` votes from flipping is worth `1/n`; a flipped one nothing.
fn weight(state: &[Need], ti: usize) -> f64 {
    if state[ti].0 > 0 {
        1.0 / state[ti].0 as f64
    } else {
        0.0
    }
}

/// The action sequence, up to `max_e` removals and `max_e` insertions: training indices to
/// remove, and (test image, label) pairs to insert, each in the order chosen (a budget `e`
/// takes the first `e` of each).
pub(super) fn greedy_sequence(
    ctx: &Context<'_>,
    test_rows: &[Vec<f32>],
    neighbourhoods: &[Neighbourhood],
    points: &[PointCertificate],
    clean: &Votes,
    max_e: u64,
) -> (Vec<usize>, Vec<(usize, u32)>) {
    let mut g = Greedy::new(ctx, test_rows, neighbourhoods, points, clean);
    let max_e = max_e as usize;
    let mut removed = vec![false; ctx.dataset.train.len()];
    let (mut removals, mut insertions) = (Vec::new(), Vec::new());
    let chunk = (max_e / 50).max(1);
    while removals.len() < max_e || insertions.len() < max_e {
        let mut progressed = false;
        if removals.len() < max_e {
            let room = (max_e - removals.len()).min(chunk);
            progressed |= g.removal_round(&mut removed, &mut removals, room);
        }
        if insertions.len() < max_e {
            let room = (max_e - insertions.len()).min(chunk);
            progressed |= g.insertion_round(&mut insertions, room);
        }
        if !progressed {
            break;
        }
    }
    (removals, insertions)
}
