//! Studies: create, list, read, change settings; members; where a study stands.

use super::Routes;
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::Deserialize;

use crate::domain::study::StudyInput;
use crate::ops::studies::{self, MemberView, Overview, StudyView};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(create_study)
        .route(list_studies)
        .route(get_study)
        .route(update_study)
        .route(study_overview)
        .route(list_members)
        .route(set_member)
        .route(remove_member);
}

/// Creates a study; the caller becomes its owner. Only `title` is required: the rest takes the
/// defaults of PRODUCT.md (scale 0-4 with "don't know", consensus ≥ 70 % in the top or bottom two
/// points with IQR ≤ 1, feedback from 3 answers, priority at mean ≥ 3).
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), request_body = StudyInput, responses(
    (status = 201, body = StudyView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 422, description = "A setting is invalid; `fields` names it", body = ErrorBody),
))]
#[post("/api/v1/studies")]
pub async fn create_study(
    state: web::Data<AppState>,
    who: ApiResearcher,
    body: web::Json<StudyInput>,
) -> ApiResult<HttpResponse> {
    let id = who.id();
    let input = body.into_inner();
    let zone = state.settings.time_zone();
    let study = state
        .db(move |c| studies::create(c, &id, input, zone))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/studies/{}", study.id)))
        .json(study))
}

/// The studies the caller belongs to.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<StudyView>),
    (status = 401, body = ErrorBody),
))]
#[get("/api/v1/studies")]
pub async fn list_studies(
    state: web::Data<AppState>,
    who: ApiResearcher,
) -> ApiResult<web::Json<Vec<StudyView>>> {
    let id = who.id();
    Ok(web::Json(state.db(move |c| studies::list(c, &id)).await?))
}

/// One study. Another team's study answers 404, as if it did not exist.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = StudyView),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}")]
pub async fn get_study(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<StudyView>> {
    let id = who.id();
    let study = path.into_inner();
    Ok(web::Json(
        state.db(move |c| studies::get(c, &id, &study)).await?,
    ))
}

/// Changes settings; absent fields stay as they are. The consensus rule cannot change once the
/// first rating round has opened.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), request_body = StudyInput, responses(
    (status = 200, body = StudyView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
#[patch("/api/v1/studies/{study}")]
pub async fn update_study(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<StudyInput>,
) -> ApiResult<web::Json<StudyView>> {
    let id = who.id();
    let study = path.into_inner();
    let input = body.into_inner();
    Ok(web::Json(
        state
            .db(move |c| studies::update(c, &id, &study, input))
            .await?,
    ))
}

/// Where the study stands: its phase and counts.
#[utoipa::path(operation_id = "get_study_overview", tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Overview),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/overview")]
pub async fn study_overview(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Overview>> {
    let id = who.id();
    let study = path.into_inner();
    Ok(web::Json(
        state.db(move |c| studies::overview(c, &id, &study)).await?,
    ))
}

/// The researchers of a study.
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<MemberView>),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<MemberView>>> {
    let id = who.id();
    let study = path.into_inner();
    Ok(web::Json(
        state.db(move |c| studies::members(c, &id, &study)).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// The e-mail of an existing researcher account.
    pub email: String,
    /// `owner` or `researcher`.
    pub role: String,
}

/// Adds a researcher to the study or changes their role (owners only).
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), request_body = MemberInput, responses(
    (status = 200, body = MemberView),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/members")]
pub async fn set_member(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<MemberInput>,
) -> ApiResult<web::Json<MemberView>> {
    let id = who.id();
    let study = path.into_inner();
    let MemberInput { email, role } = body.into_inner();
    Ok(web::Json(
        state
            .db(move |c| studies::set_member(c, &id, &study, &email, &role))
            .await?,
    ))
}

/// Removes a researcher from the study (owners; anyone may leave; the last owner may not).
#[utoipa::path(tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Removed"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody),
))]
#[delete("/api/v1/studies/{study}/members/{researcher}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let id = who.id();
    let (study, member) = path.into_inner();
    state
        .db(move |c| studies::remove_member(c, &id, &study, &member))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
