//! IDX parsers never panic and never accept a file whose length disagrees with its header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nncert::data::idx::{parse_images, parse_labels};

fuzz_target!(|data: &[u8]| {
    if let Ok((n, rows, cols, pixels)) = parse_images(data) {
        assert_eq!(pixels.len(), n * rows * cols);
        assert_eq!(data.len(), 16 + pixels.len());
    }
    if let Ok(labels) = parse_labels(data) {
        assert_eq!(data.len(), 8 + labels.len());
    }
});
