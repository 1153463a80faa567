//! The expert's side of the API: the token in their link is their only credential.

use super::Routes;
use actix_web::{HttpRequest, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::utc;
use crate::domain::Language;
use crate::domain::candidate::Status;
use crate::ops::AppResult;
use crate::ops::answers::{self, AnswersInput, ExpertRound};
use crate::ops::interviews::{self, Questionnaire, QuestionnaireInput};
use crate::ops::participation::{self, ConsentAnswer, Participant, Purpose};
use crate::web::AppState;
use crate::web::auth::client_address;
use crate::web::error::{ApiResult, ErrorBody};

const TOO_MANY_SAVES: &str = "too many saves in a short while; wait a minute and try again";

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(me)
        .route(consent)
        .route(withdraw)
        .route(unsubscribe)
        .route(round)
        .route(put_answers)
        .route(questionnaire)
        .route(put_questionnaire);
}

/// Resolves a personal link, counting failures per client address so links cannot be found by
/// trying: an address with too many unknown links gets 429 for further unknown ones, while a
/// valid link always works (many people may share one address behind a NAT).
pub async fn participant(
    state: &AppState,
    req: &HttpRequest,
    token: String,
) -> AppResult<Participant> {
    participant_for(state, req, token, Purpose::Access).await
}

/// `participant` for a link used for `purpose` (an unsubscribe link only unsubscribes).
pub async fn participant_for(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    purpose: Purpose,
) -> AppResult<Participant> {
    with_participant_for(state, req, token, purpose, |_, p| Ok(p.clone())).await
}

/// `participant`, then `f` with the participant, in one trip to the database.
pub async fn with_participant<T, F>(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    f: F,
) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConn, &Participant) -> AppResult<T> + Send + 'static,
{
    with_participant_for(state, req, token, Purpose::Access, f).await
}

async fn with_participant_for<T, F>(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    purpose: Purpose,
    f: F,
) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConn, &Participant) -> AppResult<T> + Send + 'static,
{
    let address = client_address(req, state.settings.security.trust_forwarded_for);
    let found = state
        .db(
            move |c| match participation::resolve_for(c, &token, purpose)? {
                Some(p) => f(c, &p).map(Some),
                None => Ok(None),
            },
        )
        .await?;
    found.ok_or_else(|| state.link_guesses.miss(&address))
}

/// What an expert sees of their own participation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ParticipationView {
    pub study: StudySummary,
    pub status: Status,
    /// The consent text to accept, with its version.
    pub consent_text: String,
    pub consent_version: i32,
    /// When they gave consent, if they did.
    pub consented_at: Option<DateTime<Utc>>,
    pub mail_opt_out: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StudySummary {
    pub title: String,
    pub purpose: String,
    pub funder: String,
    pub contact: String,
    pub language: Language,
}

/// The expert's own participation: the study, their status, the consent text.
#[utoipa::path(operation_id = "get_participation", tag = "participation", responses(
    (status = 200, body = ParticipationView), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[get("/api/v1/participation/{token}")]
pub async fn me(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<web::Json<ParticipationView>> {
    let p = participant(&state, &req, path.into_inner()).await?;
    let p2 = p.clone();
    let (current, accepted) = state
        .db(move |c| participation::consent_texts(c, &p2))
        .await?;
    Ok(web::Json(ParticipationView {
        study: StudySummary {
            title: p.study.title.clone(),
            purpose: p.study.purpose.clone(),
            funder: p.study.funder.clone(),
            contact: p.study.contact.clone(),
            language: Language::from_stored(&p.study.language),
        },
        status: p.status(),
        consent_text: current.body,
        consent_version: current.version,
        consented_at: accepted.map(|(_, at)| utc(at)),
        mail_opt_out: p.candidate.mail_opt_out_at.is_some(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub status: Status,
}

/// Accepts (`{accept: true}`: written consent with the text's version and the time) or declines
/// (`{accept: false, reason, referral: {name, email, organisation}}`). Repeating the same answer
/// changes nothing.
#[utoipa::path(operation_id = "answer_invitation", tag = "participation", request_body = ConsentAnswer, responses(
    (status = 200, body = StatusView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[post("/api/v1/participation/{token}/consent")]
pub async fn consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ConsentAnswer>,
) -> ApiResult<web::Json<StatusView>> {
    let token = path.into_inner();
    participant(&state, &req, token.clone()).await?;
    let env = state.mail.clone();
    let answer = body.into_inner();
    let status = state
        .db(move |c| participation::answer(c, &env, &token, answer))
        .await?;
    state.wake_worker();
    Ok(web::Json(StatusView { status }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    #[serde(default)]
    pub reason: String,
}

/// Leaves the panel. Answers already given stay under the pseudonym.
#[utoipa::path(operation_id = "withdraw_from_study", tag = "participation", request_body = WithdrawBody, responses(
    (status = 200, body = StatusView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[post("/api/v1/participation/{token}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<WithdrawBody>,
) -> ApiResult<web::Json<StatusView>> {
    let token = path.into_inner();
    participant(&state, &req, token.clone()).await?;
    let reason = body.into_inner().reason;
    let status = state
        .db(move |c| participation::withdraw(c, &token, &reason))
        .await?;
    Ok(web::Json(StatusView { status }))
}

/// No further e-mail about the study (an open invitation counts as declined).
#[utoipa::path(operation_id = "unsubscribe", tag = "participation", responses(
    (status = 204, description = "Done"), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[post("/api/v1/participation/{token}/unsubscribe")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<actix_web::HttpResponse> {
    let token = path.into_inner();
    participant_for(&state, &req, token.clone(), Purpose::Unsubscribe).await?;
    state
        .db(move |c| participation::unsubscribe(c, &token))
        .await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}

/// A round as the expert sees it: the published themes grouped by category, their own answers,
/// and in a feedback round the group's previous distribution (only when at least the study's
/// minimum group size answered) with their own previous score.
#[utoipa::path(operation_id = "get_participant_round", tag = "participation", responses(
    (status = 200, body = ExpertRound), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[get("/api/v1/participation/{token}/rounds/{n}")]
pub async fn round(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
) -> ApiResult<web::Json<ExpertRound>> {
    let (token, n) = path.into_inner();
    Ok(web::Json(
        with_participant(&state, &req, token, move |c, p| {
            answers::expert_round_for(c, p, n)
        })
        .await?,
    ))
}

/// What a save answers with: the whole round, or with `Prefer: return=minimal` only how far the
/// expert is (what a page saving theme by theme shows).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SaveReply {
    Round(Box<ExpertRound>),
    Progress(answers::SavedAnswers),
}

/// Whether the request asks for the short reply (RFC 7240 `Prefer: return=minimal`).
fn wants_minimal(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            let p = p.split(';').next().unwrap_or("");
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim().eq_ignore_ascii_case("return")
                && v.trim().trim_matches('"').eq_ignore_ascii_case("minimal")
        })
}

/// Saves answers: `{answers: [{theme_id, score, dont_know, comment, proposal, reason}], submit}`.
/// Every answer is checked first; with any fault nothing is stored (422). After the deadline
/// answers are final (409). Answers with the round as the expert now sees it; with the header
/// `Prefer: return=minimal` only with `{answered, total, submitted_at}` (and
/// `Preference-Applied: return=minimal`), which is all a page saving theme by theme needs.
#[utoipa::path(operation_id = "save_answers", tag = "participation", request_body = AnswersInput,
    params(("Prefer" = Option<String>, Header, description = "`return=minimal` for the short reply")),
    responses(
    (status = 200, body = SaveReply, description = "The round (`ExpertRound`), or with `Prefer: return=minimal` how far the expert is (`SavedAnswers`)"),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[put("/api/v1/participation/{token}/rounds/{n}/answers")]
pub async fn put_answers(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
    body: web::Json<AnswersInput>,
) -> ApiResult<actix_web::HttpResponse> {
    let (token, n) = path.into_inner();
    let input = body.into_inner();
    let saves = state.saves.clone();
    let live_minutes = state.settings.rounds.live_snapshot_minutes;
    let minimal = wants_minimal(&req);
    let reply = with_participant(&state, &req, token, move |c, p| {
        saves.take(&p.candidate.id, TOO_MANY_SAVES)?;
        let saved = answers::save_for(c, p, n, input, live_minutes)?;
        Ok(if minimal {
            SaveReply::Progress(saved.progress(c)?)
        } else {
            SaveReply::Round(Box::new(saved.round(c, p)?))
        })
    })
    .await?;
    let mut response = actix_web::HttpResponse::Ok();
    if minimal {
        response.insert_header(("Preference-Applied", "return=minimal"));
    }
    Ok(response.json(reply))
}

/// A written questionnaire (a qualitative round answered in writing): the guide's questions
/// with the expert's own answers.
#[utoipa::path(operation_id = "get_participant_questionnaire", tag = "participation", responses(
    (status = 200, body = Questionnaire), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[get("/api/v1/participation/{token}/rounds/{n}/questionnaire")]
pub async fn questionnaire(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
) -> ApiResult<web::Json<Questionnaire>> {
    let (token, n) = path.into_inner();
    participant(&state, &req, token.clone()).await?;
    Ok(web::Json(
        state
            .db(move |c| interviews::questionnaire(c, &token, n))
            .await?,
    ))
}

/// Saves questionnaire answers: `{answers: [{question_id, text}], submit}`. An empty text
/// removes the answer. After the deadline answers are final (409).
#[utoipa::path(operation_id = "save_questionnaire_answers", tag = "participation", request_body = QuestionnaireInput, responses(
    (status = 200, body = Questionnaire), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
#[put("/api/v1/participation/{token}/rounds/{n}/questionnaire")]
pub async fn put_questionnaire(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
    body: web::Json<QuestionnaireInput>,
) -> ApiResult<web::Json<Questionnaire>> {
    let (token, n) = path.into_inner();
    let p = participant(&state, &req, token.clone()).await?;
    state.saves.take(&p.candidate.id, TOO_MANY_SAVES)?;
    let input = body.into_inner();
    Ok(web::Json(
        state
            .db(move |c| interviews::save_questionnaire(c, &token, n, input))
            .await?,
    ))
}
