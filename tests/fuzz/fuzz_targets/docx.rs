//! Word transcripts: any bytes give text or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = orakel::qda::docx_text(data);
});
