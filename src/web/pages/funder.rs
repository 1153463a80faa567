//! A funder's account in the browser: choosing a password through the e-mailed link, the list
//! of reports shared with the account, each report exactly as a funder link shows it (with its
//! downloads), the account's language and logging out. Nothing here reads a researcher's
//! session, and no researcher's page reads a funder's.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::{PageError, PageResult, safe_next, serde_value};
use crate::db::models::Funder;
use crate::ops::funders;
use crate::ops::secret::new_token;
use crate::ops::{AppError, AppResult};
use crate::report::Audience;
use crate::web::api::reports::{ReportQuery, file};
use crate::web::auth::{
    FUNDER_COOKIE, LOGIN_CSRF_COOKIE, LocalFuture, client_address, cookie, echoes_form_cookie,
    login_redirect, removal_cookie, same_secret, state,
};
use crate::web::flash::{Flash, redirect_with};
use crate::web::render::{Html, pages, text};
use crate::web::{AppState, language, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(report)
        .service(report_file)
        .service(logout)
        .service(set_language)
        .service(welcome_form)
        .service(welcome);
}

/// A funder logged in to their account; without a session, the page redirects to the login.
pub struct PageFunder {
    pub funder: Funder,
    pub csrf: String,
    pub flash: Option<Flash>,
    pub secure: bool,
}

impl PageFunder {
    pub fn lang(&self) -> &str {
        language::known(&self.funder.locale).unwrap_or("da")
    }

    /// Whether a form carries this session's CSRF token.
    fn sent(&self, csrf: &str) -> Result<(), PageError> {
        if same_secret(csrf, &self.csrf) {
            Ok(())
        } else {
            Err(
                PageError::from(AppError::Forbidden(text(self.lang(), "error.csrf")))
                    .in_lang(self.lang()),
            )
        }
    }
}

impl FromRequest for PageFunder {
    type Error = PageError;
    type Future = LocalFuture<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req);
            let Some(raw) = req.cookie(FUNDER_COOKIE).map(|c| c.value().to_string()) else {
                return Err(login_redirect(&req));
            };
            let length = chrono::Duration::hours(state.settings.server.session_hours);
            match state.db(move |c| funders::session(c, &raw, length)).await {
                Ok(Some((session, funder))) => {
                    language::reads(&funder.locale);
                    Ok(PageFunder {
                        funder,
                        csrf: session.csrf_token,
                        flash: Flash::of(&req),
                        secure: state.settings.is_https(),
                    })
                }
                Ok(None) => Err(login_redirect(&req)),
                Err(e) => Err(PageError::from(e)),
            }
        })
    }
}

/// A page of the funder's account, in the account's language.
fn funder_page(
    state: &AppState,
    who: &PageFunder,
    name: &str,
    ctx: minijinja::Value,
) -> PageResult {
    let flash = who.flash.as_ref().and_then(|f| f.say(who.lang()));
    let base = minijinja::context! {
        lang => who.lang(),
        tz => state.settings.time_zone().name(),
        csrf => who.csrf.clone(),
        funder => minijinja::context! { name => who.funder.name.clone(), email => who.funder.email.clone() },
        flash => flash.as_ref().map(serde_value),
    };
    let ctx = minijinja::context! { ..ctx, ..base };
    let mut resp = pages()
        .html(StatusCode::OK, name, ctx)
        .map_err(|e| PageError::from(e).in_lang(who.lang()))?;
    if who.flash.is_some() {
        let _ = resp.add_cookie(&crate::web::flash::said(who.secure));
    }
    Ok(resp)
}

#[get("/funder")]
async fn home(state: web::Data<AppState>, who: PageFunder) -> PageResult {
    let funder = who.funder.clone();
    let studies = state
        .db(move |c| funders::shared_with(c, &funder))
        .await
        .map_err(|e| PageError::from(e).in_lang(who.lang()))?;
    funder_page(
        &state,
        &who,
        "funder_home.html",
        minijinja::context! { studies => serde_value(&studies) },
    )
}

/// A shared study's report, built and recorded as viewed, or the response that says why not.
async fn shared_report<T: Send + 'static>(
    state: &AppState,
    who: &PageFunder,
    study_id: String,
    q: &ReportQuery,
    make: impl FnOnce(&crate::report::Report) -> AppResult<T> + Send + 'static,
) -> Result<T, HttpResponse> {
    let lang = who.lang().to_string();
    let Ok(opts) = q.options() else {
        return Err(super::error_page(StatusCode::NOT_FOUND, "", &lang));
    };
    let report_lang = opts.language;
    let funder = who.funder.clone();
    let result = state
        .db(move |c| funders::report(c, &funder, &study_id, &opts).and_then(|r| make(&r)))
        .await;
    match result {
        Ok(made) => Ok(made),
        // Not shared, withdrawn, or no such study: the same answer, so nothing is learnt.
        Err(AppError::NotFound) => Err(super::error_page(StatusCode::NOT_FOUND, "", &lang)),
        Err(AppError::Conflict(_)) => Err(super::report::not_yet(
            report_lang.or(crate::domain::Language::parse("lang", &lang).ok()),
        )),
        Err(e) => Err(actix_web::ResponseError::error_response(
            &PageError::from(e).in_lang(&lang),
        )),
    }
}

#[get("/funder/studies/{study}")]
async fn report(
    state: web::Data<AppState>,
    who: PageFunder,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> HttpResponse {
    let study = path.into_inner();
    let downloads = format!("/funder/studies/{study}/report");
    let account = minijinja::context! { name => who.funder.name.clone(), csrf => who.csrf.clone() };
    super::report::funder_html(
        shared_report(&state, &who, study, &q, move |r| {
            crate::report::html::document_for_account(r, &downloads, account)
        })
        .await,
    )
}

#[get("/funder/studies/{study}/report.{ext}")]
async fn report_file(
    state: web::Data<AppState>,
    who: PageFunder,
    path: web::Path<(String, String)>,
    q: web::Query<ReportQuery>,
) -> HttpResponse {
    let (study, ext) = path.into_inner();
    let downloads = format!("/funder/studies/{study}/report");
    let asked = q.clone();
    super::report::funder_download(
        shared_report(&state, &who, study, &q, move |r| {
            file(r, &ext, &asked, Audience::Funder, &downloads)
        })
        .await,
    )
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

#[post("/funder/logout")]
async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: PageFunder,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    who.sent(&form.csrf)?;
    if let Some(raw) = req.cookie(FUNDER_COOKIE).map(|c| c.value().to_string()) {
        state
            .db(move |c| funders::logout(c, &raw))
            .await
            .map_err(PageError::from)?;
    }
    let mut resp = see_other("/login");
    let _ = resp.add_cookie(&removal_cookie(FUNDER_COOKIE, who.secure));
    Ok(resp)
}

#[derive(Deserialize)]
struct LanguageForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    language: String,
    #[serde(default)]
    back: String,
}

#[post("/funder/language")]
async fn set_language(
    state: web::Data<AppState>,
    who: PageFunder,
    form: web::Form<LanguageForm>,
) -> PageResult {
    who.sent(&form.csrf)?;
    let (id, lang) = (who.funder.id.clone(), form.language.clone());
    state
        .db(move |c| funders::set_locale(c, &id, &lang))
        .await
        .map_err(|e| PageError::from(e).in_lang(who.lang()))?;
    let back = safe_next(&form.back);
    Ok(see_other(if back.starts_with("/funder") {
        back
    } else {
        "/funder"
    }))
}

/// The page that sets a new funder's password; a link that does not work says so in both
/// languages, like an expert's.
#[get("/funder/welcome/{token}")]
async fn welcome_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let raw = path.into_inner();
    let found = state
        .db(move |c| funders::by_setup_link(c, &raw))
        .await
        .map_err(PageError::from)?;
    match found {
        Some(f) => welcome_page(&state, &f, StatusCode::OK, None),
        None => Ok(unknown_link(&state, &req)),
    }
}

/// A password link that does not work: counted as a guess, like any unknown link.
fn unknown_link(state: &AppState, req: &HttpRequest) -> HttpResponse {
    let address = client_address(req, state.settings.security.trust_forwarded_for);
    let status = match state.link_guesses.miss(&address) {
        AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::NOT_FOUND,
    };
    super::participant::invalid_link(status)
}

fn welcome_page(
    state: &AppState,
    f: &Funder,
    status: StatusCode,
    error: Option<String>,
) -> PageResult {
    // No session yet: the form's CSRF token is a cookie it must echo, as on the login page.
    let csrf = new_token();
    let lang = language::known(&f.locale).unwrap_or("da");
    let ctx = minijinja::context! {
        lang => lang, csrf => csrf.clone(), name => f.name.clone(), email => f.email.clone(),
        funder_area => true,
        error => error, min => crate::ops::accounts::MIN_PASSWORD_CHARS,
    };
    let mut resp = pages()
        .html(status, "funder_welcome.html", ctx)
        .map_err(|e| PageError::from(e).in_lang(lang))?;
    let _ = resp.add_cookie(&cookie(LOGIN_CSRF_COOKIE, csrf, state.settings.is_https()));
    Ok(resp)
}

#[derive(Deserialize)]
struct WelcomeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

#[post("/funder/welcome/{token}")]
async fn welcome(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<WelcomeForm>,
) -> PageResult {
    let raw = path.into_inner();
    let lookup = raw.clone();
    let Some(f) = state
        .db(move |c| funders::by_setup_link(c, &lookup))
        .await
        .map_err(PageError::from)?
    else {
        return Ok(unknown_link(&state, &req));
    };
    let lang = language::known(&f.locale).unwrap_or("da");
    if !echoes_form_cookie(&req, &form.csrf) {
        return welcome_page(
            &state,
            &f,
            StatusCode::FORBIDDEN,
            Some(text(lang, "error.csrf")),
        );
    }
    if form.password != form.again {
        let error = text(lang, "funder.passwords_differ");
        return welcome_page(&state, &f, StatusCode::UNPROCESSABLE_ENTITY, Some(error));
    }
    let length = chrono::Duration::hours(state.settings.server.session_hours);
    let password = form.password.clone();
    match state
        .db(move |c| funders::set_password(c, &raw, &password, length))
        .await
    {
        Ok(Some(session)) => {
            let secure = state.settings.is_https();
            let mut resp =
                redirect_with("/funder", Flash::done("funder.password_set", &[]), secure);
            let _ = resp.add_cookie(&cookie(FUNDER_COOKIE, session, secure));
            let _ = resp.add_cookie(&removal_cookie(LOGIN_CSRF_COOKIE, secure));
            Ok(resp)
        }
        Ok(None) => Ok(super::participant::invalid_link(StatusCode::NOT_FOUND)),
        Err(AppError::Invalid(inv)) => welcome_page(
            &state,
            &f,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(inv.say(lang)),
        ),
        Err(e) => Err(PageError::from(e).in_lang(lang)),
    }
}
