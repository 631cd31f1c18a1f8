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
//! A directory that exists is replaced only when it is empty or provably an earlier nncert
//! output: every entry is a name nncert writes ([`OUTPUT_FILES`], [`OUTPUT_FILE_PATTERNS`],
//! the subdirectories `figures/` and `demo-input/`, or a subdirectory that is itself an
//! nncert output, as `reproduce` writes one per dataset) and a `report.json` that nncert
//! wrote (it carries `nncert_version`) is present at the top or in such a subdirectory.
//! Anything else (a file named `report.json` or `REPRODUCTION.md` among a user's files) is
//! never replaced: the run is refused before any work (see [`OutputDir::preflight`]).
//!
//! On every error the staging directory is removed (it is a [`tempfile::TempDir`]). A
//! process that is interrupted calls [`remove_pending`] from its signal handler: it removes
//! every staging directory and registered temporary file of the process, and never
//! interleaves with a swap or a file being written (both hold the same lock).

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;

/// Every file name some nncert command writes at the top of its output directory (the
/// union over the commands and the Python `save`; see each command's writer). A directory
/// holding any other name is not replaced.
pub(crate) const OUTPUT_FILES: [&str; 13] = [
    "report.json",
    "REPRODUCTION.md",
    "curves.csv",
    "examples.csv",
    "attack.csv",
    "attack_sets.csv",
    "attack_poison.csv",
    "backdoor.csv",
    "partial.nncert",
    "train_features.npy",
    "train_labels.npy",
    "test_features.npy",
    "test_labels.npy",
];

/// `(prefix, suffix)` of the file names that carry a setting: `knn_k5.npy`,
/// `rnn_r2.5_offsets.npy`, … (see `report::votes_files`).
pub(crate) const OUTPUT_FILE_PATTERNS: [(&str, &str); 2] = [("knn_k", ".npy"), ("rnn_r", ".npy")];

/// Subdirectories nncert writes, with the `(prefix, suffix)` patterns of their files.
const OUTPUT_SUBDIRS: [(&str, &[(&str, &str)]); 2] = [
    ("figures", &[("", ".png"), ("", ".svg")]),
    ("demo-input", &[("votes.npy", ""), ("labels.npy", "")]),
];

/// How deep `reproduce` nests outputs (one directory per dataset).
const MAX_NESTED_OUTPUTS: usize = 1;

/// Writes one staged file's bytes into the file being written.
type WriteFn = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>;

/// A staged file's contents: bytes, or a function that writes them when the directory is
/// committed (for files that grow with a parameter, such as `curves.csv` with `--max-e`).
enum Contents {
    Bytes(Vec<u8>),
    Streamed(WriteFn),
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contents::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Contents::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// Staged outputs for one directory.
#[derive(Debug, Default)]
pub struct OutputDir {
    dir: PathBuf,
    files: Vec<(PathBuf, Contents)>,
}

impl OutputDir {
    /// Stages outputs for `dir` (created or replaced on [`OutputDir::commit`]). `dir` is
    /// normalised (`out/.` and `out/` name `out`), as in [`OutputDir::preflight`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OutputDir {
            dir: normalise(&dir.into()),
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
        self.stage_contents(relative.into(), Contents::Bytes(contents.into()));
    }

    /// Stages a file whose bytes `write` produces when the directory is committed, written
    /// through a buffer straight into the file: for outputs too large to hold in memory
    /// (`curves.csv` with a large `--max-e`). An error of `write` fails the commit, naming
    /// the file under the target directory.
    pub fn stage_with(
        &mut self,
        relative: impl Into<PathBuf>,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static,
    ) {
        self.stage_contents(relative.into(), Contents::Streamed(Box::new(write)));
    }

    fn stage_contents(&mut self, relative: PathBuf, contents: Contents) {
        self.files.retain(|(r, _)| *r != relative);
        self.files.push((relative, contents));
    }

    /// Checks, before any heavy work, that `dir` can receive a run's output: it has a name,
    /// it is not a file or a symlink, an existing directory is empty or an earlier nncert
    /// output, it neither is nor contains one of the run's `inputs` (replacing it would
    /// delete them), and a staging directory of the very name [`OutputDir::commit`] uses
    /// can be created beside it (so a name too long for the filesystem fails here, not
    /// after the run). Creates nothing.
    pub fn preflight(dir: &Path, inputs: &[&Path]) -> Result<(), Error> {
        let dir = &normalise(dir);
        check_not_over_inputs(dir, inputs)?;
        let target = Target::of(dir)?;
        let existing = target.nearest_existing_ancestor()?;
        staging_dir_in(&target.name, &existing)
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
        let staging = staging_dir_in(&target.name, &target.parent)
            .map_err(|e| Error::io(&self.dir, "cannot create the output directory here", e))?;
        let _pending = PendingPath::new(staging.path());
        let mut written = Vec::with_capacity(self.files.len());
        for (relative, contents) in self.files {
            let guard = lock_unless_abandoned()?;
            write_new_file(staging.path(), &relative, contents, &self.dir)?;
            drop(guard);
            written.push(self.dir.join(relative));
        }
        {
            let _guard = lock_unless_abandoned()?;
            swap_in(staging.path(), &self.dir)?;
        }
        // `staging` now names the previous directory (or nothing): dropping it deletes it.
        drop(staging);
        Ok(written)
    }
}

/// `dir` rebuilt from its components: `out/.` and `out/` become `out`, so that the name
/// checked and the name swapped in are the same (a rename onto `out/.` fails).
fn normalise(dir: &Path) -> PathBuf {
    dir.components().collect()
}

/// Creates the staging directory of an output named `name` in `parent`:
/// `.<name>.nncert-XXXXXX.tmp` (the preflight creates and removes one of the same name
/// length).
fn staging_dir_in(name: &str, parent: &Path) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}.nncert-"))
        .suffix(".tmp")
        .tempdir_in(parent)
}

/// Refuses an output directory that is, or contains, one of the run's inputs: replacing
/// it would delete them. Both are compared resolved (symlinks, `..`); an input that does
/// not exist is left for its loader to report.
fn check_not_over_inputs(dir: &Path, inputs: &[&Path]) -> Result<(), Error> {
    if inputs.is_empty() {
        return Ok(());
    }
    let out = resolve(dir)?;
    for input in inputs {
        let Ok(resolved) = std::fs::canonicalize(input) else {
            continue;
        };
        if resolved.starts_with(&out) {
            return Err(Error::invalid(format!(
                "output directory `{}`: it is or contains the input `{}`, which replacing it \
                 would delete; choose another output directory",
                dir.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// `dir` as an absolute path with symlinks resolved, for a directory that may not exist
/// yet: its nearest existing ancestor canonicalised, the rest appended (`..` applied).
fn resolve(dir: &Path) -> Result<PathBuf, Error> {
    let absolute = std::path::absolute(dir)
        .map_err(|e| Error::io(dir, "cannot resolve the output directory", e))?;
    let parts: Vec<Component<'_>> = absolute.components().collect();
    for cut in (1..=parts.len()).rev() {
        let head: PathBuf = parts[..cut].iter().collect();
        if let Ok(mut base) = std::fs::canonicalize(&head) {
            for part in &parts[cut..] {
                match part {
                    Component::ParentDir => {
                        base.pop();
                    }
                    Component::Normal(name) => base.push(name),
                    _ => {}
                }
            }
            return Ok(base);
        }
    }
    Ok(absolute)
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

/// An existing directory may be replaced only when it is empty or provably an earlier
/// output (see the module documentation).
fn check_replaceable(dir: &Path) -> Result<(), Error> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, "cannot read the output directory", e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    match earlier_output(dir, MAX_NESTED_OUTPUTS) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::content(
            dir,
            "exists and is not an nncert output (it holds files nncert does not write, or no \
             report.json of nncert): refusing to replace it; choose another output directory \
             or remove it",
        )),
        Err(e) => Err(Error::io(dir, "cannot read the output directory", e)),
    }
}

/// Whether `dir` holds only names nncert writes and at least one `report.json` nncert wrote
/// (at the top, or in a nested output at most `depth` levels down).
fn earlier_output(dir: &Path, depth: usize) -> std::io::Result<bool> {
    let mut proven = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Ok(false);
        };
        let kind = entry.file_type()?;
        if kind.is_file() {
            if !is_output_file(name) {
                return Ok(false);
            }
            if name == "report.json" {
                if !written_by_nncert(&entry.path()) {
                    return Ok(false);
                }
                proven = true;
            }
        } else if kind.is_dir() {
            if let Some((_, patterns)) = OUTPUT_SUBDIRS.iter().find(|(d, _)| *d == name) {
                if !only_files_matching(&entry.path(), patterns)? {
                    return Ok(false);
                }
            } else if depth == 0 || !earlier_output(&entry.path(), depth - 1)? {
                return Ok(false);
            } else {
                proven = true;
            }
        } else {
            // A symlink, FIFO, socket or device: nncert never writes one.
            return Ok(false);
        }
    }
    Ok(proven)
}

fn is_output_file(name: &str) -> bool {
    OUTPUT_FILES.contains(&name) || matches_any(name, &OUTPUT_FILE_PATTERNS)
}

fn matches_any(name: &str, patterns: &[(&str, &str)]) -> bool {
    patterns.iter().any(|(prefix, suffix)| {
        name.len() >= prefix.len() + suffix.len()
            && name.starts_with(prefix)
            && name.ends_with(suffix)
    })
}

/// Whether `dir` holds only regular files whose names match `patterns`.
fn only_files_matching(dir: &Path, patterns: &[(&str, &str)]) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ok = entry.file_type()?.is_file()
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| matches_any(n, patterns));
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `path` is a JSON object with the `nncert_version` field every nncert report
/// starts with. Streamed: other fields are skipped without being kept in memory.
fn written_by_nncert(path: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Report {
        #[serde(rename = "nncert_version")]
        _version: String,
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    serde_json::from_reader::<_, Report>(std::io::BufReader::new(file)).is_ok()
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
/// removed staging directory is never recreated) exclusively, and writes it. Errors name
/// the file as the user will find it, `shown/relative`, not the hidden staging path.
fn write_new_file(
    root: &Path,
    relative: &Path,
    contents: Contents,
    shown: &Path,
) -> Result<(), Error> {
    let mut dir = root.to_path_buf();
    let mut shown_dir = shown.to_path_buf();
    let components: Vec<_> = relative.components().collect();
    for c in &components[..components.len().saturating_sub(1)] {
        dir.push(c);
        shown_dir.push(c);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(Error::io(&shown_dir, "cannot create directory", e)),
        }
    }
    let path = root.join(relative);
    let shown_path = shown.join(relative);
    let mut file = std::fs::File::create_new(&path)
        .map_err(|e| Error::io(&shown_path, "cannot create output file", e))?;
    match contents {
        Contents::Bytes(bytes) => file.write_all(&bytes),
        Contents::Streamed(write) => write(&mut file),
    }
    .and_then(|()| file.sync_all())
    .map_err(|e| Error::io(&shown_path, "cannot write", e))
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

    /// The start of a report nncert writes.
    const REPORT: &str = "{\"nncert_version\": \"0.1.0\", \"command\": \"certify\"}\n";

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
        first.stage("report.json", REPORT);
        first.stage("figures/rnn_r80.png", "old");
        first.commit().unwrap();
        let mut second = OutputDir::new(&out);
        second.stage("report.json", REPORT);
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
        first.stage("report.json", REPORT);
        first.commit().unwrap();
        let mut bad = OutputDir::new(&out);
        bad.stage("report.json", "new");
        bad.stage("../escape", "x");
        assert!(bad.commit().is_err());
        let mut clash = OutputDir::new(&out);
        clash.stage("a", "file");
        clash.stage("a/b", "a file below a file");
        // The error names the file as the user knows it, not the hidden staging path
        // (audit finding 13: a full disk named `.out.nncert-XXXXXX.tmp/examples.csv`).
        let e = clash.commit().unwrap_err().to_string();
        assert!(e.contains(&out.join("a").display().to_string()), "{e}");
        assert!(!e.contains(".nncert-"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("report.json")).unwrap(),
            REPORT
        );
        assert_eq!(names(root.path()), ["out"]);
    }

    /// Audit finding 13: a full disk while a file is written is reported as
    /// `out/examples.csv: cannot write: No space left on device` (the user's `--out`, and
    /// the file), never the hidden staging path; nothing is left behind. The error is
    /// injected by a streamed file (the write of `curves.csv` goes the same way).
    #[test]
    fn a_full_disk_names_the_output_and_the_file() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let mut full = OutputDir::new(&out);
        full.stage("report.json", REPORT);
        full.stage_with("examples.csv", |w| {
            w.write_all(b"method,param\n")?;
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        });
        let error = full.commit().unwrap_err();
        // The line the CLI prints: the error and its source (`{:#}` of anyhow).
        let source = std::error::Error::source(&error).map(ToString::to_string);
        let e = format!("{error}: {}", source.unwrap_or_default());
        let file = out.join("examples.csv").display().to_string();
        assert!(
            e.starts_with(&format!("{file}: cannot write: No space left on device")),
            "{e}"
        );
        assert!(!e.contains(".nncert-") && !e.contains('\n'), "{e}");
        assert!(names(root.path()).is_empty());
    }

    #[test]
    fn a_foreign_directory_a_file_or_a_symlink_is_refused_before_any_work() {
        let root = tempfile::tempdir().unwrap();
        let foreign = root.path().join("photos");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("cat.jpg"), "meow").unwrap();
        let e = OutputDir::preflight(&foreign, &[]).unwrap_err().to_string();
        assert!(e.contains("not an nncert output"), "{e}");
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = OutputDir::preflight(&file, &[]).unwrap_err().to_string();
        assert!(e.contains("found a file"), "{e}");
        let e = OutputDir::preflight(&file.join("below"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("it is a file"), "{e}");
        #[cfg(unix)]
        {
            let link = root.path().join("link");
            std::os::unix::fs::symlink(&foreign, &link).unwrap();
            let e = OutputDir::preflight(&link, &[]).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
        }
        assert!(OutputDir::preflight(Path::new("."), &[]).is_err());
        assert!(OutputDir::preflight(&root.path().join("new/deeper"), &[]).is_ok());
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
        std::fs::write(out.join("report.json"), REPORT).unwrap();
        // The old helper wrote through `.curves.csv.<pid>.tmp`.
        let pid = std::process::id();
        let inside = out.join(format!(".curves.csv.{pid}.tmp"));
        std::os::unix::fs::symlink(&victim, &inside).unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join(format!(".d.{pid}.tmp"))).unwrap();
        let mut staged = OutputDir::new(&out);
        staged.stage("curves.csv", "new");
        // A symlink is no file nncert writes: the directory is not replaced at all.
        let e = staged.commit().unwrap_err().to_string();
        assert!(e.contains("not an nncert output"), "{e}");
        std::fs::remove_file(&inside).unwrap();
        let mut staged = OutputDir::new(&out);
        staged.stage("curves.csv", "new");
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(out.join("curves.csv")).unwrap(),
            "new"
        );
    }

    /// Audit finding 5: a user's directory that merely holds a file named `report.json` or
    /// `REPRODUCTION.md` was wiped.
    #[test]
    fn only_a_provable_earlier_output_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        let refused = |dir: &Path| {
            let e = OutputDir::preflight(dir, &[]).unwrap_err().to_string();
            assert!(e.contains("not an nncert output"), "{e}");
        };
        let proj = root.path().join("proj");
        std::fs::create_dir_all(proj.join("src")).unwrap();
        std::fs::write(proj.join("thesis.tex"), "x").unwrap();
        std::fs::write(proj.join("src/main.py"), "y").unwrap();
        std::fs::write(proj.join("REPRODUCTION.md"), "# notes").unwrap();
        refused(&proj);
        std::fs::write(proj.join("report.json"), REPORT).unwrap();
        refused(&proj);
        // Only names nncert writes, but report.json is not nncert's (or absent).
        let cfg = root.path().join("cfg");
        std::fs::create_dir(&cfg).unwrap();
        std::fs::write(cfg.join("report.json"), "{\"my\": \"config\"}").unwrap();
        refused(&cfg);
        std::fs::write(cfg.join("report.json"), "not json").unwrap();
        refused(&cfg);
        let notes = root.path().join("notes");
        std::fs::create_dir(&notes).unwrap();
        std::fs::write(notes.join("REPRODUCTION.md"), "# notes").unwrap();
        refused(&notes);
        // A foreign file inside figures/ or a foreign subdirectory.
        let figs = root.path().join("figs");
        std::fs::create_dir_all(figs.join("figures")).unwrap();
        std::fs::write(figs.join("report.json"), REPORT).unwrap();
        std::fs::write(figs.join("figures/knn.png"), "png").unwrap();
        assert!(OutputDir::preflight(&figs, &[]).is_ok());
        std::fs::write(figs.join("figures/draft.tex"), "x").unwrap();
        refused(&figs);
        // Every shape nncert writes is replaceable: votes with neighbour lists, a partial,
        // reproduce (one nested output per dataset), demo, an empty directory.
        let votes = root.path().join("votes");
        std::fs::create_dir(&votes).unwrap();
        for f in [
            "knn_k5.npy",
            "rnn_r2.5.npy",
            "rnn_r2.5_offsets.npy",
            "test_labels.npy",
        ] {
            std::fs::write(votes.join(f), "npy").unwrap();
        }
        std::fs::write(votes.join("report.json"), REPORT).unwrap();
        assert!(OutputDir::preflight(&votes, &[]).is_ok());
        let repro = root.path().join("repro");
        std::fs::create_dir_all(repro.join("mnist/figures")).unwrap();
        std::fs::write(repro.join("REPRODUCTION.md"), "# Reproduction").unwrap();
        std::fs::write(repro.join("mnist/report.json"), REPORT).unwrap();
        std::fs::write(repro.join("mnist/curves.csv"), "e").unwrap();
        std::fs::write(repro.join("mnist/figures/rnn.svg"), "svg").unwrap();
        assert!(OutputDir::preflight(&repro, &[]).is_ok());
        std::fs::write(repro.join("mnist/figures/notes.txt"), "x").unwrap();
        refused(&repro);
        let demo = root.path().join("demo");
        std::fs::create_dir_all(demo.join("demo-input")).unwrap();
        std::fs::write(demo.join("demo-input/votes.npy"), "npy").unwrap();
        std::fs::write(demo.join("report.json"), REPORT).unwrap();
        assert!(OutputDir::preflight(&demo, &[]).is_ok());
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(OutputDir::preflight(&empty, &[]).is_ok());
        // Nothing was touched.
        assert_eq!(
            names(&proj),
            ["REPRODUCTION.md", "report.json", "src", "thesis.tex"]
        );
    }

    /// Audit finding 4: `certify-votes --votes vv/rnn_r2.npy … --out vv` replaced `vv`,
    /// deleting its own inputs.
    #[test]
    fn an_output_over_an_input_is_refused_before_any_work() {
        let root = tempfile::tempdir().unwrap();
        let vv = root.path().join("vv");
        std::fs::create_dir(&vv).unwrap();
        std::fs::write(vv.join("report.json"), REPORT).unwrap();
        let votes = vv.join("rnn_r2.npy");
        std::fs::write(&votes, "npy").unwrap();
        let other = root.path().join("labels.npy");
        std::fs::write(&other, "npy").unwrap();
        let e = OutputDir::preflight(&vv, &[&other, &votes])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is or contains the input") && e.contains("rnn_r2.npy"),
            "{e}"
        );
        // The same directory named another way, and an input that is the directory.
        let dotted = root.path().join("x/../vv/.");
        assert!(OutputDir::preflight(&dotted, &[&votes]).is_err());
        assert!(OutputDir::preflight(&root.path().join("vv/"), &[&vv]).is_err());
        #[cfg(unix)]
        {
            let link = root.path().join("link.npy");
            std::os::unix::fs::symlink(&votes, &link).unwrap();
            assert!(OutputDir::preflight(&vv, &[&link]).is_err());
        }
        // An input beside the output, or a missing one, is no objection.
        assert!(OutputDir::preflight(&vv, &[&other]).is_ok());
        assert!(OutputDir::preflight(&vv, &[&root.path().join("missing.npy")]).is_ok());
        let vv2 = root.path().join("vv2");
        assert!(OutputDir::preflight(&vv2, &[&other, &votes]).is_ok());
        assert_eq!(names(&vv), ["report.json", "rnn_r2.npy"]);
    }

    /// Audit finding 6: `--out e0/.` passed the preflight and failed after the run (a rename
    /// onto `e0/.`), and so did a name whose staging name is too long.
    #[test]
    fn the_checked_name_is_the_committed_name() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("e0");
        let mut first = OutputDir::new(&out);
        first.stage("report.json", REPORT);
        first.commit().unwrap();
        let dotted = root.path().join("e0/.");
        OutputDir::preflight(&dotted, &[]).unwrap();
        let mut second = OutputDir::new(&dotted);
        second.stage("report.json", REPORT);
        second.stage("curves.csv", "new");
        second.commit().unwrap();
        assert_eq!(names(&out), ["curves.csv", "report.json"]);
        assert_eq!(names(root.path()), ["e0"]);
        // 245 bytes fit a file name (255) but not `.<name>.nncert-XXXXXX.tmp`.
        let long = root.path().join("a".repeat(245));
        let e = OutputDir::preflight(&long, &[]).unwrap_err().to_string();
        assert!(e.contains("cannot create the output directory here"), "{e}");
    }
}
