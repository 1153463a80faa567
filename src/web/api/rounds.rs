//! Rounds through the API: create, open (e-mails every panellist), extend, remind, close, the
//! answers researchers review between rounds, and the study's to-do list.

use super::Routes;
use actix_web::{HttpResponse, get, patch, post, put, web};
use serde::{Deserialize, Serialize};

use crate::domain::round::RoundInput;
use crate::ops::rounds::{self, Opened, RoundPatch, RoundResponses, RoundView};
use crate::ops::todo::{self, RemindInput, Reminded, Todo};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(create_round)
        .route(list_rounds)
        .route(get_round)
        .route(patch_round)
        .route(open_round)
        .route(close_round)
        .route(remind_round)
        .route(study_todo)
        .route(round_responses)
        .route(round_progress)
        .route(theme_comments)
        .route(round_live)
        .route(clear_comment)
        .route(set_minority_statement);
}

/// Creates a round in draft: `{kind: "qualitative"|"rating", validation, rating, feedback,
/// closes_at}`. Rounds are numbered 1, 2, 3, … in the order they are created, as researchers
/// count them: when the study's first round is a rating round and its interviews were held
/// outside a round (transcripts were added), that round is 2 — round 1 was the interviews.
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), request_body = RoundInput, responses(
    (status = 201, body = RoundView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/rounds")]
pub async fn create_round(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<RoundInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let r = state
        .db(move |c| rounds::create(c, &id, &study, input))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

/// The study's rounds with their state and progress.
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<RoundView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/rounds")]
pub async fn list_rounds(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<RoundView>>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| rounds::list(c, &id, &study)).await?,
    ))
}

/// One round, with the themes it published.
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = RoundView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}")]
pub async fn get_round(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<RoundView>> {
    let (id, round) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| rounds::get(c, &id, &round)).await?,
    ))
}

/// Changes the deadline, instructions or reminder days. Extending an open round's deadline
/// e-mails the panellists who have not submitted.
#[utoipa::path(operation_id = "update_round", tag = "rounds", security(("bearer" = []), ("session" = [])), request_body = RoundPatch, responses(
    (status = 200, body = RoundView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[patch("/api/v1/rounds/{round}")]
pub async fn patch_round(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<RoundPatch>,
) -> ApiResult<web::Json<RoundView>> {
    let (id, round, patch, env) = (
        who.id(),
        path.into_inner(),
        body.into_inner(),
        state.mail.clone(),
    );
    let r = state
        .db(move |c| rounds::update(c, &env, &id, &round, patch))
        .await?;
    state.wake_worker();
    Ok(web::Json(r))
}

/// Opens the round: publishes the codebook as it stands, locks the consensus rule (first rating
/// round), and e-mails every consenting panellist their personal link with the deadline.
/// Calling it again e-mails only those who joined since.
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 202, body = Opened), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/rounds/{round}/open")]
pub async fn open_round(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, round, env) = (who.id(), path.into_inner(), state.mail.clone());
    let opened = state
        .db(move |c| rounds::open(c, &env, &id, &round))
        .await?;
    state.wake_worker();
    Ok(HttpResponse::Accepted().json(opened))
}

/// Closes the round now; its answers are final. (Rounds also close by themselves at the deadline.)
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = RoundView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
#[post("/api/v1/rounds/{round}/close")]
pub async fn close_round(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<RoundView>> {
    let (id, round) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| rounds::close(c, &id, &round)).await?,
    ))
}

/// Sends a reminder now to the open round's panellists who have not submitted: all of them
/// (`{}`), or those in `candidate_ids`. One reminder by hand per person per hour: a repeated call within the
/// hour skips those already reminded.
#[utoipa::path(operation_id = "remind_round_now", tag = "rounds", security(("bearer" = []), ("session" = [])), request_body = RemindInput, responses(
    (status = 202, body = Reminded), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/rounds/{round}/reminders")]
pub async fn remind_round(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<RemindInput>,
) -> ApiResult<HttpResponse> {
    let (id, round, env) = (who.id(), path.into_inner(), state.mail.clone());
    let input = body.into_inner();
    let reminded = state
        .db(move |c| todo::remind_now(c, &env, &id, &round, input))
        .await?;
    state.wake_worker();
    Ok(HttpResponse::Accepted().json(reminded))
}

/// What waits for the researchers now: per open round who has not answered (named: viewing is
/// logged) with the reminders planned and sent; referred candidates not yet invited; comments
/// not yet cleared for the report; invitations unanswered after their last reminder; and what
/// is missing before e-mails go out (`no_contact`, `no_funder`, `local_sender`).
#[utoipa::path(operation_id = "get_study_todo", tag = "studies", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Todo), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/todo")]
pub async fn study_todo(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Todo>> {
    let (id, study) = (who.id(), path.into_inner());
    let sender = state.settings.mail.from.clone();
    Ok(web::Json(
        state
            .db(move |c| todo::todo(c, &id, &study, &sender))
            .await?,
    ))
}

/// Who has answered and submitted (pseudonym and name), and every comment and proposal per
/// theme under its pseudonym. Viewing is logged.
#[utoipa::path(operation_id = "get_round_responses", tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = RoundResponses), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/responses")]
pub async fn round_responses(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<RoundResponses>> {
    let (id, round) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| rounds::responses(c, &id, &round)).await?,
    ))
}

/// The query of a round's progress list (every parameter optional).
#[derive(Deserialize, utoipa::IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct ProgressListQuery {
    /// Words to find in the pseudonym or name (any case).
    q: Option<String>,
    /// `not_started` (nothing answered), `draft` (answered, not submitted) or `submitted`.
    status: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<usize>,
    /// Skip this many of the matching panellists.
    offset: Option<usize>,
    /// `stratum.KEY=VALUE`: only panellists with this value of the attribute `KEY`.
    #[serde(rename = "stratum.KEY")]
    #[param(rename = "stratum.KEY")]
    stratum: Option<String>,
}

/// A round's panellists a page at a time, by pseudonym: `{counts, total, offset, limit,
/// items}`, where `counts` covers the whole round (not started, draft, submitted, opened),
/// `total` counts the panellists matching the query and `items` holds at most `limit` of
/// them. Viewing is logged.
#[utoipa::path(operation_id = "get_round_progress", tag = "rounds", params(ProgressListQuery), security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = crate::ops::progress::ProgressPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/progress")]
pub async fn round_progress(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> ApiResult<web::Json<crate::ops::progress::ProgressPage>> {
    let (id, round) = (who.id(), path.into_inner());
    let q = crate::ops::progress::ProgressQuery::parse(&query, "stratum.")?;
    Ok(web::Json(
        state
            .db(move |c| crate::ops::progress::progress(c, &id, &round, &q))
            .await?,
    ))
}

/// The query of a theme's comment list (every parameter optional).
#[derive(Deserialize, utoipa::IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct CommentListQuery {
    /// `waiting` (comments not yet cleared for the report), `cleared` or `proposals`.
    show: Option<String>,
    /// Words to find in the pseudonym or the texts (any case).
    q: Option<String>,
    /// At most this many (default 50, at most 1,000).
    limit: Option<usize>,
    /// Skip this many of the matching answers.
    offset: Option<usize>,
}

/// One theme's answers with text (comment, proposal, reason) under their pseudonyms, a page at
/// a time: comments not yet cleared for the report first, then by pseudonym. `theme` holds the
/// counts over the whole theme and the minority statement. Viewing is logged.
#[utoipa::path(operation_id = "get_theme_comments", tag = "rounds", params(CommentListQuery), security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = crate::ops::progress::CommentPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/themes/{theme}/comments")]
pub async fn theme_comments(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> ApiResult<web::Json<crate::ops::progress::CommentPage>> {
    let (id, (round, theme)) = (who.id(), path.into_inner());
    let q = crate::ops::progress::CommentQuery::parse(&query)?;
    Ok(web::Json(
        state
            .db(move |c| crate::ops::progress::theme_comments(c, &id, &round, &theme, &q))
            .await?,
    ))
}

/// A live round as researchers follow it: per theme the figures now (from every current
/// answer), the changes waiting for the next snapshot, and the timeline of snapshots the
/// experts were shown; and how many scores were revised, by how many panellists. A classic
/// round has no snapshots.
#[utoipa::path(operation_id = "get_round_live", tag = "rounds", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = crate::ops::live::LiveRound), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/live")]
pub async fn round_live(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<crate::ops::live::LiveRound>> {
    let (id, round) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| crate::ops::live::for_researcher(c, &id, &round))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearInput {
    /// Whether the comment may appear, without attribution, in the funder's report.
    pub cleared: bool,
}

/// Clears a comment for the report (or takes the clearance back).
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), request_body = ClearInput, responses(
    (status = 204, description = "Done"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[put("/api/v1/answers/{answer}/cleared")]
pub async fn clear_comment(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ClearInput>,
) -> ApiResult<HttpResponse> {
    let (id, answer, cleared) = (who.id(), path.into_inner(), body.into_inner().cleared);
    state
        .db(move |c| rounds::clear_comment(c, &id, &answer, cleared))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MinorityStatementInput {
    /// The researchers' account of the theme's minority view (at most 5,000 characters); empty
    /// removes it.
    pub statement: String,
}

/// Writes the researchers' statement of a theme's minority view in a rating round; the round's
/// report carries it beside the minority's cleared comments. An empty statement removes it.
#[utoipa::path(tag = "rounds", security(("bearer" = []), ("session" = [])), request_body = MinorityStatementInput, responses(
    (status = 200, body = MinorityStatementInput), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/rounds/{round}/themes/{theme}/minority-statement")]
pub async fn set_minority_statement(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
    body: web::Json<MinorityStatementInput>,
) -> ApiResult<web::Json<MinorityStatementInput>> {
    let (id, (round, theme)) = (who.id(), path.into_inner());
    let statement = body.into_inner().statement;
    let kept = state
        .db(move |c| rounds::set_minority_statement(c, &id, &round, &theme, &statement))
        .await?;
    Ok(web::Json(MinorityStatementInput {
        statement: kept.unwrap_or_default(),
    }))
}
