//! `nncert features`: HOG (or raw) feature matrices as `.npy`, readable by NumPy and by
//! `--dataset npy`.

use std::time::Instant;

use anyhow::Result;
use nncert::data::npy;
use nncert::features::{FeatureMatrix, extract_with_progress};
use nncert::report::OutputDir;
use serde_json::json;

use crate::args::FeaturesArgs;
use crate::progress;

pub fn run(a: &FeaturesArgs) -> Result<()> {
    OutputDir::preflight(&a.out, &a.dataset.input_paths())?;
    let kind = a.features.kind(a.dataset.name()? == "npy")?;
    let start = Instant::now();
    let dataset = nncert::data::load(&a.dataset.spec()?)?;
    let loaded = start.elapsed();
    let mut matrices: Vec<FeatureMatrix> = Vec::new();
    for (name, split) in [("train", &dataset.train), ("test", &dataset.test)] {
        let bar = progress::bar(split.len() as u64, name);
        matrices.push(extract_with_progress(&dataset, split, kind, &|n| {
            bar.inc(n as u64)
        })?);
        bar.finish_and_clear();
    }
    let featurised = start.elapsed() - loaded;
    let mut out = OutputDir::new(&a.out);
    for ((name, split), m) in [("train", &dataset.train), ("test", &dataset.test)]
        .into_iter()
        .zip(&matrices)
    {
        out.stage(
            format!("{name}_features.npy"),
            npy::encode(&[m.n, m.dim], &m.data),
        );
        let labels: Vec<i64> = split.labels.iter().map(|&y| i64::from(y)).collect();
        out.stage(
            format!("{name}_labels.npy"),
            npy::encode(&[labels.len()], &labels),
        );
    }
    let report = json!({
        "nncert_version": nncert::report::VERSION,
        "command": "features",
        "dataset": dataset.name,
        "caveat": dataset.caveat,
        "files": dataset.files,
        "features": kind,
        "dim": matrices[0].dim,
        "n_train": dataset.train.len(),
        "n_test": dataset.test.len(),
        "threads": rayon::current_num_threads(),
        "seconds": { "load": loaded.as_secs_f64(), "features": featurised.as_secs_f64() },
    });
    out.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    out.commit()?;
    say!(
        "{}: {} train + {} test examples → {} features each ({:.2} s load, {:.2} s features); wrote {}",
        dataset.name,
        dataset.train.len(),
        dataset.test.len(),
        matrices[0].dim,
        loaded.as_secs_f64(),
        featurised.as_secs_f64(),
        a.out.display()
    );
    if let Some(c) = &dataset.caveat {
        say!("note: {c}");
    }
    Ok(())
}
