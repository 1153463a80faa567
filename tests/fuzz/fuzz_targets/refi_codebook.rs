//! REFI-QDA codebooks (.qdc): any text gives codes or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        let _ = orakel::qda::parse_codebook(xml);
    }
});
