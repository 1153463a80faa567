//! What an expert does through their personal link: read about the study, consent or decline
//! (and suggest someone else), stop further mail, withdraw. The link's token is their only
//! credential; an unknown, expired or revoked token is simply "not found".

use diesel::prelude::*;
use serde::Deserialize;

use super::letters::current_consent_text;
use super::outbox::{MailEnv, RoundFacts, enqueue_to_candidate};
use super::recruitment::{assign_pseudonym, mark_panellist_withdrawn, status_of, transition};
use super::secret::{looks_like_token, token_hash};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{Candidate, Consent, ConsentText, Study};
use crate::db::schema::{candidates, consents, participation_tokens, studies};
use crate::db::{self, DbConn, new_id, now};
use crate::domain::candidate::{CandidateInput, Status};
use crate::domain::{Invalid, text};
use crate::mail::Kind;

/// The person behind a live personal link, with their study.
#[derive(Debug, Clone)]
pub struct Participant {
    pub candidate: Candidate,
    pub study: Study,
}

impl Participant {
    pub fn status(&self) -> Status {
        status_of(&self.candidate)
    }

    fn actor(&self) -> Actor {
        Actor::Participant {
            candidate_id: self.candidate.id.clone(),
        }
    }
}

pub use crate::domain::states::Purpose;

/// Resolves a person's link. Unknown, expired, revoked, erased, or a link for another purpose:
/// all the same `None`, by one query.
pub fn resolve(conn: &mut DbConn, token: &str) -> AppResult<Option<Participant>> {
    resolve_for(conn, token, Purpose::Access)
}

/// Resolves a link used for `purpose`: any live link may unsubscribe, only a person's link
/// gives access.
pub fn resolve_for(
    conn: &mut DbConn,
    token: &str,
    purpose: Purpose,
) -> AppResult<Option<Participant>> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    let t = now();
    // Two purposes always (the same one twice for access), not `eq_any` of a list: the query's
    // text then never changes and SQLite prepares it once per connection, not per request (it
    // joins three tables, and preparing it took a third of an expert's request).
    let (one, other) = match purpose {
        Purpose::Access => (Purpose::Access, Purpose::Access),
        Purpose::Unsubscribe => (Purpose::Access, Purpose::Unsubscribe),
    };
    let found: Option<(String, Option<chrono::NaiveDateTime>, Candidate, Study)> =
        participation_tokens::table
            .inner_join(candidates::table.inner_join(studies::table))
            .filter(participation_tokens::token_hash.eq(token_hash(token)))
            .filter(
                participation_tokens::purpose
                    .eq(one)
                    .or(participation_tokens::purpose.eq(other)),
            )
            .filter(participation_tokens::revoked_at.is_null())
            .filter(
                participation_tokens::expires_at
                    .is_null()
                    .or(participation_tokens::expires_at.gt(t)),
            )
            .filter(candidates::erased_at.is_null())
            .select((
                participation_tokens::id,
                participation_tokens::last_used_at,
                Candidate::as_select(),
                Study::as_select(),
            ))
            .first(conn)
            .optional()?;
    let Some((token_id, last_used, candidate, study)) = found else {
        return Ok(None);
    };
    if last_used.is_none_or(|l| t - l > chrono::Duration::minutes(10)) {
        super::records::keep(conn, super::records::Record::LinkUsed { token_id, at: t })?;
    }
    Ok(Some(Participant { candidate, study }))
}

/// The study of a person's link that no longer works because it expired or was revoked (not
/// one that never existed, nor a person erased): so the page can say whom to write to. It
/// tells the holder of the old link nothing the link's e-mail did not.
pub fn lapsed_link_study(conn: &mut DbConn, token: &str) -> AppResult<Option<Study>> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    Ok(participation_tokens::table
        .inner_join(candidates::table.inner_join(studies::table))
        .filter(participation_tokens::token_hash.eq(token_hash(token)))
        .filter(participation_tokens::purpose.eq(Purpose::Access))
        .filter(candidates::erased_at.is_null())
        .select(Study::as_select())
        .first(conn)
        .optional()?)
}

fn resolve_or_404(conn: &mut DbConn, token: &str) -> AppResult<Participant> {
    resolve(conn, token)?.ok_or(AppError::NotFound)
}

/// The consent text to show, and the one the expert accepted (if they did).
pub fn consent_texts(
    conn: &mut DbConn,
    p: &Participant,
) -> AppResult<(ConsentText, Option<(ConsentText, chrono::NaiveDateTime)>)> {
    let current = db::write(conn, |c| current_consent_text(c, &p.study))?;
    let accepted: Option<(Consent, ConsentText)> = consents::table
        .inner_join(crate::db::schema::consent_texts::table)
        .filter(consents::candidate_id.eq(&p.candidate.id))
        .filter(consents::decision.eq(crate::domain::states::Decision::Accepted))
        .order(consents::at.desc())
        .select((Consent::as_select(), ConsentText::as_select()))
        .first(conn)
        .optional()?;
    Ok((current, accepted.map(|(c, t)| (t, c.at))))
}

/// Someone the expert suggests in their place.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub organisation: String,
}

impl Referral {
    fn is_empty(&self) -> bool {
        self.name.trim().is_empty()
            && self.email.trim().is_empty()
            && self.organisation.trim().is_empty()
    }
}

/// The answer to an invitation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentAnswer {
    pub accept: bool,
    /// Why they decline (optional).
    #[serde(default)]
    pub reason: Option<String>,
    /// Someone to ask instead (optional; only with `accept: false`).
    #[serde(default)]
    pub referral: Option<Referral>,
    /// Why, in one of a few words the funder may see as counts (optional; `other` by default).
    #[serde(default)]
    pub reason_category: Option<crate::domain::candidate::DeclineCategory>,
}

/// Records consent or a decline. Accepting twice changes nothing; so does declining twice.
pub fn answer(
    conn: &mut DbConn,
    env: &MailEnv,
    token: &str,
    answer: ConsentAnswer,
) -> AppResult<Status> {
    let reason = match &answer.reason {
        Some(r) => text::block("reason", r, 1000)?,
        None => String::new(),
    };
    let referral = answer.referral.clone().filter(|r| !r.is_empty());
    if answer.accept
        && (referral.is_some() || !reason.is_empty() || answer.reason_category.is_some())
    {
        return Err(Invalid::one("accept", "a reason or a referral goes with a decline").into());
    }
    // Checked before the transaction, so a bad referral changes nothing at all.
    let referral = match referral {
        Some(r) => Some(
            CandidateInput {
                name: r.name,
                email: r.email,
                organisation: r.organisation,
                ..Default::default()
            }
            .validate(&[], "referral.")?,
        ),
        None => None,
    };
    // A concurrent acceptance in the same study may take the same random pseudonym; the unique
    // constraint refuses one of them, which then simply tries again.
    super::retrying(|| {
        db::write(conn, |c| {
            let p = resolve_or_404(c, token)?;
            let status = p.status();
            let actor = p.actor();
            if answer.accept {
                match status {
                    Status::Accepted => return Ok(Status::Accepted),
                    Status::Invited | Status::NoReply => {}
                    other => {
                        return Err(AppError::Conflict(format!(
                            "you are {} in this study; please contact the researchers to join",
                            other.as_str()
                        )));
                    }
                }
                let text = current_consent_text(c, &p.study)?;
                transition(c, &p.candidate, Status::Accepted, None, "participant")?;
                assign_pseudonym(c, &p.candidate)?;
                diesel::insert_into(consents::table)
                    .values(&Consent {
                        id: new_id(),
                        candidate_id: p.candidate.id.clone(),
                        consent_text_id: Some(text.id.clone()),
                        decision: crate::domain::states::Decision::Accepted,
                        reason: None,
                        at: now(),
                    })
                    .execute(c)?;
                audit::record(
                    c,
                    &actor,
                    Some(&p.study.id),
                    audit::Action::ConsentGiven,
                    Some(&p.candidate.id),
                    serde_json::json!({ "consent_version": text.version }),
                )?;
                enqueue_to_candidate(
                    c,
                    env,
                    &p.study,
                    &p.candidate,
                    Kind::Confirmation,
                    &RoundFacts::default(),
                    Some(format!("confirmation:{}", p.candidate.id)),
                )?;
                Ok(Status::Accepted)
            } else {
                match status {
                    Status::Declined => return Ok(Status::Declined),
                    Status::Invited | Status::NoReply => {}
                    other => {
                        return Err(AppError::Conflict(format!(
                            "you are {} in this study and cannot decline the invitation now",
                            other.as_str()
                        )));
                    }
                }
                let reason = (!reason.is_empty()).then_some(reason.as_str());
                transition(c, &p.candidate, Status::Declined, reason, "participant")?;
                let category = answer
                    .reason_category
                    .unwrap_or(crate::domain::candidate::DeclineCategory::Other);
                diesel::update(candidates::table.find(&p.candidate.id))
                    .set(candidates::decline_category.eq(category))
                    .execute(c)?;
                diesel::insert_into(consents::table)
                    .values(&Consent {
                        id: new_id(),
                        candidate_id: p.candidate.id.clone(),
                        consent_text_id: None,
                        decision: crate::domain::states::Decision::Declined,
                        reason: reason.map(str::to_string),
                        at: now(),
                    })
                    .execute(c)?;
                if let Some(data) = &referral {
                    add_referral(c, &p, data)?;
                }
                super::links::apply_rule(c, &p.candidate.id)?;
                audit::record(
                    c,
                    &actor,
                    Some(&p.study.id),
                    audit::Action::ConsentDeclined,
                    Some(&p.candidate.id),
                    serde_json::json!({ "referral": referral.is_some() }),
                )?;
                Ok(Status::Declined)
            }
        })
    })
}

/// A suggested person becomes a new lead for the researchers (not invited automatically). One
/// who is already a candidate is left as they are.
fn add_referral(
    conn: &mut DbConn,
    p: &Participant,
    data: &crate::domain::candidate::CandidateData,
) -> AppResult<()> {
    if super::recruitment::email_taken(conn, &p.study.id, &data.email, None)? {
        return Ok(());
    }
    let t = now();
    let cand = Candidate {
        id: new_id(),
        study_id: p.study.id.clone(),
        name: data.name.clone(),
        email: Some(data.email.clone()),
        organisation: data.organisation.clone(),
        strata: "{}".into(),
        source: crate::domain::candidate::REFERRAL_SOURCE.into(),
        referred_by: Some(p.candidate.id.clone()),
        status: Status::Identified,
        status_reason: None,
        status_changed_at: t,
        panellist_id: None,
        invited_at: None,
        reminders_sent: 0,
        mail_failure: None,
        mail_opt_out_at: None,
        notes: String::new(),
        created_by: None,
        created_at: t,
        updated_at: t,
        erased_at: None,
        decline_category: None,
    };
    diesel::insert_into(candidates::table)
        .values(&cand)
        .execute(conn)?;
    diesel::insert_into(crate::db::schema::candidate_events::table)
        .values(&crate::db::models::CandidateEvent {
            id: new_id(),
            candidate_id: cand.id.clone(),
            from_status: None,
            to_status: Status::Identified,
            reason: Some("referred by another candidate".into()),
            actor: "participant".into(),
            at: t,
        })
        .execute(conn)?;
    Ok(())
}

/// The expert leaves the panel. Their answers stay, under the pseudonym.
pub fn withdraw(conn: &mut DbConn, token: &str, reason: &str) -> AppResult<Status> {
    let reason = text::block("reason", reason, 1000)?;
    db::write(conn, |c| {
        let p = resolve_or_404(c, token)?;
        match p.status() {
            Status::Withdrawn => return Ok(Status::Withdrawn),
            Status::Accepted | Status::Invited | Status::NoReply => {}
            other => {
                return Err(AppError::Conflict(format!(
                    "you are {} and cannot withdraw",
                    other.as_str()
                )));
            }
        }
        let r = (!reason.is_empty()).then_some(reason.as_str());
        transition(c, &p.candidate, Status::Withdrawn, r, "participant")?;
        mark_panellist_withdrawn(c, &p.candidate)?;
        audit::record(
            c,
            &p.actor(),
            Some(&p.study.id),
            audit::Action::ParticipantWithdrew,
            Some(&p.candidate.id),
            serde_json::json!({}),
        )?;
        Ok(Status::Withdrawn)
    })
}

/// No further e-mail. An open invitation counts as declined.
pub fn unsubscribe(conn: &mut DbConn, token: &str) -> AppResult<()> {
    db::write(conn, |c| {
        let p = resolve_for(c, token, Purpose::Unsubscribe)?.ok_or(AppError::NotFound)?;
        if p.candidate.mail_opt_out_at.is_none() {
            diesel::update(candidates::table.find(&p.candidate.id))
                .set(candidates::mail_opt_out_at.eq(now()))
                .execute(c)?;
            if matches!(p.status(), Status::Invited | Status::NoReply) {
                transition(
                    c,
                    &p.candidate,
                    Status::Declined,
                    Some("asked for no further e-mail"),
                    "participant",
                )?;
                super::links::apply_rule(c, &p.candidate.id)?;
            }
            // Messages not yet sent are not sent.
            diesel::update(
                crate::db::schema::outbox::table
                    .filter(crate::db::schema::outbox::candidate_id.eq(&p.candidate.id))
                    .filter(
                        crate::db::schema::outbox::state
                            .eq(crate::domain::states::MessageState::Queued),
                    ),
            )
            .set((
                crate::db::schema::outbox::state.eq(crate::domain::states::MessageState::Failed),
                crate::db::schema::outbox::last_error
                    .eq("the recipient asked for no further e-mail"),
                crate::db::schema::outbox::body_text.eq(None::<String>),
                crate::db::schema::outbox::body_html.eq(None::<String>),
                crate::db::schema::outbox::headers.eq("{}"),
            ))
            .execute(c)?;
            audit::record(
                c,
                &p.actor(),
                Some(&p.study.id),
                audit::Action::ParticipantUnsubscribed,
                Some(&p.candidate.id),
                serde_json::json!({}),
            )?;
        }
        Ok::<_, AppError>(())
    })
}
