//! `nncert reproduce`: the paper's experiments on MNIST and CIFAR-10, and REPRODUCTION.md.

use std::time::Instant;

use anyhow::Result;
use nncert::data::DatasetSpec;
use nncert::experiment::{BaselineConfig, ExperimentConfig};
use nncert::features::{FeatureKind, HogParams};
use nncert::neighbours::{Kernel, Metric, SearchConfig};
use nncert::report::OutputDir;
use nncert::report::reproduction::{self, Run};
use nncert::{Certification, TieRule};

use crate::args::ReproduceArgs;
use crate::certify_cmd;

/// The paper's settings (SPEC §7) for one dataset.
pub fn paper_config(dataset: &str, kernel: Kernel) -> ExperimentConfig {
    let (radii, max_e) = if dataset == "mnist" {
        (vec![3.0, 4.0, 5.0], 3000)
    } else {
        (vec![19.0, 20.0, 21.0], 1000)
    };
    ExperimentConfig {
        features: FeatureKind::Hog(HogParams::default()),
        search: SearchConfig {
            metric: Metric::L1,
            ks: vec![1000, 3000, 5000],
            radii,
            kernel,
            keep_neighbours: false,
        },
        joint: vec![Certification::Island, Certification::Rd],
        seed: 0,
        max_e: Some(max_e),
        tie: TieRule::Larger,
        // The paper's baselines at a CA(0) similar to rNN's (SPEC §7).
        baselines: BaselineConfig {
            dpa: vec![if dataset == "mnist" { 5500 } else { 900 }],
            bagging: vec![if dataset == "mnist" { 27 } else { 400 }],
            ..BaselineConfig::default()
        },
    }
}

pub fn run(a: &ReproduceArgs) -> Result<()> {
    if let Some(t) = a.threads {
        anyhow::ensure!(t >= 1, "--threads: expected at least 1, found 0");
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global();
    }
    let kernel = Kernel::detect()?;
    let mut loaded = Vec::new();
    for name in &a.datasets {
        let start = Instant::now();
        let spec = if name == "mnist" {
            DatasetSpec::Mnist(a.data_dir.clone())
        } else {
            DatasetSpec::Cifar10(a.data_dir.clone())
        };
        let dataset = nncert::data::load(&spec)?;
        let config = paper_config(name, kernel);
        let out = a.out.join(&dataset.name);
        let exp = certify_cmd::run_and_write(&dataset, &config, &out)?;
        let wall = start.elapsed().as_secs_f64();
        certify_cmd::print_summary(&dataset, &exp, &out);
        say!("{name}: {wall:.1} s wall");
        loaded.push((dataset, config, exp, wall));
    }
    let runs: Vec<Run<'_>> = loaded
        .iter()
        .map(|(dataset, config, experiment, wall)| Run {
            dataset,
            config,
            experiment,
            wall_seconds: *wall,
        })
        .collect();
    let command = format!(
        "nncert reproduce --data-dir {} --out {} --datasets {}",
        a.data_dir.display(),
        a.out.display(),
        a.datasets.join(",")
    );
    let mut staged = OutputDir::new(&a.out);
    staged.stage("REPRODUCTION.md", reproduction::markdown(&runs, &command));
    staged.commit()?;
    say!("wrote {}", a.out.join("REPRODUCTION.md").display());
    Ok(())
}
