//! Row types: one struct per table as read, and the same struct for inserts where every column
//! is set by the application.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub researcher_id: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_attempts)]
pub struct LoginAttempt {
    pub id: String,
    pub email: String,
    pub address: String,
    pub succeeded: bool,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
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
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = study_members)]
pub struct StudyMember {
    pub study_id: String,
    pub researcher_id: String,
    pub role: String,
    pub added_at: NaiveDateTime,
    pub added_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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
