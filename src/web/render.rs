//! Pages as HTTP responses: the shared templates (`crate::templates`) rendered into a full HTML
//! response that no cache keeps.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use minijinja::value::Value;

pub use crate::assets::STATIC_FILES;
pub use crate::i18n::{text, text_with};
use crate::ops::AppResult;
pub use crate::templates::{Pages, pages};

/// A template as a complete page.
pub trait Html {
    /// A full HTML response of the template. Pages are never cached: they show personal data.
    fn html(&self, status: StatusCode, name: &str, ctx: Value) -> AppResult<HttpResponse>;
}

impl Html for Pages {
    fn html(&self, status: StatusCode, name: &str, ctx: Value) -> AppResult<HttpResponse> {
        let body = self.render(name, ctx)?;
        Ok(HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body))
    }
}
