//! Command-line arguments, checked into library types at the edge.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use nncert::applicability::{Param, Plan};
use nncert::baselines::dpa::Units;
use nncert::baselines::ensemble::BaseLearner;
use nncert::certify::threat::Threat;
use nncert::data::trigger::Trigger;
use nncert::features::BlockNorm;
use nncert::{Certification, Method, Metric, TieRule};

use crate::choices::{
    DatasetChoice, EnsembleMethodChoice, FeaturesChoice, HogNormChoice, JointChoice, MetricChoice,
    PaperChoice, ThreatChoice, TieChoice, UnitsChoice, VotesKindChoice, library_value_of, value_of,
};

/// Certified robustness of kNN and rNN classifiers against data poisoning.
///
/// With no command, runs `nncert certify` with every default: the MNIST subset built into
/// nncert, HOG features, ℓ1, kNN (k = 500) and rNN (r = 4, ISLAND), results and figures in
/// ./nncert-out/.
#[derive(Debug, Parser)]
#[command(name = "nncert", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The paper's experiment on a dataset: features, kNN/rNN votes, certificates, curves,
    /// report and figures.
    Certify(CertifyArgs),
    /// Attack kNN/rNN with real poisoned training sets and compare with the certificates.
    Attack(AttackArgs),
    /// Reproduce the paper's experiments on MNIST and CIFAR-10 and write REPRODUCTION.md.
    Reproduce(ReproduceArgs),
    /// Certify a votes matrix that came from anywhere (n_test × c counts + labels).
    CertifyVotes(CertifyVotesArgs),
    /// DPA, Finite Aggregation and Run-Off Election certificates from base models' outputs
    /// (predictions or logits) trained anywhere.
    CertifyEnsemble(CertifyEnsembleArgs),
    /// Certify a synthetic rNN-like votes matrix that nncert generates (writes the inputs too).
    Demo(DemoArgs),
    /// Download MNIST or CIFAR-10 from well-known mirrors, verifying the canonical MD5s.
    Fetch(FetchArgs),
    /// Compute HOG (or raw) features of a dataset and write them as .npy files.
    Features(FeaturesArgs),
    /// kNN and rNN votes of a dataset, one .npy per setting (what certify-votes reads).
    Votes(VotesArgs),
    /// Merge the partial results of `votes --train-shard I/N --test-shard J/M` into the
    /// files a single `votes` run writes, byte for byte.
    Merge(MergeArgs),
    /// Inspect datasets: counts, shapes, label histograms, checksums.
    #[command(subcommand)]
    Data(DataCommand),
}

impl Command {
    /// The `--threads` flag of the commands that have one (the pool is built once, in main).
    pub fn threads(&self) -> Option<usize> {
        match self {
            Command::Certify(a) => a.threads,
            Command::Attack(a) => a.search.threads,
            Command::Reproduce(a) => a.threads,
            Command::Votes(a) => a.search.threads,
            Command::Merge(a) => a.threads,
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    /// Output directory: train_features.npy, train_labels.npy, test_features.npy,
    /// test_labels.npy, report.json.
    #[arg(long, value_name = "OUT_DIR")]
    pub out: PathBuf,
}

/// Which features to compute.
#[derive(Debug, Args, Clone)]
pub struct FeatureArgs {
    /// Features: hog (scikit-image semantics, docs/METHOD.md §6) or raw (pixels / your
    /// features as they are). Default: hog for images, raw for --dataset npy.
    #[arg(long, value_enum)]
    pub features: Option<FeaturesChoice>,
    /// HOG orientation bins (default: 9).
    #[arg(long, value_name = "N")]
    pub hog_orientations: Option<usize>,
    /// HOG cell size in pixels, square (default: 8).
    #[arg(long, value_name = "PIXELS")]
    pub hog_cell: Option<usize>,
    /// HOG block size in cells, square (default: 3).
    #[arg(long, value_name = "CELLS")]
    pub hog_block: Option<usize>,
    /// HOG block normalisation (default: L2-Hys).
    #[arg(long, value_parser = library_value_of::<HogNormChoice, BlockNorm>())]
    pub hog_norm: Option<BlockNorm>,
}

impl FeatureArgs {
    /// The features to compute; without `--features`, HOG for images and raw for feature
    /// vectors (`npy`), which HOG cannot read.
    pub fn kind(&self, npy: bool) -> anyhow::Result<nncert::features::FeatureKind> {
        use nncert::features::{FeatureKind, HogParams};
        let default = if npy {
            FeaturesChoice::Raw
        } else {
            FeaturesChoice::Hog
        };
        let hog = self.features.unwrap_or(default) == FeaturesChoice::Hog;
        // A HOG flag with raw features is refused, not ignored.
        let given = [
            (Param::HogOrientations, self.hog_orientations.is_some()),
            (Param::HogCell, self.hog_cell.is_some()),
            (Param::HogBlock, self.hog_block.is_some()),
            (Param::HogNorm, self.hog_norm.is_some()),
        ];
        check_given(
            &given_params(&given),
            &Plan {
                hog,
                ..Plan::default()
            },
        )?;
        if !hog {
            return Ok(FeatureKind::Raw);
        }
        let cell = self.hog_cell.unwrap_or(8);
        let block = self.hog_block.unwrap_or(3);
        Ok(FeatureKind::Hog(HogParams {
            orientations: self.hog_orientations.unwrap_or(9),
            pixels_per_cell: (cell, cell),
            cells_per_block: (block, block),
            block_norm: self.hog_norm.unwrap_or(BlockNorm::L2Hys),
            transform_sqrt: false,
        }))
    }

    /// Whether any HOG flag was given.
    pub fn any_hog_flag(&self) -> bool {
        self.hog_orientations.is_some()
            || self.hog_cell.is_some()
            || self.hog_block.is_some()
            || self.hog_norm.is_some()
    }
}

/// The parameters of `flags` that were given.
pub fn given_params(flags: &[(Param, bool)]) -> Vec<Param> {
    flags.iter().filter(|(_, g)| *g).map(|(p, _)| *p).collect()
}

/// The library's check of which parameters apply ([`nncert::applicability`]), its message
/// naming the CLI flag (`--train-size: applies to bagging only`).
pub fn check_given(given: &[Param], plan: &Plan<'_>) -> anyhow::Result<()> {
    nncert::applicability::check_given(given, plan).map_err(|e| match e {
        nncert::Error::NotApplicable { param, reason } => {
            anyhow::anyhow!("{}: {reason}", param.flag())
        }
        other => other.into(),
    })
}

#[derive(Debug, Args)]
pub struct CertifyArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    /// kNN sizes, comma-separated, or `none` (default: 5000; 500 on the embedded subset,
    /// the same fraction of its 6,000 training images).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "K,…",
        allow_negative_numbers = true
    )]
    pub knn: Option<Vec<String>>,
    /// rNN radii, comma-separated, or `none` (default: 4 for MNIST, 20 for CIFAR-10; none
    /// for npy).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "R,…",
        allow_negative_numbers = true
    )]
    pub rnn: Option<Vec<String>>,
    /// Distance between feature vectors.
    #[arg(long, default_value = "l1", value_parser = library_value_of::<MetricChoice, Metric>())]
    pub metric: Metric,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub certify: CertifyFlags,
    #[command(flatten)]
    pub baselines: BaselineArgs,
    /// Stamp a backdoor trigger on every test image first (patch:SIZE@ROW,COL=VALUE or
    /// blend:ALPHA): the curves are then backdoor certified accuracy (docs/METHOD.md §1).
    #[arg(long, value_name = "TRIGGER", value_parser = parse_trigger)]
    pub trigger: Option<Trigger>,
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "nncert-out")]
    pub out: PathBuf,
}

/// The DPA and bagging baselines of `certify`.
#[derive(Debug, Args, Clone)]
pub struct BaselineArgs {
    /// DPA with these partition counts ζ, comma-separated (e.g. 5500).
    #[arg(long, value_delimiter = ',', value_name = "ZETA,…")]
    pub dpa: Vec<usize>,
    /// Bagging with these subsample sizes ξ, comma-separated (e.g. 27).
    #[arg(long, value_delimiter = ',', value_name = "XI,…")]
    pub bagging: Vec<u32>,
    /// Bagging: number of base classifiers N (default: 1000).
    #[arg(long, value_name = "N")]
    pub models: Option<u64>,
    /// Bagging: probability α that some certificate of the run is wrong (default: 0.001).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Base classifier of DPA, FA, ROE and bagging: centroid (nearest class mean, the
    /// default), 1nn, knn:K (majority of the K nearest members) or rnn:R (majority within
    /// radius R, abstains on an empty ball).
    #[arg(long, value_parser = parse_learner)]
    pub learner: Option<BaseLearner>,
    /// Seed of bagging's subsamples (default: 0).
    #[arg(long, value_name = "SEED")]
    pub bagging_seed: Option<u64>,
    /// Finite Aggregation with these k, comma-separated (k·d models; docs/ENSEMBLES.md).
    #[arg(long, value_delimiter = ',', value_name = "K,…")]
    pub fa: Vec<usize>,
    /// Finite Aggregation: how many models each training bucket feeds (default: 16).
    #[arg(long, value_name = "D")]
    pub fa_d: Option<usize>,
    /// Also certify Run-Off Election on every DPA and FA ensemble.
    #[arg(long)]
    pub roe: bool,
    /// Seed of Finite Aggregation's spread shifts (SplitMix64; default: 0).
    #[arg(long, value_name = "SEED")]
    pub spread_seed: Option<u64>,
}

/// Refuses a list that names one setting twice (compared as parsed values: `5,05` is 5
/// twice); each would be certified and reported twice.
pub fn refuse_duplicates<T: PartialEq + std::fmt::Display>(
    flag: &str,
    values: &[T],
) -> anyhow::Result<()> {
    for (i, x) in values.iter().enumerate() {
        if values[..i].contains(x) {
            anyhow::bail!("{flag}: `{x}` is given twice; expected distinct values");
        }
    }
    Ok(())
}

impl BaselineArgs {
    pub fn config(&self) -> anyhow::Result<nncert::experiment::BaselineConfig> {
        refuse_duplicates("--dpa", &self.dpa)?;
        refuse_duplicates("--bagging", &self.bagging)?;
        refuse_duplicates("--fa", &self.fa)?;
        if let Some(z) = self.dpa.iter().find(|&&z| z == 0) {
            anyhow::bail!("--dpa: expected ζ ≥ 1 partitions, found {z}");
        }
        if let Some(x) = self.bagging.iter().find(|&&x| x == 0) {
            anyhow::bail!("--bagging: expected ξ ≥ 1, found {x}");
        }
        let models = self.models.unwrap_or(1000);
        let alpha = self.alpha.unwrap_or(0.001);
        let fa_d = self.fa_d.unwrap_or(16);
        anyhow::ensure!(models >= 1, "--models: expected at least 1, found 0");
        anyhow::ensure!(
            alpha > 0.0 && alpha < 1.0,
            "--alpha: expected a value in (0, 1), found {alpha}"
        );
        if let Some(k) = self.fa.iter().find(|&&k| k == 0) {
            anyhow::bail!("--fa: expected k ≥ 1, found {k}");
        }
        anyhow::ensure!(fa_d >= 1, "--fa-d: expected d ≥ 1, found 0");
        let mut methods = Vec::new();
        for (method, runs) in [
            (nncert::Method::Dpa, !self.dpa.is_empty()),
            (nncert::Method::Fa, !self.fa.is_empty()),
            (nncert::Method::Bagging, !self.bagging.is_empty()),
        ] {
            if runs {
                methods.push(method);
            }
        }
        let given = [
            (Param::Models, self.models.is_some()),
            (Param::Alpha, self.alpha.is_some()),
            (Param::BaggingSeed, self.bagging_seed.is_some()),
            (Param::Learner, self.learner.is_some()),
            (Param::FaD, self.fa_d.is_some()),
            (Param::SpreadSeed, self.spread_seed.is_some()),
        ];
        check_given(
            &given_params(&given),
            &Plan {
                methods: &methods,
                ..Plan::default()
            },
        )?;
        anyhow::ensure!(
            !self.roe || !self.dpa.is_empty() || !self.fa.is_empty(),
            "--roe: Run-Off Election runs on the DPA and FA ensembles; give --dpa ZETA or --fa K"
        );
        Ok(nncert::experiment::BaselineConfig {
            dpa: self.dpa.clone(),
            bagging: self.bagging.clone(),
            bagging_models: models,
            alpha,
            learner: self.learner.unwrap_or(BaseLearner::Centroid),
            seed: self.bagging_seed.unwrap_or(0),
            ensembles: nncert::experiment::EnsembleConfig {
                fa: self.fa.clone(),
                d: fa_d,
                roe: self.roe,
                spread_seed: self.spread_seed.unwrap_or(0),
            },
        })
    }
}

/// The default k: the paper's 5,000 (500 on the embedded subset) while it is below the
/// training-set size; on npy input, or when the training set is smaller (the 4,000-image
/// CIFAR-10 subset), one twelfth of the training set (MNIST's 5,000 of 60,000), at most
/// 5,000. With k ≥ n_train every training example votes and kNN predicts the majority class.
fn default_k(paper: usize, dataset: &nncert::data::Dataset) -> usize {
    let n = dataset.train.len();
    if dataset.name != "npy" && paper < n {
        paper
    } else {
        (n / 12).clamp(1, 5000)
    }
}

/// A comma-separated list of numbers, or `none`. Duplicates are found on the parsed values
/// (`5,05` and `1,1.0` name one setting twice), not on the text.
fn parse_list<T: std::str::FromStr + PartialEq>(
    values: &Option<Vec<String>>,
    flag: &str,
    default: Vec<T>,
) -> anyhow::Result<Vec<T>> {
    match values {
        None => Ok(default),
        Some(v) if v.len() == 1 && v[0] == "none" => Ok(Vec::new()),
        Some(v) => {
            let parsed = v
                .iter()
                .map(|x| {
                    x.trim().parse::<T>().map_err(|_| {
                        anyhow::anyhow!("{flag}: expected a number or `none`, found `{x}`")
                    })
                })
                .collect::<anyhow::Result<Vec<T>>>()?;
            for (i, x) in parsed.iter().enumerate() {
                if let Some(j) = parsed[..i].iter().position(|y| y == x) {
                    let (first, again) = (v[j].trim(), v[i].trim());
                    if first == again {
                        anyhow::bail!("{flag}: `{again}` is given twice; expected distinct values");
                    }
                    anyhow::bail!(
                        "{flag}: `{again}` is `{first}` given twice; expected distinct values"
                    );
                }
            }
            Ok(parsed)
        }
    }
}

impl CertifyArgs {
    /// The library's experiment configuration, with the paper's defaults for `dataset`.
    pub fn config(
        &self,
        dataset: &nncert::data::Dataset,
    ) -> anyhow::Result<nncert::experiment::ExperimentConfig> {
        let (k_default, r_default) = nncert::paper::default_classifiers(&dataset.name);
        let k_default = k_default
            .into_iter()
            .map(|k| default_k(k, dataset))
            .collect();
        let search = SearchArgs {
            knn: self.knn.clone(),
            rnn: self.rnn.clone(),
            metric: self.metric,
            threads: self.threads,
        };
        let search = search.config_or(k_default, r_default)?;
        anyhow::ensure!(
            !search.ks.is_empty()
                || !search.radii.is_empty()
                || !self.baselines.dpa.is_empty()
                || !self.baselines.bagging.is_empty()
                || !self.baselines.fa.is_empty(),
            "nothing to certify: give --knn K,…, --rnn R,…, --dpa ZETA, --fa K or --bagging XI"
        );
        if search.radii.is_empty()
            && self
                .certify
                .joint
                .as_ref()
                .is_some_and(|j| j.iter().flatten().next().is_some())
        {
            anyhow::bail!(
                "--joint: joint certification applies to rNN only; give --rnn R,… or drop --joint"
            );
        }
        let options = self.certify.options(nncert::Method::Rnn, "")?;
        Ok(nncert::experiment::ExperimentConfig {
            features: self.features.kind(dataset.name == "npy")?,
            search,
            joint: options.joint,
            seed: options.seed,
            max_e: options.max_e,
            tie: options.tie,
            threat: options.threat,
            baselines: self.baselines.config()?,
        })
    }

    /// Refuses, before any work, flags that do not apply to this run (the dataset is not
    /// needed to decide).
    pub fn check_flags_apply(&self) -> anyhow::Result<()> {
        self.features.kind(self.dataset.name()? == "npy")?;
        self.certify.options(nncert::Method::Rnn, "")?;
        self.baselines.config()?;
        Ok(())
    }

    /// The default job: the embedded MNIST subset, the paper's defaults, into ./nncert-out.
    pub fn default_job() -> CertifyArgs {
        use clap::Parser;
        match Cli::try_parse_from(["nncert", "certify"]) {
            Ok(Cli {
                command: Some(Command::Certify(a)),
            }) => a,
            _ => unreachable!("`nncert certify` parses"),
        }
    }
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Poisoning sizes to attack with, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "E,…")]
    pub e: Vec<u64>,
    /// Attack only the first N test inputs.
    #[arg(long, value_name = "N")]
    pub n_test: Option<usize>,
    /// Backdoor: stamp this trigger on the test images (patch:SIZE@ROW,COL=VALUE or
    /// blend:ALPHA) and also mount the backdoor attack (needs --target-label).
    #[arg(long, value_name = "TRIGGER", value_parser = parse_trigger)]
    pub trigger: Option<Trigger>,
    /// Backdoor: the label the poisoned, triggered training examples carry.
    #[arg(long, value_name = "L")]
    pub target_label: Option<u32>,
    /// Which label wins equal votes.
    #[arg(long, default_value = "larger", value_parser = library_value_of::<TieChoice, TieRule>())]
    pub tie_rule: TieRule,
    /// Output directory: attack.csv, attack_sets.csv, attack_poison.csv, report.json, figures/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The shared data directory (mnist/ and the CIFAR-10 batches or archive).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Output directory: mnist/, cifar10/ and REPRODUCTION.md.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Which datasets, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mnist,cifar10"
    )]
    pub datasets: Vec<PaperChoice>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct VotesArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Also write the neighbours: the largest k's indices (knn_k<K>_neighbours.npy, int32,
    /// n_test × k, nearest first) and every training example within the largest radius
    /// (rnn_r<R>_neighbours.npy, int32, flat, with rnn_r<R>_offsets.npy, int64, n_test + 1).
    #[arg(long)]
    pub neighbours: bool,
    /// Search only training shard I of N (rows ⌊(I−1)n/N⌋ to ⌊In/N⌋) and write a partial
    /// result (--out DIR/partial.nncert) for `nncert merge`.
    #[arg(long, value_name = "I/N")]
    pub train_shard: Option<String>,
    /// Search only test block J of M (rows ⌊(J−1)n/M⌋ to ⌊Jn/M⌋) and write a partial
    /// result for `nncert merge`.
    #[arg(long, value_name = "J/M")]
    pub test_shard: Option<String>,
    /// Output directory: knn_k<K>.npy, rnn_r<R>.npy (int32, n_test × c), test_labels.npy,
    /// report.json; with --train-shard/--test-shard: partial.nncert and report.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Partial results: partial.nncert files, or the directories `votes --train-shard …`
    /// wrote. Every training shard of every test block exactly once.
    #[arg(required = true, value_name = "PARTIAL")]
    pub partials: Vec<PathBuf>,
    /// The dataset of the votes runs: needed only when some pairs need exact keys (merge
    /// says so); checked against the checksums in the partials.
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The features of the votes runs (with the dataset).
    #[command(flatten)]
    pub features: FeatureArgs,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Output directory: the files `votes` writes (same bytes) and report.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Which neighbours to search for.
#[derive(Debug, Args, Clone)]
pub struct SearchArgs {
    /// kNN sizes, comma-separated (e.g. 1000,3000,5000), or `none`.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "K,…",
        allow_negative_numbers = true
    )]
    pub knn: Option<Vec<String>>,
    /// rNN radii, comma-separated (e.g. 3,4,5): neighbours at distance ≤ r; or `none`.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "R,…",
        allow_negative_numbers = true
    )]
    pub rnn: Option<Vec<String>>,
    /// Distance between feature vectors.
    #[arg(long, default_value = "l1", value_parser = library_value_of::<MetricChoice, Metric>())]
    pub metric: Metric,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl SearchArgs {
    /// The search asked for; an option not given means no search of that kind.
    pub fn config(&self) -> anyhow::Result<nncert::neighbours::SearchConfig> {
        self.config_or(Vec::new(), Vec::new())
    }

    /// The search asked for, with `ks` / `radii` when `--knn` / `--rnn` is not given.
    /// Both options have one grammar in every command: numbers, comma-separated, or `none`.
    pub fn config_or(
        &self,
        ks: Vec<usize>,
        radii: Vec<f64>,
    ) -> anyhow::Result<nncert::neighbours::SearchConfig> {
        let ks: Vec<usize> = parse_list(&self.knn, "--knn", ks)?;
        let radii: Vec<f64> = parse_list(&self.rnn, "--rnn", radii)?;
        if let Some(k) = ks.iter().find(|&&k| k == 0) {
            anyhow::bail!("--knn: expected k ≥ 1, found {k}");
        }
        let metric = self.metric;
        // For ip, r is an inner-product threshold and may be negative.
        let signed = metric == nncert::neighbours::Metric::Ip;
        if let Some(r) = radii
            .iter()
            .find(|r| !r.is_finite() || (**r < 0.0 && !signed))
        {
            anyhow::bail!("--rnn: expected a finite radius ≥ 0, found {r}");
        }
        Ok(nncert::neighbours::SearchConfig {
            metric,
            ks,
            radii,
            kernel: nncert::neighbours::Kernel::detect()?,
            keep_neighbours: false,
        })
    }
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// mnist (four IDX .gz files, into DIR/mnist) or cifar10 (cifar-10-binary.tar.gz, into DIR).
    #[arg(value_enum)]
    pub dataset: PaperChoice,
    /// Where to put the files.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Base URL to fetch from instead of the built-in mirrors (repeatable; tried in order).
    #[arg(long, value_name = "URL")]
    pub mirror: Vec<String>,
    /// Seconds to wait for a connection before trying the next mirror.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub connect_timeout: u64,
    /// Seconds to wait for the server's reply once connected.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// Seconds one file's whole download may take.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub max_time: u64,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print counts, shape, label histogram and checksums, and whether the files match
    /// the canonical releases.
    Info(DataInfoArgs),
}

#[derive(Debug, Args)]
pub struct DataInfoArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    /// Distance of the neighbour-distance quantiles.
    #[arg(long, default_value = "l1", value_parser = library_value_of::<MetricChoice, Metric>())]
    pub metric: Metric,
    /// Neighbour-distance quantiles over the first N test inputs (0: none).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub distance_sample: usize,
}

/// Which dataset to load.
#[derive(Debug, Args, Clone)]
pub struct DatasetArgs {
    /// mnist, cifar10, npy (your own features), or embedded (the MNIST subset built in).
    /// Default: npy when --train-features and friends are given, else embedded.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetChoice>,
    /// Directory holding the dataset files (for mnist: the four IDX files, plain or .gz, in
    /// DIR or DIR/mnist; for cifar10: cifar-10-binary.tar.gz, or the batches, see README).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// npy: training features, 2-D float32/float64/uint8 (n_train, d).
    #[arg(long, value_name = "F.npy")]
    pub train_features: Option<PathBuf>,
    /// npy: training labels, 1-D integer.
    #[arg(long, value_name = "L.npy")]
    pub train_labels: Option<PathBuf>,
    /// npy: test features, 2-D (n_test, d).
    #[arg(long, value_name = "F.npy")]
    pub test_features: Option<PathBuf>,
    /// npy: test labels, 1-D integer.
    #[arg(long, value_name = "L.npy")]
    pub test_labels: Option<PathBuf>,
    /// npy: number of classes (default: largest label + 1).
    #[arg(long, value_name = "C")]
    pub classes: Option<usize>,
}

impl DatasetArgs {
    /// The dataset asked for: `--dataset`, or npy when only npy flags are given. Flags that
    /// do not apply to the dataset are refused rather than ignored.
    pub fn name(&self) -> anyhow::Result<&str> {
        let npy_flags = [
            ("--train-features", self.train_features.is_some()),
            ("--train-labels", self.train_labels.is_some()),
            ("--test-features", self.test_features.is_some()),
            ("--test-labels", self.test_labels.is_some()),
            ("--classes", self.classes.is_some()),
        ];
        let given = npy_flags.iter().find(|(_, g)| *g).map(|(f, _)| *f);
        let name = match (self.dataset.map(DatasetChoice::name), given) {
            (Some(d), _) => d,
            (None, Some(_)) => "npy",
            (None, None) => "embedded",
        };
        if let Some(flag) = given.filter(|_| name != "npy") {
            anyhow::bail!("{flag}: applies to --dataset npy only, not --dataset {name}");
        }
        if self.data_dir.is_some() && matches!(name, "npy" | "embedded") {
            anyhow::bail!(
                "--data-dir: applies to --dataset mnist or cifar10, not --dataset {name}"
            );
        }
        Ok(name)
    }

    /// Every file or directory given (the output directory must not cover any of them).
    pub fn input_paths(&self) -> Vec<&std::path::Path> {
        [
            &self.data_dir,
            &self.train_features,
            &self.train_labels,
            &self.test_features,
            &self.test_labels,
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect()
    }

    /// Checks the combination and names the missing flag.
    pub fn spec(&self) -> anyhow::Result<nncert::data::DatasetSpec> {
        use nncert::data::DatasetSpec;
        let name = self.name()?;
        if let Some(c) = self.classes.filter(|&c| c < 2) {
            anyhow::bail!("--classes: expected at least 2 classes, found {c}");
        }
        let dir = || {
            self.data_dir
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--dataset {name} needs --data-dir DIR"))
        };
        Ok(match name {
            "embedded" => DatasetSpec::Embedded,
            "mnist" => DatasetSpec::Mnist(dir()?),
            "cifar10" => DatasetSpec::Cifar10(dir()?),
            _ => {
                let need = |p: &Option<PathBuf>, flag: &str| {
                    p.clone()
                        .ok_or_else(|| anyhow::anyhow!("--dataset npy needs {flag} FILE.npy"))
                };
                DatasetSpec::Npy(
                    nncert::data::npy_features::NpyPaths {
                        train_features: need(&self.train_features, "--train-features")?,
                        train_labels: need(&self.train_labels, "--train-labels")?,
                        test_features: need(&self.test_features, "--test-features")?,
                        test_labels: need(&self.test_labels, "--test-labels")?,
                    },
                    self.classes,
                )
            }
        })
    }
}

#[derive(Debug, Args)]
pub struct CertifyVotesArgs {
    /// 2-D integer .npy of vote counts, shape (n_test, c), C order.
    #[arg(long, value_name = "VOTES.npy")]
    pub votes: PathBuf,
    /// 1-D integer .npy of true labels, length n_test, values < c.
    #[arg(long, value_name = "LABELS.npy")]
    pub labels: PathBuf,
    /// Which classifier produced the votes: knn (individual certificate only), rnn
    /// (individual and joint), dpa (votes of ζ partition classifiers) or bagging (votes of
    /// N subsample classifiers). FA and ROE: `nncert certify-ensemble`.
    #[arg(long, value_parser = parse_votes_kind)]
    pub kind: Method,
    /// Parameter text copied to the outputs (k, r, ζ or ξ; for bagging default: ξ).
    #[arg(long, default_value = "")]
    pub param: String,
    #[command(flatten)]
    pub certify: CertifyFlags,
    /// dpa: units of e: poisoning (nncert's, a modification counts 1) or insdel (DPA's
    /// insertions + deletions, a modification counts 2).
    /// Default: poisoning.
    #[arg(long, value_parser = value_of::<UnitsChoice, Units>())]
    pub units: Option<Units>,
    /// bagging: number of base classifiers N (each row's votes sum to at most N).
    #[arg(long, value_name = "N")]
    pub models: Option<u64>,
    /// bagging: subsample size ξ.
    #[arg(long, value_name = "XI")]
    pub subsample: Option<u32>,
    /// bagging: training-set size n.
    #[arg(long, value_name = "n")]
    pub train_size: Option<u64>,
    /// bagging: probability α that some certificate of the run is wrong (default: 0.001).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Output directory (created, or replaced whole if it holds an earlier nncert output).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CertifyEnsembleArgs {
    /// 2-D integer .npy, shape (n_test, n_models): each base model's predicted label, or
    /// the abstain code.
    #[arg(long, value_name = "PREDICTIONS.npy")]
    pub predictions: Option<PathBuf>,
    /// 3-D float32/float64 .npy, shape (n_test, n_models, c): each base model's logits
    /// (no NaN; a model whose logits are all -inf abstains). Needed for roe-dpa and roe-fa.
    #[arg(long, value_name = "LOGITS.npy")]
    pub logits: Option<PathBuf>,
    /// 1-D integer .npy of true labels, length n_test.
    #[arg(long, value_name = "LABELS.npy")]
    pub labels: PathBuf,
    /// Defenses to certify, comma-separated: dpa, fa, roe-dpa, roe-fa. Default: dpa,fa with
    /// --predictions, all four with --logits.
    #[arg(long, value_delimiter = ',', value_parser = value_of::<EnsembleMethodChoice, Method>())]
    pub method: Vec<Method>,
    /// FA: how many models each bucket feeds (the number of models must be k·d).
    #[arg(long)]
    pub d: Option<usize>,
    /// FA: the d distinct shifts of the spread (bucket b feeds models (b + s) mod k·d),
    /// comma-separated; default: drawn from --spread-seed.
    #[arg(long, value_delimiter = ',')]
    pub shifts: Option<Vec<usize>>,
    /// FA: seed of the shifts when --shifts is not given (SplitMix64, docs/ENSEMBLES.md;
    /// default: 0).
    #[arg(long, value_name = "SEED")]
    pub spread_seed: Option<u64>,
    /// The value that marks an abstaining model in --predictions (not a label; default: -1).
    #[arg(long, allow_negative_numbers = true, value_name = "CODE")]
    pub abstain: Option<i64>,
    /// Number of labels (default: largest label or prediction + 1; with --logits: the
    /// last dimension).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Units of e, comma-separated: poisoning (nncert's, a modification counts 1) and/or
    /// insdel (the papers': insertions and deletions, each counts 1).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "poisoning,insdel",
        value_parser = value_of::<UnitsChoice, Units>()
    )]
    pub units: Vec<Units>,
    /// Parameter text for the outputs (default: k=… and d=… of each ensemble); the units
    /// are always appended.
    #[arg(long, default_value = "")]
    pub param: String,
    /// Last poisoning size of every curve (default: until each reaches 0).
    #[arg(long, value_name = "N")]
    pub max_e: Option<u64>,
    /// Output directory (created; existing files of the same names are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl CertifyEnsembleArgs {
    /// The methods asked, checked to be ensemble defenses.
    pub fn methods(&self) -> anyhow::Result<Vec<Method>> {
        let methods = if self.method.is_empty() {
            if self.logits.is_some() {
                vec![Method::Dpa, Method::Fa, Method::RoeDpa, Method::RoeFa]
            } else {
                vec![Method::Dpa, Method::Fa]
            }
        } else {
            self.method.clone()
        };
        refuse_duplicates("--method", &methods)?;
        if let Some(m) = methods
            .iter()
            .find(|m| !matches!(m, Method::Dpa | Method::Fa | Method::RoeDpa | Method::RoeFa))
        {
            anyhow::bail!("--method: expected dpa, fa, roe-dpa or roe-fa, found {m}");
        }
        if self.logits.is_none()
            && let Some(m) = methods
                .iter()
                .find(|m| matches!(m, Method::RoeDpa | Method::RoeFa))
        {
            anyhow::bail!(
                "--method {m}: Run-Off Election needs each model's ranking of the labels; give --logits LOGITS.npy instead of --predictions"
            );
        }
        if self.classes.is_some() && self.logits.is_some() {
            anyhow::bail!("--classes: the number of labels of --logits is its last dimension");
        }
        let given = [
            (Param::Abstain, self.abstain.is_some()),
            (Param::D, self.d.is_some()),
            (Param::Shifts, self.shifts.is_some()),
            (Param::SpreadSeed, self.spread_seed.is_some()),
        ];
        check_given(
            &given_params(&given),
            &Plan {
                methods: &methods,
                logits: self.logits.is_some(),
                shifts: self.shifts.is_some(),
                ..Plan::default()
            },
        )?;
        Ok(methods)
    }

    /// The code of an abstaining model in `--predictions`.
    pub fn abstain_code(&self) -> i64 {
        self.abstain.unwrap_or(-1)
    }

    /// The units asked.
    pub fn units(&self) -> anyhow::Result<Vec<Units>> {
        let mut out = Vec::new();
        for &unit in &self.units {
            if !out.contains(&unit) {
                out.push(unit);
            }
        }
        Ok(out)
    }

    /// FA's spread over `n_models` models, when fa or roe-fa is asked.
    pub fn fa_spread(
        &self,
        n_models: usize,
        methods: &[Method],
    ) -> anyhow::Result<Option<nncert::baselines::spread::Spread>> {
        use nncert::baselines::spread::Spread;
        if !methods
            .iter()
            .any(|m| matches!(m, Method::Fa | Method::RoeFa))
        {
            return Ok(None);
        }
        let d = match (self.d, &self.shifts) {
            (Some(d), _) => d,
            (None, Some(s)) => s.len(),
            (None, None) => anyhow::bail!("--method fa / roe-fa needs --d D (or --shifts)"),
        };
        if d == 0 || !n_models.is_multiple_of(d) {
            anyhow::bail!(
                "--d: expected a divisor of the number of models ({n_models} = k·d), found {d}"
            );
        }
        let k = n_models / d;
        Ok(Some(match &self.shifts {
            Some(s) => Spread::new(k, d, s.clone())?,
            None => Spread::seeded(k, d, self.spread_seed.unwrap_or(0))?,
        }))
    }
}

/// Flags shared by every command that certifies.
#[derive(Debug, Args, Clone)]
pub struct CertifyFlags {
    /// Joint certifications for rNN, comma-separated: island, rd, polish (ISLAND improved
    /// label by label), cluster (certified clusters plus cheap sacrifices; never below
    /// polish), island-label, rd-label, polish-label, cluster-label (the same groups under
    /// the one-label bound: an inserted example carries one label), lp, lp-label (groups
    /// rounded from the LP relaxation; never below cluster), search-label (groups searched
    /// for the one-label bound; never below cluster-label), best (= pointwise maximum of
    /// all bounds computed, always including island-label, cluster-label and
    /// search-label), or none.
    /// Default for rnn: island.
    #[arg(
        long,
        value_delimiter = ',',
        hide_possible_values = true,
        value_parser = value_of::<JointChoice, Option<Certification>>()
    )]
    pub joint: Option<Vec<Option<Certification>>>,
    /// Seed of the RD random division (default: 0; only with rd or rd-label in --joint).
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Last poisoning size of every curve (default: until every curve reaches 0).
    #[arg(long, value_name = "N")]
    pub max_e: Option<u64>,
    /// Which label wins equal votes: larger (paper) or smaller (DPA convention).
    #[arg(long, default_value = "larger", value_parser = library_value_of::<TieChoice, TieRule>())]
    pub tie_rule: TieRule,
    /// What the attacker may do: general (insertions, deletions, modifications), insert,
    /// delete or flip (labels only). See docs/METHOD.md §8.
    #[arg(long, default_value = "general", value_parser = library_value_of::<ThreatChoice, Threat>())]
    pub threat: Threat,
}

impl CertifyVotesArgs {
    /// Refuses flags that do not apply to `--kind` instead of ignoring them (the library's
    /// rules, [`nncert::applicability`]).
    pub fn check_flags_apply(&self) -> anyhow::Result<()> {
        let given = [
            (Param::Units, self.units.is_some()),
            (Param::Models, self.models.is_some()),
            (Param::Subsample, self.subsample.is_some()),
            (Param::TrainSize, self.train_size.is_some()),
            (Param::Alpha, self.alpha.is_some()),
        ];
        check_given(
            &given_params(&given),
            &Plan {
                methods: &[self.kind],
                ..Plan::default()
            },
        )
    }
}

impl CertifyFlags {
    /// The library's options for `method`, with these flags applied, checked: the
    /// combination is valid and `--seed` is refused unless an RD division runs.
    pub fn options(&self, method: Method, param: &str) -> anyhow::Result<nncert::CurveOptions> {
        let mut o = nncert::CurveOptions::new(method, param);
        if let Some(joint) = &self.joint {
            o.joint = joint.iter().flatten().copied().collect();
        }
        o.seed = self.seed.unwrap_or(0);
        o.max_e = self.max_e;
        o.tie = self.tie_rule;
        o.threat = self.threat;
        o.validate()?;
        check_given(
            &given_params(&[(Param::Seed, self.seed.is_some())]),
            &Plan {
                methods: &[method],
                joint: &o.joint,
                ..Plan::default()
            },
        )?;
        Ok(o)
    }
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "nncert-out")]
    pub out: PathBuf,
    /// Seed of the generated votes.
    #[arg(long, default_value_t = 1)]
    pub data_seed: u64,
    /// Number of generated test inputs.
    #[arg(long, default_value_t = 2000)]
    pub n_test: usize,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            out: PathBuf::from("nncert-out"),
            data_seed: 1,
            n_test: 2000,
        }
    }
}

fn parse_trigger(s: &str) -> Result<Trigger, String> {
    s.parse().map_err(|e: nncert::Error| e.to_string())
}

/// `--kind` of certify-votes: only the classifiers whose vote counts can be certified are
/// listed; FA and ROE are pointed to `certify-ensemble`.
fn parse_votes_kind(s: &str) -> Result<Method, String> {
    use clap::ValueEnum;
    if let Ok(choice) = VotesKindChoice::from_str(s, false) {
        return Ok(choice.into());
    }
    match s.parse::<Method>() {
        Ok(m) => Err(format!(
            "`{m}`: Finite Aggregation and Run-Off Election need each base model's output, \
             not vote counts; use `nncert certify-ensemble --predictions …` or `--logits …`"
        )),
        Err(_) => Err(format!("expected knn, rnn, dpa or bagging, found `{s}`")),
    }
}

fn parse_learner(s: &str) -> Result<BaseLearner, String> {
    s.parse().map_err(|e: nncert::Error| e.to_string())
}
