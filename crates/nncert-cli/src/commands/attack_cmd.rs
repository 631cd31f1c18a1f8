//! `nncert attack`: real poisoned training sets against kNN/rNN, next to the certificates.

use anyhow::Result;
use nncert::attack::{self, AttackReport, BackdoorRow, Target};
use nncert::curve::{format_fraction_ceil, format_fraction_floor};
use nncert::data::Dataset;
use nncert::data::trigger::Trigger;
use nncert::features::FeatureKind;
use nncert::neighbours::SearchConfig;
use nncert::report::OutputDir;
use nncert::report::attack::{AttackResult, AttackRun};

use crate::args::AttackArgs;
use crate::figures;

pub fn run(a: &AttackArgs) -> Result<()> {
    OutputDir::preflight(&a.out, &a.dataset.input_paths())?;
    let (search, budgets, targets) = plan(a)?;
    let features = a.features.kind(a.dataset.name()? == "npy")?;
    let (dataset, trigger) = attacked_test_set(a)?;
    let job = Job {
        dataset: &dataset,
        features,
        search: &search,
        budgets: &budgets,
        tie: a.tie_rule,
    };
    let mut staged = OutputDir::new(&a.out);
    let mut results = Vec::with_capacity(targets.len());
    for &target in &targets {
        results.push(job.attack(target, trigger, &mut staged)?);
    }
    let run = AttackRun {
        dataset: &dataset,
        features,
        metric: search.metric,
        kernel: search.kernel,
        tie: a.tie_rule,
        budgets: &budgets,
        trigger,
        results,
    };
    stage_tables(&run, &mut staged)?;
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

/// The search, the budgets (each once, in the order given: a repeated one would repeat
/// identical sets) and the attacked classifiers, checked.
fn plan(a: &AttackArgs) -> Result<(SearchConfig, Vec<u64>, Vec<Target>)> {
    let search = a.search.config()?;
    anyhow::ensure!(
        !a.e.is_empty(),
        "--e: expected poisoning sizes, e.g. --e 10,100,500,1000"
    );
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
    Ok((search, budgets, targets))
}

/// The dataset with its first `--n-test` test inputs, stamped with the trigger for the
/// backdoor attack (with its target label).
fn attacked_test_set(a: &AttackArgs) -> Result<(Dataset, Option<(Trigger, u32)>)> {
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
    Ok((dataset, trigger))
}

/// What every attacked classifier shares.
struct Job<'a> {
    dataset: &'a Dataset,
    features: FeatureKind,
    search: &'a SearchConfig,
    budgets: &'a [u64],
    tie: nncert::TieRule,
}

impl Job<'_> {
    /// Every strategy (and the backdoor attack) against `target`: its figure staged and its
    /// rows printed.
    fn attack(
        &self,
        target: Target,
        trigger: Option<(Trigger, u32)>,
        staged: &mut OutputDir,
    ) -> Result<AttackResult> {
        let (dataset, search) = (self.dataset, self.search);
        let report = attack::attack(
            dataset,
            self.features,
            target,
            search.metric,
            search.kernel,
            self.budgets,
            self.tie,
        )?;
        let max_e = self.budgets.iter().max().copied().unwrap_or(0);
        let certified = report.certified_curves(self.tie, max_e)?;
        let fig = figures::attack_figure(&dataset.name, &certified, &report);
        staged.stage(
            format!("figures/{}.png", fig.name),
            figures::render_png(&fig)?,
        );
        staged.stage(
            format!("figures/{}.svg", fig.name),
            figures::render_svg(&fig)?,
        );
        print_rows(dataset, &report);
        let backdoor = match trigger {
            Some((t, label)) => {
                let rows = attack::backdoor(
                    dataset,
                    t,
                    label,
                    self.features,
                    target,
                    search.metric,
                    search.kernel,
                    self.budgets,
                    self.tie,
                )?;
                print_backdoor_rows(&rows);
                Some(rows)
            }
            None => None,
        };
        Ok(AttackResult { report, backdoor })
    }
}

fn print_rows(dataset: &Dataset, report: &AttackReport) {
    say!(
        "{} {} on {} ({} test inputs):",
        report.target.method(),
        report.target.classifier(),
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
}

fn print_backdoor_rows(rows: &[BackdoorRow]) {
    for r in rows {
        say!(
            "  backdoor   e = {:>5}: attacked {} ≥ certified {}; attack success rate {}",
            r.e,
            format_fraction_ceil(r.attacked_correct, r.n_test, 4),
            format_fraction_floor(r.certified_correct, r.n_test, 4),
            r.success_rate_text(4).unwrap_or_else(|| "n/a".into())
        );
    }
}

/// attack.csv, attack_sets.csv, attack_poison.csv, backdoor.csv (with a trigger) and
/// report.json.
fn stage_tables(run: &AttackRun<'_>, staged: &mut OutputDir) -> Result<()> {
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
    Ok(())
}
