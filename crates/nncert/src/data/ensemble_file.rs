//! Base-model outputs from `.npy` files (the inputs of `certify-ensemble`): a predictions
//! matrix `(n_test, n_models)` with an abstain code, or logits `(n_test, n_models, c)`.

use std::path::Path;

use super::npy::{DType, NpyArray, NpyError};
use crate::baselines::model_outputs::{ABSTAIN, ModelRankings, ModelVotes};
use crate::error::Error;

fn npy_error(path: &Path, problem: NpyError) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        problem,
    }
}

fn nonempty(path: &Path, a: &NpyArray, what: &str) -> Result<(), Error> {
    if a.shape.contains(&0) {
        return Err(Error::content(
            path,
            format!(
                "expected at least one {what} in every dimension, found shape {}",
                a.shape_text()
            ),
        ));
    }
    Ok(())
}

/// Reads `PREDICTIONS.npy` (2-D integer, `n_test × n_models`: a label, or `abstain` for a
/// model that abstains) and `LABELS.npy`. The number of labels is `classes` or, if not
/// given, one more than the largest label or prediction (at least 2); `abstain` must not
/// be a label.
pub fn load_model_votes(
    predictions_path: &Path,
    labels_path: &Path,
    abstain: i64,
    classes: Option<usize>,
) -> Result<ModelVotes, Error> {
    let p = NpyArray::read(predictions_path)?;
    p.expect_rank(2)
        .map_err(|e| npy_error(predictions_path, e))?;
    nonempty(predictions_path, &p, "test input and model")?;
    let (n_test, n_models) = (p.shape[0], p.shape[1]);
    let raw = p
        .to_i64_values()
        .map_err(|e| npy_error(predictions_path, e))?;
    let labels_raw = read_labels(labels_path, n_test, predictions_path)?;
    let inferred = raw
        .iter()
        .chain(&labels_raw)
        .filter(|&&v| v != abstain && v >= 0)
        .max()
        .map_or(2, |&m| (m as usize).saturating_add(1).max(2));
    let c = classes.unwrap_or(inferred);
    if c < 2 || c > u32::MAX as usize - 1 {
        return Err(Error::invalid(format!(
            "classes: expected at least 2 labels, found {c}"
        )));
    }
    if (0..c as i64).contains(&abstain) {
        return Err(Error::invalid(format!(
            "abstain code: expected a value outside the labels 0..{c} (e.g. -1), found {abstain}"
        )));
    }
    let mut votes = Vec::with_capacity(raw.len());
    for (index, &v) in raw.iter().enumerate() {
        if v == abstain {
            votes.push(ABSTAIN);
        } else if (0..c as i64).contains(&v) {
            votes.push(v as u32);
        } else {
            return Err(Error::content(
                predictions_path,
                format!(
                    "test input {}, model {}: expected a label in 0..{c} or the abstain code {abstain}, found {v}",
                    index / n_models,
                    index % n_models
                ),
            ));
        }
    }
    let labels = check_labels(labels_path, &labels_raw, c)?;
    ModelVotes::new(votes, n_models, c, labels)
}

/// Reads `LOGITS.npy` (3-D float32 or float64, `n_test × n_models × c`, no NaN; a model
/// whose scores are all −∞ abstains) and `LABELS.npy`.
pub fn load_model_rankings(logits_path: &Path, labels_path: &Path) -> Result<ModelRankings, Error> {
    let a = NpyArray::read(logits_path)?;
    a.expect_rank(3).map_err(|e| npy_error(logits_path, e))?;
    nonempty(logits_path, &a, "test input, model and label")?;
    let (n_test, n_models, c) = (a.shape[0], a.shape[1], a.shape[2]);
    if c < 2 {
        return Err(Error::content(
            logits_path,
            format!(
                "expected at least 2 labels (last dimension), found shape {}",
                a.shape_text()
            ),
        ));
    }
    let labels_raw = read_labels(labels_path, n_test, logits_path)?;
    let labels = check_labels(labels_path, &labels_raw, c)?;
    let in_file = |e: Error| Error::content(logits_path, e.to_string());
    match a.dtype {
        DType::F32 => {
            let v = a.to_f32_values().map_err(|e| npy_error(logits_path, e))?;
            ModelRankings::from_scores(&v, n_models, c, labels).map_err(in_file)
        }
        DType::F64 => {
            let v = a.to_f64_values().map_err(|e| npy_error(logits_path, e))?;
            ModelRankings::from_scores(&v, n_models, c, labels).map_err(in_file)
        }
        other => Err(npy_error(
            logits_path,
            NpyError::UnsupportedDtype {
                found: other.to_string(),
                expected: "float32 or float64 logits",
            },
        )),
    }
}

fn read_labels(path: &Path, n_test: usize, matrix: &Path) -> Result<Vec<i64>, Error> {
    let l = NpyArray::read(path)?;
    l.expect_rank(1).map_err(|e| npy_error(path, e))?;
    if l.shape[0] != n_test {
        return Err(Error::content(
            path,
            format!(
                "expected {n_test} labels (one per test input of {}), found {}",
                matrix.display(),
                l.shape[0]
            ),
        ));
    }
    l.to_i64_values().map_err(|e| npy_error(path, e))
}

fn check_labels(path: &Path, raw: &[i64], c: usize) -> Result<Vec<u32>, Error> {
    raw.iter()
        .enumerate()
        .map(|(i, &y)| {
            if (0..c as i64).contains(&y) {
                Ok(y as u32)
            } else {
                Err(Error::content(
                    path,
                    format!("test input {i}: expected a label in 0..{c}, found {y}"),
                ))
            }
        })
        .collect()
}
