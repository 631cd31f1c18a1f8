//! The whole flow for one dataset: features → tie-break ranks → neighbour search → votes,
//! with the time each stage took.

use std::time::Instant;

use serde::Serialize;

use crate::data::npy_features::NpyPaths;
use crate::data::npy_shard::{load_npy_named_rows, load_npy_shard, npy_file_records};
use crate::data::shard_rows::shard_ranges;
use crate::data::{Dataset, DatasetSpec, FileRecord, ShardDataset, ShardFiles};
use crate::error::Error;
use crate::features::{FeatureKind, FeatureMatrix, extract_with_progress};
use crate::neighbours::exact::Exact;
use crate::neighbours::{
    LaidOutReference, Metric, QueryRows, SearchConfig, SearchResult, TrainLayout, search_laid_out,
};
use crate::rank::{Rank, rank};
use crate::shard::{self, Partial, ShardSpec, TestBlock, TrainShard};
use rayon::prelude::*;

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
    /// Test features (`None` when the search read the dataset's own f32 values, raw
    /// features: [`crate::data::Split::feature_matrix`] makes a copy when needed).
    pub test_features: Option<FeatureMatrix>,
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
    // Anything else is extracted, then laid out (as `search()` would).
    let (own_layout, train_features) = match (&dataset.train.layout, &dataset.train.features) {
        (Some(_), _) if features == FeatureKind::Raw => (None, None),
        (None, Some(values)) if features == FeatureKind::Raw && !values.is_empty() => {
            let dim = values.len() / dataset.train.len();
            let layout =
                TrainLayout::from_rows(values, dim, &dataset.train.labels, dataset.n_classes);
            (Some(layout), None)
        }
        _ => {
            let m = extract_with_progress(dataset, &dataset.train, features, progress.features)?;
            let layout = TrainLayout::from_matrix(&m, &dataset.train.labels, dataset.n_classes);
            (Some(layout), Some(m))
        }
    };
    let layout = match (&own_layout, &dataset.train.layout) {
        (Some(built), _) => built,
        (None, Some(loaded)) => &**loaded,
        (None, None) => return Err(Error::invalid("votes: no training rows to search")),
    };
    // Raw test values are searched where the dataset holds them (no copy); anything else
    // is extracted.
    let test_features = match (&dataset.test.features, features) {
        (Some(values), FeatureKind::Raw) if !values.is_empty() => None,
        _ => Some(extract_with_progress(
            dataset,
            &dataset.test,
            features,
            progress.features,
        )?),
    };
    let test_rows = match (&test_features, &dataset.test.features) {
        (Some(m), _) => QueryRows::from(m),
        (None, Some(values)) => QueryRows::new(values, values.len() / dataset.test.len())?,
        (None, None) => return Err(Error::invalid("votes: no test rows to search")),
    };
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
    } else {
        let reference = LaidOutReference {
            layout,
            labels: &dataset.train.labels,
            positions: &positions,
            n_classes: dataset.n_classes,
        };
        search_laid_out(
            reference,
            test_rows,
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
/// (name, classes and every file's checksum, not its path: the SHA-256 of its content for
/// a dataset loaded whole, [`ShardFiles::Checksummed`]) and the features. Recorded in
/// every partial and compared by the merge.
pub fn shard_context(dataset: &Dataset, features: FeatureKind) -> String {
    let files = ShardFiles::Checksummed(dataset.files.clone());
    context_of(&dataset.name, dataset.n_classes, &files, features)
}

/// [`shard_context`] from its parts (a [`ShardDataset`] holds them without the rows; user
/// `.npy` features streamed for a shard identify their files by XXH3-128,
/// [`ShardFiles::Identified`]).
fn context_of(name: &str, n_classes: usize, files: &ShardFiles, features: FeatureKind) -> String {
    let files = files.context_entries();
    serde_json::json!({
        "dataset": name,
        "n_classes": n_classes,
        "files": files,
        "features": features,
    })
    .to_string()
}

/// One training shard of `dataset` searched for one test block: features and tie-break
/// ranks of those rows only, and [`shard::search_rows`].
pub fn shard_votes(
    dataset: &Dataset,
    features: FeatureKind,
    config: &SearchConfig,
    train: ShardSpec,
    block: ShardSpec,
    progress: &Progress<'_>,
) -> Result<(Partial, StageSeconds), Error> {
    let (shard, mut seconds) = shard_dataset(dataset, features, train, block, progress)?;
    let t = Instant::now();
    let partial = search_shard(&shard, features, config)?;
    seconds.neighbours = t.elapsed().as_secs_f64();
    Ok((partial, seconds))
}

/// The rows one shard job searches, loaded as `spec` says: user `.npy` features searched
/// as they are (`--features raw`) are streamed and only the shard's and the block's rows
/// kept ([`load_npy_shard`]); any other dataset is loaded whole, then cut
/// ([`shard_dataset`]). Both give the same rows, labels and ranks.
pub fn load_shard(
    spec: &DatasetSpec,
    features: FeatureKind,
    train: ShardSpec,
    block: ShardSpec,
    progress: &Progress<'_>,
) -> Result<(ShardDataset, StageSeconds), Error> {
    match (spec, features) {
        (DatasetSpec::Npy(paths, classes), FeatureKind::Raw) => {
            let t = Instant::now();
            let shard = load_npy_shard(paths, *classes, train, block)?;
            // Reading, checking and hashing happen in one pass: all counted as features.
            let seconds = StageSeconds {
                features: t.elapsed().as_secs_f64(),
                ..Default::default()
            };
            Ok((shard, seconds))
        }
        _ => shard_dataset(&crate::data::load(spec)?, features, train, block, progress),
    }
}

/// Training shard `train` and test block `block` of a dataset in memory: features and
/// tie-break ranks of those rows only.
pub fn shard_dataset(
    dataset: &Dataset,
    features: FeatureKind,
    train: ShardSpec,
    block: ShardSpec,
    progress: &Progress<'_>,
) -> Result<(ShardDataset, StageSeconds), Error> {
    let (tr, te) = shard_ranges(train, block, dataset.train.len(), dataset.test.len())?;
    let t = Instant::now();
    let train_split = dataset.train.rows(tr.clone());
    let test_split = dataset.test.rows(te);
    let train_rows = extract_with_progress(dataset, &train_split, features, progress.features)?;
    let test_rows = extract_with_progress(dataset, &test_split, features, progress.features)?;
    let mut seconds = StageSeconds {
        features: t.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let t = Instant::now();
    // Each rank depends on its row alone: the shard's rows are hashed, no other.
    let train_ranks: Vec<Rank> = (0..train_split.len())
        .into_par_iter()
        .map(|i| rank(train_split.labels[i], train_split.record(i)))
        .collect();
    seconds.ranks = t.elapsed().as_secs_f64();
    let shard = ShardDataset {
        name: dataset.name.clone(),
        n_classes: dataset.n_classes,
        files: ShardFiles::Checksummed(dataset.files.clone()),
        caveat: dataset.caveat.clone(),
        train_spec: train,
        block_spec: block,
        n_train: dataset.train.len(),
        n_test: dataset.test.len(),
        // The shard search's layout, the one copy of the shard's rows kept.
        train: TrainLayout::from_matrix(&train_rows, &train_split.labels, dataset.n_classes),
        train_labels: train_split.labels,
        train_ranks,
        test: test_rows,
        test_labels: test_split.labels,
    };
    Ok((shard, seconds))
}

/// Searches a shard job's rows ([`shard::search_rows`]): its partial result, with the
/// context ([`shard_context`]) of the whole dataset and `features`.
pub fn search_shard(
    shard: &ShardDataset,
    features: FeatureKind,
    config: &SearchConfig,
) -> Result<Partial, Error> {
    shard::search_rows(
        TrainShard {
            spec: shard.train_spec,
            n_train: shard.n_train,
            features: &shard.train,
            labels: &shard.train_labels,
            ranks: &shard.train_ranks,
            n_classes: shard.n_classes,
        },
        TestBlock {
            spec: shard.block_spec,
            n_test: shard.n_test,
            features: &shard.test,
            labels: &shard.test_labels,
        },
        config,
        &context_of(&shard.name, shard.n_classes, &shard.files, features),
    )
}

/// The exact keys ([`shard::exact_keys`]) of `pending` pairs (global test row, global
/// training row) under `metric`, from the data `spec` describes with `features`, once that
/// data is checked to be the one recorded in the partials (`context`, see
/// [`shard_context`]). User `.npy` features searched as they are keep only the rows the
/// pairs name ([`load_npy_named_rows`]: one pass over each file); other datasets are loaded
/// whole.
pub fn pending_exact_keys(
    spec: &DatasetSpec,
    features: FeatureKind,
    metric: Metric,
    pending: &[(usize, u32)],
    context: &str,
) -> Result<Vec<Exact>, Error> {
    let check = |given: String| same_run(&given, context);
    if let (DatasetSpec::Npy(paths, classes), FeatureKind::Raw) = (spec, features) {
        let rows = load_npy_named_rows(paths, *classes, pending)?;
        let files = ShardFiles::Identified(rows.files.clone());
        check(context_of("npy", rows.n_classes, &files, features))?;
        let local = |index: &[usize], i: usize| index.binary_search(&i).unwrap_or(usize::MAX);
        let pairs: Vec<(usize, u32)> = pending
            .iter()
            .map(|&(q, j)| {
                let j = local(&rows.train_index, j as usize);
                (local(&rows.test_index, q), j as u32)
            })
            .collect();
        return shard::exact_keys(metric, &rows.train, 0, &rows.test, 0, &pairs);
    }
    let dataset = crate::data::load(spec)?;
    check(shard_context(&dataset, features))?;
    let train = extract_with_progress(&dataset, &dataset.train, features, &|_| {})?;
    let test = extract_with_progress(&dataset, &dataset.test, features, &|_| {})?;
    shard::exact_keys(metric, &train, 0, &test, 0, pending)
}

/// Refuses data whose run context `given` is not the partials' `context`, in one short
/// line saying which field differs (the first differing field of the two contexts).
pub fn same_run(given: &str, context: &str) -> Result<(), Error> {
    if given == context {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the dataset and features given are not those of the partials: {}",
            context_difference(context, given)
        )))
    }
}

/// The first field in which two run contexts ([`shard_context`]) differ, with both values,
/// short: `features: partials raw, given {"hog":…}`, or the role of the first file whose
/// checksum differs (`file test-labels: another checksum`).
fn context_difference(partials: &str, given: &str) -> String {
    use serde_json::Value;
    let (Ok(Value::Object(p)), Ok(Value::Object(g))) = (
        serde_json::from_str::<Value>(partials),
        serde_json::from_str::<Value>(given),
    ) else {
        return "the run records differ".into();
    };
    let short = |v: Option<&Value>| -> String {
        let text = v.map_or_else(|| "none".to_string(), Value::to_string);
        match text.char_indices().nth(80) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    };
    for key in ["dataset", "n_classes", "features"] {
        if p.get(key) != g.get(key) {
            return format!(
                "{key}: partials {}, given {}",
                short(p.get(key)),
                short(g.get(key))
            );
        }
    }
    let files = |o: &serde_json::Map<String, Value>| -> Vec<Value> {
        o.get("files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (pf, gf) = (files(&p), files(&g));
    if pf.len() != gf.len() {
        return format!("files: partials {}, given {}", pf.len(), gf.len());
    }
    for (a, b) in pf.iter().zip(&gf) {
        if a != b {
            let role = a.get("role").and_then(Value::as_str).unwrap_or("?");
            return format!("file {role}: another checksum or kind of checksum");
        }
    }
    "the run records differ".into()
}

/// The files of the user dataset `paths` checksummed as a single run reports them
/// (SHA-256 of the content, MD5 as stored: [`npy_file_records`], one pass over each
/// file), once their XXH3-128 identities are checked to be those recorded in the
/// partials (`context`, with `features`): what `nncert merge` reports for a sharded run
/// of streamed `.npy` features, whose jobs compute no SHA-256 or MD5.
pub fn npy_run_files(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    features: FeatureKind,
    context: &str,
) -> Result<Vec<FileRecord>, Error> {
    let (records, identities, n_classes) = npy_file_records(paths, n_classes)?;
    let files = ShardFiles::Identified(identities);
    same_run(&context_of("npy", n_classes, &files, features), context)?;
    Ok(records)
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
