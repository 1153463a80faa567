//! Reading a candidate list from a CSV file as spreadsheets write them: `;` or `,` separated,
//! UTF-8 (or, failing that, Windows-1252 as older Excel saves it), headers in English or Danish.
//! Every row's problems are collected so a preview can show them all before anything is saved.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::Invalid;
use super::candidate::{CandidateData, CandidateInput, Stratum};

/// Files larger than this are refused before parsing.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_ROWS: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Email,
    Organisation,
    Source,
    Notes,
    ReferredBy,
    Stratum(usize),
}

/// One data row: what it says and what is wrong with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewRow {
    /// The line in the file (the header is line 1).
    pub line: usize,
    pub name: String,
    pub email: String,
    pub organisation: String,
    pub strata: BTreeMap<String, String>,
    pub source: String,
    /// The e-mail of the candidate who suggested this one (in the file or already in the study).
    pub referred_by: String,
    pub problems: Vec<String>,
    #[serde(skip)]
    pub data: Option<CandidateData>,
}

/// The whole file as read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub rows: Vec<PreviewRow>,
    /// `;` or `,`.
    pub delimiter: String,
    /// `UTF-8`, or `Windows-1252` when the file was not UTF-8.
    pub encoding: String,
    /// Rows with at least one problem; nothing is saved while this is above 0.
    pub problem_rows: usize,
}

fn header_column(h: &str, strata: &[Stratum]) -> Option<Column> {
    let n = h.trim().to_lowercase();
    let n = n.as_str();
    Some(match n {
        "name" | "navn" | "full name" | "fulde navn" => Column::Name,
        "email" | "e-mail" | "mail" | "e-mail address" | "e-mailadresse" => Column::Email,
        "organisation"
        | "organization"
        | "organisation/company"
        | "virksomhed"
        | "arbejdsplads" => Column::Organisation,
        "source" | "kilde" => Column::Source,
        "notes" | "note" | "noter" | "bemærkninger" => Column::Notes,
        "referred_by" | "referred by" | "henvist af" | "henvist_af" => Column::ReferredBy,
        _ => {
            let i = strata
                .iter()
                .position(|s| s.key.to_lowercase() == n || s.label.to_lowercase() == n)?;
            Column::Stratum(i)
        }
    })
}

/// Decodes the bytes: UTF-8 (with or without a byte-order mark), else Windows-1252.
fn decode(bytes: &[u8]) -> (String, &'static str) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "UTF-8"),
        Err(_) => {
            let (s, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (s.into_owned(), "Windows-1252")
        }
    }
}

/// Reads the file. File-level faults (empty, unknown or missing columns) are an error; row
/// faults are listed per row. `existing` holds the e-mails (lower-case) already in the study.
pub fn parse(
    bytes: &[u8],
    strata: &[Stratum],
    existing: &HashSet<String>,
) -> Result<Preview, Invalid> {
    if bytes.len() > MAX_BYTES {
        return Err(Invalid::one(
            "file",
            format!("the file is larger than {} MB", MAX_BYTES / 1024 / 1024),
        ));
    }
    let (text, encoding) = decode(bytes);
    if text.contains('\0') {
        return Err(Invalid::one("file", "the file is not a text (CSV) file"));
    }
    let first_line = text.lines().next().unwrap_or("");
    if first_line.trim().is_empty() {
        return Err(Invalid::one(
            "file",
            "the file is empty; the first line must name the columns",
        ));
    }
    let delimiter = if first_line.matches(';').count() >= first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Invalid::one("file", format!("the header line cannot be read: {e}")))?
        .clone();
    let mut columns = Vec::new();
    let mut e = Invalid::new();
    for h in headers.iter() {
        match header_column(h, strata) {
            Some(c) if columns.contains(&c) => e.add("file", format!("the column {h:?} appears twice")),
            Some(c) => columns.push(c),
            None => e.add(
                "file",
                format!(
                    "unknown column {h:?}; use name, email, organisation, source, notes, referred_by{}",
                    strata
                        .iter()
                        .map(|s| format!(", {}", s.key))
                        .collect::<String>()
                ),
            ),
        }
    }
    for (needed, label) in [(Column::Name, "name"), (Column::Email, "email")] {
        if !columns.contains(&needed) {
            e.add("file", format!("a column {label:?} is required"));
        }
    }
    e.into_result(())?;

    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() >= MAX_ROWS {
            return Err(Invalid::one(
                "file",
                format!("at most {MAX_ROWS} rows at a time"),
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(err) => {
                return Err(Invalid::one(
                    "file",
                    format!("line {line} cannot be read: {err}"),
                ));
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let mut input = CandidateInput::default();
        let mut referred_by = String::new();
        let mut problems = Vec::new();
        if record.len() != headers.len() {
            problems.push(format!(
                "has {} fields where the header has {}",
                record.len(),
                headers.len()
            ));
        }
        for (col, value) in columns.iter().zip(record.iter()) {
            let v = value.to_string();
            match col {
                Column::Name => input.name = v,
                Column::Email => input.email = v,
                Column::Organisation => input.organisation = v,
                Column::Source => input.source = v,
                Column::Notes => input.notes = v,
                Column::ReferredBy => referred_by = v.trim().to_lowercase(),
                Column::Stratum(s) => {
                    input.strata.insert(strata[*s].key.clone(), v);
                }
            }
        }
        let mut row = PreviewRow {
            line,
            name: input.name.trim().to_string(),
            email: input.email.trim().to_string(),
            organisation: input.organisation.trim().to_string(),
            strata: input
                .strata
                .iter()
                .map(|(k, v)| (k.clone(), v.trim().to_string()))
                .collect(),
            source: input.source.trim().to_string(),
            referred_by: referred_by.clone(),
            problems: Vec::new(),
            data: None,
        };
        match input.validate(strata, "") {
            Ok(data) => row.data = Some(data),
            Err(inv) => problems.extend(
                inv.0
                    .into_iter()
                    .map(|f| format!("{}: {}", f.field, f.message)),
            ),
        }
        row.problems = problems;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Invalid::one(
            "file",
            "the file has a header but no candidates",
        ));
    }

    // Duplicates within the file and against the study, and referrals that lead nowhere.
    let mut seen: HashSet<String> = HashSet::new();
    let in_file: HashSet<String> = rows.iter().map(|r| r.email.to_lowercase()).collect();
    for row in &mut rows {
        let key = row.email.to_lowercase();
        if key.is_empty() {
            continue;
        }
        if existing.contains(&key) {
            row.problems.push(format!(
                "{} is already a candidate in this study",
                row.email
            ));
        } else if !seen.insert(key.clone()) {
            row.problems
                .push(format!("{} appears more than once in the file", row.email));
        }
        if !row.referred_by.is_empty() {
            if row.referred_by == key {
                row.problems
                    .push("referred_by: a candidate cannot refer themselves".into());
            } else if !in_file.contains(&row.referred_by) && !existing.contains(&row.referred_by) {
                row.problems.push(format!(
                    "referred_by: {} is neither in the file nor a candidate of the study",
                    row.referred_by
                ));
            }
        }
    }
    let problem_rows = rows.iter().filter(|r| !r.problems.is_empty()).count();
    Ok(Preview {
        rows,
        delimiter: (delimiter as char).to_string(),
        encoding: encoding.into(),
        problem_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strata() -> Vec<Stratum> {
        vec![
            Stratum {
                key: "sector".into(),
                label: "Sektor".into(),
                values: vec!["Transport".into(), "Detail".into()],
            },
            Stratum {
                key: "gender".into(),
                label: "Køn".into(),
                values: vec!["Kvinde".into(), "Mand".into()],
            },
        ]
    }

    #[test]
    fn danish_semicolon_files_read_cleanly() {
        let csv = "Navn;E-mail;Virksomhed;Sektor;Køn;Kilde\n\
                   Søren Ægidius;soeren@bus.dk;Bus & Co;transport;Mand;Netværk\n\
                   Åse Øberg;aase@butik.dk;\"Butik; Kæden\";Detail;kvinde;Brancheorg\n";
        let p = parse(csv.as_bytes(), &strata(), &HashSet::new()).unwrap();
        assert_eq!(p.delimiter, ";");
        assert_eq!(p.problem_rows, 0, "{:?}", p.rows);
        assert_eq!(p.rows[1].organisation, "Butik; Kæden");
        let d = p.rows[0].data.as_ref().unwrap();
        assert_eq!(d.strata["sector"], "Transport");
        assert_eq!(d.name, "Søren Ægidius");
    }

    #[test]
    fn windows_1252_is_understood() {
        let mut bytes = b"name,email\n".to_vec();
        bytes.extend_from_slice(b"S\xf8ren \xc6gidius,s@x.dk\n");
        let p = parse(&bytes, &[], &HashSet::new()).unwrap();
        assert_eq!(p.encoding, "Windows-1252");
        assert_eq!(p.rows[0].name, "Søren Ægidius");
    }

    #[test]
    fn every_row_problem_is_reported() {
        let existing: HashSet<String> = ["old@x.dk".to_string()].into();
        let csv = "name,email,sector,referred_by\n\
                   A,a@x.dk,Transport,\n\
                   B,not-an-email,Transport,\n\
                   C,a@x.dk,Transport,\n\
                   D,old@x.dk,Transport,\n\
                   E,e@x.dk,Finance,\n\
                   F,f@x.dk,Transport,nobody@x.dk\n\
                   G,g@x.dk,Transport,a@x.dk\n";
        let p = parse(csv.as_bytes(), &strata(), &existing).unwrap();
        let problems: Vec<usize> = p.rows.iter().map(|r| r.problems.len()).collect();
        assert_eq!(problems, [0, 1, 1, 1, 1, 1, 0], "{:#?}", p.rows);
        assert_eq!(p.problem_rows, 5);
        assert!(p.rows[1].problems[0].contains("email"));
        assert!(p.rows[4].problems[0].contains("Finance"));
        assert_eq!(p.rows[2].line, 4);
    }

    #[test]
    fn file_level_faults_are_errors() {
        assert!(parse(b"", &[], &HashSet::new()).is_err());
        assert!(parse(b"name,email\n", &[], &HashSet::new()).is_err());
        let e = parse(b"name,phone\nA,1\n", &[], &HashSet::new()).unwrap_err();
        let msgs: Vec<&str> = e.0.iter().map(|f| f.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("phone")));
        assert!(msgs.iter().any(|m| m.contains("\"email\" is required")));
        assert!(parse(b"name,email\n\0\0", &[], &HashSet::new()).is_err());
    }
}
