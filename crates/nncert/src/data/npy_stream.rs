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
//!
//! `NpyStream::for_each_piece` reads the next piece (MD5, or decompression) on one
//! thread while the caller converts the last one (after its SHA-256) on another, so the
//! two chained hashes and the conversion overlap (`docs/LOADING.md`).

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
    md5: Option<Md5>,
}

impl<R: Read> Read for StoredMd5<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(md5) = &mut self.md5 {
            md5.update(&buf[..n]);
        }
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
    sha256: Option<Sha256>,
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
        NpyStream::open_with(path, true)
    }

    /// As [`NpyStream::open`], without the checksums (SHA-256, MD5): for a reader that
    /// identifies the file otherwise and reads only some of its rows (a shard job,
    /// `docs/SCALING.md`), so that [`NpyStream::skip_data`] can seek past the others in a
    /// plain file. [`NpyStream::finish_unhashed`] ends it.
    pub(crate) fn open_unhashed(path: &Path) -> Result<NpyStream, Error> {
        NpyStream::open_with(path, false)
    }

    fn open_with(path: &Path, hashed: bool) -> Result<NpyStream, Error> {
        let io_err = |e| Error::io(path, "cannot read", e);
        let file = File::open(path).map_err(io_err)?;
        let stored_len = file.metadata().map_err(io_err)?.len();
        let mut inner = BufReader::with_capacity(1 << 16, file);
        // Peek (without consuming) at the first bytes: gzip or not.
        let gzipped = is_gzip(inner.fill_buf().map_err(io_err)?);
        let chained = StoredMd5 {
            inner,
            md5: hashed.then(Md5::new),
        };
        let mut content = if gzipped {
            Content::Gzip(MultiGzDecoder::new(chained))
        } else {
            Content::Plain(chained)
        };
        let mut sha256 = hashed.then(Sha256::new);
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
        if let Some(sha256) = &mut sha256 {
            sha256.update(&prefix[..data_start.min(prefix.len())]);
        }
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
        DataReader::of(self).fill(buf)?;
        if let Some(sha256) = &mut self.sha256 {
            sha256.update(buf);
        }
        Ok(())
    }

    /// Skips the next `n` data bytes (fewer left is an error): a seek in a plain file
    /// opened without checksums (whose length was checked when it was opened), else read
    /// (and hashed) and dropped.
    pub(crate) fn skip_data(&mut self, n: usize) -> Result<(), Error> {
        let left = self.header.data_len - self.read;
        if n > left {
            return Err(npy_err(
                &self.path,
                NpyError::BadHeader(format!("asked to skip {n} data bytes, {left} left")),
            ));
        }
        match &mut self.content {
            Content::Plain(r) if r.md5.is_none() && self.sha256.is_none() => {
                let by = i64::try_from(n).map_err(|_| {
                    npy_err(&self.path, NpyError::BadHeader("skip too large".into()))
                })?;
                r.inner
                    .seek_relative(by)
                    .map_err(|e| Error::io(&self.path, "cannot read", e))?;
                self.read += n;
            }
            _ => {
                let mut buf = vec![0u8; n.min(1 << 16)];
                let mut done = 0;
                while done < n {
                    let step = buf.len().min(n - done);
                    self.read_data(&mut buf[..step])?;
                    done += step;
                }
            }
        }
        Ok(())
    }

    /// Ends a stream opened with [`NpyStream::open_unhashed`]: a plain file's length was
    /// checked when it was opened, so nothing more is read; a compressed one is read to
    /// its end and checked as [`NpyStream::finish`] does.
    pub(crate) fn finish_unhashed(mut self) -> Result<(), Error> {
        if matches!(self.content, Content::Plain(_)) {
            return Ok(());
        }
        self.sha256 = None;
        self.finish().map(|_| ())
    }

    /// Reads the next `len` data bytes in pieces of `piece_len` (the last one shorter),
    /// handing each piece to `process` in order; fewer bytes left than `len` is an error.
    ///
    /// While `process` works on one piece (after the piece has gone into the SHA-256), the
    /// next one is read — and, through the reader, its stored bytes MD5-hashed or
    /// decompressed — on another thread of rayon's pool ([`rayon::join`]): the two
    /// checksums, the decompression and the caller's conversion of the rows overlap
    /// instead of adding up. Two pieces are held at a time, whatever `len`. With one
    /// thread in the pool (`--threads 1`) the same steps run one after the other, and in
    /// every case each piece is hashed and processed in file order, so the checksums,
    /// what `process` sees and the error reported are those of reading the pieces one by
    /// one with [`NpyStream::read_data`]: an error of `process` on a piece comes before
    /// a read error of the piece after it.
    pub(crate) fn for_each_piece(
        &mut self,
        len: usize,
        piece_len: usize,
        mut process: impl FnMut(&mut [u8]) -> Result<(), Error> + Send,
    ) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        let piece_len = piece_len.clamp(1, len);
        let mut current = vec![0u8; piece_len];
        let mut next = vec![0u8; piece_len.min(len - piece_len)];
        let mut reader = DataReader {
            path: &self.path,
            header: &self.header,
            content: &mut self.content,
            read: &mut self.read,
        };
        let sha256 = &mut self.sha256;
        reader.fill(&mut current)?;
        let mut left = len - piece_len;
        loop {
            // One poll per piece (about 1 MiB): Ctrl-C in Python stops a long load.
            crate::cancel::check()?;
            next.truncate(piece_len.min(left));
            let (read, processed) = rayon::join(
                || reader.fill(&mut next),
                || {
                    if let Some(sha256) = sha256.as_mut() {
                        sha256.update(&current);
                    }
                    process(&mut current)
                },
            );
            processed?;
            read?;
            if next.is_empty() {
                return Ok(());
            }
            left -= next.len();
            std::mem::swap(&mut current, &mut next);
        }
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
            sha256: (self.sha256).map_or(String::new(), |h| format!("{:x}", h.finalize())),
            stored_md5: (stored.md5).map_or(String::new(), |h| format!("{:x}", h.finalize())),
            gzipped,
        })
    }
}

/// The data bytes of an [`NpyStream`] not read yet, borrowed apart from its SHA-256 so
/// that the next piece can be read while the last one is hashed.
struct DataReader<'a> {
    path: &'a Path,
    header: &'a NpyHeader,
    content: &'a mut Content,
    /// The stream's count of data bytes read so far.
    read: &'a mut usize,
}

impl<'a> DataReader<'a> {
    /// The data bytes left in `stream`.
    fn of(stream: &'a mut NpyStream) -> DataReader<'a> {
        DataReader {
            path: &stream.path,
            header: &stream.header,
            content: &mut stream.content,
            read: &mut stream.read,
        }
    }

    /// Fills `buf` with the next data bytes; fewer left than `buf.len()` is an error
    /// (the header's length error, naming how many bytes the data really held).
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let left = self.header.data_len - *self.read;
        if buf.len() > left {
            return Err(npy_err(
                self.path,
                NpyError::BadHeader(format!(
                    "asked for {} more data bytes, {left} left",
                    buf.len()
                )),
            ));
        }
        let got = read_full(self.content, buf).map_err(|e| gzip_or_io(self.path, e))?;
        *self.read += got;
        if got < buf.len() {
            return Err(npy_err(
                self.path,
                self.header.length_error(*self.read as u64),
            ));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::data::npy::encode;
    use crate::rng::SplitMix64;

    /// A float32 `.npy` of `n × dim` seeded values, stored plainly or gzip-compressed.
    fn npy_file(dir: &Path, n: usize, dim: usize, gzipped: bool) -> (PathBuf, Vec<u8>) {
        let mut rng = SplitMix64::new(n as u64 * 31 + dim as u64);
        let values: Vec<f32> = (0..n * dim)
            .map(|_| (rng.next_u64() >> 40) as f32 / (1 << 24) as f32 - 0.5)
            .collect();
        let content = encode(&[n, dim], &values);
        let stored = if gzipped {
            gzip(&content)
        } else {
            content.clone()
        };
        let path = dir.join(format!("x-{n}-{dim}-{gzipped}.npy"));
        std::fs::write(&path, &stored).unwrap();
        (path, content)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Every data byte through `for_each_piece` in pieces of `piece_len` (a first stretch
    /// of `head` bytes through `read_data`, the rest left to `finish`): the bytes seen in
    /// order, and the checksums.
    fn read_in_pieces(path: &Path, head: usize, piece_len: usize) -> (Vec<u8>, Checksums) {
        let mut stream = NpyStream::open(path).unwrap();
        let mut seen = vec![0u8; head];
        stream.read_data(&mut seen).unwrap();
        let len = (stream.header().data_len - head) / 2;
        stream
            .for_each_piece(len, piece_len, |piece| {
                assert!(!piece.is_empty() && piece.len() <= piece_len);
                seen.extend_from_slice(piece);
                // The caller may change a piece in place (big-endian rows are swapped):
                // the checksums are of the bytes as read.
                piece.fill(0xaa);
                Ok(())
            })
            .unwrap();
        (seen, stream.finish().unwrap())
    }

    #[test]
    fn pieces_and_checksums_equal_the_serial_hashes_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for gzipped in [false, true] {
            let (path, content) = npy_file(dir.path(), 301, 7, gzipped);
            let stored = std::fs::read(&path).unwrap();
            let expected = Checksums {
                sha256: format!("{:x}", Sha256::digest(&content)),
                stored_md5: format!("{:x}", Md5::digest(&stored)),
                gzipped,
            };
            let data_start = content.len() - 301 * 7 * 4;
            let data = &content[data_start..];
            // Odd piece lengths (one byte, a prime, not a multiple of a row, longer than
            // the data), with and without a first stretch read serially, on 1 and 2 threads.
            for threads in [1, 2] {
                for (head, piece_len) in [(0, 1), (0, 7), (5, 997), (28, 4096), (0, 1 << 20)] {
                    let (seen, sums) =
                        pool(threads).install(|| read_in_pieces(&path, head, piece_len));
                    let through = head + (data.len() - head) / 2;
                    assert_eq!(
                        seen,
                        data[..through],
                        "{threads} threads, piece {piece_len}"
                    );
                    assert_eq!(sums, expected, "{threads} threads, piece {piece_len}");
                }
            }
        }
    }

    #[test]
    fn an_error_of_a_piece_comes_before_a_read_error_of_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (path, content) = npy_file(dir.path(), 50, 4, true);
        // The compressed stream ends 10 bytes early: the read of the last piece fails.
        std::fs::write(&path, gzip(&content[..content.len() - 10])).unwrap();
        let data_len = 50 * 4 * 4;
        for threads in [1, 2] {
            let read_to_end = |fail_at: Option<usize>| {
                pool(threads).install(|| {
                    let mut stream = NpyStream::open(&path).unwrap();
                    let mut pieces = 0;
                    stream
                        .for_each_piece(data_len, 64, |_| {
                            pieces += 1;
                            match Some(pieces) == fail_at {
                                true => Err(Error::invalid(format!("piece {pieces}"))),
                                false => Ok(()),
                            }
                        })
                        .unwrap_err()
                        .to_string()
                })
            };
            let truncated = format!(
                "truncated data: expected {data_len} bytes, found {}",
                data_len - 10
            );
            assert!(
                read_to_end(None).contains(&truncated),
                "{}",
                read_to_end(None)
            );
            // The last full piece (12) fails while the short one (13) is read: the
            // piece's own error wins, as when the pieces are read one after the other.
            assert_eq!(
                read_to_end(Some(12)),
                Error::invalid("piece 12").to_string()
            );
            assert_eq!(read_to_end(Some(1)), Error::invalid("piece 1").to_string());
        }
    }
}
