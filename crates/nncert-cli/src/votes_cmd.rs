//! `nncert votes`: kNN and rNN votes of a dataset, one `.npy` per setting, exactly what
//! `certify-votes` reads.

use anyhow::Result;
use nncert::data::npy;
use nncert::pipeline;
use nncert::report::OutputDir;
use serde_json::json;

use crate::args::VotesArgs;
use crate::progress;

/// File name of a kNN votes matrix.
pub fn knn_file(k: usize) -> String {
    format!("knn_k{k}.npy")
}

/// File name of an rNN votes matrix (the radius as written, e.g. `rnn_r4.npy`).
pub fn rnn_file(r: f64) -> String {
    format!("rnn_r{r}.npy")
}

pub fn run(a: &VotesArgs) -> Result<()> {
    OutputDir::preflight(&a.out)?;
    let mut config = a.search.config()?;
    config.keep_neighbours = a.neighbours;
    anyhow::ensure!(
        !config.ks.is_empty() || !config.radii.is_empty(),
        "nothing to do: give --knn K,… and/or --rnn R,…"
    );
    let kind = a.features.kind(a.dataset.name()? == "npy")?;
    let dataset = nncert::data::load(&a.dataset.spec()?)?;
    let run = progress::PipelineBars::new(&dataset)
        .run(|p| pipeline::votes(&dataset, kind, &config, p))?;
    let mut out = OutputDir::new(&a.out);
    let n = dataset.test.len();
    let c = dataset.n_classes;
    let as_i32 = |v: &nncert::Votes| v.counts().iter().map(|&x| x as i32).collect::<Vec<_>>();
    for kv in &run.result.knn {
        out.stage(knn_file(kv.k), npy::encode(&[n, c], &as_i32(&kv.votes)));
    }
    for rv in &run.result.rnn {
        out.stage(
            rnn_file(rv.radius),
            npy::encode(&[n, c], &as_i32(&rv.votes)),
        );
    }
    let labels: Vec<i64> = dataset.test.labels.iter().map(|&y| i64::from(y)).collect();
    out.stage("test_labels.npy", npy::encode(&[n], &labels));
    if let Some(lists) = &run.result.neighbours {
        if let Some(&k) = config.ks.iter().max() {
            let width = lists.knn.first().map_or(0, Vec::len);
            let flat: Vec<i32> = lists
                .knn
                .iter()
                .flat_map(|l| l.iter().map(|x| x.index as i32))
                .collect();
            out.stage(
                format!("knn_k{k}_neighbours.npy"),
                npy::encode(&[n, width], &flat),
            );
        }
        if let Some(r) = config.radii.iter().cloned().reduce(f64::max) {
            let mut offsets = vec![0i64];
            let mut flat: Vec<i32> = Vec::new();
            for l in &lists.rnn {
                flat.extend(l.iter().map(|x| x.index as i32));
                offsets.push(flat.len() as i64);
            }
            out.stage(
                format!("rnn_r{r}_neighbours.npy"),
                npy::encode(&[flat.len()], &flat),
            );
            out.stage(
                format!("rnn_r{r}_offsets.npy"),
                npy::encode(&[offsets.len()], &offsets),
            );
        }
    }
    let report = json!({
        "nncert_version": nncert::report::VERSION,
        "command": "votes",
        "dataset": dataset.name,
        "caveat": dataset.caveat,
        "files": dataset.files,
        "features": kind,
        "metric": config.metric,
        "kernel": config.kernel,
        "threads": rayon::current_num_threads(),
        "n_train": dataset.train.len(),
        "n_test": n,
        "n_classes": c,
        "knn": run.result.knn.iter().map(|kv| json!({"k": kv.k, "file": knn_file(kv.k)})).collect::<Vec<_>>(),
        "rnn": run.result.rnn.iter().map(|rv| json!({"r": rv.radius, "file": rnn_file(rv.radius), "empty_neighbourhoods": rv.empty})).collect::<Vec<_>>(),
        "seconds": run.seconds,
    });
    out.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    out.commit()?;
    say!(
        "{}: {} test × {} train; features {:.2} s, ranks {:.2} s, neighbours {:.2} s ({} kernel, {} threads); wrote {}",
        dataset.name,
        n,
        dataset.train.len(),
        run.seconds.features,
        run.seconds.ranks,
        run.seconds.neighbours,
        config.kernel,
        rayon::current_num_threads(),
        a.out.display()
    );
    for rv in &run.result.rnn {
        if rv.empty > 0 {
            say!(
                "rnn r={}: {} no neighbour within r",
                rv.radius,
                crate::certify_cmd::plural(rv.empty, "test input has", "test inputs have")
            );
        }
    }
    Ok(())
}
