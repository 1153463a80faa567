//! The candidates' CSV import: any bytes give a preview or a clear error, never a panic.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use orakel::domain::candidate::Stratum;

fuzz_target!(|data: &[u8]| {
    let strata = [Stratum {
        key: "sector".into(),
        label: "Sektor".into(),
        values: vec!["Industri".into(), "Handel".into()],
    }];
    let existing = HashSet::from(["kendt@example.org".to_string()]);
    let _ = orakel::domain::csv_import::parse(data, &strata, &existing);
});
