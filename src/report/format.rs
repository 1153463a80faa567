//! The report's formats, one enum for every place that hands out a file: the API, the funder's
//! downloads and the command line.

use super::csv::Dialect;
use super::{Audience, Report};
use crate::domain::Invalid;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// One table as CSV.
    Csv,
    /// Every table as CSV, zipped.
    Zip,
    Xlsx,
    Pdf,
    Html,
}

/// A made report file.
#[derive(Debug, Clone)]
pub struct File {
    pub content_type: &'static str,
    /// For a download; none for a page shown in the browser.
    pub filename: Option<String>,
    pub body: Vec<u8>,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Json,
        Format::Csv,
        Format::Zip,
        Format::Xlsx,
        Format::Pdf,
        Format::Html,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Zip => "zip",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
            Format::Html => "html",
        }
    }

    pub fn parse(ext: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.extension() == ext)
    }

    /// The report in this format; `table` names the CSV table (priorities by default),
    /// `dialect` whom a CSV is for, `downloads` the address the HTML's download links start
    /// with.
    pub fn make(
        self,
        r: &Report,
        table: Option<&str>,
        dialect: Dialect,
        audience: Audience,
        downloads: &str,
    ) -> AppResult<File> {
        let lang = r.language.code();
        let mut name = crate::i18n::text_with(
            lang,
            "report.file_name",
            &[("number", r.round.number.to_string())],
        );
        if dialect == Dialect::Spreadsheet && matches!(self, Format::Csv | Format::Zip) {
            name = format!(
                "{name}-{}",
                crate::i18n::text(lang, "report.file_spreadsheet")
            );
        }
        let file = |content_type, filename: String, body| File {
            content_type,
            filename: Some(filename),
            body,
        };
        Ok(match self {
            Format::Json => file(
                "application/json",
                format!("{name}.json"),
                serde_json::to_vec_pretty(r).map_err(|e| AppError::Internal(e.into()))?,
            ),
            Format::Csv => {
                let key = table.unwrap_or("priorities");
                let body = super::csv::one(r, key, dialect).ok_or_else(|| {
                    AppError::Invalid(Invalid::one(
                        "table",
                        format!("must be one of {}", super::csv::keys(r).join(", ")),
                    ))
                })?;
                file("text/csv; charset=utf-8", format!("{name}-{key}.csv"), body)
            }
            Format::Zip => file(
                "application/zip",
                format!("{name}-csv.zip"),
                super::csv::zip(r, dialect).map_err(|e| AppError::Internal(e.into()))?,
            ),
            Format::Xlsx => file(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                format!("{name}.xlsx"),
                super::xlsx::workbook(r)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("XLSX: {e}")))?,
            ),
            Format::Pdf => file(
                "application/pdf",
                format!("{name}.pdf"),
                super::pdf::render(r)?,
            ),
            Format::Html => File {
                content_type: "text/html; charset=utf-8",
                filename: None,
                body: super::html::document(r, audience, downloads)?.into_bytes(),
            },
        })
    }
}
