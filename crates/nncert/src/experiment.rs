//! One experiment: a dataset, its features, kNN and rNN votes for several k and r, and
//! every certificate curve — the paper's figures in one value.

use std::time::Instant;

use serde::Serialize;

use crate::baselines::aggregation::AggregateCertificate;
use crate::baselines::bagging::{self, BaggingParams};
use crate::baselines::builtin::{TrainedCertificates, certify_trained};
use crate::baselines::dpa::{self, Units};
use crate::baselines::ensemble::{BaseLearner, Ensemble};
use crate::baselines::spread::Spread;
use crate::baselines::{BaselineCertificate, baseline_curve};
use crate::certify::threat::{Threat, knn_delete_e_star, knn_insert_e_star};
use crate::certify::{Certification, Method, PointCertificate, certify_points};
use crate::classifier::Classifier;
use crate::curve::{Curve, CurveOptions, GroupingGap, certify_votes, curves_from_points};
use crate::data::Dataset;
use crate::error::Error;
use crate::features::{self, FeatureKind};
use crate::neighbours::{Neighbour, SearchConfig, SearchResult};
use crate::pipeline::{self, Progress, StageSeconds};
use crate::votes::{TieRule, Votes};

/// Everything that defines an experiment besides the dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentConfig {
    /// Features the neighbours are searched on.
    pub features: FeatureKind,
    /// Metric, k values, radii, kernel.
    pub search: SearchConfig,
    /// Joint certifications for every rNN setting.
    pub joint: Vec<Certification>,
    /// RD seed.
    pub seed: u64,
    /// Last e of every curve (None: until each reaches 0).
    pub max_e: Option<u64>,
    /// Label tie rule.
    pub tie: TieRule,
    /// What the attacker may do (METHOD §8).
    pub threat: Threat,
    /// DPA and bagging to compare with (none by default).
    pub baselines: BaselineConfig,
}

/// The baselines of an experiment (METHOD §5), trained on the same features.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineConfig {
    /// DPA partition counts ζ.
    pub dpa: Vec<usize>,
    /// Bagging subsample sizes ξ.
    pub bagging: Vec<u32>,
    /// Bagging's number of models N.
    pub bagging_models: u64,
    /// Bagging's failure probability α.
    pub alpha: f64,
    /// Base classifier of both.
    pub learner: BaseLearner,
    /// Seed of bagging's subsamples.
    pub seed: u64,
    /// Finite Aggregation and Run-Off Election (off by default; absent from reports then).
    #[serde(skip_serializing_if = "EnsembleConfig::is_off")]
    pub ensembles: EnsembleConfig,
}

/// Finite Aggregation and Run-Off Election on the experiment's features, with the
/// baselines' base learner (`docs/ENSEMBLES.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnsembleConfig {
    /// FA with these `k` (each with `k·d` models).
    pub fa: Vec<usize>,
    /// FA's spread `d`.
    pub d: usize,
    /// Also Run-Off Election on every DPA and FA ensemble.
    pub roe: bool,
    /// Seed of FA's shifts.
    pub spread_seed: u64,
}

impl EnsembleConfig {
    /// Nothing to run.
    pub(crate) fn is_off(&self) -> bool {
        self.fa.is_empty() && !self.roe
    }
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            fa: Vec::new(),
            d: 16,
            roe: false,
            spread_seed: 0,
        }
    }
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            dpa: Vec::new(),
            bagging: Vec::new(),
            bagging_models: 1000,
            alpha: 0.001,
            learner: BaseLearner::Centroid,
            seed: 0,
            ensembles: EnsembleConfig::default(),
        }
    }
}

/// One classifier setting (a k, an r, a ζ or a ξ) and its certificates.
#[derive(Debug, Clone)]
pub struct Setting {
    /// kNN with its k, rNN with its r, DPA with its ζ, bagging with its ξ, …
    pub classifier: Classifier,
    /// Its votes.
    pub votes: Votes,
    /// Its curves (individual first).
    pub curves: Vec<Curve>,
    /// Per test input: prediction and certified size.
    pub rows: Vec<ExampleRow>,
    /// Last e of the curves.
    pub max_e: u64,
    /// rNN: test inputs with no neighbour within r.
    pub empty_neighbourhoods: Option<usize>,
    /// rNN with POLISH: POLISH against the upper bound over all groupings.
    pub grouping_gap: Option<GroupingGap>,
}

impl Setting {
    /// Which kind of classifier.
    pub fn method(&self) -> Method {
        self.classifier.method()
    }

    /// Test inputs whose clean prediction is their label.
    pub fn clean_correct(&self) -> usize {
        self.rows.iter().filter(|r| r.predicted == r.label).count()
    }

    /// A baseline setting (DPA, bagging) from its per-input certificates.
    pub fn from_baseline(
        classifier: Classifier,
        votes: Votes,
        certs: &[BaselineCertificate],
        max_e: Option<u64>,
    ) -> Result<Setting, Error> {
        let curve = baseline_curve(classifier.clone(), certs, max_e)?;
        Ok(Setting {
            classifier,
            votes,
            max_e: curve.max_e,
            curves: vec![curve],
            rows: certs.iter().map(Into::into).collect(),
            empty_neighbourhoods: None,
            grouping_gap: None,
        })
    }
}

/// Seconds per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExperimentSeconds {
    /// Features, ranks, neighbours.
    #[serde(flatten)]
    pub votes: StageSeconds,
    /// Certificates and curves of every setting.
    pub certify: f64,
    /// Training and running the baselines' ensembles.
    pub baselines: f64,
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct Experiment {
    /// kNN settings (k as asked), then rNN, DPA and bagging settings.
    pub settings: Vec<Setting>,
    /// Stage timings.
    pub seconds: ExperimentSeconds,
    /// Queries whose top-k threshold fell back to an exhaustive pass.
    pub threshold_fallbacks: usize,
}

/// How the votes of every kNN and rNN setting are certified (the part of an
/// [`ExperimentConfig`] that does not concern the search).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertifyOptions {
    /// Joint certifications for every rNN setting (kNN has none: one kNN removal can change
    /// the votes of two labels).
    pub joint: Vec<Certification>,
    /// RD seed.
    pub seed: u64,
    /// Last e of every curve (None: until each reaches 0).
    pub max_e: Option<u64>,
    /// Label tie rule.
    pub tie: TieRule,
    /// What the attacker may do (METHOD §8).
    pub threat: Threat,
}

impl Default for CertifyOptions {
    /// The paper's: ISLAND for rNN, seed 0, every e until 0, the larger label wins ties,
    /// the general threat model.
    fn default() -> Self {
        CertifyOptions {
            joint: vec![Certification::Island],
            seed: 0,
            max_e: None,
            tie: TieRule::default(),
            threat: Threat::General,
        }
    }
}

impl CertifyOptions {
    /// How far the exact kNN certificate under `delete` looks (METHOD §8): up to `max_e`
    /// deletions, or `k` when no `max_e` is given (`e*` is then reported capped at it).
    pub(crate) fn delete_cap(&self, k: usize) -> u64 {
        self.max_e.unwrap_or(k as u64)
    }

    /// The search that certifying `config`'s settings under these options needs: `config`
    /// itself, with neighbour lists long enough for the exact kNN certificates under
    /// `insert` (the first k) and `delete` (the first k + cap). Returns the k whose votes
    /// were added only to lengthen the lists (drop it with [`drop_list_only_k`]).
    pub fn search_config(&self, config: &SearchConfig) -> (SearchConfig, Option<usize>) {
        let mut config = config.clone();
        let Some(&k_max) = config.ks.iter().max() else {
            return (config, None);
        };
        if !matches!(self.threat, Threat::Insert | Threat::Delete) {
            return (config, None);
        }
        config.keep_neighbours = true;
        if self.threat == Threat::Delete {
            let longest = k_max.saturating_add(self.delete_cap(k_max) as usize);
            if !config.ks.contains(&longest) {
                config.ks.push(longest);
                return (config, Some(longest));
            }
        }
        (config, None)
    }
}

/// Removes the votes of the k that [`CertifyOptions::search_config`] added.
pub fn drop_list_only_k(result: &mut SearchResult, added: Option<usize>) {
    if let Some(k) = added {
        result.knn.retain(|kv| kv.k != k);
    }
}

/// The exact kNN certificates under `insert` or `delete` (METHOD §8) from each test
/// input's ordered neighbours; the general certificate for every other threat.
fn knn_points(
    votes: &Votes,
    k: usize,
    lists: Option<&[Vec<Neighbour>]>,
    train_labels: &[u32],
    options: &CertifyOptions,
) -> Result<Vec<PointCertificate>, Error> {
    let mut points = certify_points(votes, options.tie);
    if !matches!(options.threat, Threat::Insert | Threat::Delete) {
        return Ok(points);
    }
    let Some(lists) = lists.filter(|l| l.len() == points.len()) else {
        return Err(Error::invalid(format!(
            "threat {}: the exact kNN certificate needs every test input's neighbour list \
             (search with keep_neighbours; see CertifyOptions::search_config)",
            options.threat
        )));
    };
    let (c, n) = (votes.n_classes(), train_labels.len());
    let cap = options.delete_cap(k);
    // One buffer for every input's neighbour labels.
    let mut labels: Vec<u32> = Vec::new();
    for (p, list) in points.iter_mut().zip(lists) {
        labels.clear();
        labels.extend(list.iter().map(|nb| train_labels[nb.index as usize]));
        p.e_star = if options.threat == Threat::Insert {
            knn_insert_e_star(&labels[..k.min(labels.len())], k, c, options.tie)
        } else {
            knn_delete_e_star(&labels, k, n, c, options.tie, cap)
        };
    }
    Ok(points)
}

/// One [`Setting`] per k and per r of a search, in the order asked: kNN with the
/// individual certificate, rNN with the individual and the joint ones of `options`.
pub fn neighbour_settings(
    result: &SearchResult,
    options: &CertifyOptions,
    train_labels: &[u32],
) -> Result<Vec<Setting>, Error> {
    let mut settings = Vec::with_capacity(result.knn.len() + result.rnn.len());
    let lists = result.neighbours.as_ref().map(|l| l.knn.as_slice());
    for kv in &result.knn {
        crate::cancel::check()?;
        let classifier = Classifier::Knn { k: kv.k };
        let mut curve = CurveOptions::for_classifier(classifier.clone());
        curve.max_e = options.max_e;
        curve.tie = options.tie;
        curve.threat = options.threat;
        let points = knn_points(&kv.votes, kv.k, lists, train_labels, options)?;
        let certified = curves_from_points(points, kv.votes.n_classes(), &curve)?;
        settings.push(Setting {
            classifier,
            rows: certified.points.iter().map(Into::into).collect(),
            max_e: certified.max_e,
            curves: certified.curves,
            votes: kv.votes.clone(),
            empty_neighbourhoods: None,
            grouping_gap: None,
        });
    }
    for rv in &result.rnn {
        crate::cancel::check()?;
        let classifier = Classifier::Rnn { r: rv.radius };
        let mut curve = CurveOptions::for_classifier(classifier.clone());
        curve.joint = options.joint.clone();
        curve.seed = options.seed;
        curve.max_e = options.max_e;
        curve.tie = options.tie;
        curve.threat = options.threat;
        let certified = certify_votes(&rv.votes, &curve)?;
        settings.push(Setting {
            classifier,
            rows: certified.points.iter().map(Into::into).collect(),
            max_e: certified.max_e,
            curves: certified.curves,
            votes: rv.votes.clone(),
            empty_neighbourhoods: Some(rv.empty),
            grouping_gap: certified.grouping_gap,
        });
    }
    Ok(settings)
}

/// Runs features → neighbours → votes → certificates for every k and r.
pub fn run(
    dataset: &Dataset,
    config: &ExperimentConfig,
    progress: &Progress<'_>,
) -> Result<Experiment, Error> {
    let b = &config.baselines;
    if config.search.ks.is_empty()
        && config.search.radii.is_empty()
        && b.dpa.is_empty()
        && b.bagging.is_empty()
        && b.ensembles.fa.is_empty()
    {
        return Err(Error::invalid(
            "experiment: expected at least one k, r, ζ, ξ or FA k",
        ));
    }
    // Every parameter is checked before the (long) neighbour search.
    validate_threat(config.threat, b)?;
    validate_baselines(b, dataset.train.len())?;
    let certify = CertifyOptions {
        joint: config.joint.clone(),
        seed: config.seed,
        max_e: config.max_e,
        tie: config.tie,
        threat: config.threat,
    };
    let (search, list_only_k) = certify.search_config(&config.search);
    let mut votes_run = pipeline::votes(dataset, config.features, &search, progress)?;
    drop_list_only_k(&mut votes_run.result, list_only_k);
    let t = Instant::now();
    let mut settings = neighbour_settings(&votes_run.result, &certify, &dataset.train.labels)?;
    let certify_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let b = &config.baselines;
    if !(b.dpa.is_empty() && b.bagging.is_empty() && b.ensembles.fa.is_empty()) {
        // Features the search read where the dataset holds them (the training layout, the
        // test values) are copied to row-major matrices for the baselines (which train on
        // them in training-set order).
        let train = match votes_run.train_features.take() {
            Some(f) => f,
            None => features::extract(dataset, &dataset.train, config.features)?,
        };
        let test = match votes_run.test_features.take() {
            Some(f) => f,
            None => features::extract(dataset, &dataset.test, config.features)?,
        };
        settings.extend(run_baselines(dataset, config, &train, &test)?);
    }
    Ok(Experiment {
        settings,
        seconds: ExperimentSeconds {
            votes: votes_run.seconds,
            certify: certify_seconds,
            baselines: t.elapsed().as_secs_f64(),
        },
        threshold_fallbacks: votes_run.result.threshold_fallbacks,
    })
}

/// The most training examples (models × ξ) bagging may draw in one run: about 800 MB of
/// indices; the paper's settings draw 27,000 and 400,000.
pub(crate) const MAX_BAGGING_DRAWS: u64 = 100_000_000;

/// Refuses a threat other than `general` together with a baseline (DPA, FA, ROE, bagging),
/// as `certify_votes` does for their votes: their certificates are derived for the general
/// threat only, and a run recorded as `insert` must not silently carry general
/// certificates beside the threat-specific kNN/rNN ones.
pub fn validate_threat(threat: Threat, b: &BaselineConfig) -> Result<(), Error> {
    if threat == Threat::General {
        return Ok(());
    }
    let baseline = if !b.dpa.is_empty() {
        Some(Method::Dpa)
    } else if !b.ensembles.fa.is_empty() {
        Some(Method::Fa)
    } else if !b.bagging.is_empty() {
        Some(Method::Bagging)
    } else {
        None
    };
    match baseline {
        Some(m) => Err(Error::invalid(format!(
            "threat: `{threat}` is not implemented for {m} (the general certificate holds for \
             every threat; use --threat general, or certify {m} in a separate run)"
        ))),
        None => Ok(()),
    }
}

/// Checks DPA's ζ and bagging's parameters against a training set of `n_train` examples.
pub(crate) fn validate_baselines(b: &BaselineConfig, n_train: usize) -> Result<(), Error> {
    if let Some(&zeta) = b.dpa.iter().find(|&&z| z == 0 || z > n_train) {
        return Err(Error::invalid(format!(
            "DPA: expected 1..={n_train} partitions (at most one per training example), found {zeta}"
        )));
    }
    let fa = &b.ensembles;
    if let Some(&k) = fa.fa.iter().find(|&&k| k == 0 || k > n_train) {
        return Err(Error::invalid(format!(
            "FA: expected k in 1..={n_train} (at most one per training example), found {k}"
        )));
    }
    if !fa.fa.is_empty() && !(1..=256).contains(&fa.d) {
        return Err(Error::invalid(format!(
            "FA: expected d in 1..=256 models per bucket, found {}",
            fa.d
        )));
    }
    for &xi in &b.bagging {
        BaggingParams {
            n_models: b.bagging_models,
            xi,
            train_size: n_train as u64,
            alpha: b.alpha,
        }
        .validate()?;
        let draws = b.bagging_models.saturating_mul(u64::from(xi));
        if draws > MAX_BAGGING_DRAWS {
            return Err(Error::invalid(format!(
                "bagging: {} models × ξ = {xi} = {draws} training draws, expected at most \
                 {MAX_BAGGING_DRAWS} (each draw is kept in memory)",
                b.bagging_models
            )));
        }
    }
    Ok(())
}

/// Certificates in nncert's poisoning size, `⌊ρ/2⌋` (docs/ENSEMBLES.md).
fn in_poisoning_units(certs: &[AggregateCertificate]) -> Vec<BaselineCertificate> {
    certs.iter().map(|c| c.in_units(Units::Poisoning)).collect()
}

/// DPA and bagging (and FA, ROE) on the experiment's features, in the order of the
/// options: every DPA ζ (each followed by its ROE), every FA k (each followed by its ROE),
/// every bagging ξ.
fn run_baselines(
    dataset: &Dataset,
    config: &ExperimentConfig,
    train: &crate::features::FeatureMatrix,
    test: &crate::features::FeatureMatrix,
) -> Result<Vec<Setting>, Error> {
    let job = BaselineJob {
        dataset,
        config,
        train,
        test,
    };
    let b = &config.baselines;
    let mut settings = Vec::new();
    for &zeta in &b.dpa {
        settings.extend(job.dpa(zeta)?);
    }
    for &k in &b.ensembles.fa {
        settings.extend(job.fa(k)?);
    }
    for &xi in &b.bagging {
        settings.push(job.bagging(xi)?);
    }
    Ok(settings)
}

/// What every baseline of one experiment is trained and certified on.
struct BaselineJob<'a> {
    dataset: &'a Dataset,
    config: &'a ExperimentConfig,
    train: &'a crate::features::FeatureMatrix,
    test: &'a crate::features::FeatureMatrix,
}

impl BaselineJob<'_> {
    /// The ensemble of the configured base learner, one model per member list.
    fn train_ensemble(&self, members: &[Vec<usize>]) -> Ensemble {
        let labels = &self.dataset.train.labels;
        Ensemble::train(
            self.config.baselines.learner,
            self.train,
            labels,
            self.dataset.n_classes,
            members,
        )
    }

    /// The ensemble's plurality votes on the test set.
    fn plurality_votes(&self, ensemble: &Ensemble) -> Result<Votes, Error> {
        let c = self.dataset.n_classes;
        let search = &self.config.search;
        Votes::new(
            ensemble.votes(self.test, c, search.metric, search.kernel),
            c,
            self.dataset.test.labels.clone(),
        )
    }

    /// Ensemble votes and certificates of `spread` (with ROE's when `runoff`).
    fn certify(
        &self,
        ensemble: &Ensemble,
        spread: &Spread,
        runoff: bool,
    ) -> Result<TrainedCertificates, Error> {
        certify_trained(
            ensemble,
            spread,
            self.test,
            &self.dataset.test.labels,
            self.dataset.n_classes,
            (self.config.search.metric, self.config.search.kernel),
            runoff,
        )
    }

    /// DPA with ζ partitions, and ROE on the same ensemble when asked.
    fn dpa(&self, zeta: usize) -> Result<Vec<Setting>, Error> {
        let train = &self.dataset.train;
        let members = dpa::partitions(
            &train.labels,
            &train.records_bytes(),
            train.record_len,
            zeta,
        );
        let ensemble = self.train_ensemble(&members);
        let votes = self.plurality_votes(&ensemble)?;
        let certs = dpa::certificates(&votes, Units::Poisoning);
        let roe_votes = self.config.baselines.ensembles.roe.then(|| votes.clone());
        let max_e = self.config.max_e;
        let mut settings = vec![Setting::from_baseline(
            Classifier::Dpa { partitions: zeta },
            votes,
            &certs,
            max_e,
        )?];
        if let Some(votes) = roe_votes {
            let trained = self.certify(&ensemble, &Spread::dpa(zeta)?, true)?;
            let certs = in_poisoning_units(trained.runoff.as_deref().unwrap_or_default());
            settings.push(Setting::from_baseline(
                Classifier::RoeDpa { partitions: zeta },
                votes,
                &certs,
                max_e,
            )?);
        }
        Ok(settings)
    }

    /// Finite Aggregation with k·d models, and ROE on the same ensemble when asked.
    fn fa(&self, k: usize) -> Result<Vec<Setting>, Error> {
        let e = &self.config.baselines.ensembles;
        let spread = Spread::seeded(k, e.d, e.spread_seed)?;
        let train = &self.dataset.train;
        let members = spread.members(&train.labels, &train.records_bytes(), train.record_len);
        let ensemble = self.train_ensemble(&members);
        let trained = self.certify(&ensemble, &spread, e.roe)?;
        let votes = Votes::new(
            trained.counts,
            self.dataset.n_classes,
            self.dataset.test.labels.clone(),
        )?;
        let (d, max_e) = (e.d, self.config.max_e);
        let mut settings = vec![Setting::from_baseline(
            Classifier::Fa { k, d },
            votes.clone(),
            &in_poisoning_units(&trained.plurality),
            max_e,
        )?];
        if let Some(roe) = &trained.runoff {
            settings.push(Setting::from_baseline(
                Classifier::RoeFa { k, d },
                votes,
                &in_poisoning_units(roe),
                max_e,
            )?);
        }
        Ok(settings)
    }

    /// Bagging with subsamples of ξ.
    fn bagging(&self, xi: u32) -> Result<Setting, Error> {
        let b = &self.config.baselines;
        let n_train = self.dataset.train.len();
        let params = BaggingParams {
            n_models: b.bagging_models,
            xi,
            train_size: n_train as u64,
            alpha: b.alpha,
        };
        let members = bagging::subsamples(n_train, b.bagging_models as usize, xi as usize, b.seed);
        let ensemble = self.train_ensemble(&members);
        let votes = self.plurality_votes(&ensemble)?;
        let certs = bagging::certificates(&votes, &params)?;
        Setting::from_baseline(
            Classifier::Bagging { subsample: xi },
            votes,
            &certs,
            self.config.max_e,
        )
    }
}

/// One test input's certificate as `examples.csv` reports it (one row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleRow {
    /// True label.
    pub label: u32,
    /// Predicted label.
    pub predicted: u32,
    /// Runner-up.
    pub runner_up: u32,
    /// Votes of the prediction.
    pub votes_predicted: u32,
    /// Votes of the runner-up.
    pub votes_runner_up: u32,
    /// Certified size of the prediction; `None` (written −1) when not certified even at 0.
    pub e_star: Option<u64>,
}

impl From<&PointCertificate> for ExampleRow {
    fn from(p: &PointCertificate) -> Self {
        ExampleRow {
            label: p.label,
            predicted: p.prediction.predicted,
            runner_up: p.prediction.runner_up,
            votes_predicted: p.prediction.votes_predicted,
            votes_runner_up: p.prediction.votes_runner_up,
            e_star: Some(p.e_star),
        }
    }
}

impl From<&BaselineCertificate> for ExampleRow {
    fn from(p: &BaselineCertificate) -> Self {
        ExampleRow {
            label: p.label,
            predicted: p.prediction.predicted,
            runner_up: p.prediction.runner_up,
            votes_predicted: p.prediction.votes_predicted,
            votes_runner_up: p.prediction.votes_runner_up,
            e_star: p.e_star,
        }
    }
}

impl Experiment {
    /// Every curve of every setting, in setting order.
    pub fn curves(&self) -> Vec<crate::Curve> {
        self.settings
            .iter()
            .flat_map(|s| s.curves.iter().cloned())
            .collect()
    }

    /// The largest last e over every curve.
    pub fn max_e(&self) -> u64 {
        self.settings.iter().map(|s| s.max_e).max().unwrap_or(0)
    }
}
