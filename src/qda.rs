//! Qualitative data in and out: plain text from `.docx` files, and the REFI-QDA exchange standard
//! (QDA-XML 1.0) — a `.qdc` codebook and a `.qdpx` project (a zip of `project.qde` with the
//! sources' texts under `sources/`, as the standard names the folder), so coding done here opens
//! in NVivo, ATLAS.ti, MAXQDA or QualCoder and theirs opens here. Positions are character
//! (Unicode code point) offsets into the text without a byte-order mark.
//!
//! Reading is lenient where real tools differ: the project document is the one `.qde` in the
//! zip whatever its name (ATLAS.ti names it after the project), the sources folder is found in
//! any case, a text's byte-order mark is not counted, and Windows line ends are read as one
//! line end with every position moved to match.

use std::io::{Cursor, Read, Write};

use crate::i18n::escape as esc;

/// The largest `.docx` accepted, and the largest text taken from it.
pub const MAX_DOCX_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_TEXT_CHARS: usize = 1_000_000;
/// A Word document's XML: a book-length interview is a few MB; a zip bomb is refused unread.
const MAX_DOCX_XML_BYTES: u64 = 25 * 1024 * 1024;
const MAX_XML_NODES: u32 = 3_000_000;
/// A REFI-QDA project: everything read from the zip together, its sources and its users.
pub const MAX_PROJECT_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_SOURCES: usize = 500;
pub const MAX_USERS: usize = 100;

fn mb(bytes: u64) -> u64 {
    bytes / 1024 / 1024
}

/// Reads one member of a zip as UTF-8, taking its size from `budget` as it reads, so neither a
/// member's declared size nor the number of times it is named can make the reading unbounded.
fn zip_entry<R: Read + std::io::Seek>(
    z: &mut zip::ZipArchive<R>,
    name: &str,
    budget: &mut u64,
    too_large: &dyn Fn() -> String,
) -> Result<String, String> {
    let f = z
        .by_name(name)
        .map_err(|_| format!("the file has no {name}"))?;
    let mut bytes = Vec::new();
    f.take(*budget + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name} cannot be read: {e}"))?;
    if bytes.len() as u64 > *budget {
        return Err(too_large());
    }
    *budget -= bytes.len() as u64;
    String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8 text"))
}

fn open_zip<'a>(bytes: &'a [u8], kind: &str) -> Result<zip::ZipArchive<Cursor<&'a [u8]>>, String> {
    zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| format!("the file is not a {kind} (not a zip archive)"))
}

/// The text of a Word document: paragraphs as lines, tabs and line breaks kept.
pub fn docx_text(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() > MAX_DOCX_BYTES {
        return Err(format!(
            "the file is larger than {} MB",
            MAX_DOCX_BYTES / 1024 / 1024
        ));
    }
    let mut z = open_zip(bytes, ".docx")?;
    let mut budget = MAX_DOCX_XML_BYTES;
    let xml = zip_entry(&mut z, "word/document.xml", &mut budget, &|| {
        format!(
            "the document is larger than {} MB unpacked",
            mb(MAX_DOCX_XML_BYTES)
        )
    })?;
    let doc = roxmltree::Document::parse_with_options(
        &xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_XML_NODES,
            ..Default::default()
        },
    )
    .map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => {
            "the document has more elements than a transcript can have".to_string()
        }
        e => {
            let p = e.pos();
            format!(
                "the document cannot be read at line {}, column {}: {e}",
                p.row, p.col
            )
        }
    })?;
    let mut out = String::new();
    let mut chars = 0usize;
    let mut push = |out: &mut String, s: &str| -> Result<(), String> {
        chars += s.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(format!(
                "the document is longer than {MAX_TEXT_CHARS} characters"
            ));
        }
        out.push_str(s);
        Ok(())
    };
    for p in doc.descendants().filter(|n| n.tag_name().name() == "p") {
        for n in p.descendants() {
            match n.tag_name().name() {
                "t" => push(&mut out, n.text().unwrap_or(""))?,
                "tab" => push(&mut out, "\t")?,
                "br" | "cr" => push(&mut out, "\n")?,
                _ => {}
            }
        }
        push(&mut out, "\n")?;
    }
    Ok(out.trim_end().to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub guid: String,
    pub name: String,
    pub codable: bool,
    pub color: Option<String>,
    pub description: Option<String>,
    pub children: Vec<Code>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub guid: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coding {
    pub guid: String,
    pub code: String,
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub guid: String,
    pub start: usize,
    pub end: usize,
    pub user: Option<String>,
    pub codings: Vec<Coding>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub guid: String,
    pub name: String,
    pub text: String,
    pub selections: Vec<Selection>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    pub users: Vec<User>,
    pub codes: Vec<Code>,
    pub sources: Vec<Source>,
}

fn write_codes(out: &mut String, codes: &[Code], depth: usize) {
    for c in codes {
        let pad = "  ".repeat(depth);
        out.push_str(&format!(
            "{pad}<Code guid=\"{}\" name=\"{}\" isCodable=\"{}\"{}",
            esc(&c.guid),
            esc(&c.name),
            c.codable,
            c.color
                .as_ref()
                .map(|x| format!(" color=\"{}\"", esc(x)))
                .unwrap_or_default()
        ));
        if c.description.is_none() && c.children.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if let Some(d) = &c.description {
            out.push_str(&format!("{pad}  <Description>{}</Description>\n", esc(d)));
        }
        write_codes(out, &c.children, depth + 1);
        out.push_str(&format!("{pad}</Code>\n"));
    }
}

/// A `.qdc` codebook.
pub fn codebook_xml(codes: &[Code], origin: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!(
        "<CodeBook xmlns=\"urn:QDA-XML:codebook:1.0\" origin=\"{}\">\n  <Codes>\n",
        esc(origin)
    ));
    write_codes(&mut out, codes, 2);
    out.push_str("  </Codes>\n</CodeBook>\n");
    out
}

/// The `project.qde` document of a project whose texts live in `sources/<guid>.txt`.
pub fn project_xml(p: &Project, origin: &str, created: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!(
        "<Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"{}\" origin=\"{}\" creationDateTime=\"{}\">\n",
        esc(&p.name),
        esc(origin),
        esc(created)
    ));
    if !p.users.is_empty() {
        out.push_str("  <Users>\n");
        for u in &p.users {
            out.push_str(&format!(
                "    <User guid=\"{}\" name=\"{}\"/>\n",
                esc(&u.guid),
                esc(&u.name)
            ));
        }
        out.push_str("  </Users>\n");
    }
    if !p.codes.is_empty() {
        out.push_str("  <CodeBook>\n    <Codes>\n");
        write_codes(&mut out, &p.codes, 3);
        out.push_str("    </Codes>\n  </CodeBook>\n");
    }
    if !p.sources.is_empty() {
        out.push_str("  <Sources>\n");
        for s in &p.sources {
            out.push_str(&format!(
                "    <TextSource guid=\"{}\" name=\"{}\" plainTextPath=\"internal://{}.txt\"",
                esc(&s.guid),
                esc(&s.name),
                esc(&s.guid)
            ));
            if s.selections.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            for sel in &s.selections {
                let user = sel
                    .user
                    .as_ref()
                    .map(|u| format!(" creatingUser=\"{}\"", esc(u)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "      <PlainTextSelection guid=\"{}\" startPosition=\"{}\" endPosition=\"{}\"{user}>\n",
                    esc(&sel.guid),
                    sel.start,
                    sel.end
                ));
                for c in &sel.codings {
                    let user = c
                        .user
                        .as_ref()
                        .map(|u| format!(" creatingUser=\"{}\"", esc(u)))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "        <Coding guid=\"{}\"{user}>\n          <CodeRef targetGUID=\"{}\"/>\n        </Coding>\n",
                        esc(&c.guid),
                        esc(&c.code)
                    ));
                }
                out.push_str("      </PlainTextSelection>\n");
            }
            out.push_str("    </TextSource>\n");
        }
        out.push_str("  </Sources>\n");
    }
    out.push_str("</Project>\n");
    out
}

/// A `.qdpx` archive: `project.qde` and each source's text.
pub fn qdpx(p: &Project, origin: &str, created: &str) -> std::io::Result<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("project.qde", opts)
            .map_err(std::io::Error::other)?;
        z.write_all(project_xml(p, origin, created).as_bytes())?;
        for s in &p.sources {
            z.start_file(format!("sources/{}.txt", s.guid), opts)
                .map_err(std::io::Error::other)?;
            z.write_all(s.text.as_bytes())?;
        }
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}

/// A source's text as it is kept — without a byte-order mark, with `\n` for every line end —
/// and the move of a position counted in the text as it came (after the mark) to the same
/// character in the text as kept.
fn plain_text(raw: &str) -> (String, impl Fn(usize) -> usize + use<>) {
    let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let mut text = String::with_capacity(raw.len());
    // removed[i]: how many characters before raw character i are left out.
    let mut removed = Vec::with_capacity(raw.len() + 1);
    let mut gone = 0;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        removed.push(gone);
        match c {
            '\r' if chars.peek() == Some(&'\n') => gone += 1,
            '\r' => text.push('\n'),
            c => text.push(c),
        }
    }
    removed.push(gone);
    let shift = move |pos: usize| pos - removed.get(pos).copied().unwrap_or(gone);
    (text, shift)
}

fn parse(xml: &str) -> Result<roxmltree::Document<'_>, String> {
    // QualCoder starts its documents with a byte-order mark.
    roxmltree::Document::parse_with_options(
        xml.strip_prefix('\u{feff}').unwrap_or(xml),
        roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_XML_NODES,
            ..Default::default()
        },
    )
    // Where, then the parser's words (which only the English text keeps).
    .map_err(|e| {
        let p = e.pos();
        format!(
            "the XML cannot be read at line {}, column {}: {e}",
            p.row, p.col
        )
    })
}

fn codes_of(node: roxmltree::Node, depth: usize) -> Result<Vec<Code>, String> {
    if depth > 50 {
        return Err("codes are nested more than 50 deep".into());
    }
    node.children()
        .filter(|n| n.tag_name().name() == "Code")
        .map(|n| {
            let attr = |a: &str| n.attribute(a).map(str::to_string);
            Ok(Code {
                guid: attr("guid").ok_or("a Code has no guid")?,
                name: attr("name").ok_or("a Code has no name")?,
                codable: attr("isCodable").is_some_and(|v| v == "true" || v == "1"),
                color: attr("color"),
                description: n
                    .children()
                    .find(|c| c.tag_name().name() == "Description")
                    .and_then(|d| d.text())
                    .map(str::to_string),
                children: codes_of(n, depth + 1)?,
            })
        })
        .collect()
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.tag_name().name() == name)
}

/// Reads a `.qdc` codebook.
pub fn parse_codebook(xml: &str) -> Result<Vec<Code>, String> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "CodeBook" {
        return Err("not a REFI-QDA codebook (the root element is not CodeBook)".into());
    }
    let codes = root
        .children()
        .find(|n| n.tag_name().name() == "Codes")
        .ok_or("the codebook has no Codes")?;
    codes_of(codes, 0)
}

/// Reads a `.qdpx` project: its users, codebook and text sources with their coded selections.
pub fn parse_qdpx(bytes: &[u8]) -> Result<Project, String> {
    let mut z = open_zip(bytes, ".qdpx")?;
    let mut budget = MAX_PROJECT_BYTES;
    let too_large = || {
        format!(
            "the project is larger than {} MB unpacked",
            mb(MAX_PROJECT_BYTES)
        )
    };
    let members: Vec<String> = z
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.to_string())
        .collect();
    let documents: Vec<&String> = members
        .iter()
        .filter(|n| n.to_lowercase().ends_with(".qde"))
        .collect();
    let document = match documents.as_slice() {
        [one] => (*one).clone(),
        [] => return Err("the file has no project document (.qde)".into()),
        _ => {
            return Err(
                "the file holds several project documents (.qde); export one project at a time"
                    .into(),
            );
        }
    };
    let xml = zip_entry(&mut z, &document, &mut budget, &too_large)?;
    let doc = parse(&xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "Project" {
        return Err("not a REFI-QDA project (the root element is not Project)".into());
    }
    let users: Vec<User> = child(root, "Users")
        .map(|u| {
            u.children()
                .filter(|n| n.tag_name().name() == "User")
                .filter_map(|n| {
                    Some(User {
                        guid: n.attribute("guid")?.into(),
                        name: n.attribute("name").unwrap_or("").into(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if users.len() > MAX_USERS {
        return Err(format!(
            "the project names {} users; at most {MAX_USERS} can be imported at once",
            users.len()
        ));
    }
    let codes = match child(root, "CodeBook").and_then(|cb| child(cb, "Codes")) {
        Some(c) => codes_of(c, 0)?,
        None => Vec::new(),
    };
    let mut sources = Vec::new();
    if let Some(srcs) = child(root, "Sources") {
        for s in srcs
            .children()
            .filter(|n| n.tag_name().name() == "TextSource")
        {
            if sources.len() == MAX_SOURCES {
                return Err(format!(
                    "the project has more than {MAX_SOURCES} text sources; import it in parts"
                ));
            }
            let guid = s
                .attribute("guid")
                .ok_or("a TextSource has no guid")?
                .to_string();
            let raw = match child(s, "PlainTextContent").and_then(|c| c.text()) {
                Some(t) => t.to_string(),
                None => {
                    let path = s
                        .attribute("plainTextPath")
                        .ok_or_else(|| format!("the source {guid} has no text"))?;
                    let inner = path.strip_prefix("internal://").ok_or_else(|| {
                        format!("the source {guid} points outside the file: {path}")
                    })?;
                    // The standard's folder is `sources/`; some write `Sources/`.
                    let wanted = format!("sources/{}", inner.to_lowercase());
                    let name = members
                        .iter()
                        .find(|n| n.to_lowercase() == wanted)
                        .ok_or_else(|| format!("the file has no sources/{inner}"))?;
                    zip_entry(&mut z, name, &mut budget, &too_large)?
                }
            };
            let (text, shift) = plain_text(&raw);
            if text.len() > MAX_TEXT_CHARS * 4 || text.chars().count() > MAX_TEXT_CHARS {
                return Err(format!(
                    "the source {:?} is longer than {MAX_TEXT_CHARS} characters",
                    s.attribute("name").unwrap_or(&guid)
                ));
            }
            let len = text.chars().count();
            let mut selections = Vec::new();
            for sel in s
                .children()
                .filter(|n| n.tag_name().name() == "PlainTextSelection")
            {
                let num = |a: &str| sel.attribute(a).and_then(|v| v.parse::<usize>().ok());
                let (Some(start), Some(end)) = (num("startPosition"), num("endPosition")) else {
                    return Err("a selection has no valid positions".into());
                };
                let (start, end) = (shift(start), shift(end));
                if start >= end || end > len {
                    return Err(format!(
                        "a selection ({start}-{end}) lies outside its text of {len} characters"
                    ));
                }
                let codings = sel
                    .children()
                    .filter(|n| n.tag_name().name() == "Coding")
                    .filter_map(|c| {
                        let code = c
                            .children()
                            .find(|r| r.tag_name().name() == "CodeRef")?
                            .attribute("targetGUID")?;
                        Some(Coding {
                            guid: c.attribute("guid").unwrap_or("").into(),
                            code: code.into(),
                            user: c.attribute("creatingUser").map(str::to_string),
                        })
                    })
                    .collect();
                selections.push(Selection {
                    guid: sel.attribute("guid").unwrap_or("").into(),
                    start,
                    end,
                    user: sel.attribute("creatingUser").map(str::to_string),
                    codings,
                });
            }
            sources.push(Source {
                guid,
                name: s.attribute("name").unwrap_or("").into(),
                text,
                selections,
            });
        }
    }
    Ok(Project {
        name: root.attribute("name").unwrap_or("").into(),
        users,
        codes,
        sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docx(document_xml: &str) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("word/document.xml", o).unwrap();
            z.write_all(document_xml.as_bytes()).unwrap();
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn word_documents_become_plain_text() {
        let xml = r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
            <w:p><w:r><w:t>Interviewer: Hvad gør I?</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">Svar: Vi </w:t></w:r><w:r><w:t>griber ind tidligt.</w:t></w:r><w:r><w:tab/><w:t>Æ ø å</w:t></w:r></w:p>
            </w:body></w:document>"#;
        assert_eq!(
            docx_text(&docx(xml)).unwrap(),
            "Interviewer: Hvad gør I?\nSvar: Vi griber ind tidligt.\tÆ ø å"
        );
        assert!(docx_text(b"not a zip").unwrap_err().contains("not a .docx"));
        assert!(docx_text(&docx("<w:document")).is_err());
    }

    #[test]
    fn a_project_survives_the_round_trip() {
        let p = Project {
            name: "Round 1 <&>".into(),
            users: vec![User {
                guid: "11111111-1111-1111-1111-111111111111".into(),
                name: "Coder Æ".into(),
            }],
            codes: vec![Code {
                guid: "22222222-2222-2222-2222-222222222222".into(),
                name: "A: Fokus".into(),
                codable: false,
                color: None,
                description: None,
                children: vec![Code {
                    guid: "33333333-3333-3333-3333-333333333333".into(),
                    name: "1 Tidlig indsats".into(),
                    codable: true,
                    color: Some("#1d4f91".into()),
                    description: Some("Om at \"handle\" tidligt".into()),
                    children: vec![],
                }],
            }],
            sources: vec![Source {
                guid: "44444444-4444-4444-4444-444444444444".into(),
                name: "E07".into(),
                text: "Æble og øl på åen.".into(),
                selections: vec![Selection {
                    guid: "55555555-5555-5555-5555-555555555555".into(),
                    start: 8,
                    end: 13,
                    user: Some("11111111-1111-1111-1111-111111111111".into()),
                    codings: vec![Coding {
                        guid: "66666666-6666-6666-6666-666666666666".into(),
                        code: "33333333-3333-3333-3333-333333333333".into(),
                        user: Some("11111111-1111-1111-1111-111111111111".into()),
                    }],
                }],
            }],
        };
        let bytes = qdpx(&p, "Orakel", "2026-11-26T10:00:00Z").unwrap();
        assert_eq!(parse_qdpx(&bytes).unwrap(), p);
        let cb = codebook_xml(&p.codes, "Orakel");
        assert_eq!(parse_codebook(&cb).unwrap(), p.codes);
        // Positions are characters: "øl på" is characters 8-13.
        let s: String = p.sources[0].text.chars().skip(8).take(5).collect();
        assert_eq!(s, "øl på");
    }

    #[test]
    fn bad_projects_are_refused() {
        assert!(parse_codebook("<Project/>").is_err());
        assert!(
            parse_codebook("<!DOCTYPE x [<!ENTITY a \"b\">]><CodeBook><Codes/></CodeBook>")
                .is_err(),
            "no DTDs"
        );
        assert!(parse_qdpx(b"nope").is_err());
    }
}
