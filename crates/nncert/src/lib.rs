//! # nncert — certified robustness of nearest-neighbour classifiers against poisoning
//!
//! kNN and rNN classifiers vote, and the vote is itself a certificate: an attacker who
//! adds, removes or modifies `e` training examples changes at most `2e` votes of a test
//! input. nncert turns votes into per-input certified poisoning sizes `e*` and into
//! certified-accuracy curves CA(e), each a proven lower bound (the method is
//! documented in `docs/METHOD.md`, cited as `METHOD §n` throughout, and the README).
//!
//! The modules follow the data flow: load ([`data`]) → [`features`] (HOG) → [`neighbours`]
//! (exact kNN/rNN search, with the [`rank`] tie-break) → [`votes`] → certificates
//! ([`certify`]) → [`curve`]s → [`report`]s; [`baselines`] (DPA, bagging) and [`attack`]s
//! sit beside them, and [`pipeline`] / [`experiment`] compose the whole flow. [`index`]
//! is the in-memory entry point: a training matrix indexed once, queried many times.
//!
//! ```
//! use nncert::{CurveOptions, Method, Votes, certify_votes};
//!
//! // Two test inputs, three labels: rows of vote counts and true labels.
//! let votes = Votes::new(vec![1, 7, 2,   4, 0, 3], 3, vec![1, 0]).unwrap();
//! let out = certify_votes(&votes, &CurveOptions::new(Method::Rnn, "4")).unwrap();
//! // Input 0: a = 1, b = 2, margin 7 − 2 = 5, so e* = 2; input 1: margin 4 − 3 = 1, e* = 0.
//! assert_eq!(out.points[0].e_star, 2);
//! assert_eq!(out.curves[0].certified[..3], [2, 1, 1]);
//! ```
//!
//! ## Entry points
//!
//! Everything a front end (the `nncert` binary, the Python package) or a Rust user needs is
//! re-exported here; the modules below hold the rest, and what only the crate itself uses is
//! `pub(crate)`. By what the caller holds:
//!
//! - **Arrays in memory:** [`Index::new`] (training matrix as a [`MatrixRef`] of [`Values`],
//!   labels, optional tie-break bytes), then [`Index::certify`] with a [`SearchConfig`]
//!   ([`Metric`], [`Kernel`], k and r lists) and [`CertifyOptions`]: an [`Experiment`] of
//!   [`Setting`]s, each with its [`Votes`], per-input [`ExampleRow`]s and [`Curve`]s.
//!   [`Index::search`] stops at the [`SearchResult`] (votes and [`NeighbourLists`]).
//! - **Vote counts:** [`certify_votes`] with [`CurveOptions`] ([`Method`], [`Certification`],
//!   [`Threat`], [`TieRule`]) gives [`CertifiedVotes`]: [`PointCertificate`]s and curves.
//! - **Files:** [`DatasetSpec`] → [`data::load`] → [`Dataset`] (with [`Content`] and
//!   [`ImageShape`]), features by [`FeatureKind`] ([`HogParams`]), then [`experiment::run`] with
//!   an [`ExperimentConfig`] (and [`BaselineConfig`], [`EnsembleConfig`] for DPA, bagging and
//!   ensembles of given models).
//! - **Settings:** [`Classifier`] (kNN k, rNN r, DPA ζ, FA, bagging ξ) names every curve;
//!   [`PaperDataset`] holds the paper's settings per dataset.
//! - **Attacks:** [`attack::attack`] against a [`Target`] with every [`Strategy`] gives an
//!   [`AttackReport`].
//! - **Sharded search:** [`ShardSpec`] and [`ShardSettings`] describe a part of the work, a
//!   [`Partial`] holds its result in a byte format that merges (module [`shard`]).
//! - **Outputs:** the formats are methods of the results (`Experiment::curves_csv`,
//!   `report_json`, …) and functions of [`report`]; an [`OutputDir`] stages files and
//!   writes them all or none. Errors are one [`Error`] type.
//! - **Cancelling:** a computation run inside a [`CancelScope`] stops at its next block
//!   boundary with [`Error::Interrupted`] once [`CancelScope::cancel_running`] is called
//!   (Ctrl-C in Python; module [`cancel`]).
//! - **Helpers:** [`SplitMix64`], the seeded generator of every random choice.
//!
//! From arrays in memory, no files: index a training set once, then certify test sets.
//!
//! ```
//! use nncert::{CertifyOptions, Index, Kernel, MatrixRef, Metric, SearchConfig, Values};
//!
//! // Five training points in 2-D (float64, row-major) with labels 0/1, two test points.
//! let train = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 5.0, 5.0, 5.0, 6.0];
//! let index = Index::new(
//!     MatrixRef::new("X", Values::F64(&train), 5, 2).unwrap(),
//!     vec![0, 0, 0, 1, 1],
//!     None,
//! )
//! .unwrap();
//! let test = [0.5f32, 0.5, 5.0, 5.5];
//! let config = SearchConfig {
//!     metric: Metric::L1,
//!     ks: vec![3],
//!     radii: vec![2.0],
//!     kernel: Kernel::detect().unwrap(),
//!     keep_neighbours: false,
//! };
//! let test = MatrixRef::new("X_test", Values::F32(&test), 2, 2).unwrap();
//! let exp = index.certify(test, &[0, 1], &config, &CertifyOptions::default()).unwrap();
//! // kNN, k = 3: the first point's three nearest all have label 0 (margin 3 + 0, e* = 1).
//! assert_eq!(exp.settings[0].votes.row(0), [3, 0]);
//! assert_eq!(exp.settings[0].rows[0].e_star, Some(1));
//! // rNN, r = 2: the second point has both label-1 points within 2 and none of label 0
//! // (margin 2 + 1, as label 1 wins ties against 0: e* = 1); both are certified up to e = 1.
//! assert_eq!(exp.settings[1].votes.row(1), [0, 2]);
//! assert_eq!(exp.settings[1].curves[0].certified, [2, 2, 0]);
//! ```

// In the order of the data flow.
pub mod data;
pub mod features;
pub mod rank;
pub mod neighbours;
pub mod votes;
pub mod certify;
pub mod applicability;
pub mod classifier;
pub mod curve;
pub mod baselines;
pub mod pipeline;
pub mod experiment;
pub mod paper;
pub mod index;
pub mod attack;
pub mod report;
pub mod shard;
// Beside the flow.
pub mod cancel;
pub mod rng;
mod error;

// The curated surface (see "Entry points" above); `tests/public_api.rs` pins it.
pub use attack::{AttackReport, Strategy, Target};
pub use cancel::CancelScope;
pub use certify::threat::Threat;
pub use certify::{Certification, Method, PointCertificate};
pub use classifier::Classifier;
pub use curve::{CertifiedVotes, Curve, CurveOptions, certify_votes};
pub use data::{Content, Dataset, DatasetSpec, ImageShape};
pub use error::{Error, Result};
pub use experiment::{
    BaselineConfig, CertifyOptions, EnsembleConfig, ExampleRow, Experiment, ExperimentConfig,
    Setting,
};
pub use features::{FeatureKind, FeatureMatrix, HogParams};
pub use index::{Index, MatrixRef, Values};
pub use neighbours::{Kernel, Metric, NeighbourLists, SearchConfig, SearchResult};
pub use paper::PaperDataset;
pub use report::OutputDir;
pub use rng::SplitMix64;
pub use shard::{Partial, ShardSettings, ShardSpec};
pub use votes::{Prediction, TieRule, Votes};
