//! The page templates (minijinja, auto-escaped HTML) with what they need to speak the reader's
//! language: `t("key")`, and filters for dates, numbers and percentages. The web pages and the
//! report's HTML both render through here.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, State};

use crate::error::{AppError, AppResult};
use crate::i18n::{Tz, decimal, long_date, long_date_of, long_datetime, percent, text, zone};

fn lang_of(state: &State) -> String {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "en".into())
}

/// The clock the page is read on: `tz` (an IANA name) in the context. Every page sets it;
/// without it a page shows the default study clock rather than fail.
fn zone_of(state: &State) -> Tz {
    state
        .lookup("tz")
        .and_then(|v| v.as_str().map(zone::from_stored))
        .unwrap_or(zone::DEFAULT)
}

fn build_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Each template is compiled when a page first asks for it and kept: compiled, every template
    // holds room for hundreds of instructions, several megabytes for all of them, most of which
    // an instance never shows (`check` compiles them all once at start).
    env.set_loader(|name| {
        Ok(crate::assets::named(crate::assets::PAGE_TEMPLATES, name).map(str::to_string))
    });
    env.add_function("t", |state: &State, key: &str, kwargs: Kwargs| {
        let lang = lang_of(state);
        let n = kwargs.get::<Option<i64>>("n")?;
        let mut s = text(&lang, &crate::i18n::plural_key(&lang, key, n));
        for name in kwargs.args() {
            let v: Value = kwargs.get(name)?;
            // A number with a fraction is written as the language writes numbers ("70",
            // "1,5"); whole numbers and text go in as they are.
            let said = match f64::try_from(v.clone()) {
                Ok(x) if v.kind() == minijinja::value::ValueKind::Number && !v.is_integer() => {
                    crate::i18n::number(x, &lang)
                }
                _ => v.to_string(),
            };
            s = s.replace(&format!("{{{name}}}"), &said);
        }
        kwargs.assert_all_used()?;
        Ok::<_, minijinja::Error>(s)
    });
    // Dates arrive as RFC 3339 strings (how they serialise) or plain dates; a moment's date is
    // the date on the study's clock.
    env.add_filter("date", |state: &State, value: &str| {
        let lang = lang_of(state);
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            long_date_of(t.with_timezone(&Utc), &lang, zone_of(state))
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
        decimal(value, places, lang)
    });
    env.add_filter("pct", |value: f64, lang: &str| percent(value, lang));
    // A p-value in a table: three decimals, "< 0,001" below a thousandth.
    env.add_filter("pvalue", |value: f64, lang: &str| {
        crate::report::sentences::p_plain(value, lang)
    });
    env.add_filter("datetime", |state: &State, value: &str| {
        let lang = lang_of(state);
        match DateTime::parse_from_rfc3339(value) {
            Ok(t) => long_datetime(t.with_timezone(&Utc), &lang, zone_of(state)),
            Err(_) => value.to_string(),
        }
    });
    // An input's id from its field's name (`strata[0].key` → `f-strata-0-key`), valid as a
    // fragment for the links of an error summary.
    env.add_filter("field_id", |name: &str| {
        let id: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("f-{}", id.trim_end_matches('-'))
    });
    // A moment as a machine reads it in a `<time datetime>`: UTC to the second.
    env.add_filter("iso", |value: &str| {
        match DateTime::parse_from_rfc3339(value) {
            Ok(t) => t
                .with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            Err(_) => value.to_string(),
        }
    });
    // A moment as a `datetime-local` field shows it, on the study's clock.
    env.add_filter(
        "local_input",
        |state: &State, value: &str| match DateTime::parse_from_rfc3339(value) {
            Ok(t) => zone::input_value(t.with_timezone(&Utc), zone_of(state)),
            Err(_) => value.to_string(),
        },
    );
    // The zone as a time read now is labelled: "(dansk tid)", "CET" (for times a script shows).
    env.add_function("zone_label", |state: &State| {
        let lang = lang_of(state);
        zone::label(Utc::now(), zone_of(state), &lang)
    });
    // The zone named as a form's label says it: "dansk tid", "America/New York".
    env.add_function("zone_name", |state: &State| {
        let lang = lang_of(state);
        zone::reader_name(zone_of(state), &lang)
    });
    // A message Orakel wrote and kept, in the reader's language (see `messages::say_kept`).
    env.add_filter("said", |state: &State, value: &str| {
        crate::i18n::messages::say_kept(&lang_of(state), value)
    });
    // What a person calls an input field, for a fault listed away from it; none when the
    // field has no name of its own (its fault then says enough).
    env.add_function("field_label", |state: &State, field: &str| {
        crate::i18n::field_label(&lang_of(state), field)
    });
    // A candidate's source as a person reads it: the one Orakel sets itself is a code.
    env.add_function("source_label", |state: &State, source: &str| {
        crate::domain::candidate::source_label(&lang_of(state), source)
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

    pub fn template_names(&self) -> Vec<String> {
        crate::assets::PAGE_TEMPLATES
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

/// Compiles every page template, so that a broken one stops the start rather than a request;
/// what compiling them took is handed back (pages compile their own when first shown).
pub fn check() -> anyhow::Result<()> {
    {
        let mut env = Environment::new();
        for (name, source) in crate::assets::PAGE_TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
    }
    crate::memory::give_back();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_a_template_asks_for_exists() {
        let keys = crate::i18n::text_keys();
        let re_start = "t(\"";
        for (name, source) in crate::assets::PAGE_TEMPLATES {
            let mut rest = *source;
            while let Some(i) = rest.find(re_start) {
                rest = &rest[i + re_start.len()..];
                let end = rest.find('"').unwrap();
                let key = &rest[..end];
                if key.ends_with('.') || key.ends_with('_') {
                    continue; // a key built at run time, such as "phase." ~ phase
                }
                assert!(
                    keys["en"]
                        .iter()
                        .any(|k| k == key || *k == format!("{key}.other")),
                    "{name} uses the missing text {key:?}"
                );
            }
        }
    }

    #[test]
    fn every_template_compiles() {
        assert!(pages().template_names().len() >= 3);
        check().unwrap();
        // And each is found by name when a page asks for it.
        for name in pages().template_names() {
            pages().env.get_template(&name).unwrap();
        }
        assert!(pages().env.get_template("no-such-page.html").is_err());
    }
}
