//! Liveness and the API description.

use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;
use serde::Serialize;

use crate::web::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the database cannot be reached.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub version: &'static str,
}

/// Whether the server runs and reaches its database.
#[utoipa::path(tag = "service", responses(
    (status = 200, description = "Serving", body = Health),
    (status = 503, description = "The database is unreachable", body = Health),
))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let ok = state
        .db(|c| {
            c.batch_execute("SELECT 1")
                .map_err(crate::db::DbError::from)?;
            Ok(())
        })
        .await
        .is_ok();
    let body = Health {
        status: if ok { "ok" } else { "unavailable" },
        database: state.backend.name(),
        version: env!("CARGO_PKG_VERSION"),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// This document.
#[utoipa::path(tag = "service", responses((status = 200, description = "The OpenAPI 3.1 document")))]
#[get("/api/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}
