//! `nncert data info` end to end: real data (through NNCERT_DATA_DIR) and every malformed
//! input the loaders must reject with a one-line message, exit code 2 and no panic.

mod common;
use common::scratch;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nncert::data::npy::encode;

fn nncert(args: &[&str]) -> Output {
    let cwd = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_data_cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(args)
        .current_dir(&cwd)
        .output()
        .expect("the nncert binary runs")
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i % 251) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// A small MNIST-layout directory; `edit` may replace any of the four files.
fn mnist_dir(name: &str, edit: impl FnOnce(&mut [Vec<u8>; 4])) -> PathBuf {
    let dir = scratch(name);
    let mut files = [
        idx_images(5, 4, 4),
        idx_labels(&[0, 1, 2, 3, 9]),
        idx_images(2, 4, 4),
        idx_labels(&[7, 7]),
    ];
    edit(&mut files);
    let names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    for (i, (n, bytes)) in names.iter().zip(files).enumerate() {
        let bytes = if i < 2 { gz(&bytes) } else { bytes };
        std::fs::write(dir.join(n), bytes).unwrap();
    }
    dir
}

fn assert_fails(args: &[&str], needles: &[&str]) {
    let o = nncert(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.starts_with("nncert: error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{stderr:?} should contain {n:?}");
    }
}

fn info_mnist(dir: &Path) -> Vec<String> {
    [
        "data",
        "info",
        "--dataset",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_small_valid_mnist_directory_is_described() {
    let dir = mnist_dir("mnist_ok", |_| {});
    let o = nncert(
        &info_mnist(&dir)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("examples: 5 train, 2 test; 10 classes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("labels (test): 0:0 1:0 2:0 3:0 4:0 5:0 6:0 7:2 8:0 9:0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("DOES NOT match the canonical release"),
        "{stdout}"
    );
}

#[test]
fn malformed_mnist_files_are_rejected_with_their_name() {
    type Edit = Box<dyn FnOnce(&mut [Vec<u8>; 4])>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "wrong magic",
            Box::new(|f| f[2][3] = 1),
            vec![
                "t10k-images-idx3-ubyte",
                "expected magic number 00 00 08 03, found 00 00 08 01",
            ],
        ),
        (
            "wrong dtype code",
            Box::new(|f| f[2][2] = 0x0d),
            vec![
                "t10k-images-idx3-ubyte",
                "expected data type code 0x08 (unsigned byte), found 0x0d (float)",
            ],
        ),
        (
            "truncated",
            Box::new(|f| f[2].truncate(20)),
            vec![
                "t10k-images-idx3-ubyte",
                "truncated: the header announces 48 bytes, the file has 20",
            ],
        ),
        (
            "trailing garbage",
            Box::new(|f| f[3].extend_from_slice(b"xx")),
            vec!["t10k-labels-idx1-ubyte", "2 bytes of trailing garbage"],
        ),
        (
            "header larger than file",
            Box::new(|f| f[0][4..8].copy_from_slice(&1_000_000u32.to_be_bytes())),
            vec![
                "train-images-idx3-ubyte.gz",
                "truncated: the header announces 16000016 bytes, the file has 96",
            ],
        ),
        (
            "count mismatch",
            Box::new(|f| f[1] = idx_labels(&[1, 2, 3])),
            vec![
                "train-labels-idx1-ubyte.gz",
                "expected 5 labels (as many as in",
                "found 3",
            ],
        ),
        (
            "label ≥ classes",
            Box::new(|f| f[3] = idx_labels(&[7, 12])),
            vec![
                "t10k-labels-idx1-ubyte",
                "label 12 at index 1: expected a label below 10",
            ],
        ),
        (
            "empty",
            Box::new(|f| {
                f[2] = idx_images(0, 4, 4);
                f[3] = idx_labels(&[]);
            }),
            vec!["expected at least one test example, found none"],
        ),
        (
            "test shape differs",
            Box::new(|f| f[2] = idx_images(2, 5, 4)),
            vec!["expected 4 × 4 images like the training set, found 5 × 4"],
        ),
    ];
    for (i, (what, edit, needles)) in cases.into_iter().enumerate() {
        let dir = mnist_dir(&format!("mnist_bad_{i}"), edit);
        eprintln!("case: {what}");
        assert_fails(
            &info_mnist(&dir)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &needles,
        );
    }
    // A corrupt gzip stream.
    let dir = mnist_dir("mnist_bad_gzip", |_| {});
    let p = dir.join("train-labels-idx1-ubyte.gz");
    let mut b = std::fs::read(&p).unwrap();
    b.truncate(b.len() - 6);
    std::fs::write(&p, b).unwrap();
    assert_fails(
        &info_mnist(&dir)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["train-labels-idx1-ubyte.gz: corrupt gzip data"],
    );
    // A missing directory says where it looked.
    assert_fails(
        &[
            "data",
            "info",
            "--dataset",
            "mnist",
            "--data-dir",
            "/nonexistent/mnist",
        ],
        &[
            "missing: looked for train-images-idx3-ubyte or train-images.idx3-ubyte (each optionally .gz) in /nonexistent/mnist",
        ],
    );
}

#[test]
fn malformed_npy_datasets_are_rejected_with_their_name() {
    let dir = scratch("npy_bad");
    let w = |name: &str, bytes: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let trf = w(
        "trf.npy",
        encode(&[3, 2], &[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]),
    );
    let trl = w("trl.npy", encode(&[3], &[0i64, 1, 1]));
    let tef = w("tef.npy", encode(&[1, 2], &[0.5f32, 0.5]));
    let tel = w("tel.npy", encode(&[1], &[1i64]));
    let nan = w(
        "nan.npy",
        encode(&[3, 2], &[0.0f32, 1.0, 2.0, f32::NAN, 4.0, 5.0]),
    );
    let inf = w("inf.npy", encode(&[1, 2], &[0.0f64, f64::INFINITY]));
    let wide = w("wide.npy", encode(&[1, 3], &[0.0f32; 3]));
    let empty = w("empty.npy", encode::<f32>(&[0, 2], &[]));
    let empty_labels = w("empty_labels.npy", encode::<i64>(&[0], &[]));
    let short = w("short.npy", encode(&[2], &[0i64, 1]));
    let neg = w("neg.npy", encode(&[3], &[0i64, -1, 1]));
    let ints = w("ints.npy", encode(&[1, 2], &[1i32, 2]));
    let run = |f: [&str; 4], extra: &[&str]| {
        let mut args = vec![
            "data",
            "info",
            "--dataset",
            "npy",
            "--train-features",
            f[0],
            "--train-labels",
            f[1],
            "--test-features",
            f[2],
            "--test-labels",
            f[3],
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let ok = nncert(
        &run([&trf, &trl, &tef, &tel], &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("examples: 3 train, 1 test; 2 classes"));
    let cases: Vec<([&str; 4], Vec<&str>, Vec<&str>)> = vec![
        (
            [&nan, &trl, &tef, &tel],
            vec![],
            vec!["nan.npy: row 1, column 1: expected a finite feature value, found NaN"],
        ),
        (
            [&trf, &trl, &inf, &tel],
            vec![],
            vec!["inf.npy: expected the training features' dtype float32, found float64"],
        ),
        (
            [&trf, &trl, &wide, &tel],
            vec![],
            vec!["wide.npy: expected 2 feature columns (as the training features), found 3"],
        ),
        (
            [&empty, &empty_labels, &tef, &tel],
            vec![],
            vec!["empty.npy: expected at least one row (example), found none"],
        ),
        (
            [&trf, &short, &tef, &tel],
            vec![],
            vec!["short.npy: expected 3 labels (as many as in", "found 2"],
        ),
        (
            [&trf, &neg, &tef, &tel],
            vec![],
            vec![
                "neg.npy: element 1: expected a class label from 0 to 4294967294 (an integer class index), found -1",
            ],
        ),
        (
            [&trf, &trl, &tef, &tel],
            vec!["--classes", "1"],
            vec!["--classes: expected at least 2 classes, found 1"],
        ),
        (
            [&ints, &trl, &tef, &tel],
            vec![],
            vec![
                "ints.npy: unsupported dtype 'int32': expected float32, float64 or uint8 features",
            ],
        ),
    ];
    for (files, extra, needles) in cases {
        assert_fails(
            &run(files, &extra)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &needles,
        );
    }
    // float64 infinities are caught too.
    let inf_tr = w("inf_tr.npy", encode(&[1, 2], &[0.0f64, f64::INFINITY]));
    let one = w("one.npy", encode(&[1], &[0i64]));
    let tef64 = w("tef64.npy", encode(&[1, 2], &[0.0f64, 1.0]));
    assert_fails(
        &run([&inf_tr, &one, &tef64, &tel], &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["inf_tr.npy: row 0, column 1: expected a finite feature value"],
    );
    // A missing flag is named.
    assert_fails(
        &["data", "info", "--dataset", "npy"],
        &["--dataset npy needs --train-features FILE.npy"],
    );
}

#[test]
fn real_mnist_matches_the_canonical_checksums() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let o = nncert(&[
        "data",
        "info",
        "--dataset",
        "mnist",
        "--data-dir",
        dir.join("mnist").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stdout.matches("  matches the canonical release").count(),
        4,
        "{stdout}"
    );
    assert!(stdout.contains("canonical: yes"), "{stdout}");
    assert!(stdout.contains("examples: 60000 train, 10000 test; 10 classes"));
    assert!(stdout.contains("f68b3c2dcbeaaa9fbdd348bbdeb94873"));
}

/// `nncert fetch` against a local mirror on 127.0.0.1 serving the real MNIST files: the
/// files are verified against the canonical MD5s and `data info` then agrees.
#[test]
fn fetch_from_a_local_mirror_verifies_the_canonical_files() {
    use std::io::BufRead;
    let Some(data) = common::data_dir() else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let src = data.join("mnist");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let name = line
                .split_whitespace()
                .nth(1)
                .unwrap()
                .trim_start_matches('/');
            let body = std::fs::read(src.join(name)).unwrap();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    let dir = scratch("fetch_local_mirror");
    let o = nncert(&[
        "fetch",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
        "--mirror",
        &base,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("MD5 verified")
            .count(),
        4
    );
    let info = nncert(&[
        "data",
        "info",
        "--dataset",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("canonical: yes"));
    // Nothing but the four files.
    assert_eq!(std::fs::read_dir(dir.join("mnist")).unwrap().count(), 4);
}

/// Regression: `nncert … | head -1` used to panic with "failed printing to stdout".
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(["data", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
