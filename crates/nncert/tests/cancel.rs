//! Cancellation (`nncert::cancel`, docs/GUARANTEES.md §7):
//! every instrumented entry point returns `Error::Interrupted` when a cancellation is
//! requested, stops early when it comes mid-run, and runs normally (same result as never
//! interrupted) once the scope has ended.
//!
//! The request is process-wide, so this file is its own test binary and its tests take a
//! lock: no other test can be running while a request is raised.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use nncert::data::npy::encode;
use nncert::features::hog_images;
use nncert::neighbours::search::{Reference, search};
use nncert::rank::tie_break_positions;
use nncert::{
    CancelScope, Certification, CertifyOptions, CurveOptions, Error, FeatureMatrix, HogParams,
    ImageShape, Index, Kernel, MatrixRef, Method, Metric, SearchConfig, ShardSpec, SplitMix64,
    Values, Votes, certify_votes,
};

/// One test at a time: a raised request reaches every computation of the process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `n × dim` values in 0..8 (many distance ties) and labels in 0..3.
fn random_rows(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = SplitMix64::new(seed);
    let values = (0..n * dim).map(|_| rng.below(8) as f32).collect();
    let labels = (0..n).map(|_| rng.below(3) as u32).collect();
    (values, labels)
}

fn config(ks: Vec<usize>, radii: Vec<f64>) -> SearchConfig {
    SearchConfig {
        metric: Metric::L1,
        ks,
        radii,
        kernel: Kernel::detect().expect("kernel"),
        keep_neighbours: false,
    }
}

/// rNN votes with many inputs of every margin, so that the joint curves have work at many e.
fn rnn_votes() -> Votes {
    let mut rng = SplitMix64::new(7);
    let (n, c) = (300, 4);
    let counts = (0..n * c).map(|_| rng.below(12) as u32).collect();
    let labels = (0..n).map(|_| rng.below(c as u64) as u32).collect();
    Votes::new(counts, c, labels).expect("votes")
}

fn curve_options(joint: Vec<Certification>) -> CurveOptions {
    let mut options = CurveOptions::new(Method::Rnn, "2");
    options.joint = joint;
    options
}

/// Runs `call` once inside a scope with a cancellation already requested (it must return
/// `Error::Interrupted`), then once after the scope (it must equal `expected`).
fn interrupted_then_normal<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: &T,
    call: impl Fn() -> Result<T, Error>,
) {
    {
        let _scope = CancelScope::enter();
        CancelScope::cancel_running();
        match call() {
            Err(Error::Interrupted) => {}
            other => panic!("{what}: expected Error::Interrupted, found {other:?}"),
        }
    }
    let again = call().unwrap_or_else(|e| panic!("{what} after the interruption: {e}"));
    assert_eq!(&again, expected, "{what}: differs after an interruption");
}

#[test]
fn every_entry_point_returns_interrupted_then_runs_normally() {
    let _serial = serial();
    let (train, train_labels) = random_rows(300, 8, 1);
    let (test, test_labels) = random_rows(90, 8, 2);
    // Building an index: the tie-break ranks (audit: not polled before).
    let build = || {
        Index::new(
            MatrixRef::new("X", Values::F32(&train), 300, 8)?,
            train_labels.clone(),
            Some(3),
        )
    };
    let index = build().expect("index");
    interrupted_then_normal("Index::new", &index.positions().to_vec(), || {
        build().map(|i| i.positions().to_vec())
    });
    let test_view = || MatrixRef::new("X_test", Values::F32(&test), 90, 8).expect("test");

    let search_config = config(vec![1, 5], vec![6.0]);
    let searched = index
        .search(test_view(), Some(&test_labels), &search_config)
        .expect("search");
    interrupted_then_normal("Index::search", &searched, || {
        index.search(test_view(), Some(&test_labels), &search_config)
    });

    // kNN and rNN settings with every joint curve the sweeps compute (`best` includes
    // POLISH, CLUSTER, LP and SEARCH).
    let certify_config = config(vec![3], vec![6.0, 9.0]);
    let options = CertifyOptions {
        joint: vec![Certification::Island, Certification::Best],
        ..CertifyOptions::default()
    };
    let certify = || {
        index
            .certify(test_view(), &test_labels, &certify_config, &options)
            .map(|exp| (exp.curves_csv(), exp.examples_csv()))
    };
    let certified = certify().expect("certify");
    interrupted_then_normal("Index::certify", &certified, certify);

    let shard = || {
        index.search_shard(
            test_view(),
            Some(&test_labels),
            &search_config,
            ShardSpec::new(1, 2).expect("shard"),
            ShardSpec::new(1, 1).expect("block"),
            "cancel test",
        )
    };
    let partial = shard().expect("shard search");
    interrupted_then_normal("Index::search_shard", &partial, shard);

    // Merging partials, listing the pairs that need exact keys, finishing (audit: not
    // polled before).
    let other = index
        .search_shard(
            test_view(),
            Some(&test_labels),
            &search_config,
            ShardSpec::new(2, 2).expect("shard"),
            ShardSpec::new(1, 1).expect("block"),
            "cancel test",
        )
        .expect("shard search");
    let merge = || partial.clone().merge(other.clone());
    let merged = merge().expect("merge");
    interrupted_then_normal("Partial::merge", &merged, merge);
    let pending = merged.pending().expect("pending");
    interrupted_then_normal("Partial::pending", &pending, || merged.pending());
    let rows = |data: &[f32], n| FeatureMatrix {
        n,
        dim: 8,
        data: data.to_vec(),
    };
    let keys = nncert::shard::exact_keys(
        Metric::L1,
        &rows(&train, 300),
        0,
        &rows(&test, 90),
        0,
        &pending,
    )
    .expect("exact keys");
    let finish = || merged.clone().finish(&keys);
    interrupted_then_normal("Partial::finish", &finish().expect("finish"), finish);

    // Loading an `.npy` dataset (audit: not polled before).
    let dir = std::env::temp_dir().join(format!("nncert-cancel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let file = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let paths = nncert::data::npy_features::NpyPaths {
        train_features: file("trf.npy", encode(&[300, 8], &train)),
        train_labels: file("trl.npy", encode(&[300], &train_labels)),
        test_features: file("tef.npy", encode(&[90, 8], &test)),
        test_labels: file("tel.npy", encode(&[90], &test_labels)),
    };
    let spec = nncert::DatasetSpec::Npy(paths, None);
    let load = || nncert::data::load(&spec);
    interrupted_then_normal("data::load (npy)", &load().expect("load"), load);
    std::fs::remove_dir_all(&dir).expect("scratch removed");

    let votes = rnn_votes();
    for joint in [
        vec![Certification::Best],
        vec![Certification::Polish, Certification::ClusterLabel],
        vec![Certification::IslandLabel, Certification::RdLabel],
        vec![Certification::Lp, Certification::SearchLabel],
    ] {
        let options = curve_options(joint.clone());
        let certified = certify_votes(&votes, &options).expect("certify_votes");
        interrupted_then_normal(&format!("certify_votes {joint:?}"), &certified, || {
            certify_votes(&votes, &options)
        });
    }

    let mut rng = SplitMix64::new(3);
    let images: Vec<u8> = (0..40 * 28 * 28).map(|_| rng.below(256) as u8).collect();
    let shape = ImageShape {
        height: 28,
        width: 28,
        channels: 1,
    };
    let hog =
        || hog_images(&images, shape, HogParams::default(), &|_| {}).map(|m| (m.n, m.dim, m.data));
    let features = hog().expect("hog");
    interrupted_then_normal("hog_images", &features, hog);
}

/// A request made while the search runs (here: as the first block of queries finishes, on
/// one of rayon's threads) stops it before the remaining blocks: they end at their next
/// tile of training rows.
#[test]
fn a_search_stops_at_the_next_block_when_cancelled_mid_run() {
    let _serial = serial();
    let (train, train_labels) = random_rows(2000, 16, 4);
    let (test, test_labels) = random_rows(2048, 16, 5);
    let train = FeatureMatrix {
        n: 2000,
        dim: 16,
        data: train,
    };
    let test = FeatureMatrix {
        n: 2048,
        dim: 16,
        data: test,
    };
    let positions = tie_break_positions(&train_labels, &[], 0);
    let reference = Reference {
        features: &train,
        labels: &train_labels,
        positions: &positions,
        n_classes: 3,
    };
    let config = config(vec![5], vec![]);
    let done = AtomicUsize::new(0);
    // Two threads whatever the machine, so that the bound below holds everywhere.
    let threads = 2;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let outcome = pool.install(|| {
        let _scope = CancelScope::enter();
        search(reference, &test, &test_labels, &config, &|n| {
            done.fetch_add(n, Ordering::SeqCst);
            CancelScope::cancel_running();
        })
    });
    assert!(
        matches!(outcome, Err(Error::Interrupted)),
        "expected Error::Interrupted, found {outcome:?}"
    );
    // 32 blocks of 64 queries: the one that raised the request and at most one more per
    // thread (past its last poll) finish; the others stop at their next tile.
    let finished = done.load(Ordering::SeqCst);
    assert!(
        finished <= 64 * (threads + 1),
        "{finished} of {} queries searched after the request",
        test.n
    );
    // The next search runs in full.
    let full = search(reference, &test, &test_labels, &config, &|_| {}).expect("search");
    assert_eq!(full.knn[0].votes.n_test(), test.n);
}

/// Without an open scope a request does nothing (it cannot outlive the computations it
/// was meant for), and a scope ending lowers the flag only when it is the last one open.
#[test]
fn a_request_lives_exactly_as_long_as_the_open_scopes() {
    let _serial = serial();
    let votes = rnn_votes();
    let options = curve_options(vec![Certification::Island]);
    let expected = certify_votes(&votes, &options).expect("certify_votes");

    CancelScope::cancel_running();
    assert_eq!(certify_votes(&votes, &options).expect("no scope"), expected);

    let outer = CancelScope::enter();
    let inner = CancelScope::enter();
    CancelScope::cancel_running();
    drop(inner);
    assert!(
        matches!(certify_votes(&votes, &options), Err(Error::Interrupted)),
        "a request must stay while a scope is open"
    );
    drop(outer);
    assert_eq!(certify_votes(&votes, &options).expect("after"), expected);
}
