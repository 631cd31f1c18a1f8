//! An output directory that receives its files all at once.
//!
//! Files are staged in memory and written only when the whole run has succeeded; each is
//! written to a temporary name in the same directory and renamed, so a crash or an error
//! never leaves a half-written `curves.csv` that looks like a result.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Staged outputs for one directory.
#[derive(Debug, Default)]
pub struct OutputDir {
    dir: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl OutputDir {
    /// Stages outputs for `dir` (created on [`OutputDir::commit`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OutputDir {
            dir: dir.into(),
            files: Vec::new(),
        }
    }

    /// The target directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stages `contents` for `relative` (which may contain subdirectories).
    pub fn stage(&mut self, relative: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.files.push((relative.into(), contents.into()));
    }

    /// Writes every staged file: temp file + rename, in staging order.
    pub fn commit(self) -> Result<Vec<PathBuf>, Error> {
        let mut written = Vec::with_capacity(self.files.len());
        for (relative, contents) in self.files {
            let target = self.dir.join(&relative);
            let parent = target.parent().unwrap_or(&self.dir).to_path_buf();
            std::fs::create_dir_all(&parent)
                .map_err(|e| Error::io(&parent, "cannot create directory", e))?;
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
            std::fs::write(&temp, &contents).map_err(|e| Error::io(&temp, "cannot write", e))?;
            std::fs::rename(&temp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                Error::io(&target, "cannot write", e)
            })?;
            written.push(target);
        }
        Ok(written)
    }
}
