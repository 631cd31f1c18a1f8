//! `nncert reproduce`: the paper's experiments on MNIST and CIFAR-10, and REPRODUCTION.md.

use std::time::Instant;

use anyhow::Result;
use nncert::data::DatasetSpec;
use nncert::neighbours::Kernel;
use nncert::paper::PaperDataset;
use nncert::report::OutputDir;
use nncert::report::reproduction::{self, Run};

use crate::args::ReproduceArgs;
use crate::commands::certify_cmd;

pub fn run(a: &ReproduceArgs) -> Result<()> {
    OutputDir::preflight(&a.out, &[&a.data_dir])?;
    let kernel = Kernel::detect()?;
    // One staged directory for everything: a failure on CIFAR-10 leaves no mnist/ behind.
    let mut staged = OutputDir::new(&a.out);
    // Every dataset is loaded (and checked) before any computation.
    let mut datasets = Vec::new();
    for &paper in &a.datasets {
        let start = Instant::now();
        let spec = match PaperDataset::from(paper) {
            PaperDataset::Mnist => DatasetSpec::Mnist(a.data_dir.clone()),
            PaperDataset::Cifar10 => DatasetSpec::Cifar10(a.data_dir.clone()),
        };
        datasets.push((paper, nncert::data::load(&spec)?, start.elapsed()));
    }
    let mut loaded = Vec::new();
    for (paper, dataset, load_time) in datasets {
        let start = Instant::now();
        let config = PaperDataset::from(paper).experiment_config(kernel);
        let exp = certify_cmd::run_and_stage(
            &dataset,
            &config,
            &mut staged,
            std::path::Path::new(&dataset.name),
        )?;
        let wall = (start.elapsed() + load_time).as_secs_f64();
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
        a.datasets
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(",")
    );
    staged.stage("REPRODUCTION.md", reproduction::markdown(&runs, &command));
    staged.commit()?;
    for (dataset, _, exp, wall) in &loaded {
        certify_cmd::print_summary(dataset, exp, &a.out.join(&dataset.name));
        say!("{}: {wall:.1} s wall", dataset.name);
    }
    say!("wrote {}", a.out.join("REPRODUCTION.md").display());
    Ok(())
}
