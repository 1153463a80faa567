//! Transcripts (text or Word) under the panellist's pseudonym, and coding their passages to themes with the coder recorded.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::{Invalid, text};
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::codebook::ACTIVE;
use crate::ops::{Actor, AppError, AppResult, audit};

pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TranscriptSummary {
    pub id: String,
    pub pseudonym: String,
    pub title: String,
    pub source_kind: String,
    pub characters: usize,
    pub excerpts: usize,
    /// The researchers who coded it.
    pub coders: Vec<String>,
    pub created_at: DateTime<Utc>,
}

fn summaries(conn: &mut DbConn, ts: Vec<Transcript>) -> AppResult<Vec<TranscriptSummary>> {
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let owners: Vec<String> = ts.iter().map(|t| t.panellist_id.clone()).collect();
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::id.eq_any(&owners))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let ex: Vec<String> = excerpts::table
        .filter(excerpts::transcript_id.eq_any(&ids))
        .select(excerpts::transcript_id)
        .load(conn)?;
    let coded_by: Vec<(String, String)> = codings::table
        .inner_join(excerpts::table)
        .inner_join(coders::table)
        .filter(excerpts::transcript_id.eq_any(&ids))
        .select((excerpts::transcript_id, coders::name))
        .distinct()
        .load(conn)?;
    Ok(ts
        .into_iter()
        .map(|t| {
            let mut coders: Vec<String> = coded_by
                .iter()
                .filter(|(tid, _)| *tid == t.id)
                .map(|(_, name)| name.clone())
                .collect();
            coders.sort();
            coders.dedup();
            TranscriptSummary {
                pseudonym: pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default(),
                characters: t.body.chars().count(),
                excerpts: ex.iter().filter(|tid| **tid == t.id).count(),
                coders,
                id: t.id,
                title: t.title,
                source_kind: t.source_kind,
                created_at: utc(t.created_at),
            }
        })
        .collect())
}

pub fn transcripts(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<TranscriptSummary>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let mut ts: Vec<Transcript> = transcripts::table
        .filter(transcripts::study_id.eq(study_id))
        .select(Transcript::as_select())
        .load(conn)?;
    ts.sort_by(|a, b| a.title.cmp(&b.title));
    let mut out = summaries(conn, ts)?;
    out.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym).then(a.title.cmp(&b.title)));
    Ok(out)
}

/// The text of an upload: UTF-8 plain text, or a Word document.
pub fn upload_text(filename: &str, bytes: &[u8]) -> Result<(String, &'static str), Invalid> {
    if bytes.is_empty() {
        return Err(Invalid::one("file", "the file is empty"));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(Invalid::one(
            "file",
            format!(
                "the file is larger than {} MB",
                MAX_UPLOAD_BYTES / 1024 / 1024
            ),
        ));
    }
    let lower = filename.to_lowercase();
    let (text, kind) = if lower.ends_with(".docx") || bytes.starts_with(b"PK\x03\x04") {
        (
            crate::qda::docx_text(bytes).map_err(|e| Invalid::one("file", e))?,
            "docx",
        )
    } else {
        let t = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).map_err(
            |_| {
                Invalid::one(
                    "file",
                    "the text is not UTF-8; save it as UTF-8 or upload the .docx",
                )
            },
        )?;
        if t.contains('\0') {
            return Err(Invalid::one("file", "the file is not a text file"));
        }
        (t.to_string(), "text")
    };
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if text.trim().is_empty() {
        return Err(Invalid::one("file", "the file holds no text"));
    }
    if text.chars().count() > crate::qda::MAX_TEXT_CHARS {
        return Err(Invalid::one(
            "file",
            format!(
                "the text is longer than {} characters",
                crate::qda::MAX_TEXT_CHARS
            ),
        ));
    }
    Ok((text, kind))
}

/// Whether a file name gives away the person: it contains a part of their name.
pub(crate) fn names_person(filename: &str, name: &str) -> bool {
    let f = filename.to_lowercase();
    name.split_whitespace()
        .filter(|p| p.chars().count() >= 3)
        .any(|p| f.contains(&p.to_lowercase()))
}

#[allow(clippy::too_many_arguments)]
pub fn add_transcript(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    panellist: &str,
    title: &str,
    round_id: Option<&str>,
    filename: &str,
    bytes: &[u8],
) -> AppResult<TranscriptSummary> {
    let (body, kind) = upload_text(filename, bytes)?;
    let title = if title.trim().is_empty() {
        String::new()
    } else {
        text::line("title", title, 200)?
    };
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        let p = crate::ops::interviews::panellist_of(c, study_id, panellist)?;
        if let Some(r) = round_id {
            let n: i64 = rounds::table
                .filter(rounds::id.eq(r))
                .filter(rounds::study_id.eq(study_id))
                .count()
                .get_result(c)?;
            if n == 0 {
                return Err(Invalid::one("round_id", "is not a round of this study").into());
            }
        }
        let person: Option<String> = candidates::table
            .filter(candidates::panellist_id.eq(&p.id))
            .select(candidates::name)
            .first(c)
            .optional()?;
        // A file name that names the expert would carry their identity next to the answers.
        let kept = (!filename.is_empty()
            && !person.as_deref().is_some_and(|n| names_person(filename, n)))
        .then(|| filename.to_string());
        let t = Transcript {
            id: new_id(),
            study_id: study_id.into(),
            round_id: round_id.map(str::to_string),
            panellist_id: p.id.clone(),
            title: if title.is_empty() {
                format!("Interview {}", p.pseudonym)
            } else {
                title.clone()
            },
            body: body.clone(),
            source_kind: kind.into(),
            original_filename: kept,
            uploaded_by: Some(researcher_id.into()),
            created_at: now(),
        };
        diesel::insert_into(transcripts::table)
            .values(&t)
            .execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::TranscriptAdded,
            Some(&t.id),
            serde_json::json!({ "kind": kind }),
        )?;
        Ok(summaries(c, vec![t])?.remove(0))
    })
}

/// Removes a transcript with its coded passages.
pub fn remove_transcript(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    transcript_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        let (t, _) =
            access::in_study::<Transcript>(c, researcher_id, transcript_id, Role::Researcher)?;
        diesel::delete(transcripts::table.find(&t.id)).execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&t.study_id),
            audit::Action::TranscriptRemoved,
            Some(&t.id),
            serde_json::json!({}),
        )?;
        Ok(())
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodedTheme {
    pub coding_id: String,
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    pub colour: String,
    /// Who gave the passage this theme: the coder's id and name (each coding has its own
    /// coder; two coders may code one passage).
    pub coder_id: String,
    pub coder: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExcerptView {
    pub id: String,
    pub transcript_id: String,
    /// Character offsets into the transcript's text, `[start, end)`.
    pub start: usize,
    pub end: usize,
    pub quote: String,
    /// The researcher who marked the passage.
    pub coder_id: Option<String>,
    /// Who coded it: the names of its coders.
    pub coder: String,
    pub themes: Vec<CodedTheme>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TranscriptDetail {
    pub id: String,
    pub study_id: String,
    pub pseudonym: String,
    pub title: String,
    pub body: String,
    pub source_kind: String,
    pub excerpts: Vec<ExcerptView>,
}

fn excerpt_views(conn: &mut DbConn, transcript_ids: &[String]) -> AppResult<Vec<ExcerptView>> {
    let ex: Vec<Excerpt> = excerpts::table
        .filter(excerpts::transcript_id.eq_any(transcript_ids))
        .order((excerpts::start_offset.asc(), excerpts::end_offset.asc()))
        .select(Excerpt::as_select())
        .load(conn)?;
    let ids: Vec<String> = ex.iter().map(|e| e.id.clone()).collect();
    let codes: Vec<(Coding, Theme, String)> = codings::table
        .inner_join(themes::table)
        .inner_join(coders::table)
        .filter(codings::excerpt_id.eq_any(&ids))
        .select((Coding::as_select(), Theme::as_select(), coders::name))
        .load(conn)?;
    Ok(ex
        .into_iter()
        .map(|e| {
            let mut coders: Vec<&str> = Vec::new();
            for (_, _, name) in codes.iter().filter(|(c, _, _)| c.excerpt_id == e.id) {
                if !coders.contains(&name.as_str()) {
                    coders.push(name);
                }
            }
            let mut themes: Vec<CodedTheme> = codes
                .iter()
                .filter(|(c, _, _)| c.excerpt_id == e.id)
                .map(|(c, t, name)| CodedTheme {
                    coding_id: c.id.clone(),
                    theme_id: t.id.clone(),
                    number: t.number,
                    title: t.title.clone(),
                    colour: theme_colour(t),
                    coder_id: c.coder_id.clone(),
                    coder: name.clone(),
                })
                .collect();
            themes.sort_by(|a, b| a.number.cmp(&b.number).then(a.coder.cmp(&b.coder)));
            ExcerptView {
                coder: coders.join(", "),
                coder_id: e.created_by,
                id: e.id,
                transcript_id: e.transcript_id,
                start: e.start_offset as usize,
                end: e.end_offset as usize,
                quote: e.quote,
                themes,
            }
        })
        .collect())
}

/// The study's panellists as (id, pseudonym), by pseudonym: who a transcript can belong to.
pub fn pseudonyms(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<(String, String)>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    Ok(panellists::table
        .filter(panellists::study_id.eq(study_id))
        .order(panellists::pseudonym.asc())
        .select((panellists::id, panellists::pseudonym))
        .load(conn)?)
}

/// A transcript with its coded passages. Reading a transcript is logged.
pub fn transcript(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    transcript_id: &str,
) -> AppResult<TranscriptDetail> {
    let (t, _) =
        access::in_study::<Transcript>(conn, researcher_id, transcript_id, Role::Researcher)?;
    let pseudonym: String = panellists::table
        .find(&t.panellist_id)
        .select(panellists::pseudonym)
        .first(conn)?;
    let excerpts = excerpt_views(conn, std::slice::from_ref(&t.id))?;
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&t.study_id),
        audit::Action::TranscriptViewed,
        Some(&t.id),
        serde_json::json!({}),
    )?;
    Ok(TranscriptDetail {
        id: t.id,
        study_id: t.study_id,
        pseudonym,
        title: t.title,
        body: t.body,
        source_kind: t.source_kind,
        excerpts,
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExcerptInput {
    /// Character offsets into the transcript's text, `[start, end)`.
    pub start: usize,
    pub end: usize,
    /// The themes the passage is coded to (at least one).
    pub theme_ids: Vec<String>,
}

/// Codes a passage to one or more themes, as the calling researcher.
pub fn add_excerpt(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    transcript_id: &str,
    input: ExcerptInput,
) -> AppResult<ExcerptView> {
    Ok(add_excerpts(conn, researcher_id, transcript_id, vec![input])?.remove(0))
}

/// Codes several passages of one transcript at once: all of them or, on any fault, none.
pub fn add_excerpts(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    transcript_id: &str,
    inputs: Vec<ExcerptInput>,
) -> AppResult<Vec<ExcerptView>> {
    db::write(conn, |c| {
        let (t, _) =
            access::in_study::<Transcript>(c, researcher_id, transcript_id, Role::Researcher)?;
        let chars: Vec<char> = t.body.chars().collect();
        let mut written = Vec::new();
        for input in &inputs {
            written.push(code_passage(c, researcher_id, &t, &chars, input)?);
        }
        let views = excerpt_views(c, std::slice::from_ref(&t.id))?;
        Ok(written
            .iter()
            .map(|id| {
                views
                    .iter()
                    .find(|x| &x.id == id)
                    .cloned()
                    .expect("just written")
            })
            .collect())
    })
}

fn code_passage(
    c: &mut DbConn,
    researcher_id: &ResearcherId,
    t: &Transcript,
    chars: &[char],
    input: &ExcerptInput,
) -> AppResult<String> {
    if input.theme_ids.is_empty() || input.theme_ids.len() > 50 {
        return Err(Invalid::one("theme_ids", "name between one and 50 themes").into());
    }
    let len = chars.len();
    if input.start >= input.end || input.end > len {
        return Err(Invalid::one(
            "end",
            format!("the passage must lie within the text's {len} characters and not be empty"),
        )
        .into());
    }
    let quote: String = chars[input.start..input.end].iter().collect();
    if quote.trim().is_empty() {
        return Err(Invalid::one("start", "the passage is only white space").into());
    }
    let valid: HashSet<String> = themes::table
        .filter(themes::study_id.eq(&t.study_id))
        .filter(themes::status.eq(ACTIVE))
        .filter(themes::id.eq_any(&input.theme_ids))
        .select(themes::id)
        .load::<String>(c)?
        .into_iter()
        .collect();
    if let Some(bad) = input.theme_ids.iter().find(|id| !valid.contains(*id)) {
        return Err(Invalid::one(
            "theme_ids",
            format!("{bad} is not an active theme of this study"),
        )
        .into());
    }
    let e = Excerpt {
        id: new_id(),
        transcript_id: t.id.clone(),
        start_offset: input.start as i32,
        end_offset: input.end as i32,
        quote,
        created_by: Some(researcher_id.into()),
        created_at: now(),
    };
    diesel::insert_into(excerpts::table).values(&e).execute(c)?;
    let coder = coder_for(c, &t.study_id, researcher_id)?;
    let mut seen = HashSet::new();
    for theme in input.theme_ids.iter().filter(|id| seen.insert(id.as_str())) {
        diesel::insert_into(codings::table)
            .values(&Coding {
                id: new_id(),
                excerpt_id: e.id.clone(),
                theme_id: theme.clone(),
                coder_id: coder.clone(),
                created_at: now(),
            })
            .execute(c)?;
    }
    Ok(e.id)
}

/// The study's coder for a member of its team (made when they first code).
pub fn coder_for(c: &mut DbConn, study_id: &str, researcher_id: &str) -> AppResult<String> {
    let find = |c: &mut DbConn| -> QueryResult<Option<String>> {
        coders::table
            .filter(coders::study_id.eq(study_id))
            .filter(coders::researcher_id.eq(researcher_id))
            .select(coders::id)
            .first(c)
            .optional()
    };
    if let Some(id) = find(c)? {
        return Ok(id);
    }
    let name: String = researchers::table
        .find(researcher_id)
        .select(researchers::name)
        .first(c)?;
    let id = new_id();
    diesel::insert_into(coders::table)
        .values(&Coder {
            id: id.clone(),
            study_id: study_id.into(),
            researcher_id: Some(researcher_id.into()),
            name,
            created_at: now(),
        })
        .execute(c)?;
    Ok(id)
}

/// Removes a coding; a passage left without themes goes too.
pub fn remove_coding(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    coding_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        let (coding, transcript_id): (Coding, String) = codings::table
            .inner_join(excerpts::table)
            .filter(codings::id.eq(coding_id))
            .select((Coding::as_select(), excerpts::transcript_id))
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        access::in_study::<Transcript>(c, researcher_id, &transcript_id, Role::Researcher)?;
        diesel::delete(codings::table.find(&coding.id)).execute(c)?;
        let left: i64 = codings::table
            .filter(codings::excerpt_id.eq(&coding.excerpt_id))
            .count()
            .get_result(c)?;
        if left == 0 {
            diesel::delete(excerpts::table.find(&coding.excerpt_id)).execute(c)?;
        }
        Ok::<_, AppError>(())
    })
}

pub fn remove_excerpt(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    excerpt_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        let e: Excerpt = excerpts::table
            .find(excerpt_id)
            .select(Excerpt::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        access::in_study::<Transcript>(c, researcher_id, &e.transcript_id, Role::Researcher)?;
        diesel::delete(excerpts::table.find(&e.id)).execute(c)?;
        Ok::<_, AppError>(())
    })
}
