//! The whole flow for one dataset: features → tie-break ranks → neighbour search → votes,
//! with the time each stage took.

use std::time::Instant;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Error;
use crate::features::{FeatureKind, FeatureMatrix, extract_with_progress};
use crate::neighbours::{Reference, SearchConfig, SearchResult, search};
use crate::rank::tie_break_positions;

/// Seconds spent per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageSeconds {
    /// Feature extraction (both splits).
    pub features: f64,
    /// SHA-1 ranks of the training set.
    pub ranks: f64,
    /// Neighbour search and vote counting.
    pub neighbours: f64,
}

/// Callbacks for progress display; all default to nothing.
pub struct Progress<'a> {
    /// Called with the number of images featurised (train then test).
    pub features: &'a (dyn Fn(usize) + Sync),
    /// Called with the number of test inputs searched.
    pub neighbours: &'a (dyn Fn(usize) + Sync),
}

impl Default for Progress<'_> {
    fn default() -> Self {
        Progress {
            features: &|_| {},
            neighbours: &|_| {},
        }
    }
}

/// Votes of every requested classifier on `dataset`, and the features they came from.
pub struct VotesRun {
    /// kNN and rNN votes.
    pub result: SearchResult,
    /// Training features.
    pub train_features: FeatureMatrix,
    /// Test features.
    pub test_features: FeatureMatrix,
    /// Stage timings.
    pub seconds: StageSeconds,
}

/// Runs features, ranks and search.
pub fn votes(
    dataset: &Dataset,
    features: FeatureKind,
    config: &SearchConfig,
    progress: &Progress<'_>,
) -> Result<VotesRun, Error> {
    let t = Instant::now();
    let train_features =
        extract_with_progress(dataset, &dataset.train, features, progress.features)?;
    let test_features = extract_with_progress(dataset, &dataset.test, features, progress.features)?;
    let mut seconds = StageSeconds {
        features: t.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let t = Instant::now();
    let positions = tie_break_positions(
        &dataset.train.labels,
        &dataset.train.records,
        dataset.train.record_len,
    );
    seconds.ranks = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let reference = Reference {
        features: &train_features,
        labels: &dataset.train.labels,
        positions: &positions,
        n_classes: dataset.n_classes,
    };
    let result = if config.ks.is_empty() && config.radii.is_empty() {
        // Nothing to search for (e.g. baselines only): skip the all-pairs pass.
        SearchResult {
            knn: Vec::new(),
            rnn: Vec::new(),
            threshold_fallbacks: 0,
            neighbours: None,
        }
    } else {
        search(
            reference,
            &test_features,
            &dataset.test.labels,
            config,
            progress.neighbours,
        )?
    };
    seconds.neighbours = t.elapsed().as_secs_f64();
    Ok(VotesRun {
        result,
        train_features,
        test_features,
        seconds,
    })
}
