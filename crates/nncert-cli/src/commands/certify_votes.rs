//! `nncert certify-votes`: certify a votes matrix that came from anywhere.

use std::path::Path;

use anyhow::{Context, Result};
use nncert::baselines::bagging::{self, BaggingParams};
use nncert::baselines::baseline_curve;
use nncert::baselines::dpa::{self, Units};
use nncert::data::votes_file::load_votes;
use nncert::report::certify_votes::{baseline_votes_report_json, votes_report_json};
use nncert::report::{OutputDir, examples_csv, sha256_file, write_curves_csv};
use nncert::{Classifier, CurveOptions, Method, Votes, certify_votes};
use serde_json::json;

use crate::args::CertifyVotesArgs;
use crate::summary;

pub fn run(a: &CertifyVotesArgs) -> Result<()> {
    if matches!(a.kind, Method::Fa | Method::RoeDpa | Method::RoeFa) {
        anyhow::bail!(
            "--kind {}: Finite Aggregation and Run-Off Election need each base model's output, \
             not vote counts; use `nncert certify-ensemble --predictions …` or `--logits …`",
            a.kind
        );
    }
    a.check_flags_apply()?;
    OutputDir::preflight(&a.out, &[&a.votes, &a.labels])?;
    if matches!(a.kind, Method::Dpa | Method::Bagging) {
        return baseline(a);
    }
    let options = a.certify.options(a.kind, &a.param)?;
    let votes = load_votes(&a.votes, &a.labels)?;
    if a.kind == Method::Knn {
        // The library's check (certify_votes runs it too), here to name the file.
        nncert::curve::check_knn_votes(&votes).with_context(|| a.votes.display().to_string())?;
    }
    let mut inputs = serde_json::Map::new();
    for (name, path) in [("votes", &a.votes), ("labels", &a.labels)] {
        inputs.insert(name.into(), input_record(path, sha256_file(path)?));
    }
    certify_and_write(
        &votes,
        &options,
        inputs,
        "certify-votes",
        OutputDir::new(&a.out),
    )
}

/// The report's record of one input file.
pub fn input_record(path: &Path, sha256: String) -> serde_json::Value {
    json!({ "path": path.display().to_string(), "sha256": sha256 })
}

/// `--kind dpa` and `--kind bagging`: the baselines' certificates from a user's votes.
fn baseline(a: &CertifyVotesArgs) -> Result<()> {
    if a.certify
        .joint
        .as_ref()
        .is_some_and(|j| j.iter().flatten().next().is_some())
    {
        anyhow::bail!(
            "--joint: joint certification is only defined for rNN, not for --kind {}",
            a.kind
        );
    }
    // Refuses --threat other than general for DPA and bagging, with the reason.
    a.certify.options(a.kind, &a.param)?;
    let mut settings = serde_json::Map::new();
    settings.insert("method".into(), json!(a.kind));
    settings.insert("max_e_requested".into(), json!(a.certify.max_e));
    settings.insert("threat".into(), json!(a.certify.threat));
    let (certs, param) = if a.kind == Method::Dpa {
        let units = a.units.unwrap_or(Units::Poisoning);
        let votes = load_votes(&a.votes, &a.labels)?;
        settings.insert("units".into(), json!(units));
        settings.insert("tie_rule".into(), json!("smaller"));
        (dpa::certificates(&votes, units), a.param.clone())
    } else {
        let need = |v: Option<u64>, flag: &str| {
            v.ok_or_else(|| anyhow::anyhow!("--kind bagging needs {flag}"))
        };
        let params = BaggingParams {
            n_models: need(a.models, "--models N")?,
            xi: need(a.subsample.map(u64::from), "--subsample XI")? as u32,
            train_size: need(a.train_size, "--train-size n")?,
            alpha: a.alpha.unwrap_or(0.001),
        };
        params.validate()?;
        let votes = load_votes(&a.votes, &a.labels)?;
        settings.insert("bagging".into(), json!(params));
        settings.insert("tie_rule".into(), json!("smaller"));
        let param = if a.param.is_empty() {
            params.xi.to_string()
        } else {
            a.param.clone()
        };
        (
            bagging::certificates(&votes, &params)
                .with_context(|| a.votes.display().to_string())?,
            param,
        )
    };
    let classifier = Classifier::Given {
        method: a.kind,
        param,
    };
    let curve = baseline_curve(classifier.clone(), &certs, a.certify.max_e)?;
    let mut inputs = serde_json::Map::new();
    for (name, path) in [("votes", &a.votes), ("labels", &a.labels)] {
        inputs.insert(
            name.into(),
            json!({ "path": path.display().to_string(), "sha256": sha256_file(path)? }),
        );
    }
    let max_e = curve.max_e;
    settings.insert("max_e".into(), json!(max_e));
    let report = baseline_votes_report_json("certify-votes", inputs, settings, &certs);
    let curves = [curve];
    let mut staged = OutputDir::new(&a.out);
    let written = curves.clone();
    staged.stage_with("curves.csv", move |w| write_curves_csv(&written, w));
    staged.stage(
        "examples.csv",
        examples_csv(&[(&classifier, certs.iter().map(Into::into).collect())]),
    );
    staged.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    staged.commit()?;
    crate::write_stdout(&summary::table(&curves, max_e));
    say!(
        "wrote curves.csv, examples.csv, report.json to {}",
        a.out.display()
    );
    Ok(())
}

/// Certifies `votes`, adds curves.csv, examples.csv and report.json to `staged`, writes it
/// (all or nothing), and prints the summary table.
pub fn certify_and_write(
    votes: &Votes,
    options: &CurveOptions,
    input_records: serde_json::Map<String, serde_json::Value>,
    command: &str,
    mut staged: OutputDir,
) -> Result<()> {
    let result = certify_votes(votes, options)?;
    let report = votes_report_json(votes, options, &result, command, input_records);
    let out = staged.dir().to_path_buf();

    let curves = result.curves.clone();
    staged.stage_with("curves.csv", move |w| write_curves_csv(&curves, w));
    staged.stage(
        "examples.csv",
        examples_csv(&[(
            &options.classifier,
            result.points.iter().map(Into::into).collect(),
        )]),
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
