//! The `individual` strategy: for each correctly classified test input `x` with `e* < e`,
//! its own poisoned set — remove `e* + 1` training examples voting for the prediction `a`
//! (as many as there are) and insert `e* + 1` copies of `x` labelled with the runner-up
//! `b`. This is the worst case behind the individual certificate (METHOD §3), and it must
//! flip exactly the inputs the certificate does not protect.

use rayon::prelude::*;

use super::Context;
use super::clean::{Neighbourhood, padded};
use super::poison::poisoned_votes;
use crate::certify::PointCertificate;
use crate::features::FeatureMatrix;
use crate::rank::{Rank, rank};
use crate::votes::Prediction;

/// One input's targeted poisoning: which training examples to remove and which label to
/// give the `copies` inserted copies of the test image.
pub(super) struct Plan {
    /// The test input aimed at.
    pub target: usize,
    /// Training examples removed (voters of the prediction, nearest first).
    pub removed: Vec<usize>,
    /// Label of the inserted copies (the runner-up).
    pub inserted_label: u32,
    /// `e* + 1`.
    pub copies: usize,
}

/// A plan for every correct input with `e* < max_e`.
pub(super) fn plans(
    ctx: &Context<'_>,
    points: &[PointCertificate],
    neighbourhoods: &[Neighbourhood],
    max_e: u64,
) -> Vec<Plan> {
    let labels = &ctx.dataset.train.labels;
    points
        .par_iter()
        .enumerate()
        .filter(|(_, p)| p.correct() && p.e_star < max_e)
        .map(|(i, p)| {
            let m = (p.e_star + 1) as usize;
            let removed: Vec<usize> = neighbourhoods[i]
                .iter()
                .filter(|&&(_, j)| labels[j] == p.prediction.predicted)
                .map(|&(_, j)| j)
                .take(m)
                .collect();
            Plan {
                target: i,
                removed,
                inserted_label: p.prediction.runner_up,
                copies: m,
            }
        })
        .collect()
}

/// Whether each plan flips its target, the classifier re-run on that plan's poisoned set
/// for that one query (inserted copies at distance 0 with their own SHA-1 rank).
pub(super) fn flips(
    ctx: &Context<'_>,
    plans: &[Plan],
    train: &FeatureMatrix,
    test: &FeatureMatrix,
) -> Vec<bool> {
    let d = ctx.dataset;
    let train_rows: Vec<Vec<f32>> = (0..train.n).map(|j| padded(train.row(j))).collect();
    let ranks: Vec<Rank> = (0..d.train.len())
        .map(|j| rank(d.train.labels[j], d.train.record(j)))
        .collect();
    plans
        .par_iter()
        .map(|plan| {
            let i = plan.target;
            let q = padded(test.row(i));
            let inserted_rank = rank(plan.inserted_label, d.test.record(i));
            let votes = poisoned_votes(
                ctx.target,
                ctx.metric,
                &train_rows,
                &d.train.labels,
                &ranks,
                &q,
                &plan.removed,
                plan.copies,
                (plan.inserted_label, inserted_rank),
                d.n_classes,
            );
            Prediction::from_counts(&votes, ctx.tie).predicted != d.test.labels[i]
        })
        .collect()
}

/// The budget-limited merge of individual plans: the cheapest plans first, each taken
/// while the union of removals and the insertions each stay within `e`.
pub(super) fn merged(plans: &[Plan], e: u64) -> (Vec<usize>, Vec<(usize, u32)>) {
    let mut order: Vec<&Plan> = plans.iter().collect();
    order.sort_by_key(|p| (p.copies, p.target));
    let mut removed: Vec<usize> = Vec::new();
    let mut inserted: Vec<(usize, u32)> = Vec::new();
    for plan in order {
        let mut r2 = removed.clone();
        r2.extend(plan.removed.iter().copied());
        r2.sort_unstable();
        r2.dedup();
        if r2.len() as u64 > e || (inserted.len() + plan.copies) as u64 > e {
            continue;
        }
        removed = r2;
        inserted.extend(std::iter::repeat_n(
            (plan.target, plan.inserted_label),
            plan.copies,
        ));
    }
    (removed, inserted)
}
