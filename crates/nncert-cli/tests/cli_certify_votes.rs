//! End-to-end tests of `nncert certify-votes` and the default job through the real binary.

mod common;
use common::{assert_refused_with, run_in as nncert, scratch, write};

use nncert::data::npy::encode;

/// A fresh scratch directory under the target directory, unique per test.

#[test]
fn certifies_a_small_rnn_votes_file_exactly() {
    let dir = scratch("small_rnn");
    // Rows: [a=1 by 7-2 → g=5 (1<2), e*=2], [a=0 by 4-3 → g=1, e*=0], [wrong: a=2, y=0].
    let votes = write(
        &dir,
        "v.npy",
        encode(&[3, 3], &[1i64, 7, 2, 4, 0, 3, 0, 1, 5]),
    );
    let labels = write(&dir, "y.npy", encode(&[3], &[1u8, 0, 0]));
    let out = dir.join("out");
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "rnn",
            "--param",
            "4",
            "--joint",
            "island,rd",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    let expected_individual = "method,param,certification,e,certified_accuracy\n\
        rnn,4,individual,0,0.666666\n\
        rnn,4,individual,1,0.333333\n\
        rnn,4,individual,2,0.333333\n\
        rnn,4,individual,3,0.000000\n";
    assert!(curves.starts_with(expected_individual), "{curves}");
    // ISLAND at e = 1: row 0 (g = 5 > 2e) is alone in D1; row 1 (g = 1 ≤ e) is in D0.
    assert!(curves.contains("rnn,4,island,1,0.333333\n"), "{curves}");
    let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
    assert!(examples.contains("rnn,4,0,1,1,2,7,2,2\n"), "{examples}");
    assert!(examples.contains("rnn,4,1,0,0,2,4,3,0\n"), "{examples}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["settings"]["tie_rule"], "larger");
    assert_eq!(
        report["inputs"]["votes"]["sha256"].as_str().unwrap().len(),
        64
    );
    // Issue 12 (15): numbers are JSON numbers (the rounded-down decimal), not strings.
    assert_eq!(report["clean_accuracy"], serde_json::json!(0.666666));
    assert!(report["summary"][0]["certified_accuracy"][0]["value"].is_number());
    // No POLISH asked: no grouping_gap key, the report is as before.
    assert!(report.get("grouping_gap").is_none(), "{report}");
}

#[test]
fn bad_inputs_fail_with_one_line_exit_2_and_write_nothing() {
    let dir = scratch("bad_inputs");
    let good_votes = write(&dir, "votes.npy", encode(&[2, 3], &[1i32, 2, 3, 4, 5, 6]));
    let good_labels = write(&dir, "labels.npy", encode(&[2], &[0i64, 2]));
    let cases: Vec<(&str, String, String, &str, &str)> = vec![
        (
            "missing file",
            dir.join("nope.npy").display().to_string(),
            good_labels.clone(),
            "rnn",
            "nope.npy: cannot read",
        ),
        (
            "float votes",
            write(&dir, "f.npy", encode(&[2, 3], &[1.0f32; 6])),
            good_labels.clone(),
            "rnn",
            "f.npy: unsupported dtype 'float32': expected an integer dtype",
        ),
        (
            "1-D votes",
            write(&dir, "r1.npy", encode(&[6], &[1i32; 6])),
            good_labels.clone(),
            "rnn",
            "r1.npy: expected a 2-D array, found shape (6,)",
        ),
        (
            "label ≥ c",
            good_votes.clone(),
            write(&dir, "big.npy", encode(&[2], &[0i64, 3])),
            "rnn",
            "big.npy: element 1: expected a label in 0..=2",
        ),
        (
            "n mismatch",
            good_votes.clone(),
            write(&dir, "short.npy", encode(&[1], &[0i64])),
            "rnn",
            "short.npy: expected 2 labels (one per row of",
        ),
        (
            "negative count",
            write(&dir, "neg.npy", encode(&[2, 3], &[1i32, -2, 3, 4, 5, 6])),
            good_labels.clone(),
            "rnn",
            "neg.npy: element 1: expected a vote count in 0..=4294967295, found -2",
        ),
        (
            "not npy",
            write(&dir, "text.npy", b"hello world".to_vec()),
            good_labels.clone(),
            "rnn",
            "text.npy: not a .npy file",
        ),
        (
            "kNN joint",
            good_votes.clone(),
            good_labels.clone(),
            "knn",
            "joint certification is only defined for rNN",
        ),
    ];
    for (what, votes, labels, kind, needle) in cases {
        let out = dir.join(format!("out-{}", what.replace(' ', "_")));
        let mut args = vec![
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            kind,
        ];
        if kind == "knn" {
            args.extend(["--joint", "island"]);
        }
        let out_text = out.display().to_string();
        args.extend(["--out", &out_text]);
        assert_refused_with(&nncert(&args, &dir), needle, what);
        assert!(!out.exists(), "{what}: nothing may be written");
    }
}

#[test]
fn default_job_writes_table_and_files() {
    let dir = scratch("default_job");
    let o = nncert(&[], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("island"), "{stdout}");
    for f in ["curves.csv", "examples.csv", "report.json"] {
        assert!(dir.join("nncert-out").join(f).is_file(), "{f}");
    }
}

#[test]
fn outputs_are_byte_identical_across_runs() {
    let dir = scratch("repeat");
    let run = |name: &str| {
        let out = dir.join(name);
        let o = nncert(&["demo", "--out", out.to_str().unwrap()], &dir);
        assert!(o.status.success());
        ["curves.csv", "examples.csv"].map(|f| std::fs::read(out.join(f)).unwrap())
    };
    assert_eq!(run("a"), run("b"));
}

#[test]
fn dpa_and_bagging_from_votes() {
    let dir = scratch("baselines_from_votes");
    // DPA votes over ζ = 11 partitions (see the library test for the hand computation):
    // ρ = 3, 0, 0 → e* = 1, 0, 0 in poisoning units.
    let votes = write(
        &dir,
        "dpa.npy",
        encode(&[3, 3], &[8i32, 2, 1, 3, 3, 5, 0, 6, 5]),
    );
    let labels = write(&dir, "y.npy", encode(&[3], &[0i64, 2, 1]));
    for (units, expected) in [
        ("poisoning", "dpa,11,0,0,0,1,8,2,1\n"),
        ("insdel", "dpa,11,0,0,0,1,8,2,3\n"),
    ] {
        let out = dir.join(format!("dpa-{units}"));
        let o = nncert(
            &[
                "certify-votes",
                "--votes",
                &votes,
                "--labels",
                &labels,
                "--kind",
                "dpa",
                "--param",
                "11",
                "--units",
                units,
                "--out",
                out.to_str().unwrap(),
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
        assert!(examples.contains(expected), "{examples}");
        let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
        assert!(
            curves.starts_with(
                "method,param,certification,e,certified_accuracy\ndpa,11,individual,0,1.000000\n"
            ),
            "{curves}"
        );
    }
    // Bagging: 1,000 models; row 1 is too close to call, so it is not certified (e* = −1).
    let votes = write(
        &dir,
        "bag.npy",
        encode(&[2, 3], &[990u16, 10, 0, 3, 497, 500]),
    );
    let labels = write(&dir, "by.npy", encode(&[2], &[0u8, 2]));
    let out = dir.join("bagging");
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "bagging",
            "--models",
            "1000",
            "--subsample",
            "27",
            "--train-size",
            "60000",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
    assert!(
        examples.contains("bagging,27,1,2,2,1,500,497,-1\n"),
        "{examples}"
    );
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    assert!(
        curves.contains("bagging,27,individual,0,0.500000\n"),
        "{curves}"
    );
    // Missing bagging parameters are named.
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "bagging",
            "--out",
            dir.join("x").to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kind bagging needs --models N"));
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "bagging",
            "--models",
            "100",
            "--subsample",
            "2",
            "--train-size",
            "10",
            "--out",
            dir.join("y").to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("row 0 has more votes than the 100 models")
    );
}

#[test]
fn threat_models_change_the_certificate_and_are_recorded() {
    let dir = scratch("threats");
    // One rNN row: a = 1 with 7 votes, b = 2 with 2 (larger label wins ties, 1 < 2):
    // g = 5, so e* = 2 in general and under flip, 4 under insert or delete.
    let votes = write(&dir, "v.npy", encode(&[1, 3], &[1i64, 7, 2]));
    let labels = write(&dir, "y.npy", encode(&[1], &[1u8]));
    for (threat, e_star) in [("general", 2), ("flip", 2), ("insert", 4), ("delete", 4)] {
        let out = dir.join(threat);
        let o = nncert(
            &[
                "certify-votes",
                "--votes",
                &votes,
                "--labels",
                &labels,
                "--kind",
                "rnn",
                "--threat",
                threat,
                "--out",
                out.to_str().unwrap(),
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
        let last = examples.lines().nth(1).unwrap();
        assert!(last.ends_with(&format!(",{e_star}")), "{threat}: {last}");
        let report = std::fs::read_to_string(out.join("report.json")).unwrap();
        assert!(
            report.contains(&format!("\"threat\": \"{threat}\"")),
            "{report}"
        );
    }
    // DPA has no tighter certificate per threat yet: refused with the reason, nothing written.
    let out = dir.join("dpa");
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "dpa",
            "--threat",
            "insert",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("threat") && err.lines().count() == 1, "{err}");
    assert!(!out.exists());
    // An unknown threat names the flag.
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "rnn",
            "--threat",
            "poison",
            "--out",
            "x",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--threat"));
}

#[test]
fn island_label_certifies_more_when_rivals_differ() {
    let dir = scratch("island_label");
    // Three correct rows, tie rule larger. Row 0 predicts 0 and needs 6 votes towards 1;
    // row 1 predicts 1 and needs 6 towards 2; row 2 predicts 2 and needs 7 towards 0.
    // At e = 4 all three are one ISLAND group. The paper's bound gives each member all four
    // insertions (costs 2, 2, 3): two flipped, one certified. One label per insertion: the
    // four insertions help one row only, the others still need 6 and 7 removals, so only
    // one falls and two are certified.
    let votes = write(
        &dir,
        "v.npy",
        encode(&[3, 3], &[10i32, 4, 0, 0, 10, 4, 4, 0, 10]),
    );
    let labels = write(&dir, "y.npy", encode(&[3], &[0u8, 1, 2]));
    let out = dir.join("out");
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "rnn",
            "--param",
            "4",
            "--joint",
            "island,island-label,polish,polish-label,best",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    assert!(curves.contains("rnn,4,island,4,0.333333\n"), "{curves}");
    assert!(
        curves.contains("rnn,4,island-label,4,0.666666\n"),
        "{curves}"
    );
    assert!(curves.contains("rnn,4,best,4,0.666666\n"), "{curves}");
    // POLISH keeps the one group (nothing to improve); one label per insertion lifts it.
    assert!(curves.contains("rnn,4,polish,4,0.333333\n"), "{curves}");
    assert!(
        curves.contains("rnn,4,polish-label,4,0.666666\n"),
        "{curves}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let certifications = report["settings"]["certifications"].to_string();
    assert!(certifications.contains("island-label"), "{report}");
    // With POLISH the report holds its gap to the upper bound over all groupings.
    let gap = &report["grouping_gap"];
    let polish = gap["polish"].as_array().unwrap();
    let upper = gap["upper_bound"].as_array().unwrap();
    assert_eq!(polish.len(), upper.len());
    for (p, u) in polish.iter().zip(upper) {
        assert!(p.as_u64().unwrap() <= u.as_u64().unwrap(), "{gap}");
    }
}
