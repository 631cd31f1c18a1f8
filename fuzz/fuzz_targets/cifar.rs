//! The CIFAR-10 batch parser (plain or gzip) never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nncert::data::cifar::parse_stored_batch;

fuzz_target!(|data: &[u8]| {
    if let Ok((labels, pixels)) = parse_stored_batch(data) {
        assert_eq!(pixels.len(), labels.len() * 3072);
        assert!(labels.iter().all(|&y| y < 10));
    }
});
