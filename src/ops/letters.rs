//! The study's own texts: the consent text experts accept, versioned so each consent names the
//! words it was given to, and the letters researchers adapt (invitation, reminder and the rest),
//! previewed as the expert will read them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::models::{ConsentText, EmailTemplate, Study};
use crate::db::schema::{consent_texts, email_templates};
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::{Invalid, Language, text};
use crate::mail::Kind;
use crate::mail::templates::CustomLetter;
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::outbox::MailEnv;
use crate::ops::{Actor, AppError, AppResult, audit};

/// The consent text experts accept now; version 1 is written from the default on first use.
pub fn current_consent_text(conn: &mut DbConn, study: &Study) -> AppResult<ConsentText> {
    let found: Option<ConsentText> = consent_texts::table
        .filter(consent_texts::study_id.eq(&study.id))
        .order(consent_texts::version.desc())
        .select(ConsentText::as_select())
        .first(conn)
        .optional()?;
    if let Some(t) = found {
        return Ok(t);
    }
    let lang = Language::from_stored(&study.language);
    let text = ConsentText {
        id: new_id(),
        study_id: study.id.clone(),
        version: 1,
        language: lang.code().into(),
        body: crate::i18n::text(lang.code(), "consent.default_text"),
        created_by: None,
        created_at: now(),
    };
    diesel::insert_into(consent_texts::table)
        .values(&text)
        .execute(conn)?;
    Ok(text)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentTextView {
    pub version: i32,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub fn consent_text(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<ConsentTextView> {
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let t = current_consent_text(c, &study)?;
        Ok(ConsentTextView {
            version: t.version,
            body: t.body,
            created_at: utc(t.created_at),
        })
    })
}

/// A new version of the consent text; earlier consents keep pointing at the version accepted.
pub fn set_consent_text(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    body: &str,
) -> AppResult<ConsentTextView> {
    let body = text::block("body", body, 20_000)?;
    if body.is_empty() {
        return Err(Invalid::one("body", "must not be empty").into());
    }
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let current = current_consent_text(c, &study)?;
        if current.body == body {
            return Ok(ConsentTextView {
                version: current.version,
                body: current.body,
                created_at: utc(current.created_at),
            });
        }
        let t = ConsentText {
            id: new_id(),
            study_id: study.id.clone(),
            version: current.version + 1,
            language: study.language.clone(),
            body,
            created_by: Some(researcher_id.into()),
            created_at: now(),
        };
        diesel::insert_into(consent_texts::table)
            .values(&t)
            .execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::ConsentTextChanged,
            Some(&t.id),
            serde_json::json!({ "version": t.version }),
        )?;
        Ok::<_, AppError>(ConsentTextView {
            version: t.version,
            body: t.body,
            created_at: utc(t.created_at),
        })
    })
}

/// A study's letter for one kind of message: its own if set, else the default.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LetterView {
    pub kind: Kind,
    pub subject: String,
    pub letter: String,
    /// Whether this is the study's own text rather than the default.
    pub custom: bool,
}

pub fn letter(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    study_id: &str,
    kind: Kind,
) -> AppResult<LetterView> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let lang = Language::from_stored(&study.language);
    Ok(
        match super::outbox::custom_letter(conn, study_id, kind, lang)? {
            Some(c) => LetterView {
                kind,
                subject: c.subject,
                letter: c.letter,
                custom: true,
            },
            None => {
                let d = env.templates.default_letter(lang, kind);
                LetterView {
                    kind,
                    subject: d.subject,
                    letter: d.letter,
                    custom: false,
                }
            }
        },
    )
}

/// A preview of the message with the study's (proposed) letter and sample recipient values.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LetterPreview {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn preview_letter(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    study_id: &str,
    kind: Kind,
    custom: &CustomLetter,
) -> AppResult<LetterPreview> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let lang = Language::from_stored(&study.language);
    env.templates.check_custom(lang, kind, custom)?;
    let mut ctx = crate::mail::templates::sample_context(lang);
    ctx.study = super::outbox::study_facts(&study);
    let r = env
        .templates
        .render(lang, kind, &ctx, Some(custom))
        .map_err(|e| Invalid::one("letter", e))?;
    Ok(LetterPreview {
        subject: r.subject,
        text: r.text,
        html: r.html,
    })
}

/// Saves the study's own letter (checked first); `None` goes back to the default.
pub fn set_letter(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    study_id: &str,
    kind: Kind,
    custom: Option<CustomLetter>,
) -> AppResult<LetterView> {
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let lang = Language::from_stored(&study.language);
        diesel::delete(email_templates::table.find((study_id, kind.as_str(), lang.code())))
            .execute(c)?;
        if let Some(custom) = &custom {
            env.templates.check_custom(lang, kind, custom)?;
            diesel::insert_into(email_templates::table)
                .values(&EmailTemplate {
                    study_id: study_id.into(),
                    name: kind.as_str().into(),
                    language: lang.code().into(),
                    subject: custom.subject.trim().into(),
                    body: custom.letter.trim().into(),
                    updated_by: Some(researcher_id.into()),
                    updated_at: now(),
                })
                .execute(c)?;
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::LetterChanged,
            Some(kind.as_str()),
            serde_json::json!({ "custom": custom.is_some() }),
        )?;
        Ok::<_, AppError>(())
    })?;
    letter(conn, env, researcher_id, study_id, kind)
}
