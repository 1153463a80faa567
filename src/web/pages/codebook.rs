//! Codebook pages for researchers: categories, themes and statements with their revisions
//! (reword, merge, split, drop) and the evidence behind each theme.

use actix_web::http::StatusCode;
use actix_web::{get, post, web};

use super::rounds::{Form, get, int};
use super::{InLang, PageResult, field_errors, page_with_status, serde_value, study_page};
use crate::db::models::Theme;
use crate::domain::Invalid;
use crate::ops::codebook::{
    self, CategoryInput, MergeInput, SplitInput, SplitPart, StatementInput, StatementPatch,
    ThemeInput, ThemePatch,
};
use crate::ops::{AppError, access, studies};
use crate::web::auth::{CsrfForm, PageResearcher};
use crate::web::flash::{Flash, redirect_with};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(codebook_page)
        .service(add_category)
        .service(add_theme)
        .service(merge)
        .service(theme_page)
        .service(theme_action);
}

async fn codebook_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    status: StatusCode,
    errors: Option<&Invalid>,
    form: Form,
) -> PageResult {
    let p = study_page(state, who, &study_id, |c, id, study_id| {
        codebook::codebook(c, id, study_id, true)
    })
    .await?;
    p.render(
        who,
        status,
        "codebook.html",
        "codebook",
        minijinja::context! { book => serde_value(&p.data), errors => field_errors(who.lang(), errors), form => serde_value(&form) },
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
    let (id, sid) = (f.who.id(), study_id.clone());
    match state
        .db(move |c| codebook::add_category(c, &id, &sid, input))
        .await
    {
        Ok(cat) => Ok(redirect_with(
            &format!("/studies/{study_id}/codebook#cat-{}", cat.id),
            Flash::done("codebook.category_added", &[("title", cat.title)]),
            f.who.secure,
        )),
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
    let (id, sid) = (f.who.id(), study_id.clone());
    match state
        .db(move |c| codebook::add_theme(c, &id, &sid, input))
        .await
    {
        Ok(t) => Ok(redirect_with(
            &format!("/studies/{study_id}/codebook#theme-{}", t.id),
            Flash::done(
                "codebook.theme_added",
                &[("number", t.number.to_string()), ("title", t.title)],
            ),
            f.who.secure,
        )),
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
    let (id, sid) = (f.who.id(), study_id.clone());
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
    let id = who.id();
    let (study, book, revisions, evidence, theme_id) = state
        .db(move |c| {
            let revisions = codebook::revisions(c, &id, &theme_id)?;
            let evidence = crate::ops::coding::theme_evidence(c, &id, &theme_id)?;
            let study_id = access::study_id_of::<Theme>(c, &id, &theme_id)?;
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
            errors => field_errors(who.lang(), errors), tab => "codebook",
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
    let id = f.who.id();
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
            let study = super::study_of::<Theme>(&state, &f.who, &theme_id).await?;
            Ok(redirect_with(
                &format!("/studies/{study}/codebook"),
                Flash::done("codebook.done_split", &[]),
                f.who.secure,
            ))
        }
        Ok(()) => Ok(redirect_with(
            &format!("/themes/{theme_id}"),
            Flash::done(&format!("codebook.done_{action}"), &[]),
            f.who.secure,
        )),
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
