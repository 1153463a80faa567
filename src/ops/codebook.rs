//! The codebook as researchers keep it: categories, numbered themes and lettered statements.
//! Every change to a theme is a revision with a reason and a snapshot, so the report can list
//! what changed between rounds and why.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::studies::{Role, access};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{Category, Coding, Statement, StatementExcerpt, Theme, ThemeRevision};
use crate::db::schema::{
    categories, codings, statement_excerpts, statements, theme_revisions, themes,
};
use crate::db::utc;
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;
use crate::domain::codebook::{
    Change, StatementSnapshot, ThemeSnapshot, category_code, category_title, letter, reason,
    statement_letter, statement_text, theme_description, theme_number, theme_title,
};
use crate::domain::states::ThemeStatus;

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

fn actor(id: &str) -> Actor {
    Actor::Researcher { id: id.into() }
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
    researcher_id: &str,
    study_id: &str,
    include_inactive: bool,
) -> AppResult<Codebook> {
    access(conn, researcher_id, study_id, Role::Researcher)?;
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
    researcher_id: &str,
    study_id: &str,
    input: CategoryInput,
) -> AppResult<CategoryCreated> {
    let mut e = Invalid::new();
    let code = e.take(category_code("code", &input.code));
    let title = e.take(category_title("title", &input.title));
    e.into_result(())?;
    let (code, title) = (code.unwrap_or_default(), title.unwrap_or_default());
    db::write(conn, |c| {
        access(c, researcher_id, study_id, Role::Researcher)?;
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
            &actor(researcher_id),
            Some(study_id),
            "category.created",
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

fn category_in_study(
    conn: &mut DbConn,
    researcher_id: &str,
    category_id: &str,
) -> AppResult<Category> {
    let cat: Category = categories::table
        .find(category_id)
        .filter(categories::retired_at.is_null())
        .select(Category::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    access(conn, researcher_id, &cat.study_id, Role::Researcher)?;
    Ok(cat)
}

/// Renames or reorders a category; its themes get a revision (their snapshot names it).
pub fn update_category(
    conn: &mut DbConn,
    researcher_id: &str,
    category_id: &str,
    patch: CategoryPatch,
) -> AppResult<CategoryCreated> {
    db::write(conn, |c| {
        let cat = category_in_study(c, researcher_id, category_id)?;
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

// ---------------------------------------------------------------------------------------------
// Themes

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThemeInput {
    pub category_id: String,
    pub number: i32,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Statements to start with, lettered a, b, c, … in order.
    #[serde(default)]
    pub statements: Vec<String>,
}

pub(crate) fn check_number_free(
    conn: &mut DbConn,
    study_id: &str,
    number: i32,
    except: Option<&str>,
) -> AppResult<()> {
    let mut q = themes::table
        .filter(themes::study_id.eq(study_id))
        .filter(themes::status.eq(ACTIVE))
        .filter(themes::number.eq(number))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(themes::id.ne(id.to_string()));
    }
    if q.count().get_result::<i64>(conn)? > 0 {
        return Err(Invalid::one("number", format!("theme {number} exists already")).into());
    }
    Ok(())
}

fn check_category(
    conn: &mut DbConn,
    study_id: &str,
    category_id: &str,
    field: &str,
) -> AppResult<()> {
    let n: i64 = categories::table
        .filter(categories::id.eq(category_id))
        .filter(categories::study_id.eq(study_id))
        .filter(categories::retired_at.is_null())
        .count()
        .get_result(conn)?;
    if n == 0 {
        return Err(Invalid::one(field, "is not a category of this study").into());
    }
    Ok(())
}

/// Links each new statement to the passages its old counterpart was linked to, so the audit
/// trail from a theme to the interviews survives a merge or split.
fn carry_links(conn: &mut DbConn, pairs: &[(String, String)]) -> AppResult<()> {
    for (old, new) in pairs {
        let ids: Vec<String> = statement_excerpts::table
            .filter(statement_excerpts::statement_id.eq(old))
            .select(statement_excerpts::excerpt_id)
            .load(conn)?;
        for excerpt_id in ids {
            diesel::insert_into(statement_excerpts::table)
                .values(&StatementExcerpt {
                    statement_id: new.clone(),
                    excerpt_id,
                })
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Codes to `to` the passages coded to any of `from` (each coder's coding once); with `only`,
/// just those passages.
fn carry_codings(
    conn: &mut DbConn,
    from: &[String],
    to: &str,
    only: Option<&std::collections::HashSet<String>>,
) -> AppResult<()> {
    let old: Vec<Coding> = codings::table
        .filter(codings::theme_id.eq_any(from))
        .select(Coding::as_select())
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    for c in old {
        if only.is_some_and(|o| !o.contains(&c.excerpt_id))
            || !seen.insert((c.excerpt_id.clone(), c.coder_id.clone()))
        {
            continue;
        }
        diesel::insert_into(codings::table)
            .values(&Coding {
                id: new_id(),
                excerpt_id: c.excerpt_id,
                theme_id: to.into(),
                coder_id: c.coder_id,
                created_at: now(),
            })
            .execute(conn)?;
    }
    Ok(())
}

fn statement_pairs(old: &[Option<String>], new: &[Statement]) -> Vec<(String, String)> {
    old.iter()
        .zip(new)
        .filter_map(|(o, n)| o.clone().map(|o| (o, n.id.clone())))
        .collect()
}

pub(crate) fn insert_theme(
    conn: &mut DbConn,
    study_id: &str,
    category_id: &str,
    number: i32,
    title: &str,
    description: &str,
    texts: &[String],
) -> AppResult<Theme> {
    insert_theme_as(
        conn,
        new_id(),
        study_id,
        category_id,
        number,
        title,
        description,
        texts,
    )
}

/// `insert_theme` with a chosen id (an import keeps the ids it brings when they are free).
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_theme_as(
    conn: &mut DbConn,
    id: String,
    study_id: &str,
    category_id: &str,
    number: i32,
    title: &str,
    description: &str,
    texts: &[String],
) -> AppResult<Theme> {
    let t = now();
    let theme = Theme {
        id,
        study_id: study_id.into(),
        category_id: category_id.into(),
        number,
        title: title.into(),
        description: description.into(),
        colour: String::new(),
        status: ACTIVE,
        version: 1,
        created_at: t,
        updated_at: t,
    };
    diesel::insert_into(themes::table)
        .values(&theme)
        .execute(conn)?;
    for (i, text) in texts.iter().enumerate() {
        insert_statement(conn, &theme.id, &letter(i), text, i as i32)?;
    }
    Ok(theme)
}

fn insert_statement(
    conn: &mut DbConn,
    theme_id: &str,
    letter: &str,
    text: &str,
    position: i32,
) -> AppResult<Statement> {
    let t = now();
    let s = Statement {
        id: new_id(),
        theme_id: theme_id.into(),
        letter: letter.into(),
        text: text.into(),
        position,
        created_at: t,
        updated_at: t,
        retired_at: None,
    };
    diesel::insert_into(statements::table)
        .values(&s)
        .execute(conn)?;
    Ok(s)
}

fn theme_view(conn: &mut DbConn, theme_id: &str) -> AppResult<ThemeView> {
    let t: Theme = themes::table
        .find(theme_id)
        .select(Theme::as_select())
        .first(conn)?;
    let sts = statements_of(conn, std::slice::from_ref(&t.id))?;
    Ok(ThemeView {
        statements: sts
            .into_iter()
            .map(|s| StatementView {
                id: s.id,
                letter: s.letter,
                text: s.text,
            })
            .collect(),
        id: t.id,
        category_id: t.category_id,
        number: t.number,
        title: t.title,
        description: t.description,
        status: t.status,
        version: t.version,
    })
}

pub fn add_theme(
    conn: &mut DbConn,
    researcher_id: &str,
    study_id: &str,
    input: ThemeInput,
) -> AppResult<ThemeView> {
    let mut e = Invalid::new();
    let number = e.take(theme_number("number", input.number));
    let title = e.take(theme_title("title", &input.title));
    let description = e.take(theme_description("description", &input.description));
    let texts: Vec<String> = input
        .statements
        .iter()
        .enumerate()
        .filter_map(|(i, s)| e.take(statement_text(&format!("statements[{i}]"), s)))
        .collect();
    e.into_result(())?;
    db::write(conn, |c| {
        access(c, researcher_id, study_id, Role::Researcher)?;
        check_category(c, study_id, &input.category_id, "category_id")?;
        let number = number.unwrap_or_default();
        check_number_free(c, study_id, number, None)?;
        let theme = insert_theme(
            c,
            study_id,
            &input.category_id,
            number,
            &title.clone().unwrap_or_default(),
            &description.clone().unwrap_or_default(),
            &texts,
        )?;
        revise(c, &theme.id, Change::Created, "", &[], researcher_id)?;
        audit::record(
            c,
            &actor(researcher_id),
            Some(study_id),
            "theme.created",
            Some(&theme.id),
            serde_json::json!({ "number": number }),
        )?;
        theme_view(c, &theme.id)
    })
}

fn theme_in_study(conn: &mut DbConn, researcher_id: &str, theme_id: &str) -> AppResult<Theme> {
    let t: Theme = themes::table
        .find(theme_id)
        .select(Theme::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    access(conn, researcher_id, &t.study_id, Role::Researcher)?;
    Ok(t)
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThemePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<String>,
    pub number: Option<i32>,
    /// Why it changed (kept with the revision and listed in the report).
    #[serde(default)]
    pub reason: String,
}

/// Rewords, renumbers or moves a theme.
pub fn update_theme(
    conn: &mut DbConn,
    researcher_id: &str,
    theme_id: &str,
    patch: ThemePatch,
) -> AppResult<ThemeView> {
    let why = reason("reason", &patch.reason)?;
    db::write(conn, |c| {
        let t = theme_in_study(c, researcher_id, theme_id)?;
        if t.status != ACTIVE {
            return Err(AppError::Conflict(format!(
                "theme {} is {} and can no longer change",
                t.number, t.status
            )));
        }
        let mut e = Invalid::new();
        let title = patch
            .title
            .as_ref()
            .and_then(|x| e.take(theme_title("title", x)))
            .unwrap_or(t.title.clone());
        let description = patch
            .description
            .as_ref()
            .and_then(|x| e.take(theme_description("description", x)))
            .unwrap_or(t.description.clone());
        let number = patch
            .number
            .and_then(|n| e.take(theme_number("number", n)))
            .unwrap_or(t.number);
        e.into_result(())?;
        let category = patch.category_id.clone().unwrap_or(t.category_id.clone());
        if category != t.category_id {
            check_category(c, &t.study_id, &category, "category_id")?;
        }
        if number != t.number {
            check_number_free(c, &t.study_id, number, Some(&t.id))?;
        }
        let reworded = title != t.title || description != t.description;
        let moved = number != t.number || category != t.category_id;
        if !reworded && !moved {
            return theme_view(c, &t.id);
        }
        diesel::update(themes::table.find(&t.id))
            .set((
                themes::title.eq(&title),
                themes::description.eq(&description),
                themes::number.eq(number),
                themes::category_id.eq(&category),
            ))
            .execute(c)?;
        revise(
            c,
            &t.id,
            if reworded {
                Change::Reworded
            } else {
                Change::Moved
            },
            &why,
            &[],
            researcher_id,
        )?;
        theme_view(c, &t.id)
    })
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    #[serde(default)]
    pub reason: String,
}

/// Takes a theme out of the codebook (kept, with its history, for earlier rounds).
pub fn drop_theme(
    conn: &mut DbConn,
    researcher_id: &str,
    theme_id: &str,
    why: &str,
) -> AppResult<ThemeView> {
    let why = reason("reason", why)?;
    db::write(conn, |c| {
        let t = theme_in_study(c, researcher_id, theme_id)?;
        if t.status != ACTIVE {
            return Err(AppError::Conflict(format!(
                "theme {} is already {}",
                t.number, t.status
            )));
        }
        diesel::update(themes::table.find(&t.id))
            .set(themes::status.eq(ThemeStatus::Dropped))
            .execute(c)?;
        revise(c, &t.id, Change::Dropped, &why, &[], researcher_id)?;
        theme_view(c, &t.id)
    })
}

/// Brings a dropped theme back.
pub fn restore_theme(
    conn: &mut DbConn,
    researcher_id: &str,
    theme_id: &str,
    why: &str,
) -> AppResult<ThemeView> {
    let why = reason("reason", why)?;
    db::write(conn, |c| {
        let t = theme_in_study(c, researcher_id, theme_id)?;
        if t.status != ThemeStatus::Dropped {
            return Err(AppError::Conflict(format!(
                "theme {} is {}, not dropped",
                t.number, t.status
            )));
        }
        check_number_free(c, &t.study_id, t.number, Some(&t.id))?;
        diesel::update(themes::table.find(&t.id))
            .set(themes::status.eq(ACTIVE))
            .execute(c)?;
        revise(c, &t.id, Change::Restored, &why, &[], researcher_id)?;
        theme_view(c, &t.id)
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// Two or more active themes to merge.
    pub theme_ids: Vec<String>,
    pub category_id: String,
    pub number: i32,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The merged theme's statements; by default those of the merged themes, in order.
    #[serde(default)]
    pub statements: Option<Vec<String>>,
    #[serde(default)]
    pub reason: String,
}

/// Merges themes into a new one; the merged themes end with a revision pointing at it.
pub fn merge_themes(
    conn: &mut DbConn,
    researcher_id: &str,
    study_id: &str,
    input: MergeInput,
) -> AppResult<ThemeView> {
    let why = reason("reason", &input.reason)?;
    let mut e = Invalid::new();
    let title = e
        .take(theme_title("title", &input.title))
        .unwrap_or_default();
    let description = e
        .take(theme_description("description", &input.description))
        .unwrap_or_default();
    let number = e
        .take(theme_number("number", input.number))
        .unwrap_or_default();
    if input.theme_ids.len() < 2 {
        e.add("theme_ids", "name at least two themes to merge");
    }
    e.into_result(())?;
    db::write(conn, |c| {
        access(c, researcher_id, study_id, Role::Researcher)?;
        check_category(c, study_id, &input.category_id, "category_id")?;
        let mut sources = Vec::new();
        for id in &input.theme_ids {
            let t = theme_in_study(c, researcher_id, id)?;
            if t.study_id != study_id || t.status != ACTIVE {
                return Err(Invalid::one(
                    "theme_ids",
                    format!("theme {id} is not an active theme of this study"),
                )
                .into());
            }
            sources.push(t);
        }
        let (texts, origins): (Vec<String>, Vec<Option<String>>) = match &input.statements {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, s)| statement_text(&format!("statements[{i}]"), s).map(|t| (t, None)))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .unzip(),
            None => {
                let ids: Vec<String> = sources.iter().map(|t| t.id.clone()).collect();
                let mut all = statements_of(c, &ids)?;
                all.sort_by_key(|s| (ids.iter().position(|i| *i == s.theme_id), s.position));
                all.into_iter().map(|s| (s.text, Some(s.id))).unzip()
            }
        };
        // The sources end first, so the new theme may take one of their numbers.
        for t in &sources {
            diesel::update(themes::table.find(&t.id))
                .set(themes::status.eq(ThemeStatus::Merged))
                .execute(c)?;
        }
        check_number_free(c, study_id, number, None)?;
        let merged = insert_theme(
            c,
            study_id,
            &input.category_id,
            number,
            &title,
            &description,
            &texts,
        )?;
        let source_ids: Vec<String> = sources.iter().map(|t| t.id.clone()).collect();
        let made = statements_of(c, std::slice::from_ref(&merged.id))?;
        carry_links(c, &statement_pairs(&origins, &made))?;
        carry_codings(c, &source_ids, &merged.id, None)?;
        for t in &sources {
            revise(
                c,
                &t.id,
                Change::Merged,
                &why,
                std::slice::from_ref(&merged.id),
                researcher_id,
            )?;
        }
        revise(
            c,
            &merged.id,
            Change::MergedFrom,
            &why,
            &source_ids,
            researcher_id,
        )?;
        theme_view(c, &merged.id)
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitPart {
    pub number: i32,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Defaults to the split theme's category.
    #[serde(default)]
    pub category_id: Option<String>,
    /// Statements of the split theme that go to this part.
    #[serde(default)]
    pub statement_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitInput {
    pub parts: Vec<SplitPart>,
    #[serde(default)]
    pub reason: String,
}

/// Splits a theme into two or more new ones; it ends with a revision pointing at them.
pub fn split_theme(
    conn: &mut DbConn,
    researcher_id: &str,
    theme_id: &str,
    input: SplitInput,
) -> AppResult<Vec<ThemeView>> {
    let why = reason("reason", &input.reason)?;
    if input.parts.len() < 2 {
        return Err(Invalid::one("parts", "a split makes at least two themes").into());
    }
    let mut e = Invalid::new();
    for (i, p) in input.parts.iter().enumerate() {
        e.take(theme_number(&format!("parts[{i}].number"), p.number));
        e.take(theme_title(&format!("parts[{i}].title"), &p.title));
    }
    e.into_result(())?;
    db::write(conn, |c| {
        let t = theme_in_study(c, researcher_id, theme_id)?;
        if t.status != ACTIVE {
            return Err(AppError::Conflict(format!(
                "theme {} is {}",
                t.number, t.status
            )));
        }
        let own = statements_of(c, std::slice::from_ref(&t.id))?;
        diesel::update(themes::table.find(&t.id))
            .set(themes::status.eq(ThemeStatus::Split))
            .execute(c)?;
        let mut made = Vec::new();
        for (i, p) in input.parts.iter().enumerate() {
            let category = p.category_id.clone().unwrap_or(t.category_id.clone());
            check_category(
                c,
                &t.study_id,
                &category,
                &format!("parts[{i}].category_id"),
            )?;
            check_number_free(c, &t.study_id, p.number, None)?;
            let mut texts = Vec::new();
            let mut origins = Vec::new();
            for sid in &p.statement_ids {
                let s = own.iter().find(|s| &s.id == sid).ok_or_else(|| {
                    AppError::Invalid(Invalid::one(
                        format!("parts[{i}].statement_ids"),
                        format!("{sid} is not a statement of this theme"),
                    ))
                })?;
                texts.push(s.text.clone());
                origins.push(Some(s.id.clone()));
            }
            let theme = insert_theme(
                c,
                &t.study_id,
                &category,
                p.number,
                p.title.trim(),
                p.description.trim(),
                &texts,
            )?;
            // A part takes the statements given to it with their passages, and the codings
            // of those passages; the rest stay with the split theme, to be coded again.
            let fresh = statements_of(c, std::slice::from_ref(&theme.id))?;
            carry_links(c, &statement_pairs(&origins, &fresh))?;
            let supported: std::collections::HashSet<String> = statement_excerpts::table
                .filter(statement_excerpts::statement_id.eq_any(&p.statement_ids))
                .select(statement_excerpts::excerpt_id)
                .load::<String>(c)?
                .into_iter()
                .collect();
            carry_codings(c, std::slice::from_ref(&t.id), &theme.id, Some(&supported))?;
            made.push(theme.id);
        }
        revise(c, &t.id, Change::Split, &why, &made, researcher_id)?;
        for id in &made {
            revise(
                c,
                id,
                Change::SplitFrom,
                &why,
                std::slice::from_ref(&t.id),
                researcher_id,
            )?;
        }
        made.iter().map(|id| theme_view(c, id)).collect()
    })
}

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
    researcher_id: &str,
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
        let t = theme_in_study(c, researcher_id, theme_id)?;
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

fn statement_in_study(
    conn: &mut DbConn,
    researcher_id: &str,
    statement_id: &str,
) -> AppResult<(Statement, Theme)> {
    let s: Statement = statements::table
        .find(statement_id)
        .filter(statements::retired_at.is_null())
        .select(Statement::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    let t = theme_in_study(conn, researcher_id, &s.theme_id)?;
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
    researcher_id: &str,
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
    researcher_id: &str,
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
    researcher_id: &str,
    theme_id: &str,
) -> AppResult<Vec<RevisionView>> {
    let t = theme_in_study(conn, researcher_id, theme_id)?;
    revisions_of(conn, &t.id)
}
