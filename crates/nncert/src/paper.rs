//! The paper's settings and statements in one place (METHOD §7): the experiment
//! configuration `nncert reproduce` runs, the per-dataset defaults of `nncert certify`, and
//! the numbers REPRODUCTION.md checks ours against.

use crate::certify::Certification;
use crate::certify::threat::Threat;
use crate::experiment::{BaselineConfig, ExperimentConfig};
use crate::features::{FeatureKind, HogParams};
use crate::neighbours::{Kernel, Metric, SearchConfig};
use crate::votes::TieRule;

/// A dataset of the paper's experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperDataset {
    /// MNIST (HOG: 81 dimensions).
    Mnist,
    /// CIFAR-10 (HOG: 324 dimensions).
    Cifar10,
}

impl PaperDataset {
    /// The dataset a [`crate::data::Dataset::name`] belongs to (the embedded MNIST subset
    /// counts as MNIST), or `None` for user data.
    pub(crate) fn from_name(name: &str) -> Option<PaperDataset> {
        if name.starts_with("mnist") {
            Some(PaperDataset::Mnist)
        } else if name == "cifar10" {
            Some(PaperDataset::Cifar10)
        } else {
            None
        }
    }

    /// kNN sizes of the paper's figures.
    pub fn ks(self) -> Vec<usize> {
        vec![1000, 3000, 5000]
    }

    /// rNN radii of the paper's figures.
    pub fn radii(self) -> Vec<f64> {
        match self {
            PaperDataset::Mnist => vec![3.0, 4.0, 5.0],
            PaperDataset::Cifar10 => vec![19.0, 20.0, 21.0],
        }
    }

    /// The headline k.
    pub(crate) fn headline_k(self) -> usize {
        5000
    }

    /// The headline radius (individual vs joint figure).
    pub(crate) fn headline_r(self) -> f64 {
        match self {
            PaperDataset::Mnist => 4.0,
            PaperDataset::Cifar10 => 20.0,
        }
    }

    /// The largest poisoning size plotted.
    pub fn max_e(self) -> u64 {
        match self {
            PaperDataset::Mnist => 3000,
            PaperDataset::Cifar10 => 1000,
        }
    }

    /// DPA's number of partitions ζ.
    pub(crate) fn dpa_zeta(self) -> usize {
        match self {
            PaperDataset::Mnist => 5500,
            PaperDataset::Cifar10 => 900,
        }
    }

    /// Bagging's subsample size ξ.
    pub(crate) fn bagging_xi(self) -> u32 {
        match self {
            PaperDataset::Mnist => 27,
            PaperDataset::Cifar10 => 400,
        }
    }

    /// Poisoning sizes in REPRODUCTION.md's table.
    pub(crate) fn table_points(self) -> Vec<u64> {
        match self {
            PaperDataset::Mnist => vec![0, 500, 1000, 1500, 2000, 2500, 3000],
            PaperDataset::Cifar10 => vec![0, 100, 200, 400, 600, 800, 1000],
        }
    }

    /// Where the joint-vs-individual statement is checked.
    pub(crate) fn joint_statement_e(self) -> u64 {
        match self {
            PaperDataset::Mnist => 1000,
            PaperDataset::Cifar10 => 400,
        }
    }

    /// Where the comparison with the baselines is checked.
    pub(crate) fn baseline_statement_e(self) -> u64 {
        match self {
            PaperDataset::Mnist => 1000,
            PaperDataset::Cifar10 => 200,
        }
    }

    /// The experiment `nncert reproduce` runs: ℓ1 on HOG, every k and r of the figures,
    /// ISLAND and RD, and the baselines at the paper's ζ and ξ (chosen by the paper for a
    /// CA(0) similar to rNN's).
    pub fn experiment_config(self, kernel: Kernel) -> ExperimentConfig {
        ExperimentConfig {
            features: FeatureKind::Hog(HogParams::default()),
            search: SearchConfig {
                metric: Metric::L1,
                ks: self.ks(),
                radii: self.radii(),
                kernel,
                keep_neighbours: false,
            },
            joint: vec![Certification::Island, Certification::Rd],
            seed: 0,
            max_e: Some(self.max_e()),
            tie: TieRule::Larger,
            threat: Threat::General,
            baselines: BaselineConfig {
                dpa: vec![self.dpa_zeta()],
                bagging: vec![self.bagging_xi()],
                ..BaselineConfig::default()
            },
        }
    }
}

/// The k of `nncert certify` on the embedded MNIST subset: the paper's 5,000 scaled to its
/// 6,000 training images.
pub const EMBEDDED_K: usize = 500;

/// Default classifiers of `nncert certify` for a dataset name: the headline k and r of the
/// paper on its datasets ([`EMBEDDED_K`] on the embedded subset), and kNN only on user data
/// (no radius can be guessed for unknown features).
pub fn default_classifiers(dataset_name: &str) -> (Vec<usize>, Vec<f64>) {
    match PaperDataset::from_name(dataset_name) {
        Some(d) if dataset_name == "mnist-embedded" => (vec![EMBEDDED_K], vec![d.headline_r()]),
        Some(d) => (vec![d.headline_k()], vec![d.headline_r()]),
        None => (vec![PaperDataset::Mnist.headline_k()], vec![]),
    }
}

/// The paper's statements on MNIST, in percentage points at `e = 1,000` with `r = 4`.
pub(crate) mod mnist_statements {
    /// Joint (ISLAND) over individual certification.
    pub(crate) const JOINT_GAIN: f64 = 15.1;
    /// rNN above DPA.
    pub(crate) const ABOVE_DPA: f64 = 40.8;
    /// rNN above bagging.
    pub(crate) const ABOVE_BAGGING: f64 = 33.5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_dataset() {
        assert_eq!(default_classifiers("mnist"), (vec![5000], vec![4.0]));
        assert_eq!(
            default_classifiers("mnist-embedded"),
            (vec![500], vec![4.0])
        );
        assert_eq!(default_classifiers("cifar10"), (vec![5000], vec![20.0]));
        assert_eq!(default_classifiers("npy"), (vec![5000], vec![]));
    }
}
