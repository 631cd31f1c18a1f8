//! The streaming `.npy` loader against the whole-file parser it replaced: the same records,
//! features, checksums and errors, and — when the training rows go straight into the
//! search's layout — the same votes and neighbour lists, byte for byte.

mod common;

use std::path::{Path, PathBuf};

use nncert::data::npy::{self, NpyArray};
use nncert::data::npy_features::{NpyPaths, TrainInto, load_npy_dataset, load_npy_dataset_into};
use nncert::data::source::read_source;
use nncert::data::{Dataset, DatasetSpec, load, load_for_search};
use nncert::features::FeatureKind;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig, search};
use nncert::pipeline::{self, Progress};
use nncert::rng::SplitMix64;

/// Feature values of one dtype, row-major.
#[derive(Clone)]
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    U8(Vec<u8>),
}

/// Values with repeats (exact ties), negative numbers and a zero row now and then.
fn values(kind: &str, n: usize, dim: usize, rng: &mut SplitMix64) -> Values {
    let mut v: Vec<f64> = (0..n * dim)
        .map(|_| (rng.below(9) as f64 - 4.0) * 0.25 + rng.below(3) as f64 * 1e-3)
        .collect();
    if n > 2 {
        v[dim..2 * dim].fill(0.0);
    }
    match kind {
        "f32" => Values::F32(v.iter().map(|&x| x as f32).collect()),
        "f64" => Values::F64(v.iter().map(|&x| x * 1.000_000_1).collect()),
        _ => Values::U8(v.iter().map(|&x| (x * 8.0 + 40.0) as u8).collect()),
    }
}

fn encode(v: &Values, n: usize, dim: usize) -> Vec<u8> {
    match v {
        Values::F32(x) => npy::encode(&[n, dim], x),
        Values::F64(x) => npy::encode(&[n, dim], x),
        Values::U8(x) => npy::encode(&[n, dim], x),
    }
}

struct Files {
    _dir: tempfile::TempDir,
    paths: NpyPaths,
}

/// Writes the four files; `labels` unsorted, several classes.
fn write(train: Vec<u8>, train_y: &[i64], test: Vec<u8>, test_y: &[i64]) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("xtr.npy"), train).unwrap();
    std::fs::write(p("ytr.npy"), npy::encode(&[train_y.len()], train_y)).unwrap();
    std::fs::write(p("xte.npy"), test).unwrap();
    std::fs::write(p("yte.npy"), npy::encode(&[test_y.len()], test_y)).unwrap();
    Files {
        paths: NpyPaths {
            train_features: p("xtr.npy"),
            train_labels: p("ytr.npy"),
            test_features: p("xte.npy"),
            test_labels: p("yte.npy"),
        },
        _dir: dir,
    }
}

fn labels(n: usize, c: u64, rng: &mut SplitMix64) -> Vec<i64> {
    (0..n).map(|_| rng.below(c) as i64).collect()
}

/// What the whole-file path made of a feature file: records (little-endian bytes) and
/// f32 values.
fn in_memory(path: &Path) -> (Vec<u8>, Vec<f32>, String, String) {
    let source = read_source(path).unwrap();
    let array = NpyArray::parse(&source.bytes).unwrap();
    (
        array.little_endian_bytes(),
        array.to_f32_values().unwrap(),
        source.sha256(),
        source.stored_md5.clone(),
    )
}

fn assert_matches_in_memory(d: &Dataset, paths: &NpyPaths) {
    for (split, path, file) in [
        (&d.train, &paths.train_features, &d.files[0]),
        (&d.test, &paths.test_features, &d.files[2]),
    ] {
        let (records, features, sha, md5) = in_memory(path);
        assert_eq!(*split.records_bytes(), records[..], "{}", path.display());
        let dim = features.len() / split.len();
        assert_eq!(split.feature_matrix(dim).unwrap().data, features);
        assert_eq!((&file.sha256, &file.stored_md5), (&sha, &md5));
    }
}

fn configs() -> Vec<SearchConfig> {
    [
        Metric::L2,
        Metric::L1,
        Metric::Cosine,
        Metric::Ip,
        Metric::Linf,
    ]
    .into_iter()
    .map(|metric| SearchConfig {
        metric,
        ks: vec![1, 3, 7],
        radii: if metric == Metric::Ip {
            vec![-0.5, 0.25]
        } else {
            vec![0.5, 1.0, 2.5]
        },
        kernel: Kernel::detect().unwrap(),
        keep_neighbours: true,
    })
    .collect()
}

/// Rows and layout loads of the same files: same values, same votes and lists. The
/// layout load holds every value once (training rows in the layout, test rows as f32
/// values) and the records as stored only when `records_kept` (float64).
fn check_both_ways(files: &Files, records_kept: bool) {
    let rows = load_npy_dataset(&files.paths, None).unwrap();
    let laid = load_npy_dataset_into(&files.paths, None, TrainInto::SearchLayout).unwrap();
    assert!(rows.train.layout.is_none());
    assert!(laid.train.layout.is_some() && laid.train.features.is_none());
    assert!(laid.test.layout.is_none() && laid.test.features.is_some());
    for split in [&laid.train, &laid.test] {
        assert_eq!(!split.records.is_empty(), records_kept);
    }
    assert_matches_in_memory(&rows, &files.paths);
    assert_matches_in_memory(&laid, &files.paths);
    assert_eq!(rows.files, laid.files);
    assert_eq!(
        rows.train.tie_break_positions(),
        laid.train.tie_break_positions()
    );
    for config in configs() {
        let a = pipeline::votes(&rows, FeatureKind::Raw, &config, &Progress::default()).unwrap();
        let b = pipeline::votes(&laid, FeatureKind::Raw, &config, &Progress::default()).unwrap();
        assert_eq!(a.result, b.result, "{:?}", config.metric);
        // And the general entry point on a row-major matrix, as before the layout.
        let dim = rows.test.features.as_ref().unwrap().len() / rows.test.len();
        let train = rows.train.feature_matrix(dim).unwrap();
        let test = rows.test.feature_matrix(dim).unwrap();
        let positions = rows.train.tie_break_positions();
        let direct = search(
            Reference {
                features: &train,
                labels: &rows.train.labels,
                positions: &positions,
                n_classes: rows.n_classes,
            },
            &test,
            &rows.test.labels,
            &config,
            &|_| {},
        )
        .unwrap();
        assert_eq!(direct, b.result, "{:?}", config.metric);
        // Raw features are searched where the dataset holds them, never copied by the
        // pipeline.
        assert!(a.train_features.is_none() && b.train_features.is_none());
        assert!(a.test_features.is_none() && b.test_features.is_none());
    }
}

#[test]
fn odd_widths_and_unsorted_labels_give_the_same_votes_either_way() {
    let mut rng = SplitMix64::new(14);
    for (n_train, n_test, dim) in [(1, 1, 1), (57, 9, 17), (203, 13, 33), (64, 5, 16)] {
        for kind in ["f32", "f64", "u8"] {
            let xtr = values(kind, n_train, dim, &mut rng);
            let xte = values(kind, n_test, dim, &mut rng);
            let files = write(
                encode(&xtr, n_train, dim),
                &labels(n_train, 5, &mut rng),
                encode(&xte, n_test, dim),
                &labels(n_test, 5, &mut rng),
            );
            check_both_ways(&files, kind == "f64");
        }
    }
}

#[test]
fn big_endian_and_gzip_inputs_load_like_the_whole_file_parser() {
    let mut rng = SplitMix64::new(3);
    let (n, dim) = (41, 19);
    let Values::F32(xtr) = values("f32", n, dim, &mut rng) else {
        unreachable!()
    };
    let Values::F32(xte) = values("f32", 7, dim, &mut rng) else {
        unreachable!()
    };
    let (ytr, yte) = (labels(n, 3, &mut rng), labels(7, 3, &mut rng));
    // Big-endian: records are the little-endian bytes, as before.
    let files = write(
        common::npy_f32_big_endian(&xtr, n, dim),
        &ytr,
        common::npy_f32_big_endian(&xte, 7, dim),
        &yte,
    );
    check_both_ways(&files, false);
    // gzip: streamed through the decoder into the layout (the length is checked at the
    // end of the stream).
    let files = write(
        common::gzip(&npy::encode(&[n, dim], &xtr)),
        &ytr,
        common::gzip(&npy::encode(&[7, dim], &xte)),
        &yte,
    );
    check_both_ways(&files, false);
    // float64 and uint8, gzip-compressed: into the layout too.
    for kind in ["f64", "u8"] {
        let xtr = values(kind, n, dim, &mut rng);
        let xte = values(kind, 7, dim, &mut rng);
        let files = write(
            common::gzip(&encode(&xtr, n, dim)),
            &ytr,
            common::gzip(&encode(&xte, 7, dim)),
            &yte,
        );
        check_both_ways(&files, kind == "f64");
    }
}

#[test]
fn load_for_search_lays_out_float32_and_load_does_not() {
    let mut rng = SplitMix64::new(5);
    let Values::F32(xtr) = values("f32", 30, 5, &mut rng) else {
        unreachable!()
    };
    let files = write(
        npy::encode(&[30, 5], &xtr),
        &labels(30, 4, &mut rng),
        npy::encode(&[2, 5], &xtr[..10]),
        &[0, 1],
    );
    let spec = DatasetSpec::Npy(files.paths.clone(), Some(4));
    let laid = load_for_search(&spec).unwrap();
    let rows = load(&spec).unwrap();
    assert!(laid.train.layout.is_some() && rows.train.layout.is_none());
    assert_eq!(laid.n_classes, 4);
    // A subset of a laid-out split is row-major again, with the same content.
    let a = laid.subset(Some(11), Some(1));
    let b = rows.subset(Some(11), Some(1));
    assert_eq!(a, b);
}

/// The error of loading `paths` either way; both must agree.
fn load_error(paths: &NpyPaths) -> String {
    let a = load_npy_dataset(paths, None).unwrap_err().to_string();
    let b = load_npy_dataset_into(paths, None, TrainInto::SearchLayout)
        .unwrap_err()
        .to_string();
    assert_eq!(a, b);
    a
}

fn corrupt(path: &PathBuf, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_or_padded_files_are_refused_whole() {
    let mut rng = SplitMix64::new(9);
    let (n, dim) = (20, 7);
    let Values::F32(x) = values("f32", n, dim, &mut rng) else {
        unreachable!()
    };
    let y = labels(n, 2, &mut rng);
    let fresh = || {
        write(
            npy::encode(&[n, dim], &x),
            &y,
            npy::encode(&[n, dim], &x),
            &y,
        )
    };
    let announced = n * dim * 4;
    for (which, cut) in [("train", 1), ("train", 4 * dim + 3), ("test", 2)] {
        let files = fresh();
        let path = if which == "train" {
            &files.paths.train_features
        } else {
            &files.paths.test_features
        };
        corrupt(path, |b| b.truncate(b.len() - cut));
        let e = load_error(&files.paths);
        assert!(
            e.contains(&format!(
                "truncated data: expected {announced} bytes, found {}",
                announced - cut
            )) && e.contains(&path.display().to_string()),
            "{e}"
        );
    }
    let files = fresh();
    corrupt(&files.paths.train_features, |b| {
        b.extend_from_slice(&[0; 5])
    });
    let e = load_error(&files.paths);
    assert!(e.contains("5 trailing bytes"), "{e}");
    // Compressed: the decoder's stream ends early, found at the end of the data.
    let gz_truncated = {
        let full = npy::encode(&[n, dim], &x);
        common::gzip(&full[..full.len() - 6])
    };
    let files = fresh();
    std::fs::write(&files.paths.train_features, gz_truncated).unwrap();
    let e = load_error(&files.paths);
    assert!(
        e.contains(&format!(
            "truncated data: expected {announced} bytes, found {}",
            announced - 6
        )),
        "{e}"
    );
    let files = fresh();
    std::fs::write(
        &files.paths.train_features,
        common::gzip(&[npy::encode(&[n, dim], &x), vec![1, 2, 3]].concat()),
    )
    .unwrap();
    assert!(load_error(&files.paths).contains("3 trailing bytes"));
    // A corrupt gzip stream.
    let files = fresh();
    let mut gz = common::gzip(&npy::encode(&[n, dim], &x));
    let mid = gz.len() / 2;
    gz[mid..mid + 8].fill(0xff);
    std::fs::write(&files.paths.train_features, gz).unwrap();
    let _ = load_error(&files.paths);
}

#[test]
fn bad_values_and_headers_are_named() {
    let mut rng = SplitMix64::new(2);
    let (n, dim) = (6, 3);
    let Values::F32(mut x) = values("f32", n, dim, &mut rng) else {
        unreachable!()
    };
    let y = labels(n, 2, &mut rng);
    x[5 * dim + 2] = f32::NAN;
    let files = write(
        npy::encode(&[n, dim], &x),
        &y,
        npy::encode(&[1, dim], &x[..dim]),
        &y[..1],
    );
    let e = load_error(&files.paths);
    assert!(
        e.contains("row 5, column 2: expected a finite feature value, found NaN"),
        "{e}"
    );
    // A huge shape in the header of a small file: refused before any allocation.
    let files = write(
        npy::encode(&[n, dim], &x),
        &y,
        npy::encode(&[1, dim], &x[..dim]),
        &y[..1],
    );
    corrupt(&files.paths.train_features, |b| {
        let at = b.windows(6).position(|w| w == b"(6, 3)").unwrap();
        b.splice(at..at + 6, b"(9999999999, 3)".iter().copied());
        // Keep the header length field honest about the longer text.
        let len = u16::from_le_bytes([b[8], b[9]]) + 9;
        b[8..10].copy_from_slice(&len.to_le_bytes());
    });
    let e = load_error(&files.paths);
    assert!(
        e.contains("truncated data: expected 119999999988 bytes"),
        "{e}"
    );
    // Integer features, 1-D features, wrong test width.
    let files = write(
        npy::encode(&[n, dim], &vec![1i32; n * dim]),
        &y,
        npy::encode(&[1, dim], &vec![1i32; dim]),
        &y[..1],
    );
    assert!(
        load_error(&files.paths)
            .contains("unsupported dtype 'int32': expected float32, float64 or uint8 features")
    );
    let files = write(
        npy::encode(&[n * dim], &x),
        &y,
        npy::encode(&[1, dim], &x[..dim]),
        &y[..1],
    );
    assert!(load_error(&files.paths).contains("expected a 2-D array, found shape (18,)"));
    let files = write(
        npy::encode(&[n, dim], &x),
        &y,
        npy::encode(&[1, 2], &x[..2]),
        &y[..1],
    );
    assert!(load_error(&files.paths).contains("expected 3 feature columns"));
}

/// Runs `f` on a rayon pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Files of several 1 MiB pieces (the loader reads the next piece while it hashes and
/// converts the last, and the test file alongside the training file): the same records,
/// values, checksums, positions and votes as the whole-file parser, on 1 and 2 threads —
/// plain, big-endian, gzip, float64 and uint8, with rows wider than the rank's
/// 256-value pieces.
#[test]
fn files_of_several_pieces_load_alike_on_any_thread_count() {
    let mut rng = SplitMix64::new(41);
    let dim = 301;
    for (kind, n, store) in [
        ("f32", 1_000, "plain"),
        ("f32", 900, "big-endian"),
        ("f64", 500, "gzip"),
        ("u8", 4_000, "plain"),
    ] {
        let xtr = values(kind, n, dim, &mut rng);
        let xte = values(kind, 6, dim, &mut rng);
        let stored = |x: &Values, rows: usize| match (store, x) {
            ("big-endian", Values::F32(v)) => common::npy_f32_big_endian(v, rows, dim),
            ("gzip", _) => common::gzip(&encode(x, rows, dim)),
            _ => encode(x, rows, dim),
        };
        let files = write(
            stored(&xtr, n),
            &labels(n, 4, &mut rng),
            stored(&xte, 6),
            &labels(6, 4, &mut rng),
        );
        for threads in [1, 2] {
            on_threads(threads, || check_both_ways(&files, kind == "f64"));
        }
    }
}

/// Errors found in a later piece are those of reading the pieces in turn: the first bad
/// value by row, a short gzip stream at its end, a bad value before a short stream that
/// follows it, and a training file's error before a test file's.
#[test]
fn errors_of_later_pieces_are_those_of_a_serial_read() {
    let mut rng = SplitMix64::new(43);
    let (n, dim) = (1_500, 256); // 1 KiB rows: pieces of 1,024 rows
    let Values::F32(x) = values("f32", n, dim, &mut rng) else {
        unreachable!()
    };
    let y = labels(n, 3, &mut rng);
    let announced = n * dim * 4;
    let with = |train: Vec<u8>, test: Vec<u8>| write(train, &y, test, &y[..2]);
    let test_ok = || npy::encode(&[2, dim], &x[..2 * dim]);
    for threads in [1, 2] {
        let error = |files: &Files| on_threads(threads, || load_error(&files.paths));
        // Short gzip stream: the last piece's read fails.
        let full = npy::encode(&[n, dim], &x);
        let files = with(common::gzip(&full[..full.len() - 9]), test_ok());
        let e = error(&files);
        let short = format!(
            "truncated data: expected {announced} bytes, found {}",
            announced - 9
        );
        assert!(e.contains(&short), "{e}");
        // Bad values: the first by row is named, in the second piece or the first.
        let mut bad = x.clone();
        bad[1_400 * dim + 3] = f32::INFINITY;
        bad[1_200 * dim + 5] = f32::NAN;
        let files = with(npy::encode(&[n, dim], &bad), test_ok());
        let e = error(&files);
        assert!(e.contains("row 1200, column 5: expected a finite"), "{e}");
        // A bad value in the first piece and a short stream in the second: the value.
        bad[1_000 * dim] = f32::NEG_INFINITY;
        let full = npy::encode(&[n, dim], &bad);
        let files = with(common::gzip(&full[..full.len() - 9]), test_ok());
        let e = error(&files);
        assert!(e.contains("row 1000, column 0: expected a finite"), "{e}");
        // Both files bad: the training file's error, as when it was read first.
        let mut test_rows = x[..2 * dim].to_vec();
        test_rows[7] = f32::NAN;
        let bad_test = npy::encode(&[2, dim], &test_rows);
        let files = with(npy::encode(&[n, dim], &bad), bad_test);
        let e = error(&files);
        assert!(
            e.contains("row 1000, column 0") && e.contains("xtr.npy"),
            "{e}"
        );
    }
}
