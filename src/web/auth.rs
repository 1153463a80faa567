//! Who is calling: API tokens, researcher sessions with CSRF protection, the client address,
//! and the limit on guessing personal links.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use super::pages::PageError;
use crate::db::models::Researcher;
use crate::ops::access::ResearcherId;
use crate::ops::{AppError, accounts};

pub const SESSION_COOKIE: &str = "orakel_session";
/// A funder's account session: a cookie of its own, which no researcher's page or API reads.
pub const FUNDER_COOKIE: &str = "orakel_funder";
pub const LOGIN_CSRF_COOKIE: &str = "orakel_login";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "_csrf";

pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

pub fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone()
}

/// The client's address: the peer, or the first X-Forwarded-For hop when configured to trust it.
pub fn client_address(req: &HttpRequest, trust_forwarded: bool) -> String {
    if trust_forwarded
        && let Some(xff) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        && let Some(first) = xff.split(',').next()
        && let Ok(ip) = first.trim().parse::<IpAddr>()
    {
        return ip.to_string();
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A cookie as Orakel sets them: HttpOnly, SameSite=Lax, Secure under https.
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish()
}

pub fn removal_cookie(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), secure);
    c.make_removal();
    c
}

/// Whether a form posted before there is a session (the login, a funder's password page)
/// echoes the token its page set in the [`LOGIN_CSRF_COOKIE`].
pub fn echoes_form_cookie(req: &HttpRequest, sent: &str) -> bool {
    req.cookie(LOGIN_CSRF_COOKIE)
        .is_some_and(|c| !c.value().is_empty() && same_secret(c.value(), sent))
}

/// Constant-time comparison, for CSRF tokens.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The researcher behind the request's session cookie, and the session's CSRF token.
async fn session_researcher(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<Option<(Researcher, String)>, AppError> {
    let Some(raw) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(None);
    };
    let length = chrono::Duration::hours(state.settings.server.session_hours);
    let found = state
        .db(move |c| accounts::session(c, &raw, length))
        .await?;
    Ok(found.map(|(s, r)| (r, s.csrf_token)))
}

/// A researcher calling the API, with a bearer token or (from our own pages' scripts) a session
/// cookie plus the `X-CSRF-Token` header on anything that changes state.
pub struct ApiResearcher(pub Researcher);

impl ApiResearcher {
    /// The acting researcher, for the actions the request calls.
    pub fn id(&self) -> ResearcherId {
        ResearcherId::authenticated(self.0.id.clone())
    }
}

impl FromRequest for ApiResearcher {
    type Error = ApiError;
    type Future = LocalFuture<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req);
            if let Some(token) = bearer(&req) {
                let found = state
                    .db(move |c| accounts::researcher_for_api_token(c, &token))
                    .await?;
                return found
                    .map(ApiResearcher)
                    .ok_or(ApiError(AppError::Unauthenticated));
            }
            let (researcher, csrf) = session_researcher(&state, &req)
                .await?
                .ok_or(ApiError(AppError::Unauthenticated))?;
            let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe {
                let sent = req
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !same_secret(sent, &csrf) {
                    return Err(ApiError(AppError::Forbidden(
                        "missing or wrong X-CSRF-Token header".into(),
                    )));
                }
            }
            Ok(ApiResearcher(researcher))
        })
    }
}

/// A researcher viewing a page; without a session, the page redirects to the login.
pub struct PageResearcher {
    pub researcher: Researcher,
    pub csrf: String,
    /// The server's clock, for pages outside any study (a study's pages use the study's).
    pub zone: crate::i18n::Tz,
    /// What the action before this page did, to say on it (`web::flash`).
    pub flash: Option<super::flash::Flash>,
    /// Whether cookies go over HTTPS only (for the one that removes the message).
    pub secure: bool,
}

impl PageResearcher {
    fn new(state: &super::AppState, researcher: Researcher, csrf: String) -> PageResearcher {
        super::language::reads(&researcher.locale);
        PageResearcher {
            researcher,
            csrf,
            zone: state.settings.time_zone(),
            flash: None,
            secure: state.settings.is_https(),
        }
    }

    /// The acting researcher, for the actions the page calls.
    pub fn id(&self) -> ResearcherId {
        ResearcherId::authenticated(self.researcher.id.clone())
    }

    pub fn lang(&self) -> &str {
        &self.researcher.locale
    }
}

pub fn login_redirect(req: &HttpRequest) -> PageError {
    let next = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    PageError::login(next)
}

impl FromRequest for PageResearcher {
    type Error = PageError;
    type Future = LocalFuture<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req);
            match session_researcher(&state, &req).await {
                Ok(Some((researcher, csrf))) => Ok(PageResearcher {
                    flash: super::flash::Flash::of(&req),
                    ..PageResearcher::new(&state, researcher, csrf)
                }),
                Ok(None) => Err(login_redirect(&req)),
                Err(e) => Err(PageError::from(e)),
            }
        })
    }
}

/// What a person reads when a form arrives that its page could not have sent.
pub const FORM_MALFORMED: &str = "the form is incomplete; reload the page and try again";

/// What a person reads when a form's body cannot be read (larger than the limit, cut off).
pub const FORM_UNREADABLE: &str = "the form could not be read; it may be too long";

/// A form posted from one of our pages by a logged-in researcher, its CSRF token checked.
pub struct CsrfForm<T> {
    pub who: PageResearcher,
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = PageError;
    type Future = LocalFuture<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = state(&req);
            let bytes = body.await.map_err(|e| {
                tracing::info!(error = %e, "a form that could not be read");
                PageError::from(AppError::Invalid(crate::domain::Invalid::one(
                    "form",
                    FORM_UNREADABLE,
                )))
            })?;
            let who = match session_researcher(&state, &req).await {
                Ok(Some((researcher, csrf))) => PageResearcher::new(&state, researcher, csrf),
                Ok(None) => return Err(login_redirect(&req)),
                Err(e) => return Err(PageError::from(e)),
            };
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
            let sent = pairs
                .iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if !same_secret(sent, &who.csrf) {
                return Err(PageError::from(AppError::Forbidden(super::render::text(
                    who.lang(),
                    "error.csrf",
                ))));
            }
            // Our own forms always send what they declare; a form that does not fit was made
            // elsewhere or by an older page. The parser's own words are for the log.
            let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
                tracing::info!(error = %e, "a form that does not fit its page");
                PageError::from(AppError::Invalid(crate::domain::Invalid::one(
                    "form",
                    FORM_MALFORMED,
                )))
            })?;
            Ok(CsrfForm { who, form })
        })
    }
}

/// Counts events per key (a client address, a person) in a sliding minute, in memory: each
/// server instance counts for itself.
pub struct RateLimiter {
    per_minute: u32,
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Unknown personal or report links per client address, so links cannot be found by trying.
/// Only failures count, and a valid link is never refused: many people may share one address
/// behind a NAT.
pub type GuessLimiter = RateLimiter;

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has used up its events for the current minute.
    pub fn is_blocked(&self, key: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key).is_some_and(|(start, n)| {
            start.elapsed() < Duration::from_secs(60) && *n >= self.per_minute
        })
    }

    /// A failed guess, counted: "not found", or 429 once the address is over the limit.
    pub fn miss(&self, address: &str) -> AppError {
        let blocked = self.is_blocked(address);
        self.record_miss(address);
        if blocked {
            AppError::TooManyRequests(
                "too many unknown links from this address; wait a minute".into(),
            )
        } else {
            AppError::NotFound
        }
    }

    /// Counts one event for `key`.
    pub fn record_miss(&self, key: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| start.elapsed() < Duration::from_secs(60));
        }
        let entry = seen.entry(key.to_string()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Counts one event for `key` if it is under the limit: `Err(429)` with `message` once it
    /// is not.
    pub fn take(&self, key: &str, message: &str) -> Result<(), AppError> {
        if self.is_blocked(key) {
            return Err(AppError::TooManyRequests(message.into()));
        }
        self.record_miss(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_are_limited_per_address() {
        let l = GuessLimiter::new(3);
        for _ in 0..3 {
            assert!(!l.is_blocked("1.2.3.4"));
            l.record_miss("1.2.3.4");
        }
        assert!(l.is_blocked("1.2.3.4"));
        assert!(!l.is_blocked("5.6.7.8"));
    }

    #[test]
    fn a_person_saves_only_so_often() {
        let l = RateLimiter::new(2);
        assert!(l.take("c1", "too many").is_ok());
        assert!(l.take("c1", "too many").is_ok());
        assert!(matches!(
            l.take("c1", "too many"),
            Err(AppError::TooManyRequests(_))
        ));
        assert!(l.take("c2", "too many").is_ok());
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
