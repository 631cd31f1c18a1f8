//! An attack can be replayed from its outputs alone: `attack_sets.csv` names every
//! poisoned set and `attack_poison.csv` lists what it removes and inserts. The test
//! rebuilds each poisoned training set from those files (without the attack code), re-runs
//! the classifier on it through the ordinary pipeline, and must find the outcome the attack
//! reported: `correct_after` of every set and the attacked accuracy of `attack.csv`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::scratch;
use nncert::curve::format_fraction_ceil;
use nncert::data::{Dataset, DatasetSpec, load};
use nncert::features::{FeatureKind, HogParams};
use nncert::pipeline::{self, Progress};
use nncert::{Kernel, Metric, Prediction, SearchConfig, TieRule};

const N_TEST: usize = 30;

/// (method, param, strategy, e, target) → the poisoned set's rows of `attack_poison.csv`.
type Key = (String, String, String, String, String);

fn key(f: &[&str]) -> Key {
    (
        f[0].to_string(),
        f[1].to_string(),
        f[2].to_string(),
        f[3].to_string(),
        f[4].to_string(),
    )
}

/// `D − removed + inserted`, built from the `action,index,label,count` columns only.
fn rebuild(clean: &Dataset, actions: &[Vec<String>]) -> Dataset {
    let mut removed = vec![false; clean.train.len()];
    let mut inserted: Vec<(usize, u32)> = Vec::new();
    for a in actions {
        let (index, label, count): (usize, u32, usize) = (
            a[0].parse().unwrap(),
            a[1].parse().unwrap(),
            a[2].parse().unwrap(),
        );
        match a[3].as_str() {
            "remove" => {
                assert_eq!(
                    clean.train.labels[index], label,
                    "remove row names the label"
                );
                assert_eq!(count, 1);
                assert!(!removed[index], "training example {index} removed twice");
                removed[index] = true;
            }
            "insert" => inserted.extend(std::iter::repeat_n((index, label), count)),
            other => panic!("unknown action {other}"),
        }
    }
    let mut d = clean.clone();
    d.train.records.clear();
    d.train.labels.clear();
    for j in (0..clean.train.len()).filter(|&j| !removed[j]) {
        d.train.records.extend_from_slice(clean.train.record(j));
        d.train.labels.push(clean.train.labels[j]);
    }
    for (i, label) in inserted {
        d.train.records.extend_from_slice(clean.test.record(i));
        d.train.labels.push(label);
    }
    d
}

/// Predictions of the classifier (`knn`/`rnn`, param) re-run on `d`.
fn predictions(d: &Dataset, method: &str, param: &str) -> Vec<u32> {
    let (ks, radii) = match method {
        "knn" => (vec![param.parse().unwrap()], vec![]),
        _ => (vec![], vec![param.parse().unwrap()]),
    };
    let config = SearchConfig {
        metric: Metric::L1,
        ks,
        radii,
        kernel: Kernel::detect().unwrap(),
        keep_neighbours: false,
    };
    let features = FeatureKind::Hog(HogParams::default());
    let run = pipeline::votes(d, features, &config, &Progress::default()).unwrap();
    let votes = match method {
        "knn" => &run.result.knn[0].votes,
        _ => &run.result.rnn[0].votes,
    };
    (0..d.test.len())
        .map(|i| Prediction::from_counts(votes.row(i), TieRule::Larger).predicted)
        .collect()
}

#[test]
fn a_written_attack_replays_to_the_outcome_it_reported() {
    let out = scratch("attack_replay").join("att");
    let o = Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(["attack", "--knn", "50", "--rnn", "4", "--e", "3,12"])
        .args(["--n-test", &N_TEST.to_string(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    let poison = read("attack_poison.csv");
    let mut lines = poison.lines();
    assert_eq!(
        lines.next(),
        Some("method,param,strategy,e,target,action,index,label,count")
    );
    let mut actions: BTreeMap<Key, Vec<Vec<String>>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 9, "{line}");
        actions.entry(key(&f)).or_default().push(vec![
            f[6].into(),
            f[7].into(),
            f[8].into(),
            f[5].into(),
        ]);
    }
    let attack_csv = read("attack.csv");
    let sets = read("attack_sets.csv");
    let mut lines = sets.lines();
    assert_eq!(
        lines.next(),
        Some("method,param,strategy,e,target,removed,inserted,poisoning_size,correct_after")
    );
    let clean = load(&DatasetSpec::Embedded)
        .unwrap()
        .subset(None, Some(N_TEST));
    let mut shared = 0;
    let mut individual: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let set = actions.remove(&key(&f)).unwrap_or_default();
        let removed = set.iter().filter(|a| a[3] == "remove").count();
        let inserted: usize = set
            .iter()
            .filter(|a| a[3] == "insert")
            .map(|a| a[2].parse::<usize>().unwrap())
            .sum();
        assert_eq!(f[5].parse::<usize>().unwrap(), removed, "{line}");
        assert_eq!(f[6].parse::<usize>().unwrap(), inserted, "{line}");
        assert!(removed.max(inserted) <= f[3].parse().unwrap(), "{line}");
        // Replay every shared set and the first few individual sets of each classifier
        // (each replay is a whole pipeline run).
        let is_individual = f[4] != "all";
        let replayed = individual.entry(f[0].to_string()).or_default();
        if is_individual && *replayed >= 3 {
            continue;
        }
        let poisoned = rebuild(&clean, &set);
        let predicted = predictions(&poisoned, f[0], f[1]);
        let correct = |i: usize| predicted[i] == clean.test.labels[i];
        let correct_after = if is_individual {
            *replayed += 1;
            u64::from(correct(f[4].parse().unwrap()))
        } else {
            shared += 1;
            (0..N_TEST).filter(|&i| correct(i)).count() as u64
        };
        assert_eq!(f[8], correct_after.to_string(), "replayed {line}");
        if is_individual {
            assert_eq!(
                correct_after, 0,
                "an individual set flips its target: {line}"
            );
        } else {
            let accuracy = format_fraction_ceil(correct_after, N_TEST as u64, 6);
            let row = format!("{},{},{},{},{accuracy},", f[0], f[1], f[2], f[3]);
            assert!(attack_csv.contains(&row), "{row} not in attack.csv");
        }
    }
    assert!(actions.is_empty(), "poison rows of no set: {actions:?}");
    // 2 classifiers × 2 shared strategies × 2 budgets, and individual sets of both.
    assert_eq!(shared, 8);
    assert_eq!(individual.values().sum::<usize>(), 6, "{individual:?}");
}
