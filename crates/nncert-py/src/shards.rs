//! Training shards × test blocks, for `nncert.distributed` (`docs/python.md`, "Dask").
//!
//! The library's sharded search (`nncert::shard`) with bytes in and out, so that Dask moves
//! plain `bytes` between workers: one task searches one training shard for one block of
//! test rows and returns a partial result (the library's versioned, checksummed format);
//! partials of one block merge two at a time in any tree; the client merges the blocks,
//! computes the exact keys of the few (test row, training row) pairs whose order the
//! partials leave open, and gets the single-machine search result.

use nncert::shard::{Merge, Partial, ShardSpec, TestBlock, TrainShard, exact_keys, search_rows};
use nncert::{FeatureMatrix, Metric, SearchConfig};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::{Held, array1, array2, compute, kernel, parse, py_err, search_dict};

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

/// Every block's merged partial → the search result of the whole test set `x` against
/// `index` (the dict of `NeighbourIndex.search`, plus `"exact_pairs"`: how many pairs
/// needed an exact key), after checking that the partials describe this index.
pub fn finish_partials<'py>(
    py: Python<'py>,
    index: &nncert::Index,
    partials: &[Bound<'py, PyBytes>],
    x: &Bound<'py, PyAny>,
    context: &str,
    n_jobs: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let held = Held::extract(x, "X")?;
    let test = held.view("X")?;
    let bytes: Vec<&[u8]> = partials.iter().map(|b| b.as_bytes()).collect();
    let (result, pairs) = compute(py, n_jobs, || {
        let parsed = bytes
            .iter()
            .map(|b| Partial::from_bytes(b))
            .collect::<Result<Vec<_>, _>>()?;
        let merge = Merge::new(parsed)?;
        let s = merge.settings();
        if s.n_train != index.n_train()
            || s.n_classes != index.n_classes()
            || s.n_test != test.n()
            || s.context != context
        {
            return Err(nncert::Error::Invalid(format!(
                "partials: made for {} training rows, {} classes, {} test rows ({:?}), not for \
                 this index and test set ({}, {}, {}, {context:?})",
                s.n_train,
                s.n_classes,
                s.n_test,
                s.context,
                index.n_train(),
                index.n_classes(),
                test.n()
            )));
        }
        let metric = s.metric;
        let pending = merge.pending()?;
        let test_features = test.to_features()?;
        let keys = exact_keys(metric, index.features(), 0, &test_features, 0, &pending)?;
        Ok((merge.finish(&keys)?, pending.len()))
    })?;
    let out = search_dict(py, &result, test.n(), index.n_classes())?;
    out.set_item("exact_pairs", pairs)?;
    Ok(out)
}
