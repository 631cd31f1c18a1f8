//! The `report.json` of `certify-ensemble`: DPA, Finite Aggregation and Run-Off Election
//! certificates from the outputs of base models trained elsewhere (`docs/ENSEMBLES.md`),
//! built here so that every front end writes the same record.

use serde_json::{Map, Value, json};

use crate::baselines::dpa::Units;
use crate::baselines::spread::Spread;
use crate::certify::Method;
use crate::curve::{Curve, format_fraction_floor};

/// What `certify-ensemble` read, ran and found, as its `report.json` records it.
pub struct EnsembleRun<'a> {
    /// Each input file (the predictions or logits, and the labels) with its path and
    /// SHA-256, keyed by its flag name.
    pub inputs: Map<String, Value>,
    /// The methods certified, in the order of the curves.
    pub methods: &'a [Method],
    /// The units each method's certificates are reported in.
    pub units: &'a [Units],
    /// The code of an abstaining model in the predictions; `None` when logits were given.
    pub abstain_code: Option<i64>,
    /// `--max-e` as given.
    pub max_e_requested: Option<u64>,
    /// The largest last `e` of the curves.
    pub max_e: u64,
    /// Shape of the base models' outputs.
    pub n_test: usize,
    pub n_models: usize,
    pub n_classes: usize,
    /// Per method (by its name), [`method_record`]: the spread and the clean accuracy.
    pub per_method: &'a Map<String, Value>,
    /// Every curve of the run (methods × units).
    pub curves: &'a [Curve],
    /// Wall seconds per stage (`load`, `certify`).
    pub seconds: Value,
}

/// One method's entry of `report.json`'s `methods`: the spread of its buckets over the
/// models and its clean accuracy (`correct` of `n_test` test inputs, rounded down).
pub fn method_record(spread: &Spread, correct: u64, n_test: u64) -> Value {
    json!({
        "spread": spread,
        "clean_accuracy": format_fraction_floor(correct, n_test, 6),
    })
}

impl EnsembleRun<'_> {
    /// `report.json`: inputs with checksums, settings, sizes, per-method records, summary
    /// and timings.
    pub fn report_json(&self) -> Value {
        json!({
            "nncert_version": super::VERSION,
            "command": "certify-ensemble",
            "inputs": self.inputs,
            "settings": {
                "methods": self.methods,
                "units": self.units,
                "abstain_code": self.abstain_code,
                "tie_rule": "smaller",
                "max_e_requested": self.max_e_requested,
                "max_e": self.max_e,
            },
            "n_test": self.n_test,
            "n_models": self.n_models,
            "n_classes": self.n_classes,
            "methods": self.per_method,
            "summary": super::summary_json(self.curves, self.max_e),
            "seconds": self.seconds,
            "notes": "certified_accuracy values are proven lower bounds, rounded down. units=insdel: e counts insertions and deletions of training examples, each once (the papers' units); units=poisoning: nncert's poisoning size, a modification counts once, certified at e iff 2e ≤ the insdel certificate. Derivations: docs/ENSEMBLES.md",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Classifier;

    #[test]
    fn the_record_has_every_field_in_its_place() {
        let spread = Spread::dpa(3).expect("spread");
        let mut per_method = Map::new();
        per_method.insert("dpa".into(), method_record(&spread, 2, 3));
        let curve = Curve {
            classifier: Classifier::Given {
                method: Method::Dpa,
                param: "k=3 units=insdel".into(),
            },
            certification: crate::certify::Certification::Individual,
            certified: vec![2, 1, 0],
            max_e: 2,
            n_test: 3,
        };
        let mut inputs = Map::new();
        inputs.insert("labels".into(), json!({ "path": "y.npy", "sha256": "00" }));
        let run = EnsembleRun {
            inputs,
            methods: &[Method::Dpa],
            units: &[Units::Insdel, Units::Poisoning],
            abstain_code: Some(-1),
            max_e_requested: None,
            max_e: 2,
            n_test: 3,
            n_models: 3,
            n_classes: 2,
            per_method: &per_method,
            curves: &[curve],
            seconds: json!({ "load": 0.5, "certify": 0.25 }),
        };
        let r = run.report_json();
        assert_eq!(r["command"], "certify-ensemble");
        assert_eq!(r["inputs"]["labels"]["sha256"], "00");
        assert_eq!(r["settings"]["methods"], json!(["dpa"]));
        assert_eq!(r["settings"]["units"], json!(["insdel", "poisoning"]));
        assert_eq!(r["settings"]["abstain_code"], -1);
        assert_eq!(r["settings"]["max_e_requested"], Value::Null);
        assert_eq!(r["settings"]["max_e"], 2);
        assert_eq!(r["settings"]["tie_rule"], "smaller");
        assert_eq!(
            (r["n_test"].clone(), r["n_models"].clone()),
            (json!(3), json!(3))
        );
        assert_eq!(r["n_classes"], 2);
        // 2 of 3 correct, rounded down to 6 decimals.
        assert_eq!(r["methods"]["dpa"]["clean_accuracy"], "0.666666");
        assert_eq!(r["methods"]["dpa"]["spread"]["k"], 3);
        assert_eq!(r["seconds"]["certify"], 0.25);
        assert!(r["summary"].is_array() || r["summary"].is_object());
        assert!(
            r["notes"]
                .as_str()
                .expect("notes")
                .contains("docs/ENSEMBLES.md")
        );
    }
}
