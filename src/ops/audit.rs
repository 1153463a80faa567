//! The audit log: an append-only record of who looked at or changed what. Entries name people
//! by id only, so erasing an identity leaves the log intact and anonymous.

use diesel::prelude::*;

use super::paging::Paging;
use super::{Actor, AppResult};
use crate::db::models::AuditEntry;
use crate::db::schema::audit_log;
use crate::db::{DbConn, new_id, now};
use crate::domain::Invalid;

/// Declares [`Action`] with the name each action is stored under.
macro_rules! actions {
    ($($variant:ident = $name:literal,)*) => {
        /// Everything the audit log records. The stored names stay as they are: archives and
        /// older logs carry them, and the audit page shows them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    ApiTokenCreated = "api_token.created",
    ApiTokenRevoked = "api_token.revoked",
    AppointmentSent = "appointment.sent",
    CandidateAdded = "candidate.added",
    CandidateUpdated = "candidate.updated",
    CandidateWithdrawn = "candidate.withdrawn",
    CandidatesImported = "candidates.imported",
    CandidatesInvited = "candidates.invited",
    CategoryCreated = "category.created",
    CommentCleared = "comment.cleared",
    CommentUncleared = "comment.uncleared",
    ConsensusLocked = "consensus.locked",
    ConsentDeclined = "consent.declined",
    ConsentGiven = "consent.given",
    ConsentTextChanged = "consent_text.changed",
    FunderReportViewed = "report.viewed_by_funder_account",
    FunderShared = "funder.shared",
    FunderWithdrawn = "funder.withdrawn",
    GuideSet = "guide.set",
    IdentitiesViewed = "identities.viewed",
    IdentityViewed = "identity.viewed",
    LetterChanged = "letter.changed",
    ParticipantUnsubscribed = "participant.unsubscribed",
    ParticipantWithdrew = "participant.withdrew",
    PersonErased = "person.erased",
    PersonExported = "person.exported",
    PostApproved = "post.approved",
    PostCleared = "post.cleared",
    PostHidden = "post.hidden",
    PostUncleared = "post.uncleared",
    ProtocolAmended = "protocol.amended",
    ProtocolRegistered = "protocol.registered",
    QdcImported = "qdc.imported",
    QdpxExported = "qdpx.exported",
    QdpxImported = "qdpx.imported",
    ReportViewed = "report.viewed",
    ReportLinkCreated = "report_link.created",
    ReportLinkRevoked = "report_link.revoked",
    ResearcherCreated = "researcher.created",
    RoundClosed = "round.closed",
    RoundCreated = "round.created",
    RoundExtended = "round.extended",
    RoundMinorityStatement = "round.minority_statement",
    RoundOpened = "round.opened",
    RoundReminded = "round.reminded",
    SmallCellHidden = "small_cell.hidden",
    SmallCellReleased = "small_cell.released",
    StrataSet = "strata.set",
    StudyConsensusChanged = "study.consensus_changed",
    StudyCreated = "study.created",
    StudyExported = "study.exported",
    StudyGroupsChanged = "study.groups_changed",
    StudyImported = "study.imported",
    StudyMemberRemoved = "study.member_removed",
    StudyMemberSet = "study.member_set",
    StudyRetentionChanged = "study.retention_changed",
    StudyUpdated = "study.updated",
    ThemeCreated = "theme.created",
    TranscriptAdded = "transcript.added",
    TranscriptRemoved = "transcript.removed",
    TranscriptViewed = "transcript.viewed",
    TranscriptsDeleted = "transcripts.deleted",
}

pub fn record(
    conn: &mut DbConn,
    actor: &Actor,
    study_id: Option<&str>,
    action: Action,
    target: Option<&str>,
    details: serde_json::Value,
) -> AppResult<()> {
    let entry = AuditEntry {
        id: new_id(),
        at: now(),
        actor_kind: actor.kind().into(),
        actor_id: actor.id().map(str::to_string),
        study_id: study_id.map(str::to_string),
        action: action.as_str().into(),
        target: target.map(str::to_string),
        details: details.to_string(),
    };
    diesel::insert_into(audit_log::table)
        .values(&entry)
        .execute(conn)?;
    Ok(())
}

/// Which entries of a study's audit log a list shows: an action, a kind of actor, a page.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub action: Option<Action>,
    /// `researcher`, `participant`, `funder`, `funder_account` or `system`.
    pub actor_kind: Option<&'static str>,
    pub paging: Paging,
}

/// The kinds of actor the log names.
pub const ACTOR_KINDS: [&str; 5] = [
    Actor::RESEARCHER,
    "participant",
    "funder",
    Actor::FUNDER_ACCOUNT,
    "system",
];

impl AuditQuery {
    /// The first page of `limit` entries, where a caller may ask for up to 10,000 (a whole log
    /// to keep).
    pub fn first(limit: usize) -> Self {
        AuditQuery {
            action: None,
            actor_kind: None,
            paging: Paging::first(limit, 10_000),
        }
    }

    /// Reads `action`, `actor`, `limit` and `offset`; pages hold `limit` unless asked.
    pub fn parse(pairs: &[(String, String)], limit: usize) -> Result<Self, Invalid> {
        let mut e = Invalid::new();
        let mut q = AuditQuery::first(limit);
        for (k, v) in super::paging::read(pairs, &mut q.paging, &mut e) {
            match k {
                "action" => match Action::ALL.iter().find(|a| a.as_str() == v) {
                    Some(a) => q.action = Some(*a),
                    None => e.add("action", "is not an action the log records"),
                },
                "actor" => match ACTOR_KINDS.iter().find(|a| **a == v) {
                    Some(a) => q.actor_kind = Some(a),
                    None => e.add(
                        "actor",
                        "must be researcher, participant, funder, funder_account or system",
                    ),
                },
                _ => {}
            }
        }
        e.into_result(q)
    }
}

/// A page of the study's log, newest first, and how many entries match in all.
pub fn for_study(
    conn: &mut DbConn,
    study_id: &str,
    query: &AuditQuery,
) -> AppResult<(i64, Vec<AuditEntry>)> {
    let filtered = || {
        let mut q = audit_log::table
            .filter(audit_log::study_id.eq(study_id))
            .into_boxed();
        if let Some(a) = query.action {
            q = q.filter(audit_log::action.eq(a.as_str()));
        }
        if let Some(k) = query.actor_kind {
            q = q.filter(audit_log::actor_kind.eq(k));
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let (offset, limit) = query.paging.sql();
    let entries = filtered()
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)?;
    Ok((total, entries))
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn every_action_has_its_own_name() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert!(names.iter().all(|n| {
            n.split_once('.')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        }));
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "two actions share a stored name");
    }

    #[test]
    fn every_action_is_named_for_people_in_both_languages() {
        for a in Action::ALL {
            for lang in ["da", "en"] {
                let key = format!("audit_action.{}", a.as_str());
                assert!(crate::i18n::has_text(lang, &key), "{key} in {lang}");
            }
        }
    }
}
