//! Recruitment through the API: panel attributes, candidates, CSV import, invitations, the
//! overview, messages, and the study's own letters and consent text.

use super::Routes;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::Deserialize;

use crate::domain::candidate::{CandidateInput, Stratum};
use crate::domain::csv_import::Preview;
use crate::mail::Kind;
use crate::mail::templates::CustomLetter;
use crate::ops::AppError;
use crate::ops::letters::{self, ConsentTextView, LetterPreview, LetterView};
use crate::ops::recruitment::{
    self, CandidateDetail, CandidatePatch, CandidateView, InvitationResult, Recruitment,
};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiError, ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(get_strata)
        .route(put_strata)
        .route(add_candidate)
        .route(list_candidates)
        .route(import_candidates)
        .route(get_candidate)
        .route(patch_candidate)
        .route(set_candidates_strata)
        .route(withdraw_candidate)
        .route(invite)
        .route(overview)
        .route(messages)
        .route(get_consent_text)
        .route(put_consent_text)
        .route(get_letter)
        .route(put_letter)
        .route(delete_letter)
        .route(preview_letter);
}

/// The study's panel attributes (strata).
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<Stratum>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/strata")]
pub async fn get_strata(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<Stratum>>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| recruitment::get_strata(c, &id, &study))
            .await?,
    ))
}

/// Replaces the panel attributes: `[{key, label, values: [...]}]`. A value still used by a
/// candidate cannot be removed.
#[utoipa::path(operation_id = "set_strata", tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = Vec<Stratum>, responses(
    (status = 200, body = Vec<Stratum>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/strata")]
pub async fn put_strata(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<Vec<Stratum>>,
) -> ApiResult<web::Json<Vec<Stratum>>> {
    let (id, study, strata) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| recruitment::set_strata(c, &id, &study, strata))
            .await?,
    ))
}

/// Adds a candidate: `name`, `email`, `organisation`, `strata: {key: value}`, `source`,
/// `referred_by` (another candidate's id).
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = CandidateInput, responses(
    (status = 201, body = CandidateView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/candidates")]
pub async fn add_candidate(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<CandidateInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let cand = state
        .db(move |c| recruitment::add(c, &id, &study, input))
        .await?;
    Ok(HttpResponse::Created().json(cand))
}

/// The query of a candidate list (every parameter optional).
#[derive(Deserialize, utoipa::IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct CandidateListQuery {
    /// Words to find in the name, e-mail or organisation (any case).
    q: Option<String>,
    /// Only candidates with this status.
    status: Option<String>,
    /// Only candidates found this way (the source as typed, or `referral`).
    source: Option<String>,
    /// `name` (the default), `added` (newest first), `status` or `organisation`.
    sort: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<usize>,
    /// Skip this many of the matching candidates.
    offset: Option<usize>,
    /// `stratum.KEY=VALUE`: only candidates with this value of the attribute `KEY` (one
    /// parameter per attribute, e.g. `stratum.sector=Health`).
    #[serde(rename = "stratum.KEY")]
    #[param(rename = "stratum.KEY")]
    stratum: Option<String>,
}

/// The study's candidates, a page at a time: `{total, offset, limit, items}` where `total`
/// counts every candidate matching the query and `items` holds at most `limit` of them, each
/// with `status` and, once accepted, `pseudonym`. Viewing is logged.
#[utoipa::path(tag = "recruitment", params(CandidateListQuery), security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = recruitment::CandidatePage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/candidates")]
pub async fn list_candidates(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> ApiResult<web::Json<recruitment::CandidatePage>> {
    let (id, study) = (who.id(), path.into_inner());
    let q = recruitment::CandidateQuery::parse(&query, "stratum.")?;
    Ok(web::Json(
        state
            .db(move |c| recruitment::search(c, &id, &study, &q))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// Only read the file and report each row's problems; save nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a refused import answers: the preview with its problem rows, or an error about the
/// file as a whole (not CSV, no header line).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ImportProblem {
    Rows(Preview),
    File(ErrorBody),
}

/// What an import that saved every row answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportDone {
    /// The candidates saved (every row of the file).
    pub saved: usize,
    /// `;` or `,`.
    pub delimiter: String,
    /// `UTF-8`, or `Windows-1252` when the file was not UTF-8.
    pub encoding: String,
}

/// Imports candidates from a CSV file sent as the body (`text/csv`): UTF-8 or Windows-1252,
/// `;` or `,` separated, a header line with `name`, `email` and optionally `organisation`,
/// `source`, `notes`, `referred_by` (an e-mail) and the study's attribute keys or labels.
/// Every row is checked first: with any problem nothing is saved (422 with the preview). A file
/// holds at most 5,000 rows and 2 MB, and a study at most 20,000 candidates.
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), params(ImportQuery),
    request_body(content(([u8] = "text/csv"), ([u8] = "application/octet-stream")), description = "The CSV file, sent as the body"), responses(
    (status = 200, description = "Dry run: the preview", body = Preview),
    (status = 201, description = "Saved: how many", body = ImportDone),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, description = "Problems in the rows (the preview) or in the file as a whole (an error); nothing was saved", body = ImportProblem),
))]
#[post("/api/v1/studies/{study}/candidates/import")]
pub async fn import_candidates(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<ImportQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (id, study) = (who.id(), path.into_inner());
    // The file's own limit, not the smaller one of other request bodies.
    let bytes = super::read_body(body, crate::domain::csv_import::MAX_BYTES, "file").await?;
    if q.dry_run {
        let preview = state
            .db(move |c| recruitment::import_preview(c, &id, &study, &bytes))
            .await?;
        return Ok(HttpResponse::Ok().json(preview));
    }
    let (preview, saved) = state
        .db(move |c| recruitment::import(c, &id, &study, &bytes))
        .await?;
    if saved == 0 {
        return Ok(HttpResponse::UnprocessableEntity().json(preview));
    }
    // Everything was saved: how many, not the whole file back.
    Ok(HttpResponse::Created().json(ImportDone {
        saved,
        delimiter: preview.delimiter,
        encoding: preview.encoding,
    }))
}

/// One candidate with their status history and messages. Viewing is logged.
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = CandidateDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/candidates/{candidate}")]
pub async fn get_candidate(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<CandidateDetail>> {
    let (id, cand) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| recruitment::detail(c, &id, &cand))
            .await?,
    ))
}

/// Corrects a candidate's details.
#[utoipa::path(operation_id = "update_candidate", tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = CandidatePatch, responses(
    (status = 200, body = CandidateView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[patch("/api/v1/candidates/{candidate}")]
pub async fn patch_candidate(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<CandidatePatch>,
) -> ApiResult<web::Json<CandidateView>> {
    let (id, cand, patch) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| recruitment::update(c, &id, &cand, patch))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrataValuesInput {
    /// Candidate id → attribute key → value; an empty value clears the attribute, keys not
    /// given stay as they are.
    #[schema(value_type = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>)]
    pub values: recruitment::StrataValues,
}

/// Sets attribute values for several candidates at once, all or (when one is wrong) none.
/// Returns the candidates whose values changed.
#[utoipa::path(operation_id = "set_candidates_strata", tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = StrataValuesInput, responses(
    (status = 200, body = Vec<CandidateView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/candidates/strata")]
pub async fn set_candidates_strata(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<StrataValuesInput>,
) -> ApiResult<web::Json<Vec<CandidateView>>> {
    let (id, study, values) = (who.id(), path.into_inner(), body.into_inner().values);
    Ok(web::Json(
        state
            .db(move |c| recruitment::set_strata_values(c, &id, &study, values))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawInput {
    #[serde(default)]
    pub reason: String,
}

/// Takes a candidate out of the study; answers already given stay under the pseudonym.
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = WithdrawInput, responses(
    (status = 200, body = CandidateView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
#[post("/api/v1/candidates/{candidate}/withdraw")]
pub async fn withdraw_candidate(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<WithdrawInput>,
) -> ApiResult<web::Json<CandidateView>> {
    let (id, cand, reason) = (who.id(), path.into_inner(), body.into_inner().reason);
    Ok(web::Json(
        state
            .db(move |c| recruitment::withdraw(c, &id, &cand, &reason))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    pub candidate_ids: Vec<String>,
}

/// Queues invitation e-mails (the study's cover letter with each candidate's personal link).
#[utoipa::path(operation_id = "invite_candidates", tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = InvitationInput, responses(
    (status = 202, body = InvitationResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/invitations")]
pub async fn invite(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<InvitationInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, ids) = (who.id(), path.into_inner(), body.into_inner().candidate_ids);
    let env = state.mail.clone();
    let result = state
        .db(move |c| recruitment::invite(c, &env, &id, &study, &ids))
        .await?;
    state.wake_worker();
    Ok(HttpResponse::Accepted().json(result))
}

/// Recruitment at a glance: counts per status and per attribute value, decline reasons, and
/// the referral tree.
#[utoipa::path(tag = "recruitment", operation_id = "get_recruitment", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Recruitment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/recruitment")]
pub async fn overview(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Recruitment>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| recruitment::overview(c, &id, &study))
            .await?,
    ))
}

/// The query of a study's message list (every parameter optional).
#[derive(Deserialize, utoipa::IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct MessageListQuery {
    /// Only messages in this state: `queued`, `sending`, `sent` or `failed`.
    state: Option<String>,
    /// Only messages of this kind (e.g. `invitation`, `round_reminder`).
    kind: Option<String>,
    /// Words to find in the recipient's address (any case).
    to: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<usize>,
    /// Skip this many of the matching messages.
    offset: Option<usize>,
}

/// The study's messages with their delivery state (never their bodies), a page at a time:
/// `{counts, total, offset, limit, items}` with failed messages first, then newest first;
/// `counts` holds every message of the study per state, `total` those matching the query.
#[utoipa::path(operation_id = "list_messages", tag = "recruitment", params(MessageListQuery), security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = recruitment::MessagePage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> ApiResult<web::Json<recruitment::MessagePage>> {
    let (id, study) = (who.id(), path.into_inner());
    let q = recruitment::MessageQuery::parse(&query)?;
    Ok(web::Json(
        state
            .db(move |c| recruitment::messages(c, &id, &study, &q))
            .await?,
    ))
}

/// The consent text experts accept (its current version).
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = ConsentTextView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/consent-text")]
pub async fn get_consent_text(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<ConsentTextView>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| letters::consent_text(c, &id, &study))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentTextInput {
    pub body: String,
}

/// Writes a new version of the consent text; consents already given keep their version.
#[utoipa::path(operation_id = "set_consent_text", tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = ConsentTextInput, responses(
    (status = 200, body = ConsentTextView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/consent-text")]
pub async fn put_consent_text(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ConsentTextInput>,
) -> ApiResult<web::Json<ConsentTextView>> {
    let (id, study, text) = (who.id(), path.into_inner(), body.into_inner().body);
    Ok(web::Json(
        state
            .db(move |c| letters::set_consent_text(c, &id, &study, &text))
            .await?,
    ))
}

fn kind(name: &str) -> Result<Kind, ApiError> {
    Kind::letter(name).ok_or(ApiError(AppError::NotFound))
}

/// The study's letter for one kind of message (`invitation`, `reminder`, `confirmation`,
/// `round_invitation`, `round_reminder`, `round_extended`): its own, or the default.
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = LetterView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/letters/{kind}")]
pub async fn get_letter(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<LetterView>> {
    let (study, k) = path.into_inner();
    let (id, k, env) = (who.id(), kind(&k)?, state.mail.clone());
    Ok(web::Json(
        state
            .db(move |c| letters::letter(c, &env, &id, &study, k))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    /// The subject line; may use `{{ study.title }}` and the other names of the letter.
    pub subject: String,
    /// The letter in plain text. Names in double braces are filled in per recipient:
    /// `{{ name }}`, `{{ deadline }}`, `{{ round_number }}`, `{{ study.title }}`,
    /// `{{ study.purpose }}`, `{{ study.funder }}`, `{{ study.contact }}`. The personal link
    /// and the footer are added below it.
    pub letter: String,
}

/// Sets the study's own letter (checked by rendering it first).
#[utoipa::path(operation_id = "set_letter", tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = LetterInput, responses(
    (status = 200, body = LetterView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/letters/{kind}")]
pub async fn put_letter(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
    body: web::Json<LetterInput>,
) -> ApiResult<web::Json<LetterView>> {
    let (study, k) = path.into_inner();
    let (id, k, env) = (who.id(), kind(&k)?, state.mail.clone());
    let LetterInput { subject, letter } = body.into_inner();
    let custom = CustomLetter { subject, letter };
    Ok(web::Json(
        state
            .db(move |c| letters::set_letter(c, &env, &id, &study, k, Some(custom)))
            .await?,
    ))
}

/// Goes back to the default letter.
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = LetterView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/studies/{study}/letters/{kind}")]
pub async fn delete_letter(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<LetterView>> {
    let (study, k) = path.into_inner();
    let (id, k, env) = (who.id(), kind(&k)?, state.mail.clone());
    Ok(web::Json(
        state
            .db(move |c| letters::set_letter(c, &env, &id, &study, k, None))
            .await?,
    ))
}

/// Renders a proposed letter as the message would look, with sample recipient values.
#[utoipa::path(tag = "recruitment", security(("bearer" = []), ("session" = [])), request_body = LetterInput, responses(
    (status = 200, body = LetterPreview), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/letters/{kind}/preview")]
pub async fn preview_letter(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
    body: web::Json<LetterInput>,
) -> ApiResult<web::Json<LetterPreview>> {
    let (study, k) = path.into_inner();
    let (id, k, env) = (who.id(), kind(&k)?, state.mail.clone());
    let LetterInput { subject, letter } = body.into_inner();
    let custom = CustomLetter { subject, letter };
    Ok(web::Json(
        state
            .db(move |c| letters::preview_letter(c, &env, &id, &study, k, &custom))
            .await?,
    ))
}
