//! The report as an XLSX workbook for people: one sheet per table, named and headed in the
//! report's language, numbers stored with every digit and shown as the report shows them (a
//! mean with one decimal, counts whole), coded cells in words, the header row frozen, and text
//! that a spreadsheet could take for a formula stored with Excel's quote prefix.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::Report;
use super::tables::{Shown, Value, looks_like_formula, tables};

/// The number format for a column: format codes always use `.`; the spreadsheet shows the
/// reader's own decimal mark.
fn number_format(shown: Shown, lang: &str) -> Format {
    let code = match shown {
        Shown::Whole => "0".to_string(),
        Shown::Decimals(0) => "0".to_string(),
        Shown::Decimals(places) => format!("0.{}", "0".repeat(places)),
        Shown::Plain => "General".to_string(),
        // Below a thousandth the value says "< 0,001" in the reader's notation.
        Shown::P => {
            let below = if lang == "da" { "< 0,001" } else { "< 0.001" };
            format!("[<0.001]\"{below}\";0.000")
        }
    };
    Format::new().set_num_format(code)
}

pub fn workbook(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let lang = r.language.code();
    let mut wb = Workbook::new();
    let header = Format::new().set_bold().set_text_wrap();
    let quoted = Format::new().set_quote_prefix();
    for t in tables(r) {
        let ws = wb.add_worksheet();
        // Sheet names: at most 31 characters, none of []:*?/\.
        let name: String = t
            .title
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(31)
            .collect();
        ws.set_name(&name)?;
        let shown: Vec<usize> = (0..t.columns.len())
            .filter(|&i| !t.columns[i].machine_only)
            .collect();
        for (c, &i) in shown.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, &t.columns[i].label, &header)?;
        }
        let formats: Vec<Format> = shown
            .iter()
            .map(|&i| number_format(t.columns[i].shown, lang))
            .collect();
        for (row_index, row) in t.rows.iter().enumerate() {
            let r = (row_index + 1) as u32;
            for (c, &i) in shown.iter().enumerate() {
                let col = c as u16;
                match row.get(i).unwrap_or(&Value::Empty) {
                    Value::Text(s) | Value::Code { label: s, .. } if looks_like_formula(s) => {
                        ws.write_string_with_format(r, col, s, &quoted)?;
                    }
                    Value::Text(s) | Value::Code { label: s, .. } => {
                        ws.write_string(r, col, s)?;
                    }
                    Value::Number(n) => {
                        ws.write_number_with_format(r, col, *n, &formats[c])?;
                    }
                    Value::Empty => {}
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        ws.autofit();
    }
    wb.save_to_buffer()
}
