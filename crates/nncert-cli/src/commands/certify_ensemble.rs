//! `nncert certify-ensemble`: DPA, Finite Aggregation and Run-Off Election certificates from
//! the outputs of base models trained anywhere (derivations in docs/ENSEMBLES.md).

use std::time::Instant;

use anyhow::Result;
use nncert::baselines::aggregation::{AggregateCertificate, fa_certificates};
use nncert::baselines::baseline_curve;
use nncert::baselines::dpa::Units;
use nncert::baselines::model_outputs::{ModelRankings, ModelVotes};
use nncert::baselines::runoff::roe_certificates;
use nncert::baselines::spread::Spread;
use nncert::data::ensemble_file::{load_model_rankings, load_model_votes};
use nncert::report::{self, ExampleRow, OutputDir, curves_csv, examples_csv, sha256_file};
use nncert::{Classifier, Curve, Method};
use serde_json::json;

use crate::args::CertifyEnsembleArgs;
use crate::summary;

/// The base models' outputs as read: votes only, or rankings (which include the votes).
enum Outputs {
    Votes(ModelVotes),
    Rankings(ModelRankings),
}

impl Outputs {
    fn votes(&self) -> &ModelVotes {
        match self {
            Outputs::Votes(v) => v,
            Outputs::Rankings(r) => r.votes(),
        }
    }
}

fn units_name(u: Units) -> &'static str {
    match u {
        Units::Poisoning => "poisoning",
        Units::Insdel => "insdel",
    }
}

pub fn run(a: &CertifyEnsembleArgs) -> Result<()> {
    let methods = a.methods()?;
    let units = a.units()?;
    if let Some(m) = a.max_e.filter(|&m| m > nncert::curve::MAX_E_LIMIT) {
        anyhow::bail!(
            "--max-e: expected at most {}, found {m}",
            nncert::curve::MAX_E_LIMIT
        );
    }
    if a.param.contains(['\n', '\r']) {
        anyhow::bail!("--param: expected one line of text");
    }
    OutputDir::preflight(&a.out)?;
    let t = Instant::now();
    let (outputs, matrix) = match (&a.predictions, &a.logits) {
        (Some(p), None) => (
            Outputs::Votes(load_model_votes(p, &a.labels, a.abstain, a.classes)?),
            ("predictions", p),
        ),
        (None, Some(l)) => (
            Outputs::Rankings(load_model_rankings(l, &a.labels)?),
            ("logits", l),
        ),
        _ => anyhow::bail!(
            "give exactly one of --predictions PREDICTIONS.npy or --logits LOGITS.npy"
        ),
    };
    let load_seconds = t.elapsed().as_secs_f64();
    let votes = outputs.votes();
    let n_models = votes.n_models();
    let fa_spread = a.fa_spread(n_models, &methods)?;
    let dpa_spread = Spread::dpa(n_models)?;

    let t = Instant::now();
    let mut curves: Vec<Curve> = Vec::new();
    let mut examples: Vec<(Classifier, Vec<ExampleRow>)> = Vec::new();
    let mut per_method = serde_json::Map::new();
    for &method in &methods {
        let spread = match method {
            Method::Dpa | Method::RoeDpa => &dpa_spread,
            _ => fa_spread
                .as_ref()
                .expect("fa_spread is built for fa and roe-fa"),
        };
        let certs: Vec<AggregateCertificate> = match (method, &outputs) {
            (Method::Dpa | Method::Fa, _) => fa_certificates(votes, spread)?,
            (Method::RoeDpa | Method::RoeFa, Outputs::Rankings(r)) => roe_certificates(r, spread)?,
            (Method::RoeDpa | Method::RoeFa, Outputs::Votes(_)) => anyhow::bail!(
                "--method {method}: Run-Off Election needs each model's ranking of the labels; give --logits LOGITS.npy instead of --predictions"
            ),
            (other, _) => {
                unreachable!("--method {other} is refused by CertifyEnsembleArgs::methods")
            }
        };
        let base = if !a.param.is_empty() {
            a.param.clone()
        } else if spread.d() == 1 {
            format!("k={}", spread.k())
        } else {
            format!("k={} d={}", spread.k(), spread.d())
        };
        let correct = certs
            .iter()
            .filter(|c| c.prediction.predicted == c.label)
            .count() as u64;
        per_method.insert(
            method.to_string(),
            json!({
                "spread": spread,
                "clean_accuracy": nncert::curve::format_fraction_floor(correct, certs.len() as u64, 6),
            }),
        );
        for &u in &units {
            let param = format!("{base} units={}", units_name(u));
            let in_units: Vec<_> = certs.iter().map(|c| c.in_units(u)).collect();
            let classifier = Classifier::Given { method, param };
            curves.push(baseline_curve(classifier.clone(), &in_units, a.max_e)?);
            examples.push((classifier, in_units.iter().map(Into::into).collect()));
        }
    }
    let certify_seconds = t.elapsed().as_secs_f64();
    let max_e = curves
        .iter()
        .map(|c| c.certified.len() as u64 - 1)
        .max()
        .unwrap_or(0);

    let mut inputs = serde_json::Map::new();
    for (name, path) in [matrix, ("labels", &a.labels)] {
        inputs.insert(
            name.into(),
            json!({ "path": path.display().to_string(), "sha256": sha256_file(path)? }),
        );
    }
    let report = json!({
        "nncert_version": report::VERSION,
        "command": "certify-ensemble",
        "inputs": inputs,
        "settings": {
            "methods": methods,
            "units": units.iter().map(|&u| units_name(u)).collect::<Vec<_>>(),
            "abstain_code": a.predictions.as_ref().map(|_| a.abstain),
            "tie_rule": "smaller",
            "max_e_requested": a.max_e,
            "max_e": max_e,
        },
        "n_test": votes.n_test(),
        "n_models": n_models,
        "n_classes": votes.n_classes(),
        "methods": per_method,
        "summary": report::summary_json(&curves, max_e),
        "seconds": { "load": load_seconds, "certify": certify_seconds },
        "notes": "certified_accuracy values are proven lower bounds, rounded down. units=insdel: e counts insertions and deletions of training examples, each once (the papers' units); units=poisoning: nncert's poisoning size, a modification counts once, certified at e iff 2e ≤ the insdel certificate. Derivations: docs/ENSEMBLES.md",
    });
    let mut staged = OutputDir::new(&a.out);
    staged.stage("curves.csv", curves_csv(&curves));
    let settings: Vec<(&Classifier, Vec<ExampleRow>)> =
        examples.iter().map(|(c, rows)| (c, rows.clone())).collect();
    staged.stage("examples.csv", examples_csv(&settings));
    staged.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    staged.commit()?;
    crate::write_stdout(&summary::table(&curves, max_e));
    say!(
        "wrote curves.csv, examples.csv, report.json to {}",
        a.out.display()
    );
    Ok(())
}
