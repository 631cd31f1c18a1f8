//! A votes matrix and its labels from `.npy` files (the input of `certify-votes`).

use std::path::Path;

use super::npy::NpyArray;
use crate::error::Error;
use crate::votes::Votes;

fn npy_error(path: &Path, problem: super::npy::NpyError) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        problem,
    }
}

/// Reads `VOTES.npy` (2-D integer, `n_test × c`, counts ≥ 0) and `LABELS.npy` (1-D integer,
/// length `n_test`, values `< c`).
pub fn load_votes(votes_path: &Path, labels_path: &Path) -> Result<Votes, Error> {
    let votes = NpyArray::read(votes_path)?;
    votes.expect_rank(2).map_err(|e| npy_error(votes_path, e))?;
    let (n_test, n_classes) = (votes.shape[0], votes.shape[1]);
    if n_classes < 2 {
        return Err(Error::content(
            votes_path,
            format!(
                "expected at least 2 columns (classes), found shape {}",
                votes.shape_text()
            ),
        ));
    }
    if n_test == 0 {
        return Err(Error::content(
            votes_path,
            "expected at least one row (test input), found none",
        ));
    }
    let counts = votes
        .to_u32_checked(u32::MAX, "a vote count in 0..=4294967295")
        .map_err(|e| npy_error(votes_path, e))?;

    let labels = NpyArray::read(labels_path)?;
    labels
        .expect_rank(1)
        .map_err(|e| npy_error(labels_path, e))?;
    if labels.shape[0] != n_test {
        return Err(Error::content(
            labels_path,
            format!(
                "expected {n_test} labels (one per row of {}), found {}",
                votes_path.display(),
                labels.shape[0]
            ),
        ));
    }
    let max_label = u32::try_from(n_classes - 1).unwrap_or(u32::MAX);
    let labels = labels
        .to_u32_checked(
            max_label,
            &format!(
                "a label in 0..={max_label} ({} has {n_classes} columns)",
                votes_path.display()
            ),
        )
        .map_err(|e| npy_error(labels_path, e))?;
    Votes::new(counts, n_classes, labels)
}
