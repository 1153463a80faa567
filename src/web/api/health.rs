//! What operators and load balancers ask: liveness, readiness, metrics, and the API description.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;

use crate::metrics::Snapshot;
use crate::web::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`; from `/ready` also `unavailable` (database unreachable) or `migrations_pending`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub version: &'static str,
}

/// Liveness: the process runs and answers. It does not touch the database, so a database
/// outage does not get a healthy server restarted; ask `/ready` for that.
#[utoipa::path(operation_id = "get_health", tag = "service", responses(
    (status = 200, description = "Running", body = Health),
))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        database: state.backend.name(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: the database answers and its schema is the one this version expects. A load
/// balancer sends traffic only to instances that answer 200 here.
#[utoipa::path(operation_id = "get_ready", tag = "service", responses(
    (status = 200, description = "Ready to serve", body = Health),
    (status = 503, description = "The database is unreachable or its migrations are not current", body = Health),
))]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let checked = state
        // Reading the migrations table is itself the check that the database answers.
        .db(|c| Ok(crate::db::migrations_current(c)?))
        .await;
    let status = match checked {
        Ok(true) => "ok",
        Ok(false) => "migrations_pending",
        Err(_) => "unavailable",
    };
    let body = Health {
        status,
        database: state.backend.name(),
        version: env!("CARGO_PKG_VERSION"),
    };
    if status == "ok" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .json(body)
    }
}

/// Prometheus metrics (text format 0.0.4): requests by route and status, latencies, outbox
/// depth, deliveries, worker passes, database pool. With `server.metrics_token` set, only
/// requests with `Authorization: Bearer <token>` are answered.
#[utoipa::path(operation_id = "get_metrics", tag = "service", responses(
    (status = 200, description = "The metrics", content_type = "text/plain"),
    (status = 401, description = "server.metrics_token is set and was not given"),
))]
#[get("/metrics")]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token = state.settings.server.metrics_token.expose();
    if !token.is_empty() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compared as hashes, so the time taken says nothing about how much of it matched.
        use crate::ops::secret::token_hash;
        if token_hash(given) != token_hash(token) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .body("metrics need the bearer token of server.metrics_token\n");
        }
    }
    let pool = state.pool.state();
    let mut snapshot = Snapshot {
        pool_connections: pool.connections,
        pool_idle: pool.idle_connections,
        pool_max: state.pool.max_size(),
        grouped_writes: state.writes.writes(),
        group_commits: state.writes.commits(),
        reads_beside: state.beside.reads(),
        ..Snapshot::default()
    };
    let now = crate::db::now();
    if let Ok((outbox, oldest)) = state.db(move |c| crate::ops::outbox::depth(c, now)).await {
        snapshot.database_up = true;
        snapshot.outbox = outbox;
        snapshot.oldest_due_seconds = oldest
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&snapshot))
}

/// This document.
#[utoipa::path(operation_id = "get_openapi", tag = "service", responses((status = 200, description = "The OpenAPI 3.1 document")))]
#[get("/api/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    let document = state.openapi.get_or_init(|| {
        let written = super::openapi().to_pretty_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "writing the OpenAPI document");
            String::new()
        });
        // Writing it took megabytes that are free again now.
        crate::memory::give_back();
        written
    });
    if document.is_empty() {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.clone())
}
