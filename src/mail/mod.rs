//! E-mail: the templates Orakel writes its messages from (built in, overridable by a directory,
//! and with a study's own letter text), the message as it goes on the wire, and delivery by
//! SMTP or into a folder.

pub mod templates;
pub mod transport;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use serde::{Deserialize, Serialize};

pub use crate::domain::states::MessageKind as Kind;

/// What a message needs to know; every template sees these names.
#[derive(Debug, Clone, Serialize)]
pub struct MailContext {
    pub study: StudyFacts,
    /// The recipient's name.
    pub name: String,
    /// Their personal link.
    pub link: String,
    pub unsubscribe_link: String,
    /// The round's deadline as a long date in the study's language, when there is one.
    pub deadline: String,
    pub round_number: i32,
    pub validation: bool,
    pub rating: bool,
    /// Values particular to one kind of message (an appointment's time and interviewer).
    pub extra: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StudyFacts {
    pub title: String,
    pub purpose: String,
    pub funder: String,
    pub contact: String,
}

/// A rendered message, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// A file sent with a message (an interview guide, a calendar invitation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// The content, base64-encoded.
    pub data: String,
}

impl Attachment {
    pub fn new(filename: &str, content_type: &str, bytes: &[u8]) -> Attachment {
        use base64::Engine;
        Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// A message for exactly one recipient, with a plain-text and an HTML part, its own Message-ID,
/// and (for panel mail) a one-click way to stop further mail.
#[allow(clippy::too_many_arguments)]
pub fn build_message(
    from: &Mailbox,
    to: &str,
    subject: &str,
    text: &str,
    html: &str,
    message_id: &str,
    unsubscribe: Option<&str>,
    attachments: &[Attachment],
) -> Result<Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("the address {to:?} is not valid: {e}"))?;
    // A subject is one line whatever a title contains.
    let subject: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject.trim())
        .message_id(Some(message_id.to_string()));
    if let Some(url) = unsubscribe {
        builder = builder
            .header(ListUnsubscribe(format!("<{url}>")))
            .header(ListUnsubscribePost);
    }
    let body = MultiPart::alternative_plain_html(text.to_string(), html.to_string());
    let body = if attachments.is_empty() {
        body
    } else {
        use base64::Engine;
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in attachments {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&a.data)
                .map_err(|e| format!("the attachment {} cannot be read: {e}", a.filename))?;
            // A text part sent as 7bit or 8bit must end its lines in CRLF (RFC 5322 2.3): a
            // bare LF is refused by servers that guard against SMTP smuggling.
            let content_type = lettre::message::header::ContentType::parse(&a.content_type)
                .map_err(|e| format!("the attachment {} has a bad type: {e}", a.filename))?;
            let attachment = lettre::message::Attachment::new(a.filename.clone());
            let part = match String::from_utf8(bytes) {
                Ok(text) if a.content_type.starts_with("text/") => {
                    attachment.body(crlf(&text), content_type)
                }
                // Anything else goes as base64, whatever bytes it holds.
                other => {
                    let bytes = other.map_or_else(|e| e.into_bytes(), String::into_bytes);
                    let body = lettre::message::Body::new_with_encoding(
                        bytes,
                        lettre::message::header::ContentTransferEncoding::Base64,
                    )
                    .map_err(|_| format!("the attachment {} cannot be encoded", a.filename))?;
                    attachment.body(body, content_type)
                }
            };
            mixed = mixed.singlepart(part);
        }
        mixed
    };
    builder
        .multipart(body)
        .map_err(|e| format!("the message cannot be built: {e}"))
}

/// Every line end as CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// A new Message-ID under the host of the public URL.
pub fn new_message_id(public_url: &str) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or("localhost")
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    format!("<{}@{host}>", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_one_recipient_two_parts_and_an_id() {
        let from: Mailbox = "Orakel <orakel@localhost>".parse().unwrap();
        let id = new_message_id("https://delphi.example.org:8443/x");
        assert!(id.ends_with("@delphi.example.org>"), "{id}");
        let m = build_message(
            &from,
            "anne@firma.dk",
            "Invitation:\nøl",
            "text",
            "<p>html</p>",
            &id,
            Some("https://delphi.example.org/p/abc/unsubscribe"),
            &[Attachment::new(
                "guide.txt",
                "text/plain; charset=utf-8",
                "Spørgsmål".as_bytes(),
            )],
        )
        .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("To: anne@firma.dk"));
        assert!(raw.contains(&format!("Message-ID: {id}")));
        assert!(raw.contains("List-Unsubscribe: <https://delphi.example.org/p/abc/unsubscribe>"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("multipart/mixed") && raw.contains("filename=\"guide.txt\""));
        assert!(build_message(&from, "a@b.dk, c@d.dk", "s", "t", "h", &id, None, &[]).is_err());
    }

    /// Every line of a message ends in CRLF and none is longer than 998 octets (RFC 5322 2.1.1,
    /// 2.3), whatever its parts hold: a plain-ASCII attachment (sent as 7bit), long lines, text
    /// with bare line feeds.
    #[test]
    fn every_line_of_a_message_ends_in_crlf_and_fits() {
        let from: Mailbox = "Orakel <orakel@localhost>".parse().unwrap();
        let long = "word ".repeat(400);
        let m = build_message(
            &from,
            "anne@firma.dk",
            "Guide",
            &format!("Line one\nLine two\n{long}\nÆble\n"),
            &format!("<p>{long}</p>\n<p>two</p>"),
            "<x@orakel.example>",
            None,
            &[
                Attachment::new(
                    "guide.txt",
                    "text/plain; charset=utf-8",
                    b"1. Question\n2. Question\n",
                ),
                Attachment::new("long.txt", "text/plain; charset=utf-8", long.as_bytes()),
                Attachment::new("data.bin", "application/octet-stream", b"\n\x00\n"),
            ],
        )
        .unwrap();
        let raw = m.formatted();
        for (i, w) in raw.windows(2).enumerate() {
            assert!(
                (w[1] != b'\n' || w[0] == b'\r') && (w[0] != b'\r' || w[1] == b'\n'),
                "a bare line end at octet {i}: {}",
                String::from_utf8_lossy(&raw)
            );
        }
        for line in raw.split(|b| *b == b'\n') {
            assert!(line.len() <= 999, "{} octets", line.len());
        }
    }
}
