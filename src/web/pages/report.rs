//! The report's pages: the funder's page behind a report link (with its downloads), and the
//! researchers' preview with the choices of round, language and composition table, funder links
//! and the release of small cells.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::{InLang, PageResult, serde_value, study_page};
use crate::ops::AppError;
use crate::ops::funders::{self, ShareInput};
use crate::ops::reports::{self, ReleaseInput, ReportLinkInput};
use crate::report::{Audience, html};
use crate::web::api::reports::{ReportQuery, file};
use crate::web::auth::{CsrfForm, PageResearcher, client_address};
use crate::web::flash::{Flash, redirect_with};
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

/// A funder link that is not known: counted as a guess.
fn miss(state: &AppState, req: &HttpRequest) -> AppError {
    state.link_guesses.miss(&client_address(
        req,
        state.settings.security.trust_forwarded_for,
    ))
}

/// What a funder link's request came to, made into a response by `funder_response`.
async fn funder_result<T: Send + 'static>(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    q: &ReportQuery,
    make: impl FnOnce(&crate::report::Report) -> crate::ops::AppResult<T> + Send + 'static,
) -> Result<T, HttpResponse> {
    let Ok(opts) = q.options() else {
        return Err(bad_link(StatusCode::NOT_FOUND));
    };
    let lang = opts.language;
    let result = state
        .db(move |c| Ok(reports::for_funder(c, &token, &opts)?.map(|r| r.and_then(|r| make(&r)))))
        .await;
    match result {
        Ok(Some(Ok(made))) => Ok(made),
        Ok(None) => Err(bad_link(match miss(state, req) {
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::NOT_FOUND,
        })),
        // A round that exists but is not closed: said plainly, not counted as a guess.
        Ok(Some(Err(AppError::Conflict(_)))) => Err(not_yet(lang)),
        Ok(Some(Err(AppError::NotFound))) => Err(super::error_page(
            StatusCode::NOT_FOUND,
            "",
            lang.map_or("da", |l| l.code()),
        )),
        Ok(Some(Err(e))) | Err(e) => Err(actix_web::ResponseError::error_response(
            &super::PageError::from(e),
        )),
    }
}

/// The funder's page when the round asked for (or every round) is still open.
pub(super) fn not_yet(lang: Option<crate::domain::Language>) -> HttpResponse {
    let l = lang.map_or("da", |l| l.code());
    let mut resp = super::message_page(
        StatusCode::CONFLICT,
        &crate::web::render::text(l, "report.not_available_title"),
        &crate::web::render::text(l, "report.not_available"),
        l,
    );
    resp.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    resp
}

#[get("/f/{token}")]
async fn funder_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> HttpResponse {
    let token = path.into_inner();
    let downloads = format!("/f/{token}/report");
    funder_html(
        funder_result(&state, &req, token, &q, move |r| {
            html::document(r, Audience::Funder, &downloads)
        })
        .await,
    )
}

/// The funder's report page (through a link or an account), or why not. Never cached.
pub(super) fn funder_html(made: Result<String, HttpResponse>) -> HttpResponse {
    match made {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(resp) => resp,
    }
}

/// A download of the funder's report, or why not.
pub(super) fn funder_download(made: Result<crate::report::File, HttpResponse>) -> HttpResponse {
    made.map_or_else(|resp| resp, crate::web::api::reports::respond)
}

#[get("/f/{token}/report.{ext}")]
async fn funder_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<ReportQuery>,
) -> HttpResponse {
    let (token, ext) = path.into_inner();
    let downloads = format!("/f/{token}/report");
    let asked = q.clone();
    funder_download(
        funder_result(&state, &req, token, &q, move |r| {
            file(r, &ext, &asked, Audience::Funder, &downloads)
        })
        .await,
    )
}

async fn report_view(
    state: &AppState,
    who: &PageResearcher,
    study_id: String,
    q: ReportQuery,
    new_link: Option<String>,
) -> PageResult {
    let opts = q.options().map_err(AppError::Invalid).lang(who)?;
    let audience = q.audience().map_err(AppError::Invalid).lang(who)?;
    let downloads = format!("/api/v1/studies/{study_id}/report");
    let again = q.again();
    let view = q.view.clone().unwrap_or_default();
    let mut p = study_page(state, who, &study_id, move |c, id, study_id| {
        let strata = crate::ops::recruitment::get_strata(c, id, study_id)?;
        let rounds = crate::ops::rounds::list(c, id, study_id)?;
        let links = reports::links(c, id, study_id)?;
        let funders = crate::ops::funders::list(c, id, study_id)?;
        let report = match reports::for_researcher(c, id, study_id, &opts, audience) {
            Ok(r) => Some(r),
            Err(AppError::Conflict(_)) => None,
            Err(e) => return Err(e),
        };
        let body = match &report {
            Some(r) => Some(html::body_with(r, audience, &downloads, &again)?),
            None => None,
        };
        Ok((strata, rounds, (links, funders), report, body))
    })
    .await?;
    // The report's HTML is the page's largest part: moved into the page, not copied.
    let body = p.data.4.take();
    let (strata, rounds, (links, funders), report, _) = &p.data;
    p.render(
        who,
        StatusCode::OK,
        "study_report.html",
        "report",
        minijinja::context! {
            strata => serde_value(strata),
            rounds => serde_value(&rounds.iter().filter(|r| r.rating && r.state != crate::domain::round::State::Draft).collect::<Vec<_>>()),
            links => serde_value(links), new_link => new_link, funders => serde_value(funders),
            composition => report.as_ref().and_then(|r| r.composition.as_ref()).map(serde_value),
            selected_round => report.as_ref().map(|r| r.round.number),
            view => view,
            body => body.map(minijinja::Value::from_safe_string),
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
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    funder_id: String,
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
    let (id, sid) = (f.who.id(), study_id.clone());
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
        "share" => {
            let input = ShareInput {
                email: form.email.clone(),
                name: form.name.clone(),
                language: None,
            };
            let env = state.mail.clone();
            let shared = state
                .db(move |c| funders::share(c, &env, &id, &sid, input))
                .await
                .lang(&f.who)?;
            return Ok(redirect_with(
                &format!("/studies/{study_id}/report#funders-h"),
                Flash::done(
                    if shared.active {
                        "report_page.shared"
                    } else {
                        "report_page.shared_new"
                    },
                    &[("name", shared.name), ("email", shared.email)],
                ),
                f.who.secure,
            ));
        }
        "withdraw" => {
            let funder = form.funder_id.clone();
            state
                .db(move |c| funders::withdraw(c, &id, &sid, &funder))
                .await
                .lang(&f.who)?;
            return Ok(redirect_with(
                &format!("/studies/{study_id}/report#funders-h"),
                Flash::done("report_page.withdrawn", &[]),
                f.who.secure,
            ));
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
