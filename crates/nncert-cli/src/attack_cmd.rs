//! `nncert attack`: real poisoned training sets against kNN/rNN, next to the certificates.

use anyhow::Result;
use nncert::attack::{self, AttackReport, Target, soundness_violations};
use nncert::curve::{format_fraction_ceil, format_fraction_floor};
use nncert::data::trigger::Trigger;
use nncert::report::OutputDir;
use nncert::{Certification, CurveOptions, Method, certify_votes};
use serde_json::json;

use crate::args::AttackArgs;
use crate::figures;

pub fn run(a: &AttackArgs) -> Result<()> {
    OutputDir::preflight(&a.out)?;
    let search = a.search.config()?;
    anyhow::ensure!(
        !a.e.is_empty(),
        "--e: expected poisoning sizes, e.g. --e 10,100,500,1000"
    );
    let mut targets: Vec<Target> = search.ks.iter().map(|&k| Target::Knn(k)).collect();
    targets.extend(search.radii.iter().map(|&r| Target::Rnn(r)));
    anyhow::ensure!(
        !targets.is_empty(),
        "nothing to attack: give --knn K and/or --rnn R"
    );
    anyhow::ensure!(
        a.n_test != Some(0),
        "--n-test: expected at least 1 test input, found 0"
    );
    let features = a.features.kind(a.dataset.name()? == "npy")?;
    let full = nncert::data::load(&a.dataset.spec()?)?;
    if let Some(l) = a.target_label {
        anyhow::ensure!(
            (l as usize) < full.n_classes,
            "--target-label: expected a label in 0..={} ({} has {} classes), found {l}",
            full.n_classes - 1,
            full.name,
            full.n_classes
        );
    }
    let mut dataset = full.subset(None, a.n_test);
    let trigger = match (&a.trigger, a.target_label) {
        (Some(t), Some(l)) => {
            let t: Trigger = t.parse()?;
            crate::certify_cmd::stamp_test_set(&mut dataset, t)?;
            Some((t, l))
        }
        (Some(_), None) => anyhow::bail!("--trigger: the backdoor attack needs --target-label L"),
        (None, Some(_)) => anyhow::bail!("--target-label: needs --trigger TRIGGER"),
        (None, None) => None,
    };
    let tie = a.tie_rule;
    let mut csv = String::from("method,param,strategy,e,attacked_accuracy,certified_accuracy\n");
    let mut sets_csv =
        String::from("method,param,strategy,e,target,removed,inserted,poisoning_size\n");
    let mut staged = OutputDir::new(&a.out);
    let mut backdoor_csv =
        String::from("method,param,e,attacked_accuracy,certified_accuracy,attack_success_rate\n");
    let mut summaries = Vec::new();
    let mut violations = Vec::new();
    for &target in &targets {
        let report: AttackReport = attack::attack(
            &dataset,
            features,
            target,
            search.metric,
            search.kernel,
            &a.e,
            tie,
        )?;
        violations.extend(soundness_violations(&report));
        for r in &report.rows {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                r.method,
                r.param,
                r.strategy,
                r.e,
                format_fraction_ceil(r.attacked_correct, r.n_test, 6),
                format_fraction_floor(r.certified_correct, r.n_test, 6)
            ));
        }
        for s in &report.sets {
            let (method, param) = (report.rows[0].method, &report.rows[0].param);
            sets_csv.push_str(&format!(
                "{method},{param},{},{},{},{},{},{}\n",
                s.strategy,
                s.e,
                s.target.map_or("all".to_string(), |t| t.to_string()),
                s.removed,
                s.inserted,
                s.poisoning_size
            ));
        }
        // Certified curves over the whole range, for the figure.
        let method = report.rows[0].method;
        let param = report.rows[0].param.clone();
        let mut options = CurveOptions::new(method, param.clone());
        options.tie = tie;
        options.max_e = a.e.iter().max().copied();
        if method == Method::Rnn {
            options.joint = vec![Certification::Island];
        }
        let certified = certify_votes(&report.clean, &options)?;
        let fig = figures::attack_figure(&dataset.name, &certified.curves, &report);
        staged.stage(
            format!("figures/{}.png", fig.name),
            figures::render_png(&fig)?,
        );
        staged.stage(
            format!("figures/{}.svg", fig.name),
            figures::render_svg(&fig)?,
        );
        say!(
            "{method} {param} on {} ({} test inputs):",
            dataset.name,
            dataset.test.len()
        );
        for r in &report.rows {
            say!(
                "  {:<10} e = {:>5}: attacked {} ≥ certified {}",
                r.strategy,
                r.e,
                format_fraction_ceil(r.attacked_correct, r.n_test, 4),
                format_fraction_floor(r.certified_correct, r.n_test, 4)
            );
        }
        let backdoor = match trigger {
            Some((t, label)) => {
                let rows = attack::backdoor(
                    &dataset,
                    t,
                    label,
                    features,
                    target,
                    search.metric,
                    search.kernel,
                    &a.e,
                    tie,
                )?;
                for r in &rows {
                    backdoor_csv.push_str(&format!(
                        "{method},{param},{},{},{},{}\n",
                        r.e,
                        format_fraction_ceil(r.attacked_correct, r.n_test, 6),
                        format_fraction_floor(r.certified_correct, r.n_test, 6),
                        r.success_rate_text(6).unwrap_or_else(|| "0.000000".into())
                    ));
                    say!(
                        "  backdoor   e = {:>5}: attacked {} ≥ certified {}; attack success rate {}",
                        r.e,
                        format_fraction_ceil(r.attacked_correct, r.n_test, 4),
                        format_fraction_floor(r.certified_correct, r.n_test, 4),
                        r.success_rate_text(4).unwrap_or_else(|| "n/a".into())
                    );
                }
                violations.extend(
                    attack::backdoor_violations(&rows)
                        .into_iter()
                        .map(|v| format!("{method} {param} {v}")),
                );
                Some(rows)
            }
            None => None,
        };
        summaries.push(json!({
            "method": method,
            "param": param,
            "backdoor": backdoor,
            "individual_attacks": report.individual_flips + report.individual_failures,
            "individual_failures": report.individual_failures,
            "rows": report.rows,
        }));
    }
    let report = json!({
        "nncert_version": nncert::report::VERSION,
        "command": "attack",
        "dataset": { "name": dataset.name, "n_train": dataset.train.len(), "n_test": dataset.test.len(), "files": dataset.files, "caveat": dataset.caveat },
        "features": features,
        "metric": search.metric,
        "kernel": search.kernel,
        "tie_rule": tie,
        "budgets": a.e,
        "trigger": trigger.map(|(t, l)| json!({ "trigger": t.to_string(), "target_label": l })),
        "results": summaries,
        "soundness_violations": violations,
        "notes": "attacked_accuracy is achieved by a concrete poisoned training set (rounded up); certified_accuracy is a proven lower bound (rounded down)",
    });
    staged.stage("attack.csv", csv);
    staged.stage("attack_sets.csv", sets_csv);
    if trigger.is_some() {
        staged.stage("backdoor.csv", backdoor_csv);
    }
    staged.stage("report.json", serde_json::to_string_pretty(&report)? + "\n");
    staged.commit()?;
    say!(
        "wrote attack.csv, attack_sets.csv, report.json and figures/ to {}",
        a.out.display()
    );
    anyhow::ensure!(
        violations.is_empty(),
        "an attack beat a certificate — this is a bug, please report it: {}",
        violations.join("; ")
    );
    Ok(())
}
