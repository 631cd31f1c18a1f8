//! Training shards × test blocks, for `nncert.distributed` (`docs/python.md`, "Dask").
//!
//! The library's sharded search (`nncert::shard`) with bytes in and out, so that Dask moves
//! plain `bytes` between workers: one task searches one training shard for one block of
//! test rows and returns a partial result (the library's versioned, checksummed format);
//! partials of one block merge two at a time in any tree; the client merges the blocks,
//! computes the exact keys of the few (test row, training row) pairs whose order the
//! partials leave open, and gets the single-machine search result.

use std::collections::BTreeMap;

use nncert::neighbours::exact::Exact;
use nncert::shard::{
    Partial, ShardSpec, TestBlock, TrainRows, TrainShard, exact_keys, search_rows,
};
use nncert::{FeatureMatrix, Metric, SearchConfig};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::{Held, array1, array2, compute, invalid, kernel, parse, py_err, search_dict};

fn spec((index, count): (usize, usize)) -> PyResult<ShardSpec> {
    ShardSpec::new(index, count).map_err(py_err)
}

/// Rows `start..start + n` of the training set: features, labels and global tie-break
/// positions, for [`shard_search`].
pub fn train_shard<'py>(
    py: Python<'py>,
    index: &nncert::Index,
    shard: (usize, usize),
) -> PyResult<Bound<'py, PyDict>> {
    let rows = spec(shard)?.range(index.n_train()).map_err(py_err)?;
    let f = index.features();
    let d = PyDict::new(py);
    d.set_item("start", rows.start)?;
    d.set_item(
        "features",
        array2(
            py,
            rows.clone()
                .flat_map(|i| f.row(i).iter().copied())
                .collect(),
            rows.len(),
            f.dim(),
        )?,
    )?;
    d.set_item("labels", array1(py, index.labels()[rows.clone()].to_vec()))?;
    d.set_item("positions", array1(py, index.positions()[rows].to_vec()))?;
    Ok(d)
}

/// One training shard against one block of test rows → a partial result as bytes.
#[pyfunction]
#[pyo3(signature = (features, labels, positions, shard, n_train, n_classes, x, block, n_test, ks, radii, metric="l1", neighbours=false, context="", n_jobs=None))]
#[allow(clippy::too_many_arguments)]
pub fn shard_search(
    py: Python<'_>,
    features: PyReadonlyArray2<'_, f32>,
    labels: PyReadonlyArray1<'_, u32>,
    positions: PyReadonlyArray1<'_, u32>,
    shard: (usize, usize),
    n_train: usize,
    n_classes: usize,
    x: &Bound<'_, PyAny>,
    block: (usize, usize),
    n_test: usize,
    ks: Vec<usize>,
    radii: Vec<f64>,
    metric: &str,
    neighbours: bool,
    context: &str,
    n_jobs: Option<usize>,
) -> PyResult<Py<PyBytes>> {
    let shape = features.shape();
    let train = FeatureMatrix {
        n: shape[0],
        dim: shape[1],
        data: features.as_array().iter().copied().collect(),
    };
    let labels = labels.as_array().to_vec();
    let positions = positions.as_array().to_vec();
    let held = Held::extract(x, "X")?;
    let test = held.view("X")?.to_features().map_err(py_err)?;
    let test_labels = vec![0u32; test.n];
    let config = SearchConfig {
        metric: parse::<Metric>(metric)?,
        ks,
        radii,
        kernel: kernel()?,
        keep_neighbours: neighbours,
    };
    let (shard, block) = (spec(shard)?, spec(block)?);
    let bytes = compute(py, n_jobs, || {
        let partial = search_rows(
            TrainShard {
                spec: shard,
                n_train,
                features: &train,
                labels: &labels,
                positions: &positions,
                n_classes,
            },
            TestBlock {
                spec: block,
                n_test,
                features: &test,
                labels: &test_labels,
            },
            &config,
            context,
        )?;
        Ok(partial.to_bytes())
    })?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// Two partial results of one test block and disjoint training shards, merged.
#[pyfunction]
pub fn merge_partials(py: Python<'_>, a: &[u8], b: &[u8]) -> PyResult<Py<PyBytes>> {
    let merged = py
        .detach(|| {
            let a = Partial::from_bytes(a)?;
            let b = Partial::from_bytes(b)?;
            Ok::<_, nncert::Error>(a.merge(b)?.to_bytes())
        })
        .map_err(py_err)?;
    Ok(PyBytes::new(py, &merged).unbind())
}

/// The last merge of a block: two partials that together cover every training shard,
/// merged, with the pairs the merged partial still needs exact keys for (as
/// [`partial_pending`] gives them) — computed from the merged partial in memory, which
/// saves reading it back from its bytes.
#[pyfunction]
pub fn merge_last(py: Python<'_>, a: &[u8], b: &[u8]) -> PyResult<(Py<PyBytes>, PairArrays)> {
    let (merged, pending) = py
        .detach(|| {
            let merged = Partial::from_bytes(a)?.merge(Partial::from_bytes(b)?)?;
            let pending = merged.pending()?;
            Ok::<_, nncert::Error>((merged.to_bytes(), pending))
        })
        .map_err(py_err)?;
    Ok((
        PyBytes::new(py, &merged).unbind(),
        pair_arrays(py, &pending),
    ))
}

/// (test row, training row) pairs as two int64 arrays: test rows, training rows.
type PairArrays = (Py<PyAny>, Py<PyAny>);

/// Pairs as [`PairArrays`].
fn pair_arrays(py: Python<'_>, pairs: &[(usize, u32)]) -> PairArrays {
    let q = pairs.iter().map(|&(q, _)| q as i64).collect();
    let j = pairs.iter().map(|&(_, j)| i64::from(j)).collect();
    (array1(py, q), array1(py, j))
}

/// Training rows of one shard as the exact keys read them: a borrowed row-major f32 array
/// (no copy of the shard).
struct ShardRows<'a> {
    values: &'a [f32],
    n: usize,
    dim: usize,
}

impl TrainRows for ShardRows<'_> {
    fn n_rows(&self) -> usize {
        self.n
    }
    fn n_cols(&self) -> usize {
        self.dim
    }
    fn values(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// Pairs `(test rows q, training rows j)` as two equally long int64 arrays, checked.
fn pairs_of(
    q: &PyReadonlyArray1<'_, i64>,
    j: &PyReadonlyArray1<'_, i64>,
) -> PyResult<Vec<(usize, u32)>> {
    let (q, j) = (q.as_array(), j.as_array());
    if q.len() != j.len() {
        return Err(invalid(format!(
            "pairs: expected as many test rows as training rows, found {} and {}",
            q.len(),
            j.len()
        )));
    }
    q.iter()
        .zip(j.iter())
        .map(|(&q, &j)| {
            usize::try_from(q)
                .ok()
                .zip(u32::try_from(j).ok())
                .ok_or_else(|| invalid(format!("pairs: ({q}, {j}) is not a pair of row numbers")))
        })
        .collect()
}

/// The exact keys of the pairs (global test row `q`, global training row `j`), computed
/// where the rows are: `features` holds training rows `train_start..` (a shard), `x` test
/// rows `test_start..` (a block). Returns the keys, 88 bytes each (little-endian), in the
/// order of the pairs — for [`finish_partial`], which takes them with their pairs.
#[pyfunction]
#[pyo3(signature = (features, train_start, x, test_start, q, j, metric="l1"))]
#[allow(clippy::too_many_arguments)]
pub fn shard_exact_keys(
    py: Python<'_>,
    features: PyReadonlyArray2<'_, f32>,
    train_start: usize,
    x: &Bound<'_, PyAny>,
    test_start: usize,
    q: PyReadonlyArray1<'_, i64>,
    j: PyReadonlyArray1<'_, i64>,
    metric: &str,
) -> PyResult<Py<PyBytes>> {
    let shape = features.shape();
    let train = ShardRows {
        values: features
            .as_slice()
            .map_err(|_| invalid("features: expected a C-contiguous array"))?,
        n: shape[0],
        dim: shape[1],
    };
    let held = Held::extract(x, "X")?;
    let test = held.view("X")?.to_features().map_err(py_err)?;
    let pairs = pairs_of(&q, &j)?;
    let metric = parse::<Metric>(metric)?;
    let bytes = py
        .detach(|| {
            let keys = exact_keys(metric, &train, train_start, &test, test_start, &pairs)?;
            Ok::<_, nncert::Error>(
                keys.iter()
                    .flat_map(|k| k.to_le_bytes())
                    .collect::<Vec<u8>>(),
            )
        })
        .map_err(py_err)?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// The (global test row, global training row) pairs whose exact keys the order of a
/// complete partial still needs, as two int64 arrays.
#[pyfunction]
pub fn partial_pending(py: Python<'_>, partial: &[u8]) -> PyResult<PairArrays> {
    let pending = py
        .detach(|| Partial::from_bytes(partial)?.pending())
        .map_err(py_err)?;
    Ok(pair_arrays(py, &pending))
}

/// One exact key per pair, read from [`shard_exact_keys`]'s bytes.
fn keys_of(
    q: &PyReadonlyArray1<'_, i64>,
    j: &PyReadonlyArray1<'_, i64>,
    keys: &[u8],
) -> PyResult<Vec<(usize, u32, Exact)>> {
    let pairs = pairs_of(q, j)?;
    if keys.len() != pairs.len() * Exact::BYTES {
        return Err(invalid(format!(
            "keys: expected {} bytes ({} pairs × {}), found {}",
            pairs.len() * Exact::BYTES,
            pairs.len(),
            Exact::BYTES,
            keys.len()
        )));
    }
    Ok(pairs
        .iter()
        .zip(keys.chunks_exact(Exact::BYTES))
        .map(|(&(q, j), k)| {
            let mut b = [0u8; Exact::BYTES];
            b.copy_from_slice(k);
            (q, j, Exact::from_le_bytes(&b))
        })
        .collect())
}

/// A complete partial of one test block and the exact keys of its pending pairs, each
/// given with its pair (`[(q, j, keys)]` from [`shard_exact_keys`], in any order) → the
/// search result of the block's rows (the dict of `NeighbourIndex.search`, plus
/// `"exact_pairs"`: how many distinct pairs got a key). Keys are matched to pairs by the
/// pairs, never by position: a key for a pair that is not a candidate, two different keys
/// for one pair, or a pending pair without a key is refused. `context` must be the
/// partial's.
#[pyfunction]
pub fn finish_partial<'py>(
    py: Python<'py>,
    partial: &[u8],
    keys: Vec<(
        PyReadonlyArray1<'py, i64>,
        PyReadonlyArray1<'py, i64>,
        Vec<u8>,
    )>,
    context: &str,
) -> PyResult<Bound<'py, PyDict>> {
    // One key per pair: a pair given twice must have the same key both times (the
    // library checks a key against those already known, not within one list).
    let mut by_pair: BTreeMap<(usize, u32), Exact> = BTreeMap::new();
    for (q, j, k) in &keys {
        for (q, j, key) in keys_of(q, j, k)? {
            if *by_pair.entry((q, j)).or_insert(key) != key {
                return Err(invalid(format!(
                    "keys: two different exact keys for test row {q}, training row {j}"
                )));
            }
        }
    }
    let all: Vec<(usize, u32, Exact)> = by_pair.into_iter().map(|((q, j), k)| (q, j, k)).collect();
    let (result, n, c) = py
        .detach(|| {
            let p = Partial::from_bytes(partial)?;
            let s = p.settings();
            if s.context != context {
                return Err(nncert::Error::Invalid(format!(
                    "partial: made for {:?}, not for {context:?}",
                    s.context
                )));
            }
            let (n, c) = (p.test_rows().len(), s.n_classes);
            Ok((p.finish_with(&all)?, n, c))
        })
        .map_err(py_err)?;
    let out = search_dict(py, &result, n, c)?;
    out.set_item("exact_pairs", all.len())?;
    Ok(out)
}
