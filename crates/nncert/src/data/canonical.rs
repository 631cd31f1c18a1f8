//! Checksums of the canonical releases, to tell users whether their files are the real
//! ones.

/// A file of a canonical release.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalFile {
    /// Role (`train-images`, …).
    pub role: &'static str,
    /// Canonical file name as distributed.
    pub file_name: &'static str,
    /// MD5 of the distributed (gzip) file.
    pub gz_md5: &'static str,
    /// MD5 of the uncompressed content, where known.
    pub raw_md5: Option<&'static str>,
}

/// MNIST (LeCun, Cortes, Burges), the four IDX files.
pub const MNIST: [CanonicalFile; 4] = [
    CanonicalFile {
        role: "train-images",
        file_name: "train-images-idx3-ubyte.gz",
        gz_md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        raw_md5: Some("6bbc9ace898e44ae57da46a324031adb"),
    },
    CanonicalFile {
        role: "train-labels",
        file_name: "train-labels-idx1-ubyte.gz",
        gz_md5: "d53e105ee54ea40749a09fcbcd1e9432",
        raw_md5: Some("a25bea736e30d166cdddb491f175f624"),
    },
    CanonicalFile {
        role: "test-images",
        file_name: "t10k-images-idx3-ubyte.gz",
        gz_md5: "9fb629c4189551a2d022fa330f9573f3",
        raw_md5: Some("2646ac647ad5339dbf082846283269ea"),
    },
    CanonicalFile {
        role: "test-labels",
        file_name: "t10k-labels-idx1-ubyte.gz",
        gz_md5: "ec29112dd5afa0611ce80d1b7f02629c",
        raw_md5: Some("27ae3e4e09519cfbb04c329615203637"),
    },
];

/// CIFAR-10 binary version: only the archive's checksum is published.
pub const CIFAR10_ARCHIVE: CanonicalFile = CanonicalFile {
    role: "archive",
    file_name: "cifar-10-binary.tar.gz",
    gz_md5: "c32a1d4ab5d03f1284b67883e8d87530",
    raw_md5: None,
};

/// Whether a file with these checksums is the canonical `file`: its stored bytes match
/// the distributed gzip, or its content matches the uncompressed original.
pub(crate) fn matches(file: &CanonicalFile, stored_md5: &str, content_md5: &str) -> bool {
    stored_md5 == file.gz_md5 || file.raw_md5 == Some(content_md5)
}
