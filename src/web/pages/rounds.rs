//! Codebook and rounds pages for researchers: categories, themes and statements with their
//! revisions (reword, merge, split, drop); rounds with their deadline, opening and closing, the
//! response progress and the comments and proposals between rounds.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::{InLang, PageResult, field_errors, page_with_status, serde_value};
use crate::domain::Invalid;
use crate::domain::round::{Kind, RoundInput};
use crate::ops::AppError;
use crate::ops::codebook::{
    self, CategoryInput, MergeInput, SplitInput, SplitPart, StatementInput, StatementPatch,
    ThemeInput, ThemePatch,
};
use crate::ops::rounds::{self, RoundPatch};
use crate::ops::studies;
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(codebook_page)
        .service(add_category)
        .service(add_theme)
        .service(merge)
        .service(theme_page)
        .service(theme_action)
        .service(rounds_page)
        .service(create_round)
        .service(round_page)
        .service(round_action);
}

type Form = BTreeMap<String, String>;

fn get(f: &Form, k: &str) -> String {
    f.get(k).cloned().unwrap_or_default()
}

fn int(e: &mut Invalid, field: &str, v: &str) -> i32 {
    v.trim().parse().unwrap_or_else(|_| {
        e.add(field, "must be a whole number");
        0
    })
}

async fn codebook_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    form: Form,
) -> PageResult {
    let id = who.researcher.id.clone();
    let (study, book) = state
        .db(move |c| {
            Ok((
                studies::get(c, &id, &study_id)?,
                codebook::codebook(c, &id, &study_id, true)?,
            ))
        })
        .await
        .lang(who)?;
    page_with_status(
        who,
        status,
        "codebook.html",
        minijinja::context! { study => serde_value(&study), book => serde_value(&book), errors => field_errors(errors), form => serde_value(&form), tab => "codebook" },
    )
}

#[get("/studies/{study}/codebook")]
async fn codebook_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    codebook_view(
        &state,
        &who,
        path.into_inner(),
        StatusCode::OK,
        None,
        Form::new(),
    )
    .await
}

#[post("/studies/{study}/categories")]
async fn add_category(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Form>,
) -> PageResult {
    let study_id = path.into_inner();
    let input = CategoryInput {
        code: get(&f.form, "code"),
        title: get(&f.form, "title"),
        position: None,
    };
    let (id, sid) = (f.who.researcher.id.clone(), study_id.clone());
    match state
        .db(move |c| codebook::add_category(c, &id, &sid, input))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/studies/{study_id}/codebook"))),
        Err(AppError::Invalid(inv)) => {
            codebook_view(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                f.form.clone(),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[post("/studies/{study}/themes")]
async fn add_theme(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Form>,
) -> PageResult {
    let study_id = path.into_inner();
    let mut e = Invalid::new();
    let number = int(&mut e, "number", &get(&f.form, "number"));
    if !e.is_empty() {
        return codebook_view(
            &state,
            &f.who,
            study_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&e),
            f.form.clone(),
        )
        .await;
    }
    let input = ThemeInput {
        category_id: get(&f.form, "category_id"),
        number,
        title: get(&f.form, "title"),
        description: get(&f.form, "description"),
        statements: get(&f.form, "statements")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    };
    let (id, sid) = (f.who.researcher.id.clone(), study_id.clone());
    match state
        .db(move |c| codebook::add_theme(c, &id, &sid, input))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/studies/{study_id}/codebook"))),
        Err(AppError::Invalid(inv)) => {
            codebook_view(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                f.form.clone(),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

#[post("/studies/{study}/themes/merge")]
async fn merge(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let study_id = path.into_inner();
    let form: Form = f
        .form
        .iter()
        .filter(|(k, _)| k != "theme_ids")
        .cloned()
        .collect();
    let ids: Vec<String> = f
        .form
        .iter()
        .filter(|(k, _)| k == "theme_ids")
        .map(|(_, v)| v.clone())
        .collect();
    let mut e = Invalid::new();
    let number = int(&mut e, "number", &get(&form, "number"));
    if !e.is_empty() {
        return codebook_view(
            &state,
            &f.who,
            study_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&e),
            form,
        )
        .await;
    }
    let input = MergeInput {
        theme_ids: ids,
        category_id: get(&form, "category_id"),
        number,
        title: get(&form, "title"),
        description: String::new(),
        statements: None,
        reason: get(&form, "reason"),
    };
    let (id, sid) = (f.who.researcher.id.clone(), study_id.clone());
    match state
        .db(move |c| codebook::merge_themes(c, &id, &sid, input))
        .await
    {
        Ok(t) => Ok(see_other(&format!("/themes/{}", t.id))),
        Err(AppError::Invalid(inv)) => {
            codebook_view(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                form,
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

async fn theme_view(
    state: &AppState,
    who: &PageResearcher,
    theme_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
) -> PageResult {
    let id = who.researcher.id.clone();
    let (study, book, revisions, evidence, theme_id) = state
        .db(move |c| {
            let revisions = codebook::revisions(c, &id, &theme_id)?;
            let evidence = crate::ops::coding::theme_evidence(c, &id, &theme_id)?;
            use diesel::prelude::*;
            let study_id: String = crate::db::schema::themes::table
                .find(&theme_id)
                .select(crate::db::schema::themes::study_id)
                .first(c)?;
            Ok((
                studies::get(c, &id, &study_id)?,
                codebook::codebook(c, &id, &study_id, true)?,
                revisions,
                evidence,
                theme_id,
            ))
        })
        .await
        .lang(who)?;
    let theme = book
        .categories
        .iter()
        .flat_map(|c| c.themes.iter())
        .find(|t| t.id == theme_id)
        .cloned()
        .ok_or(AppError::NotFound)
        .lang(who)?;
    page_with_status(
        who,
        status,
        "theme.html",
        minijinja::context! {
            study => serde_value(&study), book => serde_value(&book), theme => serde_value(&theme),
            revisions => serde_value(&revisions), evidence => serde_value(&evidence),
            errors => field_errors(errors), tab => "codebook",
        },
    )
}

#[get("/themes/{theme}")]
async fn theme_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    theme_view(&state, &who, path.into_inner(), StatusCode::OK, None).await
}

/// Every change to a theme through one form endpoint: `action` says which.
#[post("/themes/{theme}")]
async fn theme_action(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let theme_id = path.into_inner();
    let form: Form = f.form.iter().cloned().collect();
    let id = f.who.researcher.id.clone();
    let tid = theme_id.clone();
    let action = get(&form, "action");
    let reason = get(&form, "reason");
    let mut e = Invalid::new();
    let result: Result<(), AppError> = match action.as_str() {
        "update" => {
            let number = int(&mut e, "number", &get(&form, "number"));
            if !e.is_empty() {
                Err(AppError::Invalid(e))
            } else {
                let patch = ThemePatch {
                    title: Some(get(&form, "title")),
                    description: Some(get(&form, "description")),
                    category_id: Some(get(&form, "category_id")),
                    number: Some(number),
                    reason,
                };
                state
                    .db(move |c| codebook::update_theme(c, &id, &tid, patch).map(|_| ()))
                    .await
            }
        }
        "add_statement" => {
            let input = StatementInput {
                letter: None,
                text: get(&form, "text"),
                reason,
            };
            state
                .db(move |c| codebook::add_statement(c, &id, &tid, input).map(|_| ()))
                .await
        }
        "edit_statement" => {
            let sid = get(&form, "statement_id");
            let patch = StatementPatch {
                text: get(&form, "text"),
                reason,
            };
            state
                .db(move |c| codebook::update_statement(c, &id, &sid, patch).map(|_| ()))
                .await
        }
        "link_evidence" => {
            let sid = get(&form, "statement_id");
            let input = crate::ops::coding::EvidenceInput {
                excerpt_ids: f
                    .form
                    .iter()
                    .filter(|(k, _)| k == "excerpt")
                    .map(|(_, v)| v.clone())
                    .collect(),
            };
            state
                .db(move |c| crate::ops::coding::link_statement(c, &id, &sid, input))
                .await
        }
        "remove_statement" => {
            let sid = get(&form, "statement_id");
            state
                .db(move |c| codebook::remove_statement(c, &id, &sid, &reason))
                .await
        }
        "drop" => {
            state
                .db(move |c| codebook::drop_theme(c, &id, &tid, &reason).map(|_| ()))
                .await
        }
        "restore" => {
            state
                .db(move |c| codebook::restore_theme(c, &id, &tid, &reason).map(|_| ()))
                .await
        }
        "split" => {
            let mut parts = Vec::new();
            for i in 0..2 {
                let number = int(
                    &mut e,
                    &format!("parts[{i}].number"),
                    &get(&form, &format!("part{i}.number")),
                );
                let statement_ids = f
                    .form
                    .iter()
                    .filter(|(k, v)| k.starts_with("statement.") && *v == i.to_string())
                    .map(|(k, _)| k.trim_start_matches("statement.").to_string())
                    .collect();
                parts.push(SplitPart {
                    number,
                    title: get(&form, &format!("part{i}.title")),
                    description: String::new(),
                    category_id: None,
                    statement_ids,
                });
            }
            if !e.is_empty() {
                Err(AppError::Invalid(e))
            } else {
                let input = SplitInput { parts, reason };
                state
                    .db(move |c| codebook::split_theme(c, &id, &tid, input).map(|_| ()))
                    .await
            }
        }
        _ => Err(AppError::Invalid(Invalid::one("action", "unknown action"))),
    };
    match result {
        Ok(()) if action == "split" => {
            let study = study_of_theme(&state, &f.who, &theme_id).await?;
            Ok(see_other(&format!("/studies/{study}/codebook")))
        }
        Ok(()) => Ok(see_other(&format!("/themes/{theme_id}"))),
        Err(AppError::Invalid(inv)) => {
            theme_view(
                &state,
                &f.who,
                theme_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            theme_view(
                &state,
                &f.who,
                theme_id,
                StatusCode::CONFLICT,
                Some(&Invalid::one("theme", m)),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

async fn study_of_theme(
    state: &AppState,
    who: &PageResearcher,
    theme_id: &str,
) -> Result<String, super::PageError> {
    let tid = theme_id.to_string();
    state
        .db(move |c| {
            use diesel::prelude::*;
            Ok(crate::db::schema::themes::table
                .find(&tid)
                .select(crate::db::schema::themes::study_id)
                .first::<String>(c)?)
        })
        .await
        .lang(who)
}

async fn rounds_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    form: Form,
) -> PageResult {
    let id = who.researcher.id.clone();
    let (study, list, themes) = state
        .db(move |c| {
            Ok((
                studies::get(c, &id, &study_id)?,
                rounds::list(c, &id, &study_id)?,
                rounds::active_theme_count(c, &study_id)?,
            ))
        })
        .await
        .lang(who)?;
    page_with_status(
        who,
        status,
        "rounds.html",
        minijinja::context! { study => serde_value(&study), rounds => serde_value(&list), themes => themes, errors => field_errors(errors), form => serde_value(&form), tab => "rounds" },
    )
}

#[get("/studies/{study}/rounds")]
async fn rounds_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    rounds_view(
        &state,
        &who,
        path.into_inner(),
        StatusCode::OK,
        None,
        Form::new(),
    )
    .await
}

/// A `datetime-local` value, read as UTC.
fn deadline(e: &mut Invalid, v: &str) -> Option<chrono::DateTime<Utc>> {
    utc_input(e, "closes_at", v)
}

/// A `datetime-local` field read as UTC; empty is none, anything else unreadable an error.
pub(super) fn utc_input(e: &mut Invalid, field: &str, v: &str) -> Option<chrono::DateTime<Utc>> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
    {
        Ok(t) => Some(Utc.from_utc_datetime(&t)),
        Err(_) => {
            e.add(field, "must be a date and time");
            None
        }
    }
}

#[post("/studies/{study}/rounds")]
async fn create_round(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Form>,
) -> PageResult {
    let study_id = path.into_inner();
    let mut e = Invalid::new();
    let closes_at = deadline(&mut e, &get(&f.form, "closes_at"));
    let kind = if Kind::parse(&get(&f.form, "kind")) == Some(Kind::Qualitative) {
        Kind::Qualitative
    } else {
        Kind::Rating
    };
    let on = |k: &str| f.form.contains_key(k);
    let input = RoundInput {
        kind,
        validation: kind == Kind::Rating && on("validation"),
        rating: kind == Kind::Rating && on("rating"),
        feedback: kind == Kind::Rating && on("feedback"),
        questionnaire: kind == Kind::Qualitative && on("questionnaire"),
        closes_at,
        instructions: get(&f.form, "instructions"),
        reminder_days: None,
    };
    if !e.is_empty() {
        return rounds_view(
            &state,
            &f.who,
            study_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&e),
            f.form.clone(),
        )
        .await;
    }
    let (id, sid) = (f.who.researcher.id.clone(), study_id.clone());
    match state.db(move |c| rounds::create(c, &id, &sid, input)).await {
        Ok(r) => Ok(see_other(&format!("/rounds/{}", r.id))),
        Err(AppError::Invalid(inv)) => {
            rounds_view(
                &state,
                &f.who,
                study_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                f.form.clone(),
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}

async fn round_view(
    state: &AppState,
    who: &PageResearcher,
    round_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    notice: Option<String>,
) -> PageResult {
    let id = who.researcher.id.clone();
    let (responses, study) = state
        .db(move |c| {
            let r = rounds::responses(c, &id, &round_id)?;
            use diesel::prelude::*;
            let study_id: String = crate::db::schema::rounds::table
                .find(&round_id)
                .select(crate::db::schema::rounds::study_id)
                .first(c)?;
            Ok((r, studies::get(c, &id, &study_id)?))
        })
        .await
        .lang(who)?;
    page_with_status(
        who,
        status,
        "round.html",
        minijinja::context! { study => serde_value(&study), r => serde_value(&responses), errors => field_errors(errors), notice => notice, tab => "rounds" },
    )
}

#[get("/rounds/{round}")]
async fn round_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
) -> PageResult {
    round_view(&state, &who, path.into_inner(), StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct RoundActionForm {
    action: String,
    #[serde(default)]
    closes_at: String,
    #[serde(default)]
    answer_id: String,
}

#[post("/rounds/{round}")]
async fn round_action(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<RoundActionForm>,
) -> PageResult {
    let round_id = path.into_inner();
    let (id, rid, env) = (
        f.who.researcher.id.clone(),
        round_id.clone(),
        state.mail.clone(),
    );
    let lang = f.who.lang().to_string();
    let result: Result<Option<String>, AppError> = match f.form.action.as_str() {
        "open" => state
            .db(move |c| rounds::open(c, &env, &id, &rid))
            .await
            .map(|o| {
                Some(crate::web::render::text_with(
                    &lang,
                    "rounds.opened",
                    &[("n", o.queued.to_string())],
                ))
            }),
        "close" => state
            .db(move |c| rounds::close(c, &id, &rid))
            .await
            .map(|_| None),
        "deadline" => {
            let mut e = Invalid::new();
            let closes_at = deadline(&mut e, &f.form.closes_at);
            if !e.is_empty() || closes_at.is_none() {
                Err(AppError::Invalid(if e.is_empty() {
                    Invalid::one("closes_at", "must be a date and time")
                } else {
                    e
                }))
            } else {
                let patch = RoundPatch {
                    closes_at,
                    ..Default::default()
                };
                state
                    .db(move |c| rounds::update(c, &env, &id, &rid, patch))
                    .await
                    .map(|_| None)
            }
        }
        "clear" | "unclear" => {
            let (answer, cleared) = (f.form.answer_id.clone(), f.form.action == "clear");
            state
                .db(move |c| rounds::clear_comment(c, &id, &answer, cleared))
                .await
                .map(|_| None)
        }
        _ => Err(AppError::Invalid(Invalid::one("action", "unknown action"))),
    };
    match result {
        Ok(notice) => {
            state.wake_worker();
            round_view(&state, &f.who, round_id, StatusCode::OK, None, notice).await
        }
        Err(AppError::Invalid(inv)) => {
            round_view(
                &state,
                &f.who,
                round_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&inv),
                None,
            )
            .await
        }
        Err(AppError::Conflict(m)) => {
            round_view(
                &state,
                &f.who,
                round_id,
                StatusCode::CONFLICT,
                Some(&Invalid::one("round", m)),
                None,
            )
            .await
        }
        Err(e) => Err(e).lang(&f.who),
    }
}
