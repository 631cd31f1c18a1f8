//! An index and a search result taken apart into plain NumPy arrays and put back together.
//!
//! Two uses, both for running nncert in several processes (Dask workers,
//! `docs/python.md`, "Dask"): pickling a `NeighbourIndex` (its f32 features, labels,
//! tie-break positions and class count — the ranks are not recomputed, so the rebuilt
//! index searches exactly as the original), and certifying votes and neighbour lists that
//! were searched block by block elsewhere and concatenated (a `SearchResult` rebuilt from
//! arrays, checked so that no input can make the certificates read out of bounds).

use nncert::neighbours::{KnnVotes, Neighbour, RnnVotes};
use nncert::{FeatureMatrix, Index, NeighbourLists, SearchResult, Votes};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{array1, array2, invalid, py_err};

/// What `NeighbourIndex.__reduce__` ships: the name and version of the layout first, so
/// that a state from another nncert is refused with a clear message.
pub const STATE_FORMAT: &str = "nncert.NeighbourIndex";
/// Version of the layout of [`index_state`].
pub const STATE_VERSION: u32 = 1;

/// The parts of `index` as a dict of plain values and NumPy arrays.
pub fn index_state<'py>(py: Python<'py>, index: &Index) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let f = index.features().to_matrix();
    d.set_item("format", STATE_FORMAT)?;
    d.set_item("version", STATE_VERSION)?;
    d.set_item("features", array2(py, f.data, f.n, f.dim)?)?;
    d.set_item("labels", array1(py, index.labels().to_vec()))?;
    d.set_item("positions", array1(py, index.positions().to_vec()))?;
    d.set_item("n_classes", index.n_classes())?;
    Ok(d)
}

fn item<'py, T: FromPyObjectOwned<'py>>(state: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    let value = state
        .get_item(key)?
        .ok_or_else(|| invalid(format!("state: expected an entry `{key}`, found none")))?;
    value
        .extract::<T>()
        .map_err(|_| invalid(format!("state: entry `{key}` has the wrong type")))
}

/// The index whose parts `state` holds (as [`index_state`] wrote them), checked.
pub fn index_from_state(state: &Bound<'_, PyDict>) -> PyResult<Index> {
    let format: String = item(state, "format")?;
    let version: u32 = item(state, "version")?;
    if format != STATE_FORMAT || version != STATE_VERSION {
        return Err(invalid(format!(
            "state: expected {STATE_FORMAT} version {STATE_VERSION}, found {format} version {version}"
        )));
    }
    let features: PyReadonlyArray2<'_, f32> = item(state, "features")?;
    let labels: PyReadonlyArray1<'_, u32> = item(state, "labels")?;
    let positions: PyReadonlyArray1<'_, u32> = item(state, "positions")?;
    let n_classes: usize = item(state, "n_classes")?;
    let shape = features.shape();
    let features = FeatureMatrix {
        n: shape[0],
        dim: shape[1],
        data: features.as_array().iter().copied().collect(),
    };
    let labels = labels.as_array().to_vec();
    let positions = positions.as_array().to_vec();
    Index::from_parts(features, labels, positions, n_classes).map_err(py_err)
}

fn counts(votes: &PyReadonlyArray2<'_, i64>, name: &str, n: usize, c: usize) -> PyResult<Vec<u32>> {
    let shape = votes.shape();
    if shape != [n, c] {
        return Err(invalid(format!(
            "{name}: expected {n} × {c} vote counts, found {} × {}",
            shape[0], shape[1]
        )));
    }
    votes
        .as_array()
        .indexed_iter()
        .map(|((i, j), &v)| {
            u32::try_from(v).map_err(|_| {
                invalid(format!(
                    "{name}: expected counts in 0..=4294967295, found {v} at row {i}, column {j}"
                ))
            })
        })
        .collect()
}

/// Flat neighbour lists `(indices, distances, offsets)` as `NeighbourIndex.search` returns
/// them, back into one list per query, every index checked against `n_train`.
fn lists(
    flat: &(
        PyReadonlyArray1<'_, i64>,
        PyReadonlyArray1<'_, f32>,
        PyReadonlyArray1<'_, i64>,
    ),
    n: usize,
    n_train: usize,
) -> PyResult<Vec<Vec<Neighbour>>> {
    let (indices, distances, offsets) = (flat.0.as_array(), flat.1.as_array(), flat.2.as_array());
    if indices.len() != distances.len() || offsets.len() != n + 1 {
        return Err(invalid(format!(
            "knn_neighbours: expected as many indices as distances and {} offsets, found {}, {} and {}",
            n + 1,
            indices.len(),
            distances.len(),
            offsets.len()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for q in 0..n {
        let (from, to) = (offsets[q], offsets[q + 1]);
        let range = usize::try_from(from)
            .ok()
            .zip(usize::try_from(to).ok())
            .filter(|&(a, b)| a <= b && b <= indices.len())
            .ok_or_else(|| {
                invalid(format!(
                    "knn_neighbours: offsets of query {q} ({from}, {to}) out of order or range"
                ))
            })?;
        let list = (range.0..range.1)
            .map(|i| {
                let index = indices[i];
                u32::try_from(index)
                    .ok()
                    .filter(|&t| (t as usize) < n_train)
                    .map(|t| Neighbour {
                        index: t,
                        distance: distances[i],
                    })
                    .ok_or_else(|| {
                        invalid(format!(
                            "knn_neighbours: expected training indices below {n_train}, found {index}"
                        ))
                    })
            })
            .collect::<PyResult<Vec<_>>>()?;
        out.push(list);
    }
    Ok(out)
}

/// kNN votes `(k, votes)`, rNN votes `(r, votes, empty)` and optional kNN neighbour lists
/// of `labels.len()` queries.
pub struct Parts<'py> {
    pub knn: Vec<(usize, PyReadonlyArray2<'py, i64>)>,
    pub rnn: Vec<(f64, PyReadonlyArray2<'py, i64>, usize)>,
    pub knn_neighbours: Option<(
        PyReadonlyArray1<'py, i64>,
        PyReadonlyArray1<'py, f32>,
        PyReadonlyArray1<'py, i64>,
    )>,
    pub threshold_fallbacks: usize,
}

/// The `SearchResult` the parts describe, for `labels` and an index of `n_train` examples
/// and `c` classes.
pub fn search_result(
    parts: &Parts<'_>,
    labels: &[u32],
    n_train: usize,
    c: usize,
) -> PyResult<SearchResult> {
    let n = labels.len();
    let votes = |v: &PyReadonlyArray2<'_, i64>, name: &str| {
        Votes::new(counts(v, name, n, c)?, c, labels.to_vec()).map_err(py_err)
    };
    let knn = parts
        .knn
        .iter()
        .map(|(k, v)| {
            Ok(KnnVotes {
                k: *k,
                votes: votes(v, &format!("knn votes (k = {k})"))?,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let rnn = parts
        .rnn
        .iter()
        .map(|(r, v, empty)| {
            Ok(RnnVotes {
                radius: *r,
                votes: votes(v, &format!("rnn votes (r = {r})"))?,
                empty: *empty,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let neighbours = parts
        .knn_neighbours
        .as_ref()
        .map(|flat| {
            Ok::<_, PyErr>(NeighbourLists {
                knn: lists(flat, n, n_train)?,
                rnn: Vec::new(),
            })
        })
        .transpose()?;
    Ok(SearchResult {
        knn,
        rnn,
        threshold_fallbacks: parts.threshold_fallbacks,
        neighbours,
    })
}
