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

/// What a hole stands for in `lang`: a candidate's status (a hole named `status…`) is said as
/// the pages say it; anything else (a name, a number) stays as it is.
fn said_hole(lang: &str, name: &str, value: &str) -> String {
    let key = format!("status.{value}");
    if name.starts_with("status") && super::has_text(lang, &key) {
        super::text(lang, &key).to_lowercase()
    } else {
        value.to_string()
    }
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
        let mut inv = crate::domain::Invalid::one("x", "must be in the future");
        inv.add("y", "must not be empty");
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
                        Part::Hole(h) => Some(h),
                        Part::Text(_) => None,
                    })
                    .collect();
                h.sort();
                h
            };
            assert_eq!(holes("en"), holes("da"), "{key}");
        }
    }
}
