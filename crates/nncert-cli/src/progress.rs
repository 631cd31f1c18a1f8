//! Progress bars on a terminal only (never in pipes, files or CI logs).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps named `what`, hidden unless stderr is a terminal.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}

/// The two bars of a pipeline run (features, then neighbours) for `dataset`, and a way to
/// run a closure with the library's progress callbacks wired to them.
pub struct PipelineBars {
    features: ProgressBar,
    neighbours: ProgressBar,
}

impl PipelineBars {
    pub fn new(dataset: &nncert::data::Dataset) -> Self {
        PipelineBars {
            features: bar(
                (dataset.train.len() + dataset.test.len()) as u64,
                "features",
            ),
            neighbours: bar(dataset.test.len() as u64, "neighbours"),
        }
    }

    /// Runs `f` with callbacks that advance the bars, then clears them.
    pub fn run<T>(self, f: impl FnOnce(&nncert::pipeline::Progress<'_>) -> T) -> T {
        let out = f(&nncert::pipeline::Progress {
            features: &|n| self.features.inc(n as u64),
            neighbours: &|n| self.neighbours.inc(n as u64),
        });
        self.features.finish_and_clear();
        self.neighbours.finish_and_clear();
        out
    }
}
