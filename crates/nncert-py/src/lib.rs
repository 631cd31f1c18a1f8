//! `nncert._core`: the compiled half of the `nncert` Python package.
//!
//! Thin by design: it converts NumPy arrays into borrowed slices (no copy for C-contiguous
//! arrays of a supported dtype), calls the library with the GIL released, and converts the
//! results back. Every check that can name a Python argument better is done in the pure
//! Python half (`python/nncert/`); the library repeats every check that matters for
//! soundness, and its one-line errors become `ValueError` (`OSError` for files).

mod certified;
mod interrupt;
mod parts;
mod ranks;
mod shards;

use std::path::PathBuf;

use certified::Certified;
use interrupt::interruptible;

use nncert::applicability::{self, Param, Plan};
use nncert::baselines::bagging::{self, BaggingParams};
use nncert::baselines::dpa::{self, Units};
use nncert::certify::threat::Threat;
use nncert::data::{Content, DatasetSpec, npy_features::NpyPaths};
use nncert::experiment::{
    CertifyOptions, Experiment, ExperimentSeconds, Setting, drop_list_only_k, neighbour_settings,
};
use nncert::features::{HogParams, hog_images};
use nncert::pipeline::StageSeconds;
use nncert::report;
use nncert::{
    Certification, CurveOptions, Index, Kernel, MatrixRef, Method, Metric, SearchConfig,
    SearchResult, TieRule, Values, Votes, certify_votes as certify_votes_lib,
};
use numpy::ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyKeyboardInterrupt,
    PyNotADirectoryError, PyOSError, PyPermissionError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Value, json};
use std::io::ErrorKind;

/// The library's errors as Python exceptions: files → `OSError`, a cancelled computation
/// (Ctrl-C, see `interrupt.rs`) → `KeyboardInterrupt`, the rest → `ValueError`.
fn py_err(e: nncert::Error) -> PyErr {
    // The CLI's line: the message, its causes (the OS's reason for a file error), control
    // characters escaped.
    let message = e.one_line();
    match e {
        // `OSError(errno, message)` is created as its subclass for that errno
        // (`FileNotFoundError`, `PermissionError`, …), so callers can catch those.
        nncert::Error::Io { source, .. } => match (source.raw_os_error(), source.kind()) {
            (Some(errno), _) => PyOSError::new_err((errno, message)),
            // No error number (an error wrapped by `tempfile`): the subclass by its kind.
            (None, ErrorKind::NotFound) => PyFileNotFoundError::new_err(message),
            (None, ErrorKind::PermissionDenied) => PyPermissionError::new_err(message),
            (None, ErrorKind::AlreadyExists) => PyFileExistsError::new_err(message),
            (None, ErrorKind::NotADirectory) => PyNotADirectoryError::new_err(message),
            (None, ErrorKind::IsADirectory) => PyIsADirectoryError::new_err(message),
            (None, _) => PyOSError::new_err(message),
        },
        nncert::Error::Interrupted => PyKeyboardInterrupt::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// A `ValueError` with `message` on one line (control characters escaped, as every message:
/// a message can quote a value read from a pickled state or a file).
fn invalid(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(nncert::report::one_line(&message.into()))
}

/// Runs `f` without the GIL, on `n_jobs` threads (None: rayon's global pool, all cores or
/// `RAYON_NUM_THREADS`); Ctrl-C stops it (see `interrupt.rs`).
fn compute<T: Send>(
    py: Python<'_>,
    n_jobs: Option<usize>,
    f: impl FnOnce() -> Result<T, nncert::Error> + Send,
) -> PyResult<T> {
    interruptible(py, || match n_jobs {
        None => f().map_err(py_err),
        Some(0) => Err(invalid("n_jobs: expected at least 1 thread, found 0")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyOSError::new_err(format!("n_jobs: cannot start threads: {e}")))?;
            pool.install(f).map_err(py_err)
        }
    })
}

/// A 2-D NumPy array of one of the dtypes nncert reads, borrowed read-only.
enum Held<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
    U8(PyReadonlyArray2<'py, u8>),
}

impl<'py> Held<'py> {
    fn extract(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Held<'py>> {
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, f32>>() {
            return Ok(Held::F32(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, f64>>() {
            return Ok(Held::F64(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, u8>>() {
            return Ok(Held::U8(a));
        }
        Err(PyTypeError::new_err(format!(
            "{name}: expected a 2-D float32, float64 or uint8 NumPy array"
        )))
    }

    fn view<'a>(&'a self, name: &'a str) -> PyResult<MatrixRef<'a>> {
        let not_contiguous = |_| invalid(format!("{name}: expected a C-contiguous array"));
        let (values, shape) = match self {
            Held::F32(a) => (
                Values::F32(a.as_slice().map_err(not_contiguous)?),
                a.shape(),
            ),
            Held::F64(a) => (
                Values::F64(a.as_slice().map_err(not_contiguous)?),
                a.shape(),
            ),
            Held::U8(a) => (Values::U8(a.as_slice().map_err(not_contiguous)?), a.shape()),
        };
        MatrixRef::new(name, values, shape[0], shape[1]).map_err(py_err)
    }
}

fn labels_u32(y: &PyReadonlyArray1<'_, i64>, name: &str) -> PyResult<Vec<u32>> {
    y.as_array()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            u32::try_from(v)
                .ok()
                .filter(|&v| v < u32::MAX)
                .ok_or_else(|| {
                    invalid(format!(
                        "{name}: expected integer labels in 0..4294967295, found {v} at index {i}"
                    ))
                })
        })
        .collect()
}

fn parse<T: std::str::FromStr<Err = nncert::Error>>(text: &str) -> PyResult<T> {
    text.parse().map_err(py_err)
}

fn joint_list(joint: Option<Vec<String>>) -> PyResult<Option<Vec<Certification>>> {
    joint
        .map(|names| names.iter().map(|n| parse::<Certification>(n)).collect())
        .transpose()
}

fn kernel() -> PyResult<Kernel> {
    Kernel::detect().map_err(py_err)
}

fn array2<T: numpy::Element>(
    py: Python<'_>,
    data: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Py<PyAny>> {
    let a = Array2::from_shape_vec((rows, cols), data)
        .map_err(|e| invalid(format!("internal shape error: {e}")))?;
    Ok(a.into_pyarray(py).into_any().unbind())
}

fn array1<T: numpy::Element>(py: Python<'_>, data: Vec<T>) -> Py<PyAny> {
    Array1::from_vec(data).into_pyarray(py).into_any().unbind()
}

/// A training set indexed once (see `nncert::Index`).
#[pyclass(frozen, module = "nncert._core")]
struct NeighbourIndex {
    index: Index,
}

#[pymethods]
impl NeighbourIndex {
    #[new]
    #[pyo3(signature = (x, y, n_classes=None, rank_by=None, n_jobs=None))]
    fn new(
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArray1<'_, i64>,
        n_classes: Option<usize>,
        rank_by: Option<&Bound<'_, PyAny>>,
        n_jobs: Option<usize>,
    ) -> PyResult<Self> {
        let held = Held::extract(x, "X")?;
        let train = held.view("X")?;
        let labels = labels_u32(&y, "y")?;
        let rank_held = rank_by.map(|r| Held::extract(r, "rank_by")).transpose()?;
        let rank_rows = rank_held.as_ref().map(|h| h.view("rank_by")).transpose()?;
        let index = compute(py, n_jobs, move || match rank_rows {
            Some(r) => Index::ranked_by(train, labels, n_classes, r),
            None => Index::new(train, labels, n_classes),
        })?;
        Ok(NeighbourIndex { index })
    }

    #[getter]
    fn n_train(&self) -> usize {
        self.index.n_train()
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.index.dim()
    }

    #[getter]
    fn n_classes(&self) -> usize {
        self.index.n_classes()
    }

    /// Label of every training example.
    fn labels(&self, py: Python<'_>) -> Py<PyAny> {
        array1(
            py,
            self.index.labels().iter().map(|&y| i64::from(y)).collect(),
        )
    }

    /// Tie-break position of every training example (0 wins every distance tie).
    fn positions(&self, py: Python<'_>) -> Py<PyAny> {
        array1(
            py,
            self.index
                .positions()
                .iter()
                .map(|&p| i64::from(p))
                .collect(),
        )
    }

    /// Votes of every k and r, and the neighbour lists if asked.
    #[pyo3(signature = (x, ks, radii, metric="l1", neighbours=false, n_jobs=None))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        ks: Vec<usize>,
        radii: Vec<f64>,
        metric: &str,
        neighbours: bool,
        n_jobs: Option<usize>,
    ) -> PyResult<Py<PyDict>> {
        let held = Held::extract(x, "X")?;
        let test = held.view("X")?;
        let config = SearchConfig {
            metric: parse::<Metric>(metric)?,
            ks,
            radii,
            kernel: kernel()?,
            keep_neighbours: neighbours,
        };
        let index = &self.index;
        let result = compute(py, n_jobs, || index.search(test, None, &config))?;
        Ok(search_dict(py, &result, test.n(), index.n_classes())?.unbind())
    }

    /// Votes, certificates and curves of every k and r.
    #[pyo3(signature = (x, y, ks, radii, metric="l1", joint=None, seed=None, max_e=None, tie_rule="larger", threat="general", n_jobs=None))]
    #[allow(clippy::too_many_arguments)]
    fn certify(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArray1<'_, i64>,
        ks: Vec<usize>,
        radii: Vec<f64>,
        metric: &str,
        joint: Option<Vec<String>>,
        seed: Option<u64>,
        max_e: Option<u64>,
        tie_rule: &str,
        threat: &str,
        n_jobs: Option<usize>,
    ) -> PyResult<Certified> {
        let held = Held::extract(x, "X")?;
        let test = held.view("X")?;
        let labels = labels_u32(&y, "y")?;
        let metric = parse::<Metric>(metric)?;
        let config = SearchConfig {
            metric,
            ks,
            radii,
            kernel: kernel()?,
            keep_neighbours: false,
        };
        let mut options = CertifyOptions {
            seed: seed.unwrap_or(0),
            max_e,
            tie: parse::<TieRule>(tie_rule)?,
            threat: parse::<Threat>(threat)?,
            ..CertifyOptions::default()
        };
        let joint = joint_list(joint)?;
        check_neighbour_given(
            !config.ks.is_empty(),
            !config.radii.is_empty(),
            joint.as_deref(),
            seed.is_some(),
        )?;
        if let Some(j) = joint {
            options.joint = j;
        }
        let index = &self.index;
        let threads = n_jobs.unwrap_or_else(rayon::current_num_threads);
        let exp = compute(py, n_jobs, || {
            // Curve options are checked before the (long) search.
            CurveOptions {
                joint: options.joint.clone(),
                max_e: options.max_e,
                ..CurveOptions::new(Method::Rnn, "")
            }
            .validate()?;
            index.certify(test, &labels, &config, &options)
        })?;
        let context = certify_context(
            "python: NeighbourIndex.certify",
            &TrainFacts::of(index),
            test.n(),
            metric,
            config.kernel,
            threads,
            &options,
            &exp,
        );
        Ok(Certified::new(exp, context))
    }

    /// Training shard `shard = (I, N)` (1-based; rows ⌊(I−1)n/N⌋ … ⌊In/N⌋ − 1): its
    /// features, labels and tie-break ranks (stand-ins in the order of the index's positions), for `shard_search`.
    fn train_shard<'py>(
        &self,
        py: Python<'py>,
        index: usize,
        count: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        shards::train_shard(py, &self.index, (index, count))
    }

    /// Pickling: the index's parts as plain arrays (see `parts.rs`), rebuilt by
    /// `_index_from_state` without recomputing the ranks.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        let rebuild = py.import("nncert._core")?.getattr("_index_from_state")?;
        Ok((rebuild, (parts::index_state(py, &self.index)?,)))
    }
}

/// A search result as `NeighbourIndex.search` returns it: `{"knn": [(k, votes)], "rnn":
/// [(r, votes, empty)], "threshold_fallbacks": n}` and, if kept, the neighbour lists as flat
/// `(indices, distances, offsets)`.
fn search_dict<'py>(
    py: Python<'py>,
    result: &SearchResult,
    n: usize,
    c: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let knn = PyList::empty(py);
    for kv in &result.knn {
        let votes = kv.votes.counts().iter().map(|&v| i64::from(v)).collect();
        knn.append((kv.k, array2(py, votes, n, c)?))?;
    }
    let rnn = PyList::empty(py);
    for rv in &result.rnn {
        let votes = rv.votes.counts().iter().map(|&v| i64::from(v)).collect();
        rnn.append((rv.radius, array2(py, votes, n, c)?, rv.empty))?;
    }
    out.set_item("knn", knn)?;
    out.set_item("rnn", rnn)?;
    out.set_item("threshold_fallbacks", result.threshold_fallbacks)?;
    if let Some(lists) = &result.neighbours {
        for (key, per_query) in [
            ("knn_neighbours", &lists.knn),
            ("rnn_neighbours", &lists.rnn),
        ] {
            let mut offsets = Vec::with_capacity(per_query.len() + 1);
            offsets.push(0i64);
            let (mut index_flat, mut dist_flat) = (Vec::new(), Vec::new());
            for q in per_query {
                index_flat.extend(q.iter().map(|nb| i64::from(nb.index)));
                dist_flat.extend(q.iter().map(|nb| nb.distance));
                offsets.push(index_flat.len() as i64);
            }
            out.set_item(
                key,
                (
                    array1(py, index_flat),
                    array1(py, dist_flat),
                    array1(py, offsets),
                ),
            )?;
        }
    }
    Ok(out)
}

/// Certificates of votes (and kNN neighbour lists) searched elsewhere, e.g. block by
/// block on Dask workers, for the test labels `y` and a training set of `train_labels`,
/// `n_classes` and `n_features` (its rows are not needed): what `NeighbourIndex.certify`
/// computes from its own search. `added_k` is the k `search_plan` added only to lengthen the lists.
#[pyfunction]
#[pyo3(signature = (train_labels, n_classes, n_features, y, knn, rnn, knn_neighbours, threshold_fallbacks, metric, joint=None, seed=None, max_e=None, tie_rule="larger", threat="general", added_k=None, threads=1, seconds=0.0, command="python: nncert.distributed"))]
#[allow(clippy::too_many_arguments)]
fn certify_parts(
    py: Python<'_>,
    train_labels: PyReadonlyArray1<'_, i64>,
    n_classes: usize,
    n_features: usize,
    y: PyReadonlyArray1<'_, i64>,
    knn: Vec<(usize, PyReadonlyArray2<'_, i64>)>,
    rnn: Vec<(f64, PyReadonlyArray2<'_, i64>, usize)>,
    knn_neighbours: Option<(
        PyReadonlyArray1<'_, i64>,
        PyReadonlyArray1<'_, f32>,
        PyReadonlyArray1<'_, i64>,
    )>,
    threshold_fallbacks: usize,
    metric: &str,
    joint: Option<Vec<String>>,
    seed: Option<u64>,
    max_e: Option<u64>,
    tie_rule: &str,
    threat: &str,
    added_k: Option<usize>,
    threads: usize,
    seconds: f64,
    command: &str,
) -> PyResult<Certified> {
    let labels = labels_u32(&y, "y")?;
    let metric = parse::<Metric>(metric)?;
    let mut options = CertifyOptions {
        seed: seed.unwrap_or(0),
        max_e,
        tie: parse::<TieRule>(tie_rule)?,
        threat: parse::<Threat>(threat)?,
        ..CertifyOptions::default()
    };
    if knn.is_empty() && rnn.is_empty() {
        return Err(invalid("knn, rnn: expected at least one k or r"));
    }
    let joint = joint_list(joint)?;
    check_neighbour_given(
        !knn.is_empty(),
        !rnn.is_empty(),
        joint.as_deref(),
        seed.is_some(),
    )?;
    if let Some(j) = joint {
        options.joint = j;
    }
    let train = TrainFacts {
        labels: &labels_u32(&train_labels, "train_labels")?,
        n_classes,
        n_features,
    };
    let given = parts::Parts {
        knn,
        rnn,
        knn_neighbours,
        threshold_fallbacks,
    };
    let mut result = parts::search_result(&given, &labels, train.labels.len(), n_classes)?;
    drop_list_only_k(&mut result, added_k);
    let t = std::time::Instant::now();
    let settings = interruptible(py, || {
        neighbour_settings(&result, &options, train.labels).map_err(py_err)
    })?;
    let exp = Experiment {
        settings,
        seconds: ExperimentSeconds {
            votes: StageSeconds {
                features: 0.0,
                ranks: 0.0,
                neighbours: seconds,
            },
            certify: t.elapsed().as_secs_f64(),
            baselines: 0.0,
        },
        threshold_fallbacks: result.threshold_fallbacks,
    };
    let context = certify_context(
        command,
        &train,
        labels.len(),
        metric,
        kernel()?,
        threads,
        &options,
        &exp,
    );
    Ok(Certified::new(exp, context))
}

/// The facts about a training set that certificates and `report.json` read.
struct TrainFacts<'a> {
    labels: &'a [u32],
    n_classes: usize,
    n_features: usize,
}

impl<'a> TrainFacts<'a> {
    fn of(index: &'a Index) -> TrainFacts<'a> {
        TrainFacts {
            labels: index.labels(),
            n_classes: index.n_classes(),
            n_features: index.dim(),
        }
    }
}

/// What `report.json` records about a certification of `n_test` inputs against the
/// training set `train` besides its settings and summary.
#[allow(clippy::too_many_arguments)]
fn certify_context(
    command: &str,
    train: &TrainFacts<'_>,
    n_test: usize,
    metric: Metric,
    kernel: Kernel,
    threads: usize,
    options: &CertifyOptions,
    exp: &Experiment,
) -> Value {
    json!({
        "command": command,
        "dataset": {
            "n_train": train.labels.len(),
            "n_test": n_test,
            "n_classes": train.n_classes,
            "n_features": train.n_features,
        },
        "metric": metric,
        "kernel": kernel,
        "threads": threads,
        "tie_rule": options.tie,
        "threat": options.threat,
        "rd_seed": options.seed,
        "max_e_requested": options.max_e,
        "seconds": exp.seconds,
        "threshold_fallbacks": exp.threshold_fallbacks,
    })
}

/// Rebuilds a pickled `NeighbourIndex` (the target of its `__reduce__`).
#[pyfunction]
fn _index_from_state(state: &Bound<'_, PyDict>) -> PyResult<NeighbourIndex> {
    Ok(NeighbourIndex {
        index: parts::index_from_state(state)?,
    })
}

/// Refuses `joint` or `seed` where a kNN/rNN run does not use them, by the library's
/// rules (the CLI's): joint certifications asked explicitly (a non-empty list) without a
/// radius, an RD seed without `rd` or `rd-label` among the joint certifications run
/// (`joint`, or the default list when it is `None`).
fn check_neighbour_given(
    knn: bool,
    rnn: bool,
    joint: Option<&[Certification]>,
    seed_given: bool,
) -> PyResult<()> {
    let methods: Vec<Method> = [(Method::Knn, knn), (Method::Rnn, rnn)]
        .into_iter()
        .filter_map(|(m, run)| run.then_some(m))
        .collect();
    let default_joint = CertifyOptions::default().joint;
    let joint_run = match joint {
        Some(j) => j,
        None if rnn => &default_joint[..],
        None => &[],
    };
    let given: Vec<Param> = [
        (Param::Joint, joint.is_some_and(|j| !j.is_empty())),
        (Param::Seed, seed_given),
    ]
    .into_iter()
    .filter_map(|(p, g)| g.then_some(p))
    .collect();
    applicability::check_given(
        &given,
        &Plan {
            methods: &methods,
            joint: joint_run,
            ..Plan::default()
        },
    )
    .map_err(py_err)
}

/// Checks, before any search, that `joint` and `seed` apply to a run certifying kNN
/// (`knn`) and/or rNN (`rnn`): what `NeighbourIndex.certify` refuses, for the front ends
/// that check earlier (the certifiers' `fit`, `DistributedIndex.certify`).
#[pyfunction]
#[pyo3(signature = (knn, rnn, joint=None, seed=None))]
fn check_neighbour_params(
    knn: bool,
    rnn: bool,
    joint: Option<Vec<String>>,
    seed: Option<u64>,
) -> PyResult<()> {
    let joint = joint_list(joint)?;
    check_neighbour_given(knn, rnn, joint.as_deref(), seed.is_some())
}

/// The search that certifying `ks` under `threat` needs (as `NeighbourIndex.certify` runs
/// it): `(ks to search, whether to keep the kNN neighbour lists, the k added only for the
/// lists)`. Checks the curve options first, so that a bad one fails before any search.
#[pyfunction]
#[pyo3(signature = (ks, joint=None, max_e=None, threat="general"))]
fn search_plan(
    ks: Vec<usize>,
    joint: Option<Vec<String>>,
    max_e: Option<u64>,
    threat: &str,
) -> PyResult<(Vec<usize>, bool, Option<usize>)> {
    let mut options = CertifyOptions {
        max_e,
        threat: parse::<Threat>(threat)?,
        ..CertifyOptions::default()
    };
    if let Some(j) = joint_list(joint)? {
        options.joint = j;
    }
    CurveOptions {
        joint: options.joint.clone(),
        max_e: options.max_e,
        ..CurveOptions::new(Method::Rnn, "")
    }
    .validate()
    .map_err(py_err)?;
    let config = SearchConfig {
        metric: Metric::L1,
        ks,
        radii: Vec::new(),
        kernel: Kernel::Scalar,
        keep_neighbours: false,
    };
    let (config, added) = options.search_config(&config);
    Ok((config.ks, config.keep_neighbours, added))
}

/// Checked vote counts (≥ 0, < 2^32) and labels.
fn votes_from(
    votes: &PyReadonlyArray2<'_, i64>,
    labels: &PyReadonlyArray1<'_, i64>,
) -> PyResult<Votes> {
    let shape = votes.shape();
    let (n, c) = (shape[0], shape[1]);
    if c < 2 {
        return Err(invalid(format!(
            "votes: expected at least 2 columns (classes), found {c}"
        )));
    }
    if n == 0 {
        return Err(invalid(
            "votes: expected at least one row (test input), found none",
        ));
    }
    let view = votes.as_array();
    let mut counts = Vec::with_capacity(n * c);
    for ((i, j), &v) in view.indexed_iter() {
        counts.push(u32::try_from(v).map_err(|_| {
            invalid(format!(
                "votes: expected counts in 0..=4294967295, found {v} at row {i}, column {j}"
            ))
        })?);
    }
    if labels.len() != n {
        return Err(invalid(format!(
            "labels: expected {n} (one per row of votes), found {}",
            labels.len()
        )));
    }
    let labels = labels_u32(labels, "labels")?;
    Votes::new(counts, c, labels).map_err(py_err)
}

/// The settings of `certify_votes` that only some kinds read.
struct VoteOptions<'a> {
    param: &'a str,
    joint: Option<Vec<Certification>>,
    seed: u64,
    max_e: Option<u64>,
    tie_rule: &'a str,
    threat: Threat,
    units: &'a str,
    models: Option<u64>,
    subsample: Option<u32>,
    train_size: Option<u64>,
    alpha: f64,
}

/// kNN or rNN certificates of given votes (individual and joint); records the tie rule
/// and RD seed in `context`.
fn neighbour_votes_setting(
    py: Python<'_>,
    votes: Votes,
    method: Method,
    o: VoteOptions<'_>,
    context: &mut Value,
) -> PyResult<Setting> {
    let mut options = CurveOptions::new(method, o.param);
    if let Some(j) = o.joint {
        options.joint = j;
    }
    options.seed = o.seed;
    options.max_e = o.max_e;
    options.tie = parse::<TieRule>(o.tie_rule)?;
    options.threat = o.threat;
    let certified = interruptible(py, || certify_votes_lib(&votes, &options).map_err(py_err))?;
    context["tie_rule"] = json!(options.tie);
    context["rd_seed"] = json!(options.seed);
    Ok(Setting {
        classifier: options.classifier.clone(),
        rows: certified.points.iter().map(Into::into).collect(),
        max_e: certified.max_e,
        curves: certified.curves,
        votes,
        empty_neighbourhoods: None,
        grouping_gap: certified.grouping_gap,
    })
}

/// DPA or bagging certificates of given votes (general threat only; the caller refuses
/// joint certifications); records the tie rule and the units or bagging parameters in `context`.
fn baseline_votes_setting(
    py: Python<'_>,
    votes: Votes,
    method: Method,
    o: VoteOptions<'_>,
    context: &mut Value,
) -> PyResult<Setting> {
    parse::<TieRule>(o.tie_rule)?;
    // Refuses a threat other than general for DPA and bagging, with the reason.
    CurveOptions {
        threat: o.threat,
        ..CurveOptions::new(method, o.param)
    }
    .validate()
    .map_err(py_err)?;
    context["tie_rule"] = json!("smaller");
    let (certs, param) = if method == Method::Dpa {
        let units = match o.units {
            "poisoning" => Units::Poisoning,
            "insdel" => Units::Insdel,
            other => {
                return Err(invalid(format!(
                    "units: expected `poisoning` or `insdel`, found `{other}`"
                )));
            }
        };
        context["units"] = json!(units);
        (
            py.detach(|| dpa::certificates(&votes, units)),
            o.param.to_string(),
        )
    } else {
        let need = |v: Option<u64>, name: &str| {
            v.ok_or_else(|| invalid(format!("kind=\"bagging\" needs {name}")))
        };
        let params = BaggingParams {
            n_models: need(o.models, "models")?,
            xi: need(o.subsample.map(u64::from), "subsample")? as u32,
            train_size: need(o.train_size, "train_size")?,
            alpha: o.alpha,
        };
        params.validate().map_err(py_err)?;
        context["bagging"] = json!(params);
        let certs = py
            .detach(|| bagging::certificates(&votes, &params))
            .map_err(py_err)?;
        let param = if o.param.is_empty() {
            params.xi.to_string()
        } else {
            o.param.to_string()
        };
        (certs, param)
    };
    let classifier = nncert::Classifier::Given { method, param };
    Setting::from_baseline(classifier, votes, &certs, o.max_e).map_err(py_err)
}

/// Certifies votes that came from anywhere (the CLI's `certify-votes`).
#[pyfunction]
#[pyo3(signature = (votes, labels, kind, param="", joint=None, seed=None, max_e=None, tie_rule="larger", threat="general", units=None, models=None, subsample=None, train_size=None, alpha=None))]
#[allow(clippy::too_many_arguments)]
fn certify_votes(
    py: Python<'_>,
    votes: PyReadonlyArray2<'_, i64>,
    labels: PyReadonlyArray1<'_, i64>,
    kind: &str,
    param: &str,
    joint: Option<Vec<String>>,
    seed: Option<u64>,
    max_e: Option<u64>,
    tie_rule: &str,
    threat: &str,
    units: Option<&str>,
    models: Option<u64>,
    subsample: Option<u32>,
    train_size: Option<u64>,
    alpha: Option<f64>,
) -> PyResult<Certified> {
    let method = parse::<Method>(kind)?;
    let threat = parse::<Threat>(threat)?;
    let joint = joint_list(joint)?;
    // Parameters that do not apply to `kind` are refused, by the library's rules (the CLI's).
    let given: Vec<Param> = [
        (Param::Seed, seed.is_some()),
        (Param::Units, units.is_some()),
        (Param::Models, models.is_some()),
        (Param::Subsample, subsample.is_some()),
        (Param::TrainSize, train_size.is_some()),
        (Param::Alpha, alpha.is_some()),
    ]
    .into_iter()
    .filter_map(|(p, g)| g.then_some(p))
    .collect();
    let joint_run = joint
        .clone()
        .unwrap_or_else(|| CurveOptions::new(method, "").joint);
    applicability::check_given(
        &given,
        &Plan {
            methods: &[method],
            joint: &joint_run,
            ..Plan::default()
        },
    )
    .map_err(py_err)?;
    let votes = votes_from(&votes, &labels)?;
    let options = VoteOptions {
        param,
        joint,
        seed: seed.unwrap_or(0),
        max_e,
        tie_rule,
        threat,
        units: units.unwrap_or("poisoning"),
        models,
        subsample,
        train_size,
        alpha: alpha.unwrap_or(0.001),
    };
    let mut context = json!({
        "command": "python: certify_votes",
        "n_test": votes.n_test(),
        "n_classes": votes.n_classes(),
        "max_e_requested": max_e,
        "threat": threat,
    });
    let setting = match method {
        Method::Knn | Method::Rnn => {
            neighbour_votes_setting(py, votes, method, options, &mut context)?
        }
        Method::Dpa | Method::Bagging => {
            if options.joint.as_ref().is_some_and(|j| !j.is_empty()) {
                return Err(invalid(format!(
                    "joint: joint certification is only defined for rNN, not for kind={kind}"
                )));
            }
            baseline_votes_setting(py, votes, method, options, &mut context)?
        }
        Method::Fa | Method::RoeDpa | Method::RoeFa => {
            return Err(invalid(format!(
                "kind={kind}: Finite Aggregation and Run-Off Election need each base model's \
                 output, not vote counts; use `nncert certify-ensemble` (docs/ENSEMBLES.md)"
            )));
        }
    };
    let exp = Experiment {
        settings: vec![setting],
        seconds: ExperimentSeconds::default(),
        threshold_fallbacks: 0,
    };
    Ok(Certified::new(exp, context))
}

/// HOG descriptors of uint8 images `(n, h, w)` or channel-first `(n, c, h, w)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (images, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3), block_norm="L2-Hys", transform_sqrt=false, n_jobs=None))]
fn hog(
    py: Python<'_>,
    images: &Bound<'_, PyAny>,
    orientations: usize,
    pixels_per_cell: (usize, usize),
    cells_per_block: (usize, usize),
    block_norm: &str,
    transform_sqrt: bool,
    n_jobs: Option<usize>,
) -> PyResult<Py<PyAny>> {
    let array = images
        .cast::<numpy::PyArrayDyn<u8>>()
        .map_err(|_| PyTypeError::new_err("images: expected a uint8 NumPy array"))?
        .readonly();
    let shape = array.shape().to_vec();
    let image_shape = match shape.as_slice() {
        [_, h, w] => nncert::data::ImageShape {
            height: *h,
            width: *w,
            channels: 1,
        },
        [_, c, h, w] => nncert::data::ImageShape {
            height: *h,
            width: *w,
            channels: *c,
        },
        other => {
            return Err(invalid(format!(
                "images: expected shape (n, height, width) or (n, channels, height, width), found {other:?}"
            )));
        }
    };
    let records = array
        .as_slice()
        .map_err(|_| invalid("images: expected a C-contiguous array"))?;
    let params = HogParams {
        orientations,
        pixels_per_cell,
        cells_per_block,
        block_norm: parse(block_norm)?,
        transform_sqrt,
    };
    let m = compute(py, n_jobs, || {
        hog_images(records, image_shape, params, &|_| {})
    })?;
    array2(py, m.data, m.n, m.dim)
}

/// A dataset as arrays: `kind` is `embedded`, `mnist`, `cifar10` or `npy`.
#[pyfunction]
#[pyo3(signature = (kind, data_dir=None, npy_paths=None, n_classes=None))]
fn load_dataset(
    py: Python<'_>,
    kind: &str,
    data_dir: Option<PathBuf>,
    npy_paths: Option<(PathBuf, PathBuf, PathBuf, PathBuf)>,
    n_classes: Option<usize>,
) -> PyResult<Py<PyDict>> {
    let need_dir = || {
        data_dir
            .clone()
            .ok_or_else(|| invalid(format!("data_dir: needed for {kind}")))
    };
    let spec = match kind {
        "embedded" => DatasetSpec::Embedded,
        "mnist" => DatasetSpec::Mnist(need_dir()?),
        "cifar10" => DatasetSpec::Cifar10(need_dir()?),
        "npy" => {
            let (train_features, train_labels, test_features, test_labels) =
                npy_paths.ok_or_else(|| invalid("npy_paths: needed for npy"))?;
            DatasetSpec::Npy(
                NpyPaths {
                    train_features,
                    train_labels,
                    test_features,
                    test_labels,
                },
                n_classes,
            )
        }
        other => {
            return Err(invalid(format!(
                "dataset: expected embedded, mnist, cifar10 or npy, found `{other}`"
            )));
        }
    };
    // Ctrl-C stops a long load (the `.npy` reader polls it per piece).
    let dataset = interruptible(py, || nncert::data::load(&spec).map_err(py_err))?;
    let out = PyDict::new(py);
    out.set_item("name", &dataset.name)?;
    out.set_item("n_classes", dataset.n_classes)?;
    out.set_item("caveat", &dataset.caveat)?;
    for (prefix, split) in [("train", &dataset.train), ("test", &dataset.test)] {
        let n = split.len();
        let x: Py<PyAny> = match dataset.content {
            Content::Images(s) => {
                let a = Array1::from_vec(split.records.clone()).into_pyarray(py);
                let shape: Vec<usize> = if s.channels == 1 {
                    vec![n, s.height, s.width]
                } else {
                    vec![n, s.channels, s.height, s.width]
                };
                a.reshape(shape)?.into_any().unbind()
            }
            Content::Features {
                dim,
                bytes_per_value,
            } => {
                // The values as stored (little-endian, original dtype): the bytes the rank
                // hashes, so an index of them ranks exactly as the CLI does.
                let dtype = match bytes_per_value {
                    1 => "u1",
                    4 => "<f4",
                    _ => "<f8",
                };
                let bytes = pyo3::types::PyBytes::new(py, &split.records);
                let np = py.import("numpy")?;
                np.call_method1("frombuffer", (bytes, dtype))?
                    .call_method1("reshape", ((n, dim),))?
                    .call_method0("copy")?
                    .unbind()
            }
        };
        out.set_item(format!("{prefix}_x"), x)?;
        out.set_item(
            format!("{prefix}_y"),
            array1(py, split.labels.iter().map(|&y| i64::from(y)).collect()),
        )?;
    }
    let files: Vec<Py<PyDict>> = dataset
        .files
        .iter()
        .map(|f| {
            let d = PyDict::new(py);
            d.set_item("role", &f.role)?;
            d.set_item("path", &f.path)?;
            d.set_item("sha256", &f.sha256)?;
            d.set_item("canonical", f.canonical)?;
            Ok(d.unbind())
        })
        .collect::<PyResult<_>>()?;
    out.set_item("files", files)?;
    Ok(out.unbind())
}

/// The distance kernel this machine uses (`NNCERT_KERNEL` forces one).
#[pyfunction]
fn distance_kernel() -> PyResult<String> {
    Ok(kernel()?.to_string())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", report::VERSION)?;
    m.add_class::<NeighbourIndex>()?;
    m.add_class::<Certified>()?;
    m.add_function(wrap_pyfunction!(certify_votes, m)?)?;
    m.add_function(wrap_pyfunction!(hog, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(distance_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(_index_from_state, m)?)?;
    m.add_function(wrap_pyfunction!(certified::_certified_from_state, m)?)?;
    m.add_function(wrap_pyfunction!(search_plan, m)?)?;
    m.add("MAX_CLASSES", nncert::index::MAX_CLASSES)?;
    m.add_function(wrap_pyfunction!(check_neighbour_params, m)?)?;
    m.add_class::<shards::ShardPartial>()?;
    m.add_function(wrap_pyfunction!(shards::partial_from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(shards::shard_search, m)?)?;
    m.add_function(wrap_pyfunction!(shards::merge_partials, m)?)?;
    m.add_function(wrap_pyfunction!(shards::merge_last, m)?)?;
    m.add_function(wrap_pyfunction!(shards::shard_exact_keys, m)?)?;
    m.add_function(wrap_pyfunction!(shards::partial_pending, m)?)?;
    m.add_function(wrap_pyfunction!(shards::finish_partial, m)?)?;
    m.add_function(wrap_pyfunction!(ranks::rank_keys, m)?)?;
    m.add_function(wrap_pyfunction!(ranks::positions_of_ranks, m)?)?;
    m.add_function(wrap_pyfunction!(ranks::as_features, m)?)?;
    m.add_function(wrap_pyfunction!(ranks::index_from_rows, m)?)?;
    m.add_function(wrap_pyfunction!(certify_parts, m)?)?;
    Ok(())
}
