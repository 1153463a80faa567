//! The report as CSV: one table per file (UTF-8 with a byte-order mark so spreadsheets read the
//! Danish letters), or all of them in a zip. Text that could be read as a formula is prefixed
//! with an apostrophe.

use std::io::Write;

use super::Report;
use super::tables::{Table, Value, looks_like_formula, tables};

fn cell(v: &Value) -> String {
    match v {
        Value::Text(s) if looks_like_formula(s) => format!("'{s}"),
        Value::Text(s) => s.clone(),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
        Value::Number(n) => format!("{n}"),
        Value::Empty => String::new(),
    }
}

pub fn table_csv(t: &Table) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let _ = w.write_record(t.header.iter().map(|h| cell(&Value::Text(h.clone()))));
        for row in &t.rows {
            let _ = w.write_record(row.iter().map(cell));
        }
        let _ = w.flush();
    }
    out
}

/// One table by its key (`priorities`, `flow`, `composition`, `stability`, `findings`, `kendall`).
pub fn one(r: &Report, key: &str) -> Option<Vec<u8>> {
    tables(r).iter().find(|t| t.key == key).map(table_csv)
}

pub fn keys(r: &Report) -> Vec<&'static str> {
    tables(r).iter().map(|t| t.key).collect()
}

/// Every table as `KEY.csv` in one zip.
pub fn zip(r: &Report) -> std::io::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for t in tables(r) {
            z.start_file(format!("{}.csv", t.key), opts)
                .map_err(std::io::Error::other)?;
            z.write_all(&table_csv(&t))?;
        }
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}
