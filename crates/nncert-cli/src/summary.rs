//! The short table printed to stdout.

use nncert::Curve;
use nncert::report::summary_rows;

/// Renders CA(e) at 0, 100, 500, 1000, … as an aligned text table.
pub fn table(curves: &[Curve], max_e: u64) -> String {
    let rows = summary_rows(curves, max_e);
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).max(10);
    let mut out = format!("{:<label_width$}", "CA(e)");
    for (e, _) in first {
        out.push_str(&format!(" {:>7}", format!("e={e}")));
    }
    out.push('\n');
    for (label, cells) in &rows {
        out.push_str(&format!("{label:<label_width$}"));
        for (_, text) in cells {
            out.push_str(&format!(" {text:>7}"));
        }
        out.push('\n');
    }
    out
}
