//! Training shards × test blocks, for `nncert.distributed` (`docs/python.md`, "Dask").
//!
//! The library's sharded search (`nncert::shard`) for Dask tasks: one task searches one
//! training shard for one block of test rows and returns a [`ShardPartial`] (the
//! library's partial result, held in memory); partials of one block merge two at a time
//! in any tree; the exact keys of the few (test row, training row) pairs whose order the
//! merged partial leaves open are computed where their training rows are, and the finish
//! gives the single-machine search result of the block.
//!
//! A partial stays a Rust value for as long as it stays in one worker process: a merge or
//! finish on the worker that made its inputs reads them in memory, with no bytes written
//! or parsed. Only a partial that moves to another process is written in the library's
//! versioned, checksummed format, as a NumPy `uint8` array, which pickle protocol 5 (Dask's)
//! sends out of band, without copying it into the pickle stream.

use nncert::neighbours::exact::Exact;
use nncert::shard::{
    Partial, ShardSpec, TestBlock, TrainRows, TrainShard, exact_keys, search_rows,
};
use nncert::{FeatureMatrix, Metric, SearchConfig};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::interrupt::interruptible;
use crate::{Held, array1, array2, compute, invalid, kernel, parse, py_err, search_dict};

fn spec((index, count): (usize, usize)) -> PyResult<ShardSpec> {
    ShardSpec::new(index, count).map_err(py_err)
}

/// A partial result ([`Partial`]) of one test block and one or more training shards, as a
/// Python object: kept in memory by the worker that made it, written as the library's
/// bytes only when pickled (to move to another process, or to be saved).
#[pyclass(frozen, module = "nncert._core", name = "Partial")]
pub struct ShardPartial {
    partial: Partial,
}

#[pymethods]
impl ShardPartial {
    /// The training shards covered (numbers `I`, ascending).
    #[getter]
    fn train_shards(&self) -> Vec<usize> {
        self.partial.train_shards()
    }

    /// The test block `(J, M)`.
    #[getter]
    fn test_block(&self) -> (usize, usize) {
        let b = self.partial.test_block();
        (b.index(), b.count())
    }

    /// About how many bytes this partial holds (`sys.getsizeof`, which Dask's `sizeof`
    /// reads): its kNN candidates (8 bytes each, at least k_max per test row), rNN counts
    /// and shard tables — an estimate from its settings, not a count, so that Dask's
    /// scheduler weighs moving a partial as the large object it is (a Python object's
    /// default size would call it free to move, and tasks would be stolen from the worker
    /// that holds their partials).
    fn __sizeof__(&self) -> usize {
        let p = &self.partial;
        let s = p.settings();
        let rows = p.test_rows().len();
        let per_row = s.k_max() * 8 + s.radii.len() * s.n_classes * 4;
        let shard_rows = s.n_train / p.train_shard_count().max(1) + 1;
        rows.saturating_mul(per_row)
            .saturating_add(p.train_shards().len().saturating_mul(shard_rows * 8))
    }

    /// The library's versioned, checksummed bytes of this partial (`partial_from_bytes`
    /// reads them back).
    fn to_bytes(&self, py: Python<'_>) -> Py<PyBytes> {
        let bytes = py.detach(|| self.partial.to_bytes());
        PyBytes::new(py, &bytes).unbind()
    }

    /// Pickling: the bytes as a NumPy `uint8` array (an out-of-band buffer under pickle
    /// protocol 5, so a transfer copies them no more than it must), read back — and
    /// checked — by `partial_from_bytes`.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Py<PyAny>,))> {
        let rebuild = py.import("nncert._core")?.getattr("partial_from_bytes")?;
        let bytes = py.detach(|| self.partial.to_bytes());
        Ok((rebuild, (bytes.into_pyarray(py).into_any().unbind(),)))
    }
}

impl ShardPartial {
    fn wrap(py: Python<'_>, partial: Partial) -> PyResult<Py<ShardPartial>> {
        Py::new(py, ShardPartial { partial })
    }
}

/// A partial from the library's bytes (`bytes`, or a 1-D `uint8` NumPy array as
/// `Partial.__reduce__` writes them), checked: corrupt, truncated or foreign bytes are
/// refused.
#[pyfunction]
pub fn partial_from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<ShardPartial>> {
    let partial = if let Ok(b) = data.cast::<PyBytes>() {
        let b = b.as_bytes();
        py.detach(|| Partial::from_bytes(b))
    } else if let Ok(a) = data.extract::<PyReadonlyArray1<'_, u8>>() {
        let b = a
            .as_slice()
            .map_err(|_| invalid("partial: expected a C-contiguous uint8 array"))?;
        py.detach(|| Partial::from_bytes(b))
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "partial: expected bytes or a 1-D uint8 NumPy array",
        ));
    };
    ShardPartial::wrap(py, partial.map_err(py_err)?)
}

/// Rows `start..start + n` of the training set: features, labels and tie-break ranks, for
/// [`shard_search`]. The index keeps positions, not ranks: the ranks are stand-ins in the
/// same order ([`nncert::shard::ranks_of_positions`]), so every shard of one index must
/// come from here.
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
    let ranks = nncert::shard::ranks_of_positions(&index.positions()[rows.clone()]);
    d.set_item(
        "ranks",
        array2(
            py,
            ranks.iter().flat_map(|r| r.0).collect(),
            rows.len(),
            RANK_BYTES,
        )?,
    )?;
    Ok(d)
}

/// Bytes of a tie-break rank.
const RANK_BYTES: usize = 20;

/// An `(n, 20)` uint8 array of ranks (as `rank_keys` returns them) as the library's.
fn ranks_of_array(ranks: &PyReadonlyArray2<'_, u8>) -> PyResult<Vec<nncert::rank::Rank>> {
    if ranks.shape()[1] != RANK_BYTES {
        return Err(invalid(format!(
            "ranks: expected {RANK_BYTES} bytes per row, found {}",
            ranks.shape()[1]
        )));
    }
    let bytes = ranks
        .as_slice()
        .map_err(|_| invalid("ranks: expected a C-contiguous array"))?;
    Ok(bytes
        .chunks_exact(RANK_BYTES)
        .map(|c| nncert::rank::Rank(c.try_into().expect("20 bytes")))
        .collect())
}

/// One training shard against one block of test rows → its partial result.
#[pyfunction]
#[pyo3(signature = (features, labels, ranks, shard, n_train, n_classes, x, block, n_test, ks, radii, metric="l1", neighbours=false, context="", n_jobs=None))]
#[allow(clippy::too_many_arguments)]
pub fn shard_search(
    py: Python<'_>,
    features: PyReadonlyArray2<'_, f32>,
    labels: PyReadonlyArray1<'_, u32>,
    ranks: PyReadonlyArray2<'_, u8>,
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
) -> PyResult<Py<ShardPartial>> {
    let shape = features.shape();
    let train = FeatureMatrix {
        n: shape[0],
        dim: shape[1],
        data: features.as_array().iter().copied().collect(),
    };
    let labels = labels.as_array().to_vec();
    let ranks = ranks_of_array(&ranks)?;
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
    let partial = compute(py, n_jobs, || {
        search_rows(
            TrainShard {
                spec: shard,
                n_train,
                features: &train,
                labels: &labels,
                ranks: &ranks,
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
        )
    })?;
    ShardPartial::wrap(py, partial)
}

/// Two partials, merged (copies of them: Dask may hand the same result to another task,
/// or run this one again).
fn merged(a: &ShardPartial, b: &ShardPartial) -> Result<Partial, nncert::Error> {
    a.partial.clone().merge(b.partial.clone())
}

/// Two partial results of one test block and disjoint training shards, merged.
#[pyfunction]
pub fn merge_partials(
    py: Python<'_>,
    a: &Bound<'_, ShardPartial>,
    b: &Bound<'_, ShardPartial>,
) -> PyResult<Py<ShardPartial>> {
    let (a, b) = (a.get(), b.get());
    // Ctrl-C stops a merge of large partials (the library polls it per test row).
    let merged = interruptible(py, || merged(a, b).map_err(py_err))?;
    ShardPartial::wrap(py, merged)
}

/// The last merge of a block: two partials that together cover every training shard,
/// merged, with the pairs the merged partial still needs exact keys for (as
/// [`partial_pending`] gives them).
#[pyfunction]
pub fn merge_last(
    py: Python<'_>,
    a: &Bound<'_, ShardPartial>,
    b: &Bound<'_, ShardPartial>,
) -> PyResult<(Py<ShardPartial>, PairArrays)> {
    let (a, b) = (a.get(), b.get());
    let (merged, pending) = interruptible(py, || {
        let merged = merged(a, b).map_err(py_err)?;
        let pending = merged.pending().map_err(py_err)?;
        Ok((merged, pending))
    })?;
    Ok((ShardPartial::wrap(py, merged)?, pair_arrays(py, &pending)))
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
pub fn partial_pending(py: Python<'_>, partial: &Bound<'_, ShardPartial>) -> PyResult<PairArrays> {
    let partial = &partial.get().partial;
    let pending = interruptible(py, || partial.pending().map_err(py_err))?;
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
/// pairs, never by position, and the library refuses a key for a pair that is not a
/// candidate, two different keys for one pair, and a pair the order needs without a key.
/// `context` must be the partial's.
#[pyfunction]
pub fn finish_partial<'py>(
    py: Python<'py>,
    partial: &Bound<'py, ShardPartial>,
    keys: Vec<(
        PyReadonlyArray1<'py, i64>,
        PyReadonlyArray1<'py, i64>,
        Vec<u8>,
    )>,
    context: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let mut all: Vec<(usize, u32, Exact)> = Vec::new();
    for (q, j, k) in &keys {
        all.extend(keys_of(q, j, k)?);
    }
    let partial = &partial.get().partial;
    let s = partial.settings();
    if s.context != context {
        return Err(invalid(format!(
            "partial: made for {:?}, not for {context:?}",
            s.context
        )));
    }
    let (n, c) = (partial.test_rows().len(), s.n_classes);
    let (result, distinct) = interruptible(py, || {
        let (pairs, values): (Vec<(usize, u32)>, Vec<Exact>) =
            all.iter().map(|&(q, j, key)| ((q, j), key)).unzip();
        // The order needs no pending list of its own: a pair it needs without a key
        // is an error naming the pair (`Partial::finish_pairs`).
        let result = partial
            .clone()
            .finish_pairs(&pairs, &values)
            .map_err(py_err)?;
        let mut distinct = pairs;
        distinct.sort_unstable();
        distinct.dedup();
        Ok((result, distinct.len()))
    })?;
    let out = search_dict(py, &result, n, c)?;
    out.set_item("exact_pairs", distinct)?;
    Ok(out)
}
