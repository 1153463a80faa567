//! Whose language a request is answered in. A reader Orakel does not know yet — a visitor on
//! the login page, an API client — reads the language chosen on this browser or asked for by
//! `Accept-Language`; known readers (a logged-in researcher, an expert or a funder of a study)
//! read the language chosen for them, which the handler sets with [`reads`] as soon as it
//! knows who reads. Errors are said in [`reader`]'s language.

use std::cell::Cell;

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use actix_web::http::header;

/// Orakel's languages.
pub const LANGUAGES: [&str; 2] = ["da", "en"];

/// The language of a reader who states no preference at all (a script without
/// `Accept-Language`; every browser sends one): English, as the API speaks.
pub const FALLBACK: &str = "en";

/// The cookie that keeps the language last chosen on this browser (on the login page or in a
/// researcher's header); set only by a choice, never by a guess from the browser.
pub const LANGUAGE_COOKIE: &str = "orakel_lang";

tokio::task_local! {
    /// The language of the person a request is answered for, as far as it is known: first the
    /// visitor's (or, on the API, the client's `Accept-Language`), then — once the handler
    /// knows who reads — the researcher's own, or the study's for its experts and funder. An
    /// error made anywhere in the request is said in it.
    static READER: Cell<&'static str>;
}

/// One of Orakel's languages by its code, or None.
pub fn known(code: &str) -> Option<&'static str> {
    LANGUAGES
        .into_iter()
        .find(|l| l.eq_ignore_ascii_case(code.trim()))
}

/// The language an `Accept-Language` header prefers among Orakel's: the highest weight, the
/// earlier on a tie; None when it names neither (`*` does not choose).
pub fn accepted(value: &str) -> Option<&'static str> {
    let mut best: Option<(&'static str, f32)> = None;
    for part in value.split(',') {
        let mut bits = part.split(';');
        let tag = bits.next().unwrap_or("").trim();
        let weight = bits
            .find_map(|b| b.trim().strip_prefix("q=").map(str::trim))
            .map_or(Some(1.0), |q| q.parse::<f32>().ok())
            .unwrap_or(0.0);
        let Some(lang) = known(tag.split('-').next().unwrap_or("")) else {
            continue;
        };
        if weight > 0.0 && best.is_none_or(|(_, w)| weight > w) {
            best = Some((lang, weight));
        }
    }
    best.map(|(l, _)| l)
}

/// What the request's `Accept-Language` asks for, if it names one of Orakel's languages.
pub fn of_header(req: &HttpRequest) -> Option<&'static str> {
    req.headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(accepted)
}

/// The language chosen before on this browser (the cookie), if any.
pub fn chosen(req: &HttpRequest) -> Option<&'static str> {
    req.cookie(LANGUAGE_COOKIE).and_then(|c| known(c.value()))
}

/// The cookie that remembers a choice of language on this browser for a year.
pub fn choice_cookie(lang: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = super::auth::cookie(LANGUAGE_COOKIE, lang.to_string(), secure);
    c.set_max_age(actix_web::cookie::time::Duration::days(365));
    c
}

/// A visitor's language: `?lang=` when given, else the one chosen before (the cookie), else
/// the browser's, else [`FALLBACK`].
pub fn of_visitor(req: &HttpRequest, asked: Option<&str>) -> &'static str {
    asked
        .and_then(known)
        .or_else(|| chosen(req))
        .or_else(|| of_header(req))
        .unwrap_or(FALLBACK)
}

/// Runs a request with `lang` as its reader's language until the handler knows better.
pub async fn scoped<F: std::future::Future>(lang: &'static str, f: F) -> F::Output {
    READER.scope(Cell::new(lang), f).await
}

/// The reader of the request being answered now reads `lang` (ignored outside a request, or
/// when `lang` is not one of Orakel's languages).
pub fn reads(lang: &str) {
    if let Some(l) = known(lang) {
        let _ = READER.try_with(|r| r.set(l));
    }
}

/// The language of the request being answered: see [`READER`]; [`FALLBACK`] outside one.
pub fn reader() -> &'static str {
    READER.try_with(Cell::get).unwrap_or(FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_read_by_weight() {
        assert_eq!(accepted("da"), Some("da"));
        assert_eq!(accepted("da-DK,da;q=0.9,en-US;q=0.8,en;q=0.7"), Some("da"));
        assert_eq!(accepted("en-GB,en;q=0.9,da;q=0.8"), Some("en"));
        assert_eq!(accepted("de-DE, en;q=0.5, da;q=0.7"), Some("da"));
        assert_eq!(accepted("EN"), Some("en"));
        assert_eq!(accepted("da;q=0, en;q=0.1"), Some("en"));
        assert_eq!(accepted("de, fr;q=0.8, *;q=0.1"), None);
        assert_eq!(accepted("da;q=bad"), None);
        assert_eq!(accepted(""), None);
    }

    #[test]
    fn a_known_code_is_one_of_orakels() {
        assert_eq!(known("DA"), Some("da"));
        assert_eq!(known(" en "), Some("en"));
        assert_eq!(known("sv"), None);
    }
}
