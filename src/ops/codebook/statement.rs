//! Lettered statements under a theme, each change a revision of the theme.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::{Statement, Theme, ThemeRevision};
use crate::db::schema::{statements, theme_revisions};
use crate::db::utc;
use crate::db::{self, DbConn, now};
use crate::domain::Invalid;
use crate::domain::codebook::{
    Change, ThemeSnapshot, letter, reason, statement_letter, statement_text,
};
use crate::ops::access::{InStudy, ResearcherId};
use crate::ops::{AppError, AppResult};

use super::*;

// ---------------------------------------------------------------------------------------------
// Statements

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementInput {
    /// Defaults to the next free letter.
    #[serde(default)]
    pub letter: Option<String>,
    pub text: String,
    #[serde(default)]
    pub reason: String,
}

pub fn add_statement(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    theme_id: &str,
    input: StatementInput,
) -> AppResult<StatementView> {
    let text = statement_text("text", &input.text)?;
    let why = reason("reason", &input.reason)?;
    let wanted = input
        .letter
        .as_deref()
        .map(|l| statement_letter("letter", l))
        .transpose()?;
    db::write(conn, |c| {
        let (t, _) = access::in_study::<Theme>(c, researcher_id, theme_id, Role::Researcher)?;
        if t.status != ACTIVE {
            return Err(AppError::Conflict(format!(
                "theme {} is {}",
                t.number, t.status
            )));
        }
        let own = statements_of(c, std::slice::from_ref(&t.id))?;
        let l = match wanted {
            Some(l) => {
                if own.iter().any(|s| s.letter == l) {
                    return Err(
                        Invalid::one("letter", format!("statement {l} exists already")).into(),
                    );
                }
                l
            }
            None => (0..)
                .map(letter)
                .find(|l| !own.iter().any(|s| &s.letter == l))
                .expect("a free letter"),
        };
        let position = own.iter().map(|s| s.position + 1).max().unwrap_or(0);
        let s = insert_statement(c, &t.id, &l, &text, position)?;
        if t.version > 0 {
            revise(c, &t.id, Change::Statements, &why, &[], researcher_id)?;
        }
        Ok(StatementView {
            id: s.id,
            letter: s.letter,
            text: s.text,
        })
    })
}

/// A current statement and its theme, for a researcher of the theme's study.
fn statement_in_study(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    statement_id: &str,
) -> AppResult<(Statement, Theme)> {
    // Through its theme: one read of the theme both checks access and gives it.
    let s = <Statement as InStudy>::find(conn, statement_id)?.ok_or(AppError::NotFound)?;
    let (t, _) = access::in_study::<Theme>(conn, researcher_id, &s.theme_id, Role::Researcher)?;
    Ok((s, t))
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementPatch {
    pub text: String,
    #[serde(default)]
    pub reason: String,
}

pub fn update_statement(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    statement_id: &str,
    patch: StatementPatch,
) -> AppResult<StatementView> {
    let text = statement_text("text", &patch.text)?;
    let why = reason("reason", &patch.reason)?;
    db::write(conn, |c| {
        let (s, t) = statement_in_study(c, researcher_id, statement_id)?;
        if t.status != ACTIVE {
            return Err(AppError::Conflict(format!(
                "theme {} is {}",
                t.number, t.status
            )));
        }
        if s.text != text {
            diesel::update(statements::table.find(&s.id))
                .set((statements::text.eq(&text), statements::updated_at.eq(now())))
                .execute(c)?;
            revise(c, &t.id, Change::Statements, &why, &[], researcher_id)?;
        }
        Ok(StatementView {
            id: s.id,
            letter: s.letter,
            text,
        })
    })
}

pub fn remove_statement(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    statement_id: &str,
    why: &str,
) -> AppResult<()> {
    let why = reason("reason", why)?;
    db::write(conn, |c| {
        let (s, t) = statement_in_study(c, researcher_id, statement_id)?;
        diesel::update(statements::table.find(&s.id))
            .set(statements::retired_at.eq(now()))
            .execute(c)?;
        revise(c, &t.id, Change::Statements, &why, &[], researcher_id)?;
        Ok::<_, AppError>(())
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionView {
    pub version: i32,
    pub change: String,
    pub reason: String,
    pub snapshot: ThemeSnapshot,
    /// Themes this change relates to (merged into, split into, made from).
    pub related: Vec<String>,
    pub at: DateTime<Utc>,
}

pub fn revisions_of(conn: &mut DbConn, theme_id: &str) -> AppResult<Vec<RevisionView>> {
    let rows: Vec<ThemeRevision> = theme_revisions::table
        .filter(theme_revisions::theme_id.eq(theme_id))
        .order(theme_revisions::version.asc())
        .select(ThemeRevision::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            Ok(RevisionView {
                version: r.version,
                change: r.change,
                reason: r.reason,
                snapshot: serde_json::from_str(&r.snapshot)
                    .map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?,
                related: serde_json::from_str(&r.related).unwrap_or_default(),
                at: utc(r.at),
            })
        })
        .collect()
}

pub fn revisions(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    theme_id: &str,
) -> AppResult<Vec<RevisionView>> {
    let (t, _) = access::in_study::<Theme>(conn, researcher_id, theme_id, Role::Researcher)?;
    revisions_of(conn, &t.id)
}
