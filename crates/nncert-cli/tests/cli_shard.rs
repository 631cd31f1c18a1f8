//! `nncert votes --train-shard I/N --test-shard J/M` and `nncert merge` through the real
//! binary: the merged files equal a single `votes` run's byte for byte (embedded subset;
//! full MNIST with `NNCERT_DATA_DIR`), and partials that do not fit together are refused
//! with one line and exit code 2.

mod common;
use common::{data_dir, scratch};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nncert(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(args)
        .output()
        .expect("the nncert binary runs")
}

fn ok(args: &[String]) -> String {
    let out = nncert(args);
    assert!(
        out.status.success(),
        "nncert {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code 2 and one line on stderr containing `needle`.
fn refused(args: &[String], needle: &str) {
    let out = nncert(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "nncert {}: {err}",
        args.join(" ")
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every `.npy` file of `dir`, sorted by name.
fn npy_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs `votes` once and as `n × m` shards + `merge`; returns the partial directories.
fn single_vs_sharded(
    dir: &Path,
    data: &[&str],
    search: &[&str],
    n: usize,
    m: usize,
) -> Vec<PathBuf> {
    let single = dir.join("single");
    let args = [
        &["votes"],
        data,
        search,
        &["--out", single.to_str().unwrap()],
    ]
    .concat();
    ok(&strings(&args));
    let mut parts = Vec::new();
    for j in 1..=m {
        for i in 1..=n {
            let part = dir.join(format!("part_{i}_{j}"));
            let (ti, tj) = (format!("{i}/{n}"), format!("{j}/{m}"));
            let args = [
                &["votes"],
                data,
                search,
                &[
                    "--train-shard",
                    &ti,
                    "--test-shard",
                    &tj,
                    "--out",
                    part.to_str().unwrap(),
                ],
            ]
            .concat();
            ok(&strings(&args));
            parts.push(part);
        }
    }
    let merged = dir.join("merged");
    let mut args = strings(&["merge"]);
    // Partials in an order that is not the natural one.
    args.extend(parts.iter().rev().map(|p| p.display().to_string()));
    args.extend(strings(data));
    args.extend(strings(&["--out", merged.to_str().unwrap()]));
    ok(&args);
    let (a, b) = (npy_files(&single), npy_files(&merged));
    assert!(!a.is_empty());
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between votes and merge");
    }
    parts
}

#[test]
fn merged_shards_of_the_embedded_subset_equal_one_votes_run() {
    let dir = scratch("shard_embedded_l1");
    let data = ["--dataset", "embedded"];
    let parts = single_vs_sharded(
        &dir,
        &data,
        &[
            "--knn",
            "1,50,500",
            "--rnn",
            "3,4",
            "--neighbours",
            "--threads",
            "2",
        ],
        3,
        2,
    );
    let partial = |i: usize| parts[i].display().to_string();
    let out = dir.join("refused").display().to_string();
    // Without the dataset flags, only if no pair needs an exact key.
    let all: Vec<String> = (0..6).map(partial).collect();
    let no_data = nncert(&[strings(&["merge"]), all.clone(), strings(&["--out", &out])].concat());
    if !no_data.status.success() {
        let err = String::from_utf8_lossy(&no_data.stderr);
        assert!(
            err.contains("pairs need exact distances: pass the dataset"),
            "{err}"
        );
    }
    // A missing shard, a shard twice, a missing block.
    refused(
        &[
            strings(&["merge"]),
            all[..5].to_vec(),
            strings(&["--out", &out]),
        ]
        .concat(),
        "training shard 3/3 of test block 2/2 is missing",
    );
    refused(
        &[
            strings(&["merge"]),
            all.clone(),
            vec![partial(4)],
            strings(&["--out", &out]),
        ]
        .concat(),
        "given twice",
    );
    refused(
        &[
            strings(&["merge"]),
            all[..3].to_vec(),
            strings(&["--out", &out]),
        ]
        .concat(),
        "test block 2/2 is missing",
    );
    // Other features than the partials': refused when the data is loaded.
    refused(
        &[
            strings(&["merge"]),
            all.clone(),
            strings(&["--dataset", "embedded", "--features", "raw", "--out", &out]),
        ]
        .concat(),
        // Audit finding 13: one short line naming the field, not two JSON dumps.
        "not those of the partials: features: partials {\"hog\":",
    );
    // A corrupt file, named.
    let bad = dir.join("bad.nncert");
    let mut bytes = std::fs::read(parts[2].join("partial.nncert")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&bad, bytes).unwrap();
    let mut with_bad = all.clone();
    with_bad[2] = bad.display().to_string();
    refused(
        &[strings(&["merge"]), with_bad, strings(&["--out", &out])].concat(),
        "bad.nncert: partial result corrupt or truncated (checksum mismatch)",
    );
    // A partial of another run (other k).
    let other = dir.join("other");
    ok(&strings(&[
        "votes",
        "--dataset",
        "embedded",
        "--knn",
        "1,50",
        "--rnn",
        "3,4",
        "--neighbours",
        "--train-shard",
        "2/3",
        "--test-shard",
        "1/2",
        "--out",
        other.to_str().unwrap(),
    ]));
    let mut mixed = all.clone();
    mixed[1] = other.display().to_string();
    refused(
        &[strings(&["merge"]), mixed, strings(&["--out", &out])].concat(),
        "not the same run (k [1, 50, 500] vs [1, 50])",
    );
    // Shard flags out of range.
    refused(
        &strings(&["votes", "--knn", "5", "--train-shard", "4/3", "--out", &out]),
        "--train-shard: shard 4/3",
    );
    refused(
        &strings(&[
            "votes",
            "--knn",
            "5",
            "--test-shard",
            "1/1001",
            "--out",
            &out,
        ]),
        "--test-shard: shard 1/1001",
    );
    assert!(!Path::new(&out).exists(), "a refused run wrote {out}");
}

#[test]
fn merged_shards_with_l2_and_one_block_equal_one_votes_run() {
    let dir = scratch("shard_embedded_l2");
    single_vs_sharded(
        &dir,
        &["--dataset", "embedded"],
        &[
            "--metric",
            "l2",
            "--knn",
            "7,500",
            "--rnn",
            "0.8",
            "--threads",
            "2",
        ],
        2,
        1,
    );
}

#[test]
fn merged_shards_of_full_mnist_equal_one_votes_run() {
    let Some(data) = data_dir() else {
        eprintln!("skipping: NNCERT_DATA_DIR is not set");
        return;
    };
    let dir = scratch("shard_mnist");
    let d = data.display().to_string();
    single_vs_sharded(
        &dir,
        &["--dataset", "mnist", "--data-dir", &d],
        &["--knn", "1000,3000,5000", "--rnn", "3,4,5"],
        3,
        2,
    );
}
