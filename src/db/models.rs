//! Row types: one struct per table as read, and the same struct for inserts where every column
//! is set by the application.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::*;

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = researchers)]
pub struct Researcher {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub locale: String,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub researcher_id: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: String,
    pub researcher_id: String,
    pub label: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = login_attempts)]
pub struct LoginAttempt {
    pub id: String,
    pub email: String,
    pub address: String,
    pub succeeded: bool,
    pub at: NaiveDateTime,
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    Queryable,
    Selectable,
    Insertable,
    AsChangeset,
)]
#[diesel(table_name = studies, treat_none_as_null = true)]
pub struct Study {
    pub id: String,
    pub title: String,
    pub purpose: String,
    pub funder: String,
    pub contact: String,
    pub language: String,
    pub scale_min: i32,
    pub scale_max: i32,
    pub scale_low_label: String,
    pub scale_high_label: String,
    pub allow_dont_know: bool,
    pub consensus_rule: String,
    pub consensus_locked_at: Option<NaiveDateTime>,
    pub min_group_size: i32,
    pub small_cell_threshold: i32,
    pub priority_threshold: f64,
    pub reminder_days: String,
    pub no_reply_after_days: i32,
    pub link_grace_days: i32,
    pub retention_until: Option<NaiveDate>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub archived_at: Option<NaiveDateTime>,
    /// An IANA name; archives made before studies had a zone were Danish.
    #[serde(default = "copenhagen")]
    pub time_zone: String,
    /// The key of the stratum whose values are the panel groups.
    #[serde(default)]
    pub groups_by: Option<String>,
    /// What only the researchers can say, for the reporting checklist.
    #[serde(default)]
    pub rationale: String,
    #[serde(default)]
    pub panel_size_rationale: String,
    #[serde(default)]
    pub limitations: String,
    #[serde(default)]
    pub funding_and_interests: String,
    /// How the panel's discussion is moderated: `moderated`, `open` or `off`.
    #[serde(default = "moderated")]
    pub discussion: String,
}

fn moderated() -> String {
    crate::domain::study::Discussion::default()
        .as_str()
        .to_string()
}

fn copenhagen() -> String {
    crate::i18n::zone::DEFAULT.name().to_string()
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = study_members)]
pub struct StudyMember {
    pub study_id: String,
    pub researcher_id: String,
    pub role: crate::domain::study::Role,
    pub added_at: NaiveDateTime,
    pub added_by: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub study_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: String,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = strata)]
pub struct StratumRow {
    pub id: String,
    pub study_id: String,
    pub key: String,
    pub label: String,
    pub allowed_values: String,
    pub position: i32,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = panellists)]
pub struct Panellist {
    pub id: String,
    pub study_id: String,
    pub pseudonym: String,
    pub created_at: NaiveDateTime,
    pub withdrawn_at: Option<NaiveDateTime>,
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    Queryable,
    Selectable,
    Insertable,
    AsChangeset,
)]
#[diesel(table_name = candidates, treat_none_as_null = true)]
pub struct Candidate {
    pub id: String,
    pub study_id: String,
    pub name: String,
    pub email: Option<String>,
    pub organisation: String,
    pub strata: String,
    pub source: String,
    pub referred_by: Option<String>,
    pub status: crate::domain::candidate::Status,
    pub status_reason: Option<String>,
    pub status_changed_at: NaiveDateTime,
    pub panellist_id: Option<String>,
    pub invited_at: Option<NaiveDateTime>,
    pub reminders_sent: i32,
    pub mail_failure: Option<String>,
    pub mail_opt_out_at: Option<NaiveDateTime>,
    pub notes: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub erased_at: Option<NaiveDateTime>,
    /// `busy`, `not_my_field` or `other`, when they declined.
    #[serde(default)]
    pub decline_category: Option<crate::domain::candidate::DeclineCategory>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = candidate_events)]
pub struct CandidateEvent {
    pub id: String,
    pub candidate_id: String,
    pub from_status: Option<crate::domain::candidate::Status>,
    pub to_status: crate::domain::candidate::Status,
    pub reason: Option<String>,
    pub actor: String,
    pub at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = consent_texts)]
pub struct ConsentText {
    pub id: String,
    pub study_id: String,
    pub version: i32,
    pub language: String,
    pub body: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = consents)]
pub struct Consent {
    pub id: String,
    pub candidate_id: String,
    pub consent_text_id: Option<String>,
    pub decision: crate::domain::states::Decision,
    pub reason: Option<String>,
    pub at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = participation_tokens)]
// None is NULL, not DEFAULT (no nullable column has another default): SQLite takes these
// many rows a statement.
#[diesel(treat_none_as_default_value = false)]
pub struct ParticipationToken {
    pub id: String,
    pub candidate_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    /// `access` (the person's link) or `unsubscribe` (a link that can only stop mail).
    pub purpose: crate::domain::states::Purpose,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = email_templates)]
pub struct EmailTemplate {
    pub study_id: String,
    pub name: String,
    pub language: String,
    pub subject: String,
    pub body: String,
    pub updated_by: Option<String>,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = outbox)]
// None is NULL, not DEFAULT (no nullable column has another default): SQLite takes these
// many rows a statement.
#[diesel(treat_none_as_default_value = false)]
pub struct OutboxMessage {
    pub id: String,
    pub study_id: Option<String>,
    pub candidate_id: Option<String>,
    pub round_id: Option<String>,
    pub kind: crate::domain::states::MessageKind,
    pub dedup_key: Option<String>,
    pub recipient: Option<String>,
    pub subject: String,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub message_id: String,
    pub headers: String,
    pub state: crate::domain::states::MessageState,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// JSON: `[{filename, content_type, data}]`, data in base64.
    pub attachments: String,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = categories)]
pub struct Category {
    pub id: String,
    pub study_id: String,
    pub code: String,
    pub title: String,
    pub position: i32,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = themes)]
pub struct Theme {
    pub id: String,
    pub study_id: String,
    pub category_id: String,
    pub number: i32,
    pub title: String,
    pub description: String,
    pub colour: String,
    pub status: crate::domain::states::ThemeStatus,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = theme_revisions)]
pub struct ThemeRevision {
    pub id: String,
    pub theme_id: String,
    pub version: i32,
    pub change: String,
    pub reason: String,
    pub snapshot: String,
    pub related: String,
    pub changed_by: Option<String>,
    pub at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = statements)]
pub struct Statement {
    pub id: String,
    pub theme_id: String,
    pub letter: String,
    pub text: String,
    pub position: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    Queryable,
    Selectable,
    Insertable,
    AsChangeset,
)]
#[diesel(table_name = rounds, treat_none_as_null = true)]
pub struct Round {
    pub id: String,
    pub study_id: String,
    pub number: i32,
    pub kind: crate::domain::round::Kind,
    pub questionnaire: bool,
    pub validation: bool,
    pub rating: bool,
    pub feedback: bool,
    pub state: crate::domain::round::State,
    pub instructions: String,
    pub reminder_days: String,
    pub closes_at: Option<NaiveDateTime>,
    pub opened_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// A feedback round shows each panel group's distribution beside the whole panel's.
    #[serde(default)]
    pub feedback_by_group: bool,
    /// A live round publishes snapshots of the panel's figures while it runs.
    #[serde(default)]
    pub mode: crate::domain::round::Mode,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = round_themes)]
pub struct RoundTheme {
    pub round_id: String,
    pub theme_id: String,
    pub position: i32,
    pub theme_version: i32,
    pub snapshot: String,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = answers)]
pub struct Answer {
    pub id: String,
    pub round_id: String,
    pub panellist_id: String,
    pub theme_id: String,
    pub score: Option<i32>,
    pub dont_know: bool,
    pub comment: Option<String>,
    pub proposal: Option<String>,
    pub reason: Option<String>,
    pub comment_cleared_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Study {
    /// The study's clock, which every time a person reads or types is on.
    pub fn zone(&self) -> crate::i18n::Tz {
        crate::i18n::zone::from_stored(&self.time_zone)
    }

    /// A new study row holding `settings`.
    pub fn new(
        id: String,
        settings: &crate::domain::StudySettings,
        created_by: String,
        at: NaiveDateTime,
    ) -> Study {
        let mut study = Study {
            id,
            title: String::new(),
            purpose: String::new(),
            funder: String::new(),
            contact: String::new(),
            language: String::new(),
            scale_min: 0,
            scale_max: 0,
            scale_low_label: String::new(),
            scale_high_label: String::new(),
            allow_dont_know: false,
            consensus_rule: String::new(),
            consensus_locked_at: None,
            min_group_size: 0,
            small_cell_threshold: 0,
            priority_threshold: 0.0,
            reminder_days: String::new(),
            no_reply_after_days: 0,
            link_grace_days: 0,
            retention_until: None,
            created_by: Some(created_by),
            created_at: at,
            updated_at: at,
            archived_at: None,
            time_zone: String::new(),
            groups_by: None,
            rationale: String::new(),
            panel_size_rationale: String::new(),
            limitations: String::new(),
            funding_and_interests: String::new(),
            discussion: String::new(),
        };
        // Every settings column is written by the one mapping below.
        study.set_settings(settings);
        study
    }

    /// The settings stored in the row.
    pub fn settings(&self) -> Result<crate::domain::StudySettings, super::DbError> {
        let corrupt = |what: &str, e: serde_json::Error| {
            super::DbError::Corrupt(format!("study {} {what}: {e}", self.id))
        };
        Ok(crate::domain::StudySettings {
            title: self.title.clone(),
            purpose: self.purpose.clone(),
            funder: self.funder.clone(),
            contact: self.contact.clone(),
            language: crate::domain::Language::from_stored(&self.language),
            scale: crate::domain::Scale {
                min: self.scale_min,
                max: self.scale_max,
                low_label: self.scale_low_label.clone(),
                high_label: self.scale_high_label.clone(),
                dont_know: self.allow_dont_know,
            },
            consensus: serde_json::from_str(&self.consensus_rule)
                .map_err(|e| corrupt("consensus rule", e))?,
            min_group_size: self.min_group_size,
            small_cell_threshold: self.small_cell_threshold,
            priority_threshold: self.priority_threshold,
            reminder_days: serde_json::from_str(&self.reminder_days)
                .map_err(|e| corrupt("reminder days", e))?,
            no_reply_after_days: self.no_reply_after_days,
            link_grace_days: self.link_grace_days,
            retention_until: self.retention_until,
            time_zone: self.zone(),
            groups_by: self.groups_by.clone(),
            rationale: self.rationale.clone(),
            panel_size_rationale: self.panel_size_rationale.clone(),
            limitations: self.limitations.clone(),
            funding_and_interests: self.funding_and_interests.clone(),
            discussion: crate::domain::study::Discussion::from_stored(&self.discussion),
        })
    }

    /// Writes `s` into the row's settings columns.
    pub fn set_settings(&mut self, s: &crate::domain::StudySettings) {
        self.title = s.title.clone();
        self.purpose = s.purpose.clone();
        self.funder = s.funder.clone();
        self.contact = s.contact.clone();
        self.language = s.language.code().into();
        self.scale_min = s.scale.min;
        self.scale_max = s.scale.max;
        self.scale_low_label = s.scale.low_label.clone();
        self.scale_high_label = s.scale.high_label.clone();
        self.allow_dont_know = s.scale.dont_know;
        self.consensus_rule = serde_json::to_string(&s.consensus).expect("serialisable");
        self.min_group_size = s.min_group_size;
        self.small_cell_threshold = s.small_cell_threshold;
        self.priority_threshold = s.priority_threshold;
        self.reminder_days = serde_json::to_string(&s.reminder_days).expect("serialisable");
        self.no_reply_after_days = s.no_reply_after_days;
        self.link_grace_days = s.link_grace_days;
        self.retention_until = s.retention_until;
        self.time_zone = s.time_zone.name().to_string();
        self.groups_by = s.groups_by.clone();
        self.rationale = s.rationale.clone();
        self.panel_size_rationale = s.panel_size_rationale.clone();
        self.limitations = s.limitations.clone();
        self.funding_and_interests = s.funding_and_interests.clone();
        self.discussion = s.discussion.as_str().to_string();
    }
}

impl Round {
    /// Whether the round takes answers at `at`: [`crate::domain::round::accepting`].
    pub fn accepting(&self, at: NaiveDateTime) -> bool {
        crate::domain::round::accepting(self.state, self.closes_at, at)
    }
}

impl Answer {
    /// What the answer says, as far as counting answers goes.
    pub fn said(&self) -> crate::domain::round::Said {
        crate::domain::round::Said {
            scored: self.score.is_some(),
            dont_know: self.dont_know,
            commented: self.comment.is_some(),
            proposed: self.proposal.is_some(),
        }
    }
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = answer_changes)]
pub struct AnswerChange {
    pub id: String,
    pub answer_id: String,
    pub score: Option<i32>,
    pub dont_know: bool,
    pub comment: Option<String>,
    pub proposal: Option<String>,
    pub reason: Option<String>,
    pub at: NaiveDateTime,
    /// The texts (`comment`, `proposal`, `reason`) that did not change, stored empty.
    #[serde(default)]
    pub kept: String,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = round_participations)]
// None is NULL, not DEFAULT (no nullable column has another default): SQLite takes these
// many rows a statement.
#[diesel(treat_none_as_default_value = false)]
pub struct RoundParticipation {
    pub round_id: String,
    pub panellist_id: String,
    pub first_opened_at: Option<NaiveDateTime>,
    pub submitted_at: Option<NaiveDateTime>,
    pub reminders_sent: i32,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = guide_sections)]
pub struct GuideSection {
    pub id: String,
    pub round_id: String,
    pub title: String,
    pub position: i32,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = guide_questions)]
pub struct GuideQuestion {
    pub id: String,
    pub section_id: String,
    pub text: String,
    pub note: String,
    pub position: i32,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = appointments)]
pub struct Appointment {
    pub id: String,
    pub round_id: String,
    pub panellist_id: String,
    pub interviewer_id: Option<String>,
    pub starts_at: Option<NaiveDateTime>,
    pub duration_minutes: i32,
    pub state: crate::domain::states::AppointmentState,
    pub notes: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = transcripts)]
pub struct Transcript {
    pub id: String,
    pub study_id: String,
    pub round_id: Option<String>,
    pub panellist_id: String,
    pub title: String,
    pub body: String,
    pub source_kind: String,
    pub original_filename: Option<String>,
    pub uploaded_by: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = excerpts)]
pub struct Excerpt {
    pub id: String,
    pub transcript_id: String,
    pub start_offset: i32,
    pub end_offset: i32,
    pub quote: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = coders)]
pub struct Coder {
    pub id: String,
    pub study_id: String,
    /// The team member who coded; none for coders whose work was imported.
    pub researcher_id: Option<String>,
    pub name: String,
    pub created_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = codings)]
pub struct Coding {
    pub id: String,
    pub excerpt_id: String,
    pub theme_id: String,
    pub coder_id: String,
    pub created_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = statement_excerpts)]
pub struct StatementExcerpt {
    pub statement_id: String,
    pub excerpt_id: String,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = protocols)]
pub struct ProtocolRow {
    pub study_id: String,
    /// The draft's document (JSON) until registration.
    pub draft: String,
    /// The registered canonical document, as it was registered.
    pub document: Option<String>,
    pub sha256: Option<String>,
    pub registered_at: Option<NaiveDateTime>,
    pub registered_by: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = protocol_amendments)]
pub struct ProtocolAmendment {
    pub id: String,
    pub study_id: String,
    pub at: NaiveDateTime,
    pub reason: String,
    /// The names of the fields changed (JSON list).
    pub changes: String,
    /// The amended canonical document.
    pub document: String,
    pub sha256: String,
    pub amended_by: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = minority_statements)]
pub struct MinorityStatement {
    pub round_id: String,
    pub theme_id: String,
    pub statement: String,
    pub written_by: Option<String>,
    pub written_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = small_cell_releases)]
pub struct SmallCellRelease {
    pub id: String,
    pub study_id: String,
    pub table_key: String,
    pub cell_key: String,
    pub reason: String,
    pub released_by: Option<String>,
    pub released_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = questionnaire_answers)]
pub struct QuestionnaireAnswer {
    pub id: String,
    pub round_id: String,
    pub panellist_id: String,
    pub question_id: String,
    pub text: String,
    pub updated_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = funders)]
pub struct Funder {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub locale: String,
    pub setup_token_hash: Option<String>,
    pub setup_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = funder_sessions)]
pub struct FunderSession {
    pub id: String,
    pub funder_id: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = funder_access)]
pub struct FunderAccess {
    pub study_id: String,
    pub funder_id: String,
    pub granted_by: Option<String>,
    pub granted_at: NaiveDateTime,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub last_viewed_at: Option<NaiveDateTime>,
}

/// A published snapshot of the panel's figures for one theme of a live round.
#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = crate::db::schema::live_snapshots)]
pub struct LiveSnapshot {
    pub id: String,
    pub round_id: String,
    pub theme_id: String,
    pub published_at: NaiveDateTime,
    pub n: i32,
    /// Valid scores per scale point, lowest first (JSON).
    pub counts: String,
    pub median: Option<f64>,
}

/// The last time a panellist's score (or "don't know") for a theme of a live round changed.
#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = crate::db::schema::live_changes)]
pub struct LiveChange {
    pub round_id: String,
    pub theme_id: String,
    pub panellist_id: String,
    pub at: NaiveDateTime,
}

/// A post in a theme's discussion: an expert's (under a handle) or a facilitator's.
#[derive(
    Debug,
    Clone,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    Queryable,
    Selectable,
    Insertable,
    AsChangeset,
)]
#[diesel(table_name = crate::db::schema::posts, treat_none_as_null = true)]
pub struct Post {
    pub id: String,
    pub round_id: String,
    pub theme_id: String,
    pub panellist_id: Option<String>,
    pub facilitator_id: Option<String>,
    pub reply_to: Option<String>,
    pub text: String,
    /// `pending`, `published`, `hidden` or `withdrawn`.
    pub state: String,
    pub hidden_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
    pub published_seq: Option<i32>,
    /// When a researcher cleared it for the funder's report.
    pub cleared_at: Option<NaiveDateTime>,
}

/// The handle a panellist posts under in one thread (a theme of a round).
#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = crate::db::schema::post_handles)]
pub struct PostHandle {
    pub round_id: String,
    pub theme_id: String,
    pub panellist_id: String,
    pub handle: i32,
}

/// A panellist who asked for the daily digest of the discussion, and when it last went out.
#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = crate::db::schema::discussion_digests)]
pub struct DiscussionDigest {
    pub panellist_id: String,
    pub last_sent_at: Option<NaiveDateTime>,
}
