//! The library's layering (issue 11): `experiment` computes and `report` writes, so
//! `report` may use `experiment` but never the reverse, and `attack` reaches neither up
//! into `experiment` nor into `report`. Checked on the source text, so that a new import
//! that closes a cycle fails here rather than in review.

use std::path::{Path, PathBuf};

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .flat_map(|entry| sources(&entry.expect("directory entry").path()))
        .collect();
    files.sort();
    files
}

/// Every `crate::<module>` that `path` (a file or a module directory) names.
fn uses(path: &str, module: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(path);
    let needle = format!("crate::{module}");
    sources(&root)
        .into_iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(&file).expect("source file");
            text.lines()
                .enumerate()
                .filter(|(_, line)| line.contains(&needle))
                .map(|(i, line)| format!("{}:{}: {}", file.display(), i + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn experiment_does_not_use_report() {
    assert_eq!(uses("experiment.rs", "report"), Vec::<String>::new());
}

#[test]
fn attack_does_not_reach_up() {
    for module in ["experiment", "report", "paper", "index"] {
        assert_eq!(uses("attack", module), Vec::<String>::new(), "{module}");
    }
}

#[test]
fn the_check_sees_imports() {
    // The check itself must be able to fail: report does use experiment.
    assert!(!uses("report", "experiment").is_empty());
}
