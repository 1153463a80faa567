//! How an [`AppError`] becomes an HTTP response: JSON for the API, a page for browsers
//! ([`PageError`]).
//! No internal detail reaches a body; every 5xx is logged with its cause chain.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::render::{Html, pages, text};
use crate::domain::FieldError;
use crate::ops::AppError;

/// What a client reads when it lost a race on a unique constraint.
const RACE: &str = "Someone made the same change at the same moment, and theirs was kept; \
                    nothing of yours was saved. Please reload and try again.";

pub fn status_of(e: &AppError) -> StatusCode {
    if e.is_race() {
        return StatusCode::CONFLICT;
    }
    match e {
        AppError::NotFound => StatusCode::NOT_FOUND,
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message a client may read; internal causes are replaced by a generic sentence.
pub fn public_message(e: &AppError) -> String {
    if e.is_race() {
        return RACE.into();
    }
    match e {
        AppError::NotFound => "Not found.".into(),
        AppError::Unauthenticated => "Authentication required.".into(),
        AppError::Forbidden(m) | AppError::Conflict(m) | AppError::TooManyRequests(m) => m.clone(),
        AppError::Invalid(inv) => inv.to_string(),
        AppError::Unavailable(cause) if cause == crate::ops::NO_SPACE => {
            "The server has run out of disk space, so nothing was saved. What was saved before is \
             safe. Please try again later."
                .into()
        }
        AppError::Unavailable(_) => {
            "The service is temporarily unavailable; nothing was changed. Please try again shortly."
                .into()
        }
        AppError::Internal(_) => "Something went wrong on our side; nothing was changed.".into(),
    }
}

/// The message a person reads on a page, in their language: faults the catalogue knows are said
/// in `lang` (see `i18n::messages`), the fixed sentences come from the texts.
pub fn public_message_in(e: &AppError, lang: &str) -> String {
    if e.is_race() {
        return text(lang, "error.race");
    }
    match e {
        AppError::NotFound => text(lang, "error.not_found"),
        AppError::Unauthenticated => text(lang, "error.unauthenticated"),
        AppError::Forbidden(m) | AppError::Conflict(m) | AppError::TooManyRequests(m) => {
            crate::i18n::messages::sentence(&crate::i18n::messages::say(lang, m))
        }
        AppError::Invalid(inv) => inv.say(lang),
        AppError::Unavailable(cause) if cause == crate::ops::NO_SPACE => {
            text(lang, "error.no_space")
        }
        AppError::Unavailable(_) => text(lang, "error.unavailable"),
        AppError::Internal(_) => text(lang, "error.internal"),
    }
}

pub use crate::error::log_if_server_error;

/// The JSON body of every API error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: not_found, unauthenticated, forbidden, invalid, conflict,
    /// too_many_requests, unavailable, internal, bad_request.
    pub error: &'static str,
    pub message: String,
    /// For `invalid`: each field at fault with its message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

fn code_of(e: &AppError) -> &'static str {
    if e.is_race() {
        return "conflict";
    }
    match e {
        AppError::NotFound => "not_found",
        AppError::Unauthenticated => "unauthenticated",
        AppError::Forbidden(_) => "forbidden",
        AppError::Invalid(_) => "invalid",
        AppError::Conflict(_) => "conflict",
        AppError::TooManyRequests(_) => "too_many_requests",
        AppError::Unavailable(_) => "unavailable",
        AppError::Internal(_) => "internal",
    }
}

/// An error answered as JSON (API routes).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl From<crate::domain::Invalid> for ApiError {
    fn from(e: crate::domain::Invalid) -> Self {
        ApiError(AppError::Invalid(e))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        log_if_server_error(&self.0);
        let lang = super::language::reader();
        let fields = match &self.0 {
            AppError::Invalid(inv) => inv
                .0
                .iter()
                .map(|f| FieldError {
                    message: crate::i18n::messages::say(lang, &f.message),
                    ..f.clone()
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self.0, AppError::Unauthenticated) {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"orakel\""),
            ));
        }
        if matches!(
            self.0,
            AppError::Unavailable(_) | AppError::TooManyRequests(_)
        ) {
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("30")));
        }
        resp.insert_header((header::CONTENT_LANGUAGE, HeaderValue::from_static(lang)));
        let message = if lang == "en" {
            public_message(&self.0)
        } else {
            public_message_in(&self.0, lang)
        };
        resp.json(ErrorBody {
            error: code_of(&self.0),
            message,
            fields,
        })
    }
}

/// A 400 for requests that could not be read at all (malformed JSON, wrong content type), in
/// the language the client asked for.
pub fn bad_request(message: String) -> actix_web::Error {
    let body = ErrorBody {
        error: "bad_request",
        message: crate::i18n::messages::say(super::language::reader(), &message),
        fields: Vec::new(),
    };
    actix_web::error::InternalError::from_response(
        "bad request",
        HttpResponse::BadRequest().json(body),
    )
    .into()
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An error shown as a page (or, for a missing session, a redirect to the login).
#[derive(Debug)]
pub struct PageError {
    pub error: AppError,
    login_next: Option<String>,
    /// The language to say it in, when the page knows better than the request's reader.
    lang: Option<String>,
}

impl PageError {
    pub fn login(next: String) -> Self {
        PageError {
            error: AppError::Unauthenticated,
            login_next: Some(next),
            lang: None,
        }
    }

    pub fn in_lang(mut self, lang: &str) -> Self {
        self.lang = Some(lang.to_string());
        self
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        PageError {
            error,
            login_next: None,
            lang: None,
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.error)
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(next) = &self.login_next {
            let target = format!(
                "/login?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
            );
            return super::see_other(&target);
        }
        log_if_server_error(&self.error);
        let lang = self
            .lang
            .as_deref()
            .unwrap_or_else(|| super::language::reader());
        error_page(
            self.status_code(),
            &public_message_in(&self.error, lang),
            lang,
        )
    }
}

/// A plain page that says what went wrong.
pub fn error_page(status: StatusCode, message: &str, lang: &str) -> HttpResponse {
    let title = match status {
        StatusCode::NOT_FOUND => text(lang, "error.not_found_title"),
        StatusCode::FORBIDDEN => text(lang, "error.forbidden_title"),
        StatusCode::SERVICE_UNAVAILABLE => text(lang, "error.unavailable_title"),
        s if s.is_server_error() => text(lang, "error.internal_title"),
        _ => text(lang, "error.generic_title"),
    };
    let message = match status {
        StatusCode::NOT_FOUND => text(lang, "error.not_found"),
        _ => message.to_string(),
    };
    message_page(status, &title, &message, lang)
}

/// A plain page with a title and a sentence.
pub fn message_page(status: StatusCode, title: &str, message: &str, lang: &str) -> HttpResponse {
    let message = message.to_string();
    let ctx = minijinja::context! { lang => lang, title => title, message => message.clone(), status => status.as_u16() };
    match pages().html(status, "error.html", ctx) {
        Ok(resp) => resp,
        Err(_) => HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(message),
    }
}
