//! MNIST's IDX format: big-endian header, then uint8 data.
//!
//! Images (`idx3`): magic `00 00 08 03`, then count, rows, columns as u32. Labels (`idx1`):
//! magic `00 00 08 01`, then count. Both plain or gzip.

use std::path::{Path, PathBuf};

use super::DataError;
use super::canonical::{self, MNIST};
use super::dataset::{Content, Dataset, FileRecord, ImageShape, Split};
use super::source::{SourceBytes, find_file, read_source_capped};
use crate::error::Error;

/// Number of MNIST classes.
pub(crate) const MNIST_CLASSES: usize = 10;

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn check_magic(bytes: &[u8], ndims: u8, what: &'static str) -> Result<(), DataError> {
    let expected = [0u8, 0, 0x08, ndims];
    if bytes.len() >= 4 && bytes[..2] == [0, 0] && bytes[2] != 0x08 && bytes[3] == ndims {
        let name = match bytes[2] {
            0x09 => "signed byte",
            0x0b => "short",
            0x0c => "int",
            0x0d => "float",
            0x0e => "double",
            _ => "not an IDX type",
        };
        return Err(DataError::BadHeader {
            expected: "data type code 0x08 (unsigned byte)".into(),
            found: format!("0x{:02x} ({name})", bytes[2]),
        });
    }
    if bytes.len() < 4 || bytes[..4] != expected {
        return Err(DataError::BadMagic {
            format: what,
            expected: format!("{:02x} {:02x} {:02x} {:02x}", 0, 0, 8, ndims),
            found: bytes[..bytes.len().min(4)]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    let header = 4 + 4 * ndims as usize;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

fn check_length(bytes: &[u8], header: usize, dims: &[u32]) -> Result<(), DataError> {
    // u128: three u32 dimensions cannot overflow it.
    let expected = dims.iter().map(|&d| u128::from(d)).product::<u128>() + header as u128;
    let found = bytes.len() as u128;
    let clamp = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
    if u64::try_from(expected).is_err() {
        // No file has 2⁶⁴ bytes: say so rather than print a saturated count.
        return Err(DataError::BadHeader {
            expected: format!("dimensions that fit the file's {found} bytes"),
            found: format!(
                "{} (more bytes than 2^64, larger than the file)",
                dims.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" × ")
            ),
        });
    }
    match found.cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            expected: clamp(expected),
            found: clamp(found),
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            expected: clamp(expected),
            extra: clamp(found - expected),
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Parses an idx3 image file: `(count, rows, cols, pixels)`.
pub fn parse_images(bytes: &[u8]) -> Result<(usize, usize, usize, &[u8]), DataError> {
    check_magic(bytes, 3, "an IDX image file (idx3-ubyte)")?;
    let (n, rows, cols) = (
        be_u32(&bytes[4..]),
        be_u32(&bytes[8..]),
        be_u32(&bytes[12..]),
    );
    if rows == 0 || cols == 0 {
        return Err(DataError::BadHeader {
            expected: "images of at least 1 × 1 pixel".into(),
            found: format!("{rows} × {cols}"),
        });
    }
    check_length(bytes, 16, &[n, rows, cols])?;
    Ok((n as usize, rows as usize, cols as usize, &bytes[16..]))
}

/// Parses an idx1 label file.
pub fn parse_labels(bytes: &[u8]) -> Result<&[u8], DataError> {
    check_magic(bytes, 1, "an IDX label file (idx1-ubyte)")?;
    let n = be_u32(&bytes[4..]);
    check_length(bytes, 8, &[n])?;
    Ok(&bytes[8..])
}

fn data_err(path: &Path) -> impl Fn(DataError) -> Error + '_ {
    move |problem| Error::Data {
        path: path.to_path_buf(),
        problem,
    }
}

/// Loads one split from an image file and a label file already in memory.
pub(crate) fn split_from_sources(
    images: &SourceBytes,
    labels: &SourceBytes,
) -> Result<(Split, ImageShape), Error> {
    let (n, rows, cols, pixels) = parse_images(&images.bytes).map_err(data_err(&images.path))?;
    let label_bytes = parse_labels(&labels.bytes).map_err(data_err(&labels.path))?;
    if label_bytes.len() != n {
        return Err(data_err(&labels.path)(DataError::CountMismatch {
            what: "labels",
            expected: n,
            found: label_bytes.len(),
            other: images.path.display().to_string(),
        }));
    }
    if let Some((index, &label)) = label_bytes
        .iter()
        .enumerate()
        .find(|&(_, &y)| y as usize >= MNIST_CLASSES)
    {
        return Err(data_err(&labels.path)(DataError::LabelOutOfRange {
            index,
            label: label.into(),
            n_classes: MNIST_CLASSES,
        }));
    }
    let shape = ImageShape {
        height: rows,
        width: cols,
        channels: 1,
    };
    Ok((
        Split {
            records: pixels.to_vec(),
            labels: label_bytes.iter().map(|&y| u32::from(y)).collect(),
            record_len: rows * cols,
            features: None,
            layout: None,
        },
        shape,
    ))
}

/// The four files of MNIST, by role, with the names they are looked up under.
const MNIST_NAMES: [(&str, [&str; 2]); 4] = [
    (
        "train-images",
        ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
    ),
    (
        "train-labels",
        ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    ),
    (
        "test-images",
        ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
    ),
    (
        "test-labels",
        ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
    ),
];

/// The size an IDX file announces in its header (magic, then one big-endian u32 per
/// dimension), or `None` if `prefix` does not start like one: the cap of its decompression.
pub(crate) fn announced_len(prefix: &[u8]) -> Option<u64> {
    if prefix.len() < 4 || prefix[..3] != [0, 0, 0x08] || !(1..=3).contains(&prefix[3]) {
        return None;
    }
    let ndims = usize::from(prefix[3]);
    let header = 4 + 4 * ndims;
    let dims = prefix.get(4..header)?;
    let body = dims
        .chunks(4)
        .map(|d| u64::from(be_u32(d)))
        .try_fold(1u64, u64::checked_mul)?;
    body.checked_add(header as u64)
}

/// The directories searched for MNIST under `dir`: itself and `dir/mnist`.
pub(crate) fn mnist_dirs(dir: &Path) -> Vec<PathBuf> {
    vec![dir.to_path_buf(), dir.join("mnist")]
}

/// Loads MNIST from `dir` (or `dir/mnist`), files plain or gzip under their canonical
/// names.
pub fn load_mnist(dir: &Path) -> Result<Dataset, Error> {
    let dirs = mnist_dirs(dir);
    let mut sources = Vec::with_capacity(4);
    for (_, names) in MNIST_NAMES {
        let path = find_file(&dirs, &names).map_err(|e| match e {
            Error::Data {
                path,
                problem: DataError::Missing { looked_for },
            } => Error::Data {
                path,
                problem: DataError::Missing {
                    looked_for: format!(
                        "{looked_for} — run `nncert fetch mnist --data-dir {}`",
                        dir.display()
                    ),
                },
            },
            other => other,
        })?;
        sources.push(read_source_capped(&path, &announced_len)?);
    }
    mnist_from_sources("mnist", &sources)
}

/// Builds the MNIST dataset from the four sources in the order train images, train labels,
/// test images, test labels.
pub(crate) fn mnist_from_sources(name: &str, sources: &[SourceBytes]) -> Result<Dataset, Error> {
    let (train, shape) = split_from_sources(&sources[0], &sources[1])?;
    let (test, test_shape) = split_from_sources(&sources[2], &sources[3])?;
    if test_shape != shape {
        return Err(Error::Data {
            path: sources[2].path.clone(),
            problem: DataError::BadHeader {
                expected: format!(
                    "{} × {} images like the training set",
                    shape.height, shape.width
                ),
                found: format!("{} × {}", test_shape.height, test_shape.width),
            },
        });
    }
    let files = sources
        .iter()
        .zip(MNIST_NAMES)
        .zip(MNIST.iter())
        .map(|((s, (role, _)), canon)| FileRecord {
            role: role.to_string(),
            path: s.path.display().to_string(),
            sha256: s.sha256(),
            stored_md5: s.stored_md5.clone(),
            canonical: Some(canonical::matches(canon, &s.stored_md5, &s.content_md5())),
        })
        .collect();
    let dataset = Dataset {
        name: name.to_string(),
        n_classes: MNIST_CLASSES,
        content: Content::Images(shape),
        train,
        test,
        files,
        caveat: None,
    };
    dataset.validate()?;
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Audit finding 13: dimensions of 2³² − 1 each were reported as a saturated
    /// "18446744073709551615 bytes".
    #[test]
    fn dimensions_beyond_any_file_are_named_not_saturated() {
        let mut b = vec![0, 0, 8, 3];
        b.extend([0xff; 12]);
        b.extend([0; 20]);
        let e = parse_images(&b).unwrap_err().to_string();
        assert!(!e.contains("18446744073709551615"), "{e}");
        assert!(
            e.contains(
                "4294967295 × 4294967295 × 4294967295 (more bytes than 2^64, larger than the file)"
            ),
            "{e}"
        );
    }

    /// Audit finding 12: with both the plain and the `.gz` form of a file one was read
    /// silently; now the directory is refused, naming both (whatever their content).
    #[test]
    fn a_file_present_plain_and_gzipped_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let name = MNIST_NAMES[0].1[0];
        std::fs::write(dir.path().join(name), b"x").unwrap();
        std::fs::write(dir.path().join(format!("{name}.gz")), b"y").unwrap();
        let e = load_mnist(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "ambiguous input: both {}",
                dir.path().join(name).display()
            )),
            "{e}"
        );
        assert!(e.contains(&format!("{name}.gz exist; remove one")), "{e}");
    }

    pub(crate) fn idx_images(n: u32, rows: u32, cols: u32, fill: u8) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, rows, cols] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend(std::iter::repeat_n(fill, (n * rows * cols) as usize));
        b
    }

    pub(crate) fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 1];
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    #[test]
    fn parses_and_rejects_with_what_was_expected() {
        let img = idx_images(2, 3, 4, 7);
        let (n, r, c, px) = parse_images(&img).unwrap();
        assert_eq!((n, r, c, px.len()), (2, 3, 4, 24));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                idx_labels(&[1, 2]),
                "not an IDX image file (idx3-ubyte): expected magic number 00 00 08 03, found 00 00 08 01",
            ),
            (
                img[..10].to_vec(),
                "truncated: the header announces 16 bytes, the file has 10",
            ),
            (
                img[..30].to_vec(),
                "truncated: the header announces 40 bytes, the file has 30",
            ),
            (
                [img.clone(), vec![1, 2, 3]].concat(),
                "3 bytes of trailing garbage after the 40 bytes",
            ),
            (
                idx_images(1, 0, 4, 0),
                "expected images of at least 1 × 1 pixel, found 0 × 4",
            ),
            // A header announcing 4 billion huge images must not allocate anything.
            (
                {
                    let mut b = img.clone();
                    b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
                    b
                },
                "truncated: the header announces",
            ),
        ];
        for (bytes, needle) in cases {
            let e = parse_images(&bytes).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} should contain {needle:?}");
        }
        assert_eq!(parse_labels(&idx_labels(&[3, 9])).unwrap(), &[3, 9]);
    }
}
