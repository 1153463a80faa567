//! Page rendering: the embedded minijinja templates (auto-escaped HTML), the Danish and English
//! texts they show through `t("key")`, and date formatting in the reader's language.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, State};

use crate::ops::{AppError, AppResult};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

pub use embedded::{EMAIL_TEMPLATES, STATIC_FILES};

/// Every UI text by language and key (`section.name`).
static TEXTS: LazyLock<HashMap<String, HashMap<String, String>>> = LazyLock::new(|| {
    let mut all = HashMap::new();
    for (file, source) in embedded::TRANSLATIONS {
        let lang = file.trim_end_matches(".toml").to_string();
        let table: toml::Table = source.parse().unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut flat = HashMap::new();
        flatten("", &toml::Value::Table(table), &mut flat);
        all.insert(lang, flat);
    }
    all
});

fn flatten(prefix: &str, value: &toml::Value, out: &mut HashMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The text for `key` in `lang`, falling back to English, then to the key itself.
pub fn text(lang: &str, key: &str) -> String {
    TEXTS
        .get(lang)
        .and_then(|m| m.get(key))
        .or_else(|| TEXTS.get("en").and_then(|m| m.get(key)))
        .cloned()
        .unwrap_or_else(|| {
            tracing::warn!(key, lang, "missing UI text");
            key.to_string()
        })
}

/// `text` with `{name}` placeholders filled in.
pub fn text_with(lang: &str, key: &str, args: &[(&str, String)]) -> String {
    let mut s = text(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// The keys of each language, for the test that both languages say everything.
pub fn text_keys() -> HashMap<String, Vec<String>> {
    TEXTS
        .iter()
        .map(|(lang, m)| {
            let mut keys: Vec<String> = m.keys().cloned().collect();
            keys.sort();
            (lang.clone(), keys)
        })
        .collect()
}

fn locale(lang: &str) -> chrono::Locale {
    if lang == "da" {
        chrono::Locale::da_DK
    } else {
        chrono::Locale::en_GB
    }
}

/// "fredag den 24. november 2017" / "Friday 24 November 2017".
pub fn long_date(date: NaiveDate, lang: &str) -> String {
    let pattern = if lang == "da" {
        "%A den %-d. %B %Y"
    } else {
        "%A %-d %B %Y"
    };
    date.format_localized(pattern, locale(lang)).to_string()
}

/// A moment with date and time of day, in UTC.
pub fn long_datetime(t: DateTime<Utc>, lang: &str) -> String {
    let time = t.format("%H:%M").to_string();
    if lang == "da" {
        format!("{} kl. {time} UTC", long_date(t.date_naive(), lang))
    } else {
        format!("{} at {time} UTC", long_date(t.date_naive(), lang))
    }
}

fn lang_of(state: &State) -> String {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "en".into())
}

fn build_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in embedded::PAGE_TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env.add_function("t", |state: &State, key: &str, kwargs: Kwargs| {
        let lang = lang_of(state);
        let mut s = text(&lang, key);
        for name in kwargs.args() {
            let v: Value = kwargs.get(name)?;
            s = s.replace(&format!("{{{name}}}"), &v.to_string());
        }
        kwargs.assert_all_used()?;
        Ok::<_, minijinja::Error>(s)
    });
    // Dates arrive as RFC 3339 strings (how they serialise) or plain dates.
    env.add_filter("date", |state: &State, value: &str| {
        let lang = lang_of(state);
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            long_date(t.with_timezone(&Utc).date_naive(), &lang)
        } else if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            long_date(d, &lang)
        } else {
            value.to_string()
        }
    });
    // Numbers as the language writes them: "3,5" in Danish; whole numbers without decimals
    // unless `places` says otherwise.
    env.add_filter("num", |value: f64, lang: &str, places: Option<usize>| {
        let places = places.unwrap_or(if value.fract() == 0.0 { 0 } else { 1 });
        crate::domain::stats::decimal(value, places, lang)
    });
    env.add_filter("pct", |value: f64, lang: &str| {
        let places = if (value * 10.0).round() % 10.0 == 0.0 {
            0
        } else {
            1
        };
        format!("{} %", crate::domain::stats::decimal(value, places, lang))
    });
    env.add_filter("datetime", |state: &State, value: &str| {
        let lang = lang_of(state);
        match DateTime::parse_from_rfc3339(value) {
            Ok(t) => long_datetime(t.with_timezone(&Utc), &lang),
            Err(_) => value.to_string(),
        }
    });
    env
}

/// The compiled templates, shared by every worker.
pub struct Pages {
    env: Environment<'static>,
}

static PAGES: LazyLock<Pages> = LazyLock::new(|| Pages { env: build_env() });

pub fn pages() -> &'static Pages {
    &PAGES
}

impl Pages {
    pub fn render(&self, name: &str, ctx: Value) -> AppResult<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {name}: {e:#}")))
    }

    /// A full HTML response of the template. Pages are never cached: they show personal data.
    pub fn html(&self, status: StatusCode, name: &str, ctx: Value) -> AppResult<HttpResponse> {
        let body = self.render(name, ctx)?;
        Ok(HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body))
    }

    pub fn template_names(&self) -> Vec<String> {
        self.env.templates().map(|(n, _)| n.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn danish_dates_read_as_danes_write_them() {
        let d = NaiveDate::from_ymd_opt(2017, 11, 24).unwrap();
        assert_eq!(long_date(d, "da"), "fredag den 24. november 2017");
        assert_eq!(long_date(d, "en"), "Friday 24 November 2017");
    }

    #[test]
    fn both_languages_have_the_same_texts() {
        let keys = text_keys();
        assert_eq!(
            keys["da"], keys["en"],
            "da and en translations differ in keys"
        );
        assert!(!keys["en"].is_empty());
    }

    #[test]
    fn every_text_a_template_asks_for_exists() {
        let keys = text_keys();
        let re_start = "t(\"";
        for (name, source) in embedded::PAGE_TEMPLATES {
            let mut rest = *source;
            while let Some(i) = rest.find(re_start) {
                rest = &rest[i + re_start.len()..];
                let end = rest.find('"').unwrap();
                let key = &rest[..end];
                if key.ends_with('.') || key.ends_with('_') {
                    continue; // a key built at run time, such as "phase." ~ phase
                }
                assert!(
                    keys["en"].iter().any(|k| k == key),
                    "{name} uses the missing text {key:?}"
                );
            }
        }
    }

    #[test]
    fn every_template_compiles() {
        assert!(pages().template_names().len() >= 3);
    }
}
