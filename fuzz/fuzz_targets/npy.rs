//! The .npy parser and its conversions never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nncert::data::npy::NpyArray;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = NpyArray::parse(data) {
        let _ = a.expect_rank(2);
        let _ = a.to_u32_checked(u32::MAX, "x");
        if let Ok(v) = a.to_f32_values() {
            assert_eq!(v.len(), a.len());
        }
        assert_eq!(a.little_endian_bytes().len(), a.len() * a.dtype.size());
    }
});
