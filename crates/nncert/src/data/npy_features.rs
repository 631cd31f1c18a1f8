//! User data: feature matrices and labels as `.npy` files, for train and test.

use std::path::{Path, PathBuf};

use super::DataError;
use super::dataset::{Content, Dataset, FileRecord, Split};
use super::npy::NpyArray;
use super::source::read_source;
use crate::error::Error;

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

fn features_split(
    features: &Loaded,
    labels: &Loaded,
    path: &Path,
    lpath: &Path,
) -> Result<(Split, usize), Error> {
    let f = &features.array;
    f.expect_rank(2).map_err(npy_err(path))?;
    let (n, dim) = (f.shape[0], f.shape[1]);
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
    let values = f.to_f32_values().map_err(npy_err(path))?;
    if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
        let original = if f.dtype == super::npy::DType::F64 {
            "a value outside the float32 range, or NaN/inf".to_string()
        } else {
            values[pos].to_string()
        };
        return Err(data_err(
            path,
            DataError::NonFinite {
                row: pos / dim,
                col: pos % dim,
                value: original,
            },
        ));
    }
    let l = &labels.array;
    l.expect_rank(1).map_err(npy_err(lpath))?;
    if l.shape[0] != n {
        return Err(data_err(
            lpath,
            DataError::CountMismatch {
                what: "labels",
                expected: n,
                found: l.shape[0],
                other: path.display().to_string(),
            },
        ));
    }
    let y = l
        .to_u32_checked(u32::MAX - 1, "a class label ≥ 0 (an integer class index)")
        .map_err(npy_err(lpath))?;
    Ok((
        Split {
            records: f.little_endian_bytes(),
            labels: y,
            record_len: dim * f.dtype.size(),
            features: Some(values),
        },
        dim,
    ))
}

/// Loads a user dataset. `n_classes` defaults to one more than the largest label seen in
/// either split; when given, every label must be below it.
pub fn load_npy_dataset(paths: &NpyPaths, n_classes: Option<usize>) -> Result<Dataset, Error> {
    let trf = load(&paths.train_features, "train-features")?;
    let trl = load(&paths.train_labels, "train-labels")?;
    let tef = load(&paths.test_features, "test-features")?;
    let tel = load(&paths.test_labels, "test-labels")?;
    let (train, dim) = features_split(&trf, &trl, &paths.train_features, &paths.train_labels)?;
    if tef.array.dtype != trf.array.dtype {
        return Err(Error::content(
            &paths.test_features,
            format!(
                "expected the training features' dtype {}, found {}",
                trf.array.dtype, tef.array.dtype
            ),
        ));
    }
    if tef.array.shape.len() == 2 && tef.array.shape[1] != dim {
        return Err(data_err(
            &paths.test_features,
            DataError::DimensionMismatch {
                expected: dim,
                found: tef.array.shape[1],
            },
        ));
    }
    let (test, _) = features_split(&tef, &tel, &paths.test_features, &paths.test_labels)?;
    let max_label = train
        .labels
        .iter()
        .chain(&test.labels)
        .copied()
        .max()
        .unwrap_or(0) as usize;
    let n_classes = match n_classes {
        Some(c) => {
            for (split, path) in [(&train, &paths.train_labels), (&test, &paths.test_labels)] {
                if let Some((index, &label)) = split
                    .labels
                    .iter()
                    .enumerate()
                    .find(|&(_, &y)| y as usize >= c)
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
        None => (max_label + 1).max(2),
    };
    let dataset = Dataset {
        name: "npy".into(),
        n_classes,
        content: Content::Features {
            dim,
            bytes_per_value: trf.array.dtype.size(),
        },
        train,
        test,
        files: vec![trf.record, trl.record, tef.record, tel.record],
        caveat: None,
    };
    dataset.validate()?;
    Ok(dataset)
}
