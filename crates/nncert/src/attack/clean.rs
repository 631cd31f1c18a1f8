//! The clean run of the attacked classifier, from the normal search engine.

use super::Target;
use crate::data::Dataset;
use crate::error::Error;
use crate::features::{self, FeatureKind, FeatureMatrix};
use crate::neighbours::kernel::{LANES, Metric};
use crate::neighbours::{Kernel, SearchConfig};
use crate::pipeline::{self, Progress};
use crate::votes::Votes;

/// A row zero-padded to the kernels' lane width.
pub(super) fn padded(row: &[f32]) -> Vec<f32> {
    let mut r = row.to_vec();
    r.resize(row.len().div_ceil(LANES).max(1) * LANES, 0.0);
    r
}

/// A test input's neighbours as (distance, training index), nearest first.
pub(super) type Neighbourhood = Vec<(f32, usize)>;

/// The clean run of the attacked classifier: its votes, every test input's neighbourhood
/// (kNN: the k nearest; rNN: all within r) in the order of METHOD §2 as (distance, training
/// index), and the feature matrices it searched — from the normal search engine with
/// neighbour lists switched on.
pub(super) struct CleanRun {
    pub votes: Votes,
    pub neighbourhoods: Vec<Neighbourhood>,
    pub train_features: FeatureMatrix,
    pub test_features: FeatureMatrix,
}

pub(super) fn clean_run(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
) -> Result<CleanRun, Error> {
    let mut config = target_search(target, metric, kernel);
    config.keep_neighbours = true;
    let run = pipeline::votes(dataset, features, &config, &Progress::default())?;
    let lists = run.result.neighbours.unwrap_or_default();
    let (votes, lists) = match target {
        Target::Knn(_) => (run.result.knn[0].votes.clone(), lists.knn),
        Target::Rnn(_) => (run.result.rnn[0].votes.clone(), lists.rnn),
    };
    let neighbourhoods = lists
        .into_iter()
        .map(|l| {
            l.into_iter()
                .map(|n| (n.distance, n.index as usize))
                .collect()
        })
        .collect();
    Ok(CleanRun {
        votes,
        neighbourhoods,
        train_features: match run.train_features {
            Some(f) => f,
            None => features::extract(dataset, &dataset.train, features)?,
        },
        test_features: match run.test_features {
            Some(f) => f,
            None => features::extract(dataset, &dataset.test, features)?,
        },
    })
}

fn target_search(target: Target, metric: Metric, kernel: Kernel) -> SearchConfig {
    SearchConfig {
        metric,
        ks: match target {
            Target::Knn(k) => vec![k],
            Target::Rnn(_) => Vec::new(),
        },
        radii: match target {
            Target::Rnn(r) => vec![r],
            Target::Knn(_) => Vec::new(),
        },
        kernel,
        keep_neighbours: false,
    }
}

/// The clean votes of `target` on `dataset`.
pub(super) fn votes_of(
    dataset: &Dataset,
    features: FeatureKind,
    target: Target,
    metric: Metric,
    kernel: Kernel,
) -> Result<Votes, Error> {
    let run = pipeline::votes(
        dataset,
        features,
        &target_search(target, metric, kernel),
        &Progress::default(),
    )?;
    Ok(match target {
        Target::Knn(_) => run.result.knn[0].votes.clone(),
        Target::Rnn(_) => run.result.rnn[0].votes.clone(),
    })
}
