//! `nncert votes --dataset npy --train-shard I/N` streams the `.npy` files and keeps only
//! its shard's rows (`docs/MEMORY.md`): shards of user features, merged, equal one `votes`
//! run byte for byte, and a shard job's report names the whole dataset.

mod common;
use common::{scratch, write};

use std::path::Path;
use std::process::Command;

use nncert::data::npy::encode;
use nncert::rng::SplitMix64;

fn ok(args: &[String]) {
    let out = Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(args)
        .output()
        .expect("the nncert binary runs");
    assert!(
        out.status.success(),
        "nncert {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `.npy` file of `dir`, sorted by name.
fn npy_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn merged_npy_shards_equal_one_votes_run() {
    let dir = scratch("npy_shard_cli");
    let mut rng = SplitMix64::new(21);
    let (n, m, d) = (61, 9, 7);
    // Coarse values: many exact distance ties, which the global positions decide.
    let mut values = |k: usize| -> Vec<f32> { (0..k).map(|_| rng.below(3) as f32).collect() };
    let (xtr, xte) = (values(n * d), values(m * d));
    let ytr: Vec<i64> = (0..n as i64).map(|i| (i * 7) % 3).collect();
    let yte: Vec<i64> = (0..m as i64).map(|i| i % 3).collect();
    let data: Vec<String> = vec![
        "--dataset".into(),
        "npy".into(),
        "--train-features".into(),
        write(&dir, "xtr.npy", encode(&[n, d], &xtr)),
        "--train-labels".into(),
        write(&dir, "ytr.npy", encode(&[n], &ytr)),
        "--test-features".into(),
        write(&dir, "xte.npy", encode(&[m, d], &xte)),
        "--test-labels".into(),
        write(&dir, "yte.npy", encode(&[m], &yte)),
    ];
    let search: Vec<String> = ["--knn", "1,5,20", "--rnn", "1,2", "--metric", "l2"]
        .map(String::from)
        .to_vec();
    let run = |extra: &[&str], out: &Path| {
        let mut args = vec!["votes".to_string()];
        args.extend(data.iter().cloned());
        args.extend(search.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--out".to_string(), out.display().to_string()]);
        ok(&args);
    };
    let single = dir.join("single");
    run(&[], &single);
    let mut parts = Vec::new();
    for (i, j) in [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)] {
        let part = dir.join(format!("part_{i}_{j}"));
        run(
            &[
                "--train-shard",
                &format!("{i}/3"),
                "--test-shard",
                &format!("{j}/2"),
            ],
            &part,
        );
        parts.push(part);
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(parts[1].join("report.json")).unwrap()).unwrap();
    assert_eq!(
        (report["n_train"].as_u64(), report["n_test"].as_u64()),
        (Some(61), Some(9))
    );
    let merged = dir.join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(parts.iter().map(|p| p.display().to_string()));
    args.extend(data.iter().cloned());
    args.extend(["--out".to_string(), merged.display().to_string()]);
    ok(&args);
    let (a, b) = (npy_files(&single), npy_files(&merged));
    assert!(
        a.len() >= 5,
        "{:?}",
        a.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    assert_eq!(a, b, "merged shards differ from one votes run");
}
