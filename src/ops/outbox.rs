//! The outbox: messages are rendered and stored in the same transaction as the change that
//! needs them, then delivered by the worker. Rows are claimed so that several server
//! instances never deliver the same row at once; `dedup_key` makes "send this once" hold even
//! when two instances decide to send the same scheduled message.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use super::links;
use super::participation::Purpose;
use super::secret::token_hash;
use super::{AppError, AppResult};
use crate::db::models::{Candidate, EmailTemplate, OutboxMessage, Study};
use crate::db::schema::{candidates, email_templates, outbox, participation_tokens};
use crate::db::utc;
use crate::db::{DbConn, new_id, now};
use crate::domain::Language;
use crate::domain::states::MessageState;
use crate::mail::templates::{CustomLetter, MailTemplates};
use crate::mail::{Kind, MailContext, StudyFacts, new_message_id};

/// What operations that send mail need: the templates and the base of every link.
#[derive(Clone)]
pub struct MailEnv {
    pub templates: Arc<MailTemplates>,
    pub public_url: String,
    /// Where delivered messages are written as `.eml` files (the file transport), so that an
    /// erasure can remove them too.
    pub files: Option<std::path::PathBuf>,
}

/// Round details for round messages.
#[derive(Debug, Clone, Default)]
pub struct RoundFacts {
    pub round_id: Option<String>,
    pub number: i32,
    pub deadline: Option<NaiveDateTime>,
    pub validation: bool,
    pub rating: bool,
}

pub fn custom_letter(
    conn: &mut DbConn,
    study_id: &str,
    kind: Kind,
    lang: Language,
) -> AppResult<Option<CustomLetter>> {
    Ok(email_templates::table
        .find((study_id, kind.as_str(), lang.code()))
        .select(EmailTemplate::as_select())
        .first(conn)
        .optional()?
        .map(|t| CustomLetter {
            subject: t.subject,
            letter: t.body,
        }))
}

pub fn study_facts(study: &Study) -> StudyFacts {
    StudyFacts {
        title: study.title.clone(),
        purpose: study.purpose.clone(),
        funder: study.funder.clone(),
        contact: study.contact.clone(),
    }
}

/// One message to a candidate: its kind, the round it is about, and what is particular to it.
pub struct Letter<'a> {
    pub kind: Kind,
    pub round: &'a RoundFacts,
    /// A message with the same key is sent once.
    pub dedup_key: Option<String>,
    pub attachments: &'a [crate::mail::Attachment],
    /// Values for the template particular to this kind (an appointment's time).
    pub extra: &'a [(&'a str, String)],
}

impl<'a> Letter<'a> {
    pub fn new(kind: Kind, round: &'a RoundFacts, dedup_key: Option<String>) -> Letter<'a> {
        Letter {
            kind,
            round,
            dedup_key,
            attachments: &[],
            extra: &[],
        }
    }
}

/// Renders and stores one message to a candidate, with a fresh personal link (its expiry by
/// the rule in [`super::links`]) and a link that can only unsubscribe. Returns false (and
/// stores nothing) when the candidate cannot be mailed (no address, opted out) or when a
/// message with the same `dedup_key` already exists.
pub fn enqueue_to_candidate(
    conn: &mut DbConn,
    env: &MailEnv,
    study: &Study,
    candidate: &Candidate,
    kind: Kind,
    round: &RoundFacts,
    dedup_key: Option<String>,
) -> AppResult<bool> {
    enqueue_with(
        conn,
        env,
        study,
        candidate,
        Letter::new(kind, round, dedup_key),
    )
}

/// `enqueue_to_candidate` for a letter with files attached or values of its own.
pub fn enqueue_with(
    conn: &mut DbConn,
    env: &MailEnv,
    study: &Study,
    candidate: &Candidate,
    letter: Letter<'_>,
) -> AppResult<bool> {
    let Letter {
        kind,
        round,
        dedup_key,
        attachments,
        extra,
    } = letter;
    let Some(address) = candidate.email.clone() else {
        return Ok(false);
    };
    if candidate.mail_opt_out_at.is_some() || candidate.erased_at.is_some() {
        return Ok(false);
    }
    if let Some(key) = &dedup_key
        && already_queued(conn, key)?
    {
        return Ok(false);
    }
    let lang = Language::from_stored(&study.language);
    let token = links::issue(conn, &candidate.id, Purpose::Access)?;
    let stop = links::issue(conn, &candidate.id, Purpose::Unsubscribe)?;
    let base = env.public_url.trim_end_matches('/');
    let ctx = MailContext {
        study: study_facts(study),
        name: candidate.name.clone(),
        link: format!("{base}/p/{token}"),
        unsubscribe_link: format!("{base}/unsubscribe/{stop}"),
        deadline: round
            .deadline
            .map(|d| crate::i18n::long_datetime(utc(d), lang.code(), study.zone()))
            .unwrap_or_default(),
        round_number: round.number,
        validation: round.validation,
        rating: round.rating,
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    };
    let custom = custom_letter(conn, &study.id, kind, lang)?;
    let row = OutboxMessage {
        candidate_id: Some(candidate.id.clone()),
        round_id: round.round_id.clone(),
        dedup_key,
        headers: serde_json::json!({ "List-Unsubscribe": ctx.unsubscribe_link }).to_string(),
        attachments: serde_json::to_string(attachments).expect("serialisable"),
        ..queued(env, study, (kind, lang), &ctx, custom.as_ref(), address)?
    };
    if !store(conn, &row)? {
        diesel::delete(participation_tokens::table.filter(
            participation_tokens::token_hash.eq_any([token_hash(&token), token_hash(&stop)]),
        ))
        .execute(conn)?;
        return Ok(false);
    }
    links::apply_rule(conn, &candidate.id)?;
    Ok(true)
}

/// A message rendered for the outbox, due now, with nothing particular to its recipient yet.
fn queued(
    env: &MailEnv,
    study: &Study,
    (kind, lang): (Kind, Language),
    ctx: &MailContext,
    custom: Option<&CustomLetter>,
    recipient: String,
) -> AppResult<OutboxMessage> {
    let rendered = env
        .templates
        .render(lang, kind, ctx, custom)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {}: {e}", kind.as_str())))?;
    let t = now();
    Ok(OutboxMessage {
        id: new_id(),
        study_id: Some(study.id.clone()),
        candidate_id: None,
        round_id: None,
        kind,
        dedup_key: None,
        recipient: Some(recipient),
        subject: rendered.subject,
        body_text: Some(rendered.text),
        body_html: Some(rendered.html),
        message_id: new_message_id(&env.public_url),
        headers: "{}".into(),
        state: MessageState::Queued,
        attempts: 0,
        next_attempt_at: t,
        claimed_by: None,
        claimed_until: None,
        last_error: None,
        created_at: t,
        sent_at: None,
        attachments: "[]".into(),
    })
}

/// Stores a message unless one with its `dedup_key` is already there (two instances may decide
/// the same message at once); returns whether it was stored.
fn store(conn: &mut DbConn, row: &OutboxMessage) -> AppResult<bool> {
    let inserted = match conn {
        DbConn::Pg(c) => diesel::insert_into(outbox::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(outbox::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(inserted > 0)
}

fn already_queued(conn: &mut DbConn, dedup_key: &str) -> AppResult<bool> {
    let n: i64 = outbox::table
        .filter(outbox::dedup_key.eq(dedup_key))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A researcher of the study, as a message addresses them.
pub struct Colleague {
    pub email: String,
    pub name: String,
    pub language: Language,
}

/// Renders and stores one message to a researcher about a study, in their own language, sent
/// once per `dedup_key`. `link` leads to the page the message is about; `date` is the date it
/// names, if any. Returns false when it was queued before.
pub fn enqueue_to_researcher(
    conn: &mut DbConn,
    env: &MailEnv,
    study: &Study,
    to: Colleague,
    kind: Kind,
    link_and_date: (String, String),
    dedup_key: String,
) -> AppResult<bool> {
    enqueue_to_person(
        conn,
        env,
        study,
        to,
        kind,
        link_and_date,
        Default::default(),
        dedup_key,
    )
}

/// Renders and stores one message about a study to someone outside its panel (a researcher, a
/// funder) in their own language, once per `dedup_key`; `extra` holds the values particular to
/// its kind. Returns false when it was queued before.
#[allow(clippy::too_many_arguments)]
pub fn enqueue_to_person(
    conn: &mut DbConn,
    env: &MailEnv,
    study: &Study,
    to: Colleague,
    kind: Kind,
    (link, date): (String, String),
    extra: std::collections::BTreeMap<String, String>,
    dedup_key: String,
) -> AppResult<bool> {
    if already_queued(conn, &dedup_key)? {
        return Ok(false);
    }
    let ctx = MailContext {
        study: study_facts(study),
        name: to.name,
        link,
        unsubscribe_link: String::new(),
        deadline: date,
        round_number: 0,
        validation: false,
        rating: false,
        extra,
    };
    let row = OutboxMessage {
        dedup_key: Some(dedup_key),
        ..queued(env, study, (kind, to.language), &ctx, None, to.email)?
    };
    store(conn, &row)
}

/// Takes up to `limit` messages due at `at` for this worker, for `lease` long. On PostgreSQL
/// rows another instance holds are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite, where there is
/// one writer at a time, a conditional update claims them. Leases are taken and judged by the
/// clock, whatever `at` says: a pass run for a later moment must not take over messages another
/// worker is delivering now.
pub fn claim(
    conn: &mut DbConn,
    worker: &str,
    at: NaiveDateTime,
    lease: Duration,
    limit: i64,
) -> AppResult<Vec<OutboxMessage>> {
    let clock = now();
    let until = clock + lease;
    crate::db::write(conn, |c| {
        // Messages whose worker died mid-delivery become due again once their lease ran out.
        diesel::update(
            outbox::table
                .filter(outbox::state.eq(crate::domain::states::MessageState::Sending))
                .filter(outbox::claimed_until.lt(clock)),
        )
        .set((
            outbox::state.eq(crate::domain::states::MessageState::Queued),
            outbox::claimed_by.eq(None::<String>),
        ))
        .execute(c)?;
        let ids: Vec<String> = match c {
            DbConn::Pg(pg) => outbox::table
                .filter(outbox::state.eq(crate::domain::states::MessageState::Queued))
                .filter(outbox::next_attempt_at.le(at))
                .order(outbox::next_attempt_at.asc())
                .limit(limit)
                .select(outbox::id)
                .for_update()
                .skip_locked()
                .load(pg)?,
            DbConn::Sqlite(_) => outbox::table
                .filter(outbox::state.eq(crate::domain::states::MessageState::Queued))
                .filter(outbox::next_attempt_at.le(at))
                .order(outbox::next_attempt_at.asc())
                .limit(limit)
                .select(outbox::id)
                .load(c)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(
            outbox::table
                .filter(outbox::id.eq_any(&ids))
                .filter(outbox::state.eq(crate::domain::states::MessageState::Queued)),
        )
        .set((
            outbox::state.eq(crate::domain::states::MessageState::Sending),
            outbox::claimed_by.eq(worker),
            outbox::claimed_until.eq(until),
        ))
        .execute(c)?;
        Ok::<_, AppError>(
            outbox::table
                .filter(outbox::id.eq_any(&ids))
                .filter(outbox::claimed_by.eq(worker))
                .filter(outbox::state.eq(crate::domain::states::MessageState::Sending))
                .select(OutboxMessage::as_select())
                .load(c)?,
        )
    })
}

/// Delivered: the bodies and headers (which hold personal links) are removed; subject and
/// state stay, so no link is kept once its message is out.
pub fn mark_sent(conn: &mut DbConn, ids: &[String], worker: &str) -> AppResult<()> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::claimed_by.eq(worker)),
    )
    .set((
        outbox::state.eq(crate::domain::states::MessageState::Sent),
        outbox::sent_at.eq(now()),
        outbox::body_text.eq(None::<String>),
        outbox::body_html.eq(None::<String>),
        outbox::headers.eq("{}"),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
        outbox::last_error.eq(None::<String>),
        outbox::attempts.eq(outbox::attempts + 1),
    ))
    .execute(conn)?;
    Ok(())
}

/// A temporary failure: try again at `retry_at`, or give up after `max_attempts`.
pub fn mark_retry(
    conn: &mut DbConn,
    message: &OutboxMessage,
    worker: &str,
    error: &str,
    retry_at: NaiveDateTime,
    max_attempts: i32,
) -> AppResult<()> {
    let attempts = message.attempts + 1;
    if attempts >= max_attempts {
        return mark_failed(
            conn,
            message,
            worker,
            &format!("gave up after {attempts} attempts: {error}"),
            false,
        );
    }
    diesel::update(
        outbox::table
            .filter(outbox::id.eq(&message.id))
            .filter(outbox::claimed_by.eq(worker)),
    )
    .set((
        outbox::state.eq(crate::domain::states::MessageState::Queued),
        outbox::attempts.eq(attempts),
        outbox::next_attempt_at.eq(retry_at),
        outbox::last_error.eq(error),
        outbox::claimed_by.eq(None::<String>),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Failed for good. A refused address is also recorded on the candidate for the researchers.
pub fn mark_failed(
    conn: &mut DbConn,
    message: &OutboxMessage,
    worker: &str,
    error: &str,
    address_refused: bool,
) -> AppResult<()> {
    crate::db::write(conn, |c| {
        diesel::update(
            outbox::table
                .filter(outbox::id.eq(&message.id))
                .filter(outbox::claimed_by.eq(worker)),
        )
        .set((
            outbox::state.eq(crate::domain::states::MessageState::Failed),
            outbox::attempts.eq(message.attempts + 1),
            outbox::last_error.eq(error),
            outbox::body_text.eq(None::<String>),
            outbox::body_html.eq(None::<String>),
            outbox::headers.eq("{}"),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(c)?;
        if address_refused && let Some(cand) = &message.candidate_id {
            diesel::update(candidates::table.find(cand))
                .set(candidates::mail_failure.eq(error))
                .execute(c)?;
        }
        Ok::<_, AppError>(())
    })
}

/// When a failed delivery is next tried: doubling from `base`, capped at `max`.
pub fn backoff(attempts: i32, base_seconds: i64, max_seconds: i64) -> Duration {
    let exp = attempts.clamp(0, 30) as u32;
    let secs = base_seconds
        .saturating_mul(2i64.saturating_pow(exp))
        .min(max_seconds);
    Duration::seconds(secs.max(1))
}

/// A message as researchers see it: never its body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: String,
    pub kind: Kind,
    pub recipient: Option<String>,
    pub subject: String,
    pub state: crate::domain::states::MessageState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<OutboxMessage> for MessageView {
    fn from(m: OutboxMessage) -> Self {
        MessageView {
            id: m.id,
            kind: m.kind,
            recipient: m.recipient,
            subject: m.subject,
            state: m.state,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: utc(m.created_at),
            sent_at: m.sent_at.map(utc),
        }
    }
}

/// The outbox by state, and when the oldest message due for delivery became due (for
/// metrics: a growing wait means mail is not going out).
pub fn depth(
    conn: &mut DbConn,
    at: NaiveDateTime,
) -> AppResult<(
    std::collections::BTreeMap<String, i64>,
    Option<NaiveDateTime>,
)> {
    let counts: Vec<(String, i64)> = outbox::table
        .group_by(outbox::state)
        .select((outbox::state, diesel::dsl::count_star()))
        .load(conn)?;
    let oldest: Option<NaiveDateTime> = outbox::table
        .filter(outbox::state.eq_any([
            crate::domain::states::MessageState::Queued,
            crate::domain::states::MessageState::Sending,
        ]))
        .filter(outbox::next_attempt_at.le(at))
        .select(diesel::dsl::min(outbox::next_attempt_at))
        .first(conn)?;
    Ok((counts.into_iter().collect(), oldest))
}

/// Hands back messages this worker claimed but did not try (it is stopping), so they go out
/// at once from another worker or after a restart, not only when the lease runs out.
pub fn release(conn: &mut DbConn, ids: &[String], worker: &str) -> AppResult<usize> {
    Ok(diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::claimed_by.eq(worker))
            .filter(outbox::state.eq(crate::domain::states::MessageState::Sending)),
    )
    .set((
        outbox::state.eq(crate::domain::states::MessageState::Queued),
        outbox::claimed_by.eq(None::<String>),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0, 30, 3600), Duration::seconds(30));
        assert_eq!(backoff(1, 30, 3600), Duration::seconds(60));
        assert_eq!(backoff(3, 30, 3600), Duration::seconds(240));
        assert_eq!(backoff(20, 30, 3600), Duration::seconds(3600));
        assert_eq!(backoff(99, 30, 3600), Duration::seconds(3600));
    }
}
