//! A shard job's rows read from `.npy` files without reading the rest of them: a
//! training shard `I/N` and a test block `J/M` of a user dataset (`docs/MEMORY.md`, "A
//! training matrix larger than memory"; `docs/SCALING.md`, "What a job reads").
//!
//! A tie-break rank depends on its row alone (`docs/METHOD.md` §2), and the merge orders
//! ties by (rank, index) directly, so a job hashes its own rows only. It proves which files
//! it read by their XXH3-128 as stored ([`file_identity`]: one sequential pass at memory
//! speed, recorded in the partial's run context and compared by the merge); the SHA-256
//! and MD5 a single run reports are computed once for the whole run, by the merge. Of the
//! feature files, a job parses and checks (finiteness, as the whole-file loader does) the
//! rows of its shard and block only, seeking past the others in a plain file: every row
//! belongs to exactly one job, so the jobs of a run refuse together what a single run
//! refuses. Headers, lengths and both label files are checked whole by every job. Memory:
//! the shard's rows (written straight into the search's layout) and 20 bytes of rank per
//! shard row.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use super::FileRecord;
use super::npy_features::{NpyPaths, file_record, open_dataset, stream_rows, stream_rows_at};
use super::npy_stream::NpyStream;
use super::shard_rows::{FileIdentity, ShardDataset, ShardFiles, shard_ranges};
use crate::error::Error;
use crate::features::FeatureMatrix;
use crate::neighbours::TrainLayout;
use crate::rank::rank;
use crate::shard::ShardSpec;

/// The XXH3-128 of the file at `path` as stored, 32 lowercase hex digits: how shard jobs
/// and their merge prove they read the same files (`docs/SHARD-CHECKS.md`).
pub fn file_identity(path: &Path) -> Result<String, Error> {
    let io = |e| Error::io(path, "cannot read", e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// What tells a file's state without reading it: its length, modification time and (on
/// Unix) device and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    node: Option<(u64, u64)>,
}

fn stamp(path: &Path) -> Result<Stamp, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "cannot read", e))?;
    #[cfg(unix)]
    let node = {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    };
    #[cfg(not(unix))]
    let node = None;
    Ok(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        node,
    })
}

/// Runs `read` on the files of `paths` and refuses its result if any of them changed
/// meanwhile. A job opens each file several times (headers and labels, the identity
/// pass, its rows): a file rewritten in place (`numpy.save` truncates and rewrites it) or
/// replaced (a rename) between two of those could give rows of one content under the
/// identity of another, and the merge, which compares identities, would not see it. The
/// length, modification time and inode are compared before and after; a write within one
/// tick of the file system's clock that keeps the length could still slip through.
fn unchanged_while<T>(
    paths: &NpyPaths,
    read: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    let files = [
        &paths.train_features,
        &paths.train_labels,
        &paths.test_features,
        &paths.test_labels,
    ];
    // A file that cannot be stamped now is left to the read, whose own error (the one a
    // single run gives) comes first; if the read succeeds anyway, it counts as changed.
    let before: Vec<Option<Stamp>> = files.iter().map(|path| stamp(path).ok()).collect();
    let value = read()?;
    for (path, was) in files.iter().zip(&before) {
        if was.is_none() || stamp(path).ok() != *was {
            return Err(Error::content(
                path.as_path(),
                "changed while nncert read it (its length, modification time or inode \
                 differ), so the rows read and the identity recorded may come from \
                 different contents; run again once the file is final",
            ));
        }
    }
    Ok(value)
}

/// The four files of `paths` identified ([`file_identity`]), in the order a single run
/// lists them.
fn identities(paths: &NpyPaths) -> Result<Vec<FileIdentity>, Error> {
    [
        (&paths.train_features, "train-features"),
        (&paths.train_labels, "train-labels"),
        (&paths.test_features, "test-features"),
        (&paths.test_labels, "test-labels"),
    ]
    .into_iter()
    .map(|(path, role)| {
        Ok(FileIdentity {
            role: role.to_string(),
            path: path.display().to_string(),
            xxh3_128: file_identity(path)?,
        })
    })
    .collect()
}

/// Loads training shard `train` and test block `block` of the user dataset `paths`
/// (`n_classes` as [`super::npy_features::load_npy_dataset`]): the same values, labels,
/// tie-break ranks and class count as the whole dataset loaded in memory and cut into
/// those rows; the files identified by [`file_identity`]. A bad header, length or label
/// file is refused as by the whole-file loader, a bad value only in the job's own rows.
pub fn load_npy_shard(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    train: ShardSpec,
    block: ShardSpec,
) -> Result<ShardDataset, Error> {
    unchanged_while(paths, || read_npy_shard(paths, n_classes, train, block))
}

/// [`load_npy_shard`]'s reading, which opens each file several times.
fn read_npy_shard(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    train: ShardSpec,
    block: ShardSpec,
) -> Result<ShardDataset, Error> {
    let o = open_dataset(paths, n_classes)?;
    let (tr, te) = shard_ranges(train, block, o.n_train, o.n_test)?;
    // The headers were checked by open_dataset; the rows are read without the report's
    // checksums, seeking past the other jobs' rows.
    drop((o.train_stream, o.test_stream));
    let files = identities(paths)?;
    let train_labels = o.train_labels[tr.clone()].to_vec();
    // The shard's rows go straight into the layout its search reads.
    let mut layout = TrainLayout::zeroed(&train_labels, o.n_classes, o.dim);
    let mut train_ranks = Vec::with_capacity(tr.len());
    read_rows(
        NpyStream::open_unhashed(&paths.train_features)?,
        &paths.train_features,
        o.dim,
        Keep::Range(tr.clone()),
        |i, record, values| {
            layout.row_mut(i - tr.start).copy_from_slice(values);
            train_ranks.push(rank(o.train_labels[i], record));
        },
    )?;
    let test = read_matrix(
        NpyStream::open_unhashed(&paths.test_features)?,
        &paths.test_features,
        o.dim,
        Keep::Range(te.clone()),
    )?;
    Ok(ShardDataset {
        name: "npy".into(),
        n_classes: o.n_classes,
        files: ShardFiles::Identified(files),
        caveat: None,
        train_spec: train,
        block_spec: block,
        n_train: o.n_train,
        n_test: o.n_test,
        train: layout,
        train_labels,
        train_ranks,
        test,
        test_labels: o.test_labels[te].to_vec(),
    })
}

/// Which rows a pass keeps: a range (a shard), or a sorted list of distinct indices (the
/// rows some pairs name).
enum Keep<'a> {
    Range(Range<usize>),
    Rows(&'a [usize]),
}

impl Keep<'_> {
    fn len(&self) -> usize {
        match self {
            Keep::Range(r) => r.len(),
            Keep::Rows(rows) => rows.len(),
        }
    }

    /// The kept rows as ascending runs of consecutive rows.
    fn runs(&self) -> Vec<Range<usize>> {
        match self {
            Keep::Range(r) => vec![r.clone()],
            Keep::Rows(rows) => {
                let mut runs: Vec<Range<usize>> = Vec::new();
                for &i in rows.iter() {
                    match runs.last_mut() {
                        Some(run) if run.end == i => run.end += 1,
                        _ => runs.push(i..i + 1),
                    }
                }
                runs
            }
        }
    }
}

/// Reads the rows `keep` says of `stream` (opened without checksums, at its first data
/// byte), handing each one's global index, record (little-endian bytes as stored) and
/// f32 values to `put`, in file order, and skipping the others (a seek in a plain file).
/// Kept rows are checked as the whole-file loader checks every row.
fn read_rows(
    mut stream: NpyStream,
    path: &Path,
    dim: usize,
    keep: Keep<'_>,
    mut put: impl FnMut(usize, &[u8], &[f32]) + Send,
) -> Result<(), Error> {
    let n = stream.header().shape.first().copied().unwrap_or(0);
    let record_len = dim * stream.header().dtype.size();
    let mut at = 0;
    for run in keep.runs() {
        if run.end > n || run.start < at {
            return Err(Error::invalid(format!(
                "{}: rows {}..{} asked of {n}",
                path.display(),
                run.start,
                run.end
            )));
        }
        stream.skip_data((run.start - at) * record_len)?;
        stream_rows_at(&mut stream, path, run.clone(), dim, &mut put)?;
        at = run.end;
    }
    stream.finish_unhashed()
}

/// [`read_rows`] into a row-major matrix of the kept rows.
fn read_matrix(
    stream: NpyStream,
    path: &Path,
    dim: usize,
    keep: Keep<'_>,
) -> Result<FeatureMatrix, Error> {
    let mut data = Vec::with_capacity(if stream.length_checked() {
        keep.len() * dim
    } else {
        0
    });
    read_rows(stream, path, dim, keep, |_, _, values| {
        data.extend_from_slice(values)
    })?;
    Ok(FeatureMatrix {
        n: data.len() / dim.max(1),
        dim,
        data,
    })
}

/// The rows of a user dataset that some (test row, training row) pairs name, read from the
/// `.npy` files without reading the others (`nncert merge`'s exact keys,
/// `docs/MEMORY.md`), with the identity of the whole dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedRows {
    /// Number of classes of the whole dataset.
    pub n_classes: usize,
    /// Every file, identified as shard jobs identify them ([`file_identity`]).
    pub files: Vec<FileIdentity>,
    /// The training rows named, in index order (`train_index`).
    pub train: FeatureMatrix,
    /// Their indices in the whole training set, ascending.
    pub train_index: Vec<usize>,
    /// The test rows named, in index order (`test_index`).
    pub test: FeatureMatrix,
    /// Their indices in the whole test set, ascending.
    pub test_index: Vec<usize>,
}

/// Reads the rows of `paths` that `pairs` (global test row, global training row) name;
/// a pair outside the dataset is an error naming it. Headers and labels are checked as
/// by [`load_npy_shard`], the named rows as every row of a whole load; the others are
/// skipped.
pub fn load_npy_named_rows(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    pairs: &[(usize, u32)],
) -> Result<NamedRows, Error> {
    unchanged_while(paths, || read_npy_named_rows(paths, n_classes, pairs))
}

/// [`load_npy_named_rows`]'s reading.
fn read_npy_named_rows(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    pairs: &[(usize, u32)],
) -> Result<NamedRows, Error> {
    let o = open_dataset(paths, n_classes)?;
    if let Some(&(q, j)) = pairs
        .iter()
        .find(|&&(q, j)| q >= o.n_test || j as usize >= o.n_train)
    {
        return Err(Error::invalid(format!(
            "exact keys: pair (test row {q}, training row {j}) is outside the dataset ({} test, {} training rows)",
            o.n_test, o.n_train
        )));
    }
    drop((o.train_stream, o.test_stream));
    let files = identities(paths)?;
    let sorted = |mut v: Vec<usize>| {
        v.sort_unstable();
        v.dedup();
        v
    };
    let train_index = sorted(pairs.iter().map(|&(_, j)| j as usize).collect());
    let test_index = sorted(pairs.iter().map(|&(q, _)| q).collect());
    let train = read_matrix(
        NpyStream::open_unhashed(&paths.train_features)?,
        &paths.train_features,
        o.dim,
        Keep::Rows(&train_index),
    )?;
    let test = read_matrix(
        NpyStream::open_unhashed(&paths.test_features)?,
        &paths.test_features,
        o.dim,
        Keep::Rows(&test_index),
    )?;
    Ok(NamedRows {
        n_classes: o.n_classes,
        files,
        train,
        train_index,
        test,
        test_index,
    })
}

/// The files of a user dataset as a single run reports them (SHA-256 of the content, MD5
/// as stored; every value of the feature files parsed and checked) and as shard jobs
/// identify them ([`file_identity`]): what `nncert merge` records once for a sharded run,
/// after comparing the identities with the partials'.
pub fn npy_file_records(
    paths: &NpyPaths,
    n_classes: Option<usize>,
) -> Result<(Vec<FileRecord>, Vec<FileIdentity>, usize), Error> {
    unchanged_while(paths, || read_npy_file_records(paths, n_classes))
}

/// [`npy_file_records`]'s reading.
fn read_npy_file_records(
    paths: &NpyPaths,
    n_classes: Option<usize>,
) -> Result<(Vec<FileRecord>, Vec<FileIdentity>, usize), Error> {
    let o = open_dataset(paths, n_classes)?;
    let mut sums = Vec::with_capacity(2);
    for (mut stream, path) in [
        (o.train_stream, &paths.train_features),
        (o.test_stream, &paths.test_features),
    ] {
        let n = stream.header().shape[0];
        stream_rows(&mut stream, path, n, o.dim, |_, _, _| {})?;
        sums.push(stream.finish()?);
    }
    let test_sums = sums.pop().expect("two files");
    let train_sums = sums.pop().expect("two files");
    let records = vec![
        file_record(&paths.train_features, "train-features", train_sums),
        o.label_records.0,
        file_record(&paths.test_features, "test-features", test_sums),
        o.label_records.1,
    ];
    Ok((records, identities(paths)?, o.n_classes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn paths_in(dir: &Path) -> NpyPaths {
        let file = |name: &str| {
            let path = dir.join(name);
            std::fs::write(&path, name).unwrap();
            path
        };
        NpyPaths {
            train_features: file("a"),
            train_labels: file("b"),
            test_features: file("c"),
            test_labels: file("d"),
        }
    }

    /// A file appended to, or replaced by a rename, while a job reads is refused naming it;
    /// untouched files pass the read's result through.
    #[test]
    fn a_file_changed_during_the_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_in(dir.path());
        assert_eq!(unchanged_while(&paths, || Ok(7)).unwrap(), 7);
        let appended = unchanged_while(&paths, || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&paths.test_features)
                .unwrap();
            f.write_all(b"x").unwrap();
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(
            appended.contains("c: changed while nncert read it"),
            "{appended}"
        );
        let replaced = unchanged_while(&paths, || {
            // Same length, new inode: what `mv new.npy train.npy` does.
            let other: PathBuf = dir.path().join("a.new");
            std::fs::write(&other, "a").unwrap();
            std::fs::rename(&other, &paths.train_features).unwrap();
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(
            replaced.contains("a: changed while nncert read it"),
            "{replaced}"
        );
        // The read's own error comes first, also when a file is missing (as a single run
        // would report it); a file deleted during a read that succeeded is a change.
        let failed = unchanged_while(&paths, || -> Result<(), Error> {
            Err(Error::invalid("the read failed"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "the read failed");
        std::fs::remove_file(&paths.test_labels).unwrap();
        let failed = unchanged_while(&paths, || -> Result<(), Error> {
            Err(Error::invalid("the read failed"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "the read failed");
        std::fs::write(&paths.test_labels, "d").unwrap();
        let deleted = unchanged_while(&paths, || {
            std::fs::remove_file(&paths.test_labels).unwrap();
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(
            deleted.contains("d: changed while nncert read it"),
            "{deleted}"
        );
    }
}
