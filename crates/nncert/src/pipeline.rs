//! The whole flow for one dataset: features → tie-break ranks → neighbour search → votes,
//! with the time each stage took.

use std::time::Instant;

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Error;
use crate::features::{FeatureKind, FeatureMatrix, extract_with_progress};
use crate::neighbours::{
    LaidOutReference, Reference, SearchConfig, SearchResult, TrainLayout, search, search_laid_out,
};
use crate::shard::{self, Partial, ShardSpec, TestBlock, TrainShard};

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
    /// Training features (`None` when the dataset holds them in the search's layout,
    /// `Split::layout`, to avoid a second copy: [`crate::data::Split::feature_matrix`]
    /// makes one when needed).
    pub train_features: Option<FeatureMatrix>,
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
    // Raw user features are searched in the layout the loader built, or laid out here
    // straight from the dataset's values: no row-major copy of the training matrix.
    let built;
    let laid_out = match (&dataset.train.layout, &dataset.train.features, features) {
        (Some(layout), _, FeatureKind::Raw) => Some(&**layout),
        (None, Some(values), FeatureKind::Raw) if !values.is_empty() => {
            built = TrainLayout::from_rows(
                values,
                values.len() / dataset.train.len(),
                &dataset.train.labels,
                dataset.n_classes,
            );
            Some(&built)
        }
        _ => None,
    };
    let train_features = match laid_out {
        Some(_) => None,
        None => Some(extract_with_progress(
            dataset,
            &dataset.train,
            features,
            progress.features,
        )?),
    };
    let test_features = extract_with_progress(dataset, &dataset.test, features, progress.features)?;
    let mut seconds = StageSeconds {
        features: t.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let t = Instant::now();
    let positions = dataset.train.tie_break_positions();
    seconds.ranks = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let result = if config.ks.is_empty() && config.radii.is_empty() {
        // Nothing to search for (e.g. baselines only): skip the all-pairs pass.
        SearchResult {
            knn: Vec::new(),
            rnn: Vec::new(),
            threshold_fallbacks: 0,
            neighbours: None,
        }
    } else if let Some(layout) = laid_out {
        let reference = LaidOutReference {
            layout,
            labels: &dataset.train.labels,
            positions: &positions,
            n_classes: dataset.n_classes,
        };
        search_laid_out(
            reference,
            &test_features,
            &dataset.test.labels,
            config,
            progress.neighbours,
        )?
    } else {
        let reference = Reference {
            features: train_features.as_ref().expect("extracted above"),
            labels: &dataset.train.labels,
            positions: &positions,
            n_classes: dataset.n_classes,
        };
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

/// What a sharded run's partials must agree on besides the search settings: the dataset
/// (name, classes, sizes and the SHA-256 of every file's content, not its path) and the
/// features. Recorded in every partial and compared by the merge.
pub fn shard_context(dataset: &Dataset, features: FeatureKind) -> String {
    let files: Vec<serde_json::Value> = dataset
        .files
        .iter()
        .map(|f| serde_json::json!({"role": f.role, "sha256": f.sha256}))
        .collect();
    serde_json::json!({
        "dataset": dataset.name,
        "n_classes": dataset.n_classes,
        "files": files,
        "features": features,
    })
    .to_string()
}

/// One training shard of `dataset` searched for one test block: features of those rows
/// only, tie-break positions of the whole training set, and [`shard::search_rows`].
pub fn shard_votes(
    dataset: &Dataset,
    features: FeatureKind,
    config: &SearchConfig,
    train: ShardSpec,
    block: ShardSpec,
    progress: &Progress<'_>,
) -> Result<(Partial, StageSeconds), Error> {
    let tr = train.range(dataset.train.len())?;
    let te = block.range(dataset.test.len())?;
    let t = Instant::now();
    let train_split = dataset.train.rows(tr.clone());
    let test_split = dataset.test.rows(te);
    let train_features = extract_with_progress(dataset, &train_split, features, progress.features)?;
    let test_features = extract_with_progress(dataset, &test_split, features, progress.features)?;
    let mut seconds = StageSeconds {
        features: t.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let t = Instant::now();
    let positions = dataset.train.tie_break_positions();
    seconds.ranks = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let partial = shard::search_rows(
        TrainShard {
            spec: train,
            n_train: dataset.train.len(),
            features: &train_features,
            labels: &train_split.labels,
            positions: &positions[tr],
            n_classes: dataset.n_classes,
        },
        TestBlock {
            spec: block,
            n_test: dataset.test.len(),
            features: &test_features,
            labels: &test_split.labels,
        },
        config,
        &shard_context(dataset, features),
    )?;
    seconds.neighbours = t.elapsed().as_secs_f64();
    Ok((partial, seconds))
}

/// Quantiles of the distance from a test input to its k-th nearest training example.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DistanceQuantiles {
    /// Which neighbour (1 = the nearest).
    pub k: usize,
    /// `(q, value)` per percentage `q` asked for: with `v` the sampled test inputs' values
    /// sorted ascending, the value is `v[min(⌊q·n/100⌋, n − 1)]`. Values are in the units of
    /// `--rnn`: the distance, or for `ip` the inner product u·v of the k-th nearest (rNN keeps
    /// u·v ≥ r).
    pub quantiles: Vec<(u32, f32)>,
}

/// How far the training examples are from the test inputs, to choose an rNN radius:
/// quantiles (at the percentages `percents`) of the distance to the k-th nearest training
/// example for each of `ks` (those not above the training-set size), over the first
/// `max_test` test inputs, with the features and metric of the run. Deterministic: the
/// distances are those of the neighbour lists, which do not depend on threads or kernel
/// beyond the bound of `docs/SEARCH.md`.
pub fn neighbour_distance_quantiles(
    dataset: &Dataset,
    features: FeatureKind,
    search: &SearchConfig,
    ks: &[usize],
    percents: &[u32],
    max_test: usize,
) -> Result<Vec<DistanceQuantiles>, Error> {
    if let Some(q) = percents.iter().find(|&&q| q > 100) {
        return Err(Error::invalid(format!(
            "distance quantiles: expected percentages in 0..=100, found {q}"
        )));
    }
    let ks: Vec<usize> = ks
        .iter()
        .copied()
        .filter(|&k| k >= 1 && k <= dataset.train.len())
        .collect();
    let Some(&k_max) = ks.iter().max() else {
        return Ok(Vec::new());
    };
    let sample = dataset.subset(None, Some(max_test.min(dataset.test.len())));
    let config = SearchConfig {
        ks: vec![k_max],
        radii: Vec::new(),
        keep_neighbours: true,
        ..search.clone()
    };
    let run = votes(&sample, features, &config, &Progress::default())?;
    let lists = run.result.neighbours.map(|n| n.knn).unwrap_or_default();
    // ip's distance is −u·v; report the inner product, the unit of its radius.
    let sign = if search.metric == crate::neighbours::Metric::Ip {
        -1.0
    } else {
        1.0
    };
    Ok(ks
        .iter()
        .map(|&k| {
            let mut d: Vec<f32> = lists
                .iter()
                .filter_map(|l| l.get(k - 1).map(|n| sign * n.distance))
                .collect();
            d.sort_by(f32::total_cmp);
            let at = |q: u32| {
                let i = (d.len() * q as usize / 100).min(d.len().saturating_sub(1));
                d.get(i).copied().unwrap_or(f32::NAN)
            };
            DistanceQuantiles {
                k,
                quantiles: percents.iter().map(|&q| (q, at(q))).collect(),
            }
        })
        .collect())
}
