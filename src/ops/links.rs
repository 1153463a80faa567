//! Personal links and the one rule for how long they work. Every message carries its own link,
//! and all of a person's links give the same access, so they all end at the same moment, worked
//! out from where the person stands:
//!
//! - invited (or not yet answered): [`INVITATION_LINK_DAYS`] after the latest invitation or
//!   reminder;
//! - declined: the study's grace period after they declined;
//! - on the panel: the grace period after the latest of their consent, the deadline of each round
//!   sent to them (or its close, when it closed early) and each interview appointment;
//! - withdrawn, or erased: never again (their links are revoked or deleted).
//!
//! The link in `List-Unsubscribe` is a link of its own that can only stop mail, and works for
//! [`UNSUBSCRIBE_LINK_DAYS`] after its message was written.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::AppResult;
use super::participation::Purpose;
use super::secret::{new_token, token_hash};
use crate::db::models::{Candidate, ParticipationToken};
use crate::db::schema::{
    appointments, candidates, outbox, participation_tokens, round_participations, rounds, studies,
};
use crate::db::{DbConn, new_id, now};
use crate::domain::candidate::Status;
use crate::domain::round::State;

/// How long an unanswered invitation stays open after it (or its latest reminder) was sent.
pub const INVITATION_LINK_DAYS: i64 = 60;
/// How long a one-purpose unsubscribe link works.
pub const UNSUBSCRIBE_LINK_DAYS: i64 = 365;

/// A new link for a candidate. A person's link takes the expiry the rule gives them; call
/// [`apply_rule`] once the change that sends it is written.
pub fn issue(conn: &mut DbConn, candidate_id: &str, purpose: Purpose) -> AppResult<String> {
    let raw = new_token();
    let expires_at = match purpose {
        Purpose::Access => Some(now()),
        Purpose::Unsubscribe => Some(now() + Duration::days(UNSUBSCRIBE_LINK_DAYS)),
    };
    diesel::insert_into(participation_tokens::table)
        .values(&ParticipationToken {
            id: new_id(),
            candidate_id: candidate_id.into(),
            token_hash: token_hash(&raw),
            created_at: now(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
            purpose,
        })
        .execute(conn)?;
    Ok(raw)
}

/// A person's link that works as the rule says from now on (for links handed out other than by
/// e-mail: the demo, the benchmark).
pub fn issue_access(conn: &mut DbConn, candidate_id: &str) -> AppResult<String> {
    let raw = issue(conn, candidate_id, Purpose::Access)?;
    apply_rule(conn, candidate_id)?;
    Ok(raw)
}

/// When a person's links stop working, by the rule above; `None` when they must not work.
pub fn access_until(conn: &mut DbConn, cand: &Candidate) -> AppResult<Option<NaiveDateTime>> {
    let grace_days: i32 = studies::table
        .find(&cand.study_id)
        .select(studies::link_grace_days)
        .first(conn)?;
    let grace = Duration::days(grace_days.max(0) as i64);
    let status = cand.status;
    Ok(match status {
        Status::Identified | Status::Withdrawn => None,
        Status::Invited | Status::NoReply => {
            let last_sent: Option<NaiveDateTime> = outbox::table
                .filter(outbox::candidate_id.eq(&cand.id))
                .filter(
                    outbox::kind
                        .eq_any([crate::mail::Kind::Invitation, crate::mail::Kind::Reminder]),
                )
                .select(diesel::dsl::max(outbox::created_at))
                .first(conn)?;
            let since = last_sent
                .or(cand.invited_at)
                .unwrap_or(cand.status_changed_at);
            Some(since + Duration::days(INVITATION_LINK_DAYS))
        }
        Status::Declined => Some(cand.status_changed_at + grace),
        Status::Accepted => {
            let mut until = cand.status_changed_at;
            if let Some(pid) = &cand.panellist_id {
                let sent: Vec<(State, Option<NaiveDateTime>, Option<NaiveDateTime>)> =
                    round_participations::table
                        .inner_join(rounds::table)
                        .filter(round_participations::panellist_id.eq(pid))
                        .filter(rounds::state.ne(State::Draft))
                        .select((rounds::state, rounds::closes_at, rounds::closed_at))
                        .load(conn)?;
                for (state, closes_at, closed_at) in sent {
                    let end = match (state, closes_at, closed_at) {
                        (State::Closed, Some(deadline), Some(closed)) => deadline.min(closed),
                        (State::Closed, None, Some(closed)) => closed,
                        (_, Some(deadline), _) => deadline,
                        _ => continue,
                    };
                    until = until.max(end);
                }
                let interviews: Option<NaiveDateTime> = appointments::table
                    .filter(appointments::panellist_id.eq(pid))
                    .filter(
                        appointments::state.ne(crate::domain::states::AppointmentState::Cancelled),
                    )
                    .select(diesel::dsl::max(appointments::starts_at))
                    .first(conn)?;
                if let Some(at) = interviews {
                    until = until.max(at);
                }
            }
            Some(until + grace)
        }
    })
}

/// Gives all of a candidate's personal links the end the rule gives them now (later or
/// earlier than before), or revokes them.
pub fn apply_rule(conn: &mut DbConn, candidate_id: &str) -> AppResult<()> {
    let cand: Candidate = candidates::table
        .find(candidate_id)
        .select(Candidate::as_select())
        .first(conn)?;
    let live = participation_tokens::table
        .filter(participation_tokens::candidate_id.eq(candidate_id))
        .filter(participation_tokens::purpose.eq(Purpose::Access.as_str()))
        .filter(participation_tokens::revoked_at.is_null());
    match access_until(conn, &cand)? {
        Some(until) => diesel::update(live)
            .set(participation_tokens::expires_at.eq(Some(until)))
            .execute(conn)?,
        None => diesel::update(live)
            .set(participation_tokens::revoked_at.eq(Some(now())))
            .execute(conn)?,
    };
    Ok(())
}

/// `apply_rule` for everyone a round was sent to (after it opened, moved or closed).
pub fn apply_rule_for_round(conn: &mut DbConn, round_id: &str) -> AppResult<()> {
    let people: Vec<String> = candidates::table
        .inner_join(
            round_participations::table.on(round_participations::panellist_id
                .nullable()
                .eq(candidates::panellist_id)),
        )
        .filter(round_participations::round_id.eq(round_id))
        .select(candidates::id)
        .load(conn)?;
    for id in people {
        apply_rule(conn, &id)?;
    }
    Ok(())
}
