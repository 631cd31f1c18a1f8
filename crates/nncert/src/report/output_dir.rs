//! An output directory that appears whole or not at all.
//!
//! Files are staged in memory while a run computes. [`OutputDir::commit`] writes them into
//! a fresh sibling directory with an unpredictable name (`.<name>.nncert-XXXXXX.tmp`,
//! created exclusively by the `tempfile` crate, so no file of another user or a planted
//! symlink can be written through), and then swaps that directory in with renames:
//!
//! - no directory of that name yet: one `rename`;
//! - a previous nncert output of that name: on Linux one atomic `renameat2(RENAME_EXCHANGE)`,
//!   elsewhere (or on a filesystem without it) two renames under the same lock; the previous
//!   directory is then deleted **as a whole**, so no stale file of an earlier run (a figure
//!   of a radius not computed this time) survives beside the new results.
//!
//! A directory that exists but does not look like an nncert output (it is not empty and
//! holds neither `report.json` nor `REPRODUCTION.md`) is never replaced: the run is refused
//! before any work (see [`OutputDir::preflight`]).
//!
//! On every error the staging directory is removed (it is a [`tempfile::TempDir`]). A
//! process that is interrupted calls [`remove_pending`] from its signal handler: it removes
//! every staging directory and registered temporary file of the process, and never
//! interleaves with a swap or a file being written (both hold the same lock).

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;

/// Files whose presence marks a directory as an earlier nncert output that may be replaced.
pub(crate) const OUTPUT_MARKERS: [&str; 2] = ["report.json", "REPRODUCTION.md"];

/// Staged outputs for one directory.
#[derive(Debug, Default)]
pub struct OutputDir {
    dir: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl OutputDir {
    /// Stages outputs for `dir` (created or replaced on [`OutputDir::commit`]).
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

    /// Stages `contents` for `relative` (which may contain subdirectories). A later file of
    /// the same name replaces an earlier one.
    pub fn stage(&mut self, relative: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        let relative = relative.into();
        self.files.retain(|(r, _)| *r != relative);
        self.files.push((relative, contents.into()));
    }

    /// Checks, before any heavy work, that `dir` can receive a run's output: it has a name,
    /// it is not a file or a symlink, an existing directory is empty or an earlier nncert
    /// output, and a staging directory can be created beside it. Creates nothing.
    pub fn preflight(dir: &Path) -> Result<(), Error> {
        let target = Target::of(dir)?;
        let existing = target.nearest_existing_ancestor()?;
        tempfile::Builder::new()
            .prefix(".nncert-check-")
            .tempdir_in(&existing)
            .map_err(|e| Error::io(dir, "cannot create the output directory here", e))?;
        Ok(())
    }

    /// Writes every staged file into a staging directory beside the target and swaps it in
    /// (see the module documentation). Returns the final paths of the files.
    pub fn commit(self) -> Result<Vec<PathBuf>, Error> {
        for (relative, _) in &self.files {
            check_relative(relative)?;
        }
        let target = Target::of(&self.dir)?;
        let created = create_parent(&target)?;
        let result = self.write_and_swap(&target);
        if result.is_err() {
            // Leave no empty parent directories behind either.
            for d in created.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
        result
    }

    fn write_and_swap(self, target: &Target) -> Result<Vec<PathBuf>, Error> {
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.nncert-", target.name))
            .suffix(".tmp")
            .tempdir_in(&target.parent)
            .map_err(|e| Error::io(&self.dir, "cannot create the output directory here", e))?;
        let _pending = PendingPath::new(staging.path());
        for (relative, contents) in &self.files {
            let guard = lock_unless_abandoned()?;
            write_new_file(staging.path(), relative, contents)?;
            drop(guard);
        }
        {
            let _guard = lock_unless_abandoned()?;
            swap_in(staging.path(), &self.dir)?;
        }
        // `staging` now names the previous directory (or nothing): dropping it deletes it.
        drop(staging);
        Ok(self
            .files
            .iter()
            .map(|(relative, _)| self.dir.join(relative))
            .collect())
    }
}

/// The target directory split into the parts the swap needs.
struct Target {
    dir: PathBuf,
    parent: PathBuf,
    name: String,
}

impl Target {
    fn of(dir: &Path) -> Result<Target, Error> {
        let name = match dir.components().next_back() {
            Some(Component::Normal(n)) => n.to_string_lossy().into_owned(),
            _ => {
                return Err(Error::invalid(format!(
                    "output directory `{}`: expected a directory name (such as nncert-out), \
                     not `.`, `..` or a root",
                    dir.display()
                )));
            }
        };
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::content(
                    dir,
                    "expected a directory, found a symbolic link (give the directory it points to)",
                ));
            }
            Ok(m) if !m.is_dir() => {
                return Err(Error::content(
                    dir,
                    "expected an output directory, found a file",
                ));
            }
            Ok(_) => check_replaceable(dir)?,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(Error::io(dir, "cannot inspect the output directory", e)),
        }
        Ok(Target {
            dir: dir.to_path_buf(),
            parent,
            name,
        })
    }

    /// The parent if it exists, else its nearest existing ancestor (which must be a
    /// directory).
    fn nearest_existing_ancestor(&self) -> Result<PathBuf, Error> {
        let mut p = self.parent.clone();
        loop {
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => return Ok(p),
                Ok(_) => {
                    return Err(Error::content(
                        &p,
                        format!(
                            "cannot hold the output directory {}: it is a file",
                            self.dir.display()
                        ),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, "cannot inspect", e)),
            }
            match p.parent() {
                Some(q) if !q.as_os_str().is_empty() => p = q.to_path_buf(),
                _ => return Ok(PathBuf::from(".")),
            }
        }
    }
}

/// An existing directory may be replaced only when it is empty or an earlier output.
fn check_replaceable(dir: &Path) -> Result<(), Error> {
    if OUTPUT_MARKERS.iter().any(|m| dir.join(m).is_file()) {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "cannot read the output directory", e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    Err(Error::content(
        dir,
        "exists and is not an nncert output (no report.json or REPRODUCTION.md): refusing to \
         replace it; choose another output directory or remove it",
    ))
}

fn check_relative(relative: &Path) -> Result<(), Error> {
    let ok = !relative.as_os_str().is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "output file `{}`: expected a relative path without `..`",
            relative.display()
        )))
    }
}

/// Creates the target's missing ancestors; returns those it created, outermost first.
fn create_parent(target: &Target) -> Result<Vec<PathBuf>, Error> {
    let mut missing = Vec::new();
    let mut p = target.parent.clone();
    while !p.as_os_str().is_empty() && std::fs::symlink_metadata(&p).is_err() {
        missing.push(p.clone());
        match p.parent() {
            Some(q) => p = q.to_path_buf(),
            None => break,
        }
    }
    missing.reverse();
    for d in &missing {
        if let Err(e) = std::fs::create_dir(d)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            for c in missing.iter().rev() {
                let _ = std::fs::remove_dir(c);
            }
            return Err(Error::io(d, "cannot create directory", e));
        }
    }
    Ok(missing)
}

/// Creates `root/relative` (and its subdirectories below `root`, never `root` itself, so a
/// removed staging directory is never recreated) exclusively, and writes it.
fn write_new_file(root: &Path, relative: &Path, contents: &[u8]) -> Result<(), Error> {
    let mut dir = root.to_path_buf();
    let components: Vec<_> = relative.components().collect();
    for c in &components[..components.len().saturating_sub(1)] {
        dir.push(c);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(Error::io(&dir, "cannot create directory", e)),
        }
    }
    let path = root.join(relative);
    let mut file = std::fs::File::create_new(&path)
        .map_err(|e| Error::io(&path, "cannot create output file", e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&path, "cannot write", e))
}

/// Moves the complete `staging` directory to `dir`; afterwards `staging` names the previous
/// directory, if there was one, or nothing.
fn swap_in(staging: &Path, dir: &Path) -> Result<(), Error> {
    if std::fs::symlink_metadata(dir).is_err() {
        return std::fs::rename(staging, dir)
            .map_err(|e| Error::io(dir, "cannot move the finished output into place", e));
    }
    if exchange(staging, dir)? {
        return Ok(());
    }
    // No atomic exchange here: move the old directory aside onto a fresh empty directory
    // (rename replaces an empty directory), move the new one in, and put the old one where
    // the staging directory was, to be deleted with it.
    let parent = staging.parent().unwrap_or(Path::new("."));
    let aside = tempfile::Builder::new()
        .prefix(".nncert-old-")
        .tempdir_in(parent)
        .map_err(|e| Error::io(dir, "cannot move the previous output aside", e))?;
    std::fs::rename(dir, aside.path())
        .map_err(|e| Error::io(dir, "cannot move the previous output aside", e))?;
    if let Err(e) = std::fs::rename(staging, dir) {
        let _ = std::fs::rename(aside.path(), dir);
        return Err(Error::io(
            dir,
            "cannot move the finished output into place",
            e,
        ));
    }
    // `aside` (the old directory) is deleted when dropped.
    Ok(())
}

/// Atomically exchanges two directories; `Ok(false)` where the system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool, Error> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| Error::invalid(format!("path `{}` contains a NUL byte", p.display())))
    };
    let (ca, cb) = (cstr(a)?, cstr(b)?);
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(Error::io(
            b,
            "cannot move the finished output into place",
            err,
        )),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> Result<bool, Error> {
    Ok(false)
}

/// Temporary paths of this process that an interrupted run must remove, and whether the
/// process is being abandoned.
struct Pending {
    paths: Vec<PathBuf>,
    abandoned: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    paths: Vec::new(),
    abandoned: false,
});

fn lock() -> MutexGuard<'static, Pending> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_unless_abandoned() -> Result<MutexGuard<'static, Pending>, Error> {
    let guard = lock();
    if guard.abandoned {
        return Err(Error::invalid("interrupted"));
    }
    Ok(guard)
}

/// A temporary file or directory that [`remove_pending`] removes if the process is
/// interrupted while this guard lives. Dropping the guard only unregisters the path.
#[derive(Debug)]
pub struct PendingPath {
    path: PathBuf,
}

impl PendingPath {
    /// Registers `path`.
    pub fn new(path: impl Into<PathBuf>) -> PendingPath {
        let path = path.into();
        lock().paths.push(path.clone());
        PendingPath { path }
    }
}

impl Drop for PendingPath {
    fn drop(&mut self) {
        let mut guard = lock();
        if let Some(i) = guard.paths.iter().rposition(|p| *p == self.path) {
            guard.paths.swap_remove(i);
        }
    }
}

/// Removes every registered temporary path and marks the process as abandoned: no output
/// is swapped in and no staged file is written after this returns. For signal handlers,
/// right before the process exits; the lock stays held so that nothing can interleave.
pub fn remove_pending() {
    let mut guard = lock();
    guard.abandoned = true;
    for path in std::mem::take(&mut guard.paths) {
        for _ in 0..3 {
            let gone = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
                Ok(_) => std::fs::remove_file(&path).is_ok(),
                Err(_) => true,
            };
            if gone {
                break;
            }
        }
    }
    // Keep the lock: a writer blocked on it must not resume before the process exits.
    std::mem::forget(guard);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_run_replaces_every_file_of_the_previous_one() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let mut first = OutputDir::new(&out);
        first.stage("report.json", "{}");
        first.stage("figures/rnn_r80.png", "old");
        first.commit().unwrap();
        let mut second = OutputDir::new(&out);
        second.stage("report.json", "{\"new\": 1}");
        second.stage("figures/knn.png", "new");
        second.commit().unwrap();
        assert_eq!(names(&out), ["figures", "report.json"]);
        assert_eq!(names(&out.join("figures")), ["knn.png"]);
        // No staging or old directory is left beside it.
        assert_eq!(names(root.path()), ["out"]);
    }

    #[test]
    fn a_failed_commit_leaves_the_previous_output_and_no_temporary() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let mut first = OutputDir::new(&out);
        first.stage("report.json", "old");
        first.commit().unwrap();
        let mut bad = OutputDir::new(&out);
        bad.stage("report.json", "new");
        bad.stage("../escape", "x");
        assert!(bad.commit().is_err());
        let mut clash = OutputDir::new(&out);
        clash.stage("a", "file");
        clash.stage("a/b", "a file below a file");
        assert!(clash.commit().is_err());
        assert_eq!(
            std::fs::read_to_string(out.join("report.json")).unwrap(),
            "old"
        );
        assert_eq!(names(root.path()), ["out"]);
    }

    #[test]
    fn a_foreign_directory_a_file_or_a_symlink_is_refused_before_any_work() {
        let root = tempfile::tempdir().unwrap();
        let foreign = root.path().join("photos");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("cat.jpg"), "meow").unwrap();
        let e = OutputDir::preflight(&foreign).unwrap_err().to_string();
        assert!(e.contains("not an nncert output"), "{e}");
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = OutputDir::preflight(&file).unwrap_err().to_string();
        assert!(e.contains("found a file"), "{e}");
        let e = OutputDir::preflight(&file.join("below"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("it is a file"), "{e}");
        #[cfg(unix)]
        {
            let link = root.path().join("link");
            std::os::unix::fs::symlink(&foreign, &link).unwrap();
            let e = OutputDir::preflight(&link).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
        }
        assert!(OutputDir::preflight(Path::new(".")).is_err());
        assert!(OutputDir::preflight(&root.path().join("new/deeper")).is_ok());
        assert!(
            !root.path().join("new").exists(),
            "preflight creates nothing"
        );
        assert_eq!(names(&foreign), ["cat.jpg"]);
    }

    #[test]
    fn missing_parents_are_created_and_removed_again_on_failure() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("a/b/out");
        let mut bad = OutputDir::new(&out);
        bad.stage("x", "1");
        bad.stage("x/y", "2");
        assert!(bad.commit().is_err());
        assert!(names(root.path()).is_empty());
        let mut good = OutputDir::new(&out);
        good.stage("x", "1");
        good.commit().unwrap();
        assert_eq!(std::fs::read_to_string(out.join("x")).unwrap(), "1");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_never_written_through() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let out = root.path().join("d");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("report.json"), "{}").unwrap();
        // The old helper wrote through `.curves.csv.<pid>.tmp`.
        let pid = std::process::id();
        std::os::unix::fs::symlink(&victim, out.join(format!(".curves.csv.{pid}.tmp"))).unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join(format!(".d.{pid}.tmp"))).unwrap();
        let mut staged = OutputDir::new(&out);
        staged.stage("curves.csv", "new");
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(out.join("curves.csv")).unwrap(),
            "new"
        );
    }
}
