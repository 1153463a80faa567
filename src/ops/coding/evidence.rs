//! Statements linked to the coded passages that support them.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{self, DbConn};
use crate::domain::Invalid;
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::{AppError, AppResult};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    /// The passages that support the statement (replacing those linked before).
    pub excerpt_ids: Vec<String>,
}

pub fn link_statement(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    statement_id: &str,
    input: EvidenceInput,
) -> AppResult<()> {
    db::write(conn, |c| {
        let (s, study_id): (Statement, String) = statements::table
            .inner_join(themes::table)
            .filter(statements::id.eq(statement_id))
            .select((Statement::as_select(), themes::study_id))
            .first(c)
            .optional()?
            .ok_or(AppError::NotFound)?;
        access::study(c, researcher_id, &study_id, Role::Researcher)?;
        let valid: HashSet<String> = excerpts::table
            .inner_join(transcripts::table)
            .filter(transcripts::study_id.eq(&study_id))
            .filter(excerpts::id.eq_any(&input.excerpt_ids))
            // Evidence for a statement is a passage coded to the statement's theme.
            .filter(
                excerpts::id.eq_any(
                    codings::table
                        .filter(codings::theme_id.eq(&s.theme_id))
                        .select(codings::excerpt_id),
                ),
            )
            .select(excerpts::id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        if let Some(bad) = input.excerpt_ids.iter().find(|id| !valid.contains(*id)) {
            return Err(Invalid::one(
                "excerpt_ids",
                format!("{bad} is not a passage of this study coded to the statement's theme"),
            )
            .into());
        }
        diesel::delete(
            statement_excerpts::table.filter(statement_excerpts::statement_id.eq(&s.id)),
        )
        .execute(c)?;
        for id in valid {
            diesel::insert_into(statement_excerpts::table)
                .values(&StatementExcerpt {
                    statement_id: s.id.clone(),
                    excerpt_id: id,
                })
                .execute(c)?;
        }
        Ok::<_, AppError>(())
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    pub excerpt_id: String,
    pub pseudonym: String,
    pub transcript_id: String,
    pub quote: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementEvidence {
    pub statement_id: String,
    pub letter: String,
    pub text: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeEvidence {
    pub theme_id: String,
    pub statements: Vec<StatementEvidence>,
    /// Every passage coded to the theme, for linking.
    pub passages: Vec<Evidence>,
    /// In how many interviews the theme occurs.
    pub interviews: usize,
}

/// The audit trail of a theme: each statement with the passages behind it, under pseudonyms.
pub fn theme_evidence(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    theme_id: &str,
) -> AppResult<ThemeEvidence> {
    let (t, _) = access::in_study::<Theme>(conn, researcher_id, theme_id, Role::Researcher)?;
    let pseudonyms: HashMap<String, String> = panellists::table
        .filter(panellists::study_id.eq(&t.study_id))
        .select((panellists::id, panellists::pseudonym))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let coded: Vec<(Excerpt, String)> = excerpts::table
        .inner_join(codings::table)
        .inner_join(transcripts::table)
        .filter(codings::theme_id.eq(&t.id))
        .select((Excerpt::as_select(), transcripts::panellist_id))
        .load(conn)?;
    let ev = |e: &Excerpt, pid: &str| Evidence {
        excerpt_id: e.id.clone(),
        pseudonym: pseudonyms.get(pid).cloned().unwrap_or_default(),
        transcript_id: e.transcript_id.clone(),
        quote: e.quote.clone(),
    };
    let mut passages: Vec<Evidence> = coded.iter().map(|(e, p)| ev(e, p)).collect();
    passages.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
    passages.dedup_by(|a, b| a.excerpt_id == b.excerpt_id);
    let interviews = coded
        .iter()
        .map(|(e, _)| e.transcript_id.clone())
        .collect::<HashSet<_>>()
        .len();
    let sts = crate::ops::codebook::statements_of(conn, std::slice::from_ref(&t.id))?;
    let ids: Vec<String> = sts.iter().map(|s| s.id.clone()).collect();
    let links: Vec<(String, Excerpt, String)> = statement_excerpts::table
        .inner_join(excerpts::table.inner_join(transcripts::table))
        .filter(statement_excerpts::statement_id.eq_any(&ids))
        .select((
            statement_excerpts::statement_id,
            Excerpt::as_select(),
            transcripts::panellist_id,
        ))
        .load(conn)?;
    let statements = sts
        .into_iter()
        .map(|s| StatementEvidence {
            evidence: links
                .iter()
                .filter(|(sid, _, _)| *sid == s.id)
                .map(|(_, e, p)| ev(e, p))
                .collect(),
            statement_id: s.id,
            letter: s.letter,
            text: s.text,
        })
        .collect();
    Ok(ThemeEvidence {
        theme_id: t.id,
        statements,
        passages,
        interviews,
    })
}
