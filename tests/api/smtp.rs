//! A real SMTP server for the tests: aiosmtpd (from PyPI) run by `tests/support/smtp_server.py`.
//! It keeps every message it accepts, refuses addresses containing "bounce" with 550, and
//! answers 451 to everything while told to fail. Without Python's aiosmtpd the SMTP tests are
//! skipped with a printed reason, unless `ORAKEL_REQUIRE_SMTP=1` makes that a failure.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A message as RFC 5322 wants it on the wire: every line ends in CRLF (no bare LF or CR, which
/// servers guarding against SMTP smuggling refuse) and no line is longer than 998 octets.
pub fn assert_wire_format(name: &str, raw: &[u8]) {
    for (i, w) in raw.windows(2).enumerate() {
        assert!(
            (w[1] != b'\n' || w[0] == b'\r') && (w[0] != b'\r' || w[1] == b'\n'),
            "{name}: a bare line end at octet {i}"
        );
    }
    for (n, line) in raw.split(|b| *b == b'\n').enumerate() {
        let len = line.strip_suffix(b"\r").unwrap_or(line).len();
        assert!(len <= 998, "{name}: line {} has {len} octets", n + 1);
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope recipients.
    pub to: Vec<String>,
    pub raw: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        let raw = self.raw.replace("\r\n", "\n");
        let head = raw.split("\n\n").next().unwrap_or("");
        let prefix = format!("{}:", name.to_lowercase());
        let mut lines = head.split('\n').peekable();
        while let Some(line) = lines.next() {
            if line.to_lowercase().starts_with(&prefix) {
                let mut v = line[prefix.len()..].trim().to_string();
                while lines
                    .peek()
                    .is_some_and(|l| l.starts_with(' ') || l.starts_with('\t'))
                {
                    v.push(' ');
                    v.push_str(lines.next().unwrap().trim());
                }
                return Some(v);
            }
        }
        None
    }

    /// The message with quoted-printable encoding undone, for searching its text.
    pub fn text(&self) -> String {
        quoted_printable(&self.raw)
    }

    /// What a reader sees: the addressing headers and every part's body, decoded from
    /// quoted-printable or base64. Message ids and MIME boundaries, which are random, are left out.
    pub fn readable(&self) -> String {
        let mut out = String::new();
        for h in ["From", "To", "Reply-To", "Subject", "List-Unsubscribe"] {
            if let Some(v) = self.header(h) {
                out.push_str(&v);
                out.push('\n');
            }
        }
        for (_, body) in self.parts() {
            out.push_str(&body);
            out.push('\n');
        }
        out
    }

    /// Each part as (its headers in lower case, its body decoded from quoted-printable or
    /// base64).
    pub fn parts(&self) -> Vec<(String, String)> {
        use base64::Engine;
        let raw = self.raw.replace("\r\n", "\n");
        // Parts begin at a line that is `--` and one of the message's boundaries (a body may
        // hold other lines that start with `--`).
        let boundaries: Vec<String> = raw
            .match_indices("boundary=")
            .filter_map(|(i, _)| {
                let rest = raw[i + "boundary=".len()..].trim_start_matches('"');
                let end = rest.find(['"', ';', '\n'])?;
                Some(format!("--{}", &rest[..end]))
            })
            .collect();
        let mut chunks: Vec<String> = vec![String::new()];
        for line in raw.split('\n') {
            if boundaries
                .iter()
                .any(|b| line == b || line == format!("{b}--"))
            {
                chunks.push(String::new());
            } else {
                let last = chunks.last_mut().unwrap();
                last.push_str(line);
                last.push('\n');
            }
        }
        // A single-part message is its own part; otherwise the first chunk is the envelope.
        let parts = if chunks.len() == 1 {
            &chunks[..]
        } else {
            &chunks[1..]
        };
        let mut out = Vec::new();
        for part in parts {
            let Some((head, body)) = part.split_once("\n\n") else {
                continue;
            };
            let head = head.to_lowercase();
            let body = if head.contains("content-transfer-encoding: base64") {
                let b64: String = body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(|b| String::from_utf8_lossy(&b).to_string())
                    .unwrap_or_default()
            } else if head.contains("quoted-printable") {
                quoted_printable(body)
            } else {
                body.to_string()
            };
            out.push((head, body));
        }
        out
    }

    /// The HTML part, decoded.
    pub fn html(&self) -> Option<String> {
        self.parts()
            .into_iter()
            .find(|(head, _)| head.contains("content-type: text/html"))
            .map(|(_, body)| body)
    }

    /// The personal link tokens (`/p/TOKEN`) in the message, in the order they appear.
    pub fn links(&self) -> Vec<String> {
        self.tokens(false)
    }

    /// The tokens of the message's unsubscribe links (`/unsubscribe/TOKEN`, or
    /// `/p/TOKEN/unsubscribe` as older messages have them), headers included.
    pub fn unsubscribe_links(&self) -> Vec<String> {
        self.tokens(true)
    }

    fn tokens(&self, unsubscribe: bool) -> Vec<String> {
        let text = self.text();
        let mut links = Vec::new();
        for (i, _) in text.match_indices('/') {
            let rest = &text[i..];
            let Some((prefix, tail)) = ["/p/", "/unsubscribe/"]
                .iter()
                .find_map(|p| rest.strip_prefix(p).map(|t| (*p, t)))
            else {
                continue;
            };
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(tail.len());
            let stop = prefix == "/unsubscribe/" || tail[end..].starts_with("/unsubscribe");
            if end == 43 && stop == unsubscribe {
                let t = tail[..end].to_string();
                if !links.contains(&t) {
                    links.push(t);
                }
            }
        }
        links
    }
}

/// Undoes quoted-printable encoding (soft line breaks and `=XX` bytes).
pub fn quoted_printable(raw: &str) -> String {
    let raw = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&raw[i + 1..i + 3], 16)
        {
            decoded.push(b);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&decoded).to_string()
}

pub struct SmtpServer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl SmtpServer {
    /// A free port with nothing listening on it yet.
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    pub fn start() -> Option<SmtpServer> {
        Self::start_on(Self::free_port())
    }

    /// Starts listening on `port` (e.g. after a simulated outage).
    pub fn start_on(port: u16) -> Option<SmtpServer> {
        let have = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            if std::env::var("ORAKEL_REQUIRE_SMTP").as_deref() == Ok("1") {
                panic!(
                    "ORAKEL_REQUIRE_SMTP=1 but python3 with aiosmtpd is not available (pip install aiosmtpd)"
                );
            }
            eprintln!(
                "SMTP test skipped: python3 with aiosmtpd is not available (pip install aiosmtpd)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("orakel-smtp-{}", uuid::Uuid::new_v4()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
        let mut child = Command::new("python3")
            .args([script, "--port", &port.to_string(), "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Some(SmtpServer { port, dir, child })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answer 451 (try again later) to every message while `on`.
    pub fn set_failing(&self, on: bool) {
        let flag = self.dir.join("FAIL");
        if on {
            std::fs::write(flag, b"").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Answer each message only after `seconds` (0: at once).
    pub fn set_delay(&self, seconds: f64) {
        let flag = self.dir.join("SLOW");
        if seconds > 0.0 {
            std::fs::write(flag, seconds.to_string()).unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    pub fn received(&self) -> Vec<Received> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|x| x == "msg"));
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let content = std::fs::read(p).unwrap();
                let nl = content.iter().position(|b| *b == b'\n').unwrap();
                let envelope: serde_json::Value = serde_json::from_slice(&content[..nl]).unwrap();
                assert_wire_format(&p.display().to_string(), &content[nl + 1..]);
                Received {
                    to: envelope["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect(),
                    raw: String::from_utf8_lossy(&content[nl + 1..]).to_string(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || start.elapsed() > Duration::from_secs(20) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
