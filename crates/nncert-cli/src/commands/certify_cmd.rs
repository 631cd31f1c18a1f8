//! `nncert certify` (and the default job): the paper's experiment on one dataset, with
//! curves, per-input certificates, a run report and figures.

use std::path::Path;

use anyhow::Result;
use nncert::data::Dataset;
use nncert::data::trigger::Trigger;
use nncert::experiment::{self, Experiment, ExperimentConfig};
use nncert::report::OutputDir;

use crate::args::CertifyArgs;
use crate::{figures, progress, summary};

pub fn run(a: &CertifyArgs) -> Result<()> {
    a.check_flags_apply()?;
    OutputDir::preflight(&a.out, &a.dataset.input_paths())?;
    experiment::validate_threat(a.certify.threat, &a.baselines.config()?)?;
    let spec = a.dataset.spec()?;
    let mut dataset = nncert::data::load_for_search(&spec)?;
    if let Some(trigger) = a.trigger {
        stamp_test_set(&mut dataset, trigger)?;
    }
    let config = a.config(&dataset)?;
    warn_k_at_least_n_train(&config.search.ks, dataset.train.len());
    let exp = run_and_write(&dataset, &config, &a.out)?;
    print_summary(&dataset, &exp, &a.out);
    print_radius_guidance(&dataset, &config, &exp);
    Ok(())
}

/// Warns (one line each, the run goes on) about every k of at least the training-set size.
pub fn warn_k_at_least_n_train(ks: &[usize], n_train: usize) {
    for k in ks.iter().filter(|&&k| k >= n_train) {
        eprintln!(
            "nncert: warning: --knn {k}: k ≥ the {n_train} training examples, so every \
             training example votes and kNN predicts the majority class"
        );
    }
}

/// Stamps `trigger` on every test image and says so in the dataset's caveat, which every
/// report carries.
pub fn stamp_test_set(dataset: &mut Dataset, trigger: Trigger) -> Result<()> {
    trigger.apply_split(dataset.content, &mut dataset.test)?;
    let note = format!(
        "test images stamped with the backdoor trigger {trigger}: curves are backdoor certified accuracy"
    );
    dataset.caveat = Some(match dataset.caveat.take() {
        Some(c) => format!("{c}; {note}"),
        None => note,
    });
    Ok(())
}

/// Runs the experiment and writes curves.csv, examples.csv, report.json and figures/ into
/// `out` (all or nothing).
pub fn run_and_write(
    dataset: &Dataset,
    config: &ExperimentConfig,
    out: &Path,
) -> Result<Experiment> {
    let mut staged = OutputDir::new(out);
    let exp = run_and_stage(dataset, config, &mut staged, Path::new(""))?;
    staged.commit()?;
    Ok(exp)
}

/// Runs the experiment and stages curves.csv, examples.csv, report.json and figures/ under
/// `prefix` in `staged`.
pub fn run_and_stage(
    dataset: &Dataset,
    config: &ExperimentConfig,
    staged: &mut OutputDir,
    prefix: &Path,
) -> Result<Experiment> {
    let exp = progress::PipelineBars::new(dataset).run(|p| experiment::run(dataset, config, p))?;
    let curves = exp.curves();
    staged.stage_with(prefix.join("curves.csv"), move |w| {
        nncert::report::write_curves_csv(&curves, w)
    });
    staged.stage(prefix.join("examples.csv"), exp.examples_csv());
    let report = exp.report_json(dataset, config, rayon::current_num_threads());
    staged.stage(
        prefix.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    );
    for fig in figures::experiment_figures(&exp, &dataset.name) {
        staged.stage(
            prefix.join(format!("figures/{}.png", fig.name)),
            figures::render_png(&fig)?,
        );
        staged.stage(
            prefix.join(format!("figures/{}.svg", fig.name)),
            figures::render_svg(&fig)?,
        );
    }
    Ok(exp)
}

/// The table and a pointer to the files.
pub fn print_summary(dataset: &Dataset, exp: &Experiment, out: &Path) {
    say!(
        "{}: {} training and {} test examples, {} classes",
        dataset.name,
        dataset.train.len(),
        dataset.test.len(),
        dataset.n_classes
    );
    if let Some(c) = &dataset.caveat {
        say!("note: {c}");
    }
    crate::write_stdout(&summary::table(&exp.curves(), exp.max_e()));
    for s in &exp.settings {
        if let Some(empty) = s.empty_neighbourhoods.filter(|&e| e > 0) {
            say!(
                "rNN r = {}: {}",
                s.classifier,
                plural(empty, "test input has", "test inputs have")
                    + " no training example within r"
            );
        }
    }
    let t = &exp.seconds;
    say!(
        "time: features {:.2} s, ranks {:.2} s, neighbours {:.2} s, certificates {:.2} s, baselines {:.2} s",
        t.votes.features,
        t.votes.ranks,
        t.votes.neighbours,
        t.certify,
        t.baselines
    );
    say!(
        "wrote curves.csv, examples.csv, report.json and figures/ (PNG, SVG) to {}",
        out.display()
    );
}

/// `"1 test input has"`, `"3 test inputs have"`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// When a radius leaves most test inputs without any training example within it, says how
/// far the training examples actually are, so that a user can choose r: quantiles of the
/// distance to the 1st, 10th and 100th nearest training example (on at most 1,000 test
/// inputs, with the run's features and metric).
fn print_radius_guidance(dataset: &Dataset, config: &ExperimentConfig, exp: &Experiment) {
    let n_test = dataset.test.len();
    let sparse: Vec<String> = exp
        .settings
        .iter()
        .filter(|s| s.empty_neighbourhoods.is_some_and(|e| 2 * e > n_test))
        .map(|s| s.classifier.to_string())
        .collect();
    if sparse.is_empty() {
        return;
    }
    let Ok(stats) = nncert::pipeline::neighbour_distance_quantiles(
        dataset,
        config.features,
        &config.search,
        &[1, 10, 100],
        &[10, 50, 90],
        1000,
    ) else {
        return;
    };
    let cells: Vec<String> = stats
        .iter()
        .map(|s| {
            let values: Vec<String> = s.quantiles.iter().map(|(_, v)| format!("{v:.3}")).collect();
            format!("k = {}: {}", s.k, values.join(" / "))
        })
        .collect();
    say!(
        "rNN r = {}: most balls are empty; {} distance to the k-th nearest training example \
         (10 % / 50 % / 90 % of test inputs): {} — choose r around these",
        sparse.join(", "),
        config.search.metric,
        cells.join("; ")
    );
}
