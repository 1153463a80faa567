//! The audit log: an append-only record of who looked at or changed what. Entries name people
//! by id only, so erasing an identity leaves the log intact and anonymous.

use diesel::prelude::*;

use super::{Actor, AppResult};
use crate::db::models::AuditEntry;
use crate::db::schema::audit_log;
use crate::db::{DbConn, new_id, now};

pub fn record(
    conn: &mut DbConn,
    actor: &Actor,
    study_id: Option<&str>,
    action: &str,
    target: Option<&str>,
    details: serde_json::Value,
) -> AppResult<()> {
    let entry = AuditEntry {
        id: new_id(),
        at: now(),
        actor_kind: actor.kind().into(),
        actor_id: actor.id().map(str::to_string),
        study_id: study_id.map(str::to_string),
        action: action.into(),
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
