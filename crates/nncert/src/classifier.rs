//! The classifier a setting certifies, as a typed value: kNN's k, rNN's r, the baselines'
//! parameters, or the free text a user gave with votes from elsewhere.
//!
//! Settings used to travel as `method` + `param: String` and were compared as text
//! (`"5000"`); now they are compared as values, and the text appears only on output, through
//! [`Classifier`]'s `Display`, which writes exactly the `param` column every output format
//! has always had (`5000`, `4`, `4.5`, `k=60 d=16`).

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::certify::Method;

/// One classifier setting. Two settings are equal when they are the same classifier with
/// the same parameters (radii compared bit for bit, so equality is an equivalence).
#[derive(Debug, Clone)]
pub enum Classifier {
    /// k nearest neighbours.
    Knn {
        /// Neighbours that vote.
        k: usize,
    },
    /// Every training example within distance r votes.
    Rnn {
        /// The radius (for `ip`, an inner-product threshold).
        r: f64,
    },
    /// Deep Partition Aggregation with ζ partitions.
    Dpa {
        /// ζ.
        partitions: usize,
    },
    /// Run-Off Election on a DPA ensemble of ζ partitions.
    RoeDpa {
        /// ζ.
        partitions: usize,
    },
    /// Finite Aggregation: k buckets, each model trained on d of them.
    Fa {
        /// Buckets.
        k: usize,
        /// Buckets per model.
        d: usize,
    },
    /// Run-Off Election on a Finite Aggregation ensemble.
    RoeFa {
        /// Buckets.
        k: usize,
        /// Buckets per model.
        d: usize,
    },
    /// Bagging with subsamples of ξ training examples.
    Bagging {
        /// ξ.
        subsample: u32,
    },
    /// Votes certified as they came (`certify-votes`, `certify-ensemble`, the Python
    /// `certify_votes`): the method and the user's own parameter text, copied to outputs.
    Given {
        /// Which classifier produced the votes.
        method: Method,
        /// The text to write in the `param` column (one line).
        param: String,
    },
}

impl Classifier {
    /// Which kind of classifier (decides which certificates are valid).
    pub fn method(&self) -> Method {
        match self {
            Classifier::Knn { .. } => Method::Knn,
            Classifier::Rnn { .. } => Method::Rnn,
            Classifier::Dpa { .. } => Method::Dpa,
            Classifier::RoeDpa { .. } => Method::RoeDpa,
            Classifier::Fa { .. } => Method::Fa,
            Classifier::RoeFa { .. } => Method::RoeFa,
            Classifier::Bagging { .. } => Method::Bagging,
            Classifier::Given { method, .. } => *method,
        }
    }

    /// The parameter as a number for ordering settings of one method (k, r, ζ, ξ, FA's k);
    /// `None` for free text.
    pub fn size(&self) -> Option<f64> {
        match *self {
            Classifier::Knn { k } | Classifier::Fa { k, .. } | Classifier::RoeFa { k, .. } => {
                Some(k as f64)
            }
            Classifier::Rnn { r } => Some(r),
            Classifier::Dpa { partitions } | Classifier::RoeDpa { partitions } => {
                Some(partitions as f64)
            }
            Classifier::Bagging { subsample } => Some(f64::from(subsample)),
            Classifier::Given { .. } => None,
        }
    }
}

impl Classifier {
    /// The fields that decide equality: method, numbers (radii as bits), given text.
    fn key(&self) -> (Method, [u64; 2], Option<&str>) {
        let numbers = match *self {
            Classifier::Knn { k } => [k as u64, 0],
            Classifier::Rnn { r } => [r.to_bits(), 0],
            Classifier::Dpa { partitions } | Classifier::RoeDpa { partitions } => {
                [partitions as u64, 0]
            }
            Classifier::Fa { k, d } | Classifier::RoeFa { k, d } => [k as u64, d as u64],
            Classifier::Bagging { subsample } => [u64::from(subsample), 0],
            Classifier::Given { .. } => [0, 0],
        };
        let text = match self {
            Classifier::Given { param, .. } => Some(param.as_str()),
            _ => None,
        };
        (self.method(), numbers, text)
    }
}

impl PartialEq for Classifier {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Classifier {}

/// The `param` column: `5000`, `4`, `4.5` (an f64's shortest text), `k=60 d=16`, or the
/// given text.
impl fmt::Display for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Classifier::Knn { k } => write!(f, "{k}"),
            Classifier::Rnn { r } => write!(f, "{r}"),
            Classifier::Dpa { partitions } | Classifier::RoeDpa { partitions } => {
                write!(f, "{partitions}")
            }
            Classifier::Fa { k, d } | Classifier::RoeFa { k, d } => write!(f, "k={k} d={d}"),
            Classifier::Bagging { subsample } => write!(f, "{subsample}"),
            Classifier::Given { param, .. } => f.write_str(param),
        }
    }
}

/// Serialised as the two fields every report has always had: `method` and `param` (the
/// text of `Display`); a struct that flattens it keeps its JSON unchanged.
impl Serialize for Classifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("method", &self.method())?;
        map.serialize_entry("param", &self.to_string())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_by_value_and_kind() {
        assert_eq!(Classifier::Rnn { r: 4.0 }, Classifier::Rnn { r: 4.0 });
        assert_ne!(Classifier::Rnn { r: 4.0 }, Classifier::Rnn { r: 4.5 });
        assert_ne!(Classifier::Knn { k: 4 }, Classifier::Dpa { partitions: 4 });
        assert_ne!(
            Classifier::Fa { k: 60, d: 16 },
            Classifier::RoeFa { k: 60, d: 16 }
        );
        let nan = Classifier::Rnn { r: f64::NAN };
        assert_eq!(nan, nan.clone());
    }

    #[test]
    fn the_param_text_is_the_one_outputs_always_had() {
        let cases = [
            (Classifier::Knn { k: 5000 }, "knn", "5000"),
            (Classifier::Rnn { r: 4.0 }, "rnn", "4"),
            (
                Classifier::Rnn { r: 0.1 + 0.2 },
                "rnn",
                "0.30000000000000004",
            ),
            (Classifier::Dpa { partitions: 5500 }, "dpa", "5500"),
            (Classifier::RoeDpa { partitions: 60 }, "roe-dpa", "60"),
            (Classifier::Fa { k: 60, d: 16 }, "fa", "k=60 d=16"),
            (Classifier::RoeFa { k: 60, d: 16 }, "roe-fa", "k=60 d=16"),
            (Classifier::Bagging { subsample: 27 }, "bagging", "27"),
            (
                Classifier::Given {
                    method: Method::Rnn,
                    param: "my model".into(),
                },
                "rnn",
                "my model",
            ),
        ];
        for (c, method, param) in cases {
            assert_eq!(c.to_string(), param);
            assert_eq!(c.method().to_string(), method);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("{{\"method\":\"{method}\",\"param\":\"{param}\"}}")
            );
        }
    }
}
