//! The HTTP face of Orakel: the JSON API under `/api`, the server-rendered pages, static files,
//! and what wraps every request (request ids and logs, security headers).

pub mod api;
pub mod auth;
pub mod error;
pub mod flash;
pub mod language;
pub mod pages;
pub mod render;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{Compress, DefaultHeaders, Next, from_fn};
use actix_web::{App, Error, HttpResponse, web};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::config::Settings;
use crate::db::{self, Backend, DbConn, DbPool};
use crate::ops::outbox::MailEnv;
use crate::ops::{AppError, AppResult, secret};

/// What every request handler can reach.
pub struct AppState {
    pub pool: DbPool,
    pub backend: Backend,
    pub settings: Arc<Settings>,
    /// The OpenAPI document, written when first asked for: most servers are never asked, and
    /// writing it takes megabytes and code an idle server would otherwise keep in memory.
    pub openapi: std::sync::OnceLock<String>,
    /// Wakes the worker when new mail is queued, so it goes out now rather than at the next poll.
    pub wake_worker: Arc<Notify>,
    pub link_guesses: auth::GuessLimiter,
    /// Saves per person (answers, written answers) and minute.
    pub saves: Arc<auth::RateLimiter>,
    pub mail: MailEnv,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Which database this is (`db::database_name`), for emptying its kept reports.
    pub database: Arc<str>,
    /// Records of use (first views, links used) waiting to be written off the request's path.
    pub records: Arc<crate::ops::records::Ledger>,
    /// Small writes that arrive together, committed together (SQLite).
    pub writes: Arc<db::group::Group>,
    /// The pool lent for a second connection beside a request's own (PostgreSQL's reports).
    pub beside: Arc<db::beside::Beside>,
}

impl AppState {
    /// A worker over this server's database and mail settings (the server runs one; tests
    /// make their own to run passes at chosen moments).
    pub fn worker(&self) -> anyhow::Result<crate::worker::Worker> {
        crate::worker::Worker::new(
            self.pool.clone(),
            self.mail.clone(),
            self.settings.clone(),
            self.wake_worker.clone(),
            self.metrics.clone(),
        )
    }

    /// Lets the worker know there is mail to deliver.
    pub fn wake_worker(&self) {
        self.wake_worker.notify_one();
    }

    /// Runs a database operation on the blocking thread pool, off the async workers.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let (records, writes, beside) = (
            self.records.clone(),
            self.writes.clone(),
            self.beside.clone(),
        );
        web::block(move || {
            crate::ops::records::within(&records, || {
                db::group::within(&writes, || {
                    db::beside::within(&beside, || {
                        let mut conn = db::checkout(&pool)?;
                        f(&mut conn)
                    })
                })
            })
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }
}

/// Builds the application for one HTTP worker.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let https = state.settings.is_https();
    let body_limit = state.settings.server.max_body_bytes;
    let mut headers = DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        // Personal links are in URLs: never send them on as a Referer.
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        // Pages and API answers hold personal data: no cache keeps them (static files say
        // otherwise for themselves).
        .add((header::CACHE_CONTROL, "no-store"));
    if https {
        headers = headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ));
    }
    App::new()
        .app_data(state.clone())
        .app_data(api::json_config(body_limit))
        .app_data(web::FormConfig::default().limit(body_limit))
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| error::bad_request(format!("invalid path: {e}"))),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| error::bad_request(format!("invalid query string: {e}"))),
        )
        // The router tries each route in turn, matching a pattern per route: what experts ask
        // for most (their pages and saves) comes first. No two routes overlap, so the order
        // changes nothing else.
        .configure(pages::participant::configure)
        .configure(api::experts)
        .configure(api::the_rest)
        .configure(pages::configure)
        .default_service(web::to(pages::not_found))
        .wrap(from_fn(refuse_nul))
        .wrap(from_fn(forget_kept_reports))
        .wrap(from_fn(api_errors_as_json))
        .wrap(from_fn(small_bodies_as_they_are))
        .wrap(Compress::default())
        .wrap(from_fn(without_identity_mark))
        .wrap(headers)
        .wrap(from_fn(request_log))
}

/// Bodies shorter than this go out uncompressed: gzip's own header and trailer take about
/// what it would save, and each compressed response sets up a compressor of a quarter of a
/// megabyte (zeroed), which for a save's reply of a few dozen bytes was most of its cost.
const SMALLEST_COMPRESSED: u64 = 1024;

/// Marks a short body as not to be compressed: `Compress` leaves a response that names its
/// encoding alone. The mark itself is taken off again outside it ([`without_identity_mark`]).
async fn small_bodies_as_they_are(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    // A body that already names its encoding keeps it.
    if let actix_web::body::BodySize::Sized(n) = res.response().body().size()
        && n < SMALLEST_COMPRESSED
        && !res.headers().contains_key(header::CONTENT_ENCODING)
    {
        res.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    Ok(res)
}

/// "identity" means no encoding; it has no place in a response's Content-Encoding.
async fn without_identity_mark(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    if res
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v == "identity")
    {
        res.headers_mut().remove(header::CONTENT_ENCODING);
    }
    Ok(res)
}

/// Paths with every segment that holds a token masked, so personal links never reach a log:
/// also when a mail client added a full stop or the link was pasted with `%20` or `%2F` after
/// it.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if secret::contains_token(seg) {
                "…"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Gives each request an id (echoed in `X-Request-Id`) and logs it with status and duration.
/// A NUL character has no place in an address, and PostgreSQL cannot even look it up: such a
/// request is refused the same way on every backend.
async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    if req.uri().to_string().contains("%00") {
        let refused = error::bad_request("the address contains a NUL character".into());
        return Ok(req.error_response(refused).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A request that may have changed stored data empties the report cache once answered
/// (`report::cache`): anything but GET, HEAD and OPTIONS, apart from an expert's work in an open
/// round (answers, submitting, discussion posts), which no closed round's report holds, so a
/// busy round does not keep emptying it.
async fn forget_kept_reports(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let path = req.path();
    let expert = path.starts_with("/p/") || path.starts_with("/api/v1/participation/");
    let open_round_work = expert && (path.contains("/rounds/") || path.contains("/posts"));
    let changes = !matches!(
        *req.method(),
        actix_web::http::Method::GET
            | actix_web::http::Method::HEAD
            | actix_web::http::Method::OPTIONS
    ) && !open_round_work;
    let res = next.call(req).await;
    if let Some(state) = state.filter(|_| changes) {
        if matches!(state.backend, crate::db::Backend::Postgres(_)) {
            // Counted for the other servers on the database; a failure costs only their cache.
            if let Err(e) = state.db(|c| Ok(crate::db::count_change(c)?)).await {
                tracing::warn!(error = %e, "a change was not counted for the other servers' reports");
            }
        }
        crate::report::cache::invalidate(&state.database);
    }
    res
}

/// Errors the framework answers itself (a body too large, a method a route does not take) are
/// JSON on the API like every other error there. Every request is answered in its reader's
/// language (`language::reader`): on the API the one `Accept-Language` asks for (English when
/// it names neither), on pages the visitor's until the handler knows who reads.
async fn api_errors_as_json(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    let api = req.path().starts_with("/api/");
    let lang = if api {
        language::of_header(req.request()).unwrap_or(language::FALLBACK)
    } else {
        language::of_visitor(req.request(), None)
    };
    let res = language::scoped(lang, next.call(req)).await?;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_left_body());
    }
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        s if s >= 500 => "internal",
        _ => "bad_request",
    };
    let body = error::ErrorBody {
        error: code,
        message: status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_string(),
        fields: Vec::new(),
    };
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status).json(body);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, new).map_into_right_body())
}

async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    // Every label comes from a small fixed set: a client may send any method it likes.
    let method = crate::metrics::method_label(req.method().as_str());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    if let Some(m) = &metrics {
        m.request_started();
    }
    let path = loggable_path(req.path());
    let span = tracing::info_span!("request", id = %id, method = %method, path = %path);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _enter = span.enter();
    // Tenths of a millisecond: the digits beyond say nothing and fill the log.
    let elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if let Some(m) = &metrics {
                // The route pattern, never the path: paths may hold personal links, and
                // unmatched paths (scanners) would grow the table without end.
                let route = res.request().match_pattern();
                m.request_finished(
                    &method,
                    route.as_deref().unwrap_or("unmatched"),
                    status,
                    started.elapsed(),
                );
            }
            if status >= 500 {
                tracing::error!(status, elapsed_ms, "request failed");
            } else {
                tracing::info!(status, elapsed_ms, "request");
            }
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), v);
            }
            Ok(res)
        }
        Err(e) => {
            if let Some(m) = &metrics {
                m.request_finished(&method, "error", 500, started.elapsed());
            }
            tracing::error!(error = %e, elapsed_ms, "request error");
            Err(e)
        }
    }
}

/// 303 to another page of ours. Bytes a header cannot carry (non-ASCII letters, spaces,
/// control characters) are percent-encoded, so no address can turn this into a 500.
pub fn see_other(location: &str) -> HttpResponse {
    let mut encoded = String::with_capacity(location.len());
    for b in location.bytes() {
        if b.is_ascii_graphic() {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, encoded))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_in_logged_paths() {
        let token = secret::new_token();
        assert_eq!(loggable_path(&format!("/p/{token}")), "/p/…");
        assert_eq!(
            loggable_path(&format!("/api/v1/participation/{token}/rounds/2")),
            "/api/v1/participation/…/rounds/2"
        );
        assert_eq!(
            loggable_path(&format!("/unsubscribe/{token}")),
            "/unsubscribe/…"
        );
        assert_eq!(loggable_path("/api/v1/studies"), "/api/v1/studies");
        for tail in [".", "%20", "%2F", "%2Fx", ")", "%3E"] {
            assert_eq!(
                loggable_path(&format!("/p/{token}{tail}/unsubscribe")),
                "/p/…/unsubscribe"
            );
            assert_eq!(loggable_path(&format!("/f/x{token}{tail}")), "/f/…");
        }
        // Ids stay readable.
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            loggable_path(&format!("/api/v1/studies/{id}")),
            format!("/api/v1/studies/{id}")
        );
    }
}
