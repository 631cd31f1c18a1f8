//! Shared helpers of the CLI tests.

use std::path::{Path, PathBuf};

/// The real data directory (MNIST and CIFAR-10 as `nncert fetch` lays them out), through
/// `NNCERT_DATA_DIR`.
///
/// When the variable is set (CI sets it), the data must be there: a missing directory
/// fails the test instead of skipping it. When it is not set, the test is skipped.
#[allow(dead_code)]
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("NNCERT_DATA_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            assert!(
                d.join("mnist").is_dir(),
                "NNCERT_DATA_DIR={} holds no mnist/",
                d.display()
            );
            Some(d)
        }
        None => None,
    }
}

/// A fresh, empty scratch directory under the target directory (`name` must be unique
/// across the CLI test binaries, which share that directory).
#[allow(dead_code)]
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` to `dir/name` and returns the path as a flag value.
#[allow(dead_code)]
pub fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// Runs the `nncert` binary with `args` in `cwd`.
#[allow(dead_code)]
pub fn run_in(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nncert"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the nncert binary runs")
}

/// `dir/name` as text.
#[allow(dead_code)]
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

/// The run was refused as every refusal must be: exit code 2 and one line
/// `nncert: error: …` that contains `needle`; `what` names the case in a failure.
#[allow(dead_code)]
pub fn assert_refused_with(o: &std::process::Output, needle: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {stderr}");
    assert!(stderr.starts_with("nncert: error: "), "{what}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{what}: {stderr:?} should contain {needle:?}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
}

/// The names of the entries of `dir`, sorted (what an output directory holds).
#[allow(dead_code)]
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A small npy dataset as `--train-features …` flags: `n_train` training and `n_test` test
/// points in 2-D with labels 0/1, the two classes `spread` apart on the first axis, each
/// point moved by multiples of `jitter`.
#[allow(dead_code)]
pub fn npy_dataset(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    spread: f32,
    jitter: f32,
) -> Vec<String> {
    use nncert::data::npy::encode;
    let point = |i: usize| {
        [
            (i % 2) as f32 * spread + (i % 7) as f32 * jitter,
            (i % 3) as f32,
        ]
    };
    let trf: Vec<f32> = (0..n_train).flat_map(point).collect();
    let trl: Vec<i64> = (0..n_train).map(|i| (i % 2) as i64).collect();
    let tef: Vec<f32> = (0..n_test).flat_map(|i| point(i + 1)).collect();
    let tel: Vec<i64> = (0..n_test).map(|i| ((i + 1) % 2) as i64).collect();
    vec![
        "--train-features".into(),
        write(dir, "trf.npy", encode(&[n_train, 2], &trf)),
        "--train-labels".into(),
        write(dir, "trl.npy", encode(&[n_train], &trl)),
        "--test-features".into(),
        write(dir, "tef.npy", encode(&[n_test, 2], &tef)),
        "--test-labels".into(),
        write(dir, "tel.npy", encode(&[n_test], &tel)),
    ]
}
