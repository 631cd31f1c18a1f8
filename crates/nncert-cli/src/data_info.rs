//! `nncert data info`: what a dataset holds and whether it is the canonical release.

use anyhow::Result;
use nncert::data::{Content, Dataset};

use crate::args::DataInfoArgs;

pub fn run(a: &DataInfoArgs) -> Result<()> {
    let dataset = nncert::data::load(&a.dataset.spec()?)?;
    crate::write_stdout(&describe(&dataset));
    Ok(())
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
