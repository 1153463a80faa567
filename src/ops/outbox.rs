//! The outbox: messages are rendered and stored in the same transaction as the change that
//! needs them, then delivered by the worker. Rows are claimed so that several server
//! instances never deliver the same row at once; `dedup_key` makes "send this once" hold even
//! when two instances decide to send the same scheduled message.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use super::links;
use super::participation::Purpose;
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
    let mut letter = Some(letter);
    let stored = enqueue_many(conn, env, study, std::slice::from_ref(candidate), |_| {
        letter.take().expect("one candidate, one letter")
    })?;
    Ok(stored[0])
}

/// How many messages one statement of [`enqueue_many`] stores.
const CHUNK: usize = 250;

/// [`enqueue_with`] for many candidates of one study, each with the letter `letter` gives them:
/// the same rules, in a few statements for each [`CHUNK`] of messages (a round's opening mails
/// its whole panel at once). Returns, in the candidates' order, whether each was stored.
pub fn enqueue_many<'a>(
    conn: &mut DbConn,
    env: &MailEnv,
    study: &Study,
    candidates: &[Candidate],
    mut letter: impl FnMut(&Candidate) -> Letter<'a>,
) -> AppResult<Vec<bool>> {
    let lang = Language::from_stored(&study.language);
    let base = env.public_url.trim_end_matches('/');
    let mut stored = vec![false; candidates.len()];
    let mut customs: Vec<(Kind, Option<CustomLetter>)> = Vec::new();
    let mut keys_taken: HashSet<String> = HashSet::new();
    for (chunk_no, chunk) in candidates.chunks(CHUNK).enumerate() {
        let letters: Vec<(usize, &Candidate, Letter<'a>)> = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.email.is_some() && c.mail_opt_out_at.is_none() && c.erased_at.is_none()
            })
            .map(|(i, c)| (chunk_no * CHUNK + i, c, letter(c)))
            .collect();
        let keys: Vec<&str> = letters
            .iter()
            .filter_map(|(_, _, l)| l.dedup_key.as_deref())
            .collect();
        if !keys.is_empty() {
            keys_taken.extend(
                outbox::table
                    .filter(outbox::dedup_key.eq_any(&keys))
                    .select(outbox::dedup_key)
                    .load::<Option<String>>(conn)?
                    .into_iter()
                    .flatten(),
            );
        }
        let mut tokens = Vec::new();
        let mut rows: Vec<OutboxMessage> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        for (i, candidate, letter) in letters {
            let Letter {
                kind,
                round,
                dedup_key,
                attachments,
                extra,
            } = letter;
            // A key seen before, or twice in this batch, is sent once.
            if let Some(key) = &dedup_key
                && !keys_taken.insert(key.clone())
            {
                continue;
            }
            let (token, access) = links::new_link(&candidate.id, Purpose::Access);
            let (stop, unsubscribe) = links::new_link(&candidate.id, Purpose::Unsubscribe);
            tokens.extend([access, unsubscribe]);
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
            let custom = match customs.iter().find(|(k, _)| *k == kind) {
                Some((_, custom)) => custom.clone(),
                None => {
                    let custom = custom_letter(conn, &study.id, kind, lang)?;
                    customs.push((kind, custom.clone()));
                    custom
                }
            };
            let row = OutboxMessage {
                candidate_id: Some(candidate.id.clone()),
                round_id: round.round_id.clone(),
                dedup_key,
                headers: serde_json::json!({ "List-Unsubscribe": ctx.unsubscribe_link })
                    .to_string(),
                attachments: serde_json::to_string(attachments).expect("serialisable"),
                ..queued(
                    env,
                    study,
                    (kind, lang),
                    &ctx,
                    custom.as_ref(),
                    address_of(candidate),
                )?
            };
            rows.push(row);
            owners.push(i);
        }
        if rows.is_empty() {
            continue;
        }
        crate::db::insert_rows!(conn, participation_tokens::table, &tokens)?;
        let inserted = store(conn, &rows)?;
        // Another server may have stored the same key meanwhile (PostgreSQL): what was not
        // stored takes its links away again. Which ones is asked only when some were not (the
        // rows just written are not in the table's statistics yet, so that read can be slow).
        let kept: HashSet<String> = if inserted == rows.len() {
            rows.iter().map(|m| m.id.clone()).collect()
        } else {
            let ids: Vec<&str> = rows.iter().map(|m| m.id.as_str()).collect();
            outbox::table
                .filter(outbox::id.eq_any(&ids))
                .select(outbox::id)
                .load::<String>(conn)?
                .into_iter()
                .collect()
        };
        let mut lost = Vec::new();
        let mut mailed = Vec::new();
        for (&i, m) in owners.iter().zip(&rows) {
            if kept.contains(&m.id) {
                stored[i] = true;
                mailed.push(candidates[i].id.as_str());
            } else {
                lost.push(candidates[i].id.as_str());
            }
        }
        if !lost.is_empty() {
            let hashes: Vec<&str> = tokens
                .iter()
                .filter(|t| lost.contains(&t.candidate_id.as_str()))
                .map(|t| t.token_hash.as_str())
                .collect();
            diesel::delete(
                participation_tokens::table.filter(participation_tokens::token_hash.eq_any(hashes)),
            )
            .execute(conn)?;
        }
        links::apply_rule_to(conn, &mailed)?;
    }
    Ok(stored)
}

fn address_of(candidate: &Candidate) -> String {
    candidate.email.clone().unwrap_or_default()
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

/// Stores messages, each unless one with its `dedup_key` is already there (two instances may
/// decide the same message at once); returns how many were stored.
fn store(conn: &mut DbConn, rows: &[OutboxMessage]) -> AppResult<usize> {
    Ok(crate::db::insert_rows!(
        conn,
        outbox::table,
        rows,
        on_conflict_do_nothing
    )?)
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
    Ok(store(conn, std::slice::from_ref(&row))? > 0)
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
        // By id alone: the rows were chosen in this transaction, which holds them (SQLite's
        // write lock, PostgreSQL's row locks). With their state in the filter too SQLite used
        // the state's index and read every queued message to find these: each claim cost as
        // much as the whole queue.
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::state.eq(crate::domain::states::MessageState::Sending),
                outbox::claimed_by.eq(worker),
                outbox::claimed_until.eq(until),
            ))
            .execute(c)?;
        // In the order they were queued: a message written after another goes out after it.
        Ok::<_, AppError>(
            outbox::table
                .filter(outbox::id.eq_any(&ids))
                .order((outbox::next_attempt_at.asc(), outbox::created_at.asc()))
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
