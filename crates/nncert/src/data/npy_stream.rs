//! A `.npy` file read in pieces: the header first, then the data bytes in chunks the
//! caller converts straight into their final place, so that loading a feature matrix
//! never holds the file's bytes a second time (`docs/MEMORY.md`).
//!
//! The checks are those of [`NpyArray::parse`](super::npy::NpyArray::parse) and the
//! checksums those of [`read_source`](super::source::read_source) (SHA-256 of the
//! uncompressed content, MD5 of the file as stored), computed as the bytes pass. A plain
//! file's length is compared with the header before any data is read, so a truncated
//! file fails before anything is allocated for it; a gzip-compressed file can only be
//! checked as it is decompressed, and fails at its end.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::DataError;
use super::npy::{NpyError, NpyHeader, PREAMBLE_MAX};
use super::source::{MAX_DECOMPRESSED, is_gzip};
use crate::error::Error;

/// A reader that hashes (MD5) every byte it passes on: the file as stored.
struct StoredMd5<R> {
    inner: R,
    md5: Md5,
}

impl<R: Read> Read for StoredMd5<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
}

enum Content {
    Plain(StoredMd5<BufReader<File>>),
    Gzip(MultiGzDecoder<StoredMd5<BufReader<File>>>),
}

impl Read for Content {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Content::Plain(r) => r.read(buf),
            Content::Gzip(r) => r.read(buf),
        }
    }
}

/// An open `.npy` file whose header has been read and checked.
pub struct NpyStream {
    path: PathBuf,
    header: NpyHeader,
    content: Content,
    sha256: Sha256,
    /// Data bytes read so far.
    read: usize,
}

/// Identity of a file read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    /// SHA-256 of the uncompressed content, lowercase hex.
    pub sha256: String,
    /// MD5 of the file as stored, lowercase hex.
    pub stored_md5: String,
    /// Whether it was gzip-compressed.
    pub gzipped: bool,
}

impl NpyStream {
    /// Opens `path` (plain or gzip-compressed, detected by content) and reads its header.
    /// For a plain file, a data length other than the header's is refused here.
    pub fn open(path: &Path) -> Result<NpyStream, Error> {
        let io_err = |e| Error::io(path, "cannot read", e);
        let file = File::open(path).map_err(io_err)?;
        let stored_len = file.metadata().map_err(io_err)?.len();
        let mut inner = BufReader::with_capacity(1 << 16, file);
        // Peek (without consuming) at the first bytes: gzip or not.
        let gzipped = is_gzip(inner.fill_buf().map_err(io_err)?);
        let chained = StoredMd5 {
            inner,
            md5: Md5::new(),
        };
        let mut content = if gzipped {
            Content::Gzip(MultiGzDecoder::new(chained))
        } else {
            Content::Plain(chained)
        };
        let mut sha256 = Sha256::new();
        let mut prefix = vec![0u8; PREAMBLE_MAX];
        let got = read_full(&mut content, &mut prefix).map_err(|e| gzip_or_io(path, e))?;
        prefix.truncate(got);
        let data_start = NpyHeader::data_start(&prefix).map_err(|p| npy_err(path, p))?;
        if data_start > prefix.len() {
            // The header text: at most what the file holds (read_to_end stops at its end).
            (&mut content)
                .take((data_start - prefix.len()) as u64)
                .read_to_end(&mut prefix)
                .map_err(|e| gzip_or_io(path, e))?;
        }
        let header = NpyHeader::parse(&prefix).map_err(|p| npy_err(path, p))?;
        sha256.update(&prefix[..data_start.min(prefix.len())]);
        if gzipped {
            let total = header.data_start as u64 + header.data_len as u64;
            if total > MAX_DECOMPRESSED {
                return Err(Error::Data {
                    path: path.to_path_buf(),
                    problem: DataError::Oversized {
                        max: MAX_DECOMPRESSED,
                    },
                });
            }
        } else {
            let found = stored_len.saturating_sub(header.data_start as u64);
            if found != header.data_len as u64 {
                return Err(npy_err(path, header.length_error(found)));
            }
        }
        Ok(NpyStream {
            path: path.to_path_buf(),
            header,
            content,
            sha256,
            read: 0,
        })
    }

    /// The header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// Whether the length of the data was already checked against the header (a plain
    /// file): then the caller may allocate from the header's shape.
    pub(crate) fn length_checked(&self) -> bool {
        matches!(self.content, Content::Plain(_))
    }

    /// Fills `buf` with the next data bytes; fewer left than `buf.len()` is an error.
    pub(crate) fn read_data(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let left = self.header.data_len - self.read;
        if buf.len() > left {
            return Err(npy_err(
                &self.path,
                NpyError::BadHeader(format!(
                    "asked for {} more data bytes, {left} left",
                    buf.len()
                )),
            ));
        }
        let got = read_full(&mut self.content, buf).map_err(|e| gzip_or_io(&self.path, e))?;
        self.sha256.update(&buf[..got]);
        self.read += got;
        if got < buf.len() {
            return Err(npy_err(
                &self.path,
                self.header.length_error(self.read as u64),
            ));
        }
        Ok(())
    }

    /// Checks that every data byte was read and nothing follows, and returns the file's
    /// checksums.
    pub fn finish(mut self) -> Result<Checksums, Error> {
        if self.read < self.header.data_len {
            // Read (and hash) what is left, in small pieces.
            let mut buf = vec![0u8; 1 << 16];
            while self.read < self.header.data_len {
                let n = buf.len().min(self.header.data_len - self.read);
                self.read_data(&mut buf[..n])?;
            }
        }
        let mut extra = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            match self.content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    extra += n as u64;
                    if extra > MAX_DECOMPRESSED {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(gzip_or_io(&self.path, e)),
            }
        }
        if extra > 0 {
            return Err(npy_err(
                &self.path,
                self.header
                    .length_error(self.header.data_len as u64 + extra),
            ));
        }
        let (gzipped, mut stored) = match self.content {
            Content::Plain(r) => (false, r),
            Content::Gzip(r) => (true, r.into_inner()),
        };
        // Whatever the decoder left unread still belongs to the stored file's MD5.
        std::io::copy(&mut stored, &mut std::io::sink())
            .map_err(|e| Error::io(&self.path, "cannot read", e))?;
        Ok(Checksums {
            sha256: format!("{:x}", self.sha256.finalize()),
            stored_md5: format!("{:x}", stored.md5.finalize()),
            gzipped,
        })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn npy_err(path: &Path, problem: NpyError) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        problem,
    }
}

/// A read error: corrupt gzip data (reported as such) or I/O.
fn gzip_or_io(path: &Path, e: std::io::Error) -> Error {
    if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::InvalidData) {
        Error::Data {
            path: path.to_path_buf(),
            problem: DataError::Gzip(e.to_string()),
        }
    } else {
        Error::io(path, "cannot read", e)
    }
}
