//! `nncert certify-votes`: certify a votes matrix that came from anywhere.

use std::path::Path;

use anyhow::{Context, Result};
use nncert::data::votes_file::load_votes;
use nncert::report::{self, OutputDir, curves_csv, examples_csv, sha256_file};
use nncert::{CertifiedVotes, CurveOptions, Votes, certify_votes};
use serde_json::json;

use crate::args::CertifyVotesArgs;
use crate::summary;

pub fn run(a: &CertifyVotesArgs) -> Result<()> {
    let options = a.certify.options(a.kind, &a.param);
    options.validate()?;
    let votes = load_votes(&a.votes, &a.labels)?;
    let inputs = [("votes", a.votes.as_path()), ("labels", a.labels.as_path())];
    certify_and_write(&votes, &options, &inputs, "certify-votes", &a.out)
}

/// Certifies `votes`, writes curves.csv, examples.csv and report.json into `out` (all or
/// nothing), and prints the summary table.
pub fn certify_and_write(
    votes: &Votes,
    options: &CurveOptions,
    inputs: &[(&str, &Path)],
    command: &str,
    out: &Path,
) -> Result<()> {
    let result = certify_votes(votes, options)?;
    let mut input_records = serde_json::Map::new();
    for (name, path) in inputs {
        input_records.insert(
            name.to_string(),
            json!({ "path": path.display().to_string(), "sha256": sha256_file(path)? }),
        );
    }
    let report = run_record(votes, options, &result, command, input_records);

    let mut staged = OutputDir::new(out);
    staged.stage("curves.csv", curves_csv(&result.curves));
    staged.stage(
        "examples.csv",
        examples_csv(&[(options.method, options.param.as_str(), &result.points)]),
    );
    staged.stage(
        "report.json",
        serde_json::to_string_pretty(&report).context("serialising report.json")? + "\n",
    );
    staged.commit()?;

    crate::write_stdout(&summary::table(&result.curves, result.max_e));
    say!(
        "wrote curves.csv, examples.csv, report.json to {}",
        out.display()
    );
    Ok(())
}

fn run_record(
    votes: &Votes,
    options: &CurveOptions,
    result: &CertifiedVotes,
    command: &str,
    inputs: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let correct = result.points.iter().filter(|p| p.correct()).count();
    let summary: Vec<_> = report::summary_rows(&result.curves, result.max_e)
        .into_iter()
        .map(|(label, cells)| {
            json!({
                "curve": label,
                "certified_accuracy": cells
                    .into_iter()
                    .map(|(e, text)| json!({ "e": e, "value": text }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "nncert_version": report::VERSION,
        "command": command,
        "inputs": inputs,
        "settings": {
            "method": options.method,
            "param": options.param,
            "certifications": result.curves.iter().map(|c| c.certification).collect::<Vec<_>>(),
            "rd_seed": options.seed,
            "max_e_requested": options.max_e,
            "max_e": result.max_e,
            "tie_rule": options.tie,
        },
        "n_test": votes.n_test(),
        "n_classes": votes.n_classes(),
        "clean_accuracy": nncert::curve::format_fraction_floor(correct as u64, votes.n_test() as u64, 6),
        "summary": summary,
        "notes": "certified_accuracy values are proven lower bounds, rounded down",
    })
}
