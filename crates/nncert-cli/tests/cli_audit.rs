//! Regressions of the robustness audit through the real binary: no data loss, no panic,
//! bounded memory, exact one-line messages. Each test names the audit finding it pins.

mod common;
use common::{assert_refused_with, names, run_in, scratch, write};

use std::path::Path;
use std::process::Output;

use nncert::data::npy::encode;

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A 6 × 3 votes matrix and its labels, as flag values.
fn votes_inputs(dir: &Path) -> (String, String) {
    let votes: Vec<i32> = (0..18).map(|i| i * 7 % 5).collect();
    let labels: Vec<i64> = (0..6).map(|i| (i % 3) as i64).collect();
    (
        write(dir, "v.npy", encode(&[6, 3], &votes)),
        write(dir, "y.npy", encode(&[6], &labels)),
    )
}

/// A small npy dataset (`--train-features …` flags): 30 training and 6 test points in 2-D.
fn npy_dataset(dir: &Path) -> Vec<String> {
    common::npy_dataset(dir, 30, 6, 5.0, 0.1)
}

/// `certify-votes` of rNN votes into `out`, run in `dir`.
fn certify_rnn(dir: &Path, votes: &str, labels: &str, out: &str) -> Output {
    run_in(
        &[
            "certify-votes",
            "--votes",
            votes,
            "--labels",
            labels,
            "--kind",
            "rnn",
            "--out",
            out,
        ],
        dir,
    )
}

fn with<'a>(head: &[&'a str], data: &'a [String], tail: &[&'a str]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(data.iter().map(String::as_str));
    v.extend_from_slice(tail);
    v
}

/// Finding 5: a user's directory with a file named REPRODUCTION.md or report.json among
/// other files was wiped by a run writing there.
#[test]
fn a_directory_merely_named_like_an_output_is_never_replaced() {
    let dir = scratch("audit_foreign_output");
    let (v, y) = votes_inputs(&dir);
    let proj = dir.join("proj");
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::write(proj.join("thesis.tex"), "x").unwrap();
    std::fs::write(proj.join("src/main.py"), "y").unwrap();
    std::fs::write(proj.join("REPRODUCTION.md"), "# notes").unwrap();
    let certify = |out: &str| certify_rnn(&dir, &v, &y, out);
    assert_refused_with(&certify("proj"), "not an nncert output", "REPRODUCTION.md");
    let cfg = dir.join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    std::fs::write(cfg.join("report.json"), r#"{"my":"config"}"#).unwrap();
    assert_refused_with(
        &certify("cfg"),
        "not an nncert output",
        "foreign report.json",
    );
    assert_eq!(names(&proj), ["REPRODUCTION.md", "src", "thesis.tex"]);
    assert_eq!(names(&cfg), ["report.json"]);
    // A real earlier output is still replaced, by the same or another command.
    ok(&certify("out"), "first run");
    ok(&certify("out"), "second run into the same directory");
    ok(
        &run_in(&["demo", "--n-test", "5", "--out", "out"], &dir),
        "demo",
    );
    ok(
        &run_in(&["demo", "--n-test", "5", "--out", "out"], &dir),
        "demo again",
    );
}

/// Finding 4: an output directory holding the run's own inputs was replaced, deleting them.
#[test]
fn an_output_directory_over_the_inputs_is_refused_before_any_work() {
    let dir = scratch("audit_out_over_inputs");
    let data = npy_dataset(&dir);
    ok(
        &run_in(
            &with(
                &["votes"],
                &data,
                &["--knn", "3", "--rnn", "1", "--out", "vv"],
            ),
            &dir,
        ),
        "votes",
    );
    let before = names(&dir.join("vv"));
    let o = certify_rnn(&dir, "vv/rnn_r1.npy", "vv/test_labels.npy", "vv/.");
    assert_refused_with(
        &o,
        "is or contains the input",
        "certify-votes into its inputs",
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("vv/rnn_r1.npy"));
    // The dataset's own directory, given as the output of a certify run.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let mut moved = data.clone();
    moved[1] = write(&sub, "trf.npy", std::fs::read(&data[1]).unwrap());
    let o = run_in(
        &with(&["certify"], &moved, &["--knn", "3", "--out", "sub"]),
        &dir,
    );
    assert_refused_with(&o, "is or contains the input", "certify over its features");
    // merge into one of its partials.
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let out = format!("p{i}");
        ok(
            &run_in(
                &with(
                    &["votes"],
                    &data,
                    &["--knn", "3", "--train-shard", &shard, "--out", &out],
                ),
                &dir,
            ),
            "votes shard",
        );
    }
    let o = run_in(&["merge", "p1", "p2", "--out", "p1"], &dir);
    assert_refused_with(&o, "is or contains the input", "merge into a partial");
    assert_eq!(names(&dir.join("vv")), before);
    assert!(dir.join("p1/partial.nncert").is_file() && dir.join("sub/trf.npy").is_file());
}

/// Finding 6: `--out e0/.` and an over-long name failed only after the whole run.
#[test]
fn output_names_are_normalised_and_probed_with_the_staging_name() {
    let dir = scratch("audit_out_names");
    let (v, y) = votes_inputs(&dir);
    let run = |out: &str| certify_rnn(&dir, &v, &y, out);
    ok(&run("e0"), "e0");
    ok(&run("e0/."), "e0/.");
    ok(&run("e0/"), "e0/");
    assert_eq!(
        names(&dir.join("e0")),
        ["curves.csv", "examples.csv", "report.json"]
    );
    let long = "a".repeat(245);
    let o = run(&long);
    assert_refused_with(
        &o,
        "cannot create the output directory here",
        "245-byte name",
    );
    // Refused in the preflight: nothing was computed or printed.
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Finding 1: `demo --n-test` had no bound (capacity overflow panic, 40 GB allocation).
#[test]
fn demo_n_test_is_bounded_in_the_argument_check() {
    let dir = scratch("audit_demo_n_test");
    for n in ["18446744073709551615", "1000000000", "1000001", "0"] {
        let o = run_in(&["demo", "--n-test", n, "--out", "dm"], &dir);
        assert_refused_with(&o, "--n-test: expected a count in 1..=1000000", n);
        assert!(o.stdout.is_empty(), "refused before any output");
    }
    assert!(!dir.join("dm").exists());
}

/// Finding 2: `/dev/zero` as `--votes` or `--labels` filled memory until the OOM killer
/// came; a FIFO blocked forever; a huge file of another format was read whole first.
#[test]
fn non_regular_and_oversized_inputs_are_refused_at_once() {
    let dir = scratch("audit_bounded_reads");
    let (v, y) = votes_inputs(&dir);
    let fifo = dir.join("fifo.npy");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let sparse = dir.join("big.npy");
    std::fs::write(&sparse, b"not an npy file").unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sparse)
        .unwrap()
        .set_len(6 << 30)
        .unwrap();
    let fifo = fifo.display().to_string();
    let sparse = sparse.display().to_string();
    for (votes, labels, needle) in [
        (
            "/dev/zero",
            y.as_str(),
            "expected a regular file, found a device",
        ),
        (
            v.as_str(),
            "/dev/zero",
            "expected a regular file, found a device",
        ),
        (
            v.as_str(),
            fifo.as_str(),
            "expected a regular file, found a FIFO",
        ),
        (sparse.as_str(), y.as_str(), "big.npy"),
        (
            v.as_str(),
            ".",
            "expected a regular file, found a directory",
        ),
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nncert"))
            .args([
                "certify-votes",
                "--votes",
                votes,
                "--labels",
                labels,
                "--kind",
                "rnn",
                "--out",
                "o",
            ])
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A run that blocks or reads gigabytes is killed and fails the test.
        let mut waited = 0;
        while child.try_wait().unwrap().is_none() && waited < 600 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            waited += 1;
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            panic!("{votes} / {labels}: still running after 30 s");
        }
        let o = child.wait_with_output().unwrap();
        assert_refused_with(&o, needle, &format!("{votes} / {labels}"));
    }
}

/// Finding 9: the parser's message dropped the missing argument's name, stripped escape
/// sequences from user input (showing a different value than typed), and took `-0.1` for
/// a flag.
#[test]
fn parse_errors_name_the_argument_and_escape_what_was_typed() {
    let dir = scratch("audit_parse_errors");
    let (v, y) = votes_inputs(&dir);
    let cv = |extra: &[&str]| {
        let mut args = vec!["certify-votes", "--votes", &v, "--labels", &y];
        args.extend_from_slice(extra);
        run_in(&args, &dir)
    };
    for (o, needle, what) in [
        (
            cv(&["--kind", "rnn"]),
            "not provided: --out <DIR>",
            "missing --out",
        ),
        (
            run_in(&["merge", "--out", "mg"], &dir),
            "not provided: <PARTIAL>",
            "missing partials",
        ),
        (
            cv(&["--kind", "rnn", "--joint", "isl\x1b[2Jand", "--out", "o"]),
            "invalid value 'isl\\u{1b}[2Jand' for '--joint <",
            "ESC in a value",
        ),
        (
            cv(&["--kind", "rnn", "--joint", "a\nb", "--out", "o"]),
            "invalid value 'a\\nb' for '--joint <",
            "newline in a value",
        ),
        (
            cv(&["--kind", "rnn", "--max-e", "1\x1b", "--out", "o"]),
            "invalid value '1\\u{1b}' for '--max-e <",
            "ESC in a number",
        ),
        (
            run_in(&["cert\x1bify"], &dir),
            "unrecognized subcommand 'cert\\u{1b}ify'",
            "ESC in a subcommand",
        ),
        (
            run_in(&["certify", "--alpha", "-0.1", "--out", "o"], &dir),
            "--alpha: expected a value in (0, 1), found -0.1",
            "a negative number reaches its range check",
        ),
    ] {
        assert_refused_with(&o, needle, what);
    }
    assert!(!dir.join("o").exists());
    use std::os::unix::ffi::OsStrExt;
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(["certify-ensemble", "--labels", &y, "--out", "o", "--param"])
        .arg(std::ffi::OsStr::from_bytes(b"x\xff"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_refused_with(&o, "--param: expected UTF-8 text", "non-UTF-8 --param");
}

/// Finding 10: duplicates were compared as text, so `5,05` certified k = 5 twice.
#[test]
fn settings_given_twice_are_refused_as_parsed_values() {
    let dir = scratch("audit_duplicates");
    let data = npy_dataset(&dir);
    for (extra, needle) in [
        (["--knn", "3,03"], "--knn: `03` is `3` given twice"),
        (["--rnn", "1,1.0"], "--rnn: `1.0` is `1` given twice"),
        (["--dpa", "5,05"], "--dpa: `5` is given twice"),
    ] {
        let o = run_in(
            &with(&["certify"], &data, &[extra[0], extra[1], "--out", "o"]),
            &dir,
        );
        assert_refused_with(&o, needle, needle);
    }
    let (_, y) = votes_inputs(&dir);
    let predictions: Vec<i64> = (0..12).map(|i| (i % 3) as i64).collect();
    let p = write(&dir, "p.npy", encode(&[6, 2], &predictions));
    let o = run_in(
        &[
            "certify-ensemble",
            "--predictions",
            &p,
            "--labels",
            &y,
            "--method",
            "dpa,dpa",
            "--out",
            "o",
        ],
        &dir,
    );
    assert_refused_with(&o, "--method: `dpa` is given twice", "--method dpa,dpa");
    assert!(!dir.join("o").exists());
}

/// Finding 11: a flag that does not apply to the run is refused (one line naming the flag
/// and why, exit 2, before any work), never silently ignored.
#[test]
fn flags_that_do_not_apply_are_refused_before_any_work() {
    let dir = scratch("audit-flags");
    let data = npy_dataset(&dir);
    let (v, y) = votes_inputs(&dir);
    let pred: Vec<i64> = (0..24).map(|i| i % 3).collect();
    let pred = write(&dir, "pred.npy", encode(&[6, 4], &pred));
    let logits: Vec<f32> = (0..72).map(|i| (i % 5) as f32).collect();
    let logits = write(&dir, "logits.npy", encode(&[6, 4, 3], &logits));
    let certify = |extra: &[&str]| {
        let args = with(&["certify", "--knn", "3"], &data, extra);
        run_in(&[&args[..], &["--out", "o"]].concat(), &dir)
    };
    for (extra, needle) in [
        (
            &["--hog-cell", "4"][..],
            "--hog-cell: applies to HOG features only",
        ),
        (
            &["--hog-norm", "L1"],
            "--hog-norm: applies to HOG features only",
        ),
        (&["--models", "5"], "--models: applies to bagging only"),
        (&["--alpha", "0.1"], "--alpha: applies to bagging only"),
        (
            &["--learner", "1nn"],
            "--learner: the base classifier applies",
        ),
        (
            &["--bagging-seed", "1"],
            "--bagging-seed: applies to bagging only",
        ),
        (
            &["--dpa", "3", "--fa-d", "2"],
            "--fa-d: applies to Finite Aggregation",
        ),
        (
            &["--spread-seed", "1"],
            "--spread-seed: applies to Finite Aggregation",
        ),
        (
            &["--rnn", "1", "--seed", "3"],
            "--seed: seeds the RD division",
        ),
    ] {
        assert_refused_with(&certify(extra), needle, needle);
    }
    let votes = |kind: &str, extra: &[&str]| {
        let args = [
            &[
                "certify-votes",
                "--votes",
                &v,
                "--labels",
                &y,
                "--kind",
                kind,
            ][..],
            extra,
            &["--out", "o"],
        ]
        .concat();
        run_in(&args, &dir)
    };
    for kind in ["knn", "rnn", "dpa"] {
        assert_refused_with(&votes(kind, &["--seed", "1"]), "--seed: seeds the RD", kind);
    }
    assert_refused_with(
        &votes("rnn", &["--models", "20"]),
        "--models: applies to bagging only",
        "models",
    );
    let ensemble = |extra: &[&str]| {
        let args = [
            &["certify-ensemble", "--labels", &y][..],
            extra,
            &["--out", "o"],
        ]
        .concat();
        run_in(&args, &dir)
    };
    for (extra, needle) in [
        (
            &["--logits", &logits, "--abstain", "-2"][..],
            "--abstain: marks abstaining",
        ),
        (
            &["--predictions", &pred, "--method", "dpa", "--d", "2"],
            "--d: applies to Finite",
        ),
        (
            &[
                "--predictions",
                &pred,
                "--method",
                "fa",
                "--shifts",
                "0,1",
                "--spread-seed",
                "1",
            ],
            "--spread-seed: seeds the spread's shifts, which are given explicitly",
        ),
    ] {
        assert_refused_with(&ensemble(extra), needle, needle);
    }
    assert!(!dir.join("o").exists());
    // Where they apply, the same flags are accepted.
    ok(
        &votes("rnn", &["--joint", "rd", "--seed", "1"]),
        "--seed with rd",
    );
    ok(
        &ensemble(&[
            "--predictions",
            &pred,
            "--method",
            "fa",
            "--d",
            "2",
            "--spread-seed",
            "1",
            "--abstain",
            "-5",
        ]),
        "FA flags with FA",
    );
}

/// Finding 13: messages that said something else than the problem, named no file, or
/// printed control characters of a path.
#[test]
fn messages_name_the_file_and_the_problem() {
    let dir = scratch("audit-messages");
    let (v, y) = votes_inputs(&dir);
    let votes = |votes: &str, kind: &str, extra: &[&str], out: &str| {
        let args = [
            &[
                "certify-votes",
                "--votes",
                votes,
                "--labels",
                &y,
                "--kind",
                kind,
            ][..],
            extra,
            &["--out", out],
        ]
        .concat();
        run_in(&args, &dir)
    };
    // --kind lists only the kinds certify-votes takes.
    assert_refused_with(
        &votes(&v, "RNN", &[], "o"),
        "expected knn, rnn, dpa or bagging, found `RNN`",
        "--kind",
    );
    // An all-zero kNN row says so, with the file.
    let zero: Vec<i32> = (0..18).map(|i| if i < 3 { 0 } else { 1 }).collect();
    let zero = write(&dir, "zero.npy", encode(&[6, 3], &zero));
    assert_refused_with(
        &votes(&zero, "knn", &[], "o"),
        "zero.npy: votes: row 0 has no votes: kNN votes count the k ≥ 1 nearest",
        "all-zero kNN row",
    );
    // Bagging: more votes than models names the file.
    let bag = ["--models", "2", "--subsample", "3", "--train-size", "100"];
    assert_refused_with(
        &votes(&v, "bagging", &bag, "o"),
        "v.npy: bagging: row 0 has more votes than the 2 models",
        "bagging votes",
    );
    // A label of 2^62 is too large, not negative.
    let big = write(&dir, "big.npy", encode(&[6], &[0i64, 1, 1 << 62, 0, 1, 0]));
    let data = npy_dataset(&dir);
    let mut with_big = data.clone();
    with_big[7] = big;
    assert_refused_with(
        &run_in(
            &with(&["certify", "--knn", "3"], &with_big, &["--out", "o"]),
            &dir,
        ),
        "big.npy: element 2: expected a class label from 0 to 4294967294 (an integer class index), found 4611686018427387904",
        "label 2^62",
    );
    // --classes 0 is an argument error; too many classes name their source.
    for (extra, needle) in [
        (
            &["--classes", "0"][..],
            "--classes: expected at least 2 classes, found 0",
        ),
        (
            &["--classes", "5000"],
            "classes: 5000 classes for 36 examples",
        ),
    ] {
        let args = with(
            &["certify", "--knn", "3"],
            &data,
            &[extra, &["--out", "o"]].concat(),
        );
        assert_refused_with(&run_in(&args, &dir), needle, needle);
    }
    // `votes` warns about k ≥ n_train as `certify` does.
    let o = run_in(
        &with(&["votes", "--knn", "30"], &data, &["--out", "vv"]),
        &dir,
    );
    ok(&o, "votes --knn 30");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("nncert: warning: --knn 30: k ≥ the 30 training examples"),
        "{stderr}"
    );
    // The output path on stdout is escaped.
    let o = votes(&v, "rnn", &[], "o\x1b[2Jx");
    ok(&o, "an output name with ESC");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("to o\\u{1b}[2Jx\n"), "{stdout:?}");
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(!dir.join("o").exists());
}
