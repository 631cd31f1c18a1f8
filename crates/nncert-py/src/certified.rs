//! `Certified`: the certificates and curves of one or more settings, with the CLI's writers,
//! and its pickled form.
//!
//! A result is pickled as what it shows — every setting's dict of arrays and the text of
//! `curves.csv`, `examples.csv`, `report.json` and the summary table — not as the
//! library's `Experiment` (which has no reader): a restored result gives the same
//! `settings()`, the same bytes from every writer, and writes the same files, whichever
//! process restores it (a Dask worker, joblib, a cache).

use nncert::experiment::{Experiment, Setting};
use nncert::report::{self, OutputDir};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Value, json};

use crate::{array1, array2, invalid, py_err};

/// What a pickled [`Certified`] starts with, so that a state from another nncert is
/// refused with a clear message.
const STATE_FORMAT: &str = "nncert.Certified";
/// Version of the layout of [`Certified::state`].
const STATE_VERSION: u32 = 1;

/// A result computed here, or restored from its pickled form.
enum Content {
    Computed {
        exp: Experiment,
        /// What `report.json` records besides the settings and the summary.
        context: Value,
    },
    Restored {
        settings: Py<PyList>,
        curves_csv: String,
        examples_csv: String,
        report_json: String,
        summary_table: String,
    },
}

/// Certificates and curves of one or more settings, with the CLI's writers.
#[pyclass(frozen, module = "nncert._core")]
pub struct Certified {
    content: Content,
}

impl Certified {
    /// A result computed here; `context` is what `report.json` records besides the settings
    /// and the summary.
    pub fn new(exp: Experiment, context: Value) -> Certified {
        Certified {
            content: Content::Computed { exp, context },
        }
    }

    fn report(exp: &Experiment, context: &Value) -> Value {
        let mut report = json!({ "nncert_version": report::VERSION });
        if let (Some(r), Some(c)) = (report.as_object_mut(), context.as_object()) {
            r.extend(c.clone());
            r.insert("settings".into(), Value::Array(exp.settings_json()));
            r.insert(
                "summary".into(),
                report::summary_json(&exp.curves(), exp.max_e()),
            );
            r.insert(
                "notes".into(),
                json!("certified_accuracy values are proven lower bounds, rounded down; e_star = -1 means not certified even at e = 0"),
            );
        }
        report
    }
}

fn state_item<'py, T: FromPyObjectOwned<'py>>(
    state: &Bound<'py, PyDict>,
    key: &str,
) -> PyResult<T> {
    let value = state.get_item(key)?.ok_or_else(|| {
        invalid(format!(
            "Certified state: expected an entry `{key}`, found none"
        ))
    })?;
    value
        .extract::<T>()
        .map_err(|_| invalid(format!("Certified state: entry `{key}` has the wrong type")))
}

/// Rebuilds a pickled `Certified` (the target of its `__reduce__`).
#[pyfunction]
pub fn _certified_from_state(state: &Bound<'_, PyDict>) -> PyResult<Certified> {
    let format: String = state_item(state, "format")?;
    let version: u32 = state_item(state, "version")?;
    if format != STATE_FORMAT || version != STATE_VERSION {
        return Err(invalid(format!(
            "Certified state: expected {STATE_FORMAT} version {STATE_VERSION}, found {format} version {version}"
        )));
    }
    let settings: Bound<'_, PyList> = state_item(state, "settings")?;
    for s in settings.iter() {
        if !s.is_instance_of::<PyDict>() {
            return Err(invalid(
                "Certified state: entry `settings` has the wrong type",
            ));
        }
    }
    Ok(Certified {
        content: Content::Restored {
            settings: settings.unbind(),
            curves_csv: state_item(state, "curves_csv")?,
            examples_csv: state_item(state, "examples_csv")?,
            report_json: state_item(state, "report_json")?,
            summary_table: state_item(state, "summary_table")?,
        },
    })
}

/// A fresh copy of a restored setting dict (its arrays copied too), so that changing what
/// one `settings()` call returned changes nothing else.
fn copy_setting<'py>(py: Python<'py>, s: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    py.import("copy")?.call_method1("deepcopy", (s,))
}

#[pymethods]
impl Certified {
    /// Every setting as a dict of plain values and NumPy arrays.
    fn settings(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let list = PyList::empty(py);
        match &self.content {
            Content::Computed { exp, .. } => {
                for s in &exp.settings {
                    list.append(setting_dict(py, s)?)?;
                }
            }
            Content::Restored { settings, .. } => {
                for s in settings.bind(py).iter() {
                    list.append(copy_setting(py, &s)?)?;
                }
            }
        }
        Ok(list.unbind())
    }

    fn curves_csv(&self) -> String {
        match &self.content {
            Content::Computed { exp, .. } => exp.curves_csv(),
            Content::Restored { curves_csv, .. } => curves_csv.clone(),
        }
    }

    fn examples_csv(&self) -> String {
        match &self.content {
            Content::Computed { exp, .. } => exp.examples_csv(),
            Content::Restored { examples_csv, .. } => examples_csv.clone(),
        }
    }

    fn report_json(&self) -> PyResult<String> {
        match &self.content {
            Content::Computed { exp, context } => {
                serde_json::to_string_pretty(&Certified::report(exp, context))
                    .map(|s| s + "\n")
                    .map_err(|e| invalid(format!("report.json: {e}")))
            }
            Content::Restored { report_json, .. } => Ok(report_json.clone()),
        }
    }

    fn summary_table(&self) -> String {
        match &self.content {
            Content::Computed { exp, .. } => report::summary_table(&exp.curves(), exp.max_e()),
            Content::Restored { summary_table, .. } => summary_table.clone(),
        }
    }

    /// Writes curves.csv, examples.csv and report.json into `out` (all or nothing: staged
    /// beside it and swapped in, replacing an earlier nncert output whole); returns the
    /// paths written.
    fn write(&self, py: Python<'_>, out: std::path::PathBuf) -> PyResult<Vec<std::path::PathBuf>> {
        let mut staged = OutputDir::new(out);
        staged.stage("curves.csv", self.curves_csv());
        staged.stage("examples.csv", self.examples_csv());
        staged.stage("report.json", self.report_json()?);
        py.detach(|| staged.commit()).map_err(py_err)
    }

    /// Pickling: what the result shows (see the module documentation), rebuilt by
    /// `_certified_from_state`.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        let d = PyDict::new(py);
        d.set_item("format", STATE_FORMAT)?;
        d.set_item("version", STATE_VERSION)?;
        d.set_item("settings", self.settings(py)?)?;
        d.set_item("curves_csv", self.curves_csv())?;
        d.set_item("examples_csv", self.examples_csv())?;
        d.set_item("report_json", self.report_json()?)?;
        d.set_item("summary_table", self.summary_table())?;
        let rebuild = py
            .import("nncert._core")?
            .getattr("_certified_from_state")?;
        Ok((rebuild, (d,)))
    }
}

/// A setting's clean accuracy as `report.json` writes it: the fraction rounded down to 6
/// decimals, as a number (the decimal itself, e.g. 0.987 for 987 of 1,000).
fn clean_accuracy(s: &Setting) -> PyResult<f64> {
    let text =
        nncert::curve::format_fraction_floor(s.clean_correct() as u64, s.votes.n_test() as u64, 6);
    text.parse::<f64>().map_err(|e| {
        invalid(format!(
            "clean_accuracy: cannot read {text:?} as a number: {e}"
        ))
    })
}

fn setting_dict<'py>(py: Python<'py>, s: &Setting) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let n = s.votes.n_test();
    let col = |f: &dyn Fn(&nncert::report::ExampleRow) -> i64| -> Vec<i64> {
        s.rows.iter().map(f).collect()
    };
    d.set_item("method", s.method().to_string())?;
    d.set_item("param", s.classifier.to_string())?;
    d.set_item("n_test", n)?;
    d.set_item("n_classes", s.votes.n_classes())?;
    d.set_item("max_e", s.max_e)?;
    d.set_item("empty_neighbourhoods", s.empty_neighbourhoods)?;
    d.set_item("clean_accuracy", clean_accuracy(s)?)?;
    let votes = s.votes.counts().iter().map(|&v| i64::from(v)).collect();
    d.set_item("votes", array2(py, votes, n, s.votes.n_classes())?)?;
    d.set_item("labels", array1(py, col(&|r| i64::from(r.label))))?;
    d.set_item("predicted", array1(py, col(&|r| i64::from(r.predicted))))?;
    d.set_item("runner_up", array1(py, col(&|r| i64::from(r.runner_up))))?;
    d.set_item(
        "votes_predicted",
        array1(py, col(&|r| i64::from(r.votes_predicted))),
    )?;
    d.set_item(
        "votes_runner_up",
        array1(py, col(&|r| i64::from(r.votes_runner_up))),
    )?;
    d.set_item(
        "e_star",
        array1(
            py,
            col(&|r| r.e_star.map_or(-1, |e| e.min(i64::MAX as u64) as i64)),
        ),
    )?;
    d.set_item(
        "certifications",
        s.curves
            .iter()
            .map(|c| c.certification.to_string())
            .collect::<Vec<_>>(),
    )?;
    let width = s.max_e as usize + 1;
    let mut certified = Vec::with_capacity(s.curves.len() * width);
    for c in &s.curves {
        certified.extend((0..width).map(|e| c.certified.get(e).copied().unwrap_or(0) as i64));
    }
    d.set_item("certified", array2(py, certified, s.curves.len(), width)?)?;
    Ok(d)
}
