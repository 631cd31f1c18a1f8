//! Which optional parameters a run uses. A parameter given where it does not apply is
//! refused with the reason, never silently ignored: a user who sets the RD seed believes
//! RD is computed, one who sets bagging's α believes bagging runs (docs/GUARANTEES.md §2).
//!
//! Every front end (the CLI, the Python package) lists the parameters its caller set
//! explicitly and describes what the run computes as a [`Plan`]; [`check_given`] is the
//! one place that decides, so the rules cannot drift apart between front ends.

use std::fmt;

use crate::certify::{Certification, Method};
use crate::error::Error;

/// An optional parameter that only some runs use. [`Param::name`] is its name in the
/// library and the Python package (`train_size`); the CLI's flag is the same with dashes
/// (`--train-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Param {
    /// Joint certifications (rNN only).
    Joint,
    /// Seed of the RD random division.
    Seed,
    /// DPA's units of `e` (certify-votes).
    Units,
    /// Bagging: number of base classifiers.
    Models,
    /// Bagging: subsample size ξ.
    Subsample,
    /// Bagging: training-set size.
    TrainSize,
    /// Bagging: probability that some certificate of the run is wrong.
    Alpha,
    /// Bagging: seed of the subsamples.
    BaggingSeed,
    /// Base classifier of DPA, FA, ROE and bagging.
    Learner,
    /// Finite Aggregation: models per training bucket (`certify`).
    FaD,
    /// Finite Aggregation: models per training bucket (`certify-ensemble`).
    D,
    /// Finite Aggregation: the spread's explicit shifts.
    Shifts,
    /// Finite Aggregation: seed of the spread's shifts.
    SpreadSeed,
    /// The code of an abstaining model among predicted labels.
    Abstain,
    /// HOG: orientation bins.
    HogOrientations,
    /// HOG: cell size.
    HogCell,
    /// HOG: block size.
    HogBlock,
    /// HOG: block normalisation.
    HogNorm,
}

impl Param {
    /// The parameter's name in the library and the Python package.
    pub fn name(self) -> &'static str {
        match self {
            Param::Joint => "joint",
            Param::Seed => "seed",
            Param::Units => "units",
            Param::Models => "models",
            Param::Subsample => "subsample",
            Param::TrainSize => "train_size",
            Param::Alpha => "alpha",
            Param::BaggingSeed => "bagging_seed",
            Param::Learner => "learner",
            Param::FaD => "fa_d",
            Param::D => "d",
            Param::Shifts => "shifts",
            Param::SpreadSeed => "spread_seed",
            Param::Abstain => "abstain",
            Param::HogOrientations => "hog_orientations",
            Param::HogCell => "hog_cell",
            Param::HogBlock => "hog_block",
            Param::HogNorm => "hog_norm",
        }
    }

    /// The CLI's flag: `--` and the name with dashes (`--train-size`).
    pub fn flag(self) -> String {
        format!("--{}", self.name().replace('_', "-"))
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a run computes, as far as deciding which parameters apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan<'a> {
    /// Every method certified (kNN, rNN, DPA, FA, ROE, bagging).
    pub methods: &'a [Method],
    /// The joint certifications asked for (rNN).
    pub joint: &'a [Certification],
    /// HOG features are computed (the HOG parameters apply).
    pub hog: bool,
    /// The base models' outputs are logits, not predicted labels.
    pub logits: bool,
    /// FA's shifts are given explicitly (their seed does not apply).
    pub shifts: bool,
}

impl Plan<'_> {
    fn runs(&self, method: Method) -> bool {
        self.methods.contains(&method)
    }

    fn runs_fa(&self) -> bool {
        self.runs(Method::Fa) || self.runs(Method::RoeFa)
    }

    /// Why `param` does not apply to this run, or `None` when it does.
    fn why_not(&self, param: Param) -> Option<&'static str> {
        let bagging = self.runs(Method::Bagging);
        match param {
            Param::Joint => (!self.runs(Method::Rnn))
                .then_some("joint certification applies to rNN only; give radii or drop it"),
            Param::Seed => (!self
                .joint
                .iter()
                .any(|c| matches!(c, Certification::Rd | Certification::RdLabel)))
            .then_some(
                "seeds the RD division, which runs only with rd or rd-label among the joint \
                 certifications",
            ),
            Param::Units => (!self.runs(Method::Dpa)).then_some("applies to DPA votes only"),
            Param::Models
            | Param::Subsample
            | Param::TrainSize
            | Param::Alpha
            | Param::BaggingSeed => (!bagging).then_some("applies to bagging only"),
            Param::Learner => (!bagging
                && !self.runs(Method::Dpa)
                && !self.runs_fa()
                && !self.runs(Method::RoeDpa))
            .then_some("the base classifier applies to DPA, FA, ROE and bagging only"),
            Param::FaD | Param::D | Param::Shifts => {
                (!self.runs_fa()).then_some("applies to Finite Aggregation (fa, roe-fa) only")
            }
            Param::SpreadSeed if !self.runs_fa() => {
                Some("applies to Finite Aggregation (fa, roe-fa) only")
            }
            Param::SpreadSeed => self
                .shifts
                .then_some("seeds the spread's shifts, which are given explicitly"),
            Param::Abstain => self.logits.then_some(
                "marks abstaining models among predicted labels; with logits a model \
                 abstains when all its logits are -inf",
            ),
            Param::HogOrientations | Param::HogCell | Param::HogBlock | Param::HogNorm => {
                (!self.hog).then_some("applies to HOG features only, not raw features")
            }
        }
    }
}

/// Refuses the first parameter of `given` (those the caller set explicitly) that `plan`
/// does not use, as [`Error::NotApplicable`].
pub fn check_given(given: &[Param], plan: &Plan<'_>) -> Result<(), Error> {
    match given
        .iter()
        .find_map(|&p| plan.why_not(p).map(|why| (p, why)))
    {
        Some((param, reason)) => Err(Error::NotApplicable { param, reason }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(given: Param, plan: Plan<'_>) -> bool {
        check_given(&[given], &plan).is_err()
    }

    #[test]
    fn seed_needs_an_rd_division() {
        let rnn = [Method::Rnn];
        let island = [Certification::Island];
        let plan = |joint| Plan {
            methods: &rnn,
            joint,
            ..Plan::default()
        };
        assert!(refused(Param::Seed, plan(&[])));
        assert!(refused(Param::Seed, plan(&island)));
        assert!(refused(Param::Seed, plan(&[Certification::Best])));
        assert!(!refused(Param::Seed, plan(&[Certification::Rd])));
        assert!(!refused(Param::Seed, plan(&[Certification::RdLabel])));
    }

    #[test]
    fn baseline_parameters_need_their_baseline() {
        let knn = [Method::Knn];
        let plan = |methods| Plan {
            methods,
            ..Plan::default()
        };
        for p in [
            Param::Models,
            Param::Alpha,
            Param::BaggingSeed,
            Param::Learner,
        ] {
            assert!(refused(p, plan(&knn)), "{p}");
            assert!(!refused(p, plan(&[Method::Bagging])), "{p}");
        }
        assert!(!refused(Param::Learner, plan(&[Method::Dpa])));
        assert!(refused(Param::Alpha, plan(&[Method::Dpa])));
        assert!(refused(Param::Units, plan(&[Method::Rnn])));
        assert!(!refused(Param::Units, plan(&[Method::Dpa])));
        assert!(refused(Param::Joint, plan(&knn)));
        assert!(!refused(Param::Joint, plan(&[Method::Knn, Method::Rnn])));
        for p in [Param::FaD, Param::D, Param::SpreadSeed] {
            assert!(refused(p, plan(&[Method::Dpa])), "{p}");
            assert!(!refused(p, plan(&[Method::RoeFa])), "{p}");
        }
    }

    #[test]
    fn spread_seed_and_abstain_and_hog() {
        let fa = [Method::Fa];
        let shifts = Plan {
            methods: &fa,
            shifts: true,
            ..Plan::default()
        };
        assert!(refused(Param::SpreadSeed, shifts));
        assert!(!refused(Param::Shifts, shifts));
        let logits = Plan {
            methods: &fa,
            logits: true,
            ..Plan::default()
        };
        assert!(refused(Param::Abstain, logits));
        assert!(!refused(Param::Abstain, Plan::default()));
        assert!(refused(Param::HogCell, Plan::default()));
        let hog = Plan {
            hog: true,
            ..Plan::default()
        };
        assert!(!refused(Param::HogNorm, hog));
    }

    #[test]
    fn the_message_names_the_parameter_and_the_reason() {
        let e = check_given(&[Param::TrainSize], &Plan::default()).unwrap_err();
        assert_eq!(e.to_string(), "train_size: applies to bagging only");
        assert_eq!(Param::TrainSize.flag(), "--train-size");
        assert_eq!(Param::HogNorm.flag(), "--hog-norm");
    }
}
