//! Run-Off Election (Rezaei, Banihashem, Chegini & Feizi, ICML 2023) on a DPA or Finite
//! Aggregation ensemble, from each base model's ranking of the labels.
//!
//! **Round one**: every model votes for its top label; the two labels with most votes (the
//! smaller label first among equal votes) go to round two. **Round two**: every model
//! votes for whichever finalist it ranks higher; the finalist with more votes wins, the
//! smaller label on a tie. Abstaining models vote in neither round.
//!
//! The prediction `a` (with the other finalist `s`) changes only if (A) two labels
//! `c1, c2` both rank before `a` in round one, or (B) some `c` reaches the final with `a`
//! — so `c` ranks before `s` in round one (or is `s`) — and beats `a` in round two. Each
//! requirement is a fall of some vote difference by a gap; every changed model has a
//! bounded power on it, so, as for Finite Aggregation ([`super::aggregation`]), an attacker
//! needs at least the fewest buckets whose largest powers cover the gap. (A) with
//! `(c1, c2)` costs at least the largest of the costs of `c1` and of `c2` overtaking `a`
//! and of the sum of both gaps (a model moves the sum by at most `1 + 2[votes a] −
//! [votes c1] − [votes c2]`); (B) with `c` costs at least the larger of the costs of `c`
//! overtaking `s` and of `c` winning round two. `ρ` = the cheapest case − 1, in
//! insertions and deletions. Derivation and the comparison with the published certifiers:
//! `docs/ENSEMBLES.md`.

use rayon::prelude::*;

use super::aggregation::{
    AggregateCertificate, Scratch, bucket_sums, certified_ops, check_models, ensure_tally,
    min_buckets, min_buckets_floor, overtake_cost, overtake_gap, reset_tally,
};
use super::model_outputs::{ABSTAIN, ModelRankings};
use super::spread::Spread;
use crate::error::Error;
use crate::votes::{Prediction, TieRule};

/// Round-two votes for `a` and for `b`. Branch-free: which finalist a model prefers is
/// as good as random to the processor.
fn duel(votes: &[u32], positions: &[u16], c: usize, a: u32, b: u32) -> (u32, u32) {
    let (mut va, mut voting) = (0u32, 0u32);
    for (p, &v) in positions.chunks_exact(c).zip(votes) {
        let votes_at_all = u32::from(v != ABSTAIN);
        va += votes_at_all & u32::from(p[a as usize] < p[b as usize]);
        voting += votes_at_all;
    }
    (va, voting - va)
}

/// The Run-Off Election prediction of one row: winner and other finalist with their
/// round-two votes.
pub fn runoff_prediction(votes: &[u32], positions: &[u16], counts: &[u32]) -> Prediction {
    let c = counts.len();
    let first = Prediction::from_counts(counts, TieRule::Smaller);
    let (m1, m2) = (first.predicted, first.runner_up);
    let (v1, v2) = duel(votes, positions, c, m1, m2);
    if v1 > v2 || (v1 == v2 && m1 < m2) {
        Prediction {
            predicted: m1,
            runner_up: m2,
            votes_predicted: v1,
            votes_runner_up: v2,
        }
    } else {
        Prediction {
            predicted: m2,
            runner_up: m1,
            votes_predicted: v2,
            votes_runner_up: v1,
        }
    }
}

/// The certificate of one test input: the prediction, then the cheapest of case (B) and
/// case (A) of the module documentation.
fn roe_row(
    spread: &Spread,
    votes: &[u32],
    positions: &[u16],
    label: u32,
    scratch: &mut Scratch,
) -> AggregateCertificate {
    scratch.counts.fill(0);
    for &v in votes {
        if v != ABSTAIN {
            scratch.counts[v as usize] += 1;
        }
    }
    let prediction = runoff_prediction(votes, positions, &scratch.counts);
    let (a, s) = (prediction.predicted, prediction.runner_up);
    reset_tally(scratch);
    round_two_duels(votes, positions, a, scratch);
    let best = reach_final_and_win_cost(spread, votes, positions, a, s, scratch);
    let best = two_overtake_cost(spread, votes, a, best, scratch);
    AggregateCertificate {
        label,
        prediction,
        rho: certified_ops(best, spread),
    }
}

/// Round two between `a` and every other label, in one pass over the rankings: `wins[l]`
/// voting models rank a before l (a loop over the labels of one model, which
/// vectorises); `scratch.duel[l]` = wins − (voting − wins), so the round's gap against
/// `l` is `duel[l] + [a < l]`.
fn round_two_duels(votes: &[u32], positions: &[u16], a: u32, scratch: &mut Scratch) {
    let c = scratch.counts.len();
    let wins = &mut scratch.wins;
    wins.fill(0);
    let mut voting = 0i64;
    for (p, &v) in positions.chunks_exact(c).zip(votes) {
        if v == ABSTAIN {
            continue;
        }
        voting += 1;
        let pa = p[a as usize];
        for (w, &pl) in wins.iter_mut().zip(p) {
            *w += u32::from(pa < pl);
        }
    }
    scratch.duel.clear();
    scratch
        .duel
        .extend(wins.iter().map(|&w| 2 * i64::from(w) - voting));
}

/// Case (B): the fewest buckets for some `l` to reach the final with `a` (`l = s`, or `l`
/// overtakes `s`) and win round two. The other finalist first: it needs no round-one
/// change, so it usually sets the bound that lets the other labels be skipped.
fn reach_final_and_win_cost(
    spread: &Spread,
    votes: &[u32],
    positions: &[u16],
    a: u32,
    s: u32,
    scratch: &mut Scratch,
) -> u64 {
    let c = scratch.counts.len();
    let d = spread.d() as u32;
    let round_two_gap = |duel: &[i64], l: u32| duel[l as usize] + i64::from(a < l);
    let mut best = u64::MAX;
    for l in std::iter::once(s).chain((0..c as u32).filter(|&x| x != a && x != s)) {
        let gap = round_two_gap(&scratch.duel, l);
        let reach_gap = if l == s {
            0
        } else {
            overtake_gap(&scratch.counts, s, l)
        };
        if min_buckets_floor(gap, 2 * d).max(min_buckets_floor(reach_gap, 2 * d)) >= best {
            continue;
        }
        let reach = if l == s {
            0
        } else {
            overtake_cost(spread, votes, scratch, s, l)
        };
        if reach >= best {
            continue;
        }
        // A model's power on round two: 1 + [prefers a] − [prefers l], 1 if it abstains.
        for ((x, p), &v) in scratch
            .per_model
            .iter_mut()
            .zip(positions.chunks_exact(c))
            .zip(votes)
        {
            *x = if v == ABSTAIN {
                1
            } else {
                2 * u32::from(p[a as usize] < p[l as usize])
            };
        }
        bucket_sums(spread, &scratch.per_model, &mut scratch.power);
        let win = min_buckets(gap, &scratch.power, 2 * d, &mut scratch.hist);
        best = best.min(reach.max(win));
    }
    best
}

/// Case (A): the fewest buckets for two labels to overtake `a` in round one, or `best`
/// (the cost found so far) if no pair is cheaper; pairs whose lower bounds reach `best`
/// are skipped.
fn two_overtake_cost(
    spread: &Spread,
    votes: &[u32],
    a: u32,
    mut best: u64,
    scratch: &mut Scratch,
) -> u64 {
    let c = scratch.counts.len();
    let n = spread.n_buckets();
    let d = spread.d() as u32;
    // Cost of one label overtaking a alone, computed once when first needed.
    let mut alone: Vec<Option<u64>> = vec![None; c];
    let mut cost_alone = |l: u32, scratch: &mut Scratch| -> u64 {
        *alone[l as usize].get_or_insert_with(|| overtake_cost(spread, votes, scratch, a, l))
    };
    for c1 in (0..c as u32).filter(|&x| x != a) {
        for c2 in (c1 + 1..c as u32).filter(|&x| x != a) {
            let (g1, g2) = (
                overtake_gap(&scratch.counts, a, c1),
                overtake_gap(&scratch.counts, a, c2),
            );
            let floor = min_buckets_floor(g1, 2 * d)
                .max(min_buckets_floor(g2, 2 * d))
                .max(min_buckets_floor(g1 + g2, 3 * d));
            if floor >= best {
                continue;
            }
            let lower = cost_alone(c1, scratch).max(cost_alone(c2, scratch));
            if lower >= best {
                continue;
            }
            for l in [a, c1, c2] {
                ensure_tally(spread, votes, l, scratch);
            }
            let (ta, t1, t2) = (a as usize * n, c1 as usize * n, c2 as usize * n);
            for b in 0..n {
                scratch.power[b] =
                    d + 2 * scratch.tally[ta + b] - scratch.tally[t1 + b] - scratch.tally[t2 + b];
            }
            let both = min_buckets(g1 + g2, &scratch.power, 3 * d, &mut scratch.hist);
            best = best.min(lower.max(both));
        }
    }
    best
}

/// Run-Off Election certificates of every test input, on the ensemble structure `spread`
/// (DPA: `d = 1`).
pub fn roe_certificates(
    rankings: &ModelRankings,
    spread: &Spread,
) -> Result<Vec<AggregateCertificate>, Error> {
    let votes = rankings.votes();
    check_models(spread, votes.n_models())?;
    Ok((0..votes.n_test())
        .into_par_iter()
        .map_init(
            || Scratch::new(spread, votes.n_classes()),
            |scratch, i| {
                roe_row(
                    spread,
                    votes.row(i),
                    rankings.positions_row(i),
                    votes.labels()[i],
                    scratch,
                )
            },
        )
        .collect())
}
