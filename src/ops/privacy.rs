//! The data-protection rights and duties: one person's data exported for them, a person's
//! identity erased on request (their answers stay under the pseudonym and are still counted),
//! the study's retention date kept by the worker (identities and transcripts deleted, the
//! owners warned beforehand), and the audit log read by owners.

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{Candidate, Study};
use crate::db::schema::{
    answers, appointments, candidate_events, candidates, consent_texts, consents, excerpts, outbox,
    panellists, participation_tokens, post_handles, posts, questionnaire_answers, researchers,
    rounds, statement_excerpts, study_members, themes, transcripts,
};
use crate::db::utc;
use crate::db::{self, DbConn, now};
use crate::domain::{Invalid, Language, text};

/// How many days before the retention date the owners are warned.
pub const RETENTION_WARNING_DAYS: i64 = 14;

// ---------------------------------------------------------------------------------------------
// Export

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonExport {
    pub study: String,
    pub exported_at: DateTime<Utc>,
    pub identity: PersonIdentity,
    /// The pseudonym their answers are kept under, once they joined the panel.
    pub pseudonym: Option<String>,
    pub status_history: Vec<PersonEvent>,
    pub consents: Vec<PersonConsent>,
    pub answers: Vec<PersonAnswer>,
    pub written_answers: Vec<PersonWrittenAnswer>,
    /// Their posts in the panel's discussion, with the handle each was shown under.
    pub posts: Vec<PersonPost>,
    pub interviews: Vec<PersonInterview>,
    pub transcripts: Vec<PersonTranscript>,
    pub messages: Vec<PersonMessage>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonIdentity {
    pub name: String,
    pub email: Option<String>,
    pub organisation: String,
    /// The panel attributes recorded for them (key → value).
    #[schema(value_type = Object)]
    pub strata: serde_json::Value,
    pub source: String,
    pub status: String,
    pub added_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonEvent {
    pub to_status: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonConsent {
    pub decision: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The consent text they answered, as it stood.
    pub text_version: Option<i32>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonAnswer {
    pub round: i32,
    pub theme_number: i32,
    pub theme: String,
    pub score: Option<i32>,
    pub dont_know: bool,
    pub comment: Option<String>,
    pub proposal: Option<String>,
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonPost {
    pub round: i32,
    pub theme_number: i32,
    pub handle: Option<i32>,
    pub text: String,
    /// `pending`, `published` or `hidden`.
    pub state: String,
    pub written_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonWrittenAnswer {
    pub round: i32,
    pub question_id: String,
    pub text: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonInterview {
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: i32,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonTranscript {
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonMessage {
    pub kind: String,
    pub subject: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Everything the study holds about one person, to hand over to them. The export is logged.
pub fn export_person(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    candidate_id: &str,
) -> AppResult<PersonExport> {
    let (c, study) =
        access::in_study::<Candidate>(conn, researcher_id, candidate_id, Role::Researcher)?;
    let pseudonym: Option<String> = match &c.panellist_id {
        Some(p) => panellists::table
            .find(p)
            .select(panellists::pseudonym)
            .first(conn)
            .optional()?,
        None => None,
    };
    let status_history = candidate_events::table
        .filter(candidate_events::candidate_id.eq(&c.id))
        .order(candidate_events::at.asc())
        .select((
            candidate_events::to_status,
            candidate_events::reason,
            candidate_events::at,
        ))
        .load::<(String, Option<String>, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(to_status, reason, at)| PersonEvent {
            to_status,
            reason,
            at: utc(at),
        })
        .collect();
    let consents = consents::table
        .left_join(consent_texts::table)
        .filter(consents::candidate_id.eq(&c.id))
        .order(consents::at.asc())
        .select((
            consents::decision,
            consents::reason,
            consents::at,
            consent_texts::version.nullable(),
            consent_texts::body.nullable(),
        ))
        .load::<(
            String,
            Option<String>,
            NaiveDateTime,
            Option<i32>,
            Option<String>,
        )>(conn)?
        .into_iter()
        .map(|(decision, reason, at, text_version, text)| PersonConsent {
            decision,
            reason,
            at: utc(at),
            text_version,
            text,
        })
        .collect();
    let (mut answers_out, mut written, mut interviews, mut texts, mut posts_out) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if let Some(pid) = &c.panellist_id {
        posts_out = posts::table
            .inner_join(rounds::table)
            .inner_join(themes::table)
            .left_join(
                post_handles::table.on(post_handles::round_id
                    .eq(posts::round_id)
                    .and(post_handles::theme_id.eq(posts::theme_id))
                    .and(
                        post_handles::panellist_id
                            .nullable()
                            .eq(posts::panellist_id),
                    )),
            )
            .filter(posts::panellist_id.eq(pid))
            .order((
                rounds::number.asc(),
                themes::number.asc(),
                posts::created_at.asc(),
            ))
            .select((
                rounds::number,
                themes::number,
                post_handles::handle.nullable(),
                posts::text,
                posts::state,
                posts::created_at,
            ))
            .load::<(i32, i32, Option<i32>, String, String, NaiveDateTime)>(conn)?
            .into_iter()
            .map(
                |(round, theme_number, handle, text, state, at)| PersonPost {
                    round,
                    theme_number,
                    handle,
                    text,
                    state,
                    written_at: utc(at),
                },
            )
            .collect();
        answers_out = answers::table
            .inner_join(rounds::table)
            .inner_join(themes::table)
            .filter(answers::panellist_id.eq(pid))
            .order((rounds::number.asc(), themes::number.asc()))
            .select((
                rounds::number,
                themes::number,
                themes::title,
                answers::score,
                answers::dont_know,
                answers::comment,
                answers::proposal,
                answers::reason,
                answers::updated_at,
            ))
            .load::<(
                i32,
                i32,
                String,
                Option<i32>,
                bool,
                Option<String>,
                Option<String>,
                Option<String>,
                NaiveDateTime,
            )>(conn)?
            .into_iter()
            .map(
                |(round, theme_number, theme, score, dont_know, comment, proposal, reason, at)| {
                    PersonAnswer {
                        round,
                        theme_number,
                        theme,
                        score,
                        dont_know,
                        comment,
                        proposal,
                        reason,
                        updated_at: utc(at),
                    }
                },
            )
            .collect();
        written = questionnaire_answers::table
            .inner_join(rounds::table)
            .filter(questionnaire_answers::panellist_id.eq(pid))
            .order((
                rounds::number.asc(),
                questionnaire_answers::question_id.asc(),
            ))
            .select((
                rounds::number,
                questionnaire_answers::question_id,
                questionnaire_answers::text,
                questionnaire_answers::updated_at,
            ))
            .load::<(i32, String, String, NaiveDateTime)>(conn)?
            .into_iter()
            .map(|(round, question_id, text, at)| PersonWrittenAnswer {
                round,
                question_id,
                text,
                updated_at: utc(at),
            })
            .collect();
        interviews = appointments::table
            .filter(appointments::panellist_id.eq(pid))
            .order(appointments::starts_at.asc())
            .select((
                appointments::starts_at,
                appointments::duration_minutes,
                appointments::state,
            ))
            .load::<(Option<NaiveDateTime>, i32, String)>(conn)?
            .into_iter()
            .map(|(s, duration_minutes, state)| PersonInterview {
                starts_at: s.map(utc),
                duration_minutes,
                state,
            })
            .collect();
        texts = transcripts::table
            .filter(transcripts::panellist_id.eq(pid))
            .order(transcripts::created_at.asc())
            .select((transcripts::title, transcripts::body))
            .load::<(String, String)>(conn)?
            .into_iter()
            .map(|(title, text)| PersonTranscript { title, text })
            .collect();
    }
    let messages = outbox::table
        .filter(outbox::candidate_id.eq(&c.id))
        .order(outbox::created_at.asc())
        .select((
            outbox::kind,
            outbox::subject,
            outbox::state,
            outbox::created_at,
            outbox::sent_at,
        ))
        .load::<(String, String, String, NaiveDateTime, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .map(|(kind, subject, state, at, sent)| PersonMessage {
            kind,
            subject,
            state,
            created_at: utc(at),
            sent_at: sent.map(utc),
        })
        .collect();
    audit::record(
        conn,
        &Actor::researcher(researcher_id),
        Some(&study.id),
        audit::Action::PersonExported,
        Some(&c.id),
        serde_json::json!({}),
    )?;
    Ok(PersonExport {
        study: study.title.clone(),
        exported_at: Utc::now(),
        identity: PersonIdentity {
            name: c.name,
            email: c.email,
            organisation: c.organisation,
            strata: serde_json::from_str(&c.strata).unwrap_or(serde_json::Value::Null),
            source: c.source,
            status: c.status.as_str().to_string(),
            added_at: utc(c.created_at),
            erased_at: c.erased_at.map(utc),
        },
        pseudonym,
        status_history,
        consents,
        answers: answers_out,
        written_answers: written,
        posts: posts_out,
        interviews,
        transcripts: texts,
        messages,
    })
}

// ---------------------------------------------------------------------------------------------
// Erasure

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseInput {
    /// Why (a request from the person, the retention date); kept in the audit log.
    pub reason: String,
}

/// What the placeholder name of an erased person reads.
pub const ERASED_NAME: &str = "—";

/// Removes one candidate's identity inside an open transaction: name, e-mail, organisation,
/// notes, personal links, the e-mails sent to them and free-text reasons they gave. Their
/// pseudonym, consent decisions and answers stay, so the panel's results do not change.
fn erase_identity(
    conn: &mut DbConn,
    c: &Candidate,
    actor: &Actor,
    reason: &str,
    mail_files: Option<&Path>,
) -> AppResult<()> {
    let t = now();
    // Delivered messages written as files hold the name, the address and the links too.
    let messages: Vec<String> = outbox::table
        .filter(outbox::candidate_id.eq(&c.id))
        .select(outbox::id)
        .load(conn)?;
    let mut files_removed = 0;
    if let Some(dir) = mail_files {
        for id in &messages {
            match std::fs::remove_file(dir.join(format!("{id}.eml"))) {
                Ok(()) => files_removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "removing the e-mail file {id}.eml: {e}"
                    )));
                }
            }
        }
    }
    diesel::update(candidates::table.find(&c.id))
        .set((
            candidates::name.eq(ERASED_NAME),
            candidates::email.eq(None::<String>),
            candidates::organisation.eq(""),
            candidates::notes.eq(""),
            candidates::status_reason.eq(None::<String>),
            candidates::mail_failure.eq(None::<String>),
            candidates::erased_at.eq(Some(t)),
            candidates::updated_at.eq(t),
        ))
        .execute(conn)?;
    diesel::delete(
        participation_tokens::table.filter(participation_tokens::candidate_id.eq(&c.id)),
    )
    .execute(conn)?;
    diesel::delete(outbox::table.filter(outbox::candidate_id.eq(&c.id))).execute(conn)?;
    diesel::update(candidate_events::table.filter(candidate_events::candidate_id.eq(&c.id)))
        .set(candidate_events::reason.eq(None::<String>))
        .execute(conn)?;
    diesel::update(consents::table.filter(consents::candidate_id.eq(&c.id)))
        .set(consents::reason.eq(None::<String>))
        .execute(conn)?;
    if let Some(pid) = &c.panellist_id {
        diesel::update(appointments::table.filter(appointments::panellist_id.eq(pid)))
            .set(appointments::notes.eq(""))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(&c.study_id),
        audit::Action::PersonErased,
        Some(&c.id),
        serde_json::json!({
            "reason": reason,
            "messages_removed": messages.len(),
            "mail_files_removed": files_removed,
        }),
    )
}

/// Erases a person's identity on request (owners). Their answers stay under the pseudonym.
pub fn erase_person(
    conn: &mut DbConn,
    env: &super::outbox::MailEnv,
    researcher_id: &ResearcherId,
    candidate_id: &str,
    input: EraseInput,
) -> AppResult<()> {
    let reason = text::line("reason", &input.reason, 500)?;
    if reason.is_empty() {
        return Err(Invalid::one("reason", "say why the identity is erased").into());
    }
    db::write(conn, |c| {
        let (cand, _) = access::in_study::<Candidate>(c, researcher_id, candidate_id, Role::Owner)?;
        if cand.erased_at.is_some() {
            return Err(AppError::Conflict(
                "this person's identity is already erased".into(),
            ));
        }
        erase_identity(
            c,
            &cand,
            &Actor::researcher(researcher_id),
            &reason,
            env.files.as_deref(),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Retention

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub warnings_queued: usize,
    pub identities_erased: usize,
    pub transcripts_deleted: usize,
}

/// The worker's retention duty at `today`: owners of a study whose retention date is near are
/// warned once; on and after the date every identity is erased and every transcript deleted.
pub fn run_retention(
    conn: &mut DbConn,
    env: &super::outbox::MailEnv,
    today: NaiveDate,
) -> AppResult<RetentionReport> {
    let mut report = RetentionReport::default();
    let due: Vec<Study> = crate::db::schema::studies::table
        .filter(crate::db::schema::studies::retention_until.is_not_null())
        .filter(
            crate::db::schema::studies::retention_until
                .le(today + chrono::Duration::days(RETENTION_WARNING_DAYS)),
        )
        .select(Study::as_select())
        .load(conn)?;
    for study in due {
        let Some(until) = study.retention_until else {
            continue;
        };
        if until > today {
            report.warnings_queued += db::write(conn, |c| warn_owners(c, env, &study, until))?;
            continue;
        }
        let (erased, deleted) = db::write(conn, |c| {
            let left: Vec<Candidate> = candidates::table
                .filter(candidates::study_id.eq(&study.id))
                .filter(candidates::erased_at.is_null())
                .select(Candidate::as_select())
                .load(c)?;
            for cand in &left {
                erase_identity(
                    c,
                    cand,
                    &Actor::System,
                    "retention date reached",
                    env.files.as_deref(),
                )?;
            }
            let ids: Vec<String> = transcripts::table
                .filter(transcripts::study_id.eq(&study.id))
                .select(transcripts::id)
                .load(c)?;
            if !ids.is_empty() {
                let ex: Vec<String> = excerpts::table
                    .filter(excerpts::transcript_id.eq_any(&ids))
                    .select(excerpts::id)
                    .load(c)?;
                diesel::delete(
                    statement_excerpts::table.filter(statement_excerpts::excerpt_id.eq_any(&ex)),
                )
                .execute(c)?;
                diesel::delete(transcripts::table.filter(transcripts::id.eq_any(&ids)))
                    .execute(c)?;
                audit::record(
                    c,
                    &Actor::System,
                    Some(&study.id),
                    audit::Action::TranscriptsDeleted,
                    Some(&study.id),
                    serde_json::json!({ "reason": "retention date reached", "transcripts": ids.len() }),
                )?;
            }
            Ok::<_, AppError>((left.len(), ids.len()))
        })?;
        report.identities_erased += erased;
        report.transcripts_deleted += deleted;
    }
    Ok(report)
}

/// One warning per owner and retention date (a changed date warns again).
fn warn_owners(
    conn: &mut DbConn,
    env: &super::outbox::MailEnv,
    study: &Study,
    until: NaiveDate,
) -> AppResult<usize> {
    let owners: Vec<(String, String, String, String)> = researchers::table
        .inner_join(study_members::table)
        .filter(study_members::study_id.eq(&study.id))
        .filter(study_members::role.eq(super::studies::Role::Owner))
        .filter(researchers::disabled_at.is_null())
        .select((
            researchers::id,
            researchers::email,
            researchers::name,
            researchers::locale,
        ))
        .load(conn)?;
    let base = env.public_url.trim_end_matches('/');
    let mut queued = 0;
    for (id, email, name, language) in owners {
        let language = Language::from_stored(&language);
        let sent = super::outbox::enqueue_to_researcher(
            conn,
            env,
            study,
            super::outbox::Colleague {
                email,
                name,
                language,
            },
            crate::mail::Kind::RetentionWarning,
            (
                format!("{base}/studies/{}/settings", study.id),
                crate::i18n::long_date(until, language.code()),
            ),
            format!("retention-warning:{}:{until}:{id}", study.id),
        )?;
        queued += usize::from(sent);
    }
    Ok(queued)
}

// ---------------------------------------------------------------------------------------------
// The audit log

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub at: DateTime<Utc>,
    /// `researcher`, `participant`, `funder` (a link), `funder_account` or `system`.
    pub actor_kind: String,
    /// The researcher's name, for researchers.
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A page of the study's audit log, newest first, and how many entries match in all.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub total: i64,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<AuditView>,
}

/// A page of the study's audit log, newest first (owners). Entries cannot be changed or
/// removed.
pub fn audit_log(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    query: &audit::AuditQuery,
) -> AppResult<AuditPage> {
    access::study(conn, researcher_id, study_id, Role::Owner)?;
    let (total, entries) = audit::for_study(conn, study_id, query)?;
    let names: std::collections::HashMap<String, String> = researchers::table
        .select((researchers::id, researchers::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    // A funder's account is named as the researchers shared the report with it.
    let funders: std::collections::HashMap<String, String> = crate::db::schema::funders::table
        .select((
            crate::db::schema::funders::id,
            crate::db::schema::funders::name,
            crate::db::schema::funders::email,
        ))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, email)| (id, format!("{name} <{email}>")))
        .collect();
    let items = entries
        .into_iter()
        .map(|e| AuditView {
            at: utc(e.at),
            actor: e
                .actor_id
                .as_ref()
                .and_then(|id| match e.actor_kind.as_str() {
                    Actor::RESEARCHER => names.get(id).cloned(),
                    Actor::FUNDER_ACCOUNT => funders.get(id).cloned(),
                    _ => None,
                }),
            actor_kind: e.actor_kind,
            action: e.action,
            target: e.target,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(AuditPage {
        total,
        offset: query.paging.offset,
        limit: query.paging.limit,
        items,
    })
}
