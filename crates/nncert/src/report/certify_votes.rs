//! The `report.json` of `certify-votes` (and of every command that certifies a votes matrix
//! as it came: `demo`, the Python `certify_votes`), built here so that every front end
//! writes the same record.

use serde_json::{Map, Value, json};

use crate::baselines::BaselineCertificate;
use crate::curve::{CertifiedVotes, CurveOptions};
use crate::votes::Votes;

/// The record of kNN/rNN votes certified with `options`: the inputs (`inputs`, e.g. each
/// file with its SHA-256), the settings, clean accuracy, the summary table, and the
/// POLISH gap when computed.
pub fn votes_report_json(
    votes: &Votes,
    options: &CurveOptions,
    result: &CertifiedVotes,
    command: &str,
    inputs: Map<String, Value>,
) -> Value {
    let correct = result.points.iter().filter(|p| p.correct()).count();
    let summary = super::summary_json(&result.curves, result.max_e);
    let mut record = json!({
        "nncert_version": super::VERSION,
        "command": command,
        "inputs": inputs,
        "settings": {
            "method": options.method(),
            "param": options.classifier.to_string(),
            "certifications": result.curves.iter().map(|c| c.certification).collect::<Vec<_>>(),
            "rd_seed": options.seed,
            "max_e_requested": options.max_e,
            "max_e": result.max_e,
            "tie_rule": options.tie,
            "threat": options.threat,
        },
        "n_test": votes.n_test(),
        "n_classes": votes.n_classes(),
        "clean_accuracy": super::fraction_json(correct as u64, votes.n_test() as u64, 6),
        "summary": summary,
        "notes": "certified_accuracy values are proven lower bounds, rounded down",
    });
    // Only with POLISH, so that other runs' reports are unchanged.
    if let (Some(gap), Some(map)) = (&result.grouping_gap, record.as_object_mut()) {
        map.insert(
            "grouping_gap".into(),
            gap.to_json(votes.n_test() as u64, result.max_e),
        );
    }
    record
}

/// The record of DPA or bagging votes certified as they came: `settings` as the front end
/// describes them (method, units or bagging parameters, tie rule, `max_e`).
pub fn baseline_votes_report_json(
    command: &str,
    inputs: Map<String, Value>,
    settings: Map<String, Value>,
    certs: &[BaselineCertificate],
) -> Value {
    let correct = certs
        .iter()
        .filter(|c| c.prediction.predicted == c.label)
        .count();
    json!({
        "nncert_version": super::VERSION,
        "command": command,
        "inputs": inputs,
        "settings": settings,
        "n_test": certs.len(),
        "clean_accuracy": super::fraction_json(correct as u64, certs.len() as u64, 6),
        "notes": "certified_accuracy values are proven lower bounds, rounded down; e_star = -1 means not certified even at e = 0",
    })
}
