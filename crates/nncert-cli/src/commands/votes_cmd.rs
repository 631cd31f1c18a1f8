//! `nncert votes`: kNN and rNN votes of a dataset, one `.npy` per setting, exactly what
//! `certify-votes` reads.

use anyhow::Result;
use nncert::pipeline;
use nncert::report::{OutputDir, knn_file, rnn_file, stage_votes};
use nncert::shard::ShardSpec;
use serde_json::json;

use crate::args::VotesArgs;
use crate::progress;

pub fn run(a: &VotesArgs) -> Result<()> {
    OutputDir::preflight(&a.out, &a.dataset.input_paths())?;
    let mut config = a.search.config()?;
    config.keep_neighbours = a.neighbours;
    anyhow::ensure!(
        !config.ks.is_empty() || !config.radii.is_empty(),
        "nothing to do: give --knn K,… and/or --rnn R,…"
    );
    let kind = a.features.kind(a.dataset.name()? == "npy")?;
    let shards = match (&a.train_shard, &a.test_shard) {
        (None, None) => None,
        (train, block) => {
            let parse = |flag: &str, v: &Option<String>| -> Result<ShardSpec> {
                match v {
                    None => Ok(ShardSpec::WHOLE),
                    Some(t) => ShardSpec::parse(t).map_err(|e| anyhow::anyhow!("{flag}: {e}")),
                }
            };
            Some((
                parse("--train-shard", train)?,
                parse("--test-shard", block)?,
            ))
        }
    };
    if let Some((train, block)) = shards {
        return run_shard(a, &config, kind, train, block);
    }
    let dataset = nncert::data::load_for_search(&a.dataset.spec()?)?;
    crate::commands::certify_cmd::warn_k_at_least_n_train(&config.ks, dataset.train.len());
    let run = progress::PipelineBars::new(&dataset)
        .run(|p| pipeline::votes(&dataset, kind, &config, p))?;
    let mut out = OutputDir::new(&a.out);
    let n = dataset.test.len();
    let c = dataset.n_classes;
    stage_votes(
        &mut out,
        &run.result,
        &config.ks,
        &config.radii,
        &dataset.test.labels,
        c,
    );
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
                super::certify_cmd::plural(rv.empty, "test input has", "test inputs have")
            );
        }
    }
    Ok(())
}

/// `votes --train-shard I/N --test-shard J/M`: one partial result, from the shard's
/// and the block's rows only (`docs/MEMORY.md`).
fn run_shard(
    a: &VotesArgs,
    config: &nncert::SearchConfig,
    kind: nncert::features::FeatureKind,
    train: ShardSpec,
    block: ShardSpec,
) -> Result<()> {
    let (dataset, mut seconds) =
        pipeline::load_shard(&a.dataset.spec()?, kind, train, block, &Default::default())?;
    let t = std::time::Instant::now();
    let partial = pipeline::search_shard(&dataset, kind, config)?;
    seconds.neighbours = t.elapsed().as_secs_f64();
    let bytes = partial.to_bytes();
    let mut out = OutputDir::new(&a.out);
    let size = bytes.len();
    out.stage(PARTIAL_FILE, bytes);
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
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "n_classes": dataset.n_classes,
        "train_shard": train.to_string(),
        "test_shard": block.to_string(),
        "partial": {"file": PARTIAL_FILE, "bytes": size, "format_version": nncert::shard::FORMAT_VERSION},
        "knn": config.ks,
        "rnn": config.radii,
        "seconds": seconds,
    });
    out.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    out.commit()?;
    say!(
        "{}: train shard {train}, test block {block}; features {:.2} s, ranks {:.2} s, neighbours {:.2} s ({} kernel, {} threads); wrote {} ({} bytes)",
        dataset.name,
        seconds.features,
        seconds.ranks,
        seconds.neighbours,
        config.kernel,
        rayon::current_num_threads(),
        a.out.join(PARTIAL_FILE).display(),
        size
    );
    Ok(())
}

/// The partial result's file name inside `votes --train-shard … --out DIR`.
pub const PARTIAL_FILE: &str = "partial.nncert";
