//! Tie-break ranks computed where the training rows are, for `nncert.distributed`
//! (`docs/python.md`, "Dask").
//!
//! An example's rank is the SHA-1 of its label and its row's bytes (`nncert::rank`,
//! `docs/METHOD.md` §2): it depends on that example alone. So each worker hashes the rows
//! it holds ([`rank_keys`], 20 bytes per row), the client orders the hashes of the whole
//! training set into positions ([`positions_of_ranks`]: only hashes travel, never rows),
//! and each worker builds its part of the index from its rows and their positions
//! ([`index_from_rows`], [`as_features`]) — the same index, bit for bit, as
//! `NeighbourIndex(X, y, rank_by=…)` built in one process.

use nncert::Index;
use nncert::rank::{Rank, rank};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::{Held, NeighbourIndex, array1, array2, invalid, labels_u32, py_err};

/// Bytes of a rank.
const RANK_BYTES: usize = 20;

/// The rank of every row of `rows` with its label in `y`, as an `(n, 20)` uint8 array: the
/// SHA-1 of the label (u32, little-endian) and the row's values as stored (original
/// dtype, little-endian) — what `NeighbourIndex(X, y, rank_by=rows)` hashes.
#[pyfunction]
pub fn rank_keys(
    py: Python<'_>,
    rows: &Bound<'_, PyAny>,
    y: PyReadonlyArray1<'_, i64>,
) -> PyResult<Py<PyAny>> {
    let held = Held::extract(rows, "rank_by")?;
    let view = held.view("rank_by")?;
    let labels = labels_u32(&y, "y")?;
    if labels.len() != view.n() {
        return Err(invalid(format!(
            "y: expected {} labels (one per row of rank_by), found {}",
            view.n(),
            labels.len()
        )));
    }
    let record = view.record_len();
    let ranks: Vec<u8> = py.detach(|| {
        let bytes = view.le_bytes();
        labels
            .iter()
            .enumerate()
            .flat_map(|(i, &label)| rank(label, &bytes[i * record..(i + 1) * record]).0)
            .collect()
    });
    array2(py, ranks, labels.len(), RANK_BYTES)
}

/// Each example's tie-break position (0 wins every distance tie) from the ranks of every
/// example of the training set in index order, as [`rank_keys`] returns them (stacked).
#[pyfunction]
pub fn positions_of_ranks(py: Python<'_>, ranks: PyReadonlyArray2<'_, u8>) -> PyResult<Py<PyAny>> {
    let shape = ranks.shape();
    if shape[1] != RANK_BYTES {
        return Err(invalid(format!(
            "ranks: expected {RANK_BYTES} bytes per row, found {}",
            shape[1]
        )));
    }
    if shape[0] > u32::MAX as usize - 1 {
        return Err(invalid("ranks: at most 2^32 − 2 training examples"));
    }
    let bytes = ranks
        .as_slice()
        .map_err(|_| invalid("ranks: expected a C-contiguous array"))?;
    let positions = py.detach(|| {
        let ranks: Vec<Rank> = bytes
            .chunks_exact(RANK_BYTES)
            .map(|c| {
                let mut r = [0u8; RANK_BYTES];
                r.copy_from_slice(c);
                Rank(r)
            })
            .collect();
        nncert::rank::positions_of_ranks(&ranks)
    });
    Ok(array1(py, positions))
}

/// The values of `x` as the f32 features an index searches (the conversion and checks of
/// `NeighbourIndex(x, …)`: finite values, at least one row and column).
#[pyfunction]
pub fn as_features(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let held = Held::extract(x, "X")?;
    let f = held.view("X")?.to_features().map_err(py_err)?;
    array2(py, f.data, f.n, f.dim)
}

/// The index of training rows `x` with labels `y` and the tie-break positions computed
/// from every example's rank ([`positions_of_ranks`]): what `NeighbourIndex(X, y,
/// n_classes, rank_by)` builds, without hashing again.
#[pyfunction]
pub fn index_from_rows(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: PyReadonlyArray1<'_, i64>,
    positions: PyReadonlyArray1<'_, u32>,
    n_classes: usize,
) -> PyResult<NeighbourIndex> {
    let held = Held::extract(x, "X")?;
    let view = held.view("X")?;
    let labels = labels_u32(&y, "y")?;
    let positions = positions.as_array().to_vec();
    let index = py
        .detach(|| Index::from_parts(view.to_features()?, labels, positions, n_classes))
        .map_err(py_err)?;
    Ok(NeighbourIndex { index })
}
