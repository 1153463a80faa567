//! Server-rendered pages for researchers: login, studies, settings, members, API tokens. Every
//! form works without JavaScript; every state change is a POST with a CSRF token.

pub mod account;
pub mod codebook;
pub mod coding;
pub mod discussion;
pub mod funder;
pub mod interviews;
pub mod participant;
pub mod protocol;
pub mod recruitment;
pub mod report;
pub mod rounds;
pub mod studies;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use super::AppState;
use super::auth::PageResearcher;
use super::render::{Html, STATIC_FILES, pages, text};
use crate::db::DbConn;
use crate::domain::Invalid;
use crate::ops::access::{self, InStudy, ResearcherId};
use crate::ops::studies::StudyView;
use crate::ops::{AppError, AppResult};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(static_file)
        .configure(account::configure)
        .configure(coding::configure)
        .configure(discussion::configure)
        .configure(funder::configure)
        .configure(interviews::configure)
        .configure(protocol::configure)
        .configure(recruitment::configure)
        .configure(codebook::configure)
        .configure(report::configure)
        .configure(rounds::configure)
        .configure(studies::configure);
}

pub use super::error::{PageError, error_page, message_page};

pub type PageResult = Result<HttpResponse, PageError>;

/// Renders `name` for a logged-in researcher, with the layout's shared values.
pub fn page(who: &PageResearcher, name: &str, ctx: Value) -> PageResult {
    page_with_status(who, StatusCode::OK, name, ctx)
}

pub fn page_with_status(
    who: &PageResearcher,
    status: StatusCode,
    name: &str,
    ctx: Value,
) -> PageResult {
    // A page about a study reads times on the study's clock, others on the server's.
    let tz = ctx
        .get_attr("study")
        .and_then(|s| s.get_attr("time_zone"))
        .ok()
        .and_then(|z| z.as_str().map(str::to_string))
        .unwrap_or_else(|| who.zone.name().to_string());
    let flash = who.flash.as_ref().and_then(|f| f.say(who.lang()));
    let base = minijinja::context! {
        lang => who.lang(),
        tz => tz,
        csrf => who.csrf.clone(),
        me => minijinja::context! { name => who.researcher.name.clone(), email => who.researcher.email.clone() },
        flash => flash.as_ref().map(serde_value),
    };
    let ctx = minijinja::context! { ..ctx, ..base };
    let mut resp = pages()
        .html(status, name, ctx)
        .map_err(|e| PageError::from(e).in_lang(who.lang()))?;
    if who.flash.is_some() {
        let _ = resp.add_cookie(&super::flash::said(who.secure));
    }
    Ok(resp)
}

/// Field errors keyed by field name in the reader's language, for showing each next to its input.
pub fn field_errors(lang: &str, inv: Option<&Invalid>) -> Value {
    let map: std::collections::BTreeMap<String, String> = inv
        .map(|inv| inv.0.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e.field.clone(),
                crate::i18n::messages::say(lang, &e.message),
            )
        })
        .collect();
    Value::from(Serde(map))
}

/// An action that cannot be undone, said in numbers before it is done.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    pub title: String,
    pub lines: Vec<String>,
    /// The button that does it ("Send 17 invitations").
    pub yes: String,
    /// Where the form goes, and its fields as they were posted.
    pub action: String,
    pub fields: Vec<(String, String)>,
    /// Where "cancel" leads: back where the action was started.
    pub cancel: String,
}

impl Confirmation {
    /// The words for the dialog a page shows before posting (with JavaScript).
    pub fn dialog_text(&self) -> String {
        std::iter::once(self.title.clone())
            .chain(self.lines.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether a posted form says its action was confirmed.
/// What a confirmation before e-mails go out warns of, in the reader's language.
pub fn warning_lines(
    lang: &str,
    warnings: &[crate::ops::todo::Warning],
    sender: &str,
) -> Vec<String> {
    warnings
        .iter()
        .map(|w| {
            crate::web::render::text_with(
                lang,
                &format!("todo.{}", w.key()),
                &[("from", sender.to_string())],
            )
        })
        .collect()
}

pub fn confirmed(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(k, v)| k == "confirmed" && v == "1")
}

/// The page that asks to confirm an action (without JavaScript, or when the dialog was skipped).
pub fn confirm_page(who: &PageResearcher, c: Confirmation) -> PageResult {
    let fields: Vec<(String, String)> = c
        .fields
        .iter()
        .filter(|(k, _)| k != super::auth::CSRF_FIELD && k != "confirmed")
        .cloned()
        .collect();
    page(
        who,
        "confirm.html",
        minijinja::context! { c => serde_value(&Confirmation { fields, ..c }) },
    )
}

/// What a page says about the action just done: that it worked, or why it did not (styled as
/// an error and announced at once).
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub text: String,
    pub failed: bool,
}

impl Notice {
    pub fn done(text: String) -> Self {
        Notice {
            text,
            failed: false,
        }
    }

    pub fn failed(text: String) -> Self {
        Notice { text, failed: true }
    }

    /// The status the page is answered with: a refused action is not a success.
    pub fn status(&self) -> StatusCode {
        if self.failed {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

pub fn serde_value<T: Serialize>(v: &T) -> Value {
    Value::from(Serde(v))
}

/// A multipart form's fields by name (a file's name as `<field>.filename`).
pub type Fields = std::collections::HashMap<String, Vec<u8>>;

/// A field of a multipart form as text (empty when absent).
pub fn field(fields: &Fields, k: &str) -> String {
    fields
        .get(k)
        .map(|v| String::from_utf8_lossy(v).to_string())
        .unwrap_or_default()
}

/// A multipart form posted from a page, with its CSRF token checked before anything else is
/// read: our forms send `_csrf` first, so a forged or oversized post is refused unread.
pub async fn multipart_form(
    who: &PageResearcher,
    req: &HttpRequest,
    payload: actix_multipart::Multipart,
    limit: usize,
) -> Result<Fields, PageError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit + MULTIPART_OVERHEAD) {
        return Err(PageError::from(AppError::Invalid(too_large(limit))).in_lang(who.lang()));
    }
    let csrf = who.csrf.clone();
    let lang = who.lang().to_string();
    read_multipart(payload, limit, move |first: &str| {
        if super::auth::same_secret(first, &csrf) {
            Ok(())
        } else {
            Err(AppError::Forbidden(text(&lang, "error.csrf")))
        }
    })
    .await
    .lang(who)
}

/// Room for the parts' headers and boundaries beside the content itself.
const MULTIPART_OVERHEAD: usize = 64 * 1024;
/// More fields than any of our forms has.
const MAX_PARTS: usize = 32;

fn too_large(limit: usize) -> Invalid {
    Invalid::one(
        "file",
        format!("the upload is larger than {} MB", limit / 1024 / 1024),
    )
}

/// Reads a multipart form (a file and text fields) up to `limit` bytes and [`MAX_PARTS`]
/// parts in all. The first part must be the CSRF token, and `check` must accept it before any
/// other part is read.
pub async fn read_multipart(
    mut payload: actix_multipart::Multipart,
    limit: usize,
    check: impl FnOnce(&str) -> Result<(), AppError>,
) -> Result<Fields, AppError> {
    use futures_util::StreamExt;
    let unreadable = |e: actix_multipart::MultipartError| {
        Invalid::one("file", format!("the upload could not be read: {e}"))
    };
    let mut fields = Fields::new();
    let mut total = 0usize;
    let mut check = Some(check);
    let mut parts = 0;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(unreadable)?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Invalid::one("form", "the form has more fields than it can have").into());
        }
        let name = field.name().unwrap_or_default().to_string();
        if let Some(f) = field.content_disposition().and_then(|d| d.get_filename()) {
            // A file's name travels as `<field>.filename`, for the handlers that keep it.
            fields.insert(format!("{name}.filename"), f.as_bytes().to_vec());
        }
        let mut data = Vec::new();
        let part_limit = if check.is_some() { 256 } else { limit };
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(unreadable)?;
            total += chunk.len();
            if total > limit || data.len() + chunk.len() > part_limit {
                return Err(too_large(limit).into());
            }
            data.extend_from_slice(&chunk);
        }
        if let Some(check) = check.take() {
            let token = if name == super::auth::CSRF_FIELD {
                String::from_utf8_lossy(&data).to_string()
            } else {
                String::new()
            };
            check(&token)?;
        }
        fields.insert(name, data);
    }
    if let Some(check) = check {
        check("")?;
    }
    Ok(fields)
}

/// The page of a long list a `?page=` asks for: 1 when absent or not a number.
pub fn page_number(query: &std::collections::BTreeMap<String, String>) -> usize {
    query
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// What `m.pager` draws for a long list: the page, how many there are, and links to the
/// neighbouring pages that keep the list's filters (the `query` pairs `keep` accepts).
pub fn pager(
    query: &std::collections::BTreeMap<String, String>,
    keep: impl Fn(&str) -> bool,
    page: usize,
    total: usize,
    size: usize,
    anchor: &str,
) -> Value {
    let pages = total.div_ceil(size.max(1)).max(1);
    let link = |n: usize| {
        let mut pairs: Vec<(&str, String)> = query
            .iter()
            .filter(|(k, v)| k.as_str() != "page" && keep(k) && !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("page", n.to_string()));
        format!(
            "?{}#{anchor}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    minijinja::context! {
        page => page, pages => pages, total => total,
        previous => (page > 1).then(|| link(page - 1)),
        next => (page < pages).then(|| link(page + 1)),
    }
}

/// Keeps the researcher's language on errors raised while serving them.
/// A page inside a study's frame: the study, for a member of it, and what else the page reads.
pub struct StudyPage<T> {
    pub study: StudyView,
    pub data: T,
}

/// Reads the study and what `load` gathers (given the connection, the researcher's id and the
/// study's id) in one trip to the database: the skeleton every study page shares.
pub async fn study_page<T: Send + 'static>(
    state: &AppState,
    who: &PageResearcher,
    study_id: &str,
    load: impl FnOnce(&mut DbConn, &ResearcherId, &str) -> AppResult<T> + Send + 'static,
) -> Result<StudyPage<T>, PageError> {
    let (researcher, study_id) = (who.id(), study_id.to_string());
    let (study, data) = state
        .db(move |c| {
            let study = crate::ops::studies::get(c, &researcher, &study_id)?;
            Ok((study, load(c, &researcher, &study_id)?))
        })
        .await
        .lang(who)?;
    Ok(StudyPage { study, data })
}

impl<T> StudyPage<T> {
    /// Renders `template` in the study's frame with its `tab` marked and `ctx` added.
    pub fn render(
        &self,
        who: &PageResearcher,
        status: StatusCode,
        template: &str,
        tab: &str,
        ctx: Value,
    ) -> PageResult {
        page_with_status(
            who,
            status,
            template,
            minijinja::context! { study => serde_value(&self.study), tab => tab, ..ctx },
        )
    }
}

/// The id of the study a linked row belongs to, for a member of that study: the frame a page
/// draws around a row it was reached by.
pub async fn study_of<T: InStudy + Send + 'static>(
    state: &AppState,
    who: &PageResearcher,
    id: &str,
) -> Result<String, PageError> {
    let (researcher, id) = (who.id(), id.to_string());
    state
        .db(move |c| access::study_id_of::<T>(c, &researcher, &id))
        .await
        .lang(who)
}

pub trait InLang<T> {
    fn lang(self, who: &PageResearcher) -> Result<T, PageError>;
}

impl<T> InLang<T> for Result<T, AppError> {
    fn lang(self, who: &PageResearcher) -> Result<T, PageError> {
        self.map_err(|e| PageError::from(e).in_lang(who.lang()))
    }
}

#[get("/")]
async fn home(req: HttpRequest) -> HttpResponse {
    let logged_in = req.cookie(super::auth::SESSION_COOKIE).is_some();
    super::see_other(if logged_in { "/studies" } else { "/login" })
}

#[get("/static/{file}")]
async fn static_file(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    let Some(body) = crate::assets::named(STATIC_FILES, &name) else {
        let lang = crate::web::language::of_visitor(&req, None);
        return error_page(StatusCode::NOT_FOUND, "", lang);
    };
    let content_type = match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// Anything no route matches.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return super::error::ApiError(AppError::NotFound).error_response();
    }
    let lang = crate::web::language::of_visitor(&req, None);
    error_page(StatusCode::NOT_FOUND, "", lang)
}

/// A path on this site to go on to after a login or a change of language; anything else
/// becomes `/studies`. Browsers strip tabs and line breaks from URLs and read `\` as `/`, so
/// `/\t/evil.example` would become `//evil.example`, another site: only `/`, optionally followed
/// by a character that is neither `/` nor `\`, with no control character or backslash anywhere,
/// is followed.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next[1..].starts_with('/')
        && next.len() <= 2000
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if local { next } else { "/studies" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next("/studies/x"), "/studies/x");
        assert_eq!(safe_next("//evil.example"), "/studies");
        assert_eq!(safe_next("https://evil.example"), "/studies");
        assert_eq!(safe_next("/\\evil.example"), "/studies");
        // What browsers strip or turn into a slash before they resolve the address.
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            "/\u{0}/x",
            "/\u{7f}/x",
            "/x\\..\\evil",
            "",
            "studies",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), "/studies", "{bad:?}");
        }
        assert_eq!(safe_next("/"), "/");
        assert_eq!(safe_next("/studies?x=1#y"), "/studies?x=1#y");
    }
}
