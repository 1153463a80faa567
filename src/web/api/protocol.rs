//! The study's protocol: read and change the draft, register it, amend it with a reason, and
//! download the registered document whose bytes hash to its SHA-256.

use super::Routes;
use actix_web::http::header;
use actix_web::{HttpResponse, get, post, put, web};

use crate::ops::protocol::{self, ProtocolInput, ProtocolView, Registered};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(get_protocol)
        .route(set_protocol)
        .route(register_protocol)
        .route(protocol_document)
        .route(protocol_pdf);
}

/// The study's protocol: until it is registered a draft whose consensus rule, priority
/// threshold, minimum group size and panel groups are the study's settings; afterwards the
/// registered document as last amended, with `registered_at`, `sha256` and the amendments.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = ProtocolView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/protocol")]
pub async fn get_protocol(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<ProtocolView>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| protocol::get(c, &id, &study)).await?,
    ))
}

/// Changes the protocol: the draft (its settings become the study's), or — once registered —
/// an amendment, which needs `amendment_reason` and is kept with the fields it changed and the
/// amended document's hash. The consensus rule and the panel groups stay locked once the first
/// rating round has opened.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), request_body = ProtocolInput, responses(
    (status = 200, body = ProtocolView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, description = "A field is invalid, or an amendment has no reason; `fields` names it", body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/protocol")]
pub async fn set_protocol(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ProtocolInput>,
) -> ApiResult<web::Json<ProtocolView>> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| protocol::put(c, &id, &study, input))
            .await?,
    ))
}

/// Registers the protocol as it stands: its canonical JSON (keys sorted, no spaces) is frozen
/// with the time and its SHA-256, to deposit with a registry before the data arrive. Once only.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Registered), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "Already registered", body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/protocol/register")]
pub async fn register_protocol(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Registered>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| protocol::register(c, &id, &study))
            .await?,
    ))
}

/// The registered document (after an amendment, the amended one) exactly as hashed: its bytes'
/// SHA-256 is the protocol's `current_sha256`.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, content_type = "application/json", body = crate::domain::protocol::Protocol),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "Not registered yet", body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/protocol.json")]
pub async fn protocol_document(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, study) = (who.id(), path.into_inner());
    let bytes = state
        .db(move |c| protocol::document(c, &id, &study))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"protocol.json\"",
        ))
        .body(bytes))
}

/// Which language the protocol's page is in.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PdfQuery {
    /// `da` or `en`; by default the study's language.
    pub lang: Option<String>,
}

/// The protocol on one page (PDF), in the study's language (or `lang`), to deposit with a registry beside
/// `protocol.json`: the settings and plan it fixes, when it was registered, the fingerprint of
/// the document as it stands and every amendment. Before registration it is marked a draft.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), params(PdfQuery), responses(
    (status = 200, content_type = "application/pdf", body = Vec<u8>),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/protocol.pdf")]
pub async fn protocol_pdf(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    query: web::Query<PdfQuery>,
) -> ApiResult<HttpResponse> {
    let (id, study) = (who.id(), path.into_inner());
    let lang = query
        .lang
        .as_deref()
        .map(|l| crate::domain::Language::parse("lang", l))
        .transpose()
        .map_err(crate::ops::AppError::from)?;
    let bytes = state
        .db(move |c| protocol::pdf(c, &id, &study, lang))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"protocol.pdf\"",
        ))
        .body(bytes))
}
