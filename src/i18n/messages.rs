//! Messages the operations write in English — validation errors and refusals — recognised by
//! their English wording in the `fault` table of the texts and said again in the reader's
//! language. Each message's key there is its stable code, which the API hands to scripts beside
//! the English sentence. The operations keep writing plain sentences where the fault is found;
//! only the edge that shows them to a person needs to know about languages.

use std::sync::LazyLock;

/// One English message with its holes (`{max}`), and the key it is said by.
struct Pattern {
    code: String,
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Hole(String),
}

const SECTION: &str = "fault.";

/// The hole for what a parser or library said about a fault, in its own (English) words: the
/// English message keeps it, other languages say the fault without it.
#[cfg(test)]
const CAUSE: &str = "cause";

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let mut all: Vec<Pattern> = super::text_keys()
        .remove("en")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|key| {
            let rest = key.strip_prefix(SECTION)?;
            // A counted message is a table of plural forms; each form is recognised.
            let code = rest
                .strip_suffix(".one")
                .or_else(|| rest.strip_suffix(".other"))
                .unwrap_or(rest);
            Some(Pattern {
                code: code.to_string(),
                parts: parts(&super::text("en", &key)),
            })
        })
        .collect();
    // The most specific wording first, so "must be between 1 and 100" wins over
    // "must be between {min} and {max}".
    all.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parts
                .iter()
                .map(|part| match part {
                    Part::Text(t) => t.len(),
                    Part::Hole(_) => 0,
                })
                .sum::<usize>(),
        )
    });
    all
});

fn parts(template: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        if open > 0 {
            out.push(Part::Text(rest[..open].to_string()));
        }
        out.push(Part::Hole(rest[open + 1..close].to_string()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest.to_string()));
    }
    out
}

/// Matches `s` against `parts`, filling `holes` with what each hole stands for (never empty).
fn fits(parts: &[Part], s: &str, holes: &mut Vec<(String, String)>) -> bool {
    match parts.split_first() {
        None => s.is_empty(),
        Some((Part::Text(t), rest)) => s
            .strip_prefix(t.as_str())
            .is_some_and(|s| fits(rest, s, holes)),
        Some((Part::Hole(name), rest)) => {
            let ends: Vec<usize> = match rest.first() {
                None => vec![s.len()],
                Some(Part::Text(t)) => s.match_indices(t.as_str()).map(|(i, _)| i).collect(),
                Some(Part::Hole(_)) => s.char_indices().map(|(i, _)| i).skip(1).collect(),
            };
            for end in ends.into_iter().filter(|&e| e > 0) {
                holes.push((name.clone(), s[..end].to_string()));
                if fits(rest, &s[end..], holes) {
                    return true;
                }
                holes.pop();
            }
            false
        }
    }
}

/// The code of an English message and what its holes stand for, when the catalogue has it.
pub fn recognise(message: &str) -> Option<(&'static str, Vec<(String, String)>)> {
    PATTERNS.iter().find_map(|p| {
        let mut holes = Vec::new();
        fits(&p.parts, message, &mut holes).then_some((p.code.as_str(), holes))
    })
}

/// The stable code of a message for scripts: its catalogue key, or `invalid` for a message the
/// catalogue does not know.
pub fn code_of(message: &str) -> &'static str {
    recognise(message).map_or("invalid", |(code, _)| code)
}

/// `message` in `lang`, when the catalogue knows it.
fn said(lang: &str, message: &str) -> Option<String> {
    let (code, holes) = recognise(message)?;
    if lang == "en" {
        return Some(message.to_string());
    }
    let args: Vec<(&str, String)> = holes
        .iter()
        .map(|(k, v)| (k.as_str(), said_hole(lang, k, v)))
        .collect();
    Some(super::text_with(lang, &format!("{SECTION}{code}"), &args))
}

/// `message` in `lang`. A message the catalogue does not know stays as written.
pub fn say(lang: &str, message: &str) -> String {
    if lang == "en" {
        return message.to_string();
    }
    said(lang, message).unwrap_or_else(|| message.to_string())
}

/// What a hole stands for in `lang`: a word the operations write as a code — a candidate's
/// status (a hole named `status…`), a theme's status, a role — is said as the pages say it;
/// anything else (a name, a number) stays as it is.
fn said_hole(lang: &str, name: &str, value: &str) -> String {
    let section = match name {
        "theme_status" => "theme_status",
        "roles" => "roles",
        "what" => "archive_item",
        n if n.starts_with("status") => "status",
        _ => return value.to_string(),
    };
    let key = format!("{section}.{value}");
    if super::has_text(lang, &key) {
        super::text(lang, &key).to_lowercase()
    } else {
        value.to_string()
    }
}

/// A message Orakel wrote and kept (a row's problem in an import, the reason it recorded for a
/// change) in `lang`: a message the catalogue knows, when need be after the name of the field it
/// is about (`referred_by: …`), is said in `lang`; text a person wrote passes unchanged.
pub fn say_kept(lang: &str, message: &str) -> String {
    if let Some((field, rest)) = message.split_once(": ")
        && let Some(label) = super::field_label(lang, field)
        && recognise(rest).is_some()
    {
        return format!("{label}: {}", say(lang, rest));
    }
    say(lang, message)
}

/// A refusal as a notice in `lang`: a message the catalogue knows becomes a sentence in `lang`;
/// any other text (a page's own notice, already in its language) passes unchanged.
pub fn notice(lang: &str, message: &str) -> String {
    said(lang, message).map_or_else(|| message.to_string(), |m| sentence(&m))
}

/// A message as a sentence: capital first letter, full stop at the end.
pub fn sentence(m: &str) -> String {
    let mut chars = m.trim().chars();
    let mut s: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_message_is_said_in_danish_with_its_holes_filled() {
        assert_eq!(say("da", "must be in the future"), "skal ligge i fremtiden");
        assert_eq!(code_of("must be in the future"), "future");
        assert_eq!(
            say("da", "must be at most 80 characters"),
            "må højst være 80 tegn"
        );
        assert_eq!(code_of("must be at most 80 characters"), "too_long");
        assert_eq!(say("en", "must be in the future"), "must be in the future");
    }

    #[test]
    fn code_words_in_holes_are_said_as_the_pages_say_them() {
        assert_eq!(
            say("da", "only a study's owners may do this"),
            "kun studiets ejere må gøre dette"
        );
        assert_eq!(say("da", "theme 4 is merged"), "tema 4 er slået sammen");
        assert_eq!(
            say("da", "theme 2 is dropped and can no longer change"),
            "tema 2 er udgået og kan ikke længere ændres"
        );
        assert_eq!(
            say(
                "da",
                "you are declined in this study and cannot decline the invitation now"
            ),
            "din status i dette studie er »takket nej«, så du kan ikke takke nej til invitationen nu"
        );
    }

    #[test]
    fn the_most_specific_wording_wins_and_unknown_text_is_kept() {
        assert_eq!(code_of("must be between 1 and 100"), "between");
        assert_eq!(code_of("something nobody wrote"), "invalid");
        assert_eq!(
            say("da", "something nobody wrote"),
            "something nobody wrote"
        );
    }

    #[test]
    fn faults_join_into_sentences_named_by_their_fields() {
        let mut inv = crate::domain::Invalid::one("no_label_a", "must be in the future");
        inv.add("no_label_b", "must not be empty");
        assert_eq!(inv.say("da"), "Skal ligge i fremtiden. Må ikke være tom.");
        let inv = crate::domain::Invalid::one("closes_at", "must be in the future");
        assert_eq!(inv.say("da"), "Frist: skal ligge i fremtiden.");
        assert_eq!(notice("da", "round 2 is closed"), "Runde 2 er lukket.");
        assert_eq!(
            notice("da", "Gemt"),
            "Gemt",
            "a page's own notice passes unchanged"
        );
    }

    #[test]
    fn every_message_has_its_holes_in_both_languages() {
        let keys = super::super::text_keys();
        for key in keys["en"].iter().filter(|k| k.starts_with(SECTION)) {
            let holes = |lang: &str| {
                let mut h: Vec<String> = parts(&super::super::text(lang, key))
                    .into_iter()
                    .filter_map(|p| match p {
                        // A library's own words about a fault stay out of a Danish sentence.
                        Part::Hole(h) if h != CAUSE || lang == "en" => Some(h),
                        _ => None,
                    })
                    .filter(|h| h != CAUSE)
                    .collect();
                h.sort();
                h
            };
            assert_eq!(holes("en"), holes("da"), "{key}");
            assert!(
                !super::super::text("da", key).contains("{cause}"),
                "{key}: the parser's English words in Danish"
            );
        }
    }

    /// Every message the code writes for a person — a refused input, a refusal, a fault in a
    /// file, a reason it records — and every field it names must be in the catalogue of both
    /// languages, or a Danish reader gets English. Read from the source: any string that reads as
    /// a sentence (lower-case words with spaces) in the rooms that speak to people counts, unless
    /// its line is for the log or an internal error.
    #[test]
    fn every_message_and_field_in_the_source_is_said_in_both_languages() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let literal = regex::Regex::new(r#""((?:[^"\\]|\\.)*)""#).unwrap();
        let sentence = regex::Regex::new(r"^[a-z{][^<]*[a-z]{2,} [a-z{]").unwrap();
        let prefixed = regex::Regex::new(r"^([a-z_.]+): (.+)$").unwrap();
        let field =
            regex::Regex::new(r#"(?:Invalid::one|\.add)\(\s*(?:format!\(\s*)?"([^"]*)""#).unwrap();
        let hole = regex::Regex::new(r"\{[^}]*\}").unwrap();
        // Lines for the log, for an internal error (never shown) or for the API's description.
        let internal = [
            "anyhow!",
            "context(",
            "tracing::",
            "Corrupt(",
            "expect(",
            "panic!",
            "unreachable!",
            "description =",
            "#[error(",
            "InternalError::from_response",
            "\" | \"",
        ];
        // Rooms with texts of their own (the report, e-mails, the command line) or none for
        // people (the database, settings, the operator's endpoints, error matching).
        let elsewhere = [
            "report/",
            "mail/",
            "cli.rs",
            "demo.rs",
            "config.rs",
            "db/",
            "worker/",
            "startup.rs",
            "telemetry.rs",
            "metrics.rs",
            "error.rs",
            "web/api/health.rs",
            "i18n/",
        ];
        let mut unsaid = Vec::new();
        let mut files = vec![root.clone()];
        while let Some(p) = files.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).unwrap() {
                    files.push(e.unwrap().path());
                }
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
            if p.extension().is_none_or(|x| x != "rs")
                || elsewhere
                    .iter()
                    .any(|e| rel.starts_with(e) || rel.ends_with(e))
            {
                continue;
            }
            let source = std::fs::read_to_string(&p).unwrap();
            let source = source.split("#[cfg(test)]").next().unwrap_or("");
            let lines: Vec<&str> = source.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let around = lines[i.saturating_sub(2)..=i].join(" ");
                if line.trim_start().starts_with("//")
                    || internal.iter().any(|x| around.contains(x))
                {
                    continue;
                }
                for c in literal.captures_iter(line) {
                    let m = c[1].replace("\\\"", "\"");
                    if !sentence.is_match(&m) {
                        continue;
                    }
                    let filled = hole.replace_all(&m, "7").to_string();
                    let known = recognise(&filled).is_some()
                        || super::super::has_text("en", &format!("archive_item.{m}"))
                        || prefixed.captures(&filled).is_some_and(|p| {
                            super::super::field_label("en", &p[1]).is_some()
                                && recognise(&p[2]).is_some()
                        });
                    if !known {
                        unsaid.push(format!("{rel}:{}: message {m:?}", i + 1));
                    }
                }
            }
            // A field named wholly at run time (an archive's table, a guide's question) is
            // not checked here.
            for c in field
                .captures_iter(source)
                .filter(|c| !c[1].starts_with('{'))
            {
                let f = hole.replace_all(&c[1], "0");
                for lang in ["da", "en"] {
                    if super::super::field_label(lang, &f).is_none() {
                        unsaid.push(format!("{rel}: field {f:?} has no name in {lang}"));
                    }
                }
            }
        }
        unsaid.sort();
        unsaid.dedup();
        assert!(
            unsaid.is_empty(),
            "not in the catalogue:\n{}",
            unsaid.join("\n")
        );
    }
}
