//! The report's pages: the funder's page behind a report link (with its downloads), and the
//! researchers' preview with the choices of round, language and composition table, funder links
//! and the release of small cells.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::{InLang, PageResult, page, serde_value};
use crate::ops::AppError;
use crate::ops::reports::{self, ReleaseInput, ReportLinkInput};
use crate::ops::studies;
use crate::report::{Audience, html};
use crate::web::api::reports::{ReportQuery, file};
use crate::web::auth::{CsrfForm, PageResearcher, client_address};
use crate::web::{AppState, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(funder_page)
        .service(funder_file)
        .service(report_page)
        .service(report_action);
}

/// A funder link that does not work: a plain bilingual page, as for experts.
fn bad_link(status: StatusCode) -> HttpResponse {
    super::participant::invalid_link(status)
}

/// Checks the guessing limit before looking a funder link up.
async fn funder_allowed(state: &AppState, req: &HttpRequest) -> bool {
    let address = client_address(req, state.settings.security.trust_forwarded_for);
    !state.link_guesses.is_blocked(&address)
}

fn miss(state: &AppState, req: &HttpRequest) {
    state.link_guesses.record_miss(&client_address(
        req,
        state.settings.security.trust_forwarded_for,
    ));
}

#[get("/f/{token}")]
async fn funder_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> HttpResponse {
    if !funder_allowed(&state, &req).await {
        return bad_link(StatusCode::TOO_MANY_REQUESTS);
    }
    let token = path.into_inner();
    let Ok(opts) = q.options() else {
        return bad_link(StatusCode::NOT_FOUND);
    };
    let downloads = format!("/f/{token}/report");
    let result = state
        .db(move |c| {
            let r = reports::for_funder(c, &token, &opts)?;
            html::document(&r, Audience::Funder, &downloads)
        })
        .await;
    match result {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(AppError::NotFound) => {
            miss(&state, &req);
            bad_link(StatusCode::NOT_FOUND)
        }
        Err(e) => actix_web::ResponseError::error_response(&super::PageError::from(e)),
    }
}

#[get("/f/{token}/report.{ext}")]
async fn funder_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<ReportQuery>,
) -> HttpResponse {
    if !funder_allowed(&state, &req).await {
        return bad_link(StatusCode::TOO_MANY_REQUESTS);
    }
    let (token, ext) = path.into_inner();
    let Ok(opts) = q.options() else {
        return bad_link(StatusCode::NOT_FOUND);
    };
    let table = q.table.clone();
    let downloads = format!("/f/{token}/report");
    let result = state
        .db(move |c| {
            let r = reports::for_funder(c, &token, &opts)?;
            file(&r, &ext, table.as_deref(), Audience::Funder, &downloads)
        })
        .await;
    match result {
        Ok(f) => f.response(),
        Err(AppError::NotFound) => {
            miss(&state, &req);
            bad_link(StatusCode::NOT_FOUND)
        }
        Err(e) => actix_web::ResponseError::error_response(&super::PageError::from(e)),
    }
}

async fn report_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    q: ReportQuery,
    new_link: Option<String>,
) -> PageResult {
    let id = who.researcher.id.clone();
    let opts = q.options().map_err(AppError::Invalid).lang(who)?;
    let downloads = format!("/api/v1/studies/{study_id}/report");
    let result = state
        .db(move |c| {
            let study = studies::get(c, &id, &study_id)?;
            let strata = crate::ops::candidates::get_strata(c, &id, &study_id)?;
            let rounds = crate::ops::rounds::list(c, &id, &study_id)?;
            let links = reports::links(c, &id, &study_id)?;
            let report = match reports::for_researcher(c, &id, &study_id, &opts) {
                Ok(r) => Some(r),
                Err(AppError::Conflict(_)) => None,
                Err(e) => return Err(e),
            };
            let body = match &report {
                Some(r) => Some(html::body(r, Audience::Researcher, &downloads)?),
                None => None,
            };
            Ok((study, strata, rounds, links, report, body))
        })
        .await
        .lang(who)?;
    let (study, strata, rounds, links, report, body) = result;
    page(
        who,
        "study_report.html",
        minijinja::context! {
            study => serde_value(&study), strata => serde_value(&strata),
            rounds => serde_value(&rounds.iter().filter(|r| r.rating && r.state != crate::domain::round::State::Draft).collect::<Vec<_>>()),
            links => serde_value(&links), new_link => new_link,
            composition => report.as_ref().and_then(|r| r.composition.as_ref()).map(serde_value),
            selected_round => report.as_ref().map(|r| r.round.number),
            body => body.map(minijinja::Value::from_safe_string),
            tab => "report",
        },
    )
}

#[get("/studies/{study}/report")]
async fn report_page(
    state: web::Data<AppState>,
    who: PageResearcher,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> PageResult {
    report_view(&state, &who, path.into_inner(), q.into_inner(), None).await
}

#[derive(Deserialize)]
struct ReportForm {
    action: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    link_id: String,
    #[serde(default)]
    table_key: String,
    #[serde(default)]
    cell_key: String,
}

#[post("/studies/{study}/report")]
async fn report_action(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<ReportForm>,
) -> PageResult {
    let study_id = path.into_inner();
    let (id, sid) = (f.who.researcher.id.clone(), study_id.clone());
    let base = state.settings.public_base().to_string();
    let form = &f.form;
    let mut new_link = None;
    match form.action.as_str() {
        "link" => {
            let input = ReportLinkInput {
                label: form.label.clone(),
                expires_at: None,
            };
            let link = state
                .db(move |c| reports::create_link(c, &id, &sid, input, &base))
                .await
                .lang(&f.who)?;
            new_link = link.url;
        }
        "revoke" => {
            let link = form.link_id.clone();
            state
                .db(move |c| reports::revoke_link(c, &id, &link))
                .await
                .lang(&f.who)?;
        }
        "release" | "hide" => {
            let input = ReleaseInput {
                table_key: form.table_key.clone(),
                cell_key: form.cell_key.clone(),
                released: form.action == "release",
                reason: String::new(),
            };
            state
                .db(move |c| reports::set_release(c, &id, &sid, input))
                .await
                .lang(&f.who)?;
            return Ok(see_other(&format!("/studies/{study_id}/report")));
        }
        _ => {
            return Err(AppError::Invalid(crate::domain::Invalid::one(
                "action",
                "unknown action",
            )))
            .lang(&f.who);
        }
    }
    report_view(&state, &f.who, study_id, ReportQuery::default(), new_link).await
}
