//! Audit finding 8: `--max-e` far past every certificate asks for rows that are all 0.
//! They are written, byte for byte as before, but computed only up to the curves' horizon
//! and streamed: the output of a large `--max-e` is the default output extended with rows
//! of zeros, and the peak memory does not grow with `--max-e`.

mod common;
use common::{read, run_in, scratch, write};

use std::path::Path;
use std::process::Output;

use nncert::data::npy::encode;
use serde_json::Value;

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Rows of votes with margins up to 7 (so that every joint grouping has something to do),
/// their labels and 9 base models' logits, as flag values.
fn inputs(dir: &Path) -> (String, String, String) {
    let votes: Vec<i32> = (0..36).map(|i| (i * 7 + i / 3) % 8).collect();
    let labels: Vec<i64> = (0..12).map(|i| (i * 5 % 3) as i64).collect();
    let logits: Vec<f32> = (0..12 * 9 * 3).map(|i| (i * i / 7 % 5) as f32).collect();
    (
        write(dir, "v.npy", encode(&[12, 3], &votes)),
        write(dir, "y.npy", encode(&[12], &labels)),
        write(dir, "l.npy", encode(&[12, 9, 3], &logits)),
    )
}

/// A small npy dataset (`--train-features …` flags): 40 training and 8 test points in 2-D.
fn npy_dataset(dir: &Path) -> Vec<String> {
    common::npy_dataset(dir, 40, 8, 3.0, 0.3)
}

/// `curves.csv` as (curve key, rows of `e,value`) in file order.
fn curves(text: &str) -> Vec<(String, Vec<(u64, String)>)> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("method,param,certification,e,certified_accuracy")
    );
    let mut out: Vec<(String, Vec<(u64, String)>)> = Vec::new();
    for line in lines {
        let mut parts = line.rsplitn(3, ',');
        let value = parts.next().unwrap().to_string();
        let e: u64 = parts.next().unwrap().parse().unwrap();
        let key = parts.next().unwrap().to_string();
        match out.last_mut() {
            Some((k, rows)) if *k == key => rows.push((e, value)),
            _ => out.push((key, vec![(e, value)])),
        }
    }
    out
}

/// `large` is `small` with every curve extended by rows of zeros up to `max_e`.
fn assert_curves_extended(small: &str, large: &str, max_e: u64, what: &str) {
    let (small, large) = (curves(small), curves(large));
    assert_eq!(small.len(), large.len(), "{what}: the same curves");
    for ((key, rows), (key_large, rows_large)) in small.iter().zip(&large) {
        assert_eq!(key, key_large, "{what}");
        let mut expected = rows.clone();
        let next = rows.last().unwrap().0 + 1;
        expected.extend((next..=max_e).map(|e| (e, "0.000000".to_string())));
        assert!(*rows_large == expected, "{what}: {key}");
    }
}

/// `large` is `small` with every array extended by zeros (`0`, or a summary cell of value
/// 0), `max_e` fields equal to `max_e`, and the run's timings ignored.
fn assert_json_extended(small: &Value, large: &Value, max_e: u64, path: &str) {
    match (small, large) {
        (Value::Object(s), Value::Object(l)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(s), keys(l), "{path}");
            for (k, v) in s {
                let at = format!("{path}.{k}");
                match k.as_str() {
                    "seconds" => {}
                    "max_e" => assert_eq!(l[k], Value::from(max_e), "{at}"),
                    "max_e_requested" => assert_eq!(l[k], Value::from(max_e), "{at}"),
                    _ => assert_json_extended(v, &l[k], max_e, &at),
                }
            }
        }
        (Value::Array(s), Value::Array(l)) => {
            assert!(s.len() <= l.len(), "{path}");
            for (i, (a, b)) in s.iter().zip(l).enumerate() {
                assert_json_extended(a, b, max_e, &format!("{path}[{i}]"));
            }
            for extra in &l[s.len()..] {
                let zero = extra == &Value::from(0)
                    || extra.get("value").is_some_and(|v| v.as_f64() == Some(0.0));
                assert!(zero, "{path}: {extra}");
            }
        }
        _ => assert_eq!(small, large, "{path}"),
    }
}

/// Runs `args` with `--out` `small` (the default range) and again with `--max-e` and
/// `--out` `large`, and compares the outputs.
fn compare(dir: &Path, args: &[&str], what: &str) {
    let small = dir.join(format!("{what}_small"));
    let o = run_in(&[args, &["--out", small.to_str().unwrap()]].concat(), dir);
    ok(&o, what);
    let report: Value = serde_json::from_str(&read(&small, "report.json")).unwrap();
    let small_max_e = report["settings"]["max_e"]
        .as_u64()
        .or_else(|| report["settings"][0]["max_e"].as_u64())
        .unwrap_or_else(|| panic!("{what}: max_e in {report}"));
    let max_e = small_max_e + 1500;
    let large = dir.join(format!("{what}_large"));
    let text = max_e.to_string();
    let o = run_in(
        &[args, &["--max-e", &text, "--out", large.to_str().unwrap()]].concat(),
        dir,
    );
    ok(&o, what);
    assert_curves_extended(
        &read(&small, "curves.csv"),
        &read(&large, "curves.csv"),
        max_e,
        what,
    );
    assert_eq!(
        read(&small, "examples.csv"),
        read(&large, "examples.csv"),
        "{what}"
    );
    let large_report: Value = serde_json::from_str(&read(&large, "report.json")).unwrap();
    // Without --max-e the request is null; the large run asked for max_e.
    let mut report = report;
    report["settings"]
        .as_object_mut()
        .map(|s| s.insert("max_e_requested".into(), Value::from(max_e)));
    if report.get("max_e_requested").is_some() {
        report["max_e_requested"] = Value::from(max_e);
    }
    assert_json_extended(&report, &large_report, max_e, what);
}

/// The default range ends at the first all-zero row; a `--max-e` 1,500 past it adds only
/// rows of zeros, for every joint grouping (with the grouping gap of `report.json`),
/// kNN, DPA, the ensembles and `certify`'s settings.
#[test]
fn a_large_max_e_adds_rows_of_zeros_to_the_default_output() {
    let dir = scratch("max_e_zeros");
    let (v, y, p) = inputs(&dir);
    let votes = ["certify-votes", "--votes", &v, "--labels", &y];
    let joint = "island,rd,polish,cluster,lp,island-label,rd-label,polish-label,cluster-label,lp-label,search-label,best";
    compare(
        &dir,
        &[
            &votes[..],
            &["--kind", "rnn", "--joint", joint, "--seed", "3"],
        ]
        .concat(),
        "rnn_joint",
    );
    compare(
        &dir,
        &[&votes[..], &["--kind", "rnn", "--threat", "delete"]].concat(),
        "rnn_delete",
    );
    compare(&dir, &[&votes[..], &["--kind", "dpa"]].concat(), "dpa");
    let ensemble = [
        "certify-ensemble",
        "--logits",
        &p,
        "--labels",
        &y,
        "--method",
        "dpa,fa,roe-dpa,roe-fa",
        "--d",
        "3",
    ];
    compare(&dir, &ensemble, "ensemble");
    let data = npy_dataset(&dir);
    let data: Vec<&str> = data.iter().map(String::as_str).collect();
    let certify = [
        &["certify"][..],
        &data,
        &[
            "--knn",
            "3,5",
            "--rnn",
            "1,2",
            "--joint",
            "island,rd,cluster,best",
        ],
    ]
    .concat();
    compare(&dir, &certify, "certify");
}

/// Peak resident memory of one run of the binary (KB), from `wait4`, which also reaps the
/// child (std's `wait` cannot report its rusage, hence the lint's exception).
#[allow(clippy::zombie_processes)]
fn peak_kb(args: &[&str], cwd: &Path) -> i64 {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the nncert binary runs");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child spawned above, which nothing else waits for.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?}: status {status}"
    );
    usage.ru_maxrss
}

/// The old code held every row of the curves in memory (20 rows of votes, `--max-e
/// 10000000`: 824 MB); the rows of zeros are now written as they are produced.
#[test]
fn peak_memory_does_not_grow_with_max_e() {
    let dir = scratch("max_e_memory");
    let (v, y, _) = inputs(&dir);
    let run = |max_e: &str, out: &str| {
        peak_kb(
            &[
                "certify-votes",
                "--votes",
                &v,
                "--labels",
                &y,
                "--kind",
                "rnn",
                "--max-e",
                max_e,
                "--out",
                out,
            ],
            &dir,
        )
    };
    let small = run("10", "small");
    // Two curves of 1,000,001 rows: about 55 MB of CSV, 16 MB of counts in the old code.
    let large = run("1000000", "large");
    assert!(
        large < small + 30_000,
        "peak {large} KB with --max-e 1000000, {small} KB with 10"
    );
    assert_eq!(
        read(&dir.join("large"), "curves.csv").lines().count(),
        1 + 2 * 1_000_001
    );
}
