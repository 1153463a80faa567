//! The report through the API: JSON, the downloadable formats, funder links, and the release of
//! small cells.

use super::Routes;
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;

use crate::domain::{Invalid, Language};
use crate::ops::archive::{ImportResult, Importer};
use crate::ops::funders::{self, FunderView, ShareInput};
use crate::ops::reports::{self, ReleaseInput, ReportLinkInput, ReportLinkView};
use crate::ops::{AppError, AppResult};
use crate::report::csv::Dialect;
use crate::report::{self, Audience, Options, Report};
use crate::web::AppState;
use crate::web::auth::ApiResearcher;
use crate::web::error::{ApiResult, ErrorBody};

pub fn configure(cfg: &mut impl Routes) {
    cfg.route(report_json)
        .route(report_file)
        .route(create_link)
        .route(list_links)
        .route(revoke_link)
        .route(list_funders)
        .route(share_with_funder)
        .route(withdraw_funder)
        .route(release_cell)
        .route(export_archive)
        .route(import_archive);
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// The round (its number); by default the latest closed rating round.
    pub round: Option<i32>,
    /// `da` or `en`; by default the study's language.
    pub lang: Option<String>,
    /// Composition table: the attribute for its columns.
    pub columns: Option<String>,
    /// Composition table: the attributes for its rows, comma-separated.
    pub rows: Option<String>,
    /// For `.csv`: which table (`priorities`, `flow`, `composition`, `stability`, `groups`,
    /// `group_tests`, `sensitivity`, `minority_views`, `findings`, `kendall`).
    pub table: Option<String>,
    /// `funder`: exactly what the funder's link shows (closed rounds only, nothing below k),
    /// to hand on; by default the researchers' own view.
    pub view: Option<String>,
    /// For `.csv` and `.zip`: whom the CSV is for. `scripts` (the default): stable English
    /// keys, decimal points, commas between fields, codes in coded cells. `spreadsheet`: headers
    /// and words in the report's language and numbers as the report shows them, with `;` and
    /// `,` as a Danish spreadsheet expects in Danish.
    #[serde(rename = "for")]
    #[param(rename = "for")]
    pub dialect: Option<String>,
}

impl ReportQuery {
    pub fn dialect(&self) -> Result<Dialect, Invalid> {
        Dialect::parse(self.dialect.as_deref())
            .ok_or_else(|| Invalid::one("for", "must be scripts or spreadsheet"))
    }

    pub fn audience(&self) -> Result<Audience, Invalid> {
        match self.view.as_deref() {
            None | Some("") | Some("researcher") => Ok(Audience::Researcher),
            Some("funder") => Ok(Audience::Funder),
            Some(_) => Err(Invalid::one("view", "must be researcher or funder")),
        }
    }

    /// The query that asks for the same report again (for download links).
    pub fn again(&self) -> String {
        let pairs: Vec<(&str, String)> = [
            ("round", self.round.map(|r| r.to_string())),
            ("lang", self.lang.clone()),
            ("columns", self.columns.clone()),
            ("rows", self.rows.clone()),
            ("view", self.view.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!(
                "?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
    }

    pub fn options(&self) -> Result<Options, Invalid> {
        Ok(Options {
            round: self.round,
            language: self
                .lang
                .as_deref()
                .map(|l| Language::parse("lang", l))
                .transpose()?,
            columns: self.columns.clone().filter(|c| !c.is_empty()),
            rows: self.rows.as_ref().map(|r| {
                r.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
        })
    }
}

/// A report file as a response: never cached, downloaded when it has a name.
pub fn respond(f: report::File) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type(f.content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(name) = f.filename {
        resp.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ));
    }
    resp.body(f.body)
}

/// The report in the format an address ends with (`report.pdf`); an unknown one is 404.
pub fn file(
    r: &Report,
    ext: &str,
    q: &ReportQuery,
    audience: Audience,
    downloads: &str,
) -> AppResult<report::File> {
    let format = report::Format::parse(ext)
        .filter(|f| *f != report::Format::Json)
        .ok_or(AppError::NotFound)?;
    let (table, dialect) = (q.table.as_deref(), q.dialect()?);
    let make = || format.make(r, table, dialect, audience, downloads);
    match &r.cache_key {
        // A kept report's files are kept with it.
        Some(key) => {
            let variant = format!("{ext}|{table:?}|{dialect:?}|{audience:?}|{downloads}");
            report::cache::file(key, variant, make)
        }
        None => report::cache::in_turn(make),
    }
}

/// The report of a round as JSON: the participant flow, the consensus rule and when it was
/// locked, per theme n, mean (exact and as displayed), median, quartiles, IQR, SD, counts, shares
/// in the top and bottom two points, the consensus verdict and the priority; Kendall's W;
/// stability against the previous round; the panel's composition; the findings as sentences.
#[utoipa::path(operation_id = "get_report", tag = "reports", security(("bearer" = []), ("session" = [])), params(ReportQuery), responses(
    (status = 200, body = Report), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "No rating round yet", body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/report")]
pub async fn report_json(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> ApiResult<web::Json<Report>> {
    let (id, study, opts, audience) = (who.id(), path.into_inner(), q.options()?, q.audience()?);
    Ok(web::Json(
        state
            .db(move |c| reports::for_researcher(c, &id, &study, &opts, audience))
            .await?,
    ))
}

/// The report as a file: `report.pdf`, `report.xlsx` (a sheet per table), `report.csv` (one
/// table, `?table=`), `report.zip` (every table as CSV) or `report.html`.
#[utoipa::path(operation_id = "get_report_file", tag = "reports", security(("bearer" = []), ("session" = [])), params(("ext" = String, Path, description = "pdf, xlsx, csv, zip or html"), ReportQuery), responses(
    (status = 200, description = "The file"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/report.{ext}")]
pub async fn report_file(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
    q: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let (study, ext) = path.into_inner();
    let (id, opts, audience) = (who.id(), q.options()?, q.audience()?);
    q.dialect()?;
    let downloads = format!("/api/v1/studies/{study}/report");
    let q = q.into_inner();
    Ok(state
        .db(move |c| {
            let r = reports::for_researcher(c, &id, &study, &opts, audience)?;
            file(&r, &ext, &q, audience, &downloads)
        })
        .await
        .map(respond)?)
}

/// A link for the funder to the report page and its downloads (expiring, revocable). The link
/// is in `url`, shown this once.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), request_body = ReportLinkInput, responses(
    (status = 201, body = ReportLinkView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/report-links")]
pub async fn create_link(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ReportLinkInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let base = state.settings.public_base().to_string();
    let link = state
        .db(move |c| reports::create_link(c, &id, &study, input, &base))
        .await?;
    Ok(HttpResponse::Created().json(link))
}

/// The study's funder links (without the links themselves).
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<ReportLinkView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/report-links")]
pub async fn list_links(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<ReportLinkView>>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| reports::links(c, &id, &study)).await?,
    ))
}

/// Revokes a funder link; it stops working at once.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/report-links/{link}")]
pub async fn revoke_link(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, link) = (who.id(), path.into_inner());
    state
        .db(move |c| reports::revoke_link(c, &id, &link))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The funder accounts the study's report is shared with.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, body = Vec<FunderView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/funders")]
pub async fn list_funders(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<FunderView>>> {
    let (id, study) = (who.id(), path.into_inner());
    Ok(web::Json(
        state.db(move |c| funders::list(c, &id, &study)).await?,
    ))
}

/// Shares the study's report with a funder's read-only account, made for them if they have
/// none; an e-mail tells them (with the link to choose a password while they have none). The
/// account reads exactly what a funder link shows, for every study shared with it.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), request_body = ShareInput, responses(
    (status = 201, body = FunderView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/studies/{study}/funders")]
pub async fn share_with_funder(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ShareInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    let env = state.mail.clone();
    let shared = state
        .db(move |c| funders::share(c, &env, &id, &study, input))
        .await?;
    Ok(HttpResponse::Created().json(shared))
}

/// Withdraws a funder account's access to the study's report; its other studies stay.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), responses(
    (status = 204, description = "Withdrawn"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[delete("/api/v1/studies/{study}/funders/{funder}")]
pub async fn withdraw_funder(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, (study, funder)) = (who.id(), path.into_inner());
    state
        .db(move |c| funders::withdraw(c, &id, &study, &funder))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Releases a small cell of the composition table for the funder's report (or hides it again).
/// Every release is logged.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), request_body = ReleaseInput, responses(
    (status = 204, description = "Done"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[put("/api/v1/studies/{study}/releases")]
pub async fn release_cell(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    body: web::Json<ReleaseInput>,
) -> ApiResult<HttpResponse> {
    let (id, study, input) = (who.id(), path.into_inner(), body.into_inner());
    state
        .db(move |c| reports::set_release(c, &id, &study, input))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ArchiveQuery {
    /// Include names, e-mail addresses, organisations and notes (default true).
    #[serde(default = "yes")]
    pub identities: bool,
}

fn yes() -> bool {
    true
}

/// The study archive: one versioned JSON document with everything needed to rebuild the study
/// and its report (owners only; exporting is logged).
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), params(ArchiveQuery), responses(
    (status = 200, description = "The archive (JSON)"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
))]
#[get("/api/v1/studies/{study}/archive")]
pub async fn export_archive(
    state: web::Data<AppState>,
    who: ApiResearcher,
    path: web::Path<String>,
    q: web::Query<ArchiveQuery>,
) -> ApiResult<HttpResponse> {
    let (id, study, identities) = (who.id(), path.into_inner(), q.identities);
    let archive = state
        .db(move |c| crate::ops::archive::export(c, Some(&id), &study, identities))
        .await?;
    let body = serde_json::to_vec_pretty(&archive).map_err(|e| AppError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"orakel-study-{}.json\"",
                archive.study.id
            ),
        ))
        .body(body))
}

/// The largest archive accepted.
pub const MAX_ARCHIVE_BYTES: usize = 256 * 1024 * 1024;

/// Rebuilds a study from an archive (the body); the caller becomes its owner. Every reference in
/// the archive must stay inside its own study (422 names the row otherwise, and nothing is
/// written). The archive's other members are listed in `members_not_added`, for the owner to
/// add; nobody is given access by an archive.
#[utoipa::path(tag = "reports", security(("bearer" = []), ("session" = [])), request_body(content = String, content_type = "application/json", description = "A study archive"), responses(
    (status = 201, body = ImportResult), (status = 401, body = ErrorBody), (status = 409, description = "The study, or an id in the archive, exists here already", body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
))]
#[post("/api/v1/archives")]
pub async fn import_archive(
    state: web::Data<AppState>,
    who: ApiResearcher,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let bytes = super::read_body(payload, MAX_ARCHIVE_BYTES, "archive").await?;
    let who = Importer {
        owner: Some(who.0.id.clone()),
        keep_members: false,
    };
    let done = state
        .db(move |c| crate::ops::archive::import(c, &who, &bytes))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/studies/{}", done.id)))
        .json(done))
}
