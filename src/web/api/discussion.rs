//! The panel's anonymous discussion through the API: experts read and post through their
//! personal link; researchers moderate, reply as facilitator and clear posts for the report.

use super::Routes;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Deserialize;

use super::participation::with_participant;
use crate::ops::discussion::{
    self, DigestChoice, HideInput, ModeratedPost, PostEdit, PostInput, PostView, RoundPosts, Thread,
};
use crate::web::AppState;
use crate::web::api::rounds::ClearInput;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

const TOO_MANY_POSTS: &str = "too many posts in a short while; wait a minute and try again";

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(thread)
        .route(post_to_thread)
        .route(edit_own_post)
        .route(withdraw_own_post)
        .route(get_digest)
        .route(set_digest)
        .route(round_posts)
        .route(approve_post)
        .route(hide_post)
        .route(clear_post)
        .route(facilitator_post);
}

/// A theme's discussion as the expert reads it: the published posts under handles random per
/// panellist and theme, with the day each was published, and the expert's own posts waiting
/// for approval. Not in a study without discussion (409).
#[utoipa::path(operation_id = "get_participant_thread", tag = "participation", responses(
    (status = 200, body = Thread), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[get("/api/v1/participation/{token}/rounds/{n}/themes/{theme}/posts")]
pub async fn thread(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32, String)>,
) -> ApiResult<web::Json<Thread>> {
    let (token, n, theme) = path.into_inner();
    Ok(web::Json(
        with_participant(&state, &req, token, move |c, p| {
            discussion::thread(c, p, n, &theme)
        })
        .await?,
    ))
}

/// Posts to a theme's discussion (`{text, reply_to}`): held for a researcher's approval, or
/// published at once when the study's discussion is open. Empty, over 4,000 characters, a
/// reply to a post not published in the theme: 422; a closed round, a withdrawn panellist:
/// 409; a theme not in the round: 404. Nothing is stored on any of them.
#[utoipa::path(operation_id = "post_to_thread", tag = "participation", request_body = PostInput, responses(
    (status = 201, body = PostView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[post("/api/v1/participation/{token}/rounds/{n}/themes/{theme}/posts")]
pub async fn post_to_thread(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32, String)>,
    body: web::Json<PostInput>,
) -> ApiResult<HttpResponse> {
    let (token, n, theme) = path.into_inner();
    let input = body.into_inner();
    let saves = state.saves.clone();
    let view = with_participant(&state, &req, token, move |c, p| {
        saves.take(&p.candidate.id, TOO_MANY_POSTS)?;
        let (id, posted) = discussion::post_as_expert(c, p, n, &theme, &input)?;
        posted
            .posts
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(crate::ops::AppError::NotFound)
    })
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Changes the text of the expert's own post while it waits for approval (409 once it is
/// published or hidden).
#[utoipa::path(operation_id = "edit_own_post", tag = "participation", request_body = PostEdit, responses(
    (status = 204, description = "Changed"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[put("/api/v1/participation/{token}/posts/{post}")]
pub async fn edit_own_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<PostEdit>,
) -> ApiResult<HttpResponse> {
    let (token, post) = path.into_inner();
    let edit = body.into_inner();
    with_participant(&state, &req, token, move |c, p| {
        discussion::edit_own(c, p, &post, &edit)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Withdraws the expert's own post while it waits for approval: no one will see it.
#[utoipa::path(operation_id = "withdraw_own_post", tag = "participation", responses(
    (status = 204, description = "Withdrawn"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[delete("/api/v1/participation/{token}/posts/{post}")]
pub async fn withdraw_own_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (token, post) = path.into_inner();
    with_participant(&state, &req, token, move |c, p| {
        discussion::withdraw_own(c, p, &post)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether the expert gets the daily digest of new posts.
#[utoipa::path(operation_id = "get_discussion_digest", tag = "participation", responses(
    (status = 200, body = DigestChoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[get("/api/v1/participation/{token}/discussion-digest")]
pub async fn get_digest(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<web::Json<DigestChoice>> {
    Ok(web::Json(
        with_participant(&state, &req, path.into_inner(), |c, p| {
            discussion::digest(c, p)
        })
        .await?,
    ))
}

/// Asks for (`{daily: true}`) or stops the daily digest: one e-mail a day at most, saying how
/// many posts on how many themes, never one per post.
#[utoipa::path(operation_id = "set_discussion_digest", tag = "participation", request_body = DigestChoice, responses(
    (status = 200, body = DigestChoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[put("/api/v1/participation/{token}/discussion-digest")]
pub async fn set_digest(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<DigestChoice>,
) -> ApiResult<web::Json<DigestChoice>> {
    let daily = body.into_inner().daily;
    Ok(web::Json(
        with_participant(&state, &req, path.into_inner(), move |c, p| {
            discussion::set_digest(c, p, daily)
        })
        .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WritersQuery {
    /// Also say which panellist wrote each post (recorded in the audit log).
    #[serde(default)]
    pub writers: bool,
}

/// A round's discussion for moderation: every post, waiting ones first, with its handle,
/// state and hiding reason; `?writers=true` adds who wrote each, and the audit log records
/// that the caller looked.
#[utoipa::path(operation_id = "get_round_posts", tag = "rounds", params(WritersQuery), security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = RoundPosts), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/posts")]
pub async fn round_posts(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<WritersQuery>,
) -> ApiResult<web::Json<RoundPosts>> {
    let (id, round, writers) = (who.id(), path.into_inner(), q.writers);
    Ok(web::Json(
        state
            .db(move |c| discussion::for_round(c, &id, &round, writers))
            .await?,
    ))
}

/// Publishes a post waiting for approval; it takes its place at the end of the thread.
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Published"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
#[post("/api/v1/posts/{post}/approve")]
pub async fn approve_post(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, post) = (who.id(), path.into_inner());
    state
        .db(move |c| discussion::approve(c, &id, &post))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hides a post from the panel with a reason (`{reason}`), kept for the researchers.
#[utoipa::path(tag = "rounds", request_body = HideInput, security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Hidden"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/posts/{post}/hide")]
pub async fn hide_post(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<HideInput>,
) -> ApiResult<HttpResponse> {
    let (id, post, reason) = (who.id(), path.into_inner(), body.into_inner().reason);
    state
        .db(move |c| discussion::hide(c, &id, &post, &reason))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Clears a published post for the funder's report, without its handle (or takes the
/// clearance back); the funder's report otherwise counts posts per theme only.
#[utoipa::path(tag = "rounds", request_body = ClearInput, security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Done"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
#[put("/api/v1/posts/{post}/cleared")]
pub async fn clear_post(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ClearInput>,
) -> ApiResult<HttpResponse> {
    let (id, post, cleared) = (who.id(), path.into_inner(), body.into_inner().cleared);
    state
        .db(move |c| discussion::clear(c, &id, &post, cleared))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A researcher's post in a theme's discussion, published at once and marked as the
/// facilitator's (`{text, reply_to}`).
#[utoipa::path(tag = "rounds", request_body = PostInput, security(("bearer" = []), ("session" = [])), responses(
    (status = 201, body = ModeratedPost), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/rounds/{round}/themes/{theme}/posts")]
pub async fn facilitator_post(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
    body: web::Json<PostInput>,
) -> ApiResult<HttpResponse> {
    let (id, (round, theme), input) = (who.id(), path.into_inner(), body.into_inner());
    let post = state
        .db(move |c| discussion::post_as_facilitator(c, &id, &round, &theme, &input))
        .await?;
    Ok(HttpResponse::Created().json(post))
}
