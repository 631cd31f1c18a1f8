//! Certificates: from [`Votes`] to per-point certified sizes and certified-accuracy curves.
//!
//! - [`individual`]: `e*` for one test input (METHOD §3, paper Theorems 1–2), kNN and rNN.
//! - [`joint`]: the group bound for rNN (METHOD §4, paper Theorems 3–4).
//! - [`one_label`]: the tighter group bound in which an inserted example carries one label
//!   (`docs/JOINT.md`), solved exactly per group.
//! - [`polish`]: ISLAND's groups improved label by label by an exact matching step.
//! - [`cluster`]: groups of a tight certified cluster plus cheap sacrifices, then polished.
//! - [`label_search`]: groups searched for the one-label bound, seeded by POLISH and CLUSTER.
//! - [`sweep`]: one pass over the curve computing POLISH, CLUSTER and SEARCH together, so
//!   that SEARCH reuses their partitions; a fixed partition's counts over a window of `e`
//!   are computed without solving every group at every `e` (`window_eval`).
//! - [`lp_group`]: groups rounded from the LP relaxation of the best-grouping problem.
//! - [`pair_exchange`]: a local search re-partitioning two groups at a time, exactly.
//! - [`grouping_bound`], [`lp_bound`]: proven upper bounds on what any grouping can
//!   certify (pooled, and the LP dual bound).
//! - `label_lists`: the test inputs of each predicted label, one list per label predicted
//!   (never one per class of the votes' header), which every grouping starts from.
//! - [`grouping`]: the partitions of the test set the dataset bound is evaluated on
//!   (ISLAND, recomputed for every `e`, and RD, a seeded random division).
//!
//! Every number produced here is a proven lower bound; the tests in
//! `tests/exhaustive_attacker.rs` check each of them against an attacker that enumerates
//! every poisoning of tiny instances.

pub mod cluster;
pub mod grouping;
pub mod grouping_bound;
pub mod individual;
pub mod joint;
pub mod label_search;
pub(crate) mod label_lists;
pub mod lp_bound;
pub mod lp_group;
pub mod one_label;
pub(crate) mod packing_lp;
pub mod pair_exchange;
pub mod polish;
#[cfg(test)]
mod reference;
pub mod sweep;
pub mod threat;
pub(crate) mod window_eval;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::Error;
use crate::votes::{Prediction, TieRule, Votes};

/// The voting classifier the votes came from. It decides which certificates are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// k nearest neighbours: individual certificate only (METHOD §4, last line).
    Knn,
    /// Neighbours within radius r: individual and joint certificates.
    Rnn,
    /// Deep partition aggregation (baseline, METHOD §5).
    Dpa,
    /// Bagging (baseline, METHOD §5).
    Bagging,
    /// Finite Aggregation (`docs/ENSEMBLES.md`).
    Fa,
    /// Run-Off Election on a DPA ensemble (`docs/ENSEMBLES.md`).
    #[serde(rename = "roe-dpa")]
    RoeDpa,
    /// Run-Off Election on a Finite Aggregation ensemble (`docs/ENSEMBLES.md`).
    #[serde(rename = "roe-fa")]
    RoeFa,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Knn => "knn",
            Method::Rnn => "rnn",
            Method::Dpa => "dpa",
            Method::Bagging => "bagging",
            Method::Fa => "fa",
            Method::RoeDpa => "roe-dpa",
            Method::RoeFa => "roe-fa",
        })
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "knn" => Ok(Method::Knn),
            "rnn" => Ok(Method::Rnn),
            "dpa" => Ok(Method::Dpa),
            "bagging" => Ok(Method::Bagging),
            "fa" => Ok(Method::Fa),
            "roe-dpa" => Ok(Method::RoeDpa),
            "roe-fa" => Ok(Method::RoeFa),
            other => Err(Error::invalid(format!(
                "method: expected `knn`, `rnn`, `dpa`, `bagging`, `fa`, `roe-dpa` or `roe-fa`, found `{other}`"
            ))),
        }
    }
}

/// Which bound a curve reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Certification {
    /// Each test input on its own (METHOD §3).
    Individual,
    /// Joint, ISLAND partition recomputed for every `e` (METHOD §4).
    Island,
    /// Joint, seeded random division (METHOD §4).
    Rd,
    /// ISLAND's groups certified by the one-label bound (an inserted example carries one
    /// label; `docs/JOINT.md`).
    #[serde(rename = "island-label")]
    IslandLabel,
    /// RD's groups certified by the one-label bound.
    #[serde(rename = "rd-label")]
    RdLabel,
    /// Joint, POLISH partition (ISLAND improved label by label), recomputed for every `e`.
    Polish,
    /// POLISH's groups certified by the one-label bound.
    #[serde(rename = "polish-label")]
    PolishLabel,
    /// Joint, CLUSTER partition (certified clusters plus cheap sacrifices, polished; never
    /// below POLISH), recomputed for every `e`.
    Cluster,
    /// CLUSTER's groups certified by the one-label bound.
    #[serde(rename = "cluster-label")]
    ClusterLabel,
    /// Joint, groups rounded from the LP relaxation of the best-grouping problem (never
    /// below CLUSTER), built on a grid of `e`.
    Lp,
    /// LP's (and CLUSTER's) groups certified by the one-label bound.
    #[serde(rename = "lp-label")]
    LpLabel,
    /// Groups searched for the one-label bound (seeded by POLISH and CLUSTER, never below
    /// `cluster-label`), certified by it.
    #[serde(rename = "search-label")]
    SearchLabel,
    /// Pointwise maximum of every bound computed in the same run (each is valid for each
    /// `e`, so their maximum is too).
    Best,
}

impl Certification {
    /// Every variant, in declaration order (`tests::all_lists_every_variant` keeps it whole;
    /// front ends iterate it to check that each has a flag value).
    pub const ALL: [Certification; 13] = [
        Certification::Individual,
        Certification::Island,
        Certification::Rd,
        Certification::IslandLabel,
        Certification::RdLabel,
        Certification::Polish,
        Certification::PolishLabel,
        Certification::Cluster,
        Certification::ClusterLabel,
        Certification::Lp,
        Certification::LpLabel,
        Certification::SearchLabel,
        Certification::Best,
    ];
}

impl fmt::Display for Certification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Certification::Individual => "individual",
            Certification::Island => "island",
            Certification::Rd => "rd",
            Certification::IslandLabel => "island-label",
            Certification::RdLabel => "rd-label",
            Certification::Polish => "polish",
            Certification::PolishLabel => "polish-label",
            Certification::Cluster => "cluster",
            Certification::ClusterLabel => "cluster-label",
            Certification::Lp => "lp",
            Certification::LpLabel => "lp-label",
            Certification::SearchLabel => "search-label",
            Certification::Best => "best",
        })
    }
}

impl FromStr for Certification {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "individual" => Ok(Certification::Individual),
            "island" => Ok(Certification::Island),
            "rd" => Ok(Certification::Rd),
            "island-label" => Ok(Certification::IslandLabel),
            "rd-label" => Ok(Certification::RdLabel),
            "polish" => Ok(Certification::Polish),
            "polish-label" => Ok(Certification::PolishLabel),
            "cluster" => Ok(Certification::Cluster),
            "cluster-label" => Ok(Certification::ClusterLabel),
            "lp" => Ok(Certification::Lp),
            "lp-label" => Ok(Certification::LpLabel),
            "search-label" => Ok(Certification::SearchLabel),
            "best" => Ok(Certification::Best),
            other => Err(Error::invalid(format!(
                "certification: expected one of `island`, `rd`, `island-label`, `rd-label`, \
                 `polish`, `polish-label`, `cluster`, `cluster-label`, `lp`, `lp-label`, \
                 `search-label`, `best`, found `{other}`"
            ))),
        }
    }
}

/// Everything the certificates need to know about one test input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointCertificate {
    /// True label `y`.
    pub label: u32,
    /// Predicted label, runner-up and their votes.
    pub prediction: Prediction,
    /// `g = s_a − s_b + [a wins a tie against b]` (≥ 1).
    pub margin: u64,
    /// `e* = ceil(g / 2) − 1`: the prediction cannot change under any poisoning of size
    /// ≤ `e*` (METHOD §3).
    pub e_star: u64,
}

impl PointCertificate {
    /// Certifies one row of votes.
    pub fn new(label: u32, prediction: Prediction, tie: TieRule) -> PointCertificate {
        let margin = prediction.margin(tie);
        PointCertificate {
            label,
            prediction,
            margin,
            e_star: individual::e_star(margin),
        }
    }

    /// Whether the clean prediction is the true label.
    #[inline]
    pub fn correct(&self) -> bool {
        self.prediction.predicted == self.label
    }

    /// Individually certified correct at poisoning size `e` (METHOD §3).
    #[inline]
    pub fn certified_at(&self, e: u64) -> bool {
        self.correct() && e <= self.e_star
    }

    /// The key that orders joint costs: `g` for a correct input, 0 for a misclassified one
    /// (which costs the attacker nothing). The cost at `e` is `key − e`, floored at 0.
    #[inline]
    pub(crate) fn cost_key(&self) -> u64 {
        if self.correct() { self.margin } else { 0 }
    }

    /// `cost_i` at poisoning size `e` (METHOD §4): the removals an attacker must spend on
    /// this input once every insertion already helps it.
    #[inline]
    pub fn joint_cost(&self, e: u64) -> u64 {
        self.cost_key().saturating_sub(e)
    }
}

/// Certifies every test input of `votes`.
pub fn certify_points(votes: &Votes, tie: TieRule) -> Vec<PointCertificate> {
    votes
        .predictions(tie)
        .into_iter()
        .zip(votes.labels())
        .map(|(p, &y)| PointCertificate::new(y, p, tie))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Certification;

    #[test]
    fn all_lists_every_variant() {
        // Exhaustive on purpose: a new variant does not compile here until it has a place,
        // and the assertion fails until `ALL` holds it there.
        let place = |c: Certification| match c {
            Certification::Individual => 0,
            Certification::Island => 1,
            Certification::Rd => 2,
            Certification::IslandLabel => 3,
            Certification::RdLabel => 4,
            Certification::Polish => 5,
            Certification::PolishLabel => 6,
            Certification::Cluster => 7,
            Certification::ClusterLabel => 8,
            Certification::Lp => 9,
            Certification::LpLabel => 10,
            Certification::SearchLabel => 11,
            Certification::Best => 12,
        };
        for (i, &c) in Certification::ALL.iter().enumerate() {
            assert_eq!(place(c), i, "{c} is out of place in Certification::ALL");
        }
    }
}
