//! Shared helpers of the CLI tests.

use std::path::PathBuf;

/// The real data directory (MNIST and CIFAR-10 as `nncert fetch` lays them out), through
/// `NNCERT_DATA_DIR`.
///
/// When the variable is set (CI sets it), the data must be there: a missing directory
/// fails the test instead of skipping it. When it is not set, the test is skipped.
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
