//! The codebook as researchers keep it: categories, numbered themes and lettered statements.
//! Every change to a theme is a revision with a reason and a snapshot, so the report can list
//! what changed between rounds and why.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::{Actor, AppResult, audit};
use crate::db::models::{Category, Statement, Theme, ThemeRevision};
use crate::db::schema::{categories, statements, theme_revisions, themes};
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;
use crate::domain::codebook::{
    Change, StatementSnapshot, ThemeSnapshot, category_code, category_title,
};
use crate::domain::states::ThemeStatus;

mod statement;
mod theme;

pub use statement::*;
pub use theme::*;

/// Theme statuses: only `active` themes go into new rounds.
pub const ACTIVE: ThemeStatus = ThemeStatus::Active;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryView {
    pub id: String,
    pub code: String,
    pub title: String,
    pub position: i32,
    pub themes: Vec<ThemeView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThemeView {
    pub id: String,
    pub category_id: String,
    pub number: i32,
    pub title: String,
    pub description: String,
    /// `active`, `merged`, `split` or `dropped`.
    pub status: ThemeStatus,
    pub version: i32,
    pub statements: Vec<StatementView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementView {
    pub id: String,
    pub letter: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Codebook {
    pub categories: Vec<CategoryView>,
}

pub fn categories_of(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Category>> {
    Ok(categories::table
        .filter(categories::study_id.eq(study_id))
        .filter(categories::retired_at.is_null())
        .order((categories::position.asc(), categories::code.asc()))
        .select(Category::as_select())
        .load(conn)?)
}

pub fn themes_of(conn: &mut DbConn, study_id: &str) -> AppResult<Vec<Theme>> {
    Ok(themes::table
        .filter(themes::study_id.eq(study_id))
        .order((themes::number.asc(), themes::created_at.asc()))
        .select(Theme::as_select())
        .load(conn)?)
}

pub fn statements_of(conn: &mut DbConn, theme_ids: &[String]) -> AppResult<Vec<Statement>> {
    Ok(statements::table
        .filter(statements::theme_id.eq_any(theme_ids))
        .filter(statements::retired_at.is_null())
        .order((statements::position.asc(), statements::letter.asc()))
        .select(Statement::as_select())
        .load(conn)?)
}

/// The whole codebook: categories in order, their themes by number, their statements by letter.
pub fn codebook_of(
    conn: &mut DbConn,
    study_id: &str,
    include_inactive: bool,
) -> AppResult<Codebook> {
    let cats = categories_of(conn, study_id)?;
    let mut ths = themes_of(conn, study_id)?;
    if !include_inactive {
        ths.retain(|t| t.status == ACTIVE);
    }
    let ids: Vec<String> = ths.iter().map(|t| t.id.clone()).collect();
    let sts = statements_of(conn, &ids)?;
    let categories = cats
        .into_iter()
        .map(|c| CategoryView {
            themes: ths
                .iter()
                .filter(|t| t.category_id == c.id)
                .map(|t| ThemeView {
                    id: t.id.clone(),
                    category_id: t.category_id.clone(),
                    number: t.number,
                    title: t.title.clone(),
                    description: t.description.clone(),
                    status: t.status,
                    version: t.version,
                    statements: sts
                        .iter()
                        .filter(|s| s.theme_id == t.id)
                        .map(|s| StatementView {
                            id: s.id.clone(),
                            letter: s.letter.clone(),
                            text: s.text.clone(),
                        })
                        .collect(),
                })
                .collect(),
            id: c.id,
            code: c.code,
            title: c.title,
            position: c.position,
        })
        .collect();
    Ok(Codebook { categories })
}

pub fn codebook(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    include_inactive: bool,
) -> AppResult<Codebook> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    codebook_of(conn, study_id, include_inactive)
}

/// The theme as it stands, for revisions and for rounds.
pub fn snapshot(conn: &mut DbConn, theme: &Theme) -> AppResult<ThemeSnapshot> {
    let cat: Category = categories::table
        .find(&theme.category_id)
        .select(Category::as_select())
        .first(conn)?;
    let sts = statements_of(conn, std::slice::from_ref(&theme.id))?;
    Ok(ThemeSnapshot {
        category_code: cat.code,
        category_title: cat.title,
        number: theme.number,
        title: theme.title.clone(),
        description: theme.description.clone(),
        statements: sts
            .into_iter()
            .map(|s| StatementSnapshot {
                letter: s.letter,
                text: s.text,
            })
            .collect(),
    })
}

/// Records the theme's current state as its next version.
pub(crate) fn revise(
    conn: &mut DbConn,
    theme_id: &str,
    change: Change,
    why: &str,
    related: &[String],
    by: &str,
) -> AppResult<()> {
    let theme: Theme = themes::table
        .find(theme_id)
        .select(Theme::as_select())
        .first(conn)?;
    let version = if change == Change::Created {
        1
    } else {
        theme.version + 1
    };
    let snap = snapshot(conn, &theme)?;
    diesel::update(themes::table.find(theme_id))
        .set((themes::version.eq(version), themes::updated_at.eq(now())))
        .execute(conn)?;
    diesel::insert_into(theme_revisions::table)
        .values(&ThemeRevision {
            id: new_id(),
            theme_id: theme_id.into(),
            version,
            change: change.as_str().into(),
            reason: why.into(),
            snapshot: serde_json::to_string(&snap).expect("serialisable"),
            related: serde_json::to_string(related).expect("serialisable"),
            changed_by: Some(by.into()),
            at: now(),
        })
        .execute(conn)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Categories

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    /// A short code such as `A`.
    pub code: String,
    pub title: String,
    #[serde(default)]
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryCreated {
    pub id: String,
    pub code: String,
    pub title: String,
    pub position: i32,
}

pub fn add_category(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: CategoryInput,
) -> AppResult<CategoryCreated> {
    let mut e = Invalid::new();
    let code = e.take(category_code("code", &input.code));
    let title = e.take(category_title("title", &input.title));
    e.into_result(())?;
    let (code, title) = (code.unwrap_or_default(), title.unwrap_or_default());
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        let existing = categories_of(c, study_id)?;
        if existing.iter().any(|x| x.code.eq_ignore_ascii_case(&code)) {
            return Err(Invalid::one("code", format!("category {code} exists already")).into());
        }
        let position = input
            .position
            .unwrap_or(existing.iter().map(|x| x.position + 1).max().unwrap_or(0));
        let cat = Category {
            id: new_id(),
            study_id: study_id.into(),
            code: code.clone(),
            title: title.clone(),
            position,
            created_at: now(),
            retired_at: None,
        };
        diesel::insert_into(categories::table)
            .values(&cat)
            .execute(c)?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::CategoryCreated,
            Some(&cat.id),
            serde_json::json!({}),
        )?;
        Ok(CategoryCreated {
            id: cat.id,
            code,
            title,
            position,
        })
    })
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub code: Option<String>,
    pub title: Option<String>,
    pub position: Option<i32>,
}

/// Renames or reorders a category; its themes get a revision (their snapshot names it).
pub fn update_category(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    category_id: &str,
    patch: CategoryPatch,
) -> AppResult<CategoryCreated> {
    db::write(conn, |c| {
        let (cat, _) =
            access::in_study::<Category>(c, researcher_id, category_id, Role::Researcher)?;
        let mut e = Invalid::new();
        let code = match &patch.code {
            Some(x) => e.take(category_code("code", x)).unwrap_or_default(),
            None => cat.code.clone(),
        };
        let title = match &patch.title {
            Some(x) => e.take(category_title("title", x)).unwrap_or_default(),
            None => cat.title.clone(),
        };
        e.into_result(())?;
        if categories_of(c, &cat.study_id)?
            .iter()
            .any(|x| x.id != cat.id && x.code.eq_ignore_ascii_case(&code))
        {
            return Err(Invalid::one("code", format!("category {code} exists already")).into());
        }
        let position = patch.position.unwrap_or(cat.position);
        diesel::update(categories::table.find(&cat.id))
            .set((
                categories::code.eq(&code),
                categories::title.eq(&title),
                categories::position.eq(position),
            ))
            .execute(c)?;
        if code != cat.code || title != cat.title {
            let ids: Vec<String> = themes::table
                .filter(themes::category_id.eq(&cat.id))
                .filter(themes::status.eq(ACTIVE))
                .select(themes::id)
                .load(c)?;
            for id in ids {
                revise(
                    c,
                    &id,
                    Change::Moved,
                    "category renamed",
                    &[],
                    researcher_id,
                )?;
            }
        }
        Ok(CategoryCreated {
            id: cat.id,
            code,
            title,
            position,
        })
    })
}
