//! Themes: numbered, revised with a reason and a snapshot, merged, split, dropped and restored, with their codings and evidence carried along.

use diesel::prelude::*;
use serde::Deserialize;

use crate::db::models::{Coding, Statement, StatementExcerpt, Theme};
use crate::db::schema::{categories, codings, statement_excerpts, statements, themes};
use crate::db::{self, DbConn, new_id, now};
use crate::domain::Invalid;
use crate::domain::codebook::{
    Change, letter, reason, statement_text, theme_description, theme_number, theme_title,
};
use crate::domain::states::ThemeStatus;
use crate::ops::access::{self, ResearcherId, Role};
use crate::ops::{Actor, AppError, AppResult, audit};

use super::*;

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

pub(super) fn insert_statement(
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
    researcher_id: &ResearcherId,
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
        access::study(c, researcher_id, study_id, Role::Researcher)?;
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
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::ThemeCreated,
            Some(&theme.id),
            serde_json::json!({ "number": number }),
        )?;
        theme_view(c, &theme.id)
    })
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
    researcher_id: &ResearcherId,
    theme_id: &str,
    patch: ThemePatch,
) -> AppResult<ThemeView> {
    let why = reason("reason", &patch.reason)?;
    db::write(conn, |c| {
        let (t, _) = access::in_study::<Theme>(c, researcher_id, theme_id, Role::Researcher)?;
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
    researcher_id: &ResearcherId,
    theme_id: &str,
    why: &str,
) -> AppResult<ThemeView> {
    let why = reason("reason", why)?;
    db::write(conn, |c| {
        let (t, _) = access::in_study::<Theme>(c, researcher_id, theme_id, Role::Researcher)?;
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
    researcher_id: &ResearcherId,
    theme_id: &str,
    why: &str,
) -> AppResult<ThemeView> {
    let why = reason("reason", why)?;
    db::write(conn, |c| {
        let (t, _) = access::in_study::<Theme>(c, researcher_id, theme_id, Role::Researcher)?;
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
    researcher_id: &ResearcherId,
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
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        check_category(c, study_id, &input.category_id, "category_id")?;
        let mut sources = Vec::new();
        for id in &input.theme_ids {
            let (t, _) = access::in_study::<Theme>(c, researcher_id, id, Role::Researcher)?;
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
    researcher_id: &ResearcherId,
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
        let (t, _) = access::in_study::<Theme>(c, researcher_id, theme_id, Role::Researcher)?;
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
