//! What happened after an action, said once on the page the action leads to. An action that
//! redirects leaves a short-lived cookie naming a text (a key of the texts, with its values);
//! the next page a researcher opens says it in their language — a success as a notice, a
//! failure as an error — and removes the cookie. Only known texts can be named, so a cookie
//! cannot put words of its own on a page.

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The cookie that carries a message to the next page.
pub const FLASH_COOKIE: &str = "orakel_flash";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flash {
    /// A key of the texts (`recruitment.added`).
    pub key: String,
    /// The values of its holes (`n` picks the plural form).
    #[serde(default)]
    pub args: Vec<(String, String)>,
    #[serde(default)]
    pub failed: bool,
    /// Sentences said after it (how many of the chosen were skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Flash>,
}

impl Flash {
    /// That an action worked.
    pub fn done(key: &str, args: &[(&str, String)]) -> Flash {
        Flash {
            key: key.into(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            failed: false,
            more: Vec::new(),
        }
    }

    /// This message followed by another sentence.
    pub fn and(mut self, key: &str, args: &[(&str, String)]) -> Flash {
        self.more.push(Flash::done(key, args));
        self
    }

    /// That an action did not work, and why.
    pub fn failed(key: &str, args: &[(&str, String)]) -> Flash {
        Flash {
            failed: true,
            ..Flash::done(key, args)
        }
    }

    /// The message in `lang`, or None for a key the texts do not have.
    pub fn say(&self, lang: &str) -> Option<super::pages::Notice> {
        let known = crate::i18n::has_text(lang, &self.key)
            || crate::i18n::has_text(lang, &format!("{}.other", self.key));
        if !known {
            return None;
        }
        let args: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let mut text = crate::i18n::text_with(lang, &self.key, &args);
        for then in &self.more {
            text.push(' ');
            text.push_str(&then.say(lang)?.text);
        }
        Some(if self.failed {
            super::pages::Notice::failed(text)
        } else {
            super::pages::Notice::done(text)
        })
    }

    /// The message a request carries from the action before it.
    pub fn of(req: &HttpRequest) -> Option<Flash> {
        let raw = req.cookie(FLASH_COOKIE)?;
        let json = percent_decode(raw.value())?;
        serde_json::from_str(&json).ok()
    }

    fn cookie(&self, secure: bool) -> Cookie<'static> {
        let json = serde_json::to_string(self).unwrap_or_default();
        let mut c = super::auth::cookie(FLASH_COOKIE, percent_encode(&json), secure);
        // Long enough for the redirect, not for a message found days later.
        c.set_max_age(actix_web::cookie::time::Duration::minutes(2));
        c
    }
}

/// A redirect to `to` that says `flash` on the page there.
pub fn redirect_with(to: &str, flash: Flash, secure: bool) -> HttpResponse {
    let mut resp = super::see_other(to);
    let _ = resp.add_cookie(&flash.cookie(secure));
    resp
}

/// The cookie that removes a message once it has been said.
pub fn said(secure: bool) -> Cookie<'static> {
    super::auth::removal_cookie(FLASH_COOKIE, secure)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_after_a_message_are_said_after_it_and_unknown_ones_say_nothing() {
        let f = Flash::done("recruitment.invited", &[("n", "2".into())])
            .and("recruitment.skipped", &[("n", "1".into())]);
        let back: Flash =
            serde_json::from_str(&percent_decode(f.cookie(false).value()).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(
            back.say("en").unwrap().text,
            "2 invitations queued. 1 candidate could not be invited."
        );
        let forged = Flash::done("recruitment.invited", &[("n", "2".into())]).and("<script>", &[]);
        assert!(forged.say("da").is_none());
    }

    #[test]
    fn a_message_travels_in_a_cookie_and_is_said_in_the_readers_language() {
        let f = Flash::done("recruitment.imported", &[("n", "3".into())]);
        let value = f.cookie(false).value().to_string();
        assert!(
            value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "%-_.".contains(c))
        );
        let back: Flash = serde_json::from_str(&percent_decode(&value).unwrap()).unwrap();
        assert_eq!(back, f);
        let n = back.say("da").unwrap();
        assert_eq!(n.text, "3 kandidater importeret.");
        assert!(!n.failed);
        assert!(Flash::failed("nothing.such", &[]).say("da").is_none());
    }
}
