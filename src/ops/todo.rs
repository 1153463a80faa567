//! What is waiting for a study's researchers now, the list the study's overview leads with: per
//! open round who has not answered and the reminders planned and sent; referred candidates not
//! yet invited; comments not yet cleared for the report; invitations still unanswered after
//! their last reminder; and what is missing before e-mails go out (a contact person, the
//! funder's name, a real sender address). And the one action the list offers of its own: a
//! reminder sent now to a round's non-responders, all or chosen.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::outbox::{MailEnv, enqueue_to_candidate};
use super::recruitment::{lacks_strata, strata_of, strata_values};
use super::rounds::{facts, outstanding};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{Candidate, Round, RoundParticipation, Study};
use crate::db::schema::{
    answers, audit_log, candidates, outbox, panellists, round_participations, rounds,
};
use crate::db::{self, DbConn, now, utc};
use crate::domain::Invalid;
use crate::domain::candidate::{REFERRAL_SOURCE, Status};
use crate::domain::round::State;
use crate::mail;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Todo {
    /// Each open round with who has not answered it yet.
    pub rounds: Vec<RoundTodo>,
    /// Candidates an expert referred, not yet invited.
    pub referrals: Vec<Person>,
    /// Rounds with comments not yet cleared for the report.
    pub comments: Vec<CommentsWaiting>,
    /// Open rounds with discussion posts waiting for a researcher's approval.
    pub posts: Vec<CommentsWaiting>,
    /// Invited candidates who have had every reminder and not answered.
    pub unanswered: Vec<Person>,
    /// Candidates still in play (not yet invited, invited or on the panel) without a value for
    /// one of the study's attributes, such as an expert's referral: the composition counts them
    /// as unknown until a researcher fills the values in.
    pub without_strata: Vec<Person>,
    /// What is missing before e-mails go out.
    pub warnings: Vec<Warning>,
}

impl Todo {
    /// Nothing waits: the list says so instead of showing empty headings.
    pub fn is_empty(&self) -> bool {
        self.rounds.iter().all(|r| r.waiting.is_empty())
            && self.referrals.is_empty()
            && self.comments.is_empty()
            && self.posts.is_empty()
            && self.unanswered.is_empty()
            && self.without_strata.is_empty()
            && self.warnings.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Person {
    pub candidate_id: String,
    pub name: String,
    /// When they were invited (unanswered invitations).
    pub invited_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundTodo {
    pub round_id: String,
    pub number: i32,
    pub closes_at: Option<DateTime<Utc>>,
    /// Panellists in the round.
    pub panel: usize,
    /// Panellists who have submitted.
    pub submitted: usize,
    /// Panellists who have not submitted, by pseudonym.
    pub waiting: Vec<Waiting>,
    /// The reminders the round's schedule plans, each with whether its day has come.
    pub schedule: Vec<PlannedReminder>,
    /// Reminders researchers sent by hand.
    pub sent_now: Vec<SentNow>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    pub candidate_id: String,
    pub pseudonym: String,
    pub name: String,
    /// Has opened the round's page.
    pub opened: bool,
    /// Has no address to write to, or asked for no more e-mail.
    pub unreachable: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedReminder {
    /// Days before the deadline.
    pub days_before: i32,
    pub at: DateTime<Utc>,
    /// E-mails this reminder queued (0 before its day).
    pub sent: i64,
    pub due: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SentNow {
    pub at: DateTime<Utc>,
    pub queued: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentsWaiting {
    pub round_id: String,
    pub number: i32,
    pub waiting: i64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// The study names no contact person: letters and pages have nobody to point to.
    NoContact,
    /// The study names no funder.
    NoFunder,
    /// E-mails go out from the default `orakel@localhost`, which recipients' servers refuse.
    LocalSender,
}

impl Warning {
    pub fn key(self) -> &'static str {
        match self {
            Warning::NoContact => "no_contact",
            Warning::NoFunder => "no_funder",
            Warning::LocalSender => "local_sender",
        }
    }
}

/// What is missing from `study` before e-mails go out from `sender`.
pub fn warnings(study: &Study, sender: &str) -> Vec<Warning> {
    let mut w = Vec::new();
    if study.contact.trim().is_empty() {
        w.push(Warning::NoContact);
    }
    if study.funder.trim().is_empty() {
        w.push(Warning::NoFunder);
    }
    if sender.to_ascii_lowercase().contains("@localhost") {
        w.push(Warning::LocalSender);
    }
    w
}

/// What is missing from a study before e-mails go out from `sender`, for a confirmation to say.
pub fn sending_warnings(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    sender: &str,
) -> AppResult<Vec<Warning>> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    Ok(warnings(&study, sender))
}

/// The study's to-do list. Non-responders are named, so reading it is logged as round progress is.
pub fn todo(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    sender: &str,
) -> AppResult<Todo> {
    let (study, _) = access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let all_rounds: Vec<Round> = rounds::table
        .filter(rounds::study_id.eq(study_id))
        .order(rounds::number.asc())
        .select(Round::as_select())
        .load(conn)?;
    let mut open = Vec::new();
    for r in all_rounds.iter().filter(|r| r.state == State::Open) {
        open.push(round_todo(conn, r)?);
    }
    let mut comments = Vec::new();
    for r in all_rounds.iter().filter(|r| r.state != State::Draft) {
        let waiting: i64 = answers::table
            .filter(answers::round_id.eq(&r.id))
            .filter(answers::comment_cleared_at.is_null())
            .filter(answers::comment.is_not_null())
            .count()
            .get_result(conn)?;
        if waiting > 0 {
            comments.push(CommentsWaiting {
                round_id: r.id.clone(),
                number: r.number,
                waiting,
            });
        }
    }
    let posts = super::discussion::waiting(conn, study_id)?
        .into_iter()
        .map(|(round_id, number, waiting)| CommentsWaiting {
            round_id,
            number,
            waiting,
        })
        .collect();
    let people: Vec<Candidate> = candidates::table
        .filter(candidates::study_id.eq(study_id))
        .filter(candidates::status.eq_any([Status::Identified, Status::Invited, Status::Accepted]))
        .filter(candidates::erased_at.is_null())
        .order(candidates::name.asc())
        .select(Candidate::as_select())
        .load(conn)?;
    let reminders = study.settings()?.reminder_days.len() as i32;
    let person = |c: &Candidate| Person {
        candidate_id: c.id.clone(),
        name: c.name.clone(),
        invited_at: c.invited_at.map(utc),
    };
    let referrals = people
        .iter()
        .filter(|c| c.status == Status::Identified && c.source == REFERRAL_SOURCE)
        .map(person)
        .collect();
    let unanswered = people
        .iter()
        // With no reminders planned, the worker's "no reply" ends the wait instead.
        .filter(|c| reminders > 0 && c.status == Status::Invited && c.reminders_sent >= reminders)
        .map(person)
        .collect();
    let strata = strata_of(conn, study_id)?;
    let mut without_strata = Vec::new();
    for c in &people {
        if lacks_strata(&strata, c.status, &strata_values(c)?) {
            without_strata.push(person(c));
        }
    }
    let todo = Todo {
        rounds: open,
        referrals,
        comments,
        posts,
        unanswered,
        without_strata,
        warnings: warnings(&study, sender),
    };
    if todo.rounds.iter().any(|r| !r.waiting.is_empty()) {
        audit::record(
            conn,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::IdentitiesViewed,
            Some(study_id),
            serde_json::json!({ "what": "to-do list" }),
        )?;
    }
    Ok(todo)
}

fn round_todo(conn: &mut DbConn, r: &Round) -> AppResult<RoundTodo> {
    super::records::settle(conn);
    let parts: Vec<RoundParticipation> = round_participations::table
        .filter(round_participations::round_id.eq(&r.id))
        .select(RoundParticipation::as_select())
        .load(conn)?;
    let waiting_people = outstanding(conn, r)?;
    let pseudonyms: std::collections::HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(&r.study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut waiting: Vec<Waiting> = waiting_people
        .iter()
        .map(|c| {
            let pid = c.panellist_id.clone().unwrap_or_default();
            Waiting {
                candidate_id: c.id.clone(),
                pseudonym: pseudonyms.get(&pid).cloned().unwrap_or_default(),
                name: c.name.clone(),
                opened: parts
                    .iter()
                    .any(|p| p.panellist_id == pid && p.first_opened_at.is_some()),
                unreachable: c.email.is_none() || c.mail_opt_out_at.is_some(),
            }
        })
        .collect();
    waiting.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
    let panel = super::rounds::panel(conn, &r.study_id)?.len();
    let mut schedule = Vec::new();
    if let Some(deadline) = r.closes_at {
        let mut days = super::rounds::flags_of(r).reminder_days;
        days.sort_unstable_by(|a, b| b.cmp(a));
        for (i, d) in days.iter().enumerate() {
            let at = deadline - Duration::days(i64::from(*d));
            // The worker's key for the i-th reminder of this round (see run_round_schedule).
            let pattern = format!("round:{}:%:reminder:{}:%", r.id, i + 1);
            let sent: i64 = outbox::table
                .filter(outbox::round_id.eq(&r.id))
                .filter(outbox::dedup_key.like(pattern))
                .count()
                .get_result(conn)?;
            schedule.push(PlannedReminder {
                days_before: *d,
                at: utc(at),
                sent,
                // Its day has come (or the worker, whose clock counts, has sent it).
                due: now() >= at || sent > 0,
            });
        }
    }
    let sent_now = audit_log::table
        .filter(audit_log::target.eq(&r.id))
        .filter(audit_log::action.eq(audit::Action::RoundReminded.as_str()))
        .order(audit_log::at.asc())
        .select((audit_log::at, audit_log::details))
        .load::<(chrono::NaiveDateTime, String)>(conn)?
        .into_iter()
        .map(|(at, details)| SentNow {
            at: utc(at),
            queued: serde_json::from_str::<serde_json::Value>(&details)
                .ok()
                .and_then(|d| d["queued"].as_i64())
                .unwrap_or(0),
        })
        .collect();
    Ok(RoundTodo {
        round_id: r.id.clone(),
        number: r.number,
        closes_at: r.closes_at.map(utc),
        panel,
        submitted: panel.saturating_sub(waiting.len()),
        waiting,
        schedule,
        sent_now,
    })
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct RemindInput {
    /// Candidates to remind; all who have not submitted when absent.
    pub candidate_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reminded {
    /// Reminder e-mails queued by this call.
    pub queued: usize,
    /// Chosen candidates not reminded: they have submitted, are not in the panel, have no
    /// address or asked for no e-mail, or were reminded by hand within the hour.
    pub skipped: Vec<String>,
}

/// Sends a reminder now to an open round's panellists who have not submitted: all of them, or
/// the chosen. One reminder by hand per person per hour, so a double click sends one.
pub fn remind_now(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    round_id: &str,
    input: RemindInput,
) -> AppResult<Reminded> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    if r.state != State::Open {
        return Err(AppError::Conflict(format!(
            "round {} is not open: only an open round's panel can be reminded",
            r.number
        )));
    }
    if input.candidate_ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(Invalid::one("candidate_ids", "choose at least one panellist").into());
    }
    let waiting = outstanding(conn, &r)?;
    let (chosen, skipped): (Vec<&Candidate>, Vec<String>) = match &input.candidate_ids {
        None => (waiting.iter().collect(), Vec::new()),
        Some(ids) => {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            let chosen = waiting.iter().filter(|c| ids.contains(&c.id)).collect();
            let skipped = ids
                .into_iter()
                .filter(|id| !waiting.iter().any(|c| &c.id == id))
                .collect();
            (chosen, skipped)
        }
    };
    let hour = Utc::now().timestamp() / 3600;
    db::write(conn, |c| {
        let mut queued = 0;
        let mut unsent = Vec::new();
        for cand in &chosen {
            let key = format!("round:{}:{}:manual:{hour}", r.id, cand.id);
            if enqueue_to_candidate(
                c,
                env,
                &study,
                cand,
                mail::Kind::RoundReminder,
                &facts(&r),
                Some(key),
            )? {
                queued += 1;
            } else {
                unsent.push(cand.id.clone());
            }
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::RoundReminded,
            Some(&r.id),
            serde_json::json!({ "number": r.number, "queued": queued }),
        )?;
        let mut skipped = skipped.clone();
        skipped.extend(unsent);
        Ok::<_, AppError>(Reminded { queued, skipped })
    })
}

/// An open round's study, number and how many of its panellists a reminder to all would reach
/// (not submitted, with an address, not opted out): the numbers a confirmation says.
pub fn reachable(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    round_id: &str,
) -> AppResult<(String, i32, usize)> {
    let (r, study) = access::in_study::<Round>(conn, researcher_id, round_id, Role::Researcher)?;
    let n = outstanding(conn, &r)?
        .iter()
        .filter(|c| c.email.is_some() && c.mail_opt_out_at.is_none())
        .count();
    Ok((study.id, r.number, n))
}
