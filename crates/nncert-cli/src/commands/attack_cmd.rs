//! `nncert attack`: real poisoned training sets against kNN/rNN, next to the certificates.

use anyhow::Result;
use nncert::attack::{self, Target};
use nncert::curve::{format_fraction_ceil, format_fraction_floor};
use nncert::report::OutputDir;
use nncert::report::attack::{AttackResult, AttackRun};
use nncert::{Certification, CurveOptions, Method, certify_votes};

use crate::args::AttackArgs;
use crate::figures;

pub fn run(a: &AttackArgs) -> Result<()> {
    OutputDir::preflight(&a.out)?;
    let search = a.search.config()?;
    anyhow::ensure!(
        !a.e.is_empty(),
        "--e: expected poisoning sizes, e.g. --e 10,100,500,1000"
    );
    // Each budget once, in the order given (a repeated one would repeat identical sets).
    let mut budgets: Vec<u64> = Vec::with_capacity(a.e.len());
    for &e in &a.e {
        if !budgets.contains(&e) {
            budgets.push(e);
        }
    }
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
    let trigger = match (a.trigger, a.target_label) {
        (Some(t), Some(l)) => {
            super::certify_cmd::stamp_test_set(&mut dataset, t)?;
            Some((t, l))
        }
        (Some(_), None) => anyhow::bail!("--trigger: the backdoor attack needs --target-label L"),
        (None, Some(_)) => anyhow::bail!("--target-label: needs --trigger TRIGGER"),
        (None, None) => None,
    };
    let tie = a.tie_rule;
    let mut staged = OutputDir::new(&a.out);
    let mut results = Vec::with_capacity(targets.len());
    for &target in &targets {
        let report = attack::attack(
            &dataset,
            features,
            target,
            search.metric,
            search.kernel,
            &budgets,
            tie,
        )?;
        let (method, param) = (target.method(), target.classifier());
        // Certified curves over the whole range, for the figure.
        let mut options = CurveOptions::for_classifier(param.clone());
        options.tie = tie;
        options.max_e = budgets.iter().max().copied();
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
                    &budgets,
                    tie,
                )?;
                for r in &rows {
                    say!(
                        "  backdoor   e = {:>5}: attacked {} ≥ certified {}; attack success rate {}",
                        r.e,
                        format_fraction_ceil(r.attacked_correct, r.n_test, 4),
                        format_fraction_floor(r.certified_correct, r.n_test, 4),
                        r.success_rate_text(4).unwrap_or_else(|| "n/a".into())
                    );
                }
                Some(rows)
            }
            None => None,
        };
        results.push(AttackResult { report, backdoor });
    }
    let run = AttackRun {
        dataset: &dataset,
        features,
        metric: search.metric,
        kernel: search.kernel,
        tie,
        budgets: &budgets,
        trigger,
        results,
    };
    staged.stage("attack.csv", run.attack_csv());
    staged.stage("attack_sets.csv", run.attack_sets_csv());
    staged.stage("attack_poison.csv", run.attack_poison_csv());
    if let Some(csv) = run.backdoor_csv() {
        staged.stage("backdoor.csv", csv);
    }
    staged.stage(
        "report.json",
        serde_json::to_string_pretty(&run.report_json())? + "\n",
    );
    staged.commit()?;
    say!(
        "wrote attack.csv, attack_sets.csv, attack_poison.csv, report.json and figures/ to {}",
        a.out.display()
    );
    let violations = run.violations();
    anyhow::ensure!(
        violations.is_empty(),
        "an attack beat a certificate — this is a bug, please report it: {}",
        violations.join("; ")
    );
    Ok(())
}
