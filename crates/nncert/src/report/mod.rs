//! Outputs: CSV tables, the JSON run record, and a directory writer that never leaves a
//! half-written result behind.

pub mod attack;
mod certify;
pub mod certify_ensemble;
pub mod certify_votes;
mod output_dir;
pub mod reproduction;
mod tables;
mod votes_files;

pub use output_dir::{OutputDir, PendingPath, remove_pending};
pub(crate) use tables::summary_rows;
pub use tables::{
    ExampleRow, curves_csv, examples_csv, summary_points, summary_table, table_points,
    write_curves_csv,
};
pub use votes_files::{knn_file, rnn_file, stage_votes};

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// The nncert version recorded in every report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// `num / den` rounded down to `decimals` digits, as a JSON number: the decimal itself
/// (`0.411` for `0.411000`, `1.0` for `1.000000`), never above the fraction, since a decimal
/// of at most 15 significant digits round-trips exactly through the shortest `f64` text.
pub(crate) fn fraction_json(num: u64, den: u64, decimals: u32) -> serde_json::Value {
    decimal_json(&crate::curve::format_fraction_floor(num, den, decimals))
}

/// A decimal text written by nncert as a JSON number (see [`fraction_json`]).
pub(crate) fn decimal_json(text: &str) -> serde_json::Value {
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| serde_json::Value::String(text.to_string()), Into::into)
}

/// `text` with every control character escaped (`\n`, `\u{1b}`, …): one line, inert on a
/// terminal. How every front end shows an error, a path or a value it prints.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The summary table (CA at e = 0, 100, 500, 1,000, 1,500, …) as JSON, for `report.json`.
pub fn summary_json(curves: &[crate::Curve], max_e: u64) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = summary_rows(curves, max_e)
        .into_iter()
        .map(|(label, cells)| {
            serde_json::json!({
                "curve": label,
                "certified_accuracy": cells
                    .into_iter()
                    .map(|(e, v)| serde_json::json!({ "e": e, "value": decimal_json(&v) }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}
