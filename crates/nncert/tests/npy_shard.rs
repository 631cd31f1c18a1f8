//! A shard job's rows streamed from `.npy` files (`data::npy_shard`) against the whole
//! dataset loaded in memory and cut into the same rows: the same values, labels,
//! tie-break ranks and errors (a bad value only where the job reads it), hence the same
//! partial results byte for byte once both record the same file identities, and merged
//! shards equal to one run.

mod common;

use std::path::PathBuf;

use nncert::data::npy;
use nncert::data::npy_features::NpyPaths;
use nncert::data::npy_shard::load_npy_shard;
use nncert::data::{DatasetSpec, FileIdentity, ShardFiles, load};
use nncert::features::FeatureKind;
use nncert::features::FeatureMatrix;
use nncert::neighbours::{Kernel, Metric, SearchConfig};
use nncert::pipeline::{self, Progress};
use nncert::rng::SplitMix64;
use nncert::shard::{self, ShardSpec, TestBlock, TrainShard};

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
    // The whole load records SHA-256 and MD5; the streamed job its files' XXH3-128 as
    // stored, and nothing else differs.
    assert_eq!(cut.files, ShardFiles::Checksummed(whole.files.clone()));
    assert_eq!(streamed.files, identified(&files.paths));
    let mut cut = cut;
    cut.files = streamed.files.clone();
    assert_eq!(streamed, cut, "shard {train}, block {block}");
    if let Some(metric) = metric {
        let config = config(metric);
        let a = pipeline::search_shard(&streamed, FeatureKind::Raw, &config).unwrap();
        let b = pipeline::search_shard(&cut, FeatureKind::Raw, &config).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes(), "{metric:?} shard {train}");
        // The shard streamed into the search's layout searches as the row-major rows of
        // the whole training set do (search_rows lays the shard's rows out itself).
        let dim = whole.test.features.as_ref().unwrap().len() / whole.test.len();
        let (train_m, test_m) = (
            whole.train.feature_matrix(dim).unwrap(),
            whole.test.feature_matrix(dim).unwrap(),
        );
        let (tr, te) = (
            train.range(whole.train.len()).unwrap(),
            block.range(whole.test.len()).unwrap(),
        );
        let rows = |m: &FeatureMatrix, r: std::ops::Range<usize>| FeatureMatrix {
            n: r.len(),
            dim: m.dim,
            data: m.data[r.start * m.dim..r.end * m.dim].to_vec(),
        };
        let c = shard::search_rows(
            TrainShard {
                spec: train,
                n_train: whole.train.len(),
                features: &rows(&train_m, tr.clone()),
                labels: &whole.train.labels[tr],
                ranks: &streamed.train_ranks,
                n_classes: whole.n_classes,
            },
            TestBlock {
                spec: block,
                n_test: whole.test.len(),
                features: &rows(&test_m, te.clone()),
                labels: &whole.test.labels[te],
            },
            &config,
            &a.settings().context,
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

/// The four files' identities as a streamed shard job records them, from the files.
fn identified(paths: &NpyPaths) -> ShardFiles {
    let id = |path: &PathBuf, role: &str| {
        let bytes = std::fs::read(path).unwrap();
        FileIdentity {
            role: role.to_string(),
            path: path.display().to_string(),
            xxh3_128: format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)),
        }
    };
    ShardFiles::Identified(vec![
        id(&paths.train_features, "train-features"),
        id(&paths.train_labels, "train-labels"),
        id(&paths.test_features, "test-features"),
        id(&paths.test_labels, "test-labels"),
    ])
}

/// Something done to a dataset's files.
type Damage = Box<dyn Fn(&NpyPaths)>;

fn corrupt(path: &PathBuf, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// A bad file fails a shard job as it fails the whole load, whichever rows the job keeps:
/// truncated or padded (plain or gzip), short labels, an impossible split. A bad value
/// fails the job whose rows hold it, with the whole load's message, and no other: every
/// row belongs to one job, so the run refuses what a single run refuses.
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
    // A NaN or an infinity in the last training row (shard 2/2's) or in the first test
    // row (block 1/2's): refused by the job that reads that row only.
    let value_cases: [(&str, bool, usize, f32); 3] = [
        ("NaN in the last training row", true, 11, f32::NAN),
        ("inf in the first training row", true, 0, f32::INFINITY),
        ("NaN in the first test row", false, 0, f32::NAN),
    ];
    for (what, in_train, row, value) in value_cases {
        let files = dataset("f32", shape, 2, 3);
        let path = if in_train {
            &files.paths.train_features
        } else {
            &files.paths.test_features
        };
        corrupt(path, |b| {
            let data = b.len() - (if in_train { 12 } else { 3 }) * 5 * 4;
            let at = data + (row * 5 + 2) * 4;
            b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        });
        let whole = load(&DatasetSpec::Npy(files.paths.clone(), None))
            .unwrap_err()
            .to_string();
        for i in [1, 2] {
            for j in [1, 2] {
                let owns = if in_train {
                    spec(i, 2).range(12).unwrap().contains(&row)
                } else {
                    spec(j, 2).range(3).unwrap().contains(&row)
                };
                let got = load_npy_shard(&files.paths, None, spec(i, 2), spec(j, 2));
                match got {
                    Err(e) => {
                        assert!(owns, "{what}: shard {i}/2, block {j}/2 refused: {e}");
                        assert_eq!(e.to_string(), whole, "{what}");
                    }
                    Ok(_) => assert!(!owns, "{what}: shard {i}/2, block {j}/2 accepted it"),
                }
            }
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
    // Fewer than 2 classes is refused as such (audit finding 13), not through a label.
    let e = load_npy_shard(&files.paths, Some(1), spec(1, 3), spec(1, 1)).unwrap_err();
    assert!(
        e.to_string()
            .contains("classes: expected at least 2 classes, found 1"),
        "{e}"
    );
}

/// The exact keys `nncert merge` needs, from only the rows the pairs name, equal those
/// from the whole data; pairs outside the data and another dataset are refused.
#[test]
fn exact_keys_from_the_named_rows_equal_those_from_the_whole_data() {
    for kind in ["f32", "f64", "gz"] {
        let files = dataset(kind, (29, 8, 11), 3, 31);
        let spec_all = DatasetSpec::Npy(files.paths.clone(), None);
        let whole = load(&spec_all).unwrap();
        // The run context a streamed shard job records (its files' XXH3-128).
        let (job, _) = pipeline::load_shard(
            &spec_all,
            FeatureKind::Raw,
            ShardSpec::WHOLE,
            ShardSpec::WHOLE,
            &Progress::default(),
        )
        .unwrap();
        let context = pipeline::search_shard(&job, FeatureKind::Raw, &config(Metric::L1))
            .unwrap()
            .settings()
            .context
            .clone();
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

/// Jobs prove they read the same files by their XXH3-128: a job that read a copy of the
/// training file differing in one value of *another* job's rows (which it never parses)
/// records another identity, and the merge refuses the two partials; so does the merge's
/// check of the files given to it, and of its report checksums.
#[test]
fn partials_of_different_files_are_refused() {
    let files = dataset("f32", (10, 3, 4), 2, 12);
    let other = dataset("f32", (10, 3, 4), 2, 12);
    // The last training row (shard 2/2's) changed in the second copy.
    corrupt(&other.paths.train_features, |b| {
        let at = b.len() - 4;
        b[at..].copy_from_slice(&7.5f32.to_le_bytes());
    });
    let job = |paths: &NpyPaths, i: usize| {
        let (shard, _) = pipeline::load_shard(
            &DatasetSpec::Npy(paths.clone(), None),
            FeatureKind::Raw,
            spec(i, 2),
            spec(1, 1),
            &Progress::default(),
        )
        .unwrap();
        pipeline::search_shard(&shard, FeatureKind::Raw, &config(Metric::L1)).unwrap()
    };
    // Shard 1's rows are the same in both copies, and so are its partial's rows.
    let (a, b) = (job(&files.paths, 1), job(&other.paths, 1));
    assert_ne!(a.settings().context, b.settings().context);
    let e = a
        .clone()
        .merge(job(&other.paths, 2))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not the same run") && e.contains("xxh3_128"),
        "{e}"
    );
    assert!(a.clone().merge(job(&files.paths, 2)).is_ok());
    // The merge's own pass over the files given: the right ones are checksummed as a
    // single run reports them, the others refused.
    let context = &a.settings().context;
    let records = pipeline::npy_run_files(&files.paths, None, FeatureKind::Raw, context).unwrap();
    let whole = load(&DatasetSpec::Npy(files.paths.clone(), None)).unwrap();
    assert_eq!(records, whole.files);
    let e = pipeline::npy_run_files(&other.paths, None, FeatureKind::Raw, context).unwrap_err();
    assert!(e.to_string().contains("not those of the partials"), "{e}");
}
