//! End-to-end tests of `nncert certify-ensemble` through the real binary: hand-computed
//! certificates in both units, agreement with `certify-votes --kind dpa`, hostile inputs.

mod common;
use common::{assert_refused_with, read, run_in as nncert, write};

use std::path::PathBuf;

use nncert::data::npy::encode;

fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("ensemble_{name}"))
}

#[test]
fn certifies_predictions_with_dpa_and_fa_in_both_units() {
    let dir = scratch("predictions");
    // Three test inputs × 4 models (-1 = abstain), labels 0..2.
    // Row 0: 0, 0, 0, 0 → DPA: gap to 1 = 4 + 1 = 5 → ρ = 2; FA (k = 2, d = 2, shifts 0
    //        and 1: bucket powers 4) → 2 buckets → ρ = 1.
    // Row 1: 1, 1, -1, 0 → predicted 1; DPA gap to 0 = 2 − 1 + 0 = 1 → ρ = 0.
    // Row 2: 2, 2, 2, 1 with label 0 → misclassified.
    let p = write(
        &dir,
        "p.npy",
        encode(&[3, 4], &[0i32, 0, 0, 0, 1, 1, -1, 0, 2, 2, 2, 1]),
    );
    let y = write(&dir, "y.npy", encode(&[3], &[0i64, 1, 0]));
    let out = dir.join("out");
    let o = nncert(
        &[
            "certify-ensemble",
            "--predictions",
            &p,
            "--labels",
            &y,
            "--method",
            "dpa,fa",
            "--d",
            "2",
            "--shifts",
            "0,1",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let curves = read(&out, "curves.csv");
    for line in [
        "dpa,k=4 units=insdel,individual,0,0.666666\n",
        "dpa,k=4 units=insdel,individual,2,0.333333\n",
        "dpa,k=4 units=insdel,individual,3,0.000000\n",
        "dpa,k=4 units=poisoning,individual,1,0.333333\n",
        "dpa,k=4 units=poisoning,individual,2,0.000000\n",
        "fa,k=2 d=2 units=insdel,individual,1,0.333333\n",
        "fa,k=2 d=2 units=insdel,individual,2,0.000000\n",
        "fa,k=2 d=2 units=poisoning,individual,0,0.666666\n",
        "fa,k=2 d=2 units=poisoning,individual,1,0.000000\n",
    ] {
        assert!(curves.contains(line), "missing {line:?} in\n{curves}");
    }
    let examples = read(&out, "examples.csv");
    assert!(
        examples.contains("dpa,k=4 units=insdel,0,0,0,1,4,0,2\n"),
        "{examples}"
    );
    assert!(
        examples.contains("dpa,k=4 units=insdel,1,1,1,0,2,1,0\n"),
        "{examples}"
    );
    assert!(
        examples.contains("fa,k=2 d=2 units=poisoning,0,0,0,1,4,0,0\n"),
        "{examples}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["settings"]["units"],
        serde_json::json!(["poisoning", "insdel"])
    );
    assert_eq!(
        report["methods"]["fa"]["spread"]["shifts"],
        serde_json::json!([0, 1])
    );
    assert_eq!(report["n_models"], 4);
    assert!(report["notes"].as_str().unwrap().contains("insdel"));
}

#[test]
fn run_off_election_from_logits() {
    let dir = scratch("logits");
    // Nine models over labels 0..2: four rank 1 > 2 > 0, two 0 > 1 > 2, three 2 > 1 > 0
    // (docs/ENSEMBLES.md's rules; the library test derives ρ = 1 for ROE on DPA).
    let mut logits = Vec::new();
    for row in [[0f32, 2., 1.]; 4]
        .into_iter()
        .chain([[2., 1., 0.]; 2])
        .chain([[0., 1., 2.]; 3])
    {
        logits.extend(row);
    }
    let l = write(&dir, "l.npy", encode(&[1, 9, 3], &logits));
    let y = write(&dir, "y.npy", encode(&[1], &[1u8]));
    let out = dir.join("out");
    let o = nncert(
        &[
            "certify-ensemble",
            "--logits",
            &l,
            "--labels",
            &y,
            "--method",
            "roe-dpa",
            "--units",
            "insdel",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let examples = read(&out, "examples.csv");
    // predicted 1, other finalist 2, round-two votes 6 and 3, ρ = 1.
    assert!(
        examples.contains("roe-dpa,k=9 units=insdel,0,1,1,2,6,3,1\n"),
        "{examples}"
    );
}

/// DPA from predictions and DPA from the vote counts (`certify-votes --kind dpa`) give the
/// same curve.
#[test]
fn dpa_agrees_with_certify_votes() {
    let dir = scratch("dpa_agrees");
    let (n, m, c) = (50usize, 21usize, 4usize);
    let mut state = 7u64;
    let mut next = |k: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % k
    };
    let mut preds = Vec::new();
    let mut counts = vec![0i64; n * c];
    let mut labels = Vec::new();
    for i in 0..n {
        let y = next(c as u64) as i64;
        labels.push(y);
        for _ in 0..m {
            let v = if next(3) == 0 {
                y
            } else {
                next(c as u64 + 1) as i64 - 1
            };
            preds.push(v);
            if v >= 0 {
                counts[i * c + v as usize] += 1;
            }
        }
    }
    let p = write(&dir, "p.npy", encode(&[n, m], &preds));
    let v = write(&dir, "v.npy", encode(&[n, c], &counts));
    let y = write(&dir, "y.npy", encode(&[n], &labels));
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = nncert(
        &[
            "certify-ensemble",
            "--predictions",
            &p,
            "--labels",
            &y,
            "--classes",
            "4",
            "--method",
            "dpa",
            "--units",
            "poisoning",
            "--param",
            "21",
            "--out",
            a.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &v,
            "--labels",
            &y,
            "--kind",
            "dpa",
            "--param",
            "21 units=poisoning",
            "--out",
            b.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&a, "curves.csv"), read(&b, "curves.csv"));
    assert_eq!(read(&a, "examples.csv"), read(&b, "examples.csv"));
}

#[test]
fn hostile_inputs_are_one_line_errors() {
    let dir = scratch("hostile");
    let good_p = write(
        &dir,
        "p.npy",
        encode(&[2, 4], &[0i32, 1, 1, -1, 0, 0, 1, 1]),
    );
    let y = write(&dir, "y.npy", encode(&[2], &[0i64, 1]));
    let y3 = write(&dir, "y3.npy", encode(&[3], &[0i64, 1, 0]));
    let flat = write(&dir, "flat.npy", encode(&[8], &[0i32, 1, 1, 0, 0, 0, 1, 1]));
    let neg = write(
        &dir,
        "neg.npy",
        encode(&[2, 4], &[0i32, 1, 1, -2, 0, 0, 1, 1]),
    );
    let floats = write(&dir, "f.npy", encode(&[2, 4], &[0f32; 8]));
    let mut nan = vec![0.5f32; 2 * 4 * 3];
    nan[13] = f32::NAN; // test 1, model 0, label 1
    let nan = write(&dir, "nan.npy", encode(&[2, 4, 3], &nan));
    let l2d = write(&dir, "l2d.npy", encode(&[2, 4], &[0.5f32; 8]));
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--predictions", &flat, "--labels", &y], "flat.npy"),
        (
            vec!["--predictions", &good_p, "--labels", &y3],
            "expected 2 labels",
        ),
        (
            vec!["--predictions", &neg, "--labels", &y],
            "abstain code -1, found -2",
        ),
        (
            vec!["--predictions", &good_p, "--labels", &y, "--abstain", "1"],
            "abstain code",
        ),
        (
            vec!["--predictions", &good_p, "--labels", &y, "--classes", "1"],
            "at least 2",
        ),
        (vec!["--predictions", &floats, "--labels", &y], "integer"),
        (
            vec!["--logits", &nan, "--labels", &y],
            "test input 1, model 0, label 1",
        ),
        (vec!["--logits", &l2d, "--labels", &y], "l2d.npy"),
        (
            vec![
                "--predictions",
                &good_p,
                "--labels",
                &y,
                "--method",
                "roe-fa",
            ],
            "--logits",
        ),
        (
            vec![
                "--predictions",
                &good_p,
                "--labels",
                &y,
                "--method",
                "fa",
                "--d",
                "3",
            ],
            "divisor",
        ),
        (
            vec!["--predictions", &good_p, "--labels", &y, "--method", "fa"],
            "--d",
        ),
        (
            vec![
                "--predictions",
                &good_p,
                "--labels",
                &y,
                "--method",
                "fa",
                "--shifts",
                "0,0",
            ],
            "distinct",
        ),
        (
            vec!["--predictions", &good_p, "--labels", &y, "--method", "knn"],
            "--method",
        ),
        (vec!["--labels", &y], "exactly one"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["certify-ensemble"];
        full.extend(&args);
        full.extend(["--out", out]);
        assert_refused_with(&nncert(&full, &dir), expected, &format!("{args:?}"));
        assert!(!dir.join("out").exists(), "{args:?} wrote outputs");
    }
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &good_p,
            "--labels",
            &y,
            "--kind",
            "fa",
            "--out",
            out,
        ],
        &dir,
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("certify-ensemble"));
}
