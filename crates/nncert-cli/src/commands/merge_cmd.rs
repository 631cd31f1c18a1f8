//! `nncert merge`: the partial results of `votes --train-shard I/N --test-shard J/M` →
//! the files one `nncert votes` run writes, byte for byte (`docs/SCALING.md`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use nncert::pipeline;
use nncert::report::{OutputDir, knn_file, rnn_file, stage_votes};
use nncert::shard::{Merge, Partial};
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

pub fn run(a: &MergeArgs) -> Result<()> {
    OutputDir::preflight(&a.out)?;
    let with_data = dataset_given(a);
    anyhow::ensure!(
        with_data || a.features.features.is_none(),
        "--features: applies with the dataset flags (--dataset …) only"
    );
    let data_spec = if with_data {
        Some((
            a.features.kind(a.dataset.name()? == "npy")?,
            a.dataset.spec()?,
        ))
    } else {
        None
    };
    let t = Instant::now();
    // Merged per test block as they are read: memory holds one accumulated partial per
    // block and the file being read.
    // Keyed by block: the block count comes from a file and must not size anything.
    let mut blocks: std::collections::BTreeMap<usize, Partial> = Default::default();
    let mut bytes_read = 0u64;
    for p in &a.partials {
        let path = partial_path(p);
        bytes_read += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let part = Partial::read(&path)?;
        let j = part.test_block().index();
        let merged = match blocks.remove(&j) {
            None => part,
            Some(have) => have.merge(part)?,
        };
        blocks.insert(j, merged);
    }
    let merge = Merge::new(blocks.into_values().collect())?;
    let pending = merge.pending()?;
    let read_seconds = t.elapsed().as_secs_f64();
    let settings = merge.settings().clone();
    let t = Instant::now();
    let keys = if pending.is_empty() {
        Vec::new()
    } else {
        let Some((kind, spec)) = data_spec else {
            anyhow::bail!(
                "{} (test row, training row) pairs need exact distances: pass the dataset and feature flags of the votes runs (--dataset …, --data-dir … or --train-features …, --features …)",
                pending.len()
            );
        };
        pipeline::pending_exact_keys(&spec, kind, settings.metric, &pending, &settings.context)?
    };
    let key_seconds = t.elapsed().as_secs_f64();
    let labels = merge.test_labels();
    let t = Instant::now();
    let result = merge.finish(&keys)?;
    let finish_seconds = t.elapsed().as_secs_f64();
    let mut out = OutputDir::new(&a.out);
    stage_votes(
        &mut out,
        &result,
        &settings.ks,
        &settings.radii,
        &labels,
        settings.n_classes,
    );
    let context: serde_json::Value = serde_json::from_str(&settings.context)
        .unwrap_or(serde_json::Value::String(settings.context.clone()));
    let report = json!({
        "nncert_version": nncert::report::VERSION,
        "command": "merge",
        "partials": a.partials.iter().map(|p| partial_path(p).display().to_string()).collect::<Vec<_>>(),
        "partial_bytes": bytes_read,
        "run": context,
        "metric": settings.metric,
        "threads": rayon::current_num_threads(),
        "n_train": settings.n_train,
        "n_test": settings.n_test,
        "n_classes": settings.n_classes,
        "exact_keys_computed": pending.len(),
        "knn": result.knn.iter().map(|kv| json!({"k": kv.k, "file": knn_file(kv.k)})).collect::<Vec<_>>(),
        "rnn": result.rnn.iter().map(|rv| json!({"r": rv.radius, "file": rnn_file(rv.radius), "empty_neighbourhoods": rv.empty})).collect::<Vec<_>>(),
        "seconds": {"read_and_merge": read_seconds, "exact_keys": key_seconds, "finish": finish_seconds},
    });
    out.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    out.commit()?;
    say!(
        "merged {} partials ({} bytes): {} test × {} train; {} exact keys; read+merge {:.2} s, keys {:.2} s, finish {:.2} s; wrote {}",
        a.partials.len(),
        bytes_read,
        settings.n_test,
        settings.n_train,
        pending.len(),
        read_seconds,
        key_seconds,
        finish_seconds,
        a.out.display()
    );
    Ok(())
}
