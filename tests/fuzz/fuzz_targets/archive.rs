//! Study archives: any bytes are read and checked, or refused with a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = orakel::ops::archive::read(data);
});
