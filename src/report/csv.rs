//! The report as CSV, one table per file (UTF-8 with a byte-order mark so spreadsheets read the
//! Danish letters), or all of them in a zip, in one of two dialects:
//!
//! - **for scripts** (the default): the header is the columns' stable keys, numbers carry every
//!   digit with a decimal point, coded cells their codes (`high`, `no_reply`), fields are
//!   separated by commas — the same in every language, as documented in the README;
//! - **for spreadsheets**: the header and coded cells in the report's language, numbers rounded
//!   as the report shows them, and the separators a spreadsheet of that language expects
//!   (Danish: `;` between fields and `,` as the decimal mark), so that Excel or LibreOffice in a
//!   Danish locale reads every number as a number.
//!
//! In both, text that could be read as a formula is prefixed with an apostrophe.

use std::io::Write;

use super::Report;
use super::tables::{Column, Shown, Table, Value, looks_like_formula, tables};
use crate::domain::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    #[default]
    Scripts,
    Spreadsheet,
}

impl Dialect {
    /// From the `for` query parameter: `spreadsheet`, or `scripts` (the default).
    pub fn parse(asked: Option<&str>) -> Option<Dialect> {
        match asked {
            None | Some("") | Some("scripts") => Some(Dialect::Scripts),
            Some("spreadsheet") => Some(Dialect::Spreadsheet),
            Some(_) => None,
        }
    }
}

fn text_cell(s: &str) -> String {
    if looks_like_formula(s) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn machine_cell(v: &Value) -> String {
    match v {
        Value::Text(s) => text_cell(s),
        Value::Code { code, .. } => text_cell(code),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
        Value::Number(n) => format!("{n}"),
        Value::Empty => String::new(),
    }
}

/// A number as people see it in `lang` under `shown`.
pub fn shown_number(n: f64, shown: Shown, lang: &str) -> String {
    match shown {
        Shown::Whole => format!("{n:.0}"),
        Shown::Decimals(places) => crate::i18n::decimal(n, places, lang),
        Shown::Plain => {
            let s = format!("{n}");
            if lang == "da" { s.replace('.', ",") } else { s }
        }
        Shown::P if n < 0.001 => format!("<{}", crate::i18n::decimal(0.001, 3, lang)),
        Shown::P => crate::i18n::decimal(n, 3, lang),
    }
}

fn people_cell(v: &Value, c: &Column, lang: &str) -> String {
    match v {
        Value::Text(s) => text_cell(s),
        Value::Code { label, .. } => text_cell(label),
        Value::Number(n) => shown_number(*n, c.shown, lang),
        Value::Empty => String::new(),
    }
}

pub fn table_csv(t: &Table, dialect: Dialect, lang: Language) -> Vec<u8> {
    let lang = lang.code();
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let delimiter = match (dialect, lang) {
            (Dialect::Spreadsheet, "da") => b';',
            _ => b',',
        };
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_writer(&mut out);
        let shown: Vec<usize> = (0..t.columns.len())
            .filter(|&i| dialect == Dialect::Scripts || !t.columns[i].machine_only)
            .collect();
        let header = shown.iter().map(|&i| match dialect {
            Dialect::Scripts => text_cell(&t.columns[i].key),
            Dialect::Spreadsheet => text_cell(&t.columns[i].label),
        });
        let _ = w.write_record(header);
        for row in &t.rows {
            let cells = shown.iter().map(|&i| {
                let v = row.get(i).unwrap_or(&Value::Empty);
                match dialect {
                    Dialect::Scripts => machine_cell(v),
                    Dialect::Spreadsheet => people_cell(v, &t.columns[i], lang),
                }
            });
            let _ = w.write_record(cells);
        }
        let _ = w.flush();
    }
    out
}

/// One table by its key (`priorities`, `flow`, `composition`, `stability`, `findings`, `kendall`).
pub fn one(r: &Report, key: &str, dialect: Dialect) -> Option<Vec<u8>> {
    tables(r)
        .iter()
        .find(|t| t.key == key)
        .map(|t| table_csv(t, dialect, r.language))
}

pub fn keys(r: &Report) -> Vec<&'static str> {
    tables(r).iter().map(|t| t.key).collect()
}

/// Every table as `KEY.csv` in one zip.
pub fn zip(r: &Report, dialect: Dialect) -> std::io::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for t in tables(r) {
            z.start_file(format!("{}.csv", t.key), opts)
                .map_err(std::io::Error::other)?;
            z.write_all(&table_csv(&t, dialect, r.language))?;
        }
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}
