//! Reading an input file with memory bounded by its real size.
//!
//! `std::fs::read` keeps reading while the source gives bytes: `/dev/zero` fills memory, a
//! FIFO blocks forever, and a huge file of the wrong format is read whole before its first
//! bytes are checked. Here a file must be a regular file (checked before it is opened, and
//! opened without blocking), its size comes from its metadata, the caller checks the
//! format's first bytes against that size before anything large is allocated, and exactly
//! that many bytes are read (a file that grows or shrinks meanwhile is refused).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// An open regular file and its size in bytes.
pub(crate) struct RegularFile {
    file: File,
    /// Size from the metadata of the opened file.
    pub(crate) len: u64,
    /// Bytes read so far.
    read: u64,
}

/// What kind of non-regular file `m` describes, for the refusal.
fn kind_name(m: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if m.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn refuse_unless_regular(path: &Path, m: &std::fs::Metadata) -> Result<(), Error> {
    if m.is_file() {
        Ok(())
    } else {
        Err(Error::content(
            path,
            format!("expected a regular file, found {}", kind_name(m)),
        ))
    }
}

impl RegularFile {
    /// Opens `path`, refusing anything but a regular file (before opening it, so a FIFO
    /// cannot block, and again on the opened file).
    pub(crate) fn open(path: &Path) -> Result<RegularFile, Error> {
        let before = std::fs::metadata(path).map_err(|e| Error::io(path, "cannot read", e))?;
        refuse_unless_regular(path, &before)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Harmless for a regular file; never blocks if it was swapped for a FIFO.
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options
            .open(path)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        let m = file
            .metadata()
            .map_err(|e| Error::io(path, "cannot read", e))?;
        refuse_unless_regular(path, &m)?;
        Ok(RegularFile {
            file,
            len: m.len(),
            read: 0,
        })
    }

    /// Bytes not read yet, by the size the metadata gave.
    pub(crate) fn remaining(&self) -> u64 {
        self.len - self.read.min(self.len)
    }

    /// Appends the next `n` bytes to `buf`; `n` must be at most [`RegularFile::remaining`]
    /// (so the allocation is bounded by the file's size), and the file must hold them.
    pub(crate) fn read_more(
        &mut self,
        path: &Path,
        buf: &mut Vec<u8>,
        n: u64,
    ) -> Result<(), Error> {
        let n = n.min(self.remaining());
        let want = usize::try_from(n).map_err(|_| {
            Error::content(
                path,
                format!("{n} bytes do not fit in memory on this system"),
            )
        })?;
        buf.try_reserve_exact(want)
            .map_err(|_| Error::content(path, format!("cannot hold {n} bytes in memory")))?;
        let start = buf.len();
        (&mut self.file)
            .take(n)
            .read_to_end(buf)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        let got = (buf.len() - start) as u64;
        self.read += got;
        if got != n {
            return Err(changed(path, self.len));
        }
        Ok(())
    }

    /// Reads everything left (exactly the size announced by the metadata) and checks that
    /// the file ends there.
    pub(crate) fn read_rest(&mut self, path: &Path, buf: &mut Vec<u8>) -> Result<(), Error> {
        self.read_more(path, buf, self.remaining())?;
        let mut probe = [0u8; 1];
        let extra = self
            .file
            .read(&mut probe)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if extra != 0 {
            return Err(changed(path, self.len));
        }
        Ok(())
    }
}

fn changed(path: &Path, len: u64) -> Error {
    Error::content(
        path,
        format!("changed while being read (its size was {len} bytes)"),
    )
}

/// Reads the whole regular file `path`, refusing a file larger than `max` bytes before
/// reading it.
pub(crate) fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, Error> {
    let mut file = RegularFile::open(path)?;
    if file.len > max {
        return Err(Error::content(
            path,
            format!(
                "expected at most {max} bytes (the most this input may hold), found {}",
                file.len
            ),
        ));
    }
    let mut bytes = Vec::new();
    file.read_rest(path, &mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_exactly_and_others_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_regular(&path, 10).unwrap(), b"0123456789");
        let e = read_regular(&path, 9).unwrap_err().to_string();
        assert!(
            e.contains("expected at most 9 bytes") && e.contains("found 10"),
            "{e}"
        );
        let e = read_regular(dir.path(), u64::MAX).unwrap_err().to_string();
        assert!(
            e.contains("expected a regular file, found a directory"),
            "{e}"
        );
        #[cfg(unix)]
        {
            // Unbounded before: /dev/zero filled memory until the OOM killer came.
            let e = read_regular(Path::new("/dev/zero"), u64::MAX)
                .unwrap_err()
                .to_string();
            assert!(e.contains("expected a regular file, found a device"), "{e}");
            // Blocked forever before: opening a FIFO for reading waits for a writer.
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = read_regular(&fifo, u64::MAX).unwrap_err().to_string();
            assert!(e.contains("expected a regular file, found a FIFO"), "{e}");
        }
    }
}
