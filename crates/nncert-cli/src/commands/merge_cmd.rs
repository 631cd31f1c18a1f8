//! `nncert merge`: the partial results of `votes --train-shard I/N --test-shard J/M` →
//! the files one `nncert votes` run writes, byte for byte (`docs/SCALING.md`).
//!
//! One test block at a time: files are grouped by block from their headers, each block's
//! files are read and merged one by one, finished, and only its votes are kept, so memory
//! holds one block's candidates (plus the file being read), not the whole run's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use nncert::features::{FeatureKind, FeatureMatrix};
use nncert::pipeline;
use nncert::report::{OutputDir, knn_file, rnn_file, stage_votes};
use nncert::shard::{self, BlockStream, Partial, ShardSettings};
use serde_json::json;

use crate::args::MergeArgs;
use crate::commands::votes_cmd::PARTIAL_FILE;

/// A partial named on the command line: the file itself, or a `votes` output directory.
fn partial_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join(PARTIAL_FILE)
    } else {
        p.to_path_buf()
    }
}

/// Whether any dataset flag was given (then the data is loaded when exact keys are needed).
fn dataset_given(a: &MergeArgs) -> bool {
    let d = &a.dataset;
    d.dataset.is_some()
        || d.data_dir.is_some()
        || d.train_features.is_some()
        || d.train_labels.is_some()
        || d.test_features.is_some()
        || d.test_labels.is_some()
        || d.classes.is_some()
}

/// Time and counts of the steps, for the report.
#[derive(Default)]
struct Stats {
    bytes_read: u64,
    exact_keys: usize,
    read_seconds: f64,
    file_seconds: f64,
    key_seconds: f64,
    finish_seconds: f64,
}

/// The dataset given with the merge: checked against the partials' run and checksummed
/// for the report once, and read for exact keys when some pair needs one.
struct KeySource {
    spec: Option<(FeatureKind, nncert::data::DatasetSpec)>,
    /// A dataset loaded whole (anything but streamed `.npy` features), until its features
    /// are extracted.
    dataset: Option<nncert::Dataset>,
    loaded: Option<(FeatureMatrix, FeatureMatrix)>,
    /// The files as a single run reports them (SHA-256, MD5), once checked.
    files: Option<Vec<nncert::data::FileRecord>>,
}

/// User features searched as they are: shard jobs stream their rows and identify the
/// files by XXH3-128; the merge reads only the rows pending pairs name.
fn streamed(spec: &nncert::data::DatasetSpec, kind: FeatureKind) -> bool {
    matches!(
        (spec, kind),
        (nncert::data::DatasetSpec::Npy(..), FeatureKind::Raw)
    )
}

impl KeySource {
    fn new(a: &MergeArgs) -> Result<KeySource> {
        let with_data = dataset_given(a);
        anyhow::ensure!(
            with_data || a.features.features.is_none(),
            "--features: applies with the dataset flags (--dataset …) only"
        );
        anyhow::ensure!(
            with_data || !a.features.any_hog_flag(),
            "--hog-*: the HOG flags apply with the dataset flags (--dataset …) only"
        );
        let spec = if with_data {
            Some((
                a.features.kind(a.dataset.name()? == "npy")?,
                a.dataset.spec()?,
            ))
        } else {
            None
        };
        Ok(KeySource {
            spec,
            dataset: None,
            loaded: None,
            files: None,
        })
    }

    /// Once per run, with the dataset flags: the files given must be those of the
    /// partials' run (`settings.context`), and are checksummed as a single run reports
    /// them — the one place a sharded run of streamed `.npy` features computes their
    /// SHA-256 and MD5 (`docs/SCALING.md`).
    fn check_files(&mut self, settings: &ShardSettings) -> Result<()> {
        let Some((kind, spec)) = &self.spec else {
            return Ok(());
        };
        if self.files.is_some() {
            return Ok(());
        }
        if let (nncert::data::DatasetSpec::Npy(paths, classes), true) =
            (spec, streamed(spec, *kind))
        {
            self.files = Some(pipeline::npy_run_files(
                paths,
                *classes,
                *kind,
                &settings.context,
            )?);
            return Ok(());
        }
        let dataset = nncert::data::load(spec)?;
        let context = pipeline::shard_context(&dataset, *kind);
        pipeline::same_run(&context, &settings.context)?;
        self.files = Some(dataset.files.clone());
        self.dataset = Some(dataset);
        Ok(())
    }

    /// The exact keys of `pending`, from the dataset's features (checked against the
    /// partials' run context).
    fn keys(
        &mut self,
        settings: &ShardSettings,
        pending: &[(usize, u32)],
    ) -> Result<Vec<nncert::neighbours::exact::Exact>> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let Some((kind, spec)) = &self.spec else {
            anyhow::bail!(
                "{} (test row, training row) pairs need exact distances: pass the dataset and feature flags of the votes runs (--dataset …, --data-dir … or --train-features …, --features …)",
                pending.len()
            );
        };
        if streamed(spec, *kind) {
            // User features searched as they are: only the rows the pairs name are read
            // (one pass over each file, per block with pending pairs).
            return Ok(pipeline::pending_exact_keys(
                spec,
                *kind,
                settings.metric,
                pending,
                &settings.context,
            )?);
        }
        // Anything else is loaded whole (by check_files, once) and its features
        // extracted once, for every block.
        if self.loaded.is_none() {
            let kind = *kind;
            self.check_files(settings)?;
            let dataset = self
                .dataset
                .take()
                .ok_or_else(|| anyhow::anyhow!("merge: the dataset was not loaded"))?;
            let extract =
                |split| nncert::features::extract_with_progress(&dataset, split, kind, &|_| {});
            self.loaded = Some((extract(&dataset.train)?, extract(&dataset.test)?));
        }
        let (train, test) = self.loaded.as_ref().expect("loaded above");
        Ok(shard::exact_keys(
            settings.metric,
            train,
            0,
            test,
            0,
            pending,
        )?)
    }
}

/// The files of each test block (by block number), from the files' headers alone, so
/// that a missing or repeated file is refused before any file is read whole: every test
/// block of `1..=M` must be there, with every training shard of `1..=N` exactly once.
fn group_by_block(paths: &[PathBuf]) -> Result<BTreeMap<usize, Vec<PathBuf>>> {
    let mut groups: BTreeMap<usize, Vec<(PathBuf, shard::PartialHeader)>> = BTreeMap::new();
    let mut first: Option<(PathBuf, shard::PartialHeader)> = None;
    for p in paths {
        let path = partial_path(p);
        let header = shard::read_header(&path)?;
        let (first_path, first_header) = first.get_or_insert((path.clone(), header.clone()));
        for (what, a, b) in [
            (
                "test set",
                first_header.test_block.count(),
                header.test_block.count(),
            ),
            ("training set", first_header.train_count, header.train_count),
        ] {
            anyhow::ensure!(
                a == b,
                "{} and {}: {what} split into {a} vs {b} parts",
                first_path.display(),
                path.display()
            );
        }
        groups
            .entry(header.test_block.index())
            .or_default()
            .push((path, header));
    }
    let Some((_, first)) = first else {
        anyhow::bail!("merge: expected at least one partial result");
    };
    let (m, n) = (first.test_block.count(), first.train_count);
    if let Some(missing) = (1..=m).find(|j| !groups.contains_key(j)) {
        anyhow::bail!(
            "merge: test block {missing}/{m} is missing (no partial for it; {} of {m} blocks missing)",
            m - groups.len()
        );
    }
    for (j, files) in &groups {
        check_shards(*j, m, n, files)?;
    }
    Ok(groups
        .into_iter()
        .map(|(j, files)| (j, files.into_iter().map(|(p, _)| p).collect()))
        .collect())
}

/// Every training shard of `1..=n` exactly once among the files of test block `j`.
fn check_shards(
    j: usize,
    m: usize,
    n: usize,
    files: &[(PathBuf, shard::PartialHeader)],
) -> Result<()> {
    // Keyed by shard: memory follows the files given, not the shard count a file announces.
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for (path, header) in files {
        for &i in &header.train_shards {
            if let Some(other) = seen.insert(i, path) {
                anyhow::bail!(
                    "{}: training shard {i}/{n} of test block {j}/{m} given twice (also in {})",
                    path.display(),
                    other.display()
                );
            }
        }
    }
    if let Some(missing) = (1..).zip(seen.keys()).find(|(i, have)| i != *have) {
        anyhow::bail!(
            "merge: training shard {}/{n} of test block {j}/{m} is missing",
            missing.0
        );
    }
    if seen.len() < n {
        anyhow::bail!(
            "merge: training shard {}/{n} of test block {j}/{m} is missing",
            seen.len() + 1
        );
    }
    Ok(())
}

/// Reads one block's files one at a time, merging each into the ones before.
fn read_block(j: usize, paths: &[PathBuf], stats: &mut Stats) -> Result<Partial> {
    let mut merged: Option<Partial> = None;
    for path in paths {
        stats.bytes_read += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let part = Partial::read(path)?;
        anyhow::ensure!(
            part.test_block().index() == j,
            "{}: changed while merging (test block {} in its header, {} in the whole file)",
            path.display(),
            j,
            part.test_block()
        );
        merged = Some(match merged {
            None => part,
            Some(have) => have.merge(part)?,
        });
    }
    merged.ok_or_else(|| anyhow::anyhow!("merge: no partial for test block {j}"))
}

pub fn run(a: &MergeArgs) -> Result<()> {
    let inputs: Vec<&std::path::Path> = a
        .partials
        .iter()
        .map(std::path::PathBuf::as_path)
        .chain(a.dataset.input_paths())
        .collect();
    OutputDir::preflight(&a.out, &inputs)?;
    let mut keys = KeySource::new(a)?;
    let mut stats = Stats::default();
    let mut stream = BlockStream::new();
    for (j, paths) in group_by_block(&a.partials)? {
        let t = Instant::now();
        let block = read_block(j, &paths, &mut stats)?;
        let pending = block.pending()?;
        stats.read_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        keys.check_files(block.settings())?;
        stats.file_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let block_keys = keys.keys(block.settings(), &pending)?;
        stats.key_seconds += t.elapsed().as_secs_f64();
        stats.exact_keys += pending.len();
        let t = Instant::now();
        stream.push(block, &pending, &block_keys)?;
        stats.finish_seconds += t.elapsed().as_secs_f64();
    }
    let settings = stream
        .settings()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("merge: expected at least one partial result"))?;
    let labels = stream.test_labels().to_vec();
    let t = Instant::now();
    let result = stream.finish()?;
    stats.finish_seconds += t.elapsed().as_secs_f64();
    write_output(
        a,
        &settings,
        &result,
        &labels,
        &stats,
        keys.files.as_deref(),
    )
}

/// The files of `nncert votes`, a report of the merge, and a one-line summary.
fn write_output(
    a: &MergeArgs,
    settings: &ShardSettings,
    result: &nncert::SearchResult,
    labels: &[u32],
    stats: &Stats,
    files: Option<&[nncert::data::FileRecord]>,
) -> Result<()> {
    let mut out = OutputDir::new(&a.out);
    stage_votes(
        &mut out,
        result,
        &settings.ks,
        &settings.radii,
        labels,
        settings.n_classes,
    );
    let context: serde_json::Value = serde_json::from_str(&settings.context)
        .unwrap_or(serde_json::Value::String(settings.context.clone()));
    let report = json!({
        "nncert_version": nncert::report::VERSION,
        "command": "merge",
        "partials": a.partials.iter().map(|p| partial_path(p).display().to_string()).collect::<Vec<_>>(),
        "partial_bytes": stats.bytes_read,
        "run": context,
        "files": files,
        "metric": settings.metric,
        "threads": rayon::current_num_threads(),
        "n_train": settings.n_train,
        "n_test": settings.n_test,
        "n_classes": settings.n_classes,
        "exact_keys_computed": stats.exact_keys,
        "knn": result.knn.iter().map(|kv| json!({"k": kv.k, "file": knn_file(kv.k)})).collect::<Vec<_>>(),
        "rnn": result.rnn.iter().map(|rv| json!({"r": rv.radius, "file": rnn_file(rv.radius), "empty_neighbourhoods": rv.empty})).collect::<Vec<_>>(),
        "seconds": {"read_and_merge": stats.read_seconds, "files": stats.file_seconds, "exact_keys": stats.key_seconds, "finish": stats.finish_seconds},
    });
    out.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    out.commit()?;
    say!(
        "merged {} partials ({} bytes): {} test × {} train; {} exact keys; read+merge {:.2} s, keys {:.2} s, finish {:.2} s; wrote {}",
        a.partials.len(),
        stats.bytes_read,
        settings.n_test,
        settings.n_train,
        stats.exact_keys,
        stats.read_seconds,
        stats.key_seconds,
        stats.finish_seconds,
        a.out.display()
    );
    Ok(())
}
