//! `nncert reproduce`: the paper's experiments on MNIST and CIFAR-10, and REPRODUCTION.md.

use std::time::Instant;

use anyhow::Result;
use nncert::data::DatasetSpec;
use nncert::neighbours::Kernel;
use nncert::paper::PaperDataset;
use nncert::report::OutputDir;
use nncert::report::reproduction::{self, Run};

use crate::args::ReproduceArgs;
use crate::certify_cmd;

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
        let paper = if name == "mnist" {
            PaperDataset::Mnist
        } else {
            PaperDataset::Cifar10
        };
        let config = paper.experiment_config(kernel);
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
