//! REFI-QDA projects (.qdpx): any bytes give a project or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = orakel::qda::parse_qdpx(data);
});
