//! The HTTP face of Orakel: the JSON API under `/api`, the server-rendered pages, static files,
//! and what wraps every request (request ids and logs, security headers).

pub mod api;
pub mod auth;
pub mod error;
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
use utoipa_actix_web::AppExt;

use crate::config::Settings;
use crate::db::{self, Backend, DbConn, DbPool};
use crate::ops::outbox::MailEnv;
use crate::ops::{AppError, AppResult, secret};

/// What every request handler can reach.
pub struct AppState {
    pub pool: DbPool,
    pub backend: Backend,
    pub settings: Arc<Settings>,
    pub openapi: String,
    /// Wakes the worker when new mail is queued, so it goes out now rather than at the next poll.
    pub wake_worker: Arc<Notify>,
    pub link_guesses: auth::GuessLimiter,
    pub mail: MailEnv,
    pub metrics: Arc<crate::metrics::Metrics>,
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
        web::block(move || {
            let mut conn = db::checkout(&pool)?;
            f(&mut conn)
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
        ));
    if https {
        headers = headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ));
    }
    let (app, _) = App::new()
        .into_utoipa_app()
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
        .configure(api::configure)
        .split_for_parts();
    app.configure(pages::configure)
        .default_service(web::to(pages::not_found))
        .wrap(from_fn(refuse_nul))
        .wrap(Compress::default())
        .wrap(headers)
        .wrap(from_fn(request_log))
}

/// Paths with their token segments masked, so personal links never reach a log.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if secret::looks_like_token(seg) {
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

async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let method = req.method().to_string();
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
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
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

/// 303 to another page of ours.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
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
        assert_eq!(loggable_path("/api/v1/studies"), "/api/v1/studies");
    }
}
