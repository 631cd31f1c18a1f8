//! Loaders on the real files in `NNCERT_DATA_DIR` (see `common::data_dir`).

mod common;

use std::io::Write;

use nncert::data::cifar::{load_cifar10, load_cifar10_archive};
use nncert::data::idx::load_mnist;

#[test]
fn mnist_is_canonical_and_complete() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let d = load_mnist(&dir.join("mnist")).unwrap();
    assert_eq!(
        (d.train.len(), d.test.len(), d.n_classes),
        (60_000, 10_000, 10)
    );
    assert_eq!(d.train.record_len, 784);
    assert!(
        d.files.iter().all(|f| f.canonical == Some(true)),
        "{:?}",
        d.files
    );
    assert_eq!(d.train.labels[..5], [5, 0, 4, 1, 9]);
    assert_eq!(d.test.labels[..5], [7, 2, 1, 0, 4]);
    // Also found from the parent directory.
    assert_eq!(load_mnist(&dir).unwrap().train.len(), 60_000);
}

#[test]
fn cifar10_lossless_subset_has_the_published_bytes() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let d = load_cifar10(&dir.join("cifar10-lossless-subset")).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (4000, 1000));
    assert_eq!(d.train.labels[..5], [6, 9, 9, 4, 1]);
    assert_eq!(d.test.labels[..5], [3, 8, 8, 0, 6]);
    // First R row of training image 0.
    assert_eq!(d.train.record(0)[..8], [59, 43, 50, 68, 98, 119, 139, 145]);
    assert!(d.caveat.as_deref().unwrap().contains("lossless subset"));
}

#[test]
fn cifar10_fallback_is_complete_and_labelled_approximate() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let d = load_cifar10(&dir).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (50_000, 10_000));
    assert!(d.caveat.as_deref().unwrap().contains("approximate"));
    // Train order and labels are canonical: they agree with the lossless subset.
    let subset = load_cifar10(&dir.join("cifar10-lossless-subset")).unwrap();
    assert_eq!(d.train.labels[..4000], subset.train.labels[..]);
    // Pixels are close but not equal (JPEG): mean absolute error ≈ 5.8.
    let n = 4000 * 3072;
    let err: u64 = d.train.records[..n]
        .iter()
        .zip(&subset.train.records[..n])
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    let mean = err as f64 / n as f64;
    assert!((4.0..8.0).contains(&mean), "mean abs error {mean}");
}

/// The canonical archive layout, built from the lossless subset (the real archive is not
/// in the shared data): read in memory, members found by name, non-canonical MD5 noticed.
#[test]
fn cifar10_reads_a_tar_gz_archive_without_unpacking() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let subset = load_cifar10(&dir.join("cifar10-lossless-subset")).unwrap();
    let record = |i: usize, split: &nncert::data::Split| {
        let mut r = vec![split.labels[i] as u8];
        r.extend_from_slice(split.record(i));
        r
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: Vec<u8>| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes.as_slice()).unwrap();
    };
    add(
        "cifar-10-batches-bin/batches.meta.txt",
        b"airplane\n".to_vec(),
    );
    for b in 1..=5 {
        let bytes = (0..10)
            .flat_map(|i| record((b - 1) * 10 + i, &subset.train))
            .collect();
        add(&format!("cifar-10-batches-bin/data_batch_{b}.bin"), bytes);
    }
    add(
        "cifar-10-batches-bin/test_batch.bin",
        (0..7).flat_map(|i| record(i, &subset.test)).collect(),
    );
    let tar_bytes = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_bytes).unwrap();
    let tmp = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cifar-archive");
    std::fs::create_dir_all(&tmp).unwrap();
    let archive = tmp.join("cifar-10-binary.tar.gz");
    std::fs::write(&archive, gz.finish().unwrap()).unwrap();

    let d = load_cifar10_archive(&archive).unwrap();
    assert_eq!((d.train.len(), d.test.len()), (50, 7));
    assert_eq!(d.train.records[..], subset.train.records[..50 * 3072]);
    assert_eq!(d.test.labels[..], subset.test.labels[..7]);
    assert!(d.files.iter().all(|f| f.canonical == Some(false)));
    // And through the directory lookup.
    assert_eq!(load_cifar10(&tmp).unwrap().train.len(), 50);
}
