//! Logging in and out, the researcher's language, and API tokens in the browser.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;

use super::{InLang, PageError, PageResult, page, safe_next, serde_value};
use crate::db::utc;
use crate::i18n::messages;
use crate::ops::AppError;
use crate::ops::access::ResearcherId;
use crate::ops::accounts::{self, LoggedIn, LoginLimits};
use crate::ops::secret::new_token;
use crate::web::auth::{
    CSRF_FIELD, CsrfForm, FUNDER_COOKIE, LOGIN_CSRF_COOKIE, PageResearcher, SESSION_COOKIE,
    client_address, cookie, echoes_form_cookie, removal_cookie,
};
use crate::web::render::{Html, pages, text};
use crate::web::{AppState, language, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login_form_route)
        .service(login_route)
        .service(logout_route)
        .service(tokens_route)
        .service(create_token_route)
        .service(revoke_token_route)
        .service(set_language_route);
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

struct LoginPage<'a> {
    lang: &'static str,
    /// A language the visitor has just chosen, to remember on this browser.
    chosen: Option<&'static str>,
    status: StatusCode,
    next: &'a str,
    email: &'a str,
    error: Option<String>,
}

fn login_page(state: &AppState, p: LoginPage<'_>) -> PageResult {
    // The login form has no session yet: its CSRF token is a cookie the form must echo.
    let csrf = new_token();
    let switch = |lang: &str| {
        format!(
            "/login?{}",
            serde_urlencoded::to_string([("lang", lang), ("next", p.next)]).unwrap_or_default()
        )
    };
    let languages: Vec<_> = language::LANGUAGES
        .into_iter()
        .map(|l| minijinja::context! { code => l, name => text(l, &format!("lang.{l}")), href => switch(l) })
        .collect();
    let ctx = minijinja::context! {
        lang => p.lang, csrf => csrf.clone(), next => p.next, email => p.email, error => p.error,
        languages => languages,
    };
    let secure = state.settings.is_https();
    let mut resp = pages().html(p.status, "login.html", ctx)?;
    resp.add_cookie(&cookie(LOGIN_CSRF_COOKIE, csrf, secure))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
    // A choice holds for the answer to the form, the account and the next visit.
    if let Some(lang) = p.chosen {
        resp.add_cookie(&language::choice_cookie(lang, secure))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    Ok(resp)
}

#[get("/login")]
async fn login_form_route(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LoginQuery>,
) -> PageResult {
    let next = safe_next(q.next.as_deref().unwrap_or("/studies")).to_string();
    let lang = language::of_visitor(&req, q.lang.as_deref());
    login_page(
        &state,
        LoginPage {
            lang,
            chosen: q.lang.as_deref().and_then(language::known),
            status: StatusCode::OK,
            next: &next,
            email: "",
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[post("/login")]
async fn login_route(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> PageResult {
    let form = form.into_inner();
    let next = safe_next(&form.next).to_string();
    let lang = language::of_visitor(&req, None);
    let refused = |status, error| LoginPage {
        lang,
        chosen: None,
        status,
        next: &next,
        email: &form.email,
        error: Some(error),
    };
    if !echoes_form_cookie(&req, &form.csrf) {
        let error = text(lang, "error.csrf");
        return login_page(&state, refused(StatusCode::FORBIDDEN, error));
    }
    let s = &state.settings.security;
    let limits = LoginLimits {
        per_account: s.login_failures_per_account,
        per_address: s.login_failures_per_address,
        window: chrono::Duration::minutes(s.login_window_minutes),
    };
    let length = chrono::Duration::hours(state.settings.server.session_hours);
    let address = client_address(&req, s.trust_forwarded_for);
    let (email, password) = (form.email.clone(), form.password);
    // A language chosen on this browser's login page becomes the account's language.
    let chosen = language::chosen(&req);
    let result = state
        .db(move |c| {
            let (who, raw) = accounts::login(c, limits, length, &email, &password, &address)?;
            if let Some(lang) = chosen {
                match &who {
                    LoggedIn::Researcher(id) => {
                        accounts::set_locale(c, &ResearcherId::authenticated(id.clone()), lang)?
                    }
                    LoggedIn::Funder(id) => crate::ops::funders::set_locale(c, id, lang)?,
                }
            }
            Ok((who, raw))
        })
        .await;
    match result {
        Ok((who, raw)) => {
            let secure = state.settings.is_https();
            // A funder's account has its own pages and its own cookie; a researcher's pages
            // never see it.
            let (to, name) = match who {
                LoggedIn::Researcher(_) => (next.as_str(), SESSION_COOKIE),
                LoggedIn::Funder(_) if next.starts_with("/funder") => {
                    (next.as_str(), FUNDER_COOKIE)
                }
                LoggedIn::Funder(_) => ("/funder", FUNDER_COOKIE),
            };
            let mut resp = see_other(to);
            let _ = resp.add_cookie(&cookie(name, raw, secure));
            let _ = resp.add_cookie(&removal_cookie(LOGIN_CSRF_COOKIE, secure));
            Ok(resp)
        }
        Err(AppError::Unauthenticated) => login_page(
            &state,
            refused(StatusCode::UNAUTHORIZED, text(lang, "login.wrong")),
        ),
        Err(AppError::TooManyRequests(m)) => login_page(
            &state,
            refused(StatusCode::TOO_MANY_REQUESTS, messages::say(lang, &m)),
        ),
        Err(e) => Err(PageError::from(e).in_lang(lang)),
    }
}

#[derive(Deserialize)]
struct Empty {}

#[post("/logout")]
async fn logout_route(
    state: web::Data<AppState>,
    req: HttpRequest,
    _form: CsrfForm<Empty>,
) -> PageResult {
    if let Some(raw) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) {
        state.db(move |c| accounts::logout(c, &raw)).await?;
    }
    let mut resp = see_other("/login");
    let _ = resp.add_cookie(&removal_cookie(SESSION_COOKIE, state.settings.is_https()));
    Ok(resp)
}

#[derive(Deserialize)]
struct LanguageForm {
    language: String,
    #[serde(default)]
    back: String,
}

#[post("/account/language")]
async fn set_language_route(state: web::Data<AppState>, f: CsrfForm<LanguageForm>) -> PageResult {
    let id = f.who.id();
    let lang = f.form.language.clone();
    state
        .db(move |c| accounts::set_locale(c, &id, &lang))
        .await
        .lang(&f.who)?;
    let mut resp = see_other(safe_next(&f.form.back));
    // The login page of this browser speaks the language chosen last.
    if let Some(lang) = language::known(&f.form.language) {
        let _ = resp.add_cookie(&language::choice_cookie(lang, state.settings.is_https()));
    }
    Ok(resp)
}

async fn tokens_page(
    state: &AppState,
    who: &PageResearcher,
    new_token: Option<String>,
) -> PageResult {
    let id = who.id();
    let list = state
        .db(move |c| accounts::api_tokens_of(c, &id))
        .await
        .lang(who)?;
    let rows: Vec<_> = list
        .into_iter()
        .map(|t| {
            minijinja::context! {
                id => t.id, label => t.label,
                created_at => utc(t.created_at).to_rfc3339(),
                last_used_at => t.last_used_at.map(|x| utc(x).to_rfc3339()),
                revoked => t.revoked_at.is_some(),
            }
        })
        .collect();
    page(
        who,
        "tokens.html",
        minijinja::context! { tokens => rows, new_token => new_token, csrf_field => CSRF_FIELD, api_base => serde_value(&state.settings.public_base()) },
    )
}

#[get("/account/tokens")]
async fn tokens_route(state: web::Data<AppState>, who: PageResearcher) -> PageResult {
    tokens_page(&state, &who, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    label: String,
}

#[post("/account/tokens")]
async fn create_token_route(state: web::Data<AppState>, f: CsrfForm<TokenForm>) -> PageResult {
    let id = f.who.id();
    let label = f.form.label.clone();
    let (_, raw) = state
        .db(move |c| accounts::create_api_token(c, &id, &label))
        .await
        .lang(&f.who)?;
    tokens_page(&state, &f.who, Some(raw)).await
}

#[post("/account/tokens/{token}/revoke")]
async fn revoke_token_route(
    state: web::Data<AppState>,
    path: web::Path<String>,
    f: CsrfForm<Empty>,
) -> PageResult {
    let id = f.who.id();
    let token = path.into_inner();
    state
        .db(move |c| accounts::revoke_api_token(c, &id, &token))
        .await
        .lang(&f.who)?;
    Ok(see_other("/account/tokens"))
}
