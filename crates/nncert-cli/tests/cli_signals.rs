//! Issue 12 (6): runs interrupted by SIGINT or SIGTERM at many moments — while computing,
//! while writing the staging directory, around the swap — leave either the previous output
//! intact or the new one complete, and no staging directory or temporary file.
//!
//! The moments are fractions of a measured uninterrupted run, drawn from a fixed-seed
//! generator; nothing asserted depends on timing (a run that finishes before its signal
//! simply has to be complete).

mod common;

use common::names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nncert::data::npy::encode;

fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("signals_{name}"))
}

/// Removes the run's timings (the only thing that differs between two runs) from a
/// report.json.
fn without_timings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("seconds");
            map.values_mut().for_each(without_timings);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_timings),
        _ => {}
    }
}

/// Every file below `dir` with its SHA-256 (the files are large); report.json without its
/// timings.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                let digest = if rel == "report.json" {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                    without_timings(&mut v);
                    nncert::report::sha256_bytes(v.to_string().as_bytes())
                } else {
                    nncert::report::sha256_file(&p).unwrap()
                };
                out.insert(rel, digest);
            }
        }
    }
    out
}

fn command(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nncert"));
    c.args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn complete(args: &[&str], cwd: &Path) -> Duration {
    let start = Instant::now();
    let o = command(args, cwd).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    start.elapsed()
}

/// Interrupts `new` at fractions of its duration; after each run the output directory
/// `out` must equal `old_ref` or `new_ref`; `old` restores the previous output whenever
/// the new one got through.
fn interrupt_at_random_moments(
    dir: &Path,
    old: &[&str],
    new: &[&str],
    out: &str,
    runs: usize,
    seed: u64,
) -> (usize, usize) {
    let out_path = dir.join(out);
    // References: each command run to completion.
    complete(new, dir);
    let new_ref = snapshot(&out_path);
    let duration = complete(old, dir);
    let old_ref = snapshot(&out_path);
    let duration = duration.max(complete(new, dir));
    complete(old, dir);
    assert_ne!(old_ref, new_ref, "the two runs must differ");
    let mut state = seed;
    let (mut kept_old, mut got_new) = (0, 0);
    for i in 0..runs {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let fraction = (state >> 11) as f64 / (1u64 << 53) as f64;
        let delay = duration.mul_f64(0.05 + 1.05 * fraction);
        let signal = if i % 2 == 0 {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        let mut child = command(new, dir).spawn().unwrap();
        std::thread::sleep(delay);
        // SAFETY: signalling our own child, which has not been waited for yet.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let status = child.wait().unwrap();
        let after = snapshot(&out_path);
        let case = format!("run {i}: signal {signal} after {delay:?}, exit {status:?}");
        if after == old_ref {
            kept_old += 1;
            assert!(
                !status.success() || after == new_ref,
                "{case}: exit 0 but old output"
            );
        } else {
            assert!(
                after == new_ref,
                "{case}: output is neither the previous nor the new one"
            );
            got_new += 1;
            complete(old, dir);
        }
        let code = status.code();
        assert!(
            matches!(code, Some(0) | Some(130) | Some(143)) || status.success(),
            "{case}: unexpected exit"
        );
        let beside: Vec<String> = names(dir)
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(beside.is_empty(), "{case}: left {beside:?}");
    }
    (kept_old, got_new)
}

/// certify-votes writing a large curves.csv (tens of MB), so that many signals land while
/// the staging directory is being written.
#[test]
fn interrupted_certify_votes_leaves_old_or_new_output_and_nothing_else() {
    let dir = scratch("votes");
    let votes = encode(
        &[3, 2],
        &[0u32, 4_000_000, 3_999_000, 1000, 2_000_000, 2_000_000],
    );
    std::fs::write(dir.join("v.npy"), votes).unwrap();
    std::fs::write(dir.join("y.npy"), encode(&[3], &[1u8, 0, 1])).unwrap();
    let base = [
        "certify-votes",
        "--votes",
        "v.npy",
        "--labels",
        "y.npy",
        "--kind",
        "knn",
    ];
    let old: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--max-e", "10", "--out", "out"])
        .collect();
    let new: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--max-e", "600000", "--out", "out"])
        .collect();
    let (kept, got) = interrupt_at_random_moments(&dir, &old, &new, "out", 8, 12);
    eprintln!("kept the previous output {kept} times, got the new one {got} times");
    assert_eq!(kept + got, 8);
}

/// A full `certify` run (features, neighbours, certificates, baselines, figures) on a
/// generated feature dataset, interrupted at random moments.
#[test]
fn interrupted_certify_leaves_old_or_new_output_and_nothing_else() {
    let dir = scratch("certify");
    let (n, m, d) = (3000usize, 300usize, 16usize);
    let mut state = 99u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let labels = |count: usize, offset: usize| -> Vec<i64> {
        (0..count).map(|i| ((i + offset) % 3) as i64).collect()
    };
    let features = |labels: &[i64], next: &mut dyn FnMut() -> f32| -> Vec<f32> {
        labels
            .iter()
            .flat_map(|&y| (0..d).map(move |j| if j % 3 == y as usize { 1.0 } else { 0.0 }))
            .map(|x: f32| x + next())
            .collect()
    };
    let (trl, tel) = (labels(n, 0), labels(m, 1));
    let trf = features(&trl, &mut next);
    let tef = features(&tel, &mut next);
    std::fs::write(dir.join("trf.npy"), encode(&[n, d], &trf)).unwrap();
    std::fs::write(dir.join("tef.npy"), encode(&[m, d], &tef)).unwrap();
    std::fs::write(dir.join("trl.npy"), encode(&[n], &trl)).unwrap();
    std::fs::write(dir.join("tel.npy"), encode(&[m], &tel)).unwrap();
    let data = [
        "certify",
        "--train-features",
        "trf.npy",
        "--train-labels",
        "trl.npy",
        "--test-features",
        "tef.npy",
        "--test-labels",
        "tel.npy",
    ];
    let old: Vec<&str> = data
        .iter()
        .copied()
        .chain(["--knn", "50", "--out", "out"])
        .collect();
    let new: Vec<&str> = data
        .iter()
        .copied()
        .chain([
            "--knn",
            "100,200",
            "--rnn",
            "3,4",
            "--joint",
            "island,rd",
            "--dpa",
            "50",
            "--out",
            "out",
        ])
        .collect();
    let (kept, got) = interrupt_at_random_moments(&dir, &old, &new, "out", 8, 7);
    eprintln!("kept the previous output {kept} times, got the new one {got} times");
    assert_eq!(kept + got, 8);
}
