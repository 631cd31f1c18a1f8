//! A property test of the CLI's promises (issue 12), driving `certify-votes` and
//! `certify --dataset npy` with random valid and invalid shapes, dtypes, labels, counts and
//! flags, each run under an address-space limit. Whatever the input:
//!
//! - the exit code is 0 or 2 (never a panic, an abort or a signal);
//! - on exit 2, stderr is exactly one line `nncert: error: …` without control characters;
//! - the output directory is whole (every file of a run, report.json parses) or, on error,
//!   exactly what was there before (absent, or the previous run's files byte for byte);
//! - nothing else appears beside it (no staging directory or temporary file).
//!
//! The generator is a fixed-seed SplitMix64, so a failure replays exactly; the case number
//! and the arguments are in the failure message.

mod common;

use common::names;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nncert::data::npy::encode;

const MEMORY_LIMIT: u64 = 2 << 30;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn run(args: &[String], cwd: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nncert"));
    cmd.args(args).current_dir(cwd);
    // SAFETY: setrlimit is async-signal-safe; the closure touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: MEMORY_LIMIT,
                rlim_max: MEMORY_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("the nncert binary runs")
}

fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("fuzz_{name}"))
}

/// Every file below `dir` with its bytes (empty map if `dir` does not exist).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A random integer array as .npy: usually the asked shape, sometimes a lying header.
fn random_int_npy(rng: &mut Rng, shape: &[usize], values: &[i64]) -> Vec<u8> {
    let dtype = *rng.pick(&["<i8", "<u1", "<i4", "<u4", "<i8x", "<f4"]);
    let mut bytes = match dtype {
        "<i8" => encode(shape, values),
        "<u1" => encode(shape, &values.iter().map(|&v| v as u8).collect::<Vec<_>>()),
        "<i4" => encode(shape, &values.iter().map(|&v| v as i32).collect::<Vec<_>>()),
        "<u4" => encode(shape, &values.iter().map(|&v| v as u32).collect::<Vec<_>>()),
        "<f4" => encode(shape, &values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        _ => {
            // A header announcing a huge shape over little data.
            let mut b = encode(shape, values);
            if let Some(pos) = b.windows(7).position(|w| w == b"shape':") {
                let huge = b"shape': (4000000000, 4000000000), ";
                let end = b[pos..]
                    .iter()
                    .position(|&c| c == b')')
                    .map_or(pos, |e| pos + e + 3);
                b.splice(pos..end.min(b.len()), huge.iter().copied());
            }
            b
        }
    };
    if rng.chance(5) && bytes.len() > 20 {
        let cut = bytes.len() - 1 - rng.below(10) as usize;
        bytes.truncate(cut);
    }
    bytes
}

fn random_value(rng: &mut Rng) -> i64 {
    match rng.below(10) {
        0 => -1,
        1 => i64::from(u32::MAX),
        2 => 1 << 31,
        3 => rng.below(10_000_000) as i64,
        _ => rng.below(8) as i64,
    }
}

/// Checks one run against the promises; `before` is the output directory's content before.
fn check(
    case: &str,
    o: &Output,
    out: &Path,
    before: &BTreeMap<String, Vec<u8>>,
    expected: &[&str],
) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    assert!(
        matches!(code, Some(0) | Some(2)),
        "{case}: exit {:?} (signal?), stderr {stderr:?}",
        o.status
    );
    let after = snapshot(out);
    if code == Some(2) {
        assert!(
            stderr.starts_with("nncert: error: ") && stderr.ends_with('\n'),
            "{case}: {stderr:?}"
        );
        let line = &stderr[..stderr.len() - 1];
        assert!(!line.chars().any(char::is_control), "{case}: {stderr:?}");
        assert!(
            &after == before,
            "{case}: a failed run changed {}",
            out.display()
        );
    } else {
        assert!(stderr.lines().count() <= 3, "{case}: {stderr:?}");
        assert!(!stderr.contains("error"), "{case}: {stderr:?}");
        for f in expected {
            assert!(
                after.contains_key(*f),
                "{case}: {f} missing from {:?}",
                after.keys()
            );
        }
        let report: serde_json::Value =
            serde_json::from_slice(&after["report.json"]).expect("report.json parses");
        assert!(report.is_object(), "{case}");
        // Only this run's files: nothing left from a previous run.
        assert!(
            after.keys().all(|k| !before.contains_key(k)
                || expected.iter().any(|e| e == k)
                || k.starts_with("figures/")),
            "{case}: stale files"
        );
    }
}

#[test]
fn certify_votes_keeps_its_promises_on_random_input() {
    let dir = scratch("votes");
    let mut rng = Rng(12);
    let mut successes = 0;
    for case in 0..60 {
        let hostile = rng.chance(25);
        let n = if hostile {
            rng.below(5)
        } else {
            1 + rng.below(6)
        } as usize;
        let c = if hostile {
            rng.below(5)
        } else {
            2 + rng.below(4)
        } as usize;
        let k = 1 + rng.below(9) as i64;
        let counts: Vec<i64> = (0..n)
            .flat_map(|_| {
                // Rows that sum to k (valid kNN votes) unless hostile.
                let mut row = vec![0i64; c];
                for _ in 0..if c == 0 { 0 } else { k } {
                    row[rng.below(c as u64) as usize] += 1;
                }
                if hostile {
                    row.iter_mut().for_each(|v| *v = random_value(&mut rng));
                }
                row
            })
            .collect();
        let labels: Vec<i64> = (0..n)
            .map(|_| {
                if hostile {
                    random_value(&mut rng)
                } else {
                    rng.below(c as u64) as i64
                }
            })
            .collect();
        let votes_shape = if hostile && rng.chance(20) {
            vec![n * c]
        } else {
            vec![n, c]
        };
        let (v, y) = if hostile {
            (
                random_int_npy(&mut rng, &votes_shape, &counts),
                random_int_npy(&mut rng, &[n], &labels),
            )
        } else {
            (encode(&votes_shape, &counts), encode(&[n], &labels))
        };
        std::fs::write(dir.join("v.npy"), v).unwrap();
        std::fs::write(dir.join("y.npy"), y).unwrap();
        let kind = *rng.pick(&["knn", "rnn", "dpa", "bagging"]);
        let mut args: Vec<String> = [
            "certify-votes",
            "--votes",
            "v.npy",
            "--labels",
            "y.npy",
            "--kind",
            kind,
        ]
        .map(String::from)
        .to_vec();
        // Each flag: usually absent; when present usually valid, sometimes not; flags of
        // another kind only rarely.
        let mut flag =
            |rng: &mut Rng, name: &str, applies: bool, valid: &[&str], invalid: &[&str]| {
                if rng.chance(if applies { 40 } else { 4 }) {
                    args.push(name.into());
                    let v = if rng.chance(85) {
                        rng.pick(valid)
                    } else {
                        rng.pick(invalid)
                    };
                    args.push(v.to_string());
                }
            };
        let (rnn, dpa, bag) = (kind == "rnn", kind == "dpa", kind == "bagging");
        flag(
            &mut rng,
            "--max-e",
            true,
            &["0", "3", "17"],
            &["10000001", "-1", "x"],
        );
        flag(
            &mut rng,
            "--joint",
            rnn,
            &["island", "rd,best", "none"],
            &["bogus"],
        );
        flag(
            &mut rng,
            "--tie-rule",
            true,
            &["larger", "smaller"],
            &["middle"],
        );
        flag(
            &mut rng,
            "--units",
            dpa,
            &["poisoning", "insdel"],
            &["both"],
        );
        flag(
            &mut rng,
            "--alpha",
            bag,
            &["0.001", "0.1"],
            &["0", "1.5", "nan"],
        );
        flag(&mut rng, "--param", true, &["4", ""], &["a\nb"]);
        if bag {
            flag(
                &mut rng,
                "--models",
                true,
                &["20", "1000"],
                &["0", "18446744073709551615", "4294967296"],
            );
            flag(
                &mut rng,
                "--subsample",
                true,
                &["5", "27"],
                &["0", "4294967295"],
            );
            flag(
                &mut rng,
                "--train-size",
                true,
                &["100", "60000"],
                &["0", "18446744073709551615"],
            );
            for (f, v) in [
                ("--models", "20"),
                ("--subsample", "5"),
                ("--train-size", "100"),
            ] {
                if !args.iter().any(|a| a == f) && rng.chance(90) {
                    args.extend([f.to_string(), v.to_string()]);
                }
            }
        } else {
            flag(&mut rng, "--models", false, &["10"], &["0"]);
        }
        // The output: fresh, an earlier run's directory, or a file.
        let target = *rng.pick(&["out", "out", "out", "a_file"]);
        if target == "a_file" {
            std::fs::write(dir.join("a_file"), "x").unwrap();
        }
        if rng.chance(30) {
            let _ = std::fs::remove_dir_all(dir.join("out"));
        }
        args.extend(["--out".into(), target.into()]);
        let out = dir.join(target);
        let before = if target == "a_file" {
            BTreeMap::new()
        } else {
            snapshot(&out)
        };
        let o = run(&args, &dir);
        let case = format!("case {case}: {args:?}");
        check(
            &case,
            &o,
            &out,
            &before,
            &["curves.csv", "examples.csv", "report.json"],
        );
        successes += usize::from(o.status.success());
        if std::env::var_os("NNCERT_FUZZ_VERBOSE").is_some() {
            eprintln!(
                "{case}\n  -> {:?} {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).trim_end()
            );
        }
        let mut beside = names(&dir);
        beside.retain(|n| !["v.npy", "y.npy", "out", "a_file"].contains(&n.as_str()));
        assert!(beside.is_empty(), "{case}: left {beside:?}");
    }
    // The generator must reach the computation, not only the argument checks.
    assert!(successes >= 5, "only {successes} runs succeeded");
}

#[test]
fn certify_npy_keeps_its_promises_on_random_input() {
    let dir = scratch("npy");
    let mut rng = Rng(1212);
    let mut successes = 0;
    for case in 0..30 {
        let hostile = rng.chance(25);
        let (n, m, d) = if hostile {
            (
                rng.below(30) as usize,
                rng.below(8) as usize,
                rng.below(4) as usize,
            )
        } else {
            (
                1 + rng.below(30) as usize,
                1 + rng.below(8) as usize,
                1 + rng.below(4) as usize,
            )
        };
        let feature = |rng: &mut Rng| match rng.below(if hostile { 20 } else { 1_000_000 }) {
            0 => f32::NAN,
            1 => 1e30,
            _ => rng.below(100) as f32 / 10.0,
        };
        let trf: Vec<f32> = (0..n * d).map(|_| feature(&mut rng)).collect();
        let tef: Vec<f32> = (0..m * d).map(|_| feature(&mut rng)).collect();
        let c = 1 + rng.below(4) as i64;
        let label = |rng: &mut Rng| {
            if hostile && rng.chance(20) {
                random_value(rng)
            } else {
                rng.below(c as u64) as i64
            }
        };
        let trl: Vec<i64> = (0..n).map(|_| label(&mut rng)).collect();
        let tel: Vec<i64> = (0..m).map(|_| label(&mut rng)).collect();
        let w = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
        if rng.chance(10) {
            w(
                "trf.npy",
                encode(&[n, d], &trf.iter().map(|&x| x as f64).collect::<Vec<_>>()),
            );
        } else {
            w("trf.npy", encode(&[n, d], &trf));
        }
        w("tef.npy", encode(&[m, d], &tef));
        if hostile {
            w("trl.npy", random_int_npy(&mut rng, &[n], &trl));
        } else {
            w("trl.npy", encode(&[n], &trl));
        }
        w("tel.npy", encode(&[m], &tel));
        let mut args: Vec<String> = [
            "certify",
            "--train-features",
            "trf.npy",
            "--train-labels",
            "trl.npy",
            "--test-features",
            "tef.npy",
            "--test-labels",
            "tel.npy",
        ]
        .map(String::from)
        .to_vec();
        let mut flag = |rng: &mut Rng, name: &str, valid: &[&str], invalid: &[&str]| {
            if rng.chance(35) {
                args.push(name.into());
                let v = if rng.chance(85) {
                    rng.pick(valid)
                } else {
                    rng.pick(invalid)
                };
                args.push(v.to_string());
            }
        };
        flag(&mut rng, "--dataset", &["npy"], &["mnist"]);
        flag(
            &mut rng,
            "--knn",
            &["1", "3,5", "7", "none"],
            &["5,5", "1000", "0"],
        );
        flag(&mut rng, "--rnn", &["0.5", "2,3", "40"], &["-1", "inf"]);
        flag(
            &mut rng,
            "--classes",
            &["5", "7"],
            &["4000000000", "0", "1"],
        );
        flag(&mut rng, "--threads", &["1", "2"], &["1500", "0"]);
        flag(&mut rng, "--max-e", &["0", "5"], &["10000001"]);
        flag(&mut rng, "--metric", &["l1", "l2", "linf"], &["cosine?"]);
        flag(&mut rng, "--features", &["raw"], &["hog"]);
        flag(&mut rng, "--dpa", &["2", "3"], &["0", "1000000"]);
        flag(&mut rng, "--bagging", &["3"], &["0"]);
        flag(&mut rng, "--models", &["10"], &["18446744073709551615"]);
        flag(&mut rng, "--joint", &["none"], &["island"]);
        if rng.chance(30) {
            let _ = std::fs::remove_dir_all(dir.join("out"));
        }
        args.extend(["--out".into(), "out".into()]);
        let out = dir.join("out");
        let before = snapshot(&out);
        let o = run(&args, &dir);
        let case = format!("case {case}: {args:?}");
        check(
            &case,
            &o,
            &out,
            &before,
            &["curves.csv", "examples.csv", "report.json"],
        );
        successes += usize::from(o.status.success());
        if std::env::var_os("NNCERT_FUZZ_VERBOSE").is_some() {
            eprintln!(
                "{case}\n  -> {:?} {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).trim_end()
            );
        }
        let mut beside = names(&dir);
        beside.retain(|n| !n.ends_with(".npy") && n != "out");
        assert!(beside.is_empty(), "{case}: left {beside:?}");
    }
    // The generator must reach the computation, not only the argument checks.
    assert!(successes >= 5, "only {successes} runs succeeded");
}
