//! The data-protection routes: a person's data for them, erasing an identity on request, and
//! the study's audit log.

use super::Routes;
use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use crate::ops::privacy::{self, EraseInput, PersonExport};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(export_person)
        .route(erase_person)
        .route(audit_log);
}

/// Everything the study holds about one person — identity, consents, answers, written answers,
/// interviews, transcripts and the e-mails sent — as JSON to hand over to them. Logged.
#[utoipa::path(tag = "privacy", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = PersonExport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/candidates/{candidate}/export")]
pub async fn export_person(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, cand) = (who.id(), path.into_inner());
    let out = state
        .db(move |c| privacy::export_person(c, &id, &cand))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"personal-data.json\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out))
}

/// Erases a person's identity on request (owners): name, e-mail, organisation, notes, personal
/// links and the e-mails sent to them go; their answers stay under the pseudonym and still count.
#[utoipa::path(tag = "privacy", security(("bearer" = []), ("session" = [])), request_body = EraseInput, responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/candidates/{candidate}/erase")]
pub async fn erase_person(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<EraseInput>,
) -> ApiResult<HttpResponse> {
    let (id, cand) = (who.id(), path.into_inner());
    let input = body.into_inner();
    let env = state.mail.clone();
    state
        .db(move |c| privacy::erase_person(c, &env, &id, &cand, input))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The query of the audit log (every parameter optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// Only entries of this action (e.g. `identity.viewed`).
    action: Option<String>,
    /// Only entries by this kind of actor: `researcher`, `participant`, `funder` (a link),
    /// `funder_account` or `system`.
    actor: Option<String>,
    /// At most this many entries, newest first (default 500, at most 10,000).
    limit: Option<usize>,
    /// Skip this many of the matching entries.
    offset: Option<usize>,
}

/// The study's audit log (owners), a page at a time, newest first: `{total, offset, limit,
/// items}`. Every view of identities and transcripts, every export, every release of a small
/// cell, every change of the consensus rule, every erasure.
#[utoipa::path(operation_id = "get_audit_log", tag = "privacy", security(("bearer" = []), ("session" = [])), params(AuditListQuery), responses(
    (status = 200, body = privacy::AuditPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/audit")]
pub async fn audit_log(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> ApiResult<web::Json<privacy::AuditPage>> {
    let (id, study) = (who.id(), path.into_inner());
    let q = crate::ops::audit::AuditQuery::parse(&query, 500)?;
    Ok(web::Json(
        state
            .db(move |c| privacy::audit_log(c, &id, &study, &q))
            .await?,
    ))
}
