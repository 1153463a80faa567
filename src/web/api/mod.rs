//! The JSON API under `/api/v1` (API.md), described by the OpenAPI document that is generated
//! from the same handler registrations that serve it.

pub mod accounts;
pub mod codebook;
pub mod coding;
pub mod discussion;
pub mod health;
pub mod participation;
pub mod privacy;
pub mod protocol;
pub mod recruitment;
pub mod reports;
pub mod rounds;
pub mod studies;

use actix_web::dev::HttpServiceFactory;
use actix_web::error::JsonPayloadError;
use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::{ErrorBody, bad_request};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orakel",
        description = "Runs Delphi expert-panel studies: recruitment, round-1 coding, rating rounds \
                       through personal links, consensus statistics and the funder's report. \
                       Researchers authenticate with `Authorization: Bearer TOKEN` (from \
                       `orakel token create`) or the browser session plus `X-CSRF-Token`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "service", description = "Health and the API description"),
        (name = "accounts", description = "The calling researcher and their API tokens"),
        (name = "studies", description = "Studies, their settings and members"),
        (name = "recruitment", description = "Panel attributes, candidates, invitations, letters"),
        (name = "codebook", description = "Categories, themes with their revisions, lettered statements"),
        (name = "round 1", description = "The interview guide, appointments, transcripts, coding, statements' evidence, coders' agreement, REFI-QDA exchange"),
        (name = "rounds", description = "Rounds: open, extend, close, and the answers between rounds"),
        (name = "reports", description = "The funder's report in every format, funder links, small-cell releases"),
        (name = "participation", description = "The expert's personal link (the token is the credential)"),
        (name = "privacy", description = "A person's data for them, erasure of an identity, the audit log"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                super::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Registers every API route; the OpenAPI document is collected from the same calls.
pub fn configure(cfg: &mut impl Routes) {
    experts(cfg);
    the_rest(cfg);
}

/// The routes of experts' personal links (the server registers them first: see `web::app`).
pub fn experts(cfg: &mut impl Routes) {
    participation::configure(cfg);
}

/// Every other API route.
pub fn the_rest(cfg: &mut impl Routes) {
    cfg.route(health::health)
        .route(health::ready)
        .route(health::metrics)
        .route(health::openapi_json);
    accounts::configure(cfg);
    studies::configure(cfg);
    protocol::configure(cfg);
    recruitment::configure(cfg);
    codebook::configure(cfg);
    coding::configure(cfg);
    rounds::configure(cfg);
    reports::configure(cfg);
    discussion::configure(cfg);
    privacy::configure(cfg);
}

/// Where the API's routes are registered: the server's own (plain actix-web), or the OpenAPI
/// document's (utoipa-actix-web, which also writes each route's documentation: megabytes each
/// HTTP worker has no use for, as the document is written once, when first asked for).
pub trait Routes {
    fn route<F>(&mut self, route: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static;
}

impl Routes for actix_web::web::ServiceConfig {
    fn route<F>(&mut self, route: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static,
    {
        self.service(route)
    }
}

impl Routes for ServiceConfig<'_> {
    fn route<F>(&mut self, route: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static,
    {
        self.service(route)
    }
}

/// The OpenAPI document as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        // A closure: the document's route list borrows for a lifetime of its own.
        .configure(|cfg: &mut ServiceConfig<'_>| configure(cfg))
        .split_for_parts();
    describe_responses(&mut doc);
    doc
}

/// Every response says what it means (OpenAPI requires a description): where a route does not
/// say it itself, the meaning its status has throughout the API.
fn describe_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response
                    && r.description.is_empty()
                {
                    r.description = status_meaning(status).to_string();
                }
            }
        }
    }
}

fn status_meaning(status: &str) -> &'static str {
    match status {
        "200" => "Done; the answer is in the body",
        "201" => "Created; the new item is in the body",
        "202" => "Accepted; the e-mails go out in the background",
        "204" => "Done; nothing to return",
        "400" => "The request could not be read (malformed JSON or wrong content type)",
        "401" => "No valid token or session",
        "403" => "Not allowed for this researcher's role in the study, or a missing CSRF token",
        "404" => "Not found, or not the caller's to see",
        "409" => "Not possible in the current state (a round closed, a rule locked, a race lost)",
        "413" => "The body is larger than the route accepts",
        "422" => "Invalid input; `fields` names each field at fault, and nothing was changed",
        "429" => "Too many requests; wait and try again",
        "503" => "Temporarily unavailable (the database is out of reach or out of space)",
        _ => "See the operation's description",
    }
}

/// A file sent as the body, read up to `limit` bytes (routes that take files allow more than
/// the general body limit); a larger one is refused with a message naming `field`.
pub async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    field: &str,
) -> crate::ops::AppResult<Vec<u8>> {
    use crate::domain::Invalid;
    use futures_util::StreamExt;
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Invalid::one(field, format!("the body could not be read: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(
                Invalid::one(field, format!("larger than {} MB", limit / 1024 / 1024)).into(),
            );
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// JSON bodies: size-limited, unknown shapes answered with a 400 that says what was wrong.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| match err {
            JsonPayloadError::ContentType => actix_web::error::InternalError::from_response(
                "unsupported media type",
                HttpResponse::UnsupportedMediaType().json(ErrorBody {
                    error: "unsupported_media_type",
                    message: "send the body as application/json".into(),
                    fields: Vec::new(),
                }),
            )
            .into(),
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                actix_web::error::InternalError::from_response(
                    "payload too large",
                    HttpResponse::PayloadTooLarge().json(ErrorBody {
                        error: "payload_too_large",
                        message: format!("the body is larger than {limit} bytes"),
                        fields: Vec::new(),
                    }),
                )
                .into()
            }
            JsonPayloadError::Deserialize(e) => bad_request(format!("invalid JSON body: {e}")),
            other => bad_request(format!("unreadable body: {other}")),
        })
}
