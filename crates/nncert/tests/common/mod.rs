//! Shared helpers of the integration tests.

use std::path::PathBuf;

/// The real data directory (MNIST and CIFAR-10 as `nncert fetch` lays them out), through
/// `NNCERT_DATA_DIR`.
///
/// When the variable is set (CI sets it), the data must be there: a missing directory
/// fails the test instead of skipping it. When it is not set, the test is skipped with a
/// note.
#[allow(dead_code)]
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("NNCERT_DATA_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("mnist").is_dir(),
                "NNCERT_DATA_DIR={} is set but holds no mnist/ directory",
                dir.display()
            );
            Some(dir)
        }
        None => {
            eprintln!("skipping: NNCERT_DATA_DIR is not set");
            None
        }
    }
}
