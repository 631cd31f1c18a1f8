//! Certified-accuracy curves CA(e) for every integer `e` from 0 to a maximum.
//!
//! Curves hold integer counts of certified-correct test inputs; fractions appear only on
//! output, rounded *down* to the printed precision so that a printed figure is never above
//! the proven bound.

use serde::Serialize;

use crate::cancel;
use crate::certify::grouping::{Partition, island_counts};
use crate::certify::grouping_bound::{non_increasing_from_left, tightest_upper_bound};
use crate::certify::individual::individual_counts;
use crate::certify::lp_group::{LpCounts, lp_counts};
use crate::certify::one_label::{
    Needs, island_one_label_counts, partition_one_label_counts, partition_one_label_horizon,
};
use crate::certify::polish::polish_counts;
use crate::certify::sweep::sweep_counts;
use crate::certify::threat::{self, Threat};
use crate::certify::{Certification, Method, PointCertificate, certify_points};
use crate::classifier::Classifier;
use crate::error::Error;
use crate::votes::{TieRule, Votes};

/// The largest `e` a curve may be asked for; guards against absurd allocations.
pub const MAX_E_LIMIT: u64 = 10_000_000;

/// The last `e` of a curve when `max_e` is not given and the curves do not reach 0 before
/// it: a vote count read from a file (`4294967295`) must not decide how long the curves
/// are. Real datasets stay far below it (a margin is at most the training-set size, and
/// kNN's e* is below k/2), so their default range still ends where every curve is 0.
pub const DEFAULT_MAX_E_CAP: u64 = 100_000;

/// What to certify and how (validated by [`CurveOptions::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurveOptions {
    /// Which classifier produced the votes (its method decides which certificates are
    /// valid; its `Display` is the `param` column of the outputs).
    pub classifier: Classifier,
    /// Joint certifications to compute besides the individual one (rNN only):
    /// any of [`Certification::Island`], [`Certification::Rd`],
    /// [`Certification::IslandLabel`], [`Certification::RdLabel`], [`Certification::Polish`],
    /// [`Certification::PolishLabel`], [`Certification::Cluster`],
    /// [`Certification::ClusterLabel`], [`Certification::Lp`], [`Certification::LpLabel`],
    /// [`Certification::SearchLabel`], [`Certification::Best`]
    /// (which always includes ISLAND, CLUSTER and SEARCH under the one-label bound, the
    /// tightest groupings computed by default).
    pub joint: Vec<Certification>,
    /// Seed of the RD partition.
    pub seed: u64,
    /// Last `e` of every curve; `None` = until every curve has reached 0, but at most
    /// [`DEFAULT_MAX_E_CAP`].
    pub max_e: Option<u64>,
    /// Tie rule for predictions.
    pub tie: TieRule,
    /// What the attacker may do (METHOD §8); [`Threat::General`] by default.
    pub threat: Threat,
}

impl CurveOptions {
    /// The paper's defaults for votes of `method` with a free-text parameter (votes that
    /// came from elsewhere): individual, plus ISLAND for rNN.
    pub fn new(method: Method, param: impl Into<String>) -> Self {
        Self::for_classifier(Classifier::Given {
            method,
            param: param.into(),
        })
    }

    /// The paper's defaults for `classifier`: individual, plus ISLAND for rNN.
    pub(crate) fn for_classifier(classifier: Classifier) -> Self {
        let method = classifier.method();
        CurveOptions {
            classifier,
            joint: match method {
                Method::Rnn => vec![Certification::Island],
                _ => Vec::new(),
            },
            seed: 0,
            max_e: None,
            tie: TieRule::default(),
            threat: Threat::General,
        }
    }

    /// Which kind of classifier produced the votes.
    pub fn method(&self) -> Method {
        self.classifier.method()
    }

    /// Checks the combination once, at the edge.
    pub fn validate(&self) -> Result<(), Error> {
        if self.method() != Method::Rnn && !self.joint.is_empty() {
            return Err(Error::invalid(
                "joint certification is only defined for rNN (docs/METHOD.md §4): removing one of a kNN \
                 input's neighbours pulls the (k+1)-th one in, so a removal can change the votes \
                 of several labels at once (and DPA/bagging voters depend on many examples); \
                 use --kind rnn or drop --joint",
            ));
        }
        if matches!(self.method(), Method::Dpa | Method::Bagging) && self.threat != Threat::General
        {
            return Err(Error::invalid(format!(
                "threat: `{}` is not implemented for {} (the general certificate holds for \
                 every threat; use --threat general)",
                self.threat,
                self.method()
            )));
        }
        if let Some(c) = self.joint.iter().find(|c| {
            matches!(
                c,
                Certification::IslandLabel
                    | Certification::RdLabel
                    | Certification::Polish
                    | Certification::PolishLabel
                    | Certification::Cluster
                    | Certification::ClusterLabel
                    | Certification::Lp
                    | Certification::LpLabel
                    | Certification::SearchLabel
            )
        }) && self.threat != Threat::General
        {
            return Err(Error::invalid(format!(
                "joint certification: `{c}` is derived for the general threat model \
                 (docs/JOINT.md); use --threat general, or island/rd"
            )));
        }
        if let Some(c) = self.joint.iter().find(|c| **c == Certification::Individual) {
            return Err(Error::invalid(format!(
                "joint certification: `{c}` is always computed; expected island, rd, \
                 island-label, rd-label, polish, polish-label, cluster, cluster-label, lp, \
                 lp-label, search-label or best"
            )));
        }
        if let Some(max_e) = self.max_e
            && max_e > MAX_E_LIMIT
        {
            return Err(Error::invalid(format!(
                "max-e: expected at most {MAX_E_LIMIT}, found {max_e}"
            )));
        }
        if let Classifier::Given { param, .. } = &self.classifier
            && param.contains(['\n', '\r'])
        {
            return Err(Error::invalid("param: expected one line of text"));
        }
        Ok(())
    }
}

/// One CA(e) curve for `e = 0..=max_e`: [`Curve::certified_at`]`(e)` test inputs out of
/// `n_test` are certified correct at `e`.
///
/// `certified` stores the counts only as far as one can be non-zero: a `--max-e` far
/// beyond every certificate (10⁷ for 20 test inputs) asks for rows that are all 0, and
/// they are written from [`Curve::certified_at`] without being held in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Curve {
    /// The classifier (written as its `method` and `param` columns).
    #[serde(flatten)]
    pub classifier: Classifier,
    /// Which bound.
    pub certification: Certification,
    /// Count of certified-correct test inputs for `e = 0, 1, …`, possibly ending before
    /// `max_e`: every count after the last one stored is 0.
    pub certified: Vec<u64>,
    /// Last `e` of the curve (the rows written).
    pub max_e: u64,
    /// Number of test inputs.
    pub n_test: u64,
}

impl Curve {
    /// Which kind of classifier.
    pub fn method(&self) -> Method {
        self.classifier.method()
    }

    /// Count of certified-correct test inputs at `e` (0 past the stored counts).
    pub fn certified_at(&self, e: u64) -> u64 {
        usize::try_from(e)
            .ok()
            .and_then(|e| self.certified.get(e))
            .copied()
            .unwrap_or(0)
    }

    /// Every count for `e = 0..=max_e`, zeros included (memory grows with `max_e`: for
    /// tests and small ranges).
    pub fn padded(&self) -> Vec<u64> {
        (0..=self.max_e).map(|e| self.certified_at(e)).collect()
    }

    /// CA(e) as a decimal fraction with `decimals` digits, rounded down.
    pub(crate) fn accuracy_text(&self, e: u64, decimals: u32) -> String {
        format_fraction_floor(self.certified_at(e), self.n_test, decimals)
    }

    /// CA(e) as f64 (for plots; not for reports of the bound).
    pub fn accuracy(&self, e: u64) -> f64 {
        self.certified_at(e) as f64 / self.n_test as f64
    }
}

/// `num / den` with `decimals` digits after the point, rounded toward zero.
pub fn format_fraction_floor(num: u64, den: u64, decimals: u32) -> String {
    format_fraction(num, den, decimals, false)
}

/// `num / den` with `decimals` digits after the point, rounded up (for upper bounds).
pub fn format_fraction_ceil(num: u64, den: u64, decimals: u32) -> String {
    format_fraction(num, den, decimals, true)
}

fn format_fraction(num: u64, den: u64, decimals: u32, up: bool) -> String {
    assert!(den > 0 && num <= den);
    let scale = 10u128.pow(decimals);
    let (n, d) = (u128::from(num) * scale, u128::from(den));
    let scaled = if up { n.div_ceil(d) } else { n / d };
    let (whole, frac) = (scaled / scale, scaled % scale);
    if decimals == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{frac:0width$}", width = decimals as usize)
    }
}

/// Per-point certificates and every requested curve of one votes matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedVotes {
    /// One certificate per test input, in test order.
    pub points: Vec<PointCertificate>,
    /// Individual first, then the joint curves in the order asked.
    pub curves: Vec<Curve>,
    /// Last `e` of every curve (see [`Curve::max_e`]).
    pub max_e: u64,
    /// With POLISH or CLUSTER: how far they are from the best grouping (see
    /// [`GroupingGap`]).
    pub grouping_gap: Option<GroupingGap>,
}

/// POLISH and CLUSTER against an upper bound on what any grouping can certify under the
/// paper's group bound (`docs/JOINT.md`), for `e = 0..=max_e`.
///
/// The found counts are made non-increasing from the right as the reported curves are:
/// the reported value at `e` is a grouping's count at some `e' ≥ e`, at most the best
/// grouping's count at `e'`, which is at most the best at `e`. The upper bound is made
/// non-increasing from the *left* (a bound on the best grouping at `e' ≤ e` holds at `e`),
/// so it covers the reported counts at every `e`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupingGap {
    /// Upper bound on the count of any grouping (paper's bound), per `e`.
    pub upper_bound: Vec<u64>,
    /// POLISH's count (the `polish` curve), per `e`, when computed.
    pub polish: Option<Vec<u64>>,
    /// CLUSTER's count (the `cluster` curve), per `e`, when computed.
    pub cluster: Option<Vec<u64>>,
    /// LP's count (the `lp` curve), per `e`, when computed.
    pub lp: Option<Vec<u64>>,
}

impl GroupingGap {
    /// The found counts made non-increasing from the right, the upper bound from the left
    /// (see [`GroupingGap`]), each cut to `0..=max_e`. They may end before `max_e` (every
    /// count and bound is 0 past the curves' horizon); [`GroupingGap::to_json`] writes the
    /// zeros.
    fn cut_to(&mut self, max_e: u64) {
        non_increasing_from_left(&mut self.upper_bound);
        let found = [
            self.polish.as_mut(),
            self.cluster.as_mut(),
            self.lp.as_mut(),
        ];
        for v in found.into_iter().flatten() {
            monotone_from_right(v);
        }
        let found = [
            self.polish.as_mut(),
            self.cluster.as_mut(),
            self.lp.as_mut(),
        ];
        for v in std::iter::once(&mut self.upper_bound).chain(found.into_iter().flatten()) {
            v.truncate(max_e as usize + 1);
        }
    }

    /// Refuses a report in which some grouping certifies more than the upper bound at some
    /// `e`. That would mean a bug in a grouping or in the bound; reporting it as an error
    /// keeps a wrong number out of `report.json` (and `gap` from wrapping around).
    fn check(&self) -> Result<(), Error> {
        let found = [
            ("polish", &self.polish),
            ("cluster", &self.cluster),
            ("lp", &self.lp),
        ];
        for (name, counts) in found {
            let Some(counts) = counts else { continue };
            let above = (self.upper_bound.iter().zip(counts)).position(|(u, f)| f > u);
            if let Some(e) = above {
                return Err(Error::invalid(format!(
                    "internal check failed: the {name} grouping certifies {} test inputs at e = {e}, above the proven upper bound {} on any grouping; please report this",
                    counts[e], self.upper_bound[e]
                )));
            }
        }
        Ok(())
    }

    /// `upper_bound` minus the best grouping computed (LP if computed, which is never below
    /// CLUSTER, else CLUSTER, which is never below POLISH, else POLISH), per `e` stored, in
    /// test inputs. `curves_with_needs` has checked that no grouping is above the bound.
    pub fn gap(&self) -> Vec<u64> {
        let found = self
            .lp
            .as_ref()
            .or(self.cluster.as_ref())
            .or(self.polish.as_ref());
        self.upper_bound
            .iter()
            .enumerate()
            .map(|(e, u)| u.saturating_sub(found.map_or(0, |f| f[e])))
            .collect()
    }

    /// The record written to `report.json`: counts per `e` from 0 to `max_e` (zeros past
    /// the stored ones) and the gap.
    pub(crate) fn to_json(&self, n_test: u64, max_e: u64) -> serde_json::Value {
        let padded = |v: &[u64]| -> serde_json::Value {
            (0..=max_e as usize)
                .map(|e| serde_json::Value::from(v.get(e).copied().unwrap_or(0)))
                .collect()
        };
        let mut record = serde_json::json!({
            "what": "polish / cluster / lp: certified count of the POLISH / CLUSTER / LP grouping (paper's group bound); upper_bound: no grouping certifies more (pooled bound, and with lp the LP dual bound; docs/JOINT.md); gap: upper_bound minus lp if computed, else cluster, else polish; per e from 0, in test inputs",
            "n_test": n_test,
            "upper_bound": padded(&self.upper_bound),
            "gap": padded(&self.gap()),
        });
        for (key, counts) in [
            ("polish", &self.polish),
            ("cluster", &self.cluster),
            ("lp", &self.lp),
        ] {
            if let (Some(counts), Some(map)) = (counts, record.as_object_mut()) {
                map.insert(key.into(), padded(counts));
            }
        }
        record
    }
}

/// Replaces each count by the maximum of the counts at the same or a larger `e`.
///
/// Sound because the true CA(e) is non-increasing (a poisoning of size ≤ e is also one of
/// size ≤ e' for e' ≥ e), so a bound proven at e' also holds at every e ≤ e'. The
/// individual curve is already monotone; the per-`e` ISLAND partition is not always (a
/// greedy regrouping at e + 1 can certify one input more than at e), and this lifts those
/// dips. The raw per-`e` values remain available from [`island_counts`].
pub fn monotone_from_right(counts: &mut [u64]) {
    let mut best = 0;
    for c in counts.iter_mut().rev() {
        best = best.max(*c);
        *c = best;
    }
}

/// Checks that `votes` can be kNN votes: they count the k nearest neighbours, so every row
/// sums to the same k ≥ 1 (rows of varying size are rNN neighbourhoods). [`certify_votes`]
/// runs it for [`Method::Knn`]; a front end may call it first to name the file in its error.
pub fn check_knn_votes(votes: &Votes) -> Result<(), Error> {
    let sum = |i: usize| votes.row(i).iter().map(|&v| u64::from(v)).sum::<u64>();
    if votes.n_test() == 0 {
        return Ok(());
    }
    let k = sum(0);
    match (0..votes.n_test()).find(|&i| sum(i) != k || k == 0) {
        Some(i) if sum(i) == 0 => Err(Error::invalid(format!(
            "votes: row {i} has no votes: kNN votes count the k ≥ 1 nearest neighbours in \
             every row (certify neighbourhoods that may be empty as rNN votes)"
        ))),
        Some(i) => Err(Error::invalid(format!(
            "votes: row {i} has {} votes and row 0 has {k}: kNN votes sum to the same k ≥ 1 \
             in every row (certify neighbourhoods of varying size as rNN votes)",
            sum(i)
        ))),
        None => Ok(()),
    }
}

/// Certifies `votes`: per-point `e*` and a curve per requested certification.
///
/// Every curve is non-increasing in `e` (see [`monotone_from_right`]); with `max_e: None`
/// the curves end at the first `e` where all of them are 0, or at [`DEFAULT_MAX_E_CAP`].
/// Work and memory follow the last `e` of the curves, never the largest vote count.
pub fn certify_votes(votes: &Votes, options: &CurveOptions) -> Result<CertifiedVotes, Error> {
    options.validate()?;
    if votes.n_test() == 0 {
        return Err(Error::invalid(
            "votes: expected at least one test input, found none",
        ));
    }
    if options.method() == Method::Knn {
        check_knn_votes(votes)?;
    }
    let mut points = certify_points(votes, options.tie);
    if options.method() == Method::Rnn {
        // kNN from votes alone keeps the general certificate (sound for every threat).
        points = threat::rnn_points(&points, options.threat);
    }
    // The one-label bound (docs/JOINT.md) needs every label's votes, not only the margin;
    // it is derived for the general threat model.
    let wants_needs = options.method() == Method::Rnn
        && options.threat == Threat::General
        && options.joint.iter().any(|c| {
            matches!(
                c,
                Certification::Best
                    | Certification::IslandLabel
                    | Certification::RdLabel
                    | Certification::PolishLabel
                    | Certification::ClusterLabel
                    | Certification::LpLabel
                    | Certification::SearchLabel
            )
        });
    let needs = wants_needs.then(|| Needs::new(votes, options.tie));
    curves_with_needs(points, votes.n_classes(), needs.as_ref(), options)
}

/// The error for a one-label curve asked for without the votes it needs.
fn one_label_without_votes(certification: Certification) -> Error {
    Error::invalid(format!(
        "joint certification: `{certification}` needs every label's votes; certify from the \
         votes (certify_votes) under the general threat model"
    ))
}

/// The curves of `options` from per-point certificates that the caller computed (e.g. the
/// exact kNN certificates of METHOD §8 from neighbour lists); `certify_votes` is this after
/// [`certify_points`].
pub(crate) fn curves_from_points(
    points: Vec<PointCertificate>,
    n_classes: usize,
    options: &CurveOptions,
) -> Result<CertifiedVotes, Error> {
    curves_with_needs(points, n_classes, None, options)
}

/// [`curves_from_points`] with, for the one-label curves (and `best`, which includes
/// `island-label`), every test input's needs per label.
///
/// The steps: how far to compute ([`CurveJob::new`]), the partitions shared by several
/// curves ([`SharedGroupings`]), one raw count vector per asked certification
/// ([`CurveJob::joint_curve`]), their pointwise maximum for `best`, then the curves made
/// monotone and cut to the reported range ([`finish_curves`]).
fn curves_with_needs(
    points: Vec<PointCertificate>,
    n_classes: usize,
    needs: Option<&Needs>,
    options: &CurveOptions,
) -> Result<CertifiedVotes, Error> {
    options.validate()?;
    let n_test = points.len();
    if n_test == 0 {
        return Err(Error::invalid(
            "votes: expected at least one test input, found none",
        ));
    }
    let job = CurveJob::new(&points, n_classes, needs, options);
    let mut counts: Vec<(Certification, Vec<u64>)> = vec![(
        Certification::Individual,
        individual_counts(&points, job.compute_to),
    )];
    for c in [
        Certification::PolishLabel,
        Certification::ClusterLabel,
        Certification::LpLabel,
        Certification::SearchLabel,
    ] {
        if needs.is_none() && job.wants(c) {
            return Err(one_label_without_votes(c));
        }
    }
    // The loops below skip their remaining steps once a cancellation is requested; every
    // stage is followed by a check, so incomplete counts are never used (crate::cancel).
    let shared = SharedGroupings::compute(&job)?;
    let mut grouping_gap = shared.grouping_gap(&job);
    cancel::check()?;
    for &certification in &options.joint {
        if let Some(c) = job.joint_curve(certification, &shared)? {
            counts.push((certification, c));
        }
        cancel::check()?;
    }
    if job.wants(Certification::Best) {
        let best = job.best_counts(&counts, &shared);
        cancel::check()?;
        counts.push((Certification::Best, best));
    }
    let (curves, max_e) = finish_curves(counts, options, n_test as u64, job.compute_to);
    if let Some(gap) = grouping_gap.as_mut() {
        gap.cut_to(max_e);
        gap.check()?;
    }
    Ok(CertifiedVotes {
        points,
        curves,
        max_e,
        grouping_gap,
    })
}

/// What every curve of one [`curves_with_needs`] call is computed from.
struct CurveJob<'a> {
    points: &'a [PointCertificate],
    n_classes: usize,
    needs: Option<&'a Needs>,
    options: &'a CurveOptions,
    /// RD's partition, when `rd-label` is asked (its horizon depends on it).
    rd_label_partition: Option<Partition>,
    /// The last `e` computed.
    compute_to: u64,
}

impl<'a> CurveJob<'a> {
    fn new(
        points: &'a [PointCertificate],
        n_classes: usize,
        needs: Option<&'a Needs>,
        options: &'a CurveOptions,
    ) -> Self {
        let rd_label_partition = options
            .joint
            .contains(&Certification::RdLabel)
            .then(|| Partition::random_division(points, n_classes, options.seed));
        let horizon = curve_horizon(points, n_classes, options, rd_label_partition.as_ref());
        // Curves are computed only as far as they are reported, and never past the horizon,
        // where every count is 0: a `max_e` beyond it adds rows of zeros, which the writers
        // produce without storing them (see `Curve`). Made non-increasing from the right
        // over that range (see `monotone_from_right`) they are still lower bounds: each
        // value is a bound proven at the same or a larger e within the range.
        let compute_to = match options.max_e {
            Some(max_e) => max_e.min(horizon),
            None => horizon.min(DEFAULT_MAX_E_CAP),
        };
        CurveJob {
            points,
            n_classes,
            needs,
            options,
            rd_label_partition,
            compute_to,
        }
    }

    fn wants(&self, c: Certification) -> bool {
        self.options.joint.contains(&c)
    }

    fn island_label(&self, needs: &Needs) -> Vec<u64> {
        island_one_label_counts(self.points, needs, self.compute_to)
    }

    /// The raw counts of one asked joint certification; `None` for `best`, which is
    /// computed from the others.
    fn joint_curve(
        &self,
        certification: Certification,
        shared: &SharedGroupings,
    ) -> Result<Option<Vec<u64>>, Error> {
        let (points, compute_to) = (self.points, self.compute_to);
        Ok(Some(
            match (certification, self.needs, &self.rd_label_partition) {
                (Certification::Island | Certification::Rd, _, _) => joint_counts(
                    certification,
                    points,
                    self.n_classes,
                    self.options,
                    compute_to,
                ),
                (Certification::IslandLabel, Some(needs), _) => self.island_label(needs),
                (Certification::RdLabel, Some(needs), Some(rd)) => {
                    partition_one_label_counts(rd, points, needs, compute_to)
                }
                (Certification::Polish, _, _) => shared.polish.clone().unwrap_or_default(),
                (Certification::PolishLabel, _, _) => {
                    shared.polish_label.clone().unwrap_or_default()
                }
                (Certification::Cluster, _, _) => shared.cluster.clone().unwrap_or_default(),
                (Certification::ClusterLabel, _, _) => {
                    shared.cluster_label.clone().unwrap_or_default()
                }
                (Certification::Lp, _, _) => shared
                    .lp
                    .as_ref()
                    .map(|lp| lp.paper.clone())
                    .unwrap_or_default(),
                (Certification::SearchLabel, _, _) => {
                    shared.search_label.clone().unwrap_or_default()
                }
                (Certification::LpLabel, _, _) => shared
                    .lp
                    .as_ref()
                    .and_then(|lp| lp.one_label.clone())
                    .unwrap_or_default(),
                (Certification::Best, _, _) => return Ok(None),
                (Certification::IslandLabel | Certification::RdLabel, _, _) => {
                    return Err(one_label_without_votes(certification));
                }
                (Certification::Individual, _, _) => unreachable!("rejected by validate"),
            },
        ))
    }

    /// `best`: the pointwise maximum of every curve computed, and of the one-label ISLAND
    /// and SEARCH curves, which are part of the best bound even when not shown (SEARCH is
    /// never below CLUSTER's one-label curve, which it starts from).
    fn best_counts(
        &self,
        counts: &[(Certification, Vec<u64>)],
        shared: &SharedGroupings,
    ) -> Vec<u64> {
        let hidden_island = match (self.needs, self.wants(Certification::IslandLabel)) {
            (Some(needs), false) => Some(self.island_label(needs)),
            _ => None,
        };
        let hidden_search = shared
            .search_label
            .as_ref()
            .filter(|_| !self.wants(Certification::SearchLabel));
        (0..=self.compute_to as usize)
            .map(|e| {
                counts
                    .iter()
                    .map(|(_, c)| c[e])
                    .chain(hidden_island.as_ref().map(|c| c[e]))
                    .chain(hidden_search.map(|c| c[e]))
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// From this `e` on every curve is 0 (every count, and the grouping gap's upper bound):
/// individual at e*+1, joint once every cost is 0 (e ≥ g: ISLAND, RD, and the groupings
/// chosen per `e` — POLISH, CLUSTER, SEARCH, LP and their one-label curves — group only
/// inputs with g > e; under `delete`, once every group's costs fit in e), RD under the
/// one-label bound once removals alone cover every group (docs/JOINT.md, "Horizon of the
/// curves"). Curves are computed up to it at most, so it must never be too small: the
/// tests compare a `max_e` far past it with the default range padded with zeros.
fn curve_horizon(
    points: &[PointCertificate],
    n_classes: usize,
    options: &CurveOptions,
    rd_label_partition: Option<&Partition>,
) -> u64 {
    let wants_joint = !options.joint.is_empty();
    let horizon = if wants_joint && options.threat == Threat::Delete {
        threat::delete_horizon(points, n_classes)
    } else {
        points
            .iter()
            .filter(|p| p.correct())
            .map(|p| if wants_joint { p.margin } else { p.e_star + 1 })
            .max()
            .unwrap_or(0)
    };
    horizon.max(rd_label_partition.map_or(0, |rd| partition_one_label_horizon(rd, points)))
}

/// The POLISH, CLUSTER and LP partitions each serve two curves (the paper's bound and the
/// one-label bound), so they are computed once; `best` includes `search-label`, which
/// starts from CLUSTER's partitions and `cluster-label`. LP builds on CLUSTER (never below
/// it) and its LPs also give the tightest upper bound.
struct SharedGroupings {
    polish: Option<Vec<u64>>,
    polish_label: Option<Vec<u64>>,
    cluster: Option<Vec<u64>>,
    cluster_label: Option<Vec<u64>>,
    search_label: Option<Vec<u64>>,
    lp: Option<LpCounts>,
}

impl SharedGroupings {
    /// The shared partitions' counts, or [`Error::Interrupted`] (checked after each step).
    fn compute(job: &CurveJob<'_>) -> Result<Self, Error> {
        let (points, n_classes, needs) = (job.points, job.n_classes, job.needs);
        let wants_best = job.wants(Certification::Best);
        let (polish, polish_label) =
            if job.wants(Certification::Polish) || job.wants(Certification::PolishLabel) {
                let one_label_needs = needs.filter(|_| job.wants(Certification::PolishLabel));
                let (paper, one_label) =
                    polish_counts(points, n_classes, one_label_needs, job.compute_to);
                (Some(paper), one_label)
            } else {
                (None, None)
            };
        cancel::check()?;
        let wants_lp = job.wants(Certification::Lp) || job.wants(Certification::LpLabel);
        // SEARCH (in `best`) starts from CLUSTER's partitions and one-label curve; one
        // sweep computes them together.
        let search_needs = needs.filter(|_| wants_best || job.wants(Certification::SearchLabel));
        let (cluster, cluster_label, search_label) = if job.wants(Certification::Cluster)
            || job.wants(Certification::ClusterLabel)
            || wants_lp
            || search_needs.is_some()
        {
            let one_label_needs = needs.filter(|_| {
                job.wants(Certification::ClusterLabel)
                    || job.wants(Certification::LpLabel)
                    || search_needs.is_some()
            });
            let swept = sweep_counts(
                points,
                n_classes,
                one_label_needs,
                job.compute_to,
                search_needs.is_some(),
            );
            (Some(swept.cluster), swept.cluster_label, swept.search_label)
        } else {
            (None, None, None)
        };
        cancel::check()?;
        let lp = match (&cluster, wants_lp) {
            (Some(cluster), true) => {
                let one_label_needs = needs.filter(|_| job.wants(Certification::LpLabel));
                Some(lp_counts(
                    points,
                    n_classes,
                    one_label_needs,
                    cluster,
                    cluster_label
                        .as_deref()
                        .filter(|_| one_label_needs.is_some()),
                ))
            }
            _ => None,
        };
        cancel::check()?;
        Ok(SharedGroupings {
            polish,
            polish_label,
            cluster,
            cluster_label,
            search_label,
            lp,
        })
    }

    /// The gap report beside the POLISH and shown CLUSTER / LP curves (raw, cut later).
    fn grouping_gap(&self, job: &CurveJob<'_>) -> Option<GroupingGap> {
        let shown_cluster = self
            .cluster
            .clone()
            .filter(|_| job.wants(Certification::Cluster));
        let shown_lp = self
            .lp
            .as_ref()
            .filter(|_| job.wants(Certification::Lp))
            .map(|lp| lp.paper.clone());
        let lp_bounds = self.lp.as_ref().map_or(&[][..], |lp| &lp.bounds[..]);
        (self.polish.is_some() || shown_cluster.is_some() || shown_lp.is_some()).then(|| {
            GroupingGap {
                upper_bound: tightest_upper_bound(
                    job.points,
                    job.n_classes,
                    job.compute_to,
                    lp_bounds,
                ),
                polish: self.polish.clone(),
                cluster: shown_cluster,
                lp: shown_lp,
            }
        })
    }
}

/// Raw counts into curves: the reported range (`options.max_e`, or up to the first `e`
/// where every curve is 0, that row included), each made non-increasing and cut to it
/// (counts past `compute_to`, the horizon, are 0 and not stored).
fn finish_curves(
    counts: Vec<(Certification, Vec<u64>)>,
    options: &CurveOptions,
    n_test: u64,
    compute_to: u64,
) -> (Vec<Curve>, u64) {
    let max_e = match options.max_e {
        Some(m) => m,
        None => (0..=compute_to as usize)
            .find(|&e| counts.iter().all(|(_, c)| c[e] == 0))
            .unwrap_or(compute_to as usize) as u64,
    };
    let curves = counts
        .into_iter()
        .map(|(certification, mut certified)| {
            monotone_from_right(&mut certified);
            certified.truncate(max_e as usize + 1);
            Curve {
                classifier: options.classifier.clone(),
                certification,
                certified,
                max_e,
                n_test,
            }
        })
        .collect();
    (curves, max_e)
}

/// One joint curve (raw, before it is made monotone) under the options' threat.
fn joint_counts(
    certification: Certification,
    points: &[PointCertificate],
    n_classes: usize,
    options: &CurveOptions,
    max_e: u64,
) -> Vec<u64> {
    let rd = || Partition::random_division(points, n_classes, options.seed);
    match (options.threat, certification) {
        // No removals: a member falls exactly when its own insertions suffice (METHOD §8).
        (Threat::Insert, _) => individual_counts(points, max_e),
        (Threat::Delete, Certification::Rd) => {
            threat::partition_counts_delete(&rd(), points, max_e)
        }
        (Threat::Delete, _) => threat::island_counts_delete(points, n_classes, max_e),
        (Threat::General | Threat::Flip, Certification::Rd) => rd().counts(points, max_e),
        (Threat::General | Threat::Flip, _) => island_counts(points, n_classes, max_e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12 (2): a count of 2³² − 1 used to allocate curves up to e = 2³¹ (34 GB).
    #[test]
    fn curve_length_follows_max_e_not_the_largest_vote_count() {
        // Row 1's margin is 1 in both (kNN rows sum to the same k).
        let rnn = Votes::new(vec![0, u32::MAX, 3, 1], 2, vec![1, 0]).unwrap();
        let half = 1 << 31;
        let knn = Votes::new(vec![0, u32::MAX, half, half - 1], 2, vec![1, 0]).unwrap();
        for (method, votes) in [(Method::Knn, knn), (Method::Rnn, rnn)] {
            let mut o = CurveOptions::new(method, "");
            o.max_e = Some(3);
            let out = certify_votes(&votes, &o).unwrap();
            assert_eq!(out.max_e, 3);
            assert!(out.curves.iter().all(|c| c.certified == vec![2, 1, 1, 1]));
            o.max_e = None;
            let out = certify_votes(&votes, &o).unwrap();
            assert_eq!(out.max_e, DEFAULT_MAX_E_CAP);
            assert!(out.curves.iter().all(|c| c.certified.len() == 100_001));
        }
    }

    /// Audit finding 8: curves are computed only up to [`curve_horizon`], so every count
    /// computed further must be 0 past it — for every certification, threat, tie rule and
    /// the grouping gap's upper bound. Each count is computed here 12 steps past the
    /// horizon by the same functions the curves use.
    #[test]
    fn every_count_is_zero_past_the_horizon() {
        use crate::rng::SplitMix64;
        // Every joint certification (all but the individual one).
        let joint = &Certification::ALL[1..];
        let mut rng = SplitMix64::new(8);
        for case in 0..120 {
            let n_classes = 2 + rng.below(3) as usize;
            let n_test = 1 + rng.below(9) as usize;
            let top = 1 + rng.below(7) as u32;
            let counts = (0..n_test * n_classes)
                .map(|_| rng.below(u64::from(top) + 1) as u32)
                .collect();
            let labels = (0..n_test)
                .map(|_| rng.below(n_classes as u64) as u32)
                .collect();
            let votes = Votes::new(counts, n_classes, labels).unwrap();
            let threat = [
                Threat::General,
                Threat::Insert,
                Threat::Delete,
                Threat::Flip,
            ][case % 4];
            let general = threat == Threat::General;
            let mut options = CurveOptions::new(Method::Rnn, "");
            options.threat = threat;
            options.seed = rng.next_u64();
            options.tie = if case % 3 == 0 {
                TieRule::Smaller
            } else {
                TieRule::Larger
            };
            options.joint = if general {
                joint.to_vec()
            } else {
                vec![Certification::Island, Certification::Rd]
            };
            let points = threat::rnn_points(&certify_points(&votes, options.tie), threat);
            let needs = general.then(|| Needs::new(&votes, options.tie));
            let mut job = CurveJob::new(&points, n_classes, needs.as_ref(), &options);
            let horizon = job.compute_to;
            job.compute_to = horizon + 12;
            let shared = SharedGroupings::compute(&job).unwrap();
            let mut counts = vec![(
                Certification::Individual,
                individual_counts(&points, job.compute_to),
            )];
            for &c in &options.joint {
                if let Some(v) = job.joint_curve(c, &shared).unwrap() {
                    counts.push((c, v));
                }
            }
            counts.push((Certification::Best, job.best_counts(&counts, &shared)));
            if let Some(gap) = shared.grouping_gap(&job) {
                counts.push((Certification::Best, gap.upper_bound));
            }
            for (c, v) in &counts {
                assert!(
                    v.len() as u64 == job.compute_to + 1
                        && v[horizon as usize + 1..].iter().all(|&x| x == 0),
                    "case {case}: {c} under {threat} past the horizon {horizon}: {v:?}"
                );
            }
        }
    }

    /// Under `delete` the joint horizon is exactly where the counts end: every count is 0
    /// from it on, and ISLAND still certifies one input the `e` before (review of the
    /// horizon's change: the test above has few inputs per label and never a header with
    /// many classes but few predicted labels, and checks one `e` later).
    #[test]
    fn delete_horizon_is_where_the_joint_counts_end() {
        use crate::rng::SplitMix64;
        let mut rng = SplitMix64::new(0xde1e7e);
        for case in 0..300 {
            let n_classes = 2 + rng.below(39) as usize;
            let n_test = 1 + rng.below(40) as usize;
            // A few labels get the votes (and most of the true labels).
            let active: Vec<usize> = (0..1 + rng.below(4))
                .map(|_| rng.below(n_classes as u64) as usize)
                .collect();
            let mut counts = vec![0u32; n_test * n_classes];
            let mut labels = Vec::with_capacity(n_test);
            for row in 0..n_test {
                for &l in &active {
                    counts[row * n_classes + l] = rng.below(12) as u32;
                }
                labels.push(if rng.below(5) == 0 {
                    rng.below(n_classes as u64) as u32
                } else {
                    active[rng.below(active.len() as u64) as usize] as u32
                });
            }
            let votes = Votes::new(counts, n_classes, labels).unwrap();
            let mut options = CurveOptions::new(Method::Rnn, "");
            options.threat = Threat::Delete;
            options.seed = rng.next_u64();
            options.tie = if case % 2 == 0 {
                TieRule::Smaller
            } else {
                TieRule::Larger
            };
            options.joint = vec![Certification::Island, Certification::Rd];
            let points = threat::rnn_points(&certify_points(&votes, options.tie), Threat::Delete);
            let mut job = CurveJob::new(&points, n_classes, None, &options);
            let horizon = job.compute_to;
            job.compute_to = horizon + 3;
            let shared = SharedGroupings::compute(&job).unwrap();
            let mut counts = vec![individual_counts(&points, job.compute_to)];
            for &c in &options.joint {
                counts.push(job.joint_curve(c, &shared).unwrap().unwrap());
            }
            let all: Vec<(Certification, Vec<u64>)> = [Certification::Individual]
                .into_iter()
                .chain(options.joint.iter().copied())
                .zip(counts)
                .collect();
            let best = job.best_counts(&all, &shared);
            for (c, v) in all
                .iter()
                .map(|(c, v)| (*c, v))
                .chain([(Certification::Best, &best)])
            {
                assert!(
                    v[horizon as usize..].iter().all(|&x| x == 0),
                    "case {case}: {c} past the horizon {horizon}: {v:?}"
                );
            }
            if points.iter().any(PointCertificate::correct) {
                let island = &all[1].1;
                assert!(
                    horizon > 0 && island[horizon as usize - 1] > 0,
                    "case {case}: ISLAND is 0 before the horizon {horizon}: {island:?}"
                );
            }
        }
    }

    /// LP partitions are also evaluated above their grid point; with margins larger than
    /// the grid step that upward window reaches past the largest margin, where a group can
    /// still certify under the one-label bound. Those evaluations stop at the horizon, so
    /// `lp-label` computed further equals `lp-label` computed to the horizon, zeros after
    /// (the reviewer's instance: three inputs with margins 300–301, tie to the smaller
    /// label, `lp-label` 1 up to e = 450 when the window was not capped).
    #[test]
    fn lp_windows_stop_at_the_horizon() {
        let votes = Votes::new(
            vec![600, 300, 0, 0, 600, 300, 300, 0, 600],
            3,
            vec![0, 1, 2],
        )
        .unwrap();
        let mut options = CurveOptions::new(Method::Rnn, "");
        options.tie = TieRule::Smaller;
        options.joint = vec![Certification::LpLabel];
        let points = certify_points(&votes, options.tie);
        let needs = Needs::new(&votes, options.tie);
        let mut job = CurveJob::new(&points, 3, Some(&needs), &options);
        let horizon = job.compute_to;
        assert_eq!(horizon, 301);
        job.compute_to = 500;
        let shared = SharedGroupings::compute(&job).unwrap();
        let lp_label = job
            .joint_curve(Certification::LpLabel, &shared)
            .unwrap()
            .unwrap();
        assert!(lp_label[..=horizon as usize].iter().any(|&x| x > 0));
        assert!(
            lp_label[horizon as usize + 1..].iter().all(|&x| x == 0),
            "{:?}",
            &lp_label[horizon as usize + 1..]
        );
    }

    /// A grouping above the proven bound is refused, not written as a wrapped-around gap
    /// of about 1.8e19 (release builds do not check overflow).
    #[test]
    fn a_grouping_above_the_upper_bound_is_an_error_not_a_huge_gap() {
        let mut gap = GroupingGap {
            upper_bound: vec![5, 4, 3],
            polish: Some(vec![5, 3, 3]),
            cluster: None,
            lp: Some(vec![5, 4, 3]),
        };
        assert!(gap.check().is_ok());
        assert_eq!(gap.gap(), vec![0, 0, 0]);
        gap.lp = Some(vec![5, 5, 3]);
        let message = gap.check().unwrap_err().to_string();
        assert!(
            message.contains("lp grouping certifies 5 test inputs at e = 1"),
            "{message}"
        );
        assert!(!message.contains('\n'));
        assert_eq!(gap.gap(), vec![0, 0, 0]);
    }

    /// Issue 12 (15): kNN votes count the k nearest, so rows that do not all sum to the
    /// same k ≥ 1 are refused by the library itself (every front end gets the check).
    #[test]
    fn knn_votes_must_sum_to_the_same_positive_k() {
        let options = CurveOptions::new(Method::Knn, "3");
        for (counts, row) in [
            (vec![2, 1, 1, 1], "row 1 has 2 votes and row 0 has 3"),
            (
                vec![0, 0, 0, 0],
                "row 0 has no votes: kNN votes count the k ≥ 1 nearest",
            ),
        ] {
            let votes = Votes::new(counts, 2, vec![0, 1]).unwrap();
            let e = certify_votes(&votes, &options).unwrap_err().to_string();
            assert!(e.contains(row) && e.contains("k ≥ 1"), "{e}");
            assert_eq!(check_knn_votes(&votes).unwrap_err().to_string(), e);
            // The same rows are valid rNN votes.
            certify_votes(&votes, &CurveOptions::new(Method::Rnn, "1")).unwrap();
        }
        let votes = Votes::new(vec![2, 1, 0, 3], 2, vec![0, 1]).unwrap();
        certify_votes(&votes, &options).unwrap();
    }

    #[test]
    fn fractions_round_down() {
        assert_eq!(format_fraction_floor(2, 3, 6), "0.666666");
        assert_eq!(format_fraction_floor(1, 3, 6), "0.333333");
        assert_eq!(format_fraction_floor(3, 3, 6), "1.000000");
        assert_eq!(format_fraction_floor(0, 7, 6), "0.000000");
        assert_eq!(format_fraction_floor(9_999_999, 10_000_000, 6), "0.999999");
        assert_eq!(format_fraction_floor(1, 2, 0), "0");
    }

    #[test]
    fn knn_joint_is_refused_with_a_reason() {
        let mut o = CurveOptions::new(Method::Knn, "5");
        o.joint = vec![Certification::Island];
        let e = o.validate().unwrap_err().to_string();
        assert!(e.contains("only defined for rNN"), "{e}");
    }

    #[test]
    fn default_range_ends_at_the_first_all_zero_row() {
        // row0: a = 1 > b = 0, g = 6 + 1 = 7, e* = 3; row1: a = 0 < b = 1, g = 4 − 2 = 2,
        // e* = 0;
        // row2 is misclassified.
        let votes = Votes::new(vec![0, 6, 4, 2, 5, 1], 2, vec![1, 0, 1]).unwrap();
        let out = certify_votes(&votes, &CurveOptions::new(Method::Knn, "")).unwrap();
        assert_eq!(out.curves[0].certified, vec![2, 1, 1, 1, 0]);
        assert_eq!(out.max_e, 4);
    }
}
