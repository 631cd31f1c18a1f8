//! The outputs of `certify` (and of the Python `certify`): `curves.csv`, `examples.csv`
//! and `report.json` of an [`Experiment`].
//!
//! They are methods of [`Experiment`] defined here, beside the other formats, so that
//! `experiment` computes and `report` writes: `report` depends on `experiment`, never the
//! reverse.

use serde_json::{Value, json};

use crate::data::Dataset;
use crate::experiment::{Experiment, ExperimentConfig};

impl Experiment {
    /// `curves.csv`.
    pub fn curves_csv(&self) -> String {
        super::curves_csv(&self.curves())
    }

    /// `curves.csv` written row by row into `out` (memory does not grow with `max_e`).
    pub fn write_curves_csv(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        super::write_curves_csv(&self.curves(), out)
    }

    /// `examples.csv`.
    pub fn examples_csv(&self) -> String {
        let settings: Vec<_> = self
            .settings
            .iter()
            .map(|s| (&s.classifier, s.rows.clone()))
            .collect();
        super::examples_csv(&settings)
    }

    /// Per setting: method, param, clean accuracy, certifications, `max_e` and empty rNN
    /// neighbourhoods (the `settings` of `report.json`).
    pub fn settings_json(&self) -> Vec<Value> {
        self
            .settings
            .iter()
            .map(|s| {
                let mut setting = json!({
                    "method": s.method(),
                    "param": s.classifier.to_string(),
                    "clean_accuracy": super::fraction_json(s.clean_correct() as u64, s.votes.n_test() as u64, 6),
                    "certifications": s.curves.iter().map(|c| c.certification).collect::<Vec<_>>(),
                    "max_e": s.max_e,
                    "empty_neighbourhoods": s.empty_neighbourhoods,
                });
                // Only with POLISH, so that other runs' reports are unchanged.
                if let (Some(gap), Some(map)) = (&s.grouping_gap, setting.as_object_mut()) {
                    map.insert("grouping_gap".into(), gap.to_json(s.votes.n_test() as u64, s.max_e));
                }
                setting
            })
            .collect()
    }

    /// `report.json`: every setting, the tie rule, the kernel, the version, the dataset's
    /// files and checksums, timings per stage, empty rNN neighbourhoods, and a summary.
    pub fn report_json(
        &self,
        dataset: &Dataset,
        config: &ExperimentConfig,
        threads: usize,
    ) -> Value {
        let summary = super::summary_json(&self.curves(), self.max_e());
        let settings = self.settings_json();
        json!({
            "nncert_version": super::VERSION,
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
            "threat": config.threat,
            "rd_seed": config.seed,
            "max_e_requested": config.max_e,
            "baselines": config.baselines,
            "settings": settings,
            "seconds": self.seconds,
            "threshold_fallbacks": self.threshold_fallbacks,
            "summary": summary,
            "notes": "certified_accuracy values are proven lower bounds, rounded down",
        })
    }
}
