//! # nncert — certified robustness of nearest-neighbour classifiers against poisoning
//!
//! kNN and rNN classifiers vote, and the vote is itself a certificate: an attacker who
//! adds, removes or modifies `e` training examples changes at most `2e` votes of a test
//! input. nncert turns votes into per-input certified poisoning sizes `e*` and into
//! certified-accuracy curves CA(e), each a proven lower bound (see `SPEC.md` of the
//! project and the README).
//!
//! The modules follow the data flow: load ([`data`]) → [`features`] (HOG) → [`neighbours`]
//! (exact kNN/rNN search, with the [`rank`] tie-break) → [`votes`] → certificates
//! ([`certify`]) → [`curve`]s → [`report`]s; [`baselines`] (DPA, bagging) and [`attack`]s
//! sit beside them, and [`pipeline`] / [`experiment`] compose the whole flow.
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

// In the order of the data flow.
pub mod data;
pub mod features;
pub mod rank;
pub mod neighbours;
pub mod votes;
pub mod certify;
pub mod curve;
pub mod baselines;
pub mod pipeline;
pub mod experiment;
pub mod paper;
pub mod attack;
pub mod report;
// Beside the flow.
pub mod rng;
mod error;

pub use certify::{Certification, Method, PointCertificate};
pub use curve::{CertifiedVotes, Curve, CurveOptions, certify_votes};
pub use error::{Error, Result};
pub use votes::{Prediction, TieRule, Votes};
