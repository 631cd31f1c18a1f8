//! `curves.csv` and `examples.csv`: the formats the README documents.

use crate::classifier::Classifier;
use crate::curve::Curve;
pub use crate::experiment::ExampleRow;

/// Header of `curves.csv`: one row per (curve, e).
pub(crate) const CURVES_HEADER: [&str; 5] = [
    "method",
    "param",
    "certification",
    "e",
    "certified_accuracy",
];

/// Header of `examples.csv`: one row per (setting, test input).
pub(crate) const EXAMPLES_HEADER: [&str; 9] = [
    "method",
    "param",
    "index",
    "label",
    "predicted",
    "runner_up",
    "votes_predicted",
    "votes_runner_up",
    "e_star",
];

fn csv_to_string(rows: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into a Vec cannot fail.
    rows(&mut w).expect("CSV into memory");
    String::from_utf8(w.into_inner().expect("CSV into memory")).expect("CSV of UTF-8 fields")
}

/// `curves.csv` for any number of curves; CA(e) with 6 decimals, rounded down.
pub fn curves_csv(curves: &[Curve]) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    write_curves_csv(curves, &mut out).expect("CSV into memory");
    String::from_utf8(out).expect("CSV of UTF-8 fields")
}

/// [`curves_csv`] written row by row into `out` (buffered): the rows of zeros a large
/// `max_e` asks for are produced as they are written, never held in memory.
///
/// Each curve's first three fields are CSV-encoded once (quoted where needed, by the `csv`
/// crate as every other table); `e` and the fraction are digits and never need quoting.
pub fn write_curves_csv(curves: &[Curve], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    w.write_all(csv_line(&CURVES_HEADER).as_bytes())?;
    for c in curves {
        let mut fields = csv_line(&[
            c.method().to_string(),
            c.classifier.to_string(),
            c.certification.to_string(),
        ]);
        fields.pop(); // the line's '\n'
        let zero = c.accuracy_text(u64::MAX, 6);
        let stored = c.certified.len() as u64;
        for e in 0..=c.max_e {
            let text = if e < stored {
                c.accuracy_text(e, 6)
            } else {
                zero.clone()
            };
            writeln!(w, "{fields},{e},{text}")?;
        }
    }
    w.flush()
}

/// One CSV record (with its `'\n'`), fields quoted only where needed.
fn csv_line<S: AsRef<[u8]>>(fields: &[S]) -> String {
    csv_to_string(|w| w.write_record(fields))
}

/// `examples.csv` for one or more settings, each a (method, param, rows) triple.
pub fn examples_csv(settings: &[(&Classifier, Vec<ExampleRow>)]) -> String {
    csv_to_string(|w| {
        w.write_record(EXAMPLES_HEADER)?;
        for (classifier, rows) in settings {
            let method = classifier.method().to_string();
            let param = classifier.to_string();
            for (i, p) in rows.iter().enumerate() {
                w.write_record([
                    method.clone(),
                    param.clone(),
                    i.to_string(),
                    p.label.to_string(),
                    p.predicted.to_string(),
                    p.runner_up.to_string(),
                    p.votes_predicted.to_string(),
                    p.votes_runner_up.to_string(),
                    p.e_star.map_or("-1".to_string(), |e| e.to_string()),
                ])?;
            }
        }
        Ok(())
    })
}

/// The poisoning sizes of the summary table: 0, 100, 500, then every 500 up to `max_e`.
pub fn summary_points(max_e: u64) -> Vec<u64> {
    let mut points = vec![0];
    points.extend([100u64, 500].into_iter().filter(|&e| e <= max_e));
    points.extend((1000..=max_e).step_by(500));
    points
}

/// The poisoning sizes of the printed table, chosen from the curves' range: the
/// [`summary_points`] from `max_e` = 1,000 on; below, 0 and every multiple of the smallest
/// step in 1, 2, 5, 10, 20, 50, 100, 200 that gives at most 8 columns (a kNN run with k = 50
/// certified up to e = 25 shows e = 0, 5, …, 25 instead of e = 0 alone).
pub fn table_points(max_e: u64) -> Vec<u64> {
    if max_e >= 1000 {
        return summary_points(max_e);
    }
    let step = [1u64, 2, 5, 10, 20, 50, 100, 200]
        .into_iter()
        .find(|&s| max_e / s <= 7)
        .unwrap_or(200);
    (0..=max_e).step_by(step as usize).collect()
}

/// Summary rows `(curve label, [(e, CA text)])` at [`summary_points`].
pub(crate) fn summary_rows(curves: &[Curve], max_e: u64) -> Vec<(String, Vec<(u64, String)>)> {
    summary_rows_at(curves, &summary_points(max_e))
}

/// Summary rows `(curve label, [(e, CA text)])` at `points`.
pub(crate) fn summary_rows_at(
    curves: &[Curve],
    points: &[u64],
) -> Vec<(String, Vec<(u64, String)>)> {
    curves
        .iter()
        .map(|c| {
            let param = c.classifier.to_string();
            let label = if param.is_empty() {
                format!("{} {}", c.method(), c.certification)
            } else {
                format!("{} {param} {}", c.method(), c.certification)
            };
            let cells = points.iter().map(|&e| (e, c.accuracy_text(e, 4))).collect();
            (label, cells)
        })
        .collect()
}

/// The summary as an aligned text table, at columns chosen from the curves' range
/// ([`table_points`]: 0, 100, 500, 1000, … for long curves), as `nncert` prints it and as
/// the Python results show it.
pub fn summary_table(curves: &[Curve], max_e: u64) -> String {
    let rows = summary_rows_at(curves, &table_points(max_e));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12 (14): a run certified up to e = 25 showed only e = 0.
    #[test]
    fn table_columns_follow_the_curves_range() {
        assert_eq!(table_points(25), vec![0, 5, 10, 15, 20, 25]);
        assert_eq!(table_points(0), vec![0]);
        assert_eq!(table_points(3), vec![0, 1, 2, 3]);
        assert_eq!(table_points(999), vec![0, 200, 400, 600, 800]);
        assert_eq!(table_points(3000), summary_points(3000));
        for m in 0..1000 {
            let p = table_points(m);
            assert!(
                p.len() <= 8 && p[0] == 0 && *p.last().unwrap() <= m,
                "{m}: {p:?}"
            );
        }
    }
}
