//! `nncert votes --dataset npy --train-shard I/N` streams the `.npy` files and reads only
//! its shard's rows (`docs/MEMORY.md`, `docs/SCALING.md`): shards of user features,
//! merged, equal one `votes` run byte for byte; a shard job's report names the whole
//! dataset by XXH3-128, the merge's report records the SHA-256 and MD5 of a single run;
//! files that are not the jobs' are refused.

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
    // Coarse values: many exact distance ties, which the ranks decide.
    let mut values = |k: usize| -> Vec<f32> { (0..k).map(|_| rng.below(3) as f32).collect() };
    let (mut xtr, xte) = (values(n * d), values(m * d));
    let mut ytr: Vec<i64> = (0..n as i64).map(|i| (i * 7) % 3).collect();
    // Identical examples in different shards (rows 3 and 50, 10 and 30): the same rank,
    // the index decides.
    for (a, b) in [(3, 50), (10, 30)] {
        let row = xtr[a * d..(a + 1) * d].to_vec();
        xtr[b * d..(b + 1) * d].copy_from_slice(&row);
        ytr[b] = ytr[a];
    }
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
    // A job identifies the files by XXH3-128; the merge reports them as the single run.
    let files = |dir: &Path| -> serde_json::Value {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        r["files"].clone()
    };
    assert_eq!(files(&merged), files(&single));
    assert!(files(&merged)[0]["sha256"].is_string());
    let job = files(&parts[1]);
    assert_eq!(job.as_array().map(Vec::len), Some(4));
    assert_eq!(job[0]["xxh3_128"].as_str().map(str::len), Some(32));
    // Training features that differ in one value of shard 3/3's rows: shard 1/3's job
    // does not read that row, yet its partial does not merge with the others', and the
    // merge refuses the file given to it.
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut changed = xtr.clone();
    changed[(n - 1) * d] = 9.0;
    let other_xtr = write(&other_dir, "xtr.npy", encode(&[n, d], &changed));
    let mut other_data = data.clone();
    other_data[3] = other_xtr;
    let other_part = dir.join("other_part");
    let mut args = vec!["votes".to_string()];
    args.extend(other_data.iter().cloned());
    args.extend(search.iter().cloned());
    args.extend(
        ["--train-shard", "1/3", "--test-shard", "1/2", "--out"]
            .map(String::from)
            .to_vec(),
    );
    args.push(other_part.display().to_string());
    ok(&args);
    let refused = |args: Vec<String>, needle: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_nncert"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    };
    let out = dir.join("refused").display().to_string();
    let mut mixed: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
    mixed[0] = other_part.display().to_string();
    let mut args = vec!["merge".to_string()];
    args.extend(mixed);
    args.extend(["--out".to_string(), out.clone()]);
    refused(args, "not the same run");
    let mut args = vec!["merge".to_string()];
    args.extend(parts.iter().map(|p| p.display().to_string()));
    args.extend(other_data.iter().cloned());
    args.extend(["--out".to_string(), out.clone()]);
    refused(args, "not those of the partials");
}
