//! A shard job's rows streamed from `.npy` files (`data::npy_shard`) against the whole
//! dataset loaded in memory and cut into the same rows: the same values, labels, global
//! tie-break positions, checksums and errors, hence the same partial results byte for
//! byte, and merged shards equal to one run.

mod common;

use std::path::PathBuf;

use nncert::data::npy;
use nncert::data::npy_features::NpyPaths;
use nncert::data::npy_shard::load_npy_shard;
use nncert::data::{DatasetSpec, load};
use nncert::features::FeatureKind;
use nncert::neighbours::{Kernel, Metric, Reference, SearchConfig};
use nncert::pipeline::{self, Progress};
use nncert::rng::SplitMix64;
use nncert::shard::{self, ShardSpec};

/// Values with repeats (exact ties across rows, so that positions decide), negative
/// numbers and a zero row, encoded in `kind`'s dtype.
fn features(kind: &str, n: usize, dim: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let mut v: Vec<f64> = (0..n * dim)
        .map(|_| (rng.below(5) as f64 - 2.0) * 0.5 + rng.below(2) as f64 * 1e-3)
        .collect();
    if n > 2 {
        v[dim..2 * dim].fill(0.0);
    }
    match kind {
        "f32" => npy::encode(&[n, dim], &v.iter().map(|&x| x as f32).collect::<Vec<_>>()),
        "f32be" => {
            common::npy_f32_big_endian(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), n, dim)
        }
        "f64" => npy::encode(
            &[n, dim],
            &v.iter().map(|&x| x * 1.000_000_1).collect::<Vec<_>>(),
        ),
        "gz" => common::gzip(&npy::encode(
            &[n, dim],
            &v.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        )),
        _ => npy::encode(
            &[n, dim],
            &v.iter()
                .map(|&x| (x * 8.0 + 40.0) as u8)
                .collect::<Vec<_>>(),
        ),
    }
}

struct Files {
    _dir: tempfile::TempDir,
    paths: NpyPaths,
}

/// The four files of a dataset of `n_train` and `n_test` rows of `dim` values in `kind`,
/// with unsorted labels of `c` classes.
fn dataset(kind: &str, (n_train, n_test, dim): (usize, usize, usize), c: u64, seed: u64) -> Files {
    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let labels = |n: usize, rng: &mut SplitMix64| -> Vec<i64> {
        (0..n).map(|_| rng.below(c) as i64).collect()
    };
    std::fs::write(p("xtr.npy"), features(kind, n_train, dim, &mut rng)).unwrap();
    let ytr = labels(n_train, &mut rng);
    std::fs::write(p("ytr.npy"), npy::encode(&[n_train], &ytr)).unwrap();
    std::fs::write(p("xte.npy"), features(kind, n_test, dim, &mut rng)).unwrap();
    let yte = labels(n_test, &mut rng);
    std::fs::write(p("yte.npy"), npy::encode(&[n_test], &yte)).unwrap();
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

fn spec(i: usize, n: usize) -> ShardSpec {
    ShardSpec::new(i, n).unwrap()
}

fn config(metric: Metric) -> SearchConfig {
    SearchConfig {
        metric,
        ks: vec![1, 2, 5],
        radii: if metric == Metric::Ip {
            vec![-0.5, 0.25]
        } else {
            vec![0.5, 1.5]
        },
        kernel: Kernel::detect().unwrap(),
        keep_neighbours: true,
    }
}

/// The shard (`train`, `block`) streamed and cut from the whole load: equal, and (for
/// one metric) their partials equal byte for byte.
fn check_shard(files: &Files, train: ShardSpec, block: ShardSpec, metric: Option<Metric>) {
    let whole = load(&DatasetSpec::Npy(files.paths.clone(), None)).unwrap();
    let streamed = load_npy_shard(&files.paths, None, train, block).unwrap();
    let (cut, _) =
        pipeline::shard_dataset(&whole, FeatureKind::Raw, train, block, &Progress::default())
            .unwrap();
    assert_eq!(streamed, cut, "shard {train}, block {block}");
    assert_eq!(streamed.files, whole.files);
    if let Some(metric) = metric {
        let config = config(metric);
        let a = pipeline::search_shard(&streamed, FeatureKind::Raw, &config).unwrap();
        let (b, _) = pipeline::shard_votes(
            &whole,
            FeatureKind::Raw,
            &config,
            train,
            block,
            &Progress::default(),
        )
        .unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes(), "{metric:?} shard {train}");
        // The shard streamed into the search's layout searches as the row-major rows of
        // the whole training set do (shard::search lays the shard's rows out itself).
        let dim = whole.test.features.as_ref().unwrap().len() / whole.test.len();
        let (train_m, test_m) = (
            whole.train.feature_matrix(dim).unwrap(),
            whole.test.feature_matrix(dim).unwrap(),
        );
        let positions = whole.train.tie_break_positions();
        let c = shard::search(
            Reference {
                features: &train_m,
                labels: &whole.train.labels,
                positions: &positions,
                n_classes: whole.n_classes,
            },
            &test_m,
            &whole.test.labels,
            &config,
            train,
            block,
            &pipeline::shard_context(&whole, FeatureKind::Raw),
        )
        .unwrap();
        assert_eq!(
            a.to_bytes(),
            c.to_bytes(),
            "{metric:?} shard {train}, row-major"
        );
    }
}

#[test]
fn every_dtype_and_width_gives_the_rows_of_the_whole_load() {
    let shapes = [(1, 1, 1), (23, 4, 17), (40, 7, 33)];
    for (s, &shape) in shapes.iter().enumerate() {
        for kind in ["f32", "f32be", "f64", "u8", "gz"] {
            let files = dataset(kind, shape, 4, 10 + s as u64);
            let (n_train, n_test, _) = shape;
            // First, middle and last shard; one shard of one row; the whole set.
            let mut shards = vec![(1, 1)];
            for n in [3.min(n_train), n_train] {
                shards.extend([(1, n), (n.div_ceil(2), n), (n, n)]);
            }
            for (k, &(i, n)) in shards.iter().enumerate() {
                let block = spec(1 + k % n_test.min(2), n_test.min(2));
                let metric = (kind == "f32" && k % 2 == 0).then_some(Metric::L2);
                check_shard(&files, spec(i, n), block, metric);
            }
        }
    }
}

#[test]
fn partials_equal_for_every_metric() {
    let files = dataset("f32", (31, 5, 9), 3, 77);
    for metric in [
        Metric::L1,
        Metric::L2,
        Metric::Linf,
        Metric::Cosine,
        Metric::Ip,
    ] {
        check_shard(&files, spec(2, 3), spec(1, 1), Some(metric));
    }
}

/// Every shard streamed, merged and finished with exact keys from the whole data (as
/// `nncert merge` does) gives the votes and lists of one run on the whole data.
#[test]
fn merged_streamed_shards_equal_one_run() {
    let files = dataset("f64", (37, 6, 5), 3, 5);
    let spec_all = DatasetSpec::Npy(files.paths.clone(), None);
    let whole = load(&spec_all).unwrap();
    for metric in [Metric::L2, Metric::L1] {
        let config = config(metric);
        let one = pipeline::votes(&whole, FeatureKind::Raw, &config, &Progress::default())
            .unwrap()
            .result;
        for n in [1, 4, 37] {
            let mut merged: Option<shard::Partial> = None;
            for i in 1..=n {
                let (shard, _) = pipeline::load_shard(
                    &spec_all,
                    FeatureKind::Raw,
                    spec(i, n),
                    spec(1, 1),
                    &Progress::default(),
                )
                .unwrap();
                let part = pipeline::search_shard(&shard, FeatureKind::Raw, &config).unwrap();
                merged = Some(match merged {
                    None => part,
                    Some(m) => m.merge(part).unwrap(),
                });
            }
            let merged = merged.unwrap();
            let pending = merged.pending().unwrap();
            let dim = 5;
            let train = whole.train.feature_matrix(dim).unwrap();
            let test = whole.test.feature_matrix(dim).unwrap();
            let keys = shard::exact_keys(metric, &train, 0, &test, 0, &pending).unwrap();
            assert_eq!(merged.finish(&keys).unwrap(), one, "{metric:?}, {n} shards");
        }
    }
}

/// Something done to a dataset's files.
type Damage = Box<dyn Fn(&NpyPaths)>;

fn corrupt(path: &PathBuf, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// A bad file fails a shard job as it fails the whole load, whichever rows the job keeps:
/// truncated or padded (plain or gzip), a non-finite value in another shard's rows, an
/// impossible split.
#[test]
fn bad_files_fail_every_shard_as_they_fail_the_whole_load() {
    let shape = (12, 3, 5);
    let cases: Vec<(&str, Damage)> = vec![
        (
            "truncated train",
            Box::new(|p: &NpyPaths| corrupt(&p.train_features, |b| b.truncate(b.len() - 3))),
        ),
        (
            "padded test",
            Box::new(|p: &NpyPaths| corrupt(&p.test_features, |b| b.extend_from_slice(&[0; 4]))),
        ),
        (
            "truncated gzip",
            Box::new(|p: &NpyPaths| {
                let plain = std::fs::read(&p.train_features).unwrap();
                std::fs::write(&p.train_features, common::gzip(&plain[..plain.len() - 8])).unwrap();
            }),
        ),
        (
            "NaN in the last row",
            Box::new(|p: &NpyPaths| {
                corrupt(&p.train_features, |b| {
                    let at = b.len() - 4;
                    b[at..].copy_from_slice(&f32::NAN.to_le_bytes());
                })
            }),
        ),
        (
            "labels short",
            Box::new(|p: &NpyPaths| {
                std::fs::write(&p.train_labels, npy::encode(&[11], &[0i64; 11])).unwrap()
            }),
        ),
    ];
    for (what, damage) in cases {
        let files = dataset("f32", shape, 2, 3);
        damage(&files.paths);
        let whole = load(&DatasetSpec::Npy(files.paths.clone(), None))
            .unwrap_err()
            .to_string();
        for i in [1, 2] {
            let e = load_npy_shard(&files.paths, None, spec(i, 2), spec(1, 1))
                .unwrap_err()
                .to_string();
            assert_eq!(e, whole, "{what}, shard {i}/2");
        }
    }
    let files = dataset("f32", shape, 2, 3);
    let e = load_npy_shard(&files.paths, None, spec(1, 13), spec(1, 1)).unwrap_err();
    assert!(
        e.to_string().starts_with("--train-shard: shard 1/13"),
        "{e}"
    );
    let e = load_npy_shard(&files.paths, None, spec(1, 1), spec(4, 4)).unwrap_err();
    assert!(e.to_string().starts_with("--test-shard: shard 4/4"), "{e}");
}

/// `--n-classes` as given: labels above it are refused, and the count is the run's.
#[test]
fn class_count_is_that_of_the_whole_dataset() {
    let files = dataset("u8", (9, 2, 3), 2, 8);
    let s = load_npy_shard(&files.paths, Some(7), spec(3, 3), spec(1, 1)).unwrap();
    assert_eq!(s.n_classes, 7);
    let e = load_npy_shard(&files.paths, Some(1), spec(1, 3), spec(1, 1)).unwrap_err();
    assert!(e.to_string().contains("expected a label below 1"), "{e}");
}

/// The exact keys `nncert merge` needs, from only the rows the pairs name, equal those
/// from the whole data; pairs outside the data and another dataset are refused.
#[test]
fn exact_keys_from_the_named_rows_equal_those_from_the_whole_data() {
    for kind in ["f32", "f64", "gz"] {
        let files = dataset(kind, (29, 8, 11), 3, 31);
        let spec_all = DatasetSpec::Npy(files.paths.clone(), None);
        let whole = load(&spec_all).unwrap();
        let context = pipeline::shard_context(&whole, FeatureKind::Raw);
        let (train, test) = (
            whole.train.feature_matrix(11).unwrap(),
            whole.test.feature_matrix(11).unwrap(),
        );
        // Unsorted, repeated, first and last rows.
        let pairs = [(7, 28), (0, 0), (3, 5), (7, 0), (3, 5), (0, 28), (5, 13)];
        for metric in [Metric::L2, Metric::Cosine, Metric::L1] {
            let a =
                pipeline::pending_exact_keys(&spec_all, FeatureKind::Raw, metric, &pairs, &context)
                    .unwrap();
            let b = shard::exact_keys(metric, &train, 0, &test, 0, &pairs).unwrap();
            assert_eq!(a, b, "{kind} {metric:?}");
        }
        let e = pipeline::pending_exact_keys(
            &spec_all,
            FeatureKind::Raw,
            Metric::L2,
            &[(8, 0)],
            &context,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("pair (test row 8, training row 0) is outside"),
            "{e}"
        );
        let e = pipeline::pending_exact_keys(&spec_all, FeatureKind::Raw, Metric::L2, &pairs, "{}")
            .unwrap_err();
        assert!(e.to_string().contains("not those of the partials"), "{e}");
    }
}
