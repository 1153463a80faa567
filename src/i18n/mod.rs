//! The language layer, below everything that shows words to a person: every text in Danish and
//! English by key (`section.name`, from `src/i18n/*.toml`), dates, numbers and percentages
//! as each language writes them, and escaping for HTML and XML. Nothing here knows about HTTP,
//! the database or the report.

use std::collections::HashMap;
use std::sync::LazyLock;

pub mod messages;
pub mod zone;

use chrono::{DateTime, NaiveDate, Utc};
pub use zone::Tz;

/// Every text by language and key.
static TEXTS: LazyLock<HashMap<String, HashMap<String, String>>> = LazyLock::new(|| {
    let mut all = HashMap::new();
    for (file, source) in crate::assets::TRANSLATIONS {
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

/// `text` with `{name}` placeholders filled in. A text that counts something is a table of
/// plural forms (`one`, `other`), chosen by the argument `n`.
pub fn text_with(lang: &str, key: &str, args: &[(&str, String)]) -> String {
    let n = args
        .iter()
        .find(|(name, _)| *name == "n")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let mut s = text(lang, &plural_key(lang, key, n));
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// The key of the plural form for `n` when `key` names a table of forms, else `key` itself.
/// Danish and English both say "one" for exactly 1 and "other" for every other whole number.
pub fn plural_key(lang: &str, key: &str, n: Option<i64>) -> String {
    let other = format!("{key}.other");
    let has = |k: &str| {
        TEXTS
            .get(lang)
            .or_else(|| TEXTS.get("en"))
            .is_some_and(|m| m.contains_key(k))
    };
    if !has(&other) {
        return key.to_string();
    }
    if n == Some(1) {
        format!("{key}.one")
    } else {
        other
    }
}

/// The label a person knows an input field by, if it has one: `field.<name>` with indices
/// left out ("Largest interquartile range" for `consensus.max_iqr`); a field inside a list
/// is named by its place in it ("Stratum 4, key" for `strata[3].key`, the list's item named by
/// `field.<list>[]` where the list's own name is a plural).
pub fn field_label(lang: &str, field: &str) -> Option<String> {
    let texts = TEXTS.get(lang).or_else(|| TEXTS.get("en"))?;
    let label = |name: &str| texts.get(&format!("field.{name}")).cloned();
    // The path without indices, and each index with the path of the list it is in.
    let mut path = String::new();
    let mut places: Vec<(String, usize)> = Vec::new();
    let mut rest = field;
    while !rest.is_empty() {
        let end = rest.find(['[', '.']).unwrap_or(rest.len());
        path.push_str(&rest[..end]);
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let index = after[..close].parse::<usize>().ok()?;
            places.push((path.clone(), index));
            rest = &after[close + 1..];
        }
        if let Some(after) = rest.strip_prefix('.') {
            path.push('.');
            rest = after;
        }
    }
    let whole = label(&path)?;
    if places.is_empty() {
        return Some(whole);
    }
    let mut named: Vec<String> = places
        .iter()
        .map(|(list, i)| {
            let item = label(&format!("{list}[]")).or_else(|| label(list));
            item.map(|l| format!("{l} {}", i + 1))
        })
        .collect::<Option<_>>()?;
    if places.last().is_some_and(|(list, _)| *list != path) {
        named.push(whole);
    }
    Some(named.join(", "))
}

/// Whether `lang` has a text for `key` (without falling back to English).
pub fn has_text(lang: &str, key: &str) -> bool {
    TEXTS.get(lang).is_some_and(|m| m.contains_key(key))
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

/// A moment with date and time of day on the study's clock, the zone named:
/// "fredag den 24. november 2027 kl. 23:59 (dansk tid)", "Wednesday 24 November 2027 at 23:59 CET".
pub fn long_datetime(t: DateTime<Utc>, lang: &str, tz: Tz) -> String {
    let date = long_date_of(t, lang, tz);
    let time = time_of_day(t, lang, tz);
    if lang == "da" {
        format!("{date} {time}")
    } else {
        format!("{date} at {time}")
    }
}

/// The time of day on the study's clock, the zone named: "kl. 06:52 (dansk tid)", "06:52 CET".
pub fn time_of_day(t: DateTime<Utc>, lang: &str, tz: Tz) -> String {
    let time = zone::local(t, tz).format("%H:%M");
    let label = zone::label(t, tz, lang);
    if lang == "da" {
        format!("kl. {time} {label}")
    } else {
        format!("{time} {label}")
    }
}

/// The calendar date of `t` on the study's clock, written out.
pub fn long_date_of(t: DateTime<Utc>, lang: &str, tz: Tz) -> String {
    long_date(zone::local(t, tz).date_naive(), lang)
}

/// A number with `places` decimals in the language's notation: "3,8" in Danish.
pub fn decimal(value: f64, places: usize, lang: &str) -> String {
    let s = format!("{value:.places$}");
    if lang == "da" { s.replace('.', ",") } else { s }
}

/// `num / den` rounded half up to tenths, exactly (in integers), in the language's notation:
/// how a mean is shown, 34/9 → "3,8", 9/4 → "2,3".
pub fn tenths(num: i64, den: i64, lang: &str) -> String {
    // tenths = floor(10·num/den + 1/2) = floor((20·num + den) / (2·den)).
    let tenths = (20 * num + den).div_euclid(2 * den);
    let sign = if tenths < 0 { "-" } else { "" };
    let t = tenths.abs();
    let mark = if lang == "da" { "," } else { "." };
    format!("{sign}{}{mark}{}", t / 10, t % 10)
}

/// A number as a report shows it: whole numbers without decimals, others with one.
pub fn number(value: f64, lang: &str) -> String {
    decimal(value, if value.fract() == 0.0 { 0 } else { 1 }, lang)
}

/// A whole number with its thousands apart by a no-break space ("10 000"): read the same in
/// Danish and English, where a dot or a comma could be taken for a decimal mark.
pub fn whole(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(c);
    }
    out
}

/// A share in per cent: "67 %", "66,7 %" (one decimal only where it is not zero).
pub fn percent(value: f64, lang: &str) -> String {
    let places = if (value * 10.0).round() % 10.0 == 0.0 {
        0
    } else {
        1
    };
    format!("{} %", decimal(value, places, lang))
}

/// Text made safe for HTML and XML, in content and in attribute values alike: the five markup
/// characters escaped, and the control characters XML 1.0 cannot carry left out.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
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
    fn moments_read_on_the_study_clock() {
        let winter: DateTime<Utc> = "2027-11-26T22:59:00Z".parse().unwrap();
        let summer: DateTime<Utc> = "2027-06-25T21:59:00Z".parse().unwrap();
        assert_eq!(
            long_datetime(winter, "da", zone::DEFAULT),
            "fredag den 26. november 2027 kl. 23:59 (dansk tid)"
        );
        assert_eq!(
            long_datetime(summer, "en", zone::DEFAULT),
            "Friday 25 June 2027 at 23:59 CEST"
        );
        let ny = zone::parse("America/New_York").unwrap();
        assert_eq!(
            long_datetime(winter, "en", ny),
            "Friday 26 November 2027 at 17:59 EST"
        );
        assert_eq!(
            time_of_day(winter, "da", zone::DEFAULT),
            "kl. 23:59 (dansk tid)"
        );
    }

    #[test]
    fn counted_texts_take_the_plural_form_of_their_language() {
        let n = |k: i64| [("n", k.to_string())];
        assert_eq!(
            text_with("da", "recruitment.imported", &n(1)),
            "1 kandidat importeret."
        );
        assert_eq!(
            text_with("da", "recruitment.imported", &n(3)),
            "3 kandidater importeret."
        );
        assert_eq!(
            text_with("en", "rounds.opened", &n(1)),
            "The round is open; 1 e-mail queued."
        );
        assert_eq!(
            text_with("en", "rounds.opened", &n(0)),
            "The round is open; 0 e-mails queued."
        );
    }

    #[test]
    fn numbers_in_each_language() {
        assert_eq!(decimal(3.777, 1, "da"), "3,8");
        assert_eq!(decimal(3.777, 1, "en"), "3.8");
        assert_eq!(number(4.0, "da"), "4");
        assert_eq!(percent(66.666, "da"), "66,7 %");
        assert_eq!(percent(100.0, "en"), "100 %");
    }

    #[test]
    fn markup_is_escaped_once_for_html_and_xml() {
        assert_eq!(
            escape("<a href=\"x\">Tom & Jerry's</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;"
        );
    }

    #[test]
    fn fields_are_named_as_people_know_them() {
        assert_eq!(
            field_label("da", "consensus.max_iqr").as_deref(),
            Some("Største interkvartilinterval")
        );
        assert_eq!(
            field_label("da", "strata[3].key").as_deref(),
            Some("Stratum 4, nøgle")
        );
        assert_eq!(field_label("en", "parts[0]").as_deref(), Some("Part 1"));
        assert_eq!(
            field_label("en", "answers[2].theme_id").as_deref(),
            Some("Answer 3, theme")
        );
        assert_eq!(field_label("da", "no_such_field"), None);
        assert_eq!(field_label("da", "strata[x].key"), None);
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
}
