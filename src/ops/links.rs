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

use std::collections::{BTreeMap, HashMap};

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
    let (raw, row) = new_link(candidate_id, purpose);
    diesel::insert_into(participation_tokens::table)
        .values(&row)
        .execute(conn)?;
    Ok(raw)
}

/// A link not yet stored: the token to hand out, and the row that keeps only its hash.
pub fn new_link(candidate_id: &str, purpose: Purpose) -> (String, ParticipationToken) {
    let raw = new_token();
    let expires_at = match purpose {
        Purpose::Access => Some(now()),
        Purpose::Unsubscribe => Some(now() + Duration::days(UNSUBSCRIBE_LINK_DAYS)),
    };
    let row = ParticipationToken {
        id: new_id(),
        candidate_id: candidate_id.into(),
        token_hash: token_hash(&raw),
        created_at: now(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
        purpose,
    };
    (raw, row)
}

/// A person's link that works as the rule says from now on (for links handed out other than by
/// e-mail: the demo, the benchmark).
pub fn issue_access(conn: &mut DbConn, candidate_id: &str) -> AppResult<String> {
    let raw = issue(conn, candidate_id, Purpose::Access)?;
    apply_rule(conn, candidate_id)?;
    Ok(raw)
}

/// How many people one statement of [`apply_rule_to`] reads or updates.
const CHUNK: usize = 500;

/// When each person's links stop working, by the rule above; `None` when they must not work.
/// A few statements for any number of people (a round's opening applies it to its whole panel).
fn ends(conn: &mut DbConn, cands: &[Candidate]) -> AppResult<Vec<Option<NaiveDateTime>>> {
    let mut study_ids: Vec<&str> = cands.iter().map(|c| c.study_id.as_str()).collect();
    study_ids.sort_unstable();
    study_ids.dedup();
    let grace: HashMap<String, Duration> = studies::table
        .filter(studies::id.eq_any(&study_ids))
        .select((studies::id, studies::link_grace_days))
        .load::<(String, i32)>(conn)?
        .into_iter()
        .map(|(id, days)| (id, Duration::days(days.max(0) as i64)))
        .collect();
    let invited: Vec<&str> = cands
        .iter()
        .filter(|c| matches!(c.status, Status::Invited | Status::NoReply))
        .map(|c| c.id.as_str())
        .collect();
    let last_sent: HashMap<String, NaiveDateTime> = if invited.is_empty() {
        HashMap::new()
    } else {
        outbox::table
            .filter(outbox::candidate_id.eq_any(&invited))
            .filter(
                outbox::kind.eq_any([crate::mail::Kind::Invitation, crate::mail::Kind::Reminder]),
            )
            .group_by(outbox::candidate_id)
            .select((outbox::candidate_id, diesel::dsl::max(outbox::created_at)))
            .load::<(Option<String>, Option<NaiveDateTime>)>(conn)?
            .into_iter()
            .filter_map(|(id, at)| Some((id?, at?)))
            .collect()
    };
    let panellists: Vec<&str> = cands
        .iter()
        .filter(|c| c.status == Status::Accepted)
        .filter_map(|c| c.panellist_id.as_deref())
        .collect();
    // The end of each round sent to a panellist, and their latest interview.
    let mut latest: HashMap<String, NaiveDateTime> = HashMap::new();
    if !panellists.is_empty() {
        let sent: Vec<(String, State, Option<NaiveDateTime>, Option<NaiveDateTime>)> =
            round_participations::table
                .inner_join(rounds::table)
                .filter(round_participations::panellist_id.eq_any(&panellists))
                .filter(rounds::state.ne(State::Draft))
                .select((
                    round_participations::panellist_id,
                    rounds::state,
                    rounds::closes_at,
                    rounds::closed_at,
                ))
                .load(conn)?;
        let interviews: Vec<(String, Option<NaiveDateTime>)> = appointments::table
            .filter(appointments::panellist_id.eq_any(&panellists))
            .filter(appointments::state.ne(crate::domain::states::AppointmentState::Cancelled))
            .group_by(appointments::panellist_id)
            .select((
                appointments::panellist_id,
                diesel::dsl::max(appointments::starts_at),
            ))
            .load(conn)?;
        let ends = sent
            .into_iter()
            .filter_map(|(pid, state, closes_at, closed_at)| {
                let end = match (state, closes_at, closed_at) {
                    (State::Closed, Some(deadline), Some(closed)) => deadline.min(closed),
                    (State::Closed, None, Some(closed)) => closed,
                    (_, Some(deadline), _) => deadline,
                    _ => return None,
                };
                Some((pid, end))
            })
            .chain(
                interviews
                    .into_iter()
                    .filter_map(|(pid, at)| Some((pid, at?))),
            );
        for (pid, end) in ends {
            let e = latest.entry(pid).or_insert(end);
            *e = (*e).max(end);
        }
    }
    cands
        .iter()
        .map(|cand| {
            let grace = grace.get(&cand.study_id).copied().unwrap_or_default();
            Ok(match cand.status {
                Status::Identified | Status::Withdrawn => None,
                Status::Invited | Status::NoReply => {
                    let since = last_sent
                        .get(&cand.id)
                        .copied()
                        .or(cand.invited_at)
                        .unwrap_or(cand.status_changed_at);
                    Some(since + Duration::days(INVITATION_LINK_DAYS))
                }
                Status::Declined => Some(cand.status_changed_at + grace),
                Status::Accepted => {
                    let sent = cand.panellist_id.as_ref().and_then(|p| latest.get(p));
                    let until =
                        sent.map_or(cand.status_changed_at, |&s| s.max(cand.status_changed_at));
                    Some(until + grace)
                }
            })
        })
        .collect()
}

/// Gives all of a candidate's personal links the end the rule gives them now (later or
/// earlier than before), or revokes them.
pub fn apply_rule(conn: &mut DbConn, candidate_id: &str) -> AppResult<()> {
    apply_rule_to(conn, &[candidate_id])
}

/// [`apply_rule`] for many candidates at once, in a few statements per [`CHUNK`] of them.
pub fn apply_rule_to(conn: &mut DbConn, candidate_ids: &[&str]) -> AppResult<()> {
    for ids in candidate_ids.chunks(CHUNK) {
        let cands: Vec<Candidate> = candidates::table
            .filter(candidates::id.eq_any(ids))
            .select(Candidate::as_select())
            .load(conn)?;
        // People whose links end at the same moment are updated together: after a round's
        // opening that is nearly everyone.
        let mut by_end: BTreeMap<Option<NaiveDateTime>, Vec<&str>> = BTreeMap::new();
        for (cand, end) in cands.iter().zip(ends(conn, &cands)?) {
            by_end.entry(end).or_default().push(cand.id.as_str());
        }
        for (end, ids) in by_end {
            let live = participation_tokens::table
                .filter(participation_tokens::candidate_id.eq_any(ids))
                .filter(participation_tokens::purpose.eq(Purpose::Access.as_str()))
                .filter(participation_tokens::revoked_at.is_null());
            match end {
                Some(until) => diesel::update(live)
                    .set(participation_tokens::expires_at.eq(Some(until)))
                    .execute(conn)?,
                None => diesel::update(live)
                    .set(participation_tokens::revoked_at.eq(Some(now())))
                    .execute(conn)?,
            };
        }
    }
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
    let ids: Vec<&str> = people.iter().map(String::as_str).collect();
    apply_rule_to(conn, &ids)
}
