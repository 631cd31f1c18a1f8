//! Issue 12 regressions through the real binary: bounded memory on hostile input, one-line
//! errors, all-or-nothing output directories, checks before work.

mod common;
use common::write;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nncert::data::npy::encode;

/// Address-space limit of every child: far below what the old code allocated on these
/// inputs (tens of GB), far above what a valid run of this size needs.
const MEMORY_LIMIT: u64 = 2 << 30;

fn nncert(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nncert"));
    cmd.args(args).current_dir(cwd);
    // SAFETY: setrlimit is async-signal-safe; the closure touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: MEMORY_LIMIT,
                rlim_max: MEMORY_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("the nncert binary runs")
}

fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("guarantees_{name}"))
}

/// Exit 2, one line `nncert: error: …` containing every needle, no control character.
fn assert_refused(o: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("nncert: error: "), "{stderr:?}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    let line = &stderr[..stderr.len() - 1];
    assert!(
        !line.chars().any(char::is_control),
        "one inert line: {stderr:?}"
    );
    for n in needles {
        assert!(stderr.contains(n), "{stderr:?} should contain {n:?}");
    }
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A small separable npy dataset: 40 training and 10 test points in 2-D, 2 classes.
fn npy_dataset(dir: &Path, train_labels: Option<Vec<i64>>) -> Vec<String> {
    let (n, m) = (40usize, 10usize);
    let point = |i: usize| {
        let y = (i % 2) as f32;
        [
            y * 10.0 + (i % 7) as f32 * 0.1,
            y * 10.0 + (i % 5) as f32 * 0.1,
        ]
    };
    let trf: Vec<f32> = (0..n).flat_map(point).collect();
    let trl = train_labels.unwrap_or_else(|| (0..n).map(|i| (i % 2) as i64).collect());
    let tef: Vec<f32> = (0..m).flat_map(|i| point(i + 3)).collect();
    let tel: Vec<i64> = (0..m).map(|i| ((i + 3) % 2) as i64).collect();
    vec![
        "--dataset".into(),
        "npy".into(),
        "--train-features".into(),
        write(dir, "trf.npy", encode(&[n, 2], &trf)),
        "--train-labels".into(),
        write(dir, "trl.npy", encode(&[trl.len()], &trl)),
        "--test-features".into(),
        write(dir, "tef.npy", encode(&[m, 2], &tef)),
        "--test-labels".into(),
        write(dir, "tel.npy", encode(&[m], &tel)),
        "--features".into(),
        "raw".into(),
    ]
}

fn certify(dir: &Path, data: &[String], extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["certify"];
    args.extend(data.iter().map(String::as_str));
    args.extend_from_slice(extra);
    nncert(&args, dir)
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// Issue 12 (1): a label of 2³¹ made the search allocate 51 GB and abort.
#[test]
fn class_count_follows_the_data_not_the_largest_label() {
    let dir = scratch("labels");
    let mut labels: Vec<i64> = (0..40).map(|i| i % 2).collect();
    labels[7] = 1 << 31;
    let data = npy_dataset(&dir, Some(labels));
    let o = certify(&dir, &data, &["--knn", "3", "--out", "out"]);
    assert_refused(
        &o,
        &["2147483649 classes for 50 examples", "remap sparse labels"],
    );
    let data = npy_dataset(&dir, None);
    let o = certify(&dir, &data, &["--classes", "4000000000", "--out", "out"]);
    assert_refused(&o, &["4000000000 classes"]);
    let mut neg: Vec<i64> = (0..40).map(|i| i % 2).collect();
    neg[3] = -1;
    let data = npy_dataset(&dir, Some(neg));
    let o = certify(&dir, &data, &["--knn", "3", "--out", "out"]);
    assert_refused(
        &o,
        &["trl.npy", "class label from 0 to 4294967294", "found -1"],
    );
    assert!(!dir.join("out").exists());
}

/// Issue 12 (2): a vote count of 2³² − 1 allocated curves up to e = 2³¹.
#[test]
fn votes_curves_stop_at_max_e_and_the_default_is_bounded() {
    let dir = scratch("vote_counts");
    let votes = write(
        &dir,
        "v.npy",
        encode(&[2, 2], &[0u32, u32::MAX, u32::MAX - 1, 1]),
    );
    let labels = write(&dir, "y.npy", encode(&[2], &[1u8, 0]));
    for kind in ["rnn", "knn"] {
        let out = dir.join(format!("out_{kind}"));
        let o = nncert(
            &[
                "certify-votes",
                "--votes",
                &votes,
                "--labels",
                &labels,
                "--kind",
                kind,
                "--max-e",
                "3",
                "--out",
                out.to_str().unwrap(),
            ],
            &dir,
        );
        ok(&o);
        let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
        let rows = curves.lines().count() - 1;
        assert_eq!(rows % 4, 0, "{curves}");
        assert!(
            curves.lines().skip(1).all(|l| !l.contains(",4,")),
            "{curves}"
        );
    }
    let out = dir.join("out_default");
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "knn",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    ok(&o);
    let rows = std::fs::read_to_string(out.join("curves.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(rows, 1 + 100_001);
}

/// Issue 12 (3): bagging parameters panicked or aborted.
#[test]
fn bagging_parameters_out_of_range_are_one_line_errors() {
    let dir = scratch("bagging");
    let votes = write(&dir, "v.npy", encode(&[1, 2], &[700u32, 300]));
    let labels = write(&dir, "y.npy", encode(&[1], &[0u8]));
    let base = [
        "certify-votes",
        "--votes",
        &votes,
        "--labels",
        &labels,
        "--kind",
        "bagging",
    ];
    for bad in [
        [
            "--models",
            "18446744073709551615",
            "--subsample",
            "27",
            "--train-size",
            "60000",
        ],
        [
            "--models",
            "4294967296",
            "--subsample",
            "27",
            "--train-size",
            "60000",
        ],
        [
            "--models",
            "1000",
            "--subsample",
            "27",
            "--train-size",
            "18446744073709551615",
        ],
        [
            "--models",
            "1000",
            "--subsample",
            "4294967295",
            "--train-size",
            "4294967295",
        ],
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(&bad);
        args.extend_from_slice(&["--out", "out"]);
        assert_refused(
            &nncert(&args, &dir),
            &["bagging", "expected a value in 1..="],
        );
    }
    assert!(!dir.join("out").exists());
}

/// Issue 12 (4): `--threads 1500` panicked, `--threads 100000` hung.
#[test]
fn thread_counts_are_capped_and_checked_before_work() {
    let dir = scratch("threads");
    let data = npy_dataset(&dir, None);
    for t in ["1500", "100000", "0"] {
        let o = certify(&dir, &data, &["--knn", "3", "--threads", t, "--out", "out"]);
        assert_refused(&o, &["--threads", "expected a count in 1..=256"]);
    }
    let o = certify(
        &dir,
        &data,
        &["--knn", "3", "--threads", "3", "--out", "out"],
    );
    ok(&o);
}

/// Issue 12 (10): control characters from input files were echoed raw.
#[test]
fn control_characters_from_inputs_are_escaped_on_one_line() {
    let dir = scratch("escape");
    let header =
        "{'descr': '\u{1b}]0;PWN\u{7}\u{1b}[2J\n', 'fortran_order': False, 'shape': (1, 2), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<118}\n");
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    bytes.extend_from_slice(&[0u8; 8]);
    let votes = write(&dir, "evil.npy", bytes);
    let labels = write(&dir, "y.npy", encode(&[1], &[0u8]));
    let o = nncert(
        &[
            "certify-votes",
            "--votes",
            &votes,
            "--labels",
            &labels,
            "--kind",
            "knn",
            "--out",
            "out",
        ],
        &dir,
    );
    assert_refused(&o, &["evil.npy", "\\u{1b}"]);
}

/// Issue 12 (15): clap's usage block broke the one-line promise.
#[test]
fn argument_parser_errors_are_one_line() {
    let dir = scratch("clap");
    for args in [
        vec!["certify-votes", "--max-e", "-1"],
        vec!["certify", "--threads", "many"],
        vec!["certify", "--no-such-flag"],
        vec!["frobnicate"],
    ] {
        assert_refused(&nncert(&args, &dir), &["(see nncert --help)"]);
    }
    let o = nncert(&["--help"], &dir);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage"));
}

/// Issue 11: an enumerated option refuses a value outside its list on one line that names
/// the flag and lists what it accepts (in the library's words when the library parses the
/// value; clap prints its own list on a line of its own, which must not be lost).
#[test]
fn enumerated_options_list_their_values_in_the_one_line_error() {
    let dir = scratch("value_enum");
    for (args, needles) in [
        (
            vec!["certify", "--metric", "l3"],
            ["--metric: metric: expected l1, l2, linf, ip or cosine, found `l3`"].as_slice(),
        ),
        (
            vec!["certify", "--hog-norm", "l2"],
            &["--hog-norm: block norm: expected L1, L1-sqrt, L2 or L2-Hys, found `l2`"],
        ),
        (
            vec!["certify", "--tie-rule", "largest"],
            &["--tie-rule: tie rule: expected `larger` or `smaller`"],
        ),
        (
            vec!["certify", "--threat", "modify"],
            &["--threat: threat: expected `general`, `insert`, `delete` or `flip`"],
        ),
        (
            vec!["certify", "--joint", "individual"],
            &[
                "'--joint <",
                "expected one of: island, rd, island-label, rd-label, polish",
            ],
        ),
        (
            vec!["votes", "--dataset", "svhn", "--out", "o"],
            &[
                "'--dataset <",
                "expected one of: embedded, mnist, cifar10, npy",
            ],
        ),
        (
            vec![
                "certify-ensemble",
                "--labels",
                "y.npy",
                "--units",
                "edits",
                "--out",
                "o",
            ],
            &["'--units <", "expected one of: poisoning, insdel"],
        ),
        (
            vec![
                "reproduce",
                "--datasets",
                "mnist,svhn",
                "--data-dir",
                ".",
                "--out",
                "o",
            ],
            &["'--datasets <", "expected one of: mnist, cifar10"],
        ),
    ] {
        let mut needles = needles.to_vec();
        needles.push("(see nncert --help)");
        assert_refused(&nncert(&args, &dir), &needles);
    }
}

/// Issue 11: `--knn` and `--rnn` have one grammar in `certify`, `votes` and `attack`:
/// numbers, comma-separated, or `none`.
#[test]
fn knn_and_rnn_lists_have_one_grammar_in_every_command() {
    let dir = scratch("list_grammar");
    let data = npy_dataset(&dir, None);
    let run = |command: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![command];
        args.extend(data.iter().map(String::as_str));
        args.extend_from_slice(extra);
        nncert(&args, &dir)
    };
    for command in ["certify", "votes"] {
        let out = format!("out_{command}");
        ok(&run(
            command,
            &["--knn", "none", "--rnn", "8", "--out", &out],
        ));
        ok(&run(
            command,
            &["--knn", "3", "--rnn", "none", "--out", &out],
        ));
        assert!(tree(&dir.join(&out)).iter().all(|f| !f.contains("rnn")));
    }
    for command in ["certify", "votes", "attack"] {
        for (flag, value, needle) in [
            (
                "--knn",
                "3,x",
                "--knn: expected a number or `none`, found `x`",
            ),
            (
                "--rnn",
                "4,none",
                "--rnn: expected a number or `none`, found `none`",
            ),
            ("--knn", "3,3", "--knn: `3` is given twice"),
            ("--knn", "0", "--knn: expected k ≥ 1, found 0"),
        ] {
            let mut extra = vec![flag, value, "--out", "o"];
            if command == "attack" {
                extra.extend(["--e", "1"]);
            }
            assert_refused(&run(command, &extra), &[needle]);
        }
    }
}

/// Issue 12 (6): a second run into the same directory left the first run's figures.
#[test]
fn a_second_run_replaces_the_whole_output_directory() {
    let dir = scratch("stale");
    let data = npy_dataset(&dir, None);
    ok(&certify(
        &dir,
        &data,
        &["--knn", "none", "--rnn", "8,9", "--out", "out"],
    ));
    assert!(tree(&dir.join("out")).iter().any(|f| f.contains("rnn_r8_")));
    ok(&certify(
        &dir,
        &data,
        &["--knn", "3", "--rnn", "none", "--out", "out"],
    ));
    let files = tree(&dir.join("out"));
    assert!(!files.iter().any(|f| f.contains("rnn")), "{files:?}");
    let curves = std::fs::read_to_string(dir.join("out/curves.csv")).unwrap();
    assert!(!curves.contains("\nrnn,"));
    // Nothing but the output directory and the inputs beside it: no staging leftovers.
    let mut top = tree(&dir);
    top.retain(|f| !f.contains('/'));
    assert_eq!(top, ["out", "tef.npy", "tel.npy", "trf.npy", "trl.npy"]);
}

/// Issue 12 (8): an unusable `--out` was found only after the whole computation, and a
/// foreign directory would now be replaced: both are refused before any work.
#[test]
fn unusable_output_locations_are_refused_before_any_work() {
    let dir = scratch("out_checks");
    let data = npy_dataset(&dir, None);
    std::fs::write(dir.join("a_file"), "x").unwrap();
    let o = certify(&dir, &data, &["--knn", "3", "--out", "a_file"]);
    assert_refused(&o, &["a_file", "found a file"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("time:"));
    std::fs::create_dir(dir.join("photos")).unwrap();
    std::fs::write(dir.join("photos/cat.jpg"), "meow").unwrap();
    let o = certify(&dir, &data, &["--knn", "3", "--out", "photos"]);
    assert_refused(&o, &["photos", "not an nncert output"]);
    assert_eq!(tree(&dir.join("photos")), ["cat.jpg"]);
    let o = certify(&dir, &data, &["--knn", "3", "--out", "a_file/below"]);
    assert_refused(&o, &["a_file", "it is a file"]);
    // A read-only parent (root ignores permissions, so only as another user).
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(dir.join("ro")).unwrap();
        std::fs::set_permissions(dir.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
        let o = certify(&dir, &data, &["--knn", "3", "--out", "ro/out"]);
        assert_refused(&o, &["ro/out", "cannot create the output directory"]);
    }
    // attack: the target label is checked before the clean attack runs.
    let o = nncert(
        &[
            "attack",
            "--knn",
            "5",
            "--e",
            "1",
            "--n-test",
            "2",
            "--trigger",
            "blend:0.1",
            "--target-label",
            "12",
            "--out",
            "att",
        ],
        &dir,
    );
    assert_refused(
        &o,
        &["--target-label", "expected a label in 0..=9", "found 12"],
    );
    let o = nncert(
        &[
            "attack", "--knn", "5", "--e", "1", "--n-test", "0", "--out", "att",
        ],
        &dir,
    );
    assert_refused(&o, &["--n-test"]);
    assert!(!dir.join("att").exists());
}

/// Issue 12 (6, 8): `reproduce` that failed on CIFAR-10 left a complete mnist/.
#[test]
fn reproduce_checks_every_dataset_before_computing_and_writes_nothing_on_failure() {
    let dir = scratch("reproduce");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("mnist")).unwrap();
    let idx = |n: u32, dims: &[u32], body: Vec<u8>| {
        let mut b = vec![0, 0, 8, 1 + dims.len() as u8];
        b.extend_from_slice(&n.to_be_bytes());
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend(body);
        b
    };
    for (name, n) in [("train", 30u32), ("t10k", 5)] {
        let images = idx(
            n,
            &[28, 28],
            (0..n * 784).map(|i| (i % 251) as u8).collect(),
        );
        let labels = idx(n, &[], (0..n).map(|i| (i % 10) as u8).collect());
        std::fs::write(data.join(format!("mnist/{name}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(data.join(format!("mnist/{name}-labels-idx1-ubyte")), labels).unwrap();
    }
    let o = nncert(
        &[
            "reproduce",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            "repro",
        ],
        &dir,
    );
    assert_refused(&o, &["missing"]);
    assert!(!dir.join("repro").exists());
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// Issue 12 (12): npy flags without `--dataset npy` silently certified the embedded MNIST
/// subset; HOG was the default on feature vectors.
#[test]
fn npy_flags_imply_the_npy_dataset_and_raw_features() {
    let dir = scratch("infer");
    let mut data = npy_dataset(&dir, None);
    data.drain(0..2); // no --dataset
    data.truncate(data.len() - 2); // no --features
    let o = certify(&dir, &data, &["--knn", "3", "--out", "out"]);
    ok(&o);
    let r = report(&dir.join("out"));
    let text = r.to_string();
    assert!(text.contains("\"npy\""), "{text}");
    assert!(text.contains("raw") && !text.contains("hog"), "{text}");
    let mut mixed = vec!["--dataset".to_string(), "mnist".to_string()];
    mixed.extend(data.iter().cloned());
    let o = certify(&dir, &mixed, &["--out", "out2"]);
    assert_refused(&o, &["--train-features: applies to --dataset npy only"]);
}

/// Issue 12 (11): the default k = 5000 on 40 training points predicted the majority class.
#[test]
fn the_default_k_scales_to_the_training_set_and_k_over_n_warns() {
    let dir = scratch("default_k");
    let data = npy_dataset(&dir, None);
    let o = certify(&dir, &data, &["--out", "out"]);
    ok(&o);
    let curves = std::fs::read_to_string(dir.join("out/curves.csv")).unwrap();
    assert!(curves.contains("\nknn,3,individual,0,"), "{curves}");
    assert!(o.stderr.is_empty());
    let o = certify(&dir, &data, &["--knn", "40", "--out", "out"]);
    ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: --knn 40") && stderr.contains("majority class"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

/// Issue 12 (15): options that do not apply were ignored; duplicate settings were written
/// twice; rows that cannot be kNN votes were accepted.
#[test]
fn inapplicable_flags_duplicates_and_impossible_knn_votes_are_refused() {
    let dir = scratch("inapplicable");
    let votes = write(&dir, "v.npy", encode(&[2, 2], &[3u32, 2, 1, 4]));
    let labels = write(&dir, "y.npy", encode(&[2], &[0u8, 1]));
    let cv = |extra: &[&str]| {
        let mut args = vec!["certify-votes", "--votes", &votes, "--labels", &labels];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", "out"]);
        nncert(&args, &dir)
    };
    assert_refused(
        &cv(&["--kind", "rnn", "--units", "insdel"]),
        &["--units: applies to DPA votes only"],
    );
    assert_refused(
        &cv(&["--kind", "rnn", "--alpha", "0.1"]),
        &["--alpha: applies to bagging only"],
    );
    assert_refused(
        &cv(&["--kind", "dpa", "--models", "5"]),
        &["--models: applies to bagging only"],
    );
    ok(&cv(&["--kind", "knn"]));
    for bad in [vec![0u32, 0, 0, 0], vec![3, 2, 1, 1]] {
        let v = write(&dir, "bad.npy", encode(&[2, 2], &bad));
        let o = nncert(
            &[
                "certify-votes",
                "--votes",
                &v,
                "--labels",
                &labels,
                "--kind",
                "knn",
                "--out",
                "out2",
            ],
            &dir,
        );
        assert_refused(&o, &["bad.npy", "kNN votes", "k ≥ 1"]);
    }
    let data = npy_dataset(&dir, None);
    let o = certify(&dir, &data, &["--knn", "5,5", "--out", "out3"]);
    assert_refused(&o, &["--knn: `5` is given twice"]);
    let o = certify(
        &dir,
        &data,
        &["--knn", "3", "--joint", "island", "--out", "out3"],
    );
    assert_refused(&o, &["--joint: joint certification applies to rNN only"]);
    assert!(!dir.join("out2").exists() && !dir.join("out3").exists());
}

/// `copies` gzip members of 64 MiB of zeros each, after `head` (its own member): a
/// decompression bomb of `64 MiB × copies` in about `64 KiB × copies`.
fn gzip_bomb(head: &[u8], copies: usize) -> Vec<u8> {
    use std::io::Write;
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let zeros = gz(&vec![0u8; 64 << 20]);
    let mut out = gz(head);
    for _ in 0..copies {
        out.extend_from_slice(&zeros);
    }
    out
}

/// Issue 12 (5): a gzip bomb was decompressed whole (up to 4 GB, 12 GB RSS for the CIFAR
/// archive) before being refused. Each member is now capped by what its format allows,
/// while streaming: these runs stay far below the 2 GiB address-space limit.
#[test]
fn decompression_bombs_are_refused_at_the_size_the_format_allows() {
    let dir = scratch("bombs");
    // MNIST: a valid header for 5 images of 4 × 4, followed by 2.5 GiB of zeros.
    let mnist = dir.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let mut header = vec![0, 0, 8, 3];
    for d in [5u32, 4, 4] {
        header.extend_from_slice(&d.to_be_bytes());
    }
    std::fs::write(
        mnist.join("train-images-idx3-ubyte.gz"),
        gzip_bomb(&header, 40),
    )
    .unwrap();
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 5];
    labels.extend_from_slice(&[0, 1, 2, 3, 4]);
    std::fs::write(mnist.join("train-labels-idx1-ubyte"), &labels).unwrap();
    std::fs::write(mnist.join("t10k-images-idx3-ubyte"), {
        let mut b = header.clone();
        b.extend(vec![1u8; 80]);
        b
    })
    .unwrap();
    std::fs::write(mnist.join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    let o = nncert(
        &[
            "data",
            "info",
            "--dataset",
            "mnist",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &dir,
    );
    assert_refused(
        &o,
        &[
            "train-images-idx3-ubyte.gz",
            "expected at most 96 bytes once decompressed",
        ],
    );

    // CIFAR-10: a batch member whose header announces 4 GiB, then 2.5 GiB of zeros.
    let cifar = dir.join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_path("cifar-10-batches-bin/data_batch_1.bin").unwrap();
    h.set_size(4 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    std::fs::write(
        cifar.join("cifar-10-binary.tar.gz"),
        gzip_bomb(h.as_bytes(), 40),
    )
    .unwrap();
    let o = nncert(
        &[
            "data",
            "info",
            "--dataset",
            "cifar10",
            "--data-dir",
            cifar.to_str().unwrap(),
        ],
        &dir,
    );
    assert_refused(
        &o,
        &[
            "cifar-10-binary.tar.gz",
            "data_batch_1.bin",
            "expected at most 30730000",
        ],
    );

    // CIFAR-10: an unrelated member of 2.5 GiB: the tar stream is capped.
    let mut h = tar::Header::new_gnu();
    h.set_path("cifar-10-batches-bin/readme.html").unwrap();
    h.set_size(40 * (64 << 20));
    h.set_mode(0o644);
    h.set_cksum();
    std::fs::write(
        cifar.join("cifar-10-binary.tar.gz"),
        gzip_bomb(h.as_bytes(), 40),
    )
    .unwrap();
    let o = nncert(
        &[
            "data",
            "info",
            "--dataset",
            "cifar10",
            "--data-dir",
            cifar.to_str().unwrap(),
        ],
        &dir,
    );
    assert_refused(
        &o,
        &["cifar-10-binary.tar.gz", "expected at most 268435456 bytes"],
    );
}

/// Issue 12 (16): the MNIST "missing" message did not say how to get the files.
#[test]
fn missing_mnist_suggests_fetch() {
    let dir = scratch("missing_mnist");
    let o = nncert(
        &[
            "data",
            "info",
            "--dataset",
            "mnist",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &dir,
    );
    assert_refused(&o, &["missing", "run `nncert fetch mnist --data-dir"]);
}

/// Issue 12 (13): a radius that leaves every ball empty came with no guidance.
#[test]
fn empty_rnn_balls_come_with_distance_quantiles() {
    let dir = scratch("radius_guidance");
    let data = npy_dataset(&dir, None);
    // Test points off the training grid: no training example within 0.001 of any.
    let tef: Vec<f32> = (0..20).map(|i| 0.05 + (i % 3) as f32).collect();
    write(&dir, "tef.npy", encode(&[10, 2], &tef));
    let o = certify(
        &dir,
        &data,
        &["--knn", "none", "--rnn", "0.001", "--out", "out"],
    );
    ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("most balls are empty"))
        .unwrap_or_else(|| panic!("no guidance in {stdout}"));
    assert!(
        line.contains("l1 distance to the k-th nearest training example"),
        "{line}"
    );
    assert!(
        line.contains("k = 1: ") && line.contains("k = 10: "),
        "{line}"
    );
    assert!(!line.contains("k = 100"), "only k ≤ n_train: {line}");
    // A radius that reaches the neighbours prints no guidance.
    let o = certify(
        &dir,
        &data,
        &["--knn", "none", "--rnn", "40", "--out", "out"],
    );
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("most balls are empty"));
}
