//! The audit log: an append-only record of who looked at or changed what. Entries name people
//! by id only, so erasing an identity leaves the log intact and anonymous.

use diesel::prelude::*;

use super::{Actor, AppResult};
use crate::db::models::AuditEntry;
use crate::db::schema::audit_log;
use crate::db::{DbConn, new_id, now};

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

pub fn for_study(conn: &mut DbConn, study_id: &str, limit: i64) -> AppResult<Vec<AuditEntry>> {
    Ok(audit_log::table
        .filter(audit_log::study_id.eq(study_id))
        .order(audit_log::at.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)?)
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
