//! Reading a file that may be gzip-compressed, with its identity (checksums).

use std::io::Read;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

use super::DataError;
use crate::error::Error;

/// Decompressed sizes above this are refused (a guard against decompression bombs; the
/// largest real input, CIFAR-10's training batches, is 150 MB).
pub(crate) const MAX_DECOMPRESSED: u64 = 4 << 30;

/// The contents of one input file and how to identify it.
#[derive(Debug, Clone)]
pub struct SourceBytes {
    /// Where it came from (for an archive member: `archive!/member`).
    pub path: PathBuf,
    /// The uncompressed content.
    pub bytes: Vec<u8>,
    /// MD5 of the file as stored (compressed if it was), lowercase hex.
    pub stored_md5: String,
    /// Whether it was gzip-compressed.
    pub gzipped: bool,
}

impl SourceBytes {
    /// SHA-256 of the uncompressed content, lowercase hex.
    pub fn sha256(&self) -> String {
        format!("{:x}", Sha256::digest(&self.bytes))
    }

    /// MD5 of the uncompressed content, lowercase hex.
    pub(crate) fn content_md5(&self) -> String {
        format!("{:x}", Md5::digest(&self.bytes))
    }
}

/// Whether `bytes` start with the gzip signature.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses a (possibly multi-member) gzip stream with the size guard.
pub fn gunzip(compressed: &[u8]) -> Result<Vec<u8>, DataError> {
    gunzip_capped(compressed, &|_| Some(MAX_DECOMPRESSED))
}

/// How many bytes a file may hold once decompressed, decided from its first
/// [`HEADER_PREFIX`] decompressed bytes (fewer if the file is shorter): `Some(max)`, or
/// `None` when the prefix is already not the expected format (the parser then reports
/// what is wrong from the prefix alone).
pub(crate) type SizeCap<'a> = &'a dyn Fn(&[u8]) -> Option<u64>;

/// Bytes of decompressed content handed to a [`SizeCap`]: an IDX header has at most 16.
pub(crate) const HEADER_PREFIX: usize = 16;

/// Decompresses `compressed`, refusing as soon as the output passes the cap that the
/// format allows (checked while streaming, before anything larger is buffered), so a
/// decompression bomb costs at most the size of a legitimate file.
pub(crate) fn gunzip_capped(compressed: &[u8], cap: SizeCap<'_>) -> Result<Vec<u8>, DataError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut out = Vec::new();
    (&mut decoder)
        .take(HEADER_PREFIX as u64)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    let Some(max) = cap(&out) else {
        return Ok(out);
    };
    let max = max.min(MAX_DECOMPRESSED);
    decoder
        .take((max + 1).saturating_sub(out.len() as u64))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    if out.len() as u64 > max {
        return Err(DataError::Oversized { max });
    }
    Ok(out)
}

/// Reads `path`, decompressing it when it is gzip (detected by content, not by name).
pub fn read_source(path: &Path) -> Result<SourceBytes, Error> {
    read_source_capped(path, &|_| Some(MAX_DECOMPRESSED))
}

/// As [`read_source`], with the decompressed size capped by `cap` (see [`gunzip_capped`]).
pub(crate) fn read_source_capped(path: &Path, cap: SizeCap<'_>) -> Result<SourceBytes, Error> {
    // A regular file only, read to its real size (no /dev/zero, no FIFO); the stored
    // bytes of a legitimate input are at most its decompressed cap.
    let stored = super::bounded_read::read_regular(path, MAX_DECOMPRESSED)?;
    from_stored_capped(path.to_path_buf(), stored, cap)
}

/// As [`read_source`], for bytes already read.
pub(crate) fn from_stored(path: PathBuf, stored: Vec<u8>) -> Result<SourceBytes, Error> {
    from_stored_capped(path, stored, &|_| Some(MAX_DECOMPRESSED))
}

/// As [`read_source_capped`], for bytes already read.
pub(crate) fn from_stored_capped(
    path: PathBuf,
    stored: Vec<u8>,
    cap: SizeCap<'_>,
) -> Result<SourceBytes, Error> {
    let stored_md5 = format!("{:x}", Md5::digest(&stored));
    let gzipped = is_gzip(&stored);
    let bytes = if gzipped {
        gunzip_capped(&stored, cap).map_err(|problem| Error::Data {
            path: path.clone(),
            problem,
        })?
    } else {
        stored
    };
    Ok(SourceBytes {
        path,
        bytes,
        stored_md5,
        gzipped,
    })
}

/// The first of `names` (each also tried with `.gz`) that exists in one of `dirs`. A
/// directory holding both `name` and `name.gz` is refused, naming both, whatever their
/// content: nncert would read one and a user might have meant the other (audit finding 12).
pub(crate) fn find_file(dirs: &[PathBuf], names: &[&str]) -> Result<PathBuf, Error> {
    for dir in dirs {
        for name in names {
            let (plain, gz) = (dir.join(name), dir.join(format!("{name}.gz")));
            match (plain.is_file(), gz.is_file()) {
                (true, true) => {
                    return Err(Error::Data {
                        path: dir.clone(),
                        problem: DataError::Ambiguous {
                            first: plain,
                            second: gz,
                        },
                    });
                }
                (true, false) => return Ok(plain),
                (false, true) => return Ok(gz),
                (false, false) => {}
            }
        }
    }
    let looked_for = format!(
        "{} (each optionally .gz) in {}",
        names.join(" or "),
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Err(Error::Data {
        path: dirs.first().cloned().unwrap_or_default(),
        problem: DataError::Missing { looked_for },
    })
}
