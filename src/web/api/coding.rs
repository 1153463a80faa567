//! Round 1 through the API: the interview guide, appointments, transcripts and their coding,
//! statements' evidence, the theme-by-interview overview, two coders' agreement, the written
//! questionnaire's documents, and REFI-QDA export and import.

use super::Routes;
use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Deserialize;

use crate::domain::Invalid;
use crate::ops::AppError;
use crate::ops::coding::{
    self, Agreement, CoderView, CodingOverview, EvidenceInput, ExcerptInput, ExcerptView,
    ThemeEvidence, TranscriptDetail, TranscriptSummary,
};
use crate::ops::interviews::{self, AppointmentInput, AppointmentView, GuideInput, GuideView};
use crate::ops::refi::{self, ImportSummary};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(get_guide)
        .route(put_guide)
        .route(guide_text)
        .route(list_appointments)
        .route(add_appointment)
        .route(put_appointment)
        .route(send_appointment)
        .route(questionnaire_documents)
        .route(list_transcripts)
        .route(add_transcript)
        .route(get_transcript)
        .route(delete_transcript)
        .route(add_excerpt)
        .route(delete_excerpt)
        .route(delete_coding)
        .route(put_evidence)
        .route(theme_evidence)
        .route(overview)
        .route(coders)
        .route(agreement)
        .route(export_codebook)
        .route(import_codebook)
        .route(export_project)
        .route(import_project);
}

/// The largest `.qdpx` project accepted.
pub const MAX_PROJECT_BYTES: usize = 100 * 1024 * 1024;

/// A round's interview guide: sections (categories of questions), each question with an
/// optional note on which respondents it suits.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = GuideView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/guide")]
pub async fn get_guide(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<GuideView>> {
    let (id, round) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| interviews::guide(c, &id, &round)).await?,
    ))
}

/// Replaces the guide: `{sections: [{title, questions: [{text, note}]}]}`. Once panellists
/// have answered a written questionnaire, its questions can no longer change (409).
#[utoipa::path(operation_id = "set_guide", tag = "round 1", security(("bearer" = []), ("session" = [])), request_body = GuideInput, responses(
    (status = 200, body = GuideView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/rounds/{round}/guide")]
pub async fn put_guide(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<GuideInput>,
) -> ApiResult<web::Json<GuideView>> {
    let (id, round, input) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| interviews::set_guide(c, &id, &round, input))
            .await?,
    ))
}

/// The guide as plain text, to print or send.
#[utoipa::path(operation_id = "get_guide_text", tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, description = "The guide", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/guide.txt")]
pub async fn guide_text(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, round) = (who.id(), path.into_inner());
    let (text, lang) = state
        .db(move |c| interviews::guide_document(c, &id, &round))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                interviews::guide_filename(lang)
            ),
        ))
        .body(text))
}

/// The round's interview appointments, with the panellists' names. Viewing is logged.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<AppointmentView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/rounds/{round}/appointments")]
pub async fn list_appointments(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<AppointmentView>>> {
    let (id, round) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| interviews::appointments(c, &id, &round))
            .await?,
    ))
}

/// Proposes an appointment: `{panellist, starts_at, duration_minutes, interviewer, state, notes}`.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), request_body = AppointmentInput, responses(
    (status = 201, body = AppointmentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/rounds/{round}/appointments")]
pub async fn add_appointment(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<AppointmentInput>,
) -> ApiResult<HttpResponse> {
    let (id, round, input) = (who.id(), path.into_inner(), body.into_inner());
    let a = state
        .db(move |c| interviews::save_appointment(c, &id, &round, None, input))
        .await?;
    Ok(HttpResponse::Created().json(a))
}

/// Changes an appointment (time, interviewer, state: proposed, agreed, done, cancelled).
#[utoipa::path(operation_id = "update_appointment", tag = "round 1", security(("bearer" = []), ("session" = [])), request_body = AppointmentInput, responses(
    (status = 200, body = AppointmentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/appointments/{appointment}")]
pub async fn put_appointment(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<AppointmentInput>,
) -> ApiResult<web::Json<AppointmentView>> {
    let (id, aid, input) = (who.id(), path.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .db(move |c| {
                let round = interviews::appointment_round(c, &aid)?;
                interviews::save_appointment(c, &id, &round, Some(&aid), input)
            })
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAppointment {
    /// Attach the interview guide as well.
    #[serde(default)]
    pub attach_guide: bool,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// Whether a message was queued (not when the same one was sent before or the expert
    /// asked for no more e-mail).
    pub queued: bool,
}

/// E-mails the panellist the appointment with an `.ics` calendar invitation.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), request_body = SendAppointment, responses(
    (status = 202, body = Queued), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/appointments/{appointment}/send")]
pub async fn send_appointment(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: Option<web::Json<SendAppointment>>,
) -> ApiResult<HttpResponse> {
    let (id, aid) = (who.id(), path.into_inner());
    let attach = body.map(|b| b.attach_guide).unwrap_or_default();
    let env = state.mail.clone();
    let queued = state
        .db(move |c| interviews::send_appointment(c, &env, &id, &aid, attach))
        .await?;
    state.wake_worker();
    Ok(HttpResponse::Accepted().json(Queued { queued }))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Created {
    pub created: usize,
}

/// Turns a written questionnaire's answers into one document per panellist, to code like a
/// transcript (made again when called again, as long as nobody coded it yet).
#[utoipa::path(operation_id = "make_questionnaire_documents", tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Created), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[post("/api/v1/rounds/{round}/questionnaire/documents")]
pub async fn questionnaire_documents(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Created>> {
    let (id, round) = (who.id(), path.into_inner());
    let created = state
        .db(move |c| interviews::questionnaire_documents(c, &id, &round))
        .await?;
    Ok(web::Json(Created { created }))
}

/// The study's transcripts under the panellists' pseudonyms, with what is coded.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<TranscriptSummary>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/transcripts")]
pub async fn list_transcripts(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<TranscriptSummary>>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| coding::transcripts(c, &id, &study))
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TranscriptQuery {
    /// The panellist's pseudonym (such as `E01`).
    #[serde(default)]
    pub panellist: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// The round the interview belongs to.
    #[serde(default)]
    pub round_id: Option<String>,
    /// The file's name; `.docx` is read as a Word document. Not kept when it contains the
    /// expert's name.
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptJson {
    pub panellist: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub round_id: Option<String>,
    pub text: String,
}

/// Uploads a transcript. Either the file as the body (UTF-8 plain text, or a `.docx` Word
/// document) with `panellist`, `title`, `round_id` and `filename` in the query, or JSON
/// `{panellist, title, round_id, text}`. Up to 10 MB.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), params(TranscriptQuery),
    request_body(content = TranscriptJson, description = "JSON, or the file itself as text/plain or application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    responses(
    (status = 201, body = TranscriptSummary), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/transcripts")]
pub async fn add_transcript(
    state: web::Data<AppState>,
    who: ApiResearcher,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<TranscriptQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let bytes = super::read_body(payload, coding::MAX_UPLOAD_BYTES, "file").await?;
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let q = q.into_inner();
    let (panellist, title, round_id, filename, body) = if json {
        let j: TranscriptJson = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::Invalid(Invalid::one("body", format!("invalid JSON: {e}"))))?;
        (
            j.panellist,
            j.title,
            j.round_id,
            String::new(),
            j.text.into_bytes(),
        )
    } else {
        let Some(p) = q.panellist else {
            return Err(
                Invalid::one("panellist", "name the panellist, such as ?panellist=E01").into(),
            );
        };
        (
            p,
            q.title.unwrap_or_default(),
            q.round_id,
            q.filename.unwrap_or_default(),
            bytes,
        )
    };
    let (id, study) = (who.id(), path.into_inner());
    let t = state
        .db(move |c| {
            coding::add_transcript(
                c,
                &id,
                &study,
                &panellist,
                &title,
                round_id.as_deref(),
                &filename,
                &body,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// A transcript's text with its coded passages (offsets are characters). Reading is logged.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = TranscriptDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/transcripts/{transcript}")]
pub async fn get_transcript(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<TranscriptDetail>> {
    let (id, t) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| coding::transcript(c, &id, &t)).await?,
    ))
}

/// Removes a transcript and its coding.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/transcripts/{transcript}")]
pub async fn delete_transcript(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, t) = (who.id(), path.into_inner());
    state
        .db(move |c| coding::remove_transcript(c, &id, &t))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Codes a passage `[start, end)` (character offsets) to one or more themes, as the caller.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), request_body = ExcerptInput, responses(
    (status = 201, body = ExcerptView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/transcripts/{transcript}/excerpts")]
pub async fn add_excerpt(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ExcerptInput>,
) -> ApiResult<HttpResponse> {
    let (id, t, input) = (who.id(), path.into_inner(), body.into_inner());
    let e = state
        .db(move |c| coding::add_excerpt(c, &id, &t, input))
        .await?;
    Ok(HttpResponse::Created().json(e))
}

/// Removes a passage with all its codings.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/excerpts/{excerpt}")]
pub async fn delete_excerpt(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, e) = (who.id(), path.into_inner());
    state
        .db(move |c| coding::remove_excerpt(c, &id, &e))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes one theme from a passage; a passage left without themes goes too.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/codings/{coding}")]
pub async fn delete_coding(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, coding) = (who.id(), path.into_inner());
    state
        .db(move |c| coding::remove_coding(c, &id, &coding))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Links a statement to the passages that support it (replacing the links it had).
#[utoipa::path(operation_id = "set_statement_evidence", tag = "round 1", security(("bearer" = []), ("session" = [])), request_body = EvidenceInput, responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/statements/{statement}/evidence")]
pub async fn put_evidence(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<EvidenceInput>,
) -> ApiResult<HttpResponse> {
    let (id, s, input) = (who.id(), path.into_inner(), body.into_inner());
    state
        .db(move |c| coding::link_statement(c, &id, &s, input))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A theme's audit trail: each statement with the passages behind it, under pseudonyms, and
/// every passage coded to the theme.
#[utoipa::path(operation_id = "get_theme_evidence", tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = ThemeEvidence), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/themes/{theme}/evidence")]
pub async fn theme_evidence(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<ThemeEvidence>> {
    let (id, t) = (who.id(), path.into_inner());
    Ok(web::Json(
        state
            .db(move |c| coding::theme_evidence(c, &id, &t))
            .await?,
    ))
}

/// The theme-by-interview overview: passages per theme in each transcript, and in how many
/// interviews each theme occurs.
#[utoipa::path(operation_id = "get_coding_overview", tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = CodingOverview), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/coding/overview")]
pub async fn overview(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<CodingOverview>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| coding::overview(c, &id, &study)).await?,
    ))
}

/// The researchers who coded in the study.
#[utoipa::path(operation_id = "list_coders", tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<CoderView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/coding/coders")]
pub async fn coders(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<CoderView>>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| coding::coders(c, &id, &study)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AgreementQuery {
    /// One coder's id (from `coding/coders`; a team member's researcher id also works).
    pub a: String,
    /// The other's.
    pub b: String,
}

/// Two coders' agreement per theme on the transcripts both coded. The unit is the sentence:
/// each sentence is coded or not coded to a theme by each coder; Cohen's kappa and
/// Krippendorff's alpha (nominal) are computed over those, and the sentences where they
/// differ are listed.
#[utoipa::path(operation_id = "get_coder_agreement", tag = "round 1", security(("bearer" = []), ("session" = [])), params(AgreementQuery), responses(
    (status = 200, body = Agreement), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/coding/agreement")]
pub async fn agreement(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<AgreementQuery>,
) -> ApiResult<web::Json<Agreement>> {
    let (id, study, q) = (who.id(), path.into_inner(), q.into_inner());
    Ok(web::Json(
        state
            .db(move |c| coding::agreement(c, &id, &study, &q.a, &q.b))
            .await?,
    ))
}

fn download(content_type: &str, filename: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// The codebook as a REFI-QDA `.qdc` file (`urn:QDA-XML:codebook:1.0`): categories as codes
/// that cannot be coded, holding the themes; statements follow a theme's description.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, description = "The codebook (.qdc)", content(([u8] = "application/xml"), ([u8] = "application/octet-stream"))), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/codebook.qdc")]
pub async fn export_codebook(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, study) = (who.id(), path.into_inner());
    let (name, xml) = state
        .db(move |c| refi::export_codebook(c, &id, &study))
        .await?;
    Ok(download(
        "application/xml; charset=utf-8",
        &name,
        xml.into_bytes(),
    ))
}

/// Imports a `.qdc` codebook (the body): the categories and themes the study does not have.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])),
    request_body(content(([u8] = "application/xml"), ([u8] = "application/octet-stream")), description = "A REFI-QDA codebook (.qdc), sent as the body"), responses(
    (status = 200, body = ImportSummary), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/codebook.qdc")]
pub async fn import_codebook(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let bytes = super::read_body(payload, 10 * 1024 * 1024, "file").await?;
    let (id, study) = (who.id(), path.into_inner());
    let summary = state
        .db(move |c| refi::import_codebook(c, &id, &study, &bytes))
        .await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// The coded project as a REFI-QDA `.qdpx` file (`urn:QDA-XML:project:1.0`): coders as users,
/// the codebook, transcripts as text sources named by pseudonym, passages and their codings.
/// Exporting is logged.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, description = "The project (.qdpx, a zip file)", content(([u8] = "application/zip"), ([u8] = "application/octet-stream"))), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/project.qdpx")]
pub async fn export_project(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, study) = (who.id(), path.into_inner());
    let (name, bytes) = state
        .db(move |c| refi::export_project(c, &id, &study))
        .await?;
    Ok(download("application/zip", &name, bytes))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ProjectQuery {
    /// A JSON object from source names to pseudonyms, for sources whose names do not contain
    /// the pseudonym: `{"Interview 3": "E03"}`.
    #[serde(default)]
    pub panellists: Option<String>,
}

/// Imports a `.qdpx` project (the body): its codebook, its text sources as transcripts of the
/// panellists they name, and their codings, each by its coder. Nothing is saved when any
/// source names no panellist.
#[utoipa::path(tag = "round 1", security(("bearer" = []), ("session" = [])), params(ProjectQuery),
    request_body(content(([u8] = "application/zip"), ([u8] = "application/octet-stream")), description = "A REFI-QDA project (.qdpx), sent as the body"), responses(
    (status = 200, body = ImportSummary), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/project.qdpx")]
pub async fn import_project(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<ProjectQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let map: BTreeMap<String, String> = match q.into_inner().panellists {
        Some(s) if !s.trim().is_empty() => serde_json::from_str(&s).map_err(|e| {
            Invalid::one(
                "panellists",
                format!("must be a JSON object of source names to pseudonyms: {e}"),
            )
        })?,
        _ => BTreeMap::new(),
    };
    let bytes = super::read_body(payload, MAX_PROJECT_BYTES, "file").await?;
    let (id, study) = (who.id(), path.into_inner());
    let summary = state
        .db(move |c| refi::import_project(c, &id, &study, &bytes, &map))
        .await?;
    Ok(HttpResponse::Ok().json(summary))
}
