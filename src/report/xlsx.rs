//! The report as an XLSX workbook: one sheet per table, numbers as numbers, and text that a
//! spreadsheet could take for a formula stored with Excel's quote prefix.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::Report;
use super::tables::{Value, looks_like_formula, tables};

pub fn workbook(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
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
        for (c, h) in t.header.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)?;
        }
        for (i, row) in t.rows.iter().enumerate() {
            let r = (i + 1) as u32;
            for (c, v) in row.iter().enumerate() {
                let c = c as u16;
                match v {
                    Value::Text(s) if looks_like_formula(s) => {
                        ws.write_string_with_format(r, c, s, &quoted)?;
                    }
                    Value::Text(s) => {
                        ws.write_string(r, c, s)?;
                    }
                    Value::Number(n) => {
                        ws.write_number(r, c, *n)?;
                    }
                    Value::Empty => {}
                }
            }
        }
        ws.autofit();
    }
    wb.save_to_buffer()
}
