//! The background worker inside `orakel serve`: delivers the outbox and runs what is due by the
//! clock (invitation reminders and "no reply", rounds closing at their deadline, round
//! reminders). Every step is a conditional update or a claimed row, so any
//! number of server instances may run it at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::NaiveDateTime;
use lettre::message::Mailbox;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::Settings;
use crate::db::models::OutboxMessage;
use crate::db::{self, DbPool};
use crate::mail::transport::{Mailer, SendError};
use crate::mail::{self};
use crate::metrics::{Delivery, Metrics};
use crate::ops::outbox::{self, MailEnv};
use crate::ops::{AppError, AppResult, recruitment, rounds};

/// What one pass did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub reminders: usize,
    pub no_reply: usize,
    pub rounds_closed: usize,
    pub round_reminders: usize,
    /// Snapshots of live rounds published.
    pub live_snapshots: usize,
    /// Daily digests of the panel's discussion queued.
    pub discussion_digests: usize,
    pub retention_warnings: usize,
    pub identities_erased: usize,
    pub transcripts_deleted: usize,
}

/// Asks a running worker to stop: it finishes the messages it is sending, records them, hands
/// back what it claimed but did not start, and returns.
#[derive(Default)]
pub struct Stop {
    requested: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

pub struct Worker {
    id: String,
    pool: DbPool,
    mailer: Arc<Mailer>,
    env: MailEnv,
    from: Mailbox,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    stop: Arc<Stop>,
}

impl Worker {
    pub fn new(
        pool: DbPool,
        env: MailEnv,
        settings: Arc<Settings>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Worker> {
        let mailer = Mailer::from_settings(&settings.mail)?;
        let from: Mailbox = settings
            .mail
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
        let host = hostname();
        Ok(Worker {
            id: format!(
                "{host}-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            pool,
            mailer: Arc::new(mailer),
            env,
            from,
            settings,
            wake,
            metrics,
            stop: Arc::new(Stop::default()),
        })
    }

    /// The handle that stops `run`.
    pub fn stopper(&self) -> Arc<Stop> {
        self.stop.clone()
    }

    pub fn describe(&self) -> String {
        self.mailer.describe()
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut db::DbConn) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db::checkout(&pool)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("worker task failed: {e}")))?
    }

    /// Runs until stopped: a pass whenever woken, and at least every `poll_seconds`.
    pub async fn run(self) {
        let poll = Duration::from_secs(self.settings.worker.poll_seconds.max(1));
        tracing::info!(worker = %self.id, mail = %self.describe(), "worker started");
        while !self.stop.requested() {
            let pass = self.tick().await;
            self.metrics.worker_pass(pass.is_ok());
            match pass {
                Ok(r) if r != Report::default() => tracing::info!(?r, "worker pass"),
                Ok(_) => {}
                Err(e) => {
                    crate::error::log_if_server_error(&e);
                    tracing::warn!(error = %e, "worker pass failed; retrying later");
                }
            }
            if self.stop.requested() {
                break;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = self.stop.notify.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// One pass at the present moment.
    pub async fn tick(&self) -> AppResult<Report> {
        self.tick_at(db::now()).await
    }

    /// One pass as if it were `at` (tests move the clock forward this way).
    pub async fn tick_at(&self, at: NaiveDateTime) -> AppResult<Report> {
        let mut report = Report::default();
        let env = self.env.clone();
        let (reminders, no_reply) = self
            .db(move |c| recruitment::run_recruitment_schedule(c, &env, at))
            .await?;
        report.reminders = reminders;
        report.no_reply = no_reply;
        let env = self.env.clone();
        let (closed, round_reminders) = self
            .db(move |c| rounds::run_round_schedule(c, &env, at))
            .await?;
        report.rounds_closed = closed;
        report.round_reminders = round_reminders;
        let minutes = self.settings.rounds.live_snapshot_minutes;
        report.live_snapshots = self
            .db(move |c| crate::ops::live::publish_due(c, minutes, at))
            .await?;
        let env = self.env.clone();
        report.discussion_digests = self
            .db(move |c| crate::ops::discussion::run_digests(c, &env, at))
            .await?;
        let env = self.env.clone();
        let retention = self
            .db(move |c| crate::ops::privacy::run_retention(c, &env, at.date()))
            .await?;
        report.retention_warnings = retention.warnings_queued;
        report.identities_erased = retention.identities_erased;
        report.transcripts_deleted = retention.transcripts_deleted;
        // What a kept report shows may have moved: candidates who did not reply, a round closed
        // at its deadline, identities erased.
        if report.no_reply
            + report.rounds_closed
            + report.identities_erased
            + report.transcripts_deleted
            > 0
        {
            let database = self
                .db(|c| {
                    if matches!(c, db::DbConn::Pg(_)) {
                        db::count_change(c)?;
                    }
                    Ok(db::database_name(c)?)
                })
                .await?;
            crate::report::cache::invalidate(&database);
        }
        self.deliver(at, &mut report).await?;
        Ok(report)
    }

    /// Delivers everything due, a batch at a time, several messages in parallel. A batch is
    /// small (a few per connection), so the lease covers it even on a slow SMTP server and a
    /// crash leaves few messages waiting for their lease to run out.
    async fn deliver(&self, at: NaiveDateTime, report: &mut Report) -> AppResult<()> {
        let parallel = self.settings.mail.smtp_pool_size.max(1) as usize;
        let lease = chrono::Duration::seconds(self.settings.worker.lease_seconds);
        let batch_size = (parallel * 4) as i64;
        while !self.stop.requested() {
            let id = self.id.clone();
            let batch = self
                .db(move |c| outbox::claim(c, &id, at.max(db::now()), lease, batch_size))
                .await?;
            if batch.is_empty() {
                return Ok(());
            }
            let mut set = JoinSet::new();
            let mut waiting: Vec<OutboxMessage> = batch;
            // Recipients with a message on its way: a second message to the same person waits
            // for it, so one person's mail arrives in the order it was queued.
            let mut sending: Vec<Option<String>> = Vec::new();
            loop {
                while set.len() < parallel && !self.stop.requested() {
                    let Some(next) = next_to_send(&waiting, &sending) else {
                        break;
                    };
                    let row = waiting.remove(next);
                    sending.push(row.recipient.clone());
                    let mailer = self.mailer.clone();
                    let from = self.from.clone();
                    set.spawn(async move {
                        let result = send_row(&mailer, &from, &row).await;
                        (row, result)
                    });
                }
                let Some(joined) = set.join_next().await else {
                    break;
                };
                // Whatever else has finished meanwhile is recorded with it: one commit for
                // several deliveries when sending is faster than committing.
                let mut done = vec![joined];
                while let Some(more) = set.try_join_next() {
                    done.push(more);
                }
                let mut results = Vec::with_capacity(done.len());
                for d in done {
                    let (row, result) =
                        d.map_err(|e| AppError::Internal(anyhow::anyhow!("send task: {e}")))?;
                    if let Some(i) = sending.iter().position(|r| *r == row.recipient) {
                        sending.swap_remove(i);
                    }
                    results.push((row, result));
                }
                self.record_all(results, at, report).await?;
            }
            let untried: Vec<String> = waiting.into_iter().map(|r| r.id).collect();
            if !untried.is_empty() {
                let id = self.id.clone();
                self.db(move |c| outbox::release(c, &untried, &id)).await?;
            }
        }
        Ok(())
    }

    /// Records delivery results: the messages sent in one transaction, failures one by one.
    async fn record_all(
        &self,
        results: Vec<(OutboxMessage, Result<(), SendError>)>,
        at: NaiveDateTime,
        report: &mut Report,
    ) -> AppResult<()> {
        let mut sent = Vec::new();
        for (row, result) in results {
            match result {
                Ok(()) => {
                    report.sent += 1;
                    self.metrics.delivery(Delivery::Sent);
                    sent.push(row.id);
                }
                Err(e) => self.record_failure(row, e, at, report).await?,
            }
        }
        if !sent.is_empty() {
            let id = self.id.clone();
            self.db(move |c| outbox::mark_sent(c, &sent, &id)).await?;
        }
        Ok(())
    }

    async fn record_failure(
        &self,
        row: OutboxMessage,
        error: SendError,
        at: NaiveDateTime,
        report: &mut Report,
    ) -> AppResult<()> {
        let id = self.id.clone();
        let mail = self.settings.mail.clone();
        match error {
            SendError::Temporary(e) => {
                tracing::warn!(message = %row.id, error = %e, attempts = row.attempts + 1, "delivery failed; will retry");
                if row.attempts + 1 >= mail.max_attempts {
                    report.failed += 1;
                    self.metrics.delivery(Delivery::Failed);
                } else {
                    report.retried += 1;
                    self.metrics.delivery(Delivery::Retry);
                }
                let retry_at = at
                    + outbox::backoff(
                        row.attempts,
                        mail.retry_base_seconds,
                        mail.retry_max_seconds,
                    );
                self.db(move |c| outbox::mark_retry(c, &row, &id, &e, retry_at, mail.max_attempts))
                    .await
            }
            SendError::Permanent(e) => {
                tracing::warn!(message = %row.id, error = %e, "delivery refused for good");
                report.failed += 1;
                self.metrics.delivery(Delivery::Failed);
                self.db(move |c| outbox::mark_failed(c, &row, &id, &e, true))
                    .await
            }
        }
    }
}

/// The first of `waiting` (in queue order) whose recipient has nothing on its way, neither in
/// `sending` nor earlier in `waiting`; `None` when each waits for another.
fn next_to_send(waiting: &[OutboxMessage], sending: &[Option<String>]) -> Option<usize> {
    let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        // A message without a recipient (erased) fails on its own and orders nothing.
        _ => false,
    };
    (0..waiting.len()).find(|&i| {
        let to = &waiting[i].recipient;
        !sending.iter().any(|s| same(s, to)) && !waiting[..i].iter().any(|w| same(&w.recipient, to))
    })
}

async fn send_row(mailer: &Mailer, from: &Mailbox, row: &OutboxMessage) -> Result<(), SendError> {
    let (Some(to), Some(text), Some(html)) = (&row.recipient, &row.body_text, &row.body_html)
    else {
        return Err(SendError::Permanent(
            "the message has no recipient or body".into(),
        ));
    };
    let headers: serde_json::Value = serde_json::from_str(&row.headers).unwrap_or_default();
    let unsubscribe = headers.get("List-Unsubscribe").and_then(|v| v.as_str());
    let attachments: Vec<mail::Attachment> =
        serde_json::from_str(&row.attachments).unwrap_or_default();
    let message = mail::build_message(
        from,
        to,
        &row.subject,
        text,
        html,
        &row.message_id,
        unsubscribe,
        &attachments,
    )
    .map_err(SendError::Permanent)?;
    mailer.send(&row.id, message).await
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orakel".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(recipient: Option<&str>) -> OutboxMessage {
        let at = chrono::DateTime::UNIX_EPOCH.naive_utc();
        OutboxMessage {
            id: recipient.unwrap_or("-").to_string(),
            study_id: None,
            candidate_id: None,
            round_id: None,
            kind: crate::domain::states::MessageKind::Invitation,
            dedup_key: None,
            recipient: recipient.map(str::to_string),
            subject: String::new(),
            body_text: None,
            body_html: None,
            message_id: String::new(),
            headers: String::new(),
            state: crate::domain::states::MessageState::Queued,
            attempts: 0,
            next_attempt_at: at,
            claimed_by: None,
            claimed_until: None,
            last_error: None,
            created_at: at,
            sent_at: None,
            attachments: String::new(),
        }
    }

    #[test]
    fn one_recipients_messages_go_one_at_a_time_in_queue_order() {
        let waiting = [to(Some("a@x.dk")), to(Some("A@x.dk")), to(Some("b@x.dk"))];
        // Nothing on its way: the first in the queue.
        assert_eq!(next_to_send(&waiting, &[]), Some(0));
        // a's first message is on its way: its second waits, b's goes.
        assert_eq!(
            next_to_send(&waiting[1..], &[Some("a@x.dk".into())]),
            Some(1)
        );
        // Only a's second message waits while its first is sent: nothing.
        assert_eq!(next_to_send(&waiting[1..2], &[Some("a@x.dk".into())]), None);
        // Behind an earlier waiting message to the same person, even when it is not sending yet.
        let waiting = [to(Some("b@x.dk")), to(Some("a@x.dk")), to(Some("a@x.dk"))];
        assert_eq!(
            next_to_send(&waiting[1..], &[Some("b@x.dk".into())]),
            Some(0)
        );
        assert_eq!(
            next_to_send(&waiting, &[Some("b@x.dk".into())]).map(|i| waiting[i].id.as_str()),
            Some("a@x.dk")
        );
        // Messages without a recipient order nothing.
        let waiting = [to(None), to(None)];
        assert_eq!(next_to_send(&waiting, &[None]), Some(0));
    }
}
