//! `nncert certify-ensemble`: DPA, Finite Aggregation and Run-Off Election certificates from
//! the outputs of base models trained anywhere (derivations in docs/ENSEMBLES.md).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use nncert::baselines::aggregation::{AggregateCertificate, fa_certificates};
use nncert::baselines::baseline_curve;
use nncert::baselines::dpa::Units;
use nncert::baselines::model_outputs::{ModelRankings, ModelVotes};
use nncert::baselines::runoff::roe_certificates;
use nncert::baselines::spread::Spread;
use nncert::data::ensemble_file::{load_model_rankings, load_model_votes};
use nncert::report::certify_ensemble::{EnsembleRun, method_record};
use nncert::report::{ExampleRow, OutputDir, examples_csv, sha256_file, write_curves_csv};
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
    let inputs: Vec<&std::path::Path> = [&a.predictions, &a.logits]
        .into_iter()
        .flatten()
        .map(std::path::PathBuf::as_path)
        .chain([a.labels.as_path()])
        .collect();
    OutputDir::preflight(&a.out, &inputs)?;
    let t = Instant::now();
    let (outputs, matrix) = load_outputs(a)?;
    let load_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let certified = certify_methods(a, &outputs, &methods, &units)?;
    let seconds = json!({ "load": load_seconds, "certify": t.elapsed().as_secs_f64() });
    let report = report_json(a, &outputs, matrix, &methods, &units, &certified, seconds)?;
    let mut staged = OutputDir::new(&a.out);
    let curves = certified.curves.clone();
    staged.stage_with("curves.csv", move |w| write_curves_csv(&curves, w));
    let settings: Vec<(&Classifier, Vec<ExampleRow>)> = certified
        .examples
        .iter()
        .map(|(c, rows)| (c, rows.clone()))
        .collect();
    staged.stage("examples.csv", examples_csv(&settings));
    staged.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    staged.commit()?;
    crate::write_stdout(&summary::table(&certified.curves, certified.max_e));
    say!(
        "wrote curves.csv, examples.csv, report.json to {}",
        a.out.display()
    );
    Ok(())
}

/// The base models' outputs, from exactly one of --predictions and --logits, with the
/// flag name and path of the file read.
fn load_outputs(a: &CertifyEnsembleArgs) -> Result<(Outputs, (&'static str, &Path))> {
    Ok(match (&a.predictions, &a.logits) {
        (Some(p), None) => (
            Outputs::Votes(load_model_votes(p, &a.labels, a.abstain_code(), a.classes)?),
            ("predictions", p.as_path()),
        ),
        (None, Some(l)) => (
            Outputs::Rankings(load_model_rankings(l, &a.labels)?),
            ("logits", l.as_path()),
        ),
        _ => anyhow::bail!(
            "give exactly one of --predictions PREDICTIONS.npy or --logits LOGITS.npy"
        ),
    })
}

/// Every method's certificates, as curves and examples in every unit.
struct Certified {
    curves: Vec<Curve>,
    examples: Vec<(Classifier, Vec<ExampleRow>)>,
    /// Per method: the spread and the clean accuracy (report.json's `methods`).
    per_method: serde_json::Map<String, serde_json::Value>,
    /// The largest last e of the curves.
    max_e: u64,
}

fn certify_methods(
    a: &CertifyEnsembleArgs,
    outputs: &Outputs,
    methods: &[Method],
    units: &[Units],
) -> Result<Certified> {
    let votes = outputs.votes();
    let fa_spread = a.fa_spread(votes.n_models(), methods)?;
    let dpa_spread = Spread::dpa(votes.n_models())?;
    let mut certified = Certified {
        curves: Vec::new(),
        examples: Vec::new(),
        per_method: serde_json::Map::new(),
        max_e: 0,
    };
    for &method in methods {
        let spread = match method {
            Method::Dpa | Method::RoeDpa => &dpa_spread,
            _ => fa_spread
                .as_ref()
                .expect("fa_spread is built for fa and roe-fa"),
        };
        let certs = certificates(method, outputs, spread)?;
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
        certified.per_method.insert(
            method.to_string(),
            method_record(spread, correct, certs.len() as u64),
        );
        for &u in units {
            let param = format!("{base} units={}", units_name(u));
            let in_units: Vec<_> = certs.iter().map(|c| c.in_units(u)).collect();
            let classifier = Classifier::Given { method, param };
            certified
                .curves
                .push(baseline_curve(classifier.clone(), &in_units, a.max_e)?);
            certified
                .examples
                .push((classifier, in_units.iter().map(Into::into).collect()));
        }
    }
    certified.max_e = certified.curves.iter().map(|c| c.max_e).max().unwrap_or(0);
    Ok(certified)
}

/// One method's certificates on `spread`.
fn certificates(
    method: Method,
    outputs: &Outputs,
    spread: &Spread,
) -> Result<Vec<AggregateCertificate>> {
    Ok(match (method, outputs) {
        (Method::Dpa | Method::Fa, _) => fa_certificates(outputs.votes(), spread)?,
        (Method::RoeDpa | Method::RoeFa, Outputs::Rankings(r)) => roe_certificates(r, spread)?,
        (Method::RoeDpa | Method::RoeFa, Outputs::Votes(_)) => anyhow::bail!(
            "--method {method}: Run-Off Election needs each model's ranking of the labels; give --logits LOGITS.npy instead of --predictions"
        ),
        (other, _) => {
            unreachable!("--method {other} is refused by CertifyEnsembleArgs::methods")
        }
    })
}

/// report.json, built by the library from what this command read and computed.
fn report_json(
    a: &CertifyEnsembleArgs,
    outputs: &Outputs,
    matrix: (&str, &Path),
    methods: &[Method],
    units: &[Units],
    certified: &Certified,
    seconds: serde_json::Value,
) -> Result<serde_json::Value> {
    let votes = outputs.votes();
    let mut inputs = serde_json::Map::new();
    for (name, path) in [matrix, ("labels", a.labels.as_path())] {
        inputs.insert(
            name.into(),
            json!({ "path": path.display().to_string(), "sha256": sha256_file(path)? }),
        );
    }
    let run = EnsembleRun {
        inputs,
        methods,
        units,
        abstain_code: a.predictions.as_ref().map(|_| a.abstain_code()),
        max_e_requested: a.max_e,
        max_e: certified.max_e,
        n_test: votes.n_test(),
        n_models: votes.n_models(),
        n_classes: votes.n_classes(),
        per_method: &certified.per_method,
        curves: &certified.curves,
        seconds,
    };
    Ok(run.report_json())
}
