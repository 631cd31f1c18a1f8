//! The embedded default: a real MNIST subset compiled into the library, so the main
//! command runs offline on a fresh machine. Provenance and checksums are in
//! `crates/nncert/data/mnist-subset/README.md`.

use std::path::PathBuf;

use super::dataset::Dataset;
use super::idx::mnist_from_sources;
use super::source::from_stored;
use crate::error::Error;

/// SHA-256 of the uncompressed embedded files, in IDX order (train images, train labels,
/// test images, test labels). Checked at load: a corrupted build fails loudly.
pub(crate) const EMBEDDED_SHA256: [&str; 4] = [
    "2782ff6f3467f3487a520503c34fe99b761aa97623af029969e59716ac3585c3",
    "0d830540a6191e75a9f5cd63cd5b4bde38960b893784bbf456d560179296d7cd",
    "de7c252b04f05e1f8309634180ccdf286dc6dbac8c579b74e76e02ae0331ca52",
    "832c0d20f0dc42e575488c75a83a970787d4c8d4d05831b2ef03701b4a478a90",
];

const FILES: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist-subset/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist-subset/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist-subset/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist-subset/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// The embedded MNIST subset: 6,000 training and 1,000 test images.
pub(crate) fn embedded_mnist() -> Result<Dataset, Error> {
    let mut sources = Vec::with_capacity(4);
    for ((name, bytes), expected) in FILES.iter().zip(EMBEDDED_SHA256) {
        let s = from_stored(PathBuf::from(format!("<embedded>/{name}")), bytes.to_vec())?;
        if s.sha256() != expected {
            return Err(Error::content(
                &s.path,
                format!(
                    "embedded file corrupt: expected SHA-256 {expected}, found {}",
                    s.sha256()
                ),
            ));
        }
        sources.push(s);
    }
    let mut d = mnist_from_sources("mnist-embedded", &sources)?;
    // A subset is not the canonical release; say so rather than "does not match".
    for f in &mut d.files {
        f.canonical = None;
    }
    d.caveat = Some(
        "embedded MNIST subset (first 6,000 training and 1,000 test images): \
         smaller than the paper's 60,000/10,000"
            .into(),
    );
    Ok(d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_subset_loads() {
        let d = super::embedded_mnist().unwrap();
        assert_eq!((d.train.len(), d.test.len()), (6000, 1000));
        // First training labels of MNIST: 5 0 4 1 9 2 1 3 1 4.
        assert_eq!(d.train.labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        // First test labels: 7 2 1 0 4 1 4 9 5 9.
        assert_eq!(d.test.labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    }
}
