//! One experiment: a dataset, its features, kNN and rNN votes for several k and r, and
//! every certificate curve — the paper's figures in one value.

use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::certify::{Certification, Method};
use crate::curve::{CertifiedVotes, CurveOptions, certify_votes, format_fraction_floor};
use crate::data::Dataset;
use crate::error::Error;
use crate::features::FeatureKind;
use crate::neighbours::SearchConfig;
use crate::pipeline::{self, Progress, StageSeconds};
use crate::report::{self, summary_rows};
use crate::votes::{TieRule, Votes};

/// Everything that defines an experiment besides the dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentConfig {
    /// Features the neighbours are searched on.
    pub features: FeatureKind,
    /// Metric, k values, radii, kernel.
    pub search: SearchConfig,
    /// Joint certifications for every rNN setting.
    pub joint: Vec<Certification>,
    /// RD seed.
    pub seed: u64,
    /// Last e of every curve (None: until each reaches 0).
    pub max_e: Option<u64>,
    /// Label tie rule.
    pub tie: TieRule,
}

/// One classifier setting (a k or an r) and its certificates.
#[derive(Debug, Clone)]
pub struct Setting {
    /// kNN or rNN.
    pub method: Method,
    /// The k or r as text.
    pub param: String,
    /// Its votes.
    pub votes: Votes,
    /// Certificates and curves.
    pub certified: CertifiedVotes,
    /// rNN: test inputs with no neighbour within r.
    pub empty_neighbourhoods: Option<usize>,
}

/// Seconds per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExperimentSeconds {
    /// Features, ranks, neighbours.
    #[serde(flatten)]
    pub votes: StageSeconds,
    /// Certificates and curves of every setting.
    pub certify: f64,
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct Experiment {
    /// kNN settings (k ascending as asked), then rNN settings.
    pub settings: Vec<Setting>,
    /// Stage timings.
    pub seconds: ExperimentSeconds,
    /// Queries whose top-k threshold fell back to an exhaustive pass.
    pub threshold_fallbacks: usize,
}

/// The parameter text of a radius: `4`, `4.5`.
pub fn radius_text(r: f64) -> String {
    format!("{r}")
}

/// Runs features → neighbours → votes → certificates for every k and r.
pub fn run(
    dataset: &Dataset,
    config: &ExperimentConfig,
    progress: &Progress<'_>,
) -> Result<Experiment, Error> {
    if config.search.ks.is_empty() && config.search.radii.is_empty() {
        return Err(Error::invalid("experiment: expected at least one k or r"));
    }
    let votes_run = pipeline::votes(dataset, config.features, &config.search, progress)?;
    let t = Instant::now();
    let mut settings = Vec::new();
    for kv in &votes_run.result.knn {
        let mut options = CurveOptions::new(Method::Knn, kv.k.to_string());
        options.max_e = config.max_e;
        options.tie = config.tie;
        settings.push(Setting {
            method: Method::Knn,
            param: kv.k.to_string(),
            certified: certify_votes(&kv.votes, &options)?,
            votes: kv.votes.clone(),
            empty_neighbourhoods: None,
        });
    }
    for rv in &votes_run.result.rnn {
        let param = radius_text(rv.radius);
        let mut options = CurveOptions::new(Method::Rnn, param.clone());
        options.joint = config.joint.clone();
        options.seed = config.seed;
        options.max_e = config.max_e;
        options.tie = config.tie;
        settings.push(Setting {
            method: Method::Rnn,
            param,
            certified: certify_votes(&rv.votes, &options)?,
            votes: rv.votes.clone(),
            empty_neighbourhoods: Some(rv.empty),
        });
    }
    Ok(Experiment {
        settings,
        seconds: ExperimentSeconds {
            votes: votes_run.seconds,
            certify: t.elapsed().as_secs_f64(),
        },
        threshold_fallbacks: votes_run.result.threshold_fallbacks,
    })
}

impl Experiment {
    /// Every curve of every setting, in setting order.
    pub fn curves(&self) -> Vec<crate::Curve> {
        self.settings
            .iter()
            .flat_map(|s| s.certified.curves.iter().cloned())
            .collect()
    }

    /// `curves.csv`.
    pub fn curves_csv(&self) -> String {
        report::curves_csv(&self.curves())
    }

    /// `examples.csv`.
    pub fn examples_csv(&self) -> String {
        let settings: Vec<_> = self
            .settings
            .iter()
            .map(|s| (s.method, s.param.as_str(), s.certified.points.as_slice()))
            .collect();
        report::examples_csv(&settings)
    }

    /// The largest last e over every curve.
    pub fn max_e(&self) -> u64 {
        self.settings
            .iter()
            .map(|s| s.certified.max_e)
            .max()
            .unwrap_or(0)
    }

    /// `report.json`: every setting, the tie rule, the kernel, the version, the dataset's
    /// files and checksums, timings per stage, empty rNN neighbourhoods, and a summary.
    pub fn report_json(
        &self,
        dataset: &Dataset,
        config: &ExperimentConfig,
        threads: usize,
    ) -> Value {
        let summary: Vec<Value> = summary_rows(&self.curves(), self.max_e())
            .into_iter()
            .map(|(label, cells)| {
                json!({
                    "curve": label,
                    "certified_accuracy": cells
                        .into_iter()
                        .map(|(e, v)| json!({ "e": e, "value": v }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let settings: Vec<Value> = self
            .settings
            .iter()
            .map(|s| {
                let correct = s.certified.points.iter().filter(|p| p.correct()).count();
                json!({
                    "method": s.method,
                    "param": s.param,
                    "clean_accuracy": format_fraction_floor(correct as u64, s.votes.n_test() as u64, 6),
                    "certifications": s.certified.curves.iter().map(|c| c.certification).collect::<Vec<_>>(),
                    "max_e": s.certified.max_e,
                    "empty_neighbourhoods": s.empty_neighbourhoods,
                })
            })
            .collect();
        json!({
            "nncert_version": report::VERSION,
            "dataset": {
                "name": dataset.name,
                "n_train": dataset.train.len(),
                "n_test": dataset.test.len(),
                "n_classes": dataset.n_classes,
                "files": dataset.files,
                "caveat": dataset.caveat,
            },
            "features": config.features,
            "metric": config.search.metric,
            "kernel": config.search.kernel,
            "threads": threads,
            "tie_rule": config.tie,
            "rd_seed": config.seed,
            "max_e_requested": config.max_e,
            "settings": settings,
            "seconds": self.seconds,
            "threshold_fallbacks": self.threshold_fallbacks,
            "summary": summary,
            "notes": "certified_accuracy values are proven lower bounds, rounded down",
        })
    }
}
