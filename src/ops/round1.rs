//! Round 1, the qualitative round: the interview guide, appointments (with a calendar invitation
//! by e-mail), transcripts (text or Word) under the panellist's pseudonym, coding passages to
//! themes with the coder recorded, statements linked to the passages that support them, the
//! theme-by-interview overview, two coders' agreement, and a written questionnaire whose answers
//! become documents to code.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::codebook::ACTIVE;
use super::outbox::{MailEnv, RoundFacts, enqueue_with};
use super::studies::{Role, access};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::agreement::{
    Unit, cohen_kappa, krippendorff_alpha_nominal, overlaps, sentences,
};
use crate::domain::states::AppointmentState;
use crate::domain::{Invalid, Language, text};
use crate::mail;

fn actor(id: &str) -> Actor {
    Actor::Researcher { id: id.into() }
}

/// Colours for themes, told apart on screen and in print (paired with the theme number).
pub const PALETTE: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#3b4cc0", "#b40426",
];

pub fn theme_colour(t: &Theme) -> String {
    if t.colour.starts_with('#') {
        t.colour.clone()
    } else {
        PALETTE[((t.number.max(1) - 1) as usize) % PALETTE.len()].to_string()
    }
}

/// The study a round belongs to, for a researcher of that study.
pub fn round_study(conn: &mut DbConn, researcher_id: &str, round_id: &str) -> AppResult<String> {
    Ok(
        super::rounds::round_in_study(conn, researcher_id, round_id)?
            .1
            .id,
    )
}

// ---------------------------------------------------------------------------------------------
// The interview guide

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuideInput {
    pub sections: Vec<SectionInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    pub title: String,
    pub questions: Vec<QuestionInput>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionInput {
    pub text: String,
    /// Which respondents the question suits (optional).
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuideView {
    pub round_id: String,
    pub sections: Vec<SectionView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SectionView {
    pub id: String,
    pub title: String,
    pub questions: Vec<QuestionView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionView {
    pub id: String,
    pub text: String,
    pub note: String,
}

pub fn guide_of(conn: &mut DbConn, round_id: &str) -> AppResult<GuideView> {
    let sections: Vec<GuideSection> = guide_sections::table
        .filter(guide_sections::round_id.eq(round_id))
        .order(guide_sections::position.asc())
        .select(GuideSection::as_select())
        .load(conn)?;
    let ids: Vec<String> = sections.iter().map(|s| s.id.clone()).collect();
    let questions: Vec<GuideQuestion> = guide_questions::table
        .filter(guide_questions::section_id.eq_any(&ids))
        .order(guide_questions::position.asc())
        .select(GuideQuestion::as_select())
        .load(conn)?;
    Ok(GuideView {
        round_id: round_id.into(),
        sections: sections
            .into_iter()
            .map(|s| SectionView {
                questions: questions
                    .iter()
                    .filter(|q| q.section_id == s.id)
                    .map(|q| QuestionView {
                        id: q.id.clone(),
                        text: q.text.clone(),
                        note: q.note.clone(),
                    })
                    .collect(),
                id: s.id,
                title: s.title,
            })
            .collect(),
    })
}

pub fn guide(conn: &mut DbConn, researcher_id: &str, round_id: &str) -> AppResult<GuideView> {
    super::rounds::round_in_study(conn, researcher_id, round_id)?;
    guide_of(conn, round_id)
}

/// Replaces the guide of a qualitative round. A questionnaire's guide is fixed once answered.
pub fn set_guide(
    conn: &mut DbConn,
    researcher_id: &str,
    round_id: &str,
    input: GuideInput,
) -> AppResult<GuideView> {
    let mut e = Invalid::new();
    if input.sections.len() > 50 {
        e.add("sections", "at most 50 categories of questions");
    }
    for (i, s) in input.sections.iter().enumerate() {
        e.take(text::line(&format!("sections[{i}].title"), &s.title, 200));
        if s.questions.len() > 100 {
            e.add(
                format!("sections[{i}].questions"),
                "at most 100 questions in a category",
            );
        }
        for (j, q) in s.questions.iter().enumerate() {
            let f = format!("sections[{i}].questions[{j}]");
            if let Some(t) = e.take(text::block(&format!("{f}.text"), &q.text, 2000))
                && t.is_empty()
            {
                e.add(format!("{f}.text"), "must not be empty");
            }
            e.take(text::block(&format!("{f}.note"), &q.note, 1000));
        }
    }
    e.into_result(())?;
    db::write(conn, |c| {
        let (r, study) = super::rounds::round_in_study(c, researcher_id, round_id)?;
        if r.kind != crate::domain::round::Kind::Qualitative {
            return Err(AppError::Conflict(
                "only a qualitative round has an interview guide".into(),
            ));
        }
        let answered: i64 = questionnaire_answers::table
            .filter(questionnaire_answers::round_id.eq(&r.id))
            .count()
            .get_result(c)?;
        if answered > 0 {
            return Err(AppError::Conflict(
                "panellists have answered this questionnaire; its questions can no longer change"
                    .into(),
            ));
        }
        let old: Vec<String> = guide_sections::table
            .filter(guide_sections::round_id.eq(&r.id))
            .select(guide_sections::id)
            .load(c)?;
        diesel::delete(guide_questions::table.filter(guide_questions::section_id.eq_any(&old)))
            .execute(c)?;
        diesel::delete(guide_sections::table.filter(guide_sections::round_id.eq(&r.id)))
            .execute(c)?;
        for (i, s) in input.sections.iter().enumerate() {
            let sid = new_id();
            diesel::insert_into(guide_sections::table)
                .values(&GuideSection {
                    id: sid.clone(),
                    round_id: r.id.clone(),
                    title: s.title.trim().into(),
                    position: i as i32,
                })
                .execute(c)?;
            for (j, q) in s.questions.iter().enumerate() {
                diesel::insert_into(guide_questions::table)
                    .values(&GuideQuestion {
                        id: new_id(),
                        section_id: sid.clone(),
                        text: q.text.trim().into(),
                        note: q.note.trim().into(),
                        position: j as i32,
                    })
                    .execute(c)?;
            }
        }
        audit::record(
            c,
            &actor(researcher_id),
            Some(&study.id),
            "guide.set",
            Some(&r.id),
            serde_json::json!({ "sections": input.sections.len() }),
        )?;
        guide_of(c, &r.id)
    })
}

/// The guide as a printable text in the study's language.
pub fn guide_document(
    conn: &mut DbConn,
    researcher_id: &str,
    round_id: &str,
) -> AppResult<(String, Language)> {
    let (r, study) = super::rounds::round_in_study(conn, researcher_id, round_id)?;
    let lang = Language::from_stored(&study.language);
    Ok((
        guide_text(&study.title, &guide_of(conn, &r.id)?, lang),
        lang,
    ))
}

pub fn guide_filename(lang: Language) -> &'static str {
    match lang {
        Language::Da => "interviewguide.txt",
        Language::En => "interview-guide.txt",
    }
}

/// The guide as plain text, to print or attach to an e-mail.
pub fn guide_text(study_title: &str, g: &GuideView, lang: Language) -> String {
    let mut out = format!(
        "{study_title}\n{}\n\n",
        if lang == Language::Da {
            "Interviewguide"
        } else {
            "Interview guide"
        }
    );
    for (i, s) in g.sections.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", i + 1, s.title));
        for (j, q) in s.questions.iter().enumerate() {
            out.push_str(&format!("   {}.{} {}\n", i + 1, j + 1, q.text));
            if !q.note.is_empty() {
                out.push_str(&format!("        ({})\n", q.note));
            }
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Appointments

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    /// The panellist's pseudonym (such as `E07`) or id.
    pub panellist: String,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_minutes: Option<i32>,
    /// The interviewing researcher's e-mail.
    #[serde(default)]
    pub interviewer: Option<String>,
    /// `proposed`, `agreed`, `done` or `cancelled`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: String,
    pub pseudonym: String,
    /// The panellist's name (researchers only).
    pub name: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: i32,
    /// The interviewer's name and e-mail address.
    pub interviewer: Option<String>,
    pub interviewer_email: Option<String>,
    pub state: String,
    pub notes: String,
}

fn panellist_of(conn: &mut DbConn, study_id: &str, key: &str) -> AppResult<Panellist> {
    panellists::table
        .filter(panellists::study_id.eq(study_id))
        .filter(
            panellists::id
                .eq(key)
                .or(panellists::pseudonym.eq(key.trim().to_uppercase())),
        )
        .select(Panellist::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            Invalid::one(
                "panellist",
                format!("{key:?} is not a panellist of this study"),
            )
            .into()
        })
}

fn appointment_view(conn: &mut DbConn, a: Appointment) -> AppResult<AppointmentView> {
    let p: Panellist = panellists::table
        .find(&a.panellist_id)
        .select(Panellist::as_select())
        .first(conn)?;
    let name: Option<String> = candidates::table
        .filter(candidates::panellist_id.eq(&p.id))
        .select(candidates::name)
        .first(conn)
        .optional()?;
    let interviewer: Option<(String, String)> = match &a.interviewer_id {
        Some(id) => researchers::table
            .find(id)
            .select((researchers::name, researchers::email))
            .first(conn)
            .optional()?,
        None => None,
    };
    let (interviewer, interviewer_email) = interviewer.unzip();
    Ok(AppointmentView {
        id: a.id,
        pseudonym: p.pseudonym,
        name: name.unwrap_or_default(),
        starts_at: a.starts_at.map(utc),
        duration_minutes: a.duration_minutes,
        interviewer,
        interviewer_email,
        state: a.state.as_str().to_string(),
        notes: a.notes,
    })
}

pub fn appointments(
    conn: &mut DbConn,
    researcher_id: &str,
    round_id: &str,
) -> AppResult<Vec<AppointmentView>> {
    let (r, study) = super::rounds::round_in_study(conn, researcher_id, round_id)?;
    let rows: Vec<Appointment> = appointments::table
        .filter(appointments::round_id.eq(&r.id))
        .order((
            appointments::starts_at.asc(),
            appointments::created_at.asc(),
        ))
        .select(Appointment::as_select())
        .load(conn)?;
    let out = rows
        .into_iter()
        .map(|a| appointment_view(conn, a))
        .collect::<AppResult<Vec<_>>>()?;
    audit::record(
        conn,
        &actor(researcher_id),
        Some(&study.id),
        "identities.viewed",
        Some(&r.id),
        serde_json::json!({ "what": "appointments" }),
    )?;
    Ok(out)
}

fn interviewer_id(
    conn: &mut DbConn,
    study_id: &str,
    email: &Option<String>,
) -> AppResult<Option<String>> {
    let Some(email) = email.as_deref().map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let id: Option<String> = researchers::table
        .inner_join(study_members::table)
        .filter(researchers::email.eq(email.to_lowercase()))
        .filter(study_members::study_id.eq(study_id))
        .select(researchers::id)
        .first(conn)
        .optional()?;
    id.map(Some).ok_or_else(|| {
        Invalid::one(
            "interviewer",
            format!("{email} is not a researcher of this study"),
        )
        .into()
    })
}

/// The round an appointment belongs to.
pub fn appointment_round(conn: &mut DbConn, appointment_id: &str) -> AppResult<String> {
    appointments::table
        .find(appointment_id)
        .select(appointments::round_id)
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

pub fn save_appointment(
    conn: &mut DbConn,
    researcher_id: &str,
    round_id: &str,
    appointment_id: Option<&str>,
    input: AppointmentInput,
) -> AppResult<AppointmentView> {
    let mut e = Invalid::new();
    let state = match input.state.as_deref() {
        None => AppointmentState::Proposed,
        Some(s) => AppointmentState::parse(s).unwrap_or_else(|| {
            e.add("state", "must be proposed, agreed, done or cancelled");
            AppointmentState::Proposed
        }),
    };
    let minutes = input.duration_minutes.unwrap_or(60);
    if !(5..=600).contains(&minutes) {
        e.add("duration_minutes", "must be between 5 and 600");
    }
    let notes = e
        .take(text::block("notes", &input.notes, 2000))
        .unwrap_or_default();
    if let Some(at) = input.starts_at.map(|s| s.naive_utc())
        && at > now() + Duration::days(365 * crate::domain::validation::MAX_YEARS_AHEAD)
    {
        e.add(
            "starts_at",
            format!(
                "must be within {} years",
                crate::domain::validation::MAX_YEARS_AHEAD
            ),
        );
    }
    e.into_result(())?;
    db::write(conn, |c| {
        let (r, study) = super::rounds::round_in_study(c, researcher_id, round_id)?;
        let p = panellist_of(c, &study.id, &input.panellist)?;
        let interviewer = interviewer_id(c, &study.id, &input.interviewer)?;
        let t = now();
        let a = match appointment_id {
            Some(id) => {
                let mut a: Appointment = appointments::table
                    .filter(appointments::id.eq(id))
                    .filter(appointments::round_id.eq(&r.id))
                    .select(Appointment::as_select())
                    .first(c)
                    .optional()?
                    .ok_or(AppError::NotFound)?;
                a.panellist_id = p.id.clone();
                a.starts_at = input.starts_at.map(|s| s.naive_utc());
                a.duration_minutes = minutes;
                a.interviewer_id = interviewer;
                a.state = state;
                a.notes = notes.clone();
                a.updated_at = t;
                diesel::update(appointments::table.find(&a.id))
                    .set((
                        appointments::panellist_id.eq(&a.panellist_id),
                        appointments::starts_at.eq(a.starts_at),
                        appointments::duration_minutes.eq(a.duration_minutes),
                        appointments::interviewer_id.eq(&a.interviewer_id),
                        appointments::state.eq(&a.state),
                        appointments::notes.eq(&a.notes),
                        appointments::updated_at.eq(t),
                    ))
                    .execute(c)?;
                a
            }
            None => {
                let a = Appointment {
                    id: new_id(),
                    round_id: r.id.clone(),
                    panellist_id: p.id.clone(),
                    interviewer_id: interviewer,
                    starts_at: input.starts_at.map(|s| s.naive_utc()),
                    duration_minutes: minutes,
                    state,
                    notes: notes.clone(),
                    created_at: t,
                    updated_at: t,
                };
                diesel::insert_into(appointments::table)
                    .values(&a)
                    .execute(c)?;
                a
            }
        };
        appointment_view(c, a)
    })
}

/// An iCalendar event for an appointment (RFC 5545), with CRLF line ends.
pub fn ics(
    uid: &str,
    start: NaiveDateTime,
    minutes: i32,
    summary: &str,
    description: &str,
    organizer: Option<&str>,
) -> String {
    let fold = |s: &str| {
        s.replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,")
            .replace('\n', "\\n")
    };
    let stamp = |t: NaiveDateTime| t.format("%Y%m%dT%H%M%SZ").to_string();
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Orakel//Delphi//EN".into(),
        "METHOD:REQUEST".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{uid}"),
        format!("DTSTAMP:{}", stamp(now())),
        format!("DTSTART:{}", stamp(start)),
        format!("DTEND:{}", stamp(start + Duration::minutes(minutes as i64))),
        format!("SUMMARY:{}", fold(summary)),
        format!("DESCRIPTION:{}", fold(description)),
    ];
    if let Some(o) = organizer {
        lines.push(format!("ORGANIZER:mailto:{o}"));
    }
    lines.extend(["END:VEVENT".into(), "END:VCALENDAR".into()]);
    lines.join("\r\n") + "\r\n"
}

/// E-mails the panellist the appointment with a calendar invitation (and the guide, if asked).
pub fn send_appointment(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &str,
    appointment_id: &str,
    attach_guide: bool,
) -> AppResult<bool> {
    db::write(conn, |c| {
        let a: Appointment = appointments::table
            .find(appointment_id)
            .select(Appointment::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        let (r, study) = super::rounds::round_in_study(c, researcher_id, &a.round_id)?;
        let Some(start) = a.starts_at else {
            return Err(
                Invalid::one("starts_at", "set a time before sending the appointment").into(),
            );
        };
        let cand: Candidate = candidates::table
            .filter(candidates::panellist_id.eq(&a.panellist_id))
            .select(Candidate::as_select())
            .first(c)
            .optional()?
            .ok_or_else(|| AppError::Conflict("the panellist has no contact details".into()))?;
        let lang = Language::from_stored(&study.language);
        let interviewer: Option<(String, String)> = match &a.interviewer_id {
            Some(id) => researchers::table
                .find(id)
                .select((researchers::name, researchers::email))
                .first(c)
                .optional()?,
            None => None,
        };
        let when = crate::i18n::long_datetime(utc(start), lang.code());
        let summary = format!("Interview: {}", study.title);
        let mut files = vec![mail::Attachment::new(
            "interview.ics",
            "text/calendar; charset=utf-8; method=REQUEST",
            ics(
                &format!("{}@orakel", a.id),
                start,
                a.duration_minutes,
                &summary,
                &study.contact,
                interviewer.as_ref().map(|i| i.1.as_str()),
            )
            .as_bytes(),
        )];
        if attach_guide {
            let g = guide_of(c, &r.id)?;
            files.push(mail::Attachment::new(
                guide_filename(lang),
                "text/plain; charset=utf-8",
                guide_text(&study.title, &g, lang).as_bytes(),
            ));
        }
        let facts = RoundFacts {
            round_id: Some(r.id.clone()),
            number: r.number,
            deadline: r.closes_at,
            validation: false,
            rating: false,
        };
        let key = format!("appointment:{}:{}", a.id, start.and_utc().timestamp());
        let extra = [
            ("appointment", when),
            ("minutes", a.duration_minutes.to_string()),
            ("interviewer", interviewer.map(|i| i.0).unwrap_or_default()),
        ];
        let queued = enqueue_with(
            c,
            env,
            &study,
            &cand,
            mail::Kind::Appointment,
            &facts,
            Some(key),
            &files,
            &extra,
        )?;
        audit::record(
            c,
            &actor(researcher_id),
            Some(&study.id),
            "appointment.sent",
            Some(&a.id),
            serde_json::json!({}),
        )?;
        Ok(queued)
    })
}

// ---------------------------------------------------------------------------------------------
// Transcripts

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
    researcher_id: &str,
    study_id: &str,
) -> AppResult<Vec<TranscriptSummary>> {
    access(conn, researcher_id, study_id, Role::Researcher)?;
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
    researcher_id: &str,
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
        access(c, researcher_id, study_id, Role::Researcher)?;
        let p = panellist_of(c, study_id, panellist)?;
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
            &actor(researcher_id),
            Some(study_id),
            "transcript.added",
            Some(&t.id),
            serde_json::json!({ "kind": kind }),
        )?;
        Ok(summaries(c, vec![t])?.remove(0))
    })
}

/// Removes a transcript with its coded passages.
pub fn remove_transcript(
    conn: &mut DbConn,
    researcher_id: &str,
    transcript_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        let t = transcript_in_study(c, researcher_id, transcript_id)?;
        diesel::delete(transcripts::table.find(&t.id)).execute(c)?;
        audit::record(
            c,
            &actor(researcher_id),
            Some(&t.study_id),
            "transcript.removed",
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
                .map(|(c, t, _)| CodedTheme {
                    coding_id: c.id.clone(),
                    theme_id: t.id.clone(),
                    number: t.number,
                    title: t.title.clone(),
                    colour: theme_colour(t),
                })
                .collect();
            themes.sort_by_key(|t| t.number);
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

/// A transcript, for a researcher of its study (reading it this way is not logged).
pub fn transcript_in_study(
    conn: &mut DbConn,
    researcher_id: &str,
    transcript_id: &str,
) -> AppResult<Transcript> {
    let t: Transcript = transcripts::table
        .find(transcript_id)
        .select(Transcript::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    access(conn, researcher_id, &t.study_id, Role::Researcher)?;
    Ok(t)
}

/// The study's panellists as (id, pseudonym), by pseudonym: who a transcript can belong to.
pub fn pseudonyms(
    conn: &mut DbConn,
    researcher_id: &str,
    study_id: &str,
) -> AppResult<Vec<(String, String)>> {
    access(conn, researcher_id, study_id, Role::Researcher)?;
    Ok(panellists::table
        .filter(panellists::study_id.eq(study_id))
        .order(panellists::pseudonym.asc())
        .select((panellists::id, panellists::pseudonym))
        .load(conn)?)
}

/// A transcript with its coded passages. Reading a transcript is logged.
pub fn transcript(
    conn: &mut DbConn,
    researcher_id: &str,
    transcript_id: &str,
) -> AppResult<TranscriptDetail> {
    let t = transcript_in_study(conn, researcher_id, transcript_id)?;
    let pseudonym: String = panellists::table
        .find(&t.panellist_id)
        .select(panellists::pseudonym)
        .first(conn)?;
    let excerpts = excerpt_views(conn, std::slice::from_ref(&t.id))?;
    audit::record(
        conn,
        &actor(researcher_id),
        Some(&t.study_id),
        "transcript.viewed",
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
    researcher_id: &str,
    transcript_id: &str,
    input: ExcerptInput,
) -> AppResult<ExcerptView> {
    Ok(add_excerpts(conn, researcher_id, transcript_id, vec![input])?.remove(0))
}

/// Codes several passages of one transcript at once: all of them or, on any fault, none.
pub fn add_excerpts(
    conn: &mut DbConn,
    researcher_id: &str,
    transcript_id: &str,
    inputs: Vec<ExcerptInput>,
) -> AppResult<Vec<ExcerptView>> {
    db::write(conn, |c| {
        let t = transcript_in_study(c, researcher_id, transcript_id)?;
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
    researcher_id: &str,
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
pub fn remove_coding(conn: &mut DbConn, researcher_id: &str, coding_id: &str) -> AppResult<()> {
    db::write(conn, |c| {
        let (coding, transcript_id): (Coding, String) = codings::table
            .inner_join(excerpts::table)
            .filter(codings::id.eq(coding_id))
            .select((Coding::as_select(), excerpts::transcript_id))
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        transcript_in_study(c, researcher_id, &transcript_id)?;
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

pub fn remove_excerpt(conn: &mut DbConn, researcher_id: &str, excerpt_id: &str) -> AppResult<()> {
    db::write(conn, |c| {
        let e: Excerpt = excerpts::table
            .find(excerpt_id)
            .select(Excerpt::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        transcript_in_study(c, researcher_id, &e.transcript_id)?;
        diesel::delete(excerpts::table.find(&e.id)).execute(c)?;
        Ok::<_, AppError>(())
    })
}

// ---------------------------------------------------------------------------------------------
// Statements and their evidence

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    /// The passages that support the statement (replacing those linked before).
    pub excerpt_ids: Vec<String>,
}

pub fn link_statement(
    conn: &mut DbConn,
    researcher_id: &str,
    statement_id: &str,
    input: EvidenceInput,
) -> AppResult<()> {
    db::write(conn, |c| {
        let (s, study_id): (Statement, String) = statements::table
            .inner_join(themes::table)
            .filter(statements::id.eq(statement_id))
            .select((Statement::as_select(), themes::study_id))
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        access(c, researcher_id, &study_id, Role::Researcher)?;
        let valid: HashSet<String> = excerpts::table
            .inner_join(transcripts::table)
            .filter(transcripts::study_id.eq(&study_id))
            .filter(excerpts::id.eq_any(&input.excerpt_ids))
            // Evidence for a statement is a passage coded to the statement's theme.
            .filter(
                excerpts::id.eq_any(
                    codings::table
                        .filter(codings::theme_id.eq(&s.theme_id))
                        .select(codings::excerpt_id),
                ),
            )
            .select(excerpts::id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        if let Some(bad) = input.excerpt_ids.iter().find(|id| !valid.contains(*id)) {
            return Err(Invalid::one(
                "excerpt_ids",
                format!("{bad} is not a passage of this study coded to the statement's theme"),
            )
            .into());
        }
        diesel::delete(
            statement_excerpts::table.filter(statement_excerpts::statement_id.eq(&s.id)),
        )
        .execute(c)?;
        for id in valid {
            diesel::insert_into(statement_excerpts::table)
                .values(&StatementExcerpt {
                    statement_id: s.id.clone(),
                    excerpt_id: id,
                })
                .execute(c)?;
        }
        Ok::<_, AppError>(())
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    pub excerpt_id: String,
    pub pseudonym: String,
    pub transcript_id: String,
    pub quote: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementEvidence {
    pub statement_id: String,
    pub letter: String,
    pub text: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeEvidence {
    pub theme_id: String,
    pub statements: Vec<StatementEvidence>,
    /// Every passage coded to the theme, for linking.
    pub passages: Vec<Evidence>,
    /// In how many interviews the theme occurs.
    pub interviews: usize,
}

/// The audit trail of a theme: each statement with the passages behind it, under pseudonyms.
pub fn theme_evidence(
    conn: &mut DbConn,
    researcher_id: &str,
    theme_id: &str,
) -> AppResult<ThemeEvidence> {
    let t: Theme = themes::table
        .find(theme_id)
        .select(Theme::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    access(conn, researcher_id, &t.study_id, Role::Researcher)?;
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(&t.study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let coded: Vec<(Excerpt, String)> = excerpts::table
        .inner_join(codings::table)
        .inner_join(transcripts::table)
        .filter(codings::theme_id.eq(&t.id))
        .select((Excerpt::as_select(), transcripts::panellist_id))
        .load(conn)?;
    let ev = |e: &Excerpt, pid: &str| Evidence {
        excerpt_id: e.id.clone(),
        pseudonym: pseudonyms.get(pid).cloned().unwrap_or_default(),
        transcript_id: e.transcript_id.clone(),
        quote: e.quote.clone(),
    };
    let mut passages: Vec<Evidence> = coded.iter().map(|(e, p)| ev(e, p)).collect();
    passages.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
    passages.dedup_by(|a, b| a.excerpt_id == b.excerpt_id);
    let interviews = coded
        .iter()
        .map(|(e, _)| e.transcript_id.clone())
        .collect::<HashSet<_>>()
        .len();
    let sts = super::codebook::statements_of(conn, std::slice::from_ref(&t.id))?;
    let ids: Vec<String> = sts.iter().map(|s| s.id.clone()).collect();
    let links: Vec<(String, Excerpt, String)> = statement_excerpts::table
        .inner_join(excerpts::table.inner_join(transcripts::table))
        .filter(statement_excerpts::statement_id.eq_any(&ids))
        .select((
            statement_excerpts::statement_id,
            Excerpt::as_select(),
            transcripts::panellist_id,
        ))
        .load(conn)?;
    let statements = sts
        .into_iter()
        .map(|s| StatementEvidence {
            evidence: links
                .iter()
                .filter(|(sid, _, _)| *sid == s.id)
                .map(|(_, e, p)| ev(e, p))
                .collect(),
            statement_id: s.id,
            letter: s.letter,
            text: s.text,
        })
        .collect();
    Ok(ThemeEvidence {
        theme_id: t.id,
        statements,
        passages,
        interviews,
    })
}

// ---------------------------------------------------------------------------------------------
// Overview and agreement

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodingOverview {
    /// The transcripts, as columns.
    pub transcripts: Vec<TranscriptSummary>,
    pub rows: Vec<OverviewRow>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverviewRow {
    pub theme_id: String,
    pub category: String,
    pub number: i32,
    pub title: String,
    pub colour: String,
    /// Passages coded to the theme in each transcript (in the order of `transcripts`).
    pub counts: Vec<usize>,
    pub excerpts: usize,
    /// In how many interviews the theme occurs.
    pub interviews: usize,
}

/// The theme-by-interview overview: passages per theme and transcript.
pub fn overview(
    conn: &mut DbConn,
    researcher_id: &str,
    study_id: &str,
) -> AppResult<CodingOverview> {
    let ts = transcripts(conn, researcher_id, study_id)?;
    let book = super::codebook::codebook_of(conn, study_id, false)?;
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let pairs: Vec<(String, String)> = codings::table
        .inner_join(excerpts::table)
        .filter(excerpts::transcript_id.eq_any(&ids))
        .select((codings::theme_id, excerpts::transcript_id))
        .load(conn)?;
    let all_themes = super::codebook::themes_of(conn, study_id)?;
    let mut rows = Vec::new();
    for cat in &book.categories {
        for t in &cat.themes {
            let counts: Vec<usize> = ts
                .iter()
                .map(|tr| {
                    pairs
                        .iter()
                        .filter(|(th, x)| *th == t.id && *x == tr.id)
                        .count()
                })
                .collect();
            let theme = all_themes.iter().find(|x| x.id == t.id).expect("listed");
            rows.push(OverviewRow {
                theme_id: t.id.clone(),
                category: cat.code.clone(),
                number: t.number,
                title: t.title.clone(),
                colour: theme_colour(theme),
                excerpts: counts.iter().sum(),
                interviews: counts.iter().filter(|c| **c > 0).count(),
                counts,
            });
        }
    }
    Ok(CodingOverview {
        transcripts: ts,
        rows,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Agreement {
    pub coder_a: String,
    pub coder_b: String,
    /// What a unit is.
    pub unit: String,
    /// Transcripts both coders coded.
    pub transcripts: usize,
    pub units: usize,
    pub themes: Vec<ThemeAgreement>,
    /// Over every theme and unit together.
    pub overall_kappa: Option<f64>,
    pub overall_alpha: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeAgreement {
    pub theme_id: String,
    pub number: i32,
    pub title: String,
    pub coded_by_a: usize,
    pub coded_by_b: usize,
    pub both: usize,
    pub kappa: Option<f64>,
    pub alpha: Option<f64>,
    /// The units one coded to the theme and the other did not.
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub transcript_id: String,
    pub pseudonym: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// Who coded it: `a` or `b`.
    pub coded_by: String,
}

/// A coder of the study, named by their coder id or (for a team member) their researcher id.
fn study_coder(conn: &mut DbConn, study_id: &str, id: &str, field: &str) -> AppResult<Coder> {
    coders::table
        .filter(coders::study_id.eq(study_id))
        .filter(coders::id.eq(id).or(coders::researcher_id.eq(id)))
        .select(Coder::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Invalid::one(field, "is not a coder of this study").into())
}

/// Agreement of two coders per theme over sentences, on the transcripts both coded: Cohen's
/// kappa and Krippendorff's alpha on coded / not coded.
pub fn agreement(
    conn: &mut DbConn,
    researcher_id: &str,
    study_id: &str,
    coder_a: &str,
    coder_b: &str,
) -> AppResult<Agreement> {
    access(conn, researcher_id, study_id, Role::Researcher)?;
    let a = study_coder(conn, study_id, coder_a, "coder_a")?;
    let b = study_coder(conn, study_id, coder_b, "coder_b")?;
    if a.id == b.id {
        return Err(Invalid::one("coder_b", "choose two different coders").into());
    }
    let (coder_a, coder_b) = (a.id.as_str(), b.id.as_str());
    let ts: Vec<Transcript> = transcripts::table
        .filter(transcripts::study_id.eq(study_id))
        .order(transcripts::id)
        .select(Transcript::as_select())
        .load(conn)?;
    let ids: Vec<String> = ts.iter().map(|t| t.id.clone()).collect();
    let coded: Vec<(Excerpt, String, String)> = excerpts::table
        .inner_join(codings::table)
        .filter(excerpts::transcript_id.eq_any(&ids))
        .filter(codings::coder_id.eq_any([coder_a, coder_b]))
        .select((Excerpt::as_select(), codings::theme_id, codings::coder_id))
        .load(conn)?;
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let both: Vec<&Transcript> = ts
        .iter()
        .filter(|t| {
            [coder_a, coder_b].iter().all(|c| {
                coded
                    .iter()
                    .any(|(e, _, coder)| e.transcript_id == t.id && coder == c)
            })
        })
        .collect();
    let book = super::codebook::codebook_of(conn, study_id, false)?;
    let theme_list: Vec<(String, i32, String)> = book
        .categories
        .iter()
        .flat_map(|c| {
            c.themes
                .iter()
                .map(|t| (t.id.clone(), t.number, t.title.clone()))
        })
        .collect();
    let units: Vec<(&Transcript, Vec<Unit>)> =
        both.iter().map(|t| (*t, sentences(&t.body))).collect();
    let mut all_pairs = Vec::new();
    let mut all_alpha: Vec<Vec<Option<bool>>> = Vec::new();
    let mut out = Vec::new();
    for (tid, number, title) in &theme_list {
        let mut pairs = Vec::new();
        let mut differences = Vec::new();
        for (t, us) in &units {
            let marks = |coder: &str| -> Vec<(usize, usize)> {
                coded
                    .iter()
                    .filter(|(e, th, c)| e.transcript_id == t.id && th == tid && c == coder)
                    .map(|(e, _, _)| (e.start_offset as usize, e.end_offset as usize))
                    .collect()
            };
            let (ma, mb) = (marks(coder_a), marks(coder_b));
            for u in us {
                let a = ma.iter().any(|(s, e)| overlaps(*u, *s, *e));
                let b = mb.iter().any(|(s, e)| overlaps(*u, *s, *e));
                pairs.push((a, b));
                if a != b && differences.len() < 200 {
                    differences.push(Difference {
                        transcript_id: t.id.clone(),
                        pseudonym: pseudonyms.get(&t.panellist_id).cloned().unwrap_or_default(),
                        start: u.start,
                        end: u.end,
                        text: t.body.chars().skip(u.start).take(u.end - u.start).collect(),
                        coded_by: if a { "a".into() } else { "b".into() },
                    });
                }
            }
        }
        let alpha_units: Vec<Vec<Option<bool>>> = pairs
            .iter()
            .map(|(a, b)| vec![Some(*a), Some(*b)])
            .collect();
        out.push(ThemeAgreement {
            theme_id: tid.clone(),
            number: *number,
            title: title.clone(),
            coded_by_a: pairs.iter().filter(|p| p.0).count(),
            coded_by_b: pairs.iter().filter(|p| p.1).count(),
            both: pairs.iter().filter(|p| p.0 && p.1).count(),
            kappa: cohen_kappa(&pairs),
            alpha: krippendorff_alpha_nominal(&alpha_units),
            differences,
        });
        all_pairs.extend(pairs);
        all_alpha.extend(alpha_units);
    }
    Ok(Agreement {
        coder_a: a.name.clone(),
        coder_b: b.name.clone(),
        unit: "sentence".into(),
        transcripts: both.len(),
        units: units.iter().map(|(_, u)| u.len()).sum(),
        themes: out,
        overall_kappa: cohen_kappa(&all_pairs),
        overall_alpha: krippendorff_alpha_nominal(&all_alpha),
    })
}

/// A coder of the study: a team member, or someone whose coding was imported.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CoderView {
    pub id: String,
    pub name: String,
    /// The team member's researcher id; none for an imported coder.
    pub researcher_id: Option<String>,
}

/// The coders who coded anything in the study, for choosing a pair to compare.
pub fn coders(conn: &mut DbConn, researcher_id: &str, study_id: &str) -> AppResult<Vec<CoderView>> {
    access(conn, researcher_id, study_id, Role::Researcher)?;
    let active: Vec<String> = codings::table
        .inner_join(coders::table)
        .filter(coders::study_id.eq(study_id))
        .select(coders::id)
        .distinct()
        .load(conn)?;
    let mut out: Vec<CoderView> = coders::table
        .filter(coders::id.eq_any(&active))
        .select(Coder::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| CoderView {
            id: c.id,
            name: c.name,
            researcher_id: c.researcher_id,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The written questionnaire

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Questionnaire {
    pub number: i32,
    /// When the expert handed in their answers (they may still change them until the deadline).
    pub submitted_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub accepting: bool,
    pub instructions: String,
    pub sections: Vec<QuestionnaireSection>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionnaireSection {
    pub title: String,
    pub questions: Vec<QuestionnaireQuestion>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionnaireQuestion {
    pub id: String,
    pub text: String,
    pub answer: String,
}

fn questionnaire_round(
    conn: &mut DbConn,
    p: &super::participation::Participant,
    number: i32,
) -> AppResult<(Round, String)> {
    let pid = match (p.status(), &p.candidate.panellist_id) {
        (crate::domain::candidate::Status::Accepted, Some(id)) => id.clone(),
        _ => return Err(AppError::NotFound),
    };
    let r: Round = rounds::table
        .filter(rounds::study_id.eq(&p.study.id))
        .filter(rounds::number.eq(number))
        .filter(rounds::questionnaire.eq(true))
        .filter(rounds::state.ne(crate::domain::round::State::Draft))
        .select(Round::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    Ok((r, pid))
}

/// The written questionnaire as the expert sees it; the first view is recorded.
pub fn questionnaire(conn: &mut DbConn, token: &str, number: i32) -> AppResult<Questionnaire> {
    let p = super::participation::resolve(conn, token)?.ok_or(AppError::NotFound)?;
    questionnaire_for(conn, &p, number)
}

/// `questionnaire` for a participant already resolved from their link.
pub fn questionnaire_for(
    conn: &mut DbConn,
    p: &super::participation::Participant,
    number: i32,
) -> AppResult<Questionnaire> {
    let (r, pid) = questionnaire_round(conn, p, number)?;
    let part: RoundParticipation = round_participations::table
        .find((&r.id, &pid))
        .select(RoundParticipation::as_select())
        .first(conn)
        .optional()?
        // Joined after the round opened and not yet invited to it.
        .ok_or(AppError::NotFound)?;
    super::rounds::record_first_view(conn, &part)?;
    let g = guide_of(conn, &r.id)?;
    let answers: HashMap<String, String> = questionnaire_answers::table
        .filter(questionnaire_answers::round_id.eq(&r.id))
        .filter(questionnaire_answers::panellist_id.eq(&pid))
        .select((
            questionnaire_answers::question_id,
            questionnaire_answers::text,
        ))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(Questionnaire {
        number: r.number,
        submitted_at: part.submitted_at.map(utc),
        closes_at: r.closes_at.map(utc),
        accepting: super::rounds::accepting(&r, now()),
        instructions: r.instructions.clone(),
        sections: g
            .sections
            .into_iter()
            .map(|s| QuestionnaireSection {
                title: s.title,
                questions: s
                    .questions
                    .into_iter()
                    .map(|q| QuestionnaireQuestion {
                        answer: answers.get(&q.id).cloned().unwrap_or_default(),
                        id: q.id,
                        text: q.text,
                    })
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireInput {
    pub answers: Vec<QuestionnaireAnswerInput>,
    /// Hand the answers in (they can still be changed until the deadline).
    #[serde(default)]
    pub submit: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireAnswerInput {
    pub question_id: String,
    pub text: String,
}

pub fn save_questionnaire(
    conn: &mut DbConn,
    token: &str,
    number: i32,
    input: QuestionnaireInput,
) -> AppResult<Questionnaire> {
    let mut e = Invalid::new();
    let texts: Vec<String> = input
        .answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            e.take(text::block(&format!("answers[{i}].text"), &a.text, 20_000))
                .unwrap_or_default()
        })
        .collect();
    e.into_result(())?;
    db::write(conn, |c| {
        let p = super::participation::resolve(c, token)?.ok_or(AppError::NotFound)?;
        let (r, pid) = questionnaire_round(c, &p, number)?;
        if !super::rounds::accepting(&r, now()) {
            return Err(AppError::Conflict(format!(
                "round {} has closed; its answers are final",
                r.number
            )));
        }
        let g = guide_of(c, &r.id)?;
        let valid: HashSet<String> = g
            .sections
            .iter()
            .flat_map(|s| s.questions.iter().map(|q| q.id.clone()))
            .collect();
        for (i, a) in input.answers.iter().enumerate() {
            if !valid.contains(&a.question_id) {
                return Err(Invalid::one(
                    format!("answers[{i}].question_id"),
                    "is not a question of this round",
                )
                .into());
            }
        }
        let at = now();
        let part: RoundParticipation = round_participations::table
            .find((&r.id, &pid))
            .select(RoundParticipation::as_select())
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        diesel::update(round_participations::table.find((&r.id, &pid)))
            .set((
                round_participations::submitted_at
                    .eq(part.submitted_at.or(input.submit.then_some(at))),
                round_participations::updated_at.eq(at),
            ))
            .execute(c)?;
        for (a, text) in input.answers.iter().zip(&texts) {
            diesel::delete(
                questionnaire_answers::table
                    .filter(questionnaire_answers::round_id.eq(&r.id))
                    .filter(questionnaire_answers::panellist_id.eq(&pid))
                    .filter(questionnaire_answers::question_id.eq(&a.question_id)),
            )
            .execute(c)?;
            if !text.is_empty() {
                diesel::insert_into(questionnaire_answers::table)
                    .values(&QuestionnaireAnswer {
                        id: new_id(),
                        round_id: r.id.clone(),
                        panellist_id: pid.clone(),
                        question_id: a.question_id.clone(),
                        text: text.clone(),
                        updated_at: now(),
                    })
                    .execute(c)?;
            }
        }
        Ok::<_, AppError>(())
    })?;
    questionnaire(conn, token, number)
}

/// Turns each panellist's written answers into a document to code (one per panellist; made
/// again when called again, as long as nobody coded it).
pub fn questionnaire_documents(
    conn: &mut DbConn,
    researcher_id: &str,
    round_id: &str,
) -> AppResult<usize> {
    db::write(conn, |c| {
        let (r, study) = super::rounds::round_in_study(c, researcher_id, round_id)?;
        let g = guide_of(c, &r.id)?;
        let rows: Vec<QuestionnaireAnswer> = questionnaire_answers::table
            .filter(questionnaire_answers::round_id.eq(&r.id))
            .select(QuestionnaireAnswer::as_select())
            .load(c)?;
        let by_panellist: BTreeMap<String, Vec<&QuestionnaireAnswer>> =
            rows.iter().fold(BTreeMap::new(), |mut m, a| {
                m.entry(a.panellist_id.clone())
                    .or_insert_with(Vec::new)
                    .push(a);
                m
            });
        let mut made = 0;
        for (pid, answers) in by_panellist {
            let existing: Option<String> = transcripts::table
                .filter(transcripts::round_id.eq(&r.id))
                .filter(transcripts::panellist_id.eq(&pid))
                .filter(transcripts::source_kind.eq("questionnaire"))
                .select(transcripts::id)
                .first(c)
                .optional()?;
            if let Some(id) = &existing {
                let coded: i64 = excerpts::table
                    .filter(excerpts::transcript_id.eq(id))
                    .count()
                    .get_result(c)?;
                if coded > 0 {
                    continue;
                }
                diesel::delete(transcripts::table.find(id)).execute(c)?;
            }
            let mut body = String::new();
            for s in &g.sections {
                for q in &s.questions {
                    if let Some(a) = answers.iter().find(|a| a.question_id == q.id) {
                        body.push_str(&format!("{}\n{}\n\n", q.text, a.text));
                    }
                }
            }
            let pseudonym: String = panellists::table
                .find(&pid)
                .select(panellists::pseudonym)
                .first(c)?;
            diesel::insert_into(transcripts::table)
                .values(&Transcript {
                    id: new_id(),
                    study_id: study.id.clone(),
                    round_id: Some(r.id.clone()),
                    panellist_id: pid,
                    title: format!(
                        "{} {pseudonym}",
                        if study.language == "da" {
                            "Spørgeskema"
                        } else {
                            "Questionnaire"
                        }
                    ),
                    body: body.trim_end().to_string(),
                    source_kind: "questionnaire".into(),
                    original_filename: None,
                    uploaded_by: Some(researcher_id.into()),
                    created_at: now(),
                })
                .execute(c)?;
            made += 1;
        }
        Ok(made)
    })
}
