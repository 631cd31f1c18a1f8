//! `nncert certify` and `nncert reproduce` end to end: real data, consistency of the
//! outputs, and byte-identical results across runs, thread counts and kernels.

mod common;
use common::scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nncert(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nncert"));
    // A scratch working directory, so that a default `--out nncert-out` never lands in
    // the source tree.
    let cwd = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_certify_cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    cmd.args(args).current_dir(&cwd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the nncert binary runs")
}

/// Every file under `dir` with its bytes, by relative path.
fn tree(dir: &Path) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// CA(0) of every curve equals the clean accuracy of its classifier in examples.csv (for
/// bagging: the correct inputs whose confidence bounds separate, e_star ≠ −1).
fn check_consistency(out: &Path) -> usize {
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
    let mut correct: HashMap<(String, String), (u64, u64)> = HashMap::new();
    for line in examples.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let entry = correct
            .entry((f[0].to_string(), f[1].to_string()))
            .or_default();
        entry.1 += 1;
        if f[3] == f[4] && f[8] != "-1" {
            entry.0 += 1;
        }
    }
    let mut checked = 0;
    for line in curves.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[3] != "0" {
            continue;
        }
        let (ok, n) = correct[&(f[0].to_string(), f[1].to_string())];
        let expected = format!("{}.{:06}", ok / n, (ok * 1_000_000 / n) % 1_000_000);
        assert_eq!(f[4], expected, "CA(0) of {line} vs clean accuracy {ok}/{n}");
        checked += 1;
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["nncert_version"].is_string());
    assert!(report["kernel"].is_string());
    assert!(report["tie_rule"] == "larger");
    assert!(report["seconds"]["neighbours"].is_number());
    for f in ["overview.png", "overview.svg"] {
        assert!(out.join("figures").join(f).is_file(), "{f}");
    }
    checked
}

#[test]
fn certify_is_byte_identical_across_runs_threads_and_kernels() {
    let dir = scratch("certify_determinism");
    let run = |name: &str, threads: &str, kernel: Option<&str>| {
        let out = dir.join(name);
        let envs: Vec<(&str, &str)> = kernel
            .map(|k| vec![("NNCERT_KERNEL", k)])
            .unwrap_or_default();
        let o = nncert(
            &[
                "certify",
                "--rnn",
                "3.5,4",
                "--knn",
                "50,500",
                "--joint",
                "island,rd,best",
                "--threads",
                threads,
                "--out",
                out.to_str().unwrap(),
            ],
            &envs,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut files = tree(&out);
        // The report holds timings and the kernel name; everything else must match.
        files.remove("report.json");
        files
    };
    let first = run("a", "2", None);
    assert!(first.len() >= 10, "{:?}", first.keys());
    assert!(first == run("b", "2", None), "second run differs");
    assert!(first == run("c", "1", None), "one thread differs");
    assert!(
        first == run("d", "2", Some("scalar")),
        "scalar kernel differs"
    );
    assert!(check_consistency(&dir.join("a")) >= 8);
}

#[test]
fn certify_rejects_bad_arguments_with_one_line() {
    for (args, needle) in [
        (
            vec!["certify", "--knn", "0"],
            "--knn: expected k ≥ 1, found 0",
        ),
        (
            vec!["certify", "--rnn", "abc"],
            "--rnn: expected a number or `none`, found `abc`",
        ),
        (
            vec!["certify", "--knn", "none", "--rnn", "none"],
            "nothing to certify",
        ),
        (
            vec!["certify", "--metric", "l3"],
            "metric: expected l1, l2, linf, ip or cosine, found `l3`",
        ),
        (
            vec!["certify", "--dataset", "mnist"],
            "--dataset mnist needs --data-dir DIR",
        ),
        (
            vec!["certify", "--features", "raw", "--hog-norm", "L3"],
            "block norm",
        ),
    ] {
        let o = nncert(&args, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn reproduce_mnist_on_real_data_is_consistent() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let out = scratch("reproduce_mnist");
    let o = nncert(
        &[
            "reproduce",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--datasets",
            "mnist",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mnist = out.join("mnist");
    // 3 k × individual + 3 r × (individual, ISLAND, RD) + DPA + bagging = 14 curves, each
    // e = 0..=3000.
    let curves = std::fs::read_to_string(mnist.join("curves.csv")).unwrap();
    assert_eq!(curves.lines().count(), 1 + 14 * 3001);
    assert_eq!(check_consistency(&mnist), 14);
    let md = std::fs::read_to_string(out.join("REPRODUCTION.md")).unwrap();
    assert!(
        md.contains("joint certification improves rNN (r = 4) by 15.1 points"),
        "{md}"
    );
    assert!(
        md.contains("40.8 and 33.5 points above DPA and bagging"),
        "{md}"
    );
    assert!(curves.contains("dpa,5500,individual,0,"));
    assert!(curves.contains("bagging,27,individual,0,"));
    // rNN r = 4 ISLAND on full MNIST: CA(0) = 86.8 %, CA(1000) = 41.1 % (see docs/REPRODUCTION.md).
    assert!(curves.contains("rnn,4,island,0,0.868400\n"));
    assert!(curves.contains("rnn,4,island,1000,0.411000\n"));
}

#[test]
fn attack_writes_csvs_figures_and_never_beats_a_certificate() {
    let dir = scratch("attack_cli");
    let out = dir.join("att");
    let o = nncert(
        &[
            "attack",
            "--knn",
            "500",
            "--rnn",
            "4",
            "--e",
            "1,10,50",
            "--n-test",
            "120",
            "--trigger",
            "patch:3@24,24=255",
            "--target-label",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("attack.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("method,param,strategy,e,attacked_accuracy,certified_accuracy")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 2 classifiers × 3 strategies × 3 budgets.
    assert_eq!(rows.len(), 18);
    for r in &rows {
        let attacked: f64 = r[4].parse().unwrap();
        let certified: f64 = r[5].parse().unwrap();
        assert!(attacked >= certified, "{r:?}");
    }
    let backdoor = std::fs::read_to_string(out.join("backdoor.csv")).unwrap();
    assert!(
        backdoor.starts_with(
            "method,param,e,attacked_accuracy,certified_accuracy,attack_success_rate\n"
        )
    );
    assert_eq!(backdoor.lines().count(), 1 + 6);
    for f in [
        "attack_knn500.png",
        "attack_knn500.svg",
        "attack_rnn4.png",
        "attack_rnn4.svg",
    ] {
        assert!(out.join("figures").join(f).is_file(), "{f}");
    }
    let sets = std::fs::read_to_string(out.join("attack_sets.csv")).unwrap();
    for line in sets.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (e, size): (u64, u64) = (f[3].parse().unwrap(), f[7].parse().unwrap());
        assert!(size <= e, "{line}");
    }
    let o = nncert(
        &[
            "attack",
            "--rnn",
            "4",
            "--e",
            "1",
            "--trigger",
            "patch:3@1,1=9",
            "--out",
            dir.join("x").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs --target-label L"));
}

#[test]
fn votes_with_neighbours_writes_consistent_lists() {
    use nncert::data::npy::NpyArray;
    let dir = scratch("votes_neighbours");
    let out = dir.join("v");
    let o = nncert(
        &[
            "votes",
            "--knn",
            "20,7",
            "--rnn",
            "3,3.5",
            "--neighbours",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| NpyArray::read(&out.join(f)).unwrap();
    let knn = read("knn_k20_neighbours.npy");
    assert_eq!(knn.shape, vec![1000, 20]);
    let offsets = read("rnn_r3.5_offsets.npy")
        .to_u32_checked(u32::MAX, "offset")
        .unwrap();
    let flat = read("rnn_r3.5_neighbours.npy");
    assert_eq!(*offsets.last().unwrap() as usize, flat.len());
    let votes = read("rnn_r3.5.npy")
        .to_u32_checked(u32::MAX, "count")
        .unwrap();
    for i in 0..1000 {
        let ball: u32 = votes[i * 10..(i + 1) * 10].iter().sum();
        assert_eq!(offsets[i + 1] - offsets[i], ball, "input {i}");
    }
}

#[test]
fn votes_with_ip_and_cosine_are_identical_across_kernels_and_threads() {
    let dir = scratch("votes_ip_cosine");
    for (metric, radii) in [("cosine", "0.2,0.35"), ("ip", "-1,3")] {
        let mut trees = Vec::new();
        for (i, (threads, kernel)) in [("1", "scalar"), ("2", "scalar"), ("2", "")]
            .into_iter()
            .enumerate()
        {
            let out = dir.join(format!("{metric}{i}"));
            let envs: Vec<(&str, &str)> = if kernel.is_empty() {
                vec![]
            } else {
                vec![("NNCERT_KERNEL", kernel)]
            };
            let o = nncert(
                &[
                    "votes",
                    "--metric",
                    metric,
                    "--knn",
                    "50",
                    &format!("--rnn={radii}"),
                    "--neighbours",
                    "--threads",
                    threads,
                    "--out",
                    out.to_str().unwrap(),
                ],
                &envs,
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let report = std::fs::read_to_string(out.join("report.json")).unwrap();
            assert!(
                report.contains(&format!("\"metric\": \"{metric}\"")),
                "{report}"
            );
            let mut t = tree(&out);
            t.remove("report.json"); // holds timings and the kernel name
            trees.push(t);
        }
        assert_eq!(trees[0], trees[1], "{metric}: threads");
        assert_eq!(trees[0], trees[2], "{metric}: kernels");
    }
}
