//! User data: feature matrices and labels as `.npy` files, for train and test.
//!
//! The feature files are streamed ([`NpyStream`]): labels first, then every row straight
//! into its final place — row-major `records` and `features`, or, for the search, the
//! training rows into the search's own layout and the test rows as f32 values only, with
//! the records as stored kept only where the values cannot give them back (float64;
//! `docs/MEMORY.md`).

use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::DataError;
use super::dataset::{Content, Dataset, FileRecord, Split, max_classes};
use super::npy::{DType, NpyArray, NpyError};
use super::npy_stream::{Checksums, NpyStream};
use super::source::read_source;
use crate::error::Error;
use crate::neighbours::TrainLayout;

/// The four files of a user dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyPaths {
    /// 2-D float32/float64/uint8, `(n_train, d)`.
    pub train_features: PathBuf,
    /// 1-D integer, length `n_train`.
    pub train_labels: PathBuf,
    /// 2-D, `(n_test, d)`, same dtype family and `d`.
    pub test_features: PathBuf,
    /// 1-D integer, length `n_test`.
    pub test_labels: PathBuf,
}

fn npy_err(path: &Path) -> impl Fn(super::npy::NpyError) -> Error + '_ {
    move |problem| Error::Npy {
        path: path.to_path_buf(),
        problem,
    }
}

fn data_err(path: &Path, problem: DataError) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        problem,
    }
}

struct Loaded {
    array: NpyArray,
    record: FileRecord,
}

fn load(path: &Path, role: &str) -> Result<Loaded, Error> {
    // Through read_source so that a gzipped .npy works too and checksums are recorded.
    let source = read_source(path)?;
    let array = NpyArray::parse(&source.bytes).map_err(npy_err(path))?;
    let record = FileRecord {
        role: role.to_string(),
        path: path.display().to_string(),
        sha256: source.sha256(),
        stored_md5: source.stored_md5.clone(),
        canonical: None,
    };
    Ok(Loaded { array, record })
}

/// Where a loader puts the training features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainInto {
    /// `records` (the bytes as stored) and `features` (f32), row-major: what every
    /// consumer of a [`Dataset`] can read.
    Rows,
    /// For the search: the training rows straight into the search's [`TrainLayout`], the
    /// only copy of their values (`Split::layout`), the test rows as f32 values
    /// (`Split::features`); records as stored are kept only for float64, whose f32 values
    /// cannot give them back (the tie-break rank hashes them). Every dtype, plain or
    /// gzip-compressed.
    SearchLayout,
}

/// A feature file opened and its header checked: a 2-D array of a feature dtype with at
/// least one row and one column.
fn open_features(path: &Path) -> Result<(NpyStream, usize, usize), Error> {
    let stream = NpyStream::open(path)?;
    let h = stream.header();
    if h.shape.len() != 2 {
        return Err(npy_err(path)(NpyError::WrongRank {
            expected: 2,
            found: h.shape_text(),
        }));
    }
    let (n, dim) = (h.shape[0], h.shape[1]);
    if n == 0 {
        return Err(data_err(
            path,
            DataError::Empty {
                what: "row (example)",
            },
        ));
    }
    if dim == 0 {
        return Err(data_err(
            path,
            DataError::Empty {
                what: "feature column",
            },
        ));
    }
    if !matches!(h.dtype, DType::F32 | DType::F64 | DType::U8) {
        return Err(npy_err(path)(NpyError::UnsupportedDtype {
            found: h.dtype.to_string(),
            expected: "float32, float64 or uint8 features",
        }));
    }
    Ok((stream, n, dim))
}

/// Labels of a split of `n` rows whose features are in `fpath`.
fn labels_of(labels: &Loaded, n: usize, fpath: &Path, lpath: &Path) -> Result<Vec<u32>, Error> {
    let l = &labels.array;
    l.expect_rank(1).map_err(npy_err(lpath))?;
    if l.shape[0] != n {
        return Err(data_err(
            lpath,
            DataError::CountMismatch {
                what: "labels",
                expected: n,
                found: l.shape[0],
                other: fpath.display().to_string(),
            },
        ));
    }
    l.to_u32_checked(
        u32::MAX - 1,
        "a class label from 0 to 4294967294 (an integer class index)",
    )
    .map_err(npy_err(lpath))
}

/// Rows read per piece: about 1 MiB of data.
fn rows_per_piece(record_len: usize) -> usize {
    ((1 << 20) / record_len.max(1)).max(1)
}

/// Streams the `n × dim` values of `stream`, calling `put(row, le_bytes, values)` for
/// every row in order with its record (little-endian bytes as stored) and its f32
/// values. A non-finite value (or a float64 outside the f32 range) is an error naming
/// its row and column.
///
/// The rows are read in pieces of about 1 MiB, each converted (and handed to `put`)
/// while the next is read and hashed ([`NpyStream::for_each_piece`]): `put` runs on
/// one thread at a time, in row order, but not necessarily on the caller's thread.
pub(super) fn stream_rows(
    stream: &mut NpyStream,
    path: &Path,
    n: usize,
    dim: usize,
    put: impl FnMut(usize, &[u8], &[f32]) + Send,
) -> Result<(), Error> {
    stream_rows_at(stream, path, 0..n, dim, put)
}

/// [`stream_rows`] of rows `rows` only, the stream being at the start of `rows.start`
/// (rows are numbered from the file's first, in `put` and in errors).
pub(super) fn stream_rows_at(
    stream: &mut NpyStream,
    path: &Path,
    rows: std::ops::Range<usize>,
    dim: usize,
    mut put: impl FnMut(usize, &[u8], &[f32]) + Send,
) -> Result<(), Error> {
    let (dtype, big_endian) = (stream.header().dtype, stream.header().big_endian);
    let size = dtype.size();
    let record_len = dim * size;
    let mut values = vec![0f32; dim];
    let mut row = rows.start;
    let piece_len = rows_per_piece(record_len) * record_len;
    stream.for_each_piece(rows.len() * record_len, piece_len, |bytes| {
        if big_endian && size > 1 {
            for element in bytes.chunks_exact_mut(size) {
                element.reverse();
            }
        }
        for record in bytes.chunks_exact(record_len) {
            // One loop per dtype (vectorisable), then one finiteness scan.
            match dtype {
                DType::F32 => {
                    for (v, b) in values.iter_mut().zip(record.chunks_exact(4)) {
                        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    }
                }
                DType::F64 => {
                    for (v, b) in values.iter_mut().zip(record.chunks_exact(8)) {
                        *v = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                            as f32;
                    }
                }
                _ => {
                    for (v, &b) in values.iter_mut().zip(record) {
                        *v = f32::from(b);
                    }
                }
            }
            if let Some(col) = values.iter().position(|v| !v.is_finite()) {
                let value = if dtype == DType::F64 {
                    "a value outside the float32 range, or NaN/inf".to_string()
                } else {
                    values[col].to_string()
                };
                return Err(data_err(path, DataError::NonFinite { row, col, value }));
            }
            put(row, record, &values);
            row += 1;
        }
        Ok(())
    })
}

/// Reads every row of `stream` into a row-major split: f32 features, and the records as
/// stored if `keep_records` (else they are rebuilt from the values when asked for, see
/// [`Split`]).
fn rows_split(
    mut stream: NpyStream,
    path: &Path,
    (n, dim): (usize, usize),
    labels: Vec<u32>,
    keep_records: bool,
) -> Result<(Split, Checksums), Error> {
    let record_len = dim * stream.header().dtype.size();
    // A plain file's length matches its header: allocate once. A compressed one grows
    // with what it really holds.
    let (mut records, mut features) = if stream.length_checked() {
        (
            Vec::with_capacity(if keep_records { n * record_len } else { 0 }),
            Vec::with_capacity(n * dim),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    stream_rows(&mut stream, path, n, dim, |_, record, values| {
        if keep_records {
            records.extend_from_slice(record);
        }
        features.extend_from_slice(values);
    })?;
    let sums = stream.finish()?;
    Ok((
        Split {
            records,
            labels,
            record_len,
            features: Some(features),
            layout: None,
        },
        sums,
    ))
}

/// Reads every row of `stream` straight into its place in the search's layout, and the
/// records as stored if `keep_records`.
///
/// The layout is allocated from the header's shape: for a plain file its length was
/// checked against that shape when it was opened; a gzip-compressed one announces at most
/// [`MAX_DECOMPRESSED`](super::source::MAX_DECOMPRESSED) bytes (checked when opened), and
/// its pages are zero until rows are written into them, so memory follows the rows the
/// stream really holds. A stream shorter or longer than announced fails at its end and
/// returns nothing.
fn layout_split(
    mut stream: NpyStream,
    path: &Path,
    (n, dim): (usize, usize),
    labels: Vec<u32>,
    (n_classes, keep_records): (usize, bool),
) -> Result<(Split, Checksums), Error> {
    let record_len = dim * stream.header().dtype.size();
    let mut layout = TrainLayout::zeroed(&labels, n_classes, dim);
    let mut records = Vec::with_capacity(match keep_records && stream.length_checked() {
        true => n * record_len,
        false => 0,
    });
    stream_rows(&mut stream, path, n, dim, |row, record, values| {
        layout.row_mut(row).copy_from_slice(values);
        if keep_records {
            records.extend_from_slice(record);
        }
    })?;
    let sums = stream.finish()?;
    Ok((
        Split {
            records,
            labels,
            record_len,
            features: None,
            layout: Some(Arc::new(layout)),
        },
        sums,
    ))
}

pub(super) fn file_record(path: &Path, role: &str, sums: Checksums) -> FileRecord {
    FileRecord {
        role: role.to_string(),
        path: path.display().to_string(),
        sha256: sums.sha256,
        stored_md5: sums.stored_md5,
        canonical: None,
    }
}

/// Loads a user dataset. `n_classes` defaults to one more than the largest label seen in
/// either split; when given, every label must be below it.
pub fn load_npy_dataset(paths: &NpyPaths, n_classes: Option<usize>) -> Result<Dataset, Error> {
    load_npy_dataset_into(paths, n_classes, TrainInto::Rows)
}

/// The four files of a user dataset opened and checked against each other, before any
/// feature row is read: both feature headers (same dtype, same width), both label files
/// read whole (they are small) and checked against their feature files, and the class
/// count fixed.
pub(super) struct Opened {
    /// The training features, header read.
    pub train_stream: NpyStream,
    /// The test features, header read.
    pub test_stream: NpyStream,
    /// Training rows.
    pub n_train: usize,
    /// Test rows.
    pub n_test: usize,
    /// Values per row.
    pub dim: usize,
    /// The features' dtype (both files).
    pub dtype: DType,
    /// Training labels.
    pub train_labels: Vec<u32>,
    /// Test labels.
    pub test_labels: Vec<u32>,
    /// The records of the two label files (training, test).
    pub label_records: (FileRecord, FileRecord),
    /// Number of classes.
    pub n_classes: usize,
}

/// Opens the four files of `paths` (see [`Opened`]).
pub(super) fn open_dataset(paths: &NpyPaths, n_classes: Option<usize>) -> Result<Opened, Error> {
    let (train_stream, n_train, dim) = open_features(&paths.train_features)?;
    let dtype = train_stream.header().dtype;
    let trl = load(&paths.train_labels, "train-labels")?;
    let train_labels = labels_of(&trl, n_train, &paths.train_features, &paths.train_labels)?;
    check_test_header(&paths.test_features, dtype, dim)?;
    let (test_stream, n_test, _) = open_features(&paths.test_features)?;
    let tel = load(&paths.test_labels, "test-labels")?;
    let test_labels = labels_of(&tel, n_test, &paths.test_features, &paths.test_labels)?;
    let n_classes = class_count(paths, n_classes, &train_labels, &test_labels)?;
    Ok(Opened {
        train_stream,
        test_stream,
        n_train,
        n_test,
        dim,
        dtype,
        train_labels,
        test_labels,
        label_records: (trl.record, tel.record),
        n_classes,
    })
}

/// The test features must have the training features' dtype and width (checked on the
/// header alone, so that the error names the mismatch rather than a later symptom).
fn check_test_header(path: &Path, dtype: DType, dim: usize) -> Result<(), Error> {
    let test_stream = NpyStream::open(path)?;
    let test_header = test_stream.header();
    if test_header.dtype != dtype {
        return Err(Error::content(
            path,
            format!(
                "expected the training features' dtype {dtype}, found {}",
                test_header.dtype
            ),
        ));
    }
    if test_header.shape.len() == 2 && test_header.shape[1] != dim {
        return Err(data_err(
            path,
            DataError::DimensionMismatch {
                expected: dim,
                found: test_header.shape[1],
            },
        ));
    }
    Ok(())
}

/// The class count: `n_classes` when given (every label must be below it), else one more
/// than the largest label (at least 2); refused above [`max_classes`] before a layout with
/// one group per class is built.
fn class_count(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    train_labels: &[u32],
    test_labels: &[u32],
) -> Result<usize, Error> {
    let given = n_classes.is_some();
    let n_classes = match n_classes {
        Some(c) if c < 2 => {
            return Err(Error::invalid(format!(
                "classes: expected at least 2 classes, found {c}"
            )));
        }
        Some(c) => {
            for (labels, path) in [
                (train_labels, &paths.train_labels),
                (test_labels, &paths.test_labels),
            ] {
                if let Some((index, &label)) =
                    labels.iter().enumerate().find(|&(_, &y)| y as usize >= c)
                {
                    return Err(data_err(
                        path,
                        DataError::LabelOutOfRange {
                            index,
                            label: label.into(),
                            n_classes: c,
                        },
                    ));
                }
            }
            c
        }
        None => {
            let max_label = train_labels
                .iter()
                .chain(test_labels)
                .copied()
                .max()
                .unwrap_or(0) as usize;
            (max_label + 1).max(2)
        }
    };
    let n_examples = train_labels.len() + test_labels.len();
    if n_classes > max_classes(n_examples) {
        // Named by where the count comes from: the class count given, or the labels file
        // holding the largest label.
        let train_max = train_labels.iter().max();
        let source = match (given, train_max >= test_labels.iter().max()) {
            (true, _) => Path::new("classes"),
            (false, true) => paths.train_labels.as_path(),
            (false, false) => paths.test_labels.as_path(),
        };
        return Err(data_err(
            source,
            DataError::TooManyClasses {
                n_classes,
                n_examples,
                limit: max_classes(n_examples),
            },
        ));
    }
    Ok(n_classes)
}

/// As [`load_npy_dataset`], with the training features put where `into` says. Labels are
/// read first, then each feature file is streamed in pieces of about 1 MiB straight into
/// its final place, so no buffer holds a whole file besides the result.
pub fn load_npy_dataset_into(
    paths: &NpyPaths,
    n_classes: Option<usize>,
    into: TrainInto,
) -> Result<Dataset, Error> {
    let o = open_dataset(paths, n_classes)?;
    let for_search = into == TrainInto::SearchLayout;
    // Records as stored are kept where the f32 values cannot give them back.
    let keep_records = !for_search || o.dtype == DType::F64;
    let train_into_layout = for_search && o.n_train < u32::MAX as usize - 1;
    // The two files are read at the same time (each also overlaps its own reading,
    // hashing and conversion); a training error is reported first, as if read in turn.
    let (train, test) = rayon::join(
        || match train_into_layout {
            true => layout_split(
                o.train_stream,
                &paths.train_features,
                (o.n_train, o.dim),
                o.train_labels,
                (o.n_classes, keep_records),
            ),
            false => rows_split(
                o.train_stream,
                &paths.train_features,
                (o.n_train, o.dim),
                o.train_labels,
                true,
            ),
        },
        || {
            rows_split(
                o.test_stream,
                &paths.test_features,
                (o.n_test, o.dim),
                o.test_labels,
                keep_records,
            )
        },
    );
    let ((train, train_sums), (test, test_sums)) = (train?, test?);
    let dataset = Dataset {
        name: "npy".into(),
        n_classes: o.n_classes,
        content: Content::Features {
            dim: o.dim,
            bytes_per_value: o.dtype.size(),
        },
        train,
        test,
        files: vec![
            file_record(&paths.train_features, "train-features", train_sums),
            o.label_records.0,
            file_record(&paths.test_features, "test-features", test_sums),
            o.label_records.1,
        ],
        caveat: None,
    };
    dataset.validate()?;
    Ok(dataset)
}
