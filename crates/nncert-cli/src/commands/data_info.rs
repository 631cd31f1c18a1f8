//! `nncert data info`: what a dataset holds and whether it is the canonical release.

use anyhow::Result;
use nncert::data::{Content, Dataset};
use nncert::features::FeatureKind;
use nncert::pipeline::{DistanceQuantiles, neighbour_distance_quantiles};
use nncert::{Metric, SearchConfig};

use crate::args::DataInfoArgs;

/// Which neighbours the distance quantiles describe (those up to the training-set size).
const DISTANCE_KS: [usize; 3] = [1, 10, 100];
/// The quantiles printed, in percent.
const DISTANCE_PERCENTS: [u32; 5] = [5, 25, 50, 75, 95];

pub fn run(a: &DataInfoArgs) -> Result<()> {
    let spec = a.dataset.spec()?;
    let features = a.features.kind(a.dataset.name()? == "npy")?;
    let metric: Metric = a.metric;
    let kernel = nncert::Kernel::detect()?;
    let dataset = nncert::data::load(&spec)?;
    crate::write_stdout(&describe(&dataset));
    if a.distance_sample > 0 {
        let search = SearchConfig {
            metric,
            ks: Vec::new(),
            radii: Vec::new(),
            kernel,
            keep_neighbours: false,
        };
        // The description stands on its own: a dataset the features cannot be computed
        // on (images smaller than a HOG block) is still described.
        let text = match neighbour_distance_quantiles(
            &dataset,
            features,
            &search,
            &DISTANCE_KS,
            &DISTANCE_PERCENTS,
            a.distance_sample,
        ) {
            Ok(stats) => describe_distances(
                &stats,
                metric,
                features,
                a.distance_sample.min(dataset.test.len()),
                dataset.test.len(),
            ),
            Err(e) => format!("neighbour distances: not computed: {e}\n"),
        };
        crate::write_stdout(&text);
    }
    Ok(())
}

/// The neighbour-distance quantiles, one line per k: the values to choose an rNN radius
/// from (a radius below a test input's distance to its nearest training example leaves its
/// ball empty).
pub fn describe_distances(
    stats: &[DistanceQuantiles],
    metric: Metric,
    features: FeatureKind,
    sample: usize,
    n_test: usize,
) -> String {
    let what = if metric == Metric::Ip {
        "inner product u·v with the k-th nearest training example (rNN keeps u·v ≥ r)"
    } else {
        "distance to the k-th nearest training example"
    };
    let features = match features {
        FeatureKind::Raw => "raw",
        FeatureKind::Hog(_) => "hog",
    };
    let mut out = format!(
        "neighbour distances ({metric}, {features} features; first {sample} of {n_test} test \
         inputs): quantiles of the {what}\n"
    );
    if stats.is_empty() {
        out.push_str("  none (no training or test examples)\n");
    }
    for s in stats {
        let cells: Vec<String> = s
            .quantiles
            .iter()
            .map(|(q, v)| format!("{q} %: {v:.4}"))
            .collect();
        out.push_str(&format!("  k = {}: {}\n", s.k, cells.join(", ")));
    }
    out
}

/// The human-readable description printed by `data info`.
pub fn describe(d: &Dataset) -> String {
    let mut out = String::new();
    let content = match d.content {
        Content::Images(s) => format!(
            "uint8 images {}×{}×{} (height × width × channels)",
            s.height, s.width, s.channels
        ),
        Content::Features {
            dim,
            bytes_per_value,
        } => format!("feature vectors of {dim} values ({bytes_per_value} bytes each)"),
    };
    out.push_str(&format!("dataset: {}\n", d.name));
    out.push_str(&format!("content: {content}\n"));
    out.push_str(&format!(
        "examples: {} train, {} test; {} classes\n",
        d.train.len(),
        d.test.len(),
        d.n_classes
    ));
    for (name, split) in [("train", &d.train), ("test", &d.test)] {
        let h = split.label_histogram(d.n_classes);
        let cells: Vec<String> = h
            .iter()
            .enumerate()
            .map(|(l, n)| format!("{l}:{n}"))
            .collect();
        out.push_str(&format!("labels ({name}): {}\n", cells.join(" ")));
    }
    out.push_str("files:\n");
    for f in &d.files {
        let verdict = match f.canonical {
            Some(true) => "matches the canonical release",
            Some(false) => "DOES NOT match the canonical release",
            None => "no canonical checksum to compare with",
        };
        out.push_str(&format!(
            "  {:<14} {}\n                 sha256 (content) {}\n                 md5 (as stored)  {}  {verdict}\n",
            f.role, f.path, f.sha256, f.stored_md5
        ));
    }
    let all_canonical = !d.files.is_empty() && d.files.iter().all(|f| f.canonical == Some(true));
    out.push_str(&format!(
        "canonical: {}\n",
        if all_canonical {
            "yes, every file matches the canonical release"
        } else if d.files.iter().any(|f| f.canonical == Some(false)) {
            "NO, some files differ from the canonical release"
        } else {
            "unknown (no published checksum for these files)"
        }
    ));
    if let Some(c) = &d.caveat {
        out.push_str(&format!("caveat: {c}\n"));
    }
    out
}
