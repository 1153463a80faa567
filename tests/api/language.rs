//! Every word in the reader's language. The demo study is read in Danish and then in English
//! by each of its readers — every page a researcher, an expert and a funder reach by following
//! links, every form submitted empty and with nonsense so that its errors show, every e-mail and
//! every report file — and each text a person reads is checked: no word that only the other
//! language's texts use, no number in the other language's notation, no "(s)" or "(er)" in place
//! of a plural. The study's own data (names, themes, comments) is set aside first: it is
//! whatever the researchers wrote.

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::{both_backends, on_both};

/// The words that only `other`'s texts use, lower-case.
fn foreign_words(lang: &str, other: &str) -> HashSet<String> {
    let keys = orakel::i18n::text_keys();
    let words_of = |l: &str| -> HashSet<String> {
        keys[l]
            .iter()
            .flat_map(|k| words(&without_holes(&orakel::i18n::text(l, k))))
            .collect()
    };
    let own = words_of(lang);
    words_of(other)
        .into_iter()
        .filter(|w| !own.contains(w))
        .collect()
}

fn without_holes(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The words of a text: runs of letters, lower-case, of two letters or more.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .collect()
}

/// What one reader in one language read, and what was wrong with it.
struct Reader {
    lang: &'static str,
    foreign: HashSet<String>,
    /// The study's own data, longest first: set aside before a text is judged.
    data: Vec<String>,
    /// What is wrong, and the first place it was seen.
    findings: BTreeMap<String, String>,
    texts: usize,
    /// One HTML document of each kind read (pages, form answers, e-mails), by where it was
    /// read with ids left out, for the validator.
    documents: BTreeMap<String, String>,
}

impl Reader {
    fn new(lang: &'static str, data: Vec<String>) -> Reader {
        let other = if lang == "da" { "en" } else { "da" };
        let mut data: Vec<String> = data
            .into_iter()
            .chain(NONSENSE.iter().map(|s| s.to_string()))
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|d| d.chars().count() >= 2)
            .collect();
        data.sort_by_key(|d| std::cmp::Reverse(d.len()));
        data.dedup();
        Reader {
            lang,
            foreign: foreign_words(lang, other),
            data,
            findings: BTreeMap::new(),
            texts: 0,
            documents: BTreeMap::new(),
        }
    }

    /// `text` with the study's data, what the test typed, and addresses and paths (a link, a
    /// time zone's name) blanked out.
    fn ours(&self, text: &str) -> String {
        let mut t = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for d in &self.data {
            t = blank_bounded(&t, d);
        }
        t.split(' ')
            .filter(|w| !(w.contains('@') || w.contains('/')))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Judges one text a person reads at `place`.
    fn read(&mut self, place: &str, text: &str) {
        let t = self.ours(text);
        if t.trim().is_empty() {
            return;
        }
        self.texts += 1;
        for w in words(&t) {
            if self.foreign.contains(&w) {
                self.found(place, format!("the word {w:?} in {:?}", t.trim()));
            }
        }
        let (wrong, right) = if self.lang == "da" {
            ('.', ',')
        } else {
            (',', '.')
        };
        for number in numbers(&t) {
            if number.matches(wrong).count() == 1 && !number.contains(right) {
                self.found(place, format!("the number {number:?} in {:?}", t.trim()));
            }
        }
        let chars: Vec<char> = t.chars().collect();
        for (i, w) in chars.windows(2).enumerate() {
            if w[0].is_ascii_digit() && w[1] == '%' {
                self.found(
                    place,
                    format!("a per cent sign without its space in {:?}", t.trim()),
                );
            }
            if w[0].is_alphabetic() && w[1] == '(' {
                let rest: String = chars[i + 1..].iter().take(5).collect();
                if ["(s)", "(er)", "(e)", "(r)"]
                    .iter()
                    .any(|p| rest.starts_with(p))
                {
                    self.found(place, format!("a plural in brackets in {:?}", t.trim()));
                }
            }
        }
    }

    /// Judges a PDF's text. Its table cells wrap and interleave as the text is taken out, so
    /// the study's data is set aside word by word rather than whole, and spacing (which the
    /// extraction guesses from glyph positions) is not judged.
    fn read_pdf(&mut self, place: &str, text: &str) {
        let data_words: HashSet<String> = self.data.iter().flat_map(|d| words(d)).collect();
        self.texts += 1;
        for w in words(text) {
            if self.foreign.contains(&w) && !data_words.contains(&w) {
                self.found(place, format!("the word {w:?} in a PDF"));
            }
        }
        let (wrong, right) = if self.lang == "da" {
            ('.', ',')
        } else {
            (',', '.')
        };
        for number in numbers(text) {
            if number.matches(wrong).count() == 1 && !number.contains(right) {
                self.found(place, format!("the number {number:?} in a PDF"));
            }
        }
    }

    fn found(&mut self, place: &str, what: String) {
        self.findings
            .entry(what)
            .or_insert_with(|| place.to_string());
    }

    /// Judges every text of an HTML page or part.
    fn html(&mut self, place: &str, body: &str) {
        if body
            .trim_start()
            .to_lowercase()
            .starts_with("<!doctype html")
        {
            self.documents
                .entry(format!("{} {}", self.lang, without_ids(place)))
                .or_insert_with(|| body.to_string());
        }
        for t in html_texts(body, self.lang) {
            self.read(place, &t);
        }
    }
}

/// A place with the ids and tokens in it left out, so pages of one kind count once.
fn without_ids(place: &str) -> String {
    place
        .split(['/', ' ', '?', '&'])
        .map(|s| {
            let long = s.len() >= 20
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if long { "…" } else { s }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `text` with each occurrence of `data` that stands as whole words replaced by a space.
fn blank_bounded(text: &str, data: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(data) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + data.len()..].chars().next();
        let bounded = before.is_none_or(|c| !c.is_alphanumeric())
            && after.is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&rest[..i]);
        out.push_str(if bounded { " " } else { data });
        rest = &rest[i + data.len()..];
    }
    out.push_str(rest);
    out
}

/// The numbers written with digits, dots and commas in `t` ("3,8", "24.11.2026", "1.5").
fn numbers(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in t.chars().chain([' ']) {
        if c.is_ascii_digit() || (!cur.is_empty() && (c == '.' || c == ',')) {
            cur.push(c);
        } else if !cur.is_empty() {
            let n = cur.trim_end_matches(['.', ',']).to_string();
            if n.contains(['.', ',']) {
                out.push(n);
            }
            cur.clear();
        }
    }
    out
}

/// An HTML tag: its name (lower-case, `/name` for an end tag) and attributes.
#[derive(Debug, Clone)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// HTML as a sequence of tags and texts (entities decoded).
enum Piece {
    Tag(Tag),
    Text(String),
}

fn pieces(html: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = html;
    let mut raw_until: Option<String> = None;
    while !rest.is_empty() {
        if let Some(end) = &raw_until {
            // The content of <script> and <style> is not read.
            let Some(i) = rest.to_lowercase().find(end.as_str()) else {
                break;
            };
            rest = &rest[i..];
            raw_until = None;
            continue;
        }
        if let Some(body) = rest.strip_prefix("<!--") {
            rest = body.find("-->").map_or("", |i| &body[i + 3..]);
            continue;
        }
        let Some(open) = rest.find('<') else {
            out.push(Piece::Text(unescape(rest)));
            break;
        };
        if open > 0 {
            out.push(Piece::Text(unescape(&rest[..open])));
        }
        rest = &rest[open..];
        let (tag, len) = parse_tag(rest);
        rest = &rest[len..];
        if let Some(tag) = tag {
            if tag.name == "script" || tag.name == "style" {
                raw_until = Some(format!("</{}", tag.name));
            }
            out.push(Piece::Tag(tag));
        }
    }
    out
}

/// The tag at the start of `s` and how long it is; None for a `<` that starts no tag.
fn parse_tag(s: &str) -> (Option<Tag>, usize) {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 1;
    let mut name = String::new();
    while i < chars.len()
        && (chars[i].1.is_alphanumeric() || chars[i].1 == '/' || chars[i].1 == '!')
    {
        name.push(chars[i].1.to_ascii_lowercase());
        i += 1;
    }
    if name.is_empty() || name == "/" {
        return (None, 1);
    }
    let mut attrs = Vec::new();
    loop {
        while i < chars.len() && (chars[i].1.is_whitespace() || chars[i].1 == '/') {
            i += 1;
        }
        if i >= chars.len() {
            return (Some(Tag { name, attrs }), s.len());
        }
        if chars[i].1 == '>' {
            return (Some(Tag { name, attrs }), chars[i].0 + 1);
        }
        let mut attr = String::new();
        while i < chars.len() && !"=> \t\n/".contains(chars[i].1) {
            attr.push(chars[i].1.to_ascii_lowercase());
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i].1 == '=' {
            i += 1;
            let quote = chars
                .get(i)
                .map(|c| c.1)
                .filter(|c| *c == '"' || *c == '\'');
            if let Some(q) = quote {
                i += 1;
                while i < chars.len() && chars[i].1 != q {
                    value.push(chars[i].1);
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && !chars[i].1.is_whitespace() && chars[i].1 != '>' {
                    value.push(chars[i].1);
                    i += 1;
                }
            }
        }
        if attr.is_empty() {
            i += 1;
        } else {
            attrs.push((attr, unescape(&value)));
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The texts a person reads on a page in `lang`: the text between tags (not inside a text
/// area, whose content is the person's own, nor code, which is the template language's, nor an
/// element marked as another language) and the attributes that are read out or shown.
fn html_texts(html: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut skipping = 0;
    let mut other_language: Option<String> = None;
    let mut run = String::new();
    for piece in pieces(html) {
        match piece {
            Piece::Text(t) if skipping == 0 && other_language.is_none() => run.push_str(&t),
            Piece::Text(_) => {}
            Piece::Tag(tag) => {
                match tag.name.as_str() {
                    "textarea" | "code" | "pre" => skipping += 1,
                    "/textarea" | "/code" | "/pre" => skipping -= 1,
                    _ => {}
                }
                if other_language.as_deref() == Some(&format!("/{}", tag.name)) {
                    other_language = None;
                } else if tag.name != "html" && tag.attr("lang").is_some_and(|l| l != lang) {
                    other_language = Some(format!("/{}", tag.name));
                    continue;
                }
                if other_language.is_some() {
                    continue;
                }
                // Inline tags do not end a sentence; others do.
                let inline = [
                    "a", "/a", "strong", "/strong", "em", "/em", "span", "/span", "b", "/b",
                    "abbr", "/abbr", "time", "/time", "code", "/code",
                ];
                if !inline.contains(&tag.name.as_str()) {
                    out.push(std::mem::take(&mut run));
                }
                for a in ["title", "aria-label", "placeholder", "alt"] {
                    if let Some(v) = tag.attr(a) {
                        out.push(v.to_string());
                    }
                }
                if tag.name == "input"
                    && matches!(tag.attr("type"), Some("submit") | Some("button"))
                {
                    out.push(tag.attr("value").unwrap_or("").to_string());
                }
            }
        }
    }
    out.push(run);
    out.retain(|t| !t.trim().is_empty());
    out
}

/// The addresses of the links on a page, as paths on this server.
fn links(html: &str, base: &str) -> Vec<String> {
    pieces(html)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Tag(t) if t.name == "a" => t.attr("href").map(str::to_string),
            _ => None,
        })
        .map(|h| h.strip_prefix(base).map(str::to_string).unwrap_or(h))
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(|h| h.split('#').next().unwrap_or("").to_string())
        .collect()
}

/// A form on a page, as a browser would submit it.
#[derive(Debug, Clone)]
struct Form {
    action: String,
    multipart: bool,
    fields: Vec<Field>,
    /// The submit buttons' `name=value`, if they carry one.
    buttons: Vec<Option<(String, String)>>,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    kind: String,
    value: String,
    checked: bool,
}

fn forms(html: &str, page: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut current: Option<Form> = None;
    let mut select: Option<(String, Option<String>, Option<String>)> = None;
    let mut textarea: Option<(String, String)> = None;
    for piece in pieces(html) {
        let Some(form) = current.as_mut() else {
            if let Piece::Tag(t) = &piece
                && t.name == "form"
                && t.attr("method")
                    .is_some_and(|m| m.eq_ignore_ascii_case("post"))
            {
                current = Some(Form {
                    action: t.attr("action").unwrap_or(page).to_string(),
                    multipart: t.attr("enctype") == Some("multipart/form-data"),
                    fields: Vec::new(),
                    buttons: Vec::new(),
                });
            }
            continue;
        };
        match piece {
            Piece::Text(t) => {
                if let Some((_, content)) = textarea.as_mut() {
                    content.push_str(&t);
                }
            }
            Piece::Tag(t) => match t.name.as_str() {
                "/form" => out.extend(current.take()),
                "input" => {
                    let kind = t.attr("type").unwrap_or("text").to_lowercase();
                    let name = t.attr("name").unwrap_or("").to_string();
                    if kind == "submit" {
                        form.buttons.push(
                            (!name.is_empty())
                                .then(|| (name, t.attr("value").unwrap_or("").to_string())),
                        );
                    } else if !name.is_empty() {
                        form.fields.push(Field {
                            name,
                            kind,
                            value: t.attr("value").unwrap_or("").to_string(),
                            checked: t.attrs.iter().any(|(n, _)| n == "checked"),
                        });
                    }
                }
                "button" if t.attr("type").is_none_or(|k| k == "submit") => {
                    form.buttons.push(
                        t.attr("name")
                            .map(|n| (n.to_string(), t.attr("value").unwrap_or("").to_string())),
                    );
                }
                "textarea" => {
                    textarea = Some((t.attr("name").unwrap_or("").to_string(), String::new()))
                }
                "/textarea" => {
                    if let Some((name, value)) = textarea.take() {
                        form.fields.push(Field {
                            name,
                            kind: "textarea".into(),
                            value,
                            checked: false,
                        });
                    }
                }
                "select" => select = Some((t.attr("name").unwrap_or("").to_string(), None, None)),
                "option" => {
                    if let Some((_, first, chosen)) = select.as_mut() {
                        let v = t.attr("value").unwrap_or("").to_string();
                        if first.is_none() {
                            *first = Some(v.clone());
                        }
                        if t.attrs.iter().any(|(n, _)| n == "selected") {
                            *chosen = Some(v);
                        }
                    }
                }
                "/select" => {
                    if let Some((name, first, chosen)) = select.take() {
                        form.fields.push(Field {
                            name,
                            kind: "select".into(),
                            value: chosen.or(first).unwrap_or_default(),
                            checked: false,
                        });
                    }
                }
                _ => {}
            },
        }
    }
    for f in &mut out {
        if f.buttons.is_empty() {
            f.buttons.push(None);
        }
    }
    out
}

/// What the test types into forms.
const NONSENSE: [&str; 3] = ["<b>?</b> %", "not an address", "no address"];

/// How a form is filled: as it came, emptied, or with nonsense a person might type.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Filling {
    Emptied,
    Nonsense,
}

fn filled(form: &Form, button: &Option<(String, String)>, how: Filling) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in &form.fields {
        let value = match (f.kind.as_str(), how) {
            ("hidden", _) => Some(f.value.clone()),
            ("select", _) => Some(f.value.clone()),
            // A person can leave a box unticked but cannot unchoose a radio button.
            ("checkbox", Filling::Emptied) => None,
            ("checkbox", Filling::Nonsense) => Some(f.value.clone()),
            ("radio", _) => f.checked.then(|| f.value.clone()),
            ("file", _) => None,
            (_, Filling::Emptied) => Some(String::new()),
            // What a browser can send from these inputs: a number, a date, out of range.
            ("number", Filling::Nonsense) => Some("-7".into()),
            ("email", Filling::Nonsense) => Some("not an address".into()),
            ("date", Filling::Nonsense) => Some("1999-02-28".into()),
            ("datetime-local", Filling::Nonsense) => Some("1999-01-01T00:00".into()),
            ("url", Filling::Nonsense) => Some("no address".into()),
            (_, Filling::Nonsense) => Some("<b>?</b> %".into()),
        };
        if let Some(v) = value {
            out.push((f.name.clone(), v));
        }
    }
    if let Some((n, v)) = button {
        out.push((n.clone(), v.clone()));
    }
    out
}

/// Actions the reading cannot come back from (the study, the panellist or the session gone);
/// their confirmations and errors are read on their own pages.
fn ends_the_reading(action: &str, button: &Option<(String, String)>) -> bool {
    let path = action.split('?').next().unwrap_or("");
    [
        "/erase",
        "/withdraw",
        "/remove",
        "/revoke",
        "/logout",
        "/account/language",
        "/delete",
    ]
    .iter()
    .any(|e| path.ends_with(e))
        || button
            .as_ref()
            .is_some_and(|(_, v)| ["delete", "erase", "withdraw"].contains(&v.as_str()))
}

/// A form's address with the ids taken out, so the same form on seventeen candidates' pages is
/// submitted once.
fn shape(form: &Form, button: &Option<(String, String)>) -> String {
    let path: Vec<&str> = form
        .action
        .split('/')
        .map(|s| if s.len() >= 16 { "{id}" } else { s })
        .collect();
    let fields: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
    format!("{} {:?} {:?}", path.join("/"), fields, button)
}

/// Reads `start` and everything reachable from it by links, and every file it links to.
fn crawl(
    c: &mut Client,
    base: &str,
    start: &[String],
    r: &mut Reader,
    found: &mut Vec<(String, Form)>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = start.iter().cloned().collect();
    let mut forms_seen = HashSet::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 600 {
            continue;
        }
        let (status, content_type, bytes) = get_with_type(c, base, &path);
        assert!(
            status == 200 || (status == 409 && path.contains("report")),
            "{path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        if status != 200 {
            continue;
        }
        if !content_type.starts_with("text/html") {
            read_file(r, &path, &content_type, &bytes);
            continue;
        }
        let body = String::from_utf8_lossy(&bytes).to_string();
        assert!(
            body.contains(&format!("<html lang=\"{}\"", r.lang)),
            "{path} is not marked as {}",
            r.lang
        );
        r.html(&path, &body);
        for link in links(&body, base) {
            // The machine CSV is for scripts (English keys, decimal points, as documented); the
            // spreadsheet CSV beside it is for people.
            let machine_csv = (link.contains(".csv") || link.contains(".zip"))
                && !link.contains("for=spreadsheet");
            let skip = machine_csv
                || link.contains("lang=")
                || link.starts_with("/static/")
                || link.starts_with("/api/v1/participation")
                || link.ends_with(".json")
                || link.ends_with(".qdpx")
                || link.ends_with(".docx")
                || link.contains("/archive")
                || link.contains("/unsubscribe");
            if !skip && !seen.contains(&link) {
                queue.push_back(link);
            }
        }
        for form in forms(&body, &path) {
            for b in &form.buttons {
                if forms_seen.insert(shape(&form, b)) {
                    let mut one = form.clone();
                    one.buttons = vec![b.clone()];
                    found.push((path.clone(), one));
                }
            }
        }
    }
}

fn get_with_type(c: &mut Client, base: &str, path: &str) -> (u16, String, Vec<u8>) {
    c.get_full(&format!("{base}{path}"))
}

/// Reads a downloaded file as its reader would: a spreadsheet's cells, a PDF's text, a
/// calendar entry's fields.
fn read_file(r: &mut Reader, path: &str, content_type: &str, bytes: &[u8]) {
    let place = format!("{path} ({content_type})");
    if content_type.starts_with("text/csv") {
        let text = String::from_utf8_lossy(bytes);
        let sep = if text.lines().next().is_some_and(|h| h.contains(';')) {
            b';'
        } else {
            b','
        };
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(sep)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        for record in csv.records() {
            for cell in record.expect("the CSV parses").iter() {
                r.read(&place, cell);
            }
        }
    } else if content_type.contains("spreadsheetml") {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an XLSX is a zip");
        for name in ["xl/sharedStrings.xml", "xl/workbook.xml"] {
            let mut xml = String::new();
            if let Ok(mut f) = z.by_name(name) {
                std::io::Read::read_to_string(&mut f, &mut xml).unwrap();
            }
            let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
            for n in doc.descendants() {
                if n.has_tag_name("t") {
                    r.read(&place, n.text().unwrap_or(""));
                }
                if n.has_tag_name("sheet") {
                    r.read(&place, n.attribute("name").unwrap_or(""));
                }
            }
        }
    } else if content_type == "application/zip" {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            let mut inner = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut inner).unwrap();
            let name = f.name().unwrap().to_string();
            let kind = if name.ends_with(".csv") {
                "text/csv"
            } else {
                "application/octet-stream"
            };
            read_file(r, &format!("{path}/{name}"), kind, &inner);
        }
    } else if content_type == "application/pdf" {
        if let Some(text) = pdf_words(bytes) {
            r.read_pdf(&place, &text);
        }
    } else if content_type.starts_with("text/calendar") {
        let text = String::from_utf8_lossy(bytes).replace("\r\n ", "");
        for line in text.lines() {
            if let Some((name, value)) = line.split_once(':')
                && (name.starts_with("SUMMARY") || name.starts_with("DESCRIPTION"))
            {
                r.read(&place, &value.replace("\\n", "\n").replace("\\,", ","));
            }
        }
    } else if content_type.starts_with("text/plain") {
        r.read(&place, &String::from_utf8_lossy(bytes));
    }
}

/// The text of a PDF, by poppler's pdftotext (None when it is not installed; the report's own
/// tests require it in CI).
fn pdf_words(bytes: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("orakel-words-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("r.pdf");
    std::fs::write(&pdf, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .ok();
    let _ = std::fs::remove_dir_all(&dir);
    out.filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
}

/// Submits every form found, emptied and with nonsense, and reads what comes back (the page
/// with its errors, or the page a success leads to with its message).
fn submit_all(c: &mut Client, base: &str, found: &[(String, Form)], r: &mut Reader) {
    for (page, form) in found {
        let button = &form.buttons[0];
        if ends_the_reading(&form.action, button) {
            continue;
        }
        for how in [Filling::Emptied, Filling::Nonsense] {
            let fields = filled(form, button, how);
            let place = format!("{} from {page} ({how:?}, {button:?})", form.action);
            let resp = if form.multipart {
                let mut parts: Vec<(&str, &str, &[u8])> = fields
                    .iter()
                    .map(|(n, v)| (n.as_str(), "", v.as_bytes()))
                    .collect();
                let files: Vec<&Field> = form.fields.iter().filter(|f| f.kind == "file").collect();
                for f in &files {
                    let bytes: &[u8] = if how == Filling::Nonsense {
                        b"\x00\x01 not a file"
                    } else {
                        b""
                    };
                    parts.push((f.name.as_str(), "upload.bin", bytes));
                }
                c.post_multipart(&form.action, &parts)
            } else {
                let pairs: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                c.post_form(&form.action, &pairs)
            };
            assert!(resp.status < 500, "{place}: {} {}", resp.status, resp.body);
            assert_ne!(resp.status, 403, "{place}: {}", resp.body);
            let content_type = resp.header("content-type").unwrap_or("").to_string();
            if resp.status == 303 || resp.status == 302 {
                let to = resp.header("location").unwrap_or("").to_string();
                let to = to.strip_prefix(base).unwrap_or(&to).to_string();
                let (status, ct, bytes) = get_with_type(c, base, &to);
                assert!(status < 500, "{place} → {to}: {status}");
                if ct.starts_with("text/html") {
                    r.html(&format!("{place} → {to}"), &String::from_utf8_lossy(&bytes));
                }
            } else if content_type.starts_with("text/html") {
                r.html(&place, &resp.body);
            } else {
                read_file(r, &place, &content_type, resp.body.as_bytes());
            }
        }
    }
}

/// Decodes the RFC 2047 words of a header ("=?utf-8?b?…?=").
fn decode_words(header: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    for part in header.split_whitespace() {
        let decoded = part
            .strip_prefix("=?")
            .and_then(|p| p.strip_suffix("?="))
            .and_then(|p| {
                let mut bits = p.splitn(3, '?');
                let (_, enc, text) = (bits.next()?, bits.next()?, bits.next()?);
                match enc.to_ascii_lowercase().as_str() {
                    "b" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).to_string()),
                    "q" => Some(crate::smtp::quoted_printable(&text.replace('_', " "))),
                    _ => None,
                }
            });
        match decoded {
            Some(d) => out.push_str(&d),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(part);
            }
        }
    }
    out
}

/// Reads every e-mail not in `skip` (the file names of those read before) as its recipient
/// would; the names of all, and the subjects of those read.
fn read_mails(
    app: &TestApp,
    r: &mut Reader,
    skip: &HashSet<String>,
) -> (HashSet<String>, Vec<String>) {
    let mut names = HashSet::new();
    let mut subjects = Vec::new();
    let Ok(entries) = std::fs::read_dir(&app.settings.mail.dir) else {
        return (names, subjects);
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().to_string();
        names.insert(name.clone());
        if skip.contains(&name) || !name.ends_with(".eml") {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        crate::smtp::assert_wire_format(&name, &bytes);
        let raw = String::from_utf8(bytes).unwrap();
        let m = crate::smtp::Received {
            to: Vec::new(),
            raw,
        };
        let place = format!("e-mail {name}");
        if let Some(s) = m.header("Subject") {
            let subject = decode_words(&s);
            r.read(&place, &subject);
            subjects.push(subject);
        }
        r.html(&place, &m.readable());
        if let Some(html) = m.html() {
            let subject = decode_words(&m.header("Subject").unwrap_or_default());
            r.documents
                .insert(format!("{} e-mail «{subject}»", r.lang), html);
        }
    }
    (names, subjects)
}

/// The study's own strings, from its archive: everything the researchers and experts wrote.
fn study_data(c: &mut Client, study: &str) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            // A snapshot kept as JSON text (a round's themes as they were published).
            Value::String(s) if s.starts_with(['{', '[']) => {
                match serde_json::from_str::<Value>(s) {
                    Ok(inner) => strings(&inner, out),
                    Err(_) => out.push(s.clone()),
                }
            }
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let archive = c.get(&format!("/api/v1/studies/{study}/archive"));
    assert_eq!(archive.status, 200, "{}", archive.body);
    let archive = archive.json();
    let mut out = vec!["Demo Forsker".to_string(), "Orakel".to_string()];
    strings(&archive, &mut out);
    // Codes the archive stores for machines (`no_reply`, `rating`) are not what people wrote,
    // and blanking them would hide Orakel's own words; the attributes' keys the researchers
    // chose (`gender`) are theirs.
    out.retain(|s| {
        !s.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
    });
    for s in archive["strata"].as_array().into_iter().flatten() {
        out.extend(s["key"].as_str().map(str::to_string));
    }
    // A transcript is in the language its interview was held in; pages quote it by passage,
    // line and sentence.
    let mut pieces = Vec::new();
    for text in out.iter().filter(|s| s.contains('\n')) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            pieces.push(line.to_string());
            let said = match line.split_once(": ") {
                Some((speaker, rest)) => {
                    pieces.push(format!("{speaker}:"));
                    rest
                }
                None => line,
            };
            pieces.push(said.to_string());
            let mut from = 0;
            for (i, ch) in said.char_indices() {
                if matches!(ch, '.' | '?' | '!') {
                    pieces.push(said[from..=i].trim().to_string());
                    from = i + 1;
                }
            }
        }
    }
    out.extend(pieces);
    out
}

/// One language's reading of the whole study.
/// `sent_before`: the e-mails of an earlier reading (their file names, and their subjects,
/// which the list of messages sent shows as they were sent).
fn read_everything(
    app: &TestApp,
    lang: &'static str,
    links: &orakel::demo::Links,
    sent_before: &(HashSet<String>, Vec<String>),
) -> (Reader, (HashSet<String>, Vec<String>)) {
    let base = app.base.clone();
    let mut researcher = app.client();
    researcher.login(orakel::demo::EMAIL, orakel::demo::PASSWORD);
    let csrf = researcher.csrf();
    researcher.post_form("/account/language", &[("_csrf", &csrf), ("language", lang)]);
    researcher.csrf_header = Some(csrf.clone());
    // What the researchers wrote, in every study the crawl reaches (the forms it submitted
    // may have made one).
    let studies: Value = researcher.get("/api/v1/studies").json();
    let mut data = Vec::new();
    for study in studies.as_array().into_iter().flatten() {
        data.extend(study_data(&mut researcher, study["id"].as_str().unwrap()));
    }
    assert!(data.iter().any(|d| d.contains("Demofonden")));
    data.extend(sent_before.1.iter().cloned());
    let mut r = Reader::new(lang, data);

    // The login page in this language, and its errors.
    let mut visitor = app.client();
    let page = visitor.get(&format!("/login?lang={lang}"));
    r.html("/login", &page.body);
    let csrf_login = page.form_value("_csrf").unwrap();
    let wrong = visitor.post_form(
        "/login",
        &[
            ("email", "x@example.org"),
            ("password", "wrong"),
            ("_csrf", &csrf_login),
            ("next", "/studies"),
        ],
    );
    assert_eq!(wrong.status, 401);
    r.html("/login (wrong password)", &wrong.body);
    let stale = visitor.post_form(
        "/login",
        &[("email", "x"), ("password", "y"), ("_csrf", "stale")],
    );
    r.html("/login (stale form)", &stale.body);
    r.html(
        "a page that does not exist",
        &visitor.get("/no-such-page").body,
    );

    let expert_path = links.expert.strip_prefix(&base).unwrap().to_string();
    let funder_path = links.funder.strip_prefix(&base).unwrap().to_string();
    let mut found = Vec::new();
    let mut expert = app.client();
    crawl(&mut expert, &base, &[expert_path], &mut r, &mut found);
    let mut funder = app.client();
    crawl(&mut funder, &base, &[funder_path], &mut r, &mut Vec::new());
    submit_all(&mut expert, &base, &found, &mut r);

    let mut found = Vec::new();
    crawl(
        &mut researcher,
        &base,
        &[
            "/studies".to_string(),
            format!("/studies/{}", links.study_id),
            // The report as a file (what `orakel report --format html` writes).
            format!("/api/v1/studies/{}/report.html", links.study_id),
        ],
        &mut r,
        &mut found,
    );
    assert!(found.len() > 30, "only {} forms found", found.len());
    submit_all(&mut researcher, &base, &found, &mut r);

    // A funder's account in this language: its e-mail, the password page (and its error), the
    // list of shared reports and each report with its downloads.
    let email = format!("fund-{lang}@example.org");
    let shared = researcher.post_json(
        &format!("/api/v1/studies/{}/funders", links.study_id),
        &json!({"email": email, "name": "Fonden", "language": lang}),
    );
    assert_eq!(shared.status, 201, "{}", shared.body);
    app.tick();
    let token = crate::funders::setup_token(app, &email);
    let mut account = app.client();
    let page = account.get(&format!("/funder/welcome/{token}"));
    r.html("/funder/welcome", &page.body);
    let csrf = page.form_value("_csrf").unwrap();
    let differ = account.post_form(
        &format!("/funder/welcome/{token}"),
        &[
            ("_csrf", &csrf),
            ("password", "one long password"),
            ("again", "another one"),
        ],
    );
    assert_eq!(differ.status, 422);
    r.html("/funder/welcome (passwords differ)", &differ.body);
    let csrf = differ.form_value("_csrf").unwrap();
    let short = account.post_form(
        &format!("/funder/welcome/{token}"),
        &[("_csrf", &csrf), ("password", "short"), ("again", "short")],
    );
    assert_eq!(short.status, 422);
    r.html("/funder/welcome (too short)", &short.body);
    let csrf = short.form_value("_csrf").unwrap();
    let password = crate::funders::FUNDER_PASSWORD;
    let done = account.post_form(
        &format!("/funder/welcome/{token}"),
        &[
            ("_csrf", &csrf),
            ("password", password),
            ("again", password),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    crawl(
        &mut account,
        &base,
        &["/funder".to_string()],
        &mut r,
        &mut Vec::new(),
    );

    app.tick();
    let sent = read_mails(app, &mut r, &sent_before.0);
    (r, sent)
}

/// The W3C Nu HTML checker (vnu.jar from npm, in `tests/browser`, on the machine's Java) over
/// documents; each error with where the document was read. None when the checker is not here
/// (a printed skip), unless `ORAKEL_REQUIRE_VNU=1`.
fn html_errors(documents: &BTreeMap<String, String>) -> Option<Vec<String>> {
    let jar = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/node_modules/vnu-jar/build/dist/vnu.jar");
    let java = std::process::Command::new("java")
        .arg("-version")
        .output()
        .is_ok();
    if !jar.exists() || !java {
        assert!(
            std::env::var("ORAKEL_REQUIRE_VNU").as_deref() != Ok("1"),
            "ORAKEL_REQUIRE_VNU=1 but vnu.jar or Java is missing (cd tests/browser && npm ci)"
        );
        eprintln!(
            "HTML validation skipped: vnu.jar or Java is missing (cd tests/browser && npm ci)"
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("orakel-vnu-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut names = BTreeMap::new();
    for (i, (place, html)) in documents.iter().enumerate() {
        let file = dir.join(format!("{i:04}.html"));
        std::fs::write(&file, html).unwrap();
        names.insert(format!("{i:04}.html"), place.clone());
    }
    let out = std::process::Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "json", "--skip-non-html"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report: Value = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("vnu: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    Some(
        report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let file = m["url"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or("");
                format!(
                    "{}: line {}: {} in {:?}",
                    names.get(file).map_or(file, String::as_str),
                    m["lastLine"],
                    m["message"].as_str().unwrap_or(""),
                    m["extract"].as_str().unwrap_or("")
                )
            })
            .collect(),
    )
}

on_both!(every_word_is_in_the_readers_language, |backend| {
    let Some(app) = TestApp::spawn(backend) else {
        return;
    };
    let links = {
        let mut conn = orakel::db::checkout(&app.state.pool).unwrap();
        orakel::demo::ensure(&mut conn, &app.state.mail).unwrap()
    };
    app.tick();
    let (danish, mails) = read_everything(&app, "da", &links, &Default::default());

    // The same study in English: its researchers, experts and funder read English from now on.
    let mut c = app.client();
    c.login(orakel::demo::EMAIL, orakel::demo::PASSWORD);
    c.csrf_header = Some(c.csrf());
    let r = c.patch_json(
        &format!("/api/v1/studies/{}", links.study_id),
        &json!({"language": "en"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let links = {
        let mut conn = orakel::db::checkout(&app.state.pool).unwrap();
        orakel::demo::ensure(&mut conn, &app.state.mail).unwrap()
    };
    // The messages sent while the study was Danish are listed as they were sent.
    let sent: Value = c
        .get(&format!("/api/v1/studies/{}/messages", links.study_id))
        .json()["items"]
        .take();
    let subjects = sent
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["subject"].as_str().map(str::to_string));
    let danish_mails = mails.1.len();
    let mails = (
        mails.0,
        mails.1.into_iter().chain(subjects).collect::<Vec<_>>(),
    );
    // Letters in English: an invitation to a new candidate and a new round for the panel.
    let sid = &links.study_id;
    let r = c.post_json(
        &format!("/api/v1/studies/{sid}/candidates"),
        &json!({"name": "Erin Newcomer", "email": "erin@panel.example", "source": "network"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let erin = r.json()["id"].as_str().unwrap().to_string();
    let r = c.post_json(
        &format!("/api/v1/studies/{sid}/invitations"),
        &json!({"candidate_ids": [erin]}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    // The demo's open round closes first: one round is open at a time.
    let rounds: Value = c.get(&format!("/api/v1/studies/{sid}/rounds")).json();
    for open in rounds
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["state"] == "open")
    {
        let id = open["id"].as_str().unwrap();
        let r = c.post_json(&format!("/api/v1/rounds/{id}/close"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let closes = (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339();
    let r = c.post_json(
        &format!("/api/v1/studies/{sid}/rounds"),
        &json!({"kind": "rating", "rating": true, "closes_at": closes}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let round = r.json()["id"].as_str().unwrap().to_string();
    let r = c.post_json(&format!("/api/v1/rounds/{round}/open"), &json!({}));
    assert_eq!(r.status, 202, "{}", r.body);
    app.tick();
    let (english, english_mails) = read_everything(&app, "en", &links, &mails);
    assert!(danish_mails > 20, "{danish_mails} Danish e-mails read");
    assert!(
        !english_mails.1.is_empty(),
        "the English study's forms sent no e-mail to read"
    );

    // Every page, form answer, report document and e-mail read is valid HTML.
    let mut documents = danish.documents.clone();
    documents.extend(english.documents.clone());
    assert!(documents.len() > 80, "only {} documents", documents.len());
    if let Some(errors) = html_errors(&documents) {
        assert!(
            errors.is_empty(),
            "{} HTML error(s):\n{}",
            errors.len(),
            errors.join("\n")
        );
    }

    for r in [&danish, &english] {
        assert!(r.texts > 2000, "{}: only {} texts read", r.lang, r.texts);
        assert!(
            r.findings.is_empty(),
            "{} text(s) not in {}:\n{}",
            r.findings.len(),
            r.lang,
            r.findings
                .iter()
                .map(|(what, place)| format!("{what}\n    at {place}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
});

/// Every kind of e-mail, in each language, as its snapshot holds it (subject, text and HTML
/// with fixed sample values): nothing in the other language, and valid HTML.
#[test]
fn every_kind_of_e_mail_speaks_its_language() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/mail/snapshots");
    let sample = [
        "Mental health at work",
        "Which initiatives matter most?",
        "A funder",
        "Anne Example",
        "Anne Eksempel",
        "Anna Forsker",
        "Anna Fielding",
    ];
    let mut read = 0;
    let mut documents = BTreeMap::new();
    for lang in ["da", "en"] {
        let mut r = Reader::new(lang, sample.iter().map(|s| s.to_string()).collect());
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(&format!(".{lang}.eml.txt")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let (plain, html) = text.split_once("-- HTML --").unwrap_or((&text, ""));
            for line in plain.lines() {
                r.read(&name, line.trim_start_matches("Subject: "));
            }
            r.html(&name, html);
            documents.insert(name.clone(), html.trim_start().to_string());
            read += 1;
        }
        assert!(
            r.findings.is_empty(),
            "{}",
            r.findings
                .iter()
                .map(|(what, place)| format!("{what} in {place}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(read >= 16, "only {read} snapshots");
    if let Some(errors) = html_errors(&documents) {
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
}

both_backends!(
    a_visitor_chooses_the_language_and_the_account_keeps_it,
    |app: &TestApp| {
        app.researcher("sprog@example.org", "Sofie Sprog");
        let mut c = app.client();
        // No preference at all: English, as the API speaks.
        let page = c.get("/login");
        assert!(page.body.contains("<html lang=\"en\""), "{}", page.body);
        // The browser's preference, by weight.
        let page = c.get_with(
            "/login",
            &[("Accept-Language", "en-GB;q=0.5, da-DK, da;q=0.9")],
        );
        assert!(page.body.contains("<html lang=\"da\""), "{}", page.body);
        assert!(page.body.contains("Log ind"));
        // Both languages are offered, each named in its own language.
        assert!(page.body.contains("hreflang=\"en\""), "{}", page.body);
        assert!(page.body.contains(">English</a>") && page.body.contains(">Dansk</a>"));
        assert!(
            !c.cookies.contains_key("orakel_lang"),
            "a guess is not remembered"
        );

        // A choice wins over the browser's preference and is remembered.
        let page = c.get_with(
            "/login?lang=da&next=%2Fstudies",
            &[("Accept-Language", "en")],
        );
        assert!(page.body.contains("<html lang=\"da\""));
        assert_eq!(c.cookies.get("orakel_lang").map(String::as_str), Some("da"));
        let again = c.get_with("/login", &[("Accept-Language", "en")]);
        assert!(again.body.contains("<html lang=\"da\""), "the choice holds");

        // A refused login is said in the chosen language.
        let wrong = c.login("sprog@example.org", "not the password");
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("forkert"), "{}", wrong.body);
        assert!(!wrong.body.contains("is wrong"));
        // A page that does not exist, too.
        let missing = c.get_with("/no-such-page", &[("Accept-Language", "en")]);
        assert_eq!(missing.status, 404);
        assert!(
            missing.body.contains("<html lang=\"da\""),
            "{}",
            missing.body
        );

        // Logging in takes the choice into the account: its pages are Danish from now on.
        let r = c.login("sprog@example.org", PASSWORD);
        assert_eq!(r.status, 303);
        assert!(c.get("/studies").body.contains("<html lang=\"da\""));
        let me = c.get("/api/v1/me").json();
        assert_eq!(me["locale"], "da", "{me}");

        // Switching in the header changes the account and what the login page shows next.
        let csrf = c.csrf();
        let r = c.post_form(
            "/account/language",
            &[("_csrf", &csrf), ("language", "en"), ("back", "/studies")],
        );
        assert_eq!(r.status, 303);
        assert_eq!(c.cookies.get("orakel_lang").map(String::as_str), Some("en"));
        assert!(c.get("/studies").body.contains("<html lang=\"en\""));
        let mut other = app.client();
        other.cookies.insert("orakel_lang".into(), "en".into());
        assert!(other.get("/login").body.contains("<html lang=\"en\""));
    }
);

both_backends!(
    api_errors_are_said_in_the_language_asked_for,
    |app: &TestApp| {
        let mut c = app.api("api-sprog@example.org");
        let bad = json!({"title": "", "language": "sv"});
        // English unless asked, with stable codes for scripts.
        let r = c.post_json("/api/v1/studies", &bad);
        assert_eq!(r.status, 422, "{}", r.body);
        let en = r.json();
        assert_eq!(r.header("content-language"), Some("en"));
        // Danish when asked: the same codes and fields, the messages in Danish.
        let r = c.post_json_with(
            "/api/v1/studies",
            &bad,
            &[("Accept-Language", "da-DK,da;q=0.9")],
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.header("content-language"), Some("da"));
        let da = r.json();
        assert_eq!(en["error"], da["error"]);
        let fields = |v: &Value| -> Vec<(String, String)> {
            v["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["field"].as_str().unwrap().into(),
                        f["code"].as_str().unwrap().into(),
                    )
                })
                .collect()
        };
        assert_eq!(fields(&en), fields(&da));
        assert!(
            fields(&en).iter().all(|(_, code)| code != "invalid"),
            "{en}"
        );
        let title = |v: &Value| v["fields"][0]["message"].as_str().unwrap().to_string();
        assert_eq!(title(&en), "must be \"da\" or \"en\", not \"sv\"");
        assert_eq!(title(&da), "skal være \"da\" eller \"en\", ikke \"sv\"");
        assert_eq!(
            da["message"],
            "Sprog: skal være \"da\" eller \"en\", ikke \"sv\"."
        );
        // A language Orakel does not speak: English.
        let r = c.post_json_with("/api/v1/studies", &bad, &[("Accept-Language", "sv")]);
        assert_eq!(title(&r.json()), "must be \"da\" or \"en\", not \"sv\"");
        // Not found, in Danish.
        let r = c.get_with(
            "/api/v1/studies/no-such-study",
            &[("Accept-Language", "da")],
        );
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["error"], "not_found");
        assert_ne!(r.json()["message"], "Not found.", "{}", r.body);
    }
);
