//! The outputs of `nncert attack`: `attack.csv`, `attack_sets.csv`, `attack_poison.csv`,
//! `backdoor.csv` and `report.json`, built here so that every front end writes the same
//! bytes.
//!
//! `attack_poison.csv` lists every poisoned set action by action, so that an attack can be
//! replayed from the outputs alone: take the training set, drop the `remove` rows' training
//! indices, append the `insert` rows' test inputs (record and features, as the attack saw
//! them — stamped with the trigger when one was given) with their label, `count` times
//! each, in the order listed; the classifier re-run on that set gives `correct_after` of
//! `attack_sets.csv`.

use serde_json::{Value, json};

use crate::attack::{AttackReport, BackdoorRow, PoisonedSet, soundness_violations};
use crate::curve::{format_fraction_ceil, format_fraction_floor};
use crate::data::Dataset;
use crate::data::trigger::Trigger;
use crate::features::FeatureKind;
use crate::neighbours::Kernel;
use crate::neighbours::kernel::Metric;
use crate::votes::TieRule;

/// Header of `attack.csv`.
pub(crate) const ATTACK_HEADER: &str =
    "method,param,strategy,e,attacked_accuracy,certified_accuracy";
/// Header of `attack_sets.csv`.
pub(crate) const ATTACK_SETS_HEADER: &str =
    "method,param,strategy,e,target,removed,inserted,poisoning_size,correct_after";
/// Header of `attack_poison.csv`.
pub(crate) const ATTACK_POISON_HEADER: &str =
    "method,param,strategy,e,target,action,index,label,count";
/// Header of `backdoor.csv`.
pub(crate) const BACKDOOR_HEADER: &str =
    "method,param,e,attacked_accuracy,certified_accuracy,attack_success_rate";

/// One attacked classifier: its report, and the backdoor rows when a trigger was given.
#[derive(Debug, Clone)]
pub struct AttackResult {
    /// Every strategy's rows and poisoned sets.
    pub report: AttackReport,
    /// The BadNets attack at every budget (with `--trigger`).
    pub backdoor: Option<Vec<BackdoorRow>>,
}

impl AttackResult {
    /// Where an attack beat a certificate (must be none), prefixed by the classifier.
    pub fn violations(&self) -> Vec<String> {
        let target = self.report.target;
        let mut out = soundness_violations(&self.report);
        if let Some(rows) = &self.backdoor {
            out.extend(
                crate::attack::backdoor_violations(rows)
                    .into_iter()
                    .map(|v| format!("{} {} {v}", target.method(), target.classifier())),
            );
        }
        out
    }
}

/// Everything `nncert attack` records about a run.
#[derive(Debug, Clone)]
pub struct AttackRun<'a> {
    /// The (possibly trigger-stamped) dataset attacked.
    pub dataset: &'a Dataset,
    /// Features the classifiers use.
    pub features: FeatureKind,
    /// Distance.
    pub metric: Metric,
    /// Kernel of the search.
    pub kernel: Kernel,
    /// Tie rule of the predictions.
    pub tie: TieRule,
    /// The poisoning sizes asked for.
    pub budgets: &'a [u64],
    /// The backdoor trigger and target label, if any.
    pub trigger: Option<(Trigger, u32)>,
    /// One result per attacked classifier.
    pub results: Vec<AttackResult>,
}

impl AttackRun<'_> {
    /// Every violation of every classifier (must be none).
    pub fn violations(&self) -> Vec<String> {
        self.results.iter().flat_map(|r| r.violations()).collect()
    }

    /// `attack.csv`: per classifier, strategy and budget, the accuracy the attack leaves
    /// (rounded up: it is an upper bound) and the certified accuracy (rounded down).
    pub fn attack_csv(&self) -> String {
        let mut csv = format!("{ATTACK_HEADER}\n");
        for r in self.results.iter().flat_map(|x| &x.report.rows) {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                r.classifier.method(),
                r.classifier,
                r.strategy,
                r.e,
                format_fraction_ceil(r.attacked_correct, r.n_test, 6),
                format_fraction_floor(r.certified_correct, r.n_test, 6)
            ));
        }
        csv
    }

    /// `attack_sets.csv`: one row per poisoned set, with its sizes and how many test inputs
    /// the classifier re-run on it still classifies correctly.
    pub fn attack_sets_csv(&self) -> String {
        let mut csv = format!("{ATTACK_SETS_HEADER}\n");
        for result in &self.results {
            for s in &result.report.sets {
                csv.push_str(&format!(
                    "{},{},{},{},{}\n",
                    set_key(&result.report, s),
                    s.removed.len(),
                    s.inserted_count(),
                    s.poisoning_size(),
                    s.correct_after,
                ));
            }
        }
        csv
    }

    /// `attack_poison.csv`: every poisoned set action by action (see the module
    /// documentation): `remove` rows name a training index and its label (count 1),
    /// `insert` rows a test input whose copies are inserted, their label and how many.
    pub fn attack_poison_csv(&self) -> String {
        let mut csv = format!("{ATTACK_POISON_HEADER}\n");
        for result in &self.results {
            let labels = &self.dataset.train.labels;
            for s in &result.report.sets {
                let key = set_key(&result.report, s);
                for &j in &s.removed {
                    csv.push_str(&format!("{key},remove,{j},{},1\n", labels[j]));
                }
                for i in &s.inserted {
                    csv.push_str(&format!(
                        "{key},insert,{},{},{}\n",
                        i.source, i.label, i.copies
                    ));
                }
            }
        }
        csv
    }

    /// `backdoor.csv` (with a trigger): per classifier and budget, the accuracy left on the
    /// triggered inputs, the backdoor certified accuracy and the attack success rate.
    pub fn backdoor_csv(&self) -> Option<String> {
        self.trigger?;
        let mut csv = format!("{BACKDOOR_HEADER}\n");
        for result in &self.results {
            let t = result.report.target;
            for r in result.backdoor.iter().flatten() {
                csv.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    t.method(),
                    t.classifier(),
                    r.e,
                    format_fraction_ceil(r.attacked_correct, r.n_test, 6),
                    format_fraction_floor(r.certified_correct, r.n_test, 6),
                    r.success_rate_text(6).unwrap_or_else(|| "0.000000".into())
                ));
            }
        }
        Some(csv)
    }

    /// `report.json`.
    pub fn report_json(&self) -> Value {
        let d = self.dataset;
        let results: Vec<Value> = self
            .results
            .iter()
            .map(|x| {
                let r = &x.report;
                json!({
                    "method": r.target.method(),
                    "param": r.target.classifier().to_string(),
                    "backdoor": x.backdoor,
                    "individual_attacks": r.individual_flips + r.individual_failures,
                    "individual_failures": r.individual_failures,
                    "rows": r.rows,
                })
            })
            .collect();
        json!({
            "nncert_version": super::VERSION,
            "command": "attack",
            "dataset": { "name": d.name, "n_train": d.train.len(), "n_test": d.test.len(), "files": d.files, "caveat": d.caveat },
            "features": self.features,
            "metric": self.metric,
            "kernel": self.kernel,
            "tie_rule": self.tie,
            "budgets": self.budgets,
            "trigger": self.trigger.map(|(t, l)| json!({ "trigger": t.to_string(), "target_label": l })),
            "results": results,
            "soundness_violations": self.violations(),
            "notes": "attacked_accuracy is achieved by a concrete poisoned training set (rounded up); certified_accuracy is a proven lower bound (rounded down)",
        })
    }
}

/// The columns that name a poisoned set: `method,param,strategy,e,target` (target `all`
/// for a set aimed at the whole test set).
fn set_key(report: &AttackReport, s: &PoisonedSet) -> String {
    format!(
        "{},{},{},{},{}",
        report.target.method(),
        report.target.classifier(),
        s.strategy,
        s.e,
        s.target
            .map_or_else(|| "all".to_string(), |t| t.to_string())
    )
}
