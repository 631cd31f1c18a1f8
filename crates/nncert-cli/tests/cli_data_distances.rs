//! `nncert data info` prints quantiles of the distance to the k-th nearest training example
//! (to choose an rNN radius), on the first N test inputs: checked against a brute-force
//! computation on a tiny dataset whose distances are exact in f32 (quarter-integer values).

mod common;

use std::path::Path;
use std::process::Command;

use common::{scratch, write};
use nncert::data::npy::encode;
use nncert::rng::SplitMix64;

const DIM: usize = 3;
const N_TRAIN: usize = 120;
const N_TEST: usize = 40;
const SAMPLE: usize = 25;

fn points(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n * DIM)
        .map(|_| rng.below(41) as f32 * 0.25 - 5.0)
        .collect()
}

fn data_info(dir: &Path, train: &[f32], test: &[f32], extra: &[&str]) -> String {
    let trl: Vec<i64> = (0..N_TRAIN as i64).map(|i| i % 3).collect();
    let tel: Vec<i64> = (0..N_TEST as i64).map(|i| i % 3).collect();
    let o = Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(["data", "info", "--dataset", "npy", "--train-features"])
        .arg(write(dir, "trf.npy", encode(&[N_TRAIN, DIM], train)))
        .arg("--train-labels")
        .arg(write(dir, "trl.npy", encode(&[N_TRAIN], &trl)))
        .arg("--test-features")
        .arg(write(dir, "tef.npy", encode(&[N_TEST, DIM], test)))
        .arg("--test-labels")
        .arg(write(dir, "tel.npy", encode(&[N_TEST], &tel)))
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The expected lines: for each k, the value at position ⌊q·n/100⌋ of the sorted k-th
/// nearest values of the first `SAMPLE` test inputs. `value` maps a (test, train) pair to
/// its value in radius units, `nearer` orders them (nearest first).
fn expected(
    train: &[f32],
    test: &[f32],
    value: impl Fn(&[f32], &[f32]) -> f64,
    nearest_first: impl Fn(f64, f64) -> std::cmp::Ordering,
) -> Vec<String> {
    [1usize, 10, 100]
        .iter()
        .map(|&k| {
            let mut kth: Vec<f64> = (0..SAMPLE)
                .map(|i| {
                    let q = &test[i * DIM..(i + 1) * DIM];
                    let mut all: Vec<f64> = train.chunks_exact(DIM).map(|t| value(q, t)).collect();
                    all.sort_by(|a, b| nearest_first(*a, *b));
                    all[k - 1]
                })
                .collect();
            kth.sort_by(f64::total_cmp);
            let cells: Vec<String> = [5usize, 25, 50, 75, 95]
                .iter()
                .map(|&q| format!("{q} %: {:.4}", kth[(SAMPLE * q / 100).min(SAMPLE - 1)]))
                .collect();
            format!("  k = {k}: {}", cells.join(", "))
        })
        .collect()
}

fn distance_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("neighbour distances"))
        .skip(1)
        .map(String::from)
        .collect()
}

#[test]
fn data_info_prints_kth_neighbour_distance_quantiles_as_brute_force_computes_them() {
    let dir = scratch("data_info_distances");
    let mut rng = SplitMix64::new(7);
    let (train, test) = (points(&mut rng, N_TRAIN), points(&mut rng, N_TEST));
    let sample = SAMPLE.to_string();

    let out = data_info(&dir, &train, &test, &["--distance-sample", &sample]);
    assert!(
        out.contains(&format!(
            "neighbour distances (l1, raw features; first {SAMPLE} of {N_TEST} test inputs)"
        )),
        "{out}"
    );
    let l1 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x - y).abs()).sum();
    assert_eq!(
        distance_lines(&out),
        expected(&train, &test, l1, |a, b| a.total_cmp(&b))
    );

    // ip: the inner product of the k-th largest, the unit of an ip radius.
    let out = data_info(
        &dir,
        &train,
        &test,
        &["--distance-sample", &sample, "--metric", "ip"],
    );
    assert!(out.contains("inner product u·v"), "{out}");
    let ip = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
    assert_eq!(
        distance_lines(&out),
        expected(&train, &test, ip, |a, b| b.total_cmp(&a))
    );

    // Deterministic, and none with a sample of 0.
    let again = data_info(&dir, &train, &test, &["--distance-sample", &sample]);
    assert_eq!(
        again,
        data_info(&dir, &train, &test, &["--distance-sample", &sample])
    );
    let none = data_info(&dir, &train, &test, &["--distance-sample", "0"]);
    assert!(!none.contains("neighbour distances"), "{none}");
}
