//! A study's coding in and out through REFI-QDA: the codebook as `.qdc`, the coded project as
//! `.qdpx`, and the import of both.
//!
//! The mapping: a category is a code that cannot be coded (named `A. Title`) holding its themes
//! as codable codes (named `3. Title`, with the theme's colour); a theme's lettered statements
//! follow its description as lines `a) …`. Researchers who coded are users, transcripts are
//! text sources named by the panellist's pseudonym, passages are selections and each theme
//! given to a passage is a coding by its coder. Ids are UUIDs and serve as the GUIDs, so an
//! export imported into an empty Orakel exports again the same. Export is here; what an
//! import matches and creates is in `import`.

mod import;

pub use import::{ImportSummary, import_codebook, import_project};

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use super::access::{self, ResearcherId, Role};
use super::codebook::ACTIVE;
use super::coding::theme_colour;
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, now};
use crate::qda;

const ORIGIN: &str = concat!("Orakel ", env!("CARGO_PKG_VERSION"));

fn category_name(c: &Category) -> String {
    format!("{}. {}", c.code, c.title)
}

fn theme_name(t: &Theme) -> String {
    format!("{}. {}", t.number, t.title)
}

/// A theme's description with its statements as `a) …` lines after a blank line.
fn theme_description_with(t: &Theme, statements: &[Statement]) -> Option<String> {
    let mut parts = Vec::new();
    if !t.description.trim().is_empty() {
        parts.push(t.description.trim().to_string());
    }
    if !statements.is_empty() {
        parts.push(
            statements
                .iter()
                .map(|s| {
                    format!(
                        "{}) {}",
                        s.letter,
                        s.text.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Splits a description into its prose and the trailing `a) …` statement lines.
fn split_description(d: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = d.lines().collect();
    let is_statement = |l: &str| {
        l.split_once(") ").is_some_and(|(k, _)| {
            !k.is_empty() && k.len() <= 3 && k.chars().all(|c| c.is_ascii_lowercase())
        })
    };
    let first = lines
        .iter()
        .rposition(|l| !is_statement(l))
        .map_or(0, |i| i + 1);
    let statements = lines[first..]
        .iter()
        .map(|l| l.split_once(") ").expect("checked").1.trim().to_string())
        .collect();
    (lines[..first].join("\n").trim().to_string(), statements)
}

/// `N. Title` → (N, Title); `Title` → (None, Title).
fn numbered(name: &str) -> (Option<String>, String) {
    match name.split_once(". ") {
        Some((k, rest)) if !k.is_empty() && k.len() <= 10 && !k.contains(' ') => {
            (Some(k.to_string()), rest.trim().to_string())
        }
        _ => (None, name.trim().to_string()),
    }
}

fn codes_of_study(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<qda::Code>> {
    let cats = super::codebook::categories_of(conn, study_id)?;
    let themes: Vec<Theme> = super::codebook::themes_of(conn, study_id)?
        .into_iter()
        .filter(|t| t.status == ACTIVE)
        .collect();
    let ids: Vec<String> = themes.iter().map(|t| t.id.clone()).collect();
    let statements = super::codebook::statements_of(conn, &ids)?;
    Ok(cats
        .iter()
        .map(|c| {
            let mut own: Vec<&Theme> = themes.iter().filter(|t| t.category_id == c.id).collect();
            own.sort_by_key(|t| t.number);
            qda::Code {
                guid: c.id.clone(),
                name: category_name(c),
                codable: false,
                color: None,
                description: None,
                children: own
                    .into_iter()
                    .map(|t| {
                        let mine: Vec<Statement> = statements
                            .iter()
                            .filter(|s| s.theme_id == t.id)
                            .cloned()
                            .collect();
                        qda::Code {
                            guid: t.id.clone(),
                            name: theme_name(t),
                            codable: true,
                            color: Some(theme_colour(t).to_uppercase()),
                            description: theme_description_with(t, &mine),
                            children: Vec::new(),
                        }
                    })
                    .collect(),
            }
        })
        .collect())
}

/// A stable GUID for a second coder's selection of a passage (the same on every export).
fn selection_guid(excerpt_id: &str, coder_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{excerpt_id}/{coder_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn file_stem(study: &Study) -> String {
    let s: String = study
        .title
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if s.is_empty() {
        "study".into()
    } else {
        s.chars().take(60).collect()
    }
}

/// The codebook as a `.qdc` document, with a file name.
pub fn export_codebook(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<(String, String)> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let codes = codes_of_study(conn, study_id)?;
    Ok((
        format!("{}.qdc", file_stem(&study)),
        qda::codebook_xml(&codes, ORIGIN),
    ))
}

/// The study's coding as a REFI-QDA project.
pub fn project(conn: &mut DbConn, study_id: &str) -> AppResult<qda::Project> {
    let study: Study = studies::table
        .find(study_id)
        .select(Study::as_select())
        .first(conn)?;
    let codes = codes_of_study(conn, study_id)?;
    let active: HashSet<String> = codes
        .iter()
        .flat_map(|c| c.children.iter().map(|t| t.guid.clone()))
        .collect();
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut ts: Vec<Transcript> = transcripts::table
        .filter(transcripts::study_id.eq(study_id))
        .select(Transcript::as_select())
        .load(conn)?;
    ts.sort_by(|a, b| {
        let p = |t: &Transcript| pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default();
        p(a).cmp(&p(b))
            .then(a.title.cmp(&b.title))
            .then(a.id.cmp(&b.id))
    });
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let ex: Vec<Excerpt> = excerpts::table
        .filter(excerpts::transcript_id.eq_any(&ids))
        .order((excerpts::start_offset, excerpts::end_offset, excerpts::id))
        .select(Excerpt::as_select())
        .load(conn)?;
    let ex_ids: Vec<String> = ex.iter().map(|e| e.id.clone()).collect();
    let cs: Vec<Coding> = codings::table
        .filter(codings::excerpt_id.eq_any(&ex_ids))
        .order(codings::id)
        .select(Coding::as_select())
        .load(conn)?;
    let coder_ids: Vec<String> = cs
        .iter()
        .map(|c| c.coder_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut users: Vec<qda::User> = coders::table
        .filter(coders::id.eq_any(&coder_ids))
        .select((coders::id, coders::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(guid, name)| qda::User { guid, name })
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name).then(a.guid.cmp(&b.guid)));
    let sources = ts
        .into_iter()
        .map(|t| {
            let pseudonym = pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default();
            let name = if t.title.contains(&pseudonym) {
                t.title.clone()
            } else {
                format!("{pseudonym} {}", t.title)
            };
            // One selection per passage and coder, made by that coder: tools such as QualCoder
            // credit a selection's codings to its creating user, so two coders' codings of the
            // same passage stay two coders'. The first coder's selection keeps the passage's id.
            let selections = ex
                .iter()
                .filter(|e| e.transcript_id == t.id)
                .flat_map(|e| {
                    let mine: Vec<&Coding> = cs
                        .iter()
                        .filter(|c| c.excerpt_id == e.id && active.contains(&c.theme_id))
                        .collect();
                    let mut coders: Vec<&String> = mine.iter().map(|c| &c.coder_id).collect();
                    coders.sort();
                    coders.dedup();
                    coders
                        .into_iter()
                        .enumerate()
                        .map(|(i, coder)| qda::Selection {
                            guid: if i == 0 {
                                e.id.clone()
                            } else {
                                selection_guid(&e.id, coder)
                            },
                            start: e.start_offset as usize,
                            end: e.end_offset as usize,
                            user: Some(coder.clone()),
                            codings: mine
                                .iter()
                                .filter(|c| &c.coder_id == coder)
                                .map(|c| qda::Coding {
                                    guid: c.id.clone(),
                                    code: c.theme_id.clone(),
                                    user: Some(c.coder_id.clone()),
                                })
                                .collect(),
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            qda::Source {
                guid: t.id,
                name,
                text: t.body,
                selections,
            }
        })
        .collect();
    Ok(qda::Project {
        name: study.title,
        users,
        codes,
        sources,
    })
}

/// The coded project as a `.qdpx` file, with a file name. Exporting transcripts is logged.
pub fn export_project(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<(String, Vec<u8>)> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let p = project(conn, study_id)?;
    audit::record(
        conn,
        &Actor::Researcher {
            id: researcher_id.into(),
        },
        Some(study_id),
        audit::Action::QdpxExported,
        Some(study_id),
        serde_json::json!({ "sources": p.sources.len() }),
    )?;
    let created = now().and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let bytes = qda::qdpx(&p, ORIGIN, &created).map_err(|e| AppError::Internal(e.into()))?;
    Ok((format!("{}.qdpx", file_stem(&study)), bytes))
}

#[cfg(test)]
mod tests {
    use super::import::{guid_id, without_pseudonym};
    use super::*;

    #[test]
    fn imported_titles_lose_the_old_pseudonym() {
        assert_eq!(without_pseudonym("E03 Interview 3"), "Interview 3");
        assert_eq!(
            without_pseudonym("E12 – Telefoninterview"),
            "Telefoninterview"
        );
        assert_eq!(without_pseudonym("E03"), "E03");
        assert_eq!(
            without_pseudonym("Eva Hansen interview"),
            "Eva Hansen interview"
        );
    }

    #[test]
    fn descriptions_carry_statements_both_ways() {
        let (prose, st) =
            split_description("Why it matters.\nSecond line.\n\na) First point\nb) Second point");
        assert_eq!(prose, "Why it matters.\nSecond line.");
        assert_eq!(st, vec!["First point", "Second point"]);
        let (prose, st) = split_description("Only prose (with a parenthesis) here");
        assert_eq!(prose, "Only prose (with a parenthesis) here");
        assert!(st.is_empty());
    }

    #[test]
    fn names_split_into_number_and_title() {
        assert_eq!(
            numbered("12. Ledelse og trivsel"),
            (Some("12".into()), "Ledelse og trivsel".into())
        );
        assert_eq!(
            numbered("A. Arbejdsmiljø"),
            (Some("A".into()), "Arbejdsmiljø".into())
        );
        assert_eq!(
            numbered("Work and health"),
            (None, "Work and health".into())
        );
        assert_eq!(
            guid_id("{0E5A8F2C-1B2D-4C3E-9F40-112233445566}").as_deref(),
            Some("0e5a8f2c-1b2d-4c3e-9f40-112233445566")
        );
    }
}
