//! REFI-QDA files as other tools write them: a project and a codebook exported by QualCoder 3.8
//! (`tests/data/refi-qda/`, lower-case `sources/`, texts with a byte-order mark, new GUIDs at
//! every export), an ATLAS.ti-style project (its document named after the project, Windows line
//! ends), and the round trip Orakel → another tool → Orakel, which must change nothing.

use super::*;

const QUALCODER_PROJECT: &[u8] = include_bytes!("../../data/refi-qda/qualcoder-3.8-project.qdpx");
const QUALCODER_CODEBOOK: &[u8] = include_bytes!("../../data/refi-qda/qualcoder-3.8-codebook.qdc");

fn import(c: &mut Client, study: &str, qdpx: &[u8], map: &BTreeMap<String, String>) -> Value {
    let map = serde_json::to_string(map).unwrap();
    let r = c.post_raw(
        &format!(
            "/api/v1/studies/{study}/project.qdpx?panellists={}",
            super::refi::urlencode(&map)
        ),
        "application/zip",
        qdpx,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn nothing_created(summary: &Value) {
    for (k, v) in summary.as_object().unwrap() {
        if k.ends_with("_created") {
            assert_eq!(v, 0, "{k} on a second import: {summary}");
        }
    }
}

/// The members of a zip: name → bytes.
fn members(zip_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(zip_bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().to_string(), b)
        })
        .collect()
}

fn zipped(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default();
        for (name, bytes) in files {
            z.start_file(name.as_str(), o).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// Every GUID in the project document replaced by a new one, as QualCoder does at each export.
fn new_guids(qdpx: &[u8]) -> Vec<u8> {
    let files = members(qdpx);
    let (_, doc) = files.iter().find(|(n, _)| n.ends_with(".qde")).unwrap();
    let mut xml = String::from_utf8(doc.clone()).unwrap();
    let guid = |s: &str| s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4;
    let mut renamed = BTreeMap::new();
    for attr in ["guid=\"", "targetGUID=\"", "creatingUser=\""] {
        let mut rest = xml.as_str();
        while let Some(i) = rest.find(attr) {
            let v = &rest[i + attr.len()..i + attr.len() + 36];
            if guid(v) && attr != "creatingUser=\"" {
                renamed
                    .entry(v.to_string())
                    .or_insert_with(|| uuid::Uuid::new_v4().to_string());
            }
            rest = &rest[i + attr.len()..];
        }
    }
    // Users keep theirs (a tool's users are people); texts move with their new names.
    let users: Vec<String> = orakel::qda::parse_qdpx(qdpx)
        .unwrap()
        .users
        .into_iter()
        .map(|u| u.guid)
        .collect();
    for (old, new) in &renamed {
        if !users.contains(old) {
            xml = xml.replace(old.as_str(), new);
        }
    }
    let mut out = Vec::new();
    for (name, bytes) in &files {
        if name.ends_with(".qde") {
            out.push((name.clone(), xml.clone().into_bytes()));
        } else {
            let mut n = name.clone();
            for (old, new) in &renamed {
                n = n.replace(old.as_str(), new);
            }
            out.push((n, bytes.clone()));
        }
    }
    zipped(&out)
}

/// Each selection of a project document: (start, end) → the text its tool said it selected.
fn selected_texts(qdpx: &[u8]) -> BTreeMap<(usize, usize), String> {
    let files = members(qdpx);
    let (_, doc) = files.iter().find(|(n, _)| n.ends_with(".qde")).unwrap();
    let xml = String::from_utf8(doc.clone()).unwrap();
    let xml = xml.trim_start_matches('\u{feff}');
    let d = roxmltree::Document::parse(xml).unwrap();
    d.descendants()
        .filter(|n| n.has_tag_name(("urn:QDA-XML:project:1.0", "PlainTextSelection")))
        .map(|n| {
            let pos = |a: &str| n.attribute(a).unwrap().parse::<usize>().unwrap();
            (
                (pos("startPosition"), pos("endPosition")),
                n.attribute("name").unwrap().to_string(),
            )
        })
        .collect()
}

/// Every coding of the study's transcripts as (quote, theme title, coder name).
fn codings_here(c: &mut Client, study: &str) -> BTreeSet<(String, String, String)> {
    let list = c
        .get(&format!("/api/v1/studies/{study}/transcripts"))
        .json();
    let mut out = BTreeSet::new();
    for t in list.as_array().unwrap() {
        let d = c
            .get(&format!(
                "/api/v1/transcripts/{}",
                t["id"].as_str().unwrap()
            ))
            .json();
        for e in d["excerpts"].as_array().unwrap() {
            for th in e["themes"].as_array().unwrap() {
                out.insert((
                    e["quote"].as_str().unwrap().to_string(),
                    th["title"].as_str().unwrap().to_string(),
                    th["coder"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

both_backends!(
    a_qualcoder_project_imports_on_its_characters_and_only_once,
    |app: &TestApp| {
        let mut c = app.api("qualcoder@example.org");
        let p = panel(app, &mut c, 3);
        let mut who: Vec<String> = pseudonyms(&mut c, &p.study).into_values().collect();
        who.sort();
        let map: BTreeMap<String, String> = [
            ("Interview 3 ældre".to_string(), who[0].clone()),
            ("Interview 4 English".to_string(), who[1].clone()),
        ]
        .into();
        let first = import(&mut c, &p.study, QUALCODER_PROJECT, &map);
        assert_eq!(first["categories_created"], 2, "{first}");
        assert_eq!(first["themes_created"], 4, "{first}");
        assert_eq!(first["transcripts_created"], 2, "{first}");
        assert_eq!(first["excerpts_created"], 6, "{first}");
        assert_eq!(first["codings_created"], 6, "{first}");
        assert_eq!(first["coders_created"], 2, "{first}");

        // Every passage holds exactly the characters the tool selected (its `name`), Danish
        // letters and a dash included, after a byte-order mark that is not counted.
        let selected: BTreeSet<String> = selected_texts(QUALCODER_PROJECT).into_values().collect();
        let here = codings_here(&mut c, &p.study);
        let quotes: BTreeSet<String> = here.iter().map(|(q, _, _)| q.clone()).collect();
        assert_eq!(quotes, selected);
        // Each coding keeps its coder: the two coders of "Managers need training".
        assert!(here.contains(&(
            "Managers need training before they can spot stress.".into(),
            "Træning af ledere".into(),
            "anna".into()
        )));
        assert!(here.contains(&(
            "Managers need training".into(),
            "Træning af ledere".into(),
            "bo".into()
        )));
        let book = c
            .get(&format!("/api/v1/studies/{}/codebook", p.study))
            .json();
        let ledelse = book["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["title"] == "Ledelse")
            .unwrap();
        assert_eq!(
            ledelse["themes"][0]["statements"][0]["text"],
            "Opfølgning fra lederen."
        );

        // The same file again, and the same project as QualCoder exports it next time (every
        // code and source with a new GUID): nothing new.
        nothing_created(&import(&mut c, &p.study, QUALCODER_PROJECT, &map));
        let second = import(&mut c, &p.study, &new_guids(QUALCODER_PROJECT), &map);
        nothing_created(&second);
        assert_eq!(second["themes_matched"], 4, "{second}");
        assert_eq!(second["transcripts_matched"], 2, "{second}");
        assert_eq!(second["codings_matched"], 6, "{second}");
        assert_eq!(codings_here(&mut c, &p.study), here);

        // Orakel → QualCoder → Orakel: the export, given new GUIDs, comes back to nothing new.
        let (_, exported) = c.get_bytes(&format!("/api/v1/studies/{}/project.qdpx", p.study));
        assert!(
            members(&exported)
                .iter()
                .all(|(n, _)| n == "project.qde" || n.starts_with("sources/")),
            "the standard's folder name"
        );
        let sources: Vec<String> = orakel::qda::parse_qdpx(&exported)
            .unwrap()
            .sources
            .into_iter()
            .map(|s| s.name)
            .collect();
        let back: BTreeMap<String, String> = sources
            .iter()
            .map(|s| (s.clone(), s.split(' ').next().unwrap().to_string()))
            .collect();
        nothing_created(&import(&mut c, &p.study, &new_guids(&exported), &back));
        assert_eq!(codings_here(&mut c, &p.study), here);

        // Two coders of one passage leave as two selections, each made by its coder.
        let again = orakel::qda::parse_qdpx(&exported).unwrap();
        let users: BTreeMap<&str, &str> = again
            .users
            .iter()
            .map(|u| (u.guid.as_str(), u.name.as_str()))
            .collect();
        for s in &again.sources {
            for sel in &s.selections {
                for coding in &sel.codings {
                    assert_eq!(
                        coding.user, sel.user,
                        "a selection holds its own coder's codings"
                    );
                }
                assert!(users.contains_key(sel.user.as_deref().unwrap()));
            }
        }

        // The codebook twice into a fresh study: the second time changes nothing.
        let s2 = crate::recruitment::study(&mut c);
        let url = format!("/api/v1/studies/{s2}/codebook.qdc");
        let r = c.post_raw(&url, "application/xml", QUALCODER_CODEBOOK);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["themes_created"], 4);
        let r = c.post_raw(&url, "application/xml", QUALCODER_CODEBOOK);
        nothing_created(&r.json());
        assert_eq!(r.json()["themes_matched"], 4);
    }
);

both_backends!(
    other_tools_layouts_byte_order_marks_and_line_ends_import,
    |app: &TestApp| {
        let mut c = app.api("atlas@example.org");
        let p = panel(app, &mut c, 2);
        let mut who: Vec<String> = pseudonyms(&mut c, &p.study).into_values().collect();
        who.sort();
        // Windows line ends, a byte-order mark, Danish letters and a character outside the
        // basic plane; positions counted on the text as the file has it (after the mark).
        let lines = [
            "Interviewer: Hvad virker?".to_string(),
            format!("{}: Ærlig snak med lederen 🙂 hjælper.", who[1]),
            format!("{}: Og så færre møder.", who[1]),
        ];
        let raw = lines.join("\r\n");
        let pos = |part: &str| chars_of(&raw, part);
        let (a0, a1) = pos("Ærlig snak med lederen 🙂 hjælper.");
        let (b0, b1) = pos("færre møder");
        let source = "0e5a8f2c-1b2d-4c3e-9f40-112233445566";
        let qde = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Mit projekt" origin="ATLAS.ti">
<Users><User guid="AAAAAAAA-1111-2222-3333-444444444444" name="Ditte"/></Users>
<CodeBook><Codes><Code guid="{{C0DE0000-0000-0000-0000-000000000001}}" name="Samtaler" isCodable="true"/></Codes></CodeBook>
<Sources><TextSource guid="{source}" name="Samtale uden navn" plainTextPath="internal://{source}.txt">
<PlainTextSelection guid="5E1E0000-0000-0000-0000-000000000001" startPosition="{a0}" endPosition="{a1}" creatingUser="AAAAAAAA-1111-2222-3333-444444444444">
<Coding guid="C0D10000-0000-0000-0000-000000000001" creatingUser="AAAAAAAA-1111-2222-3333-444444444444"><CodeRef targetGUID="{{C0DE0000-0000-0000-0000-000000000001}}"/></Coding>
</PlainTextSelection>
<PlainTextSelection guid="5E1E0000-0000-0000-0000-000000000002" startPosition="{b0}" endPosition="{b1}" creatingUser="AAAAAAAA-1111-2222-3333-444444444444">
<Coding guid="C0D10000-0000-0000-0000-000000000002" creatingUser="AAAAAAAA-1111-2222-3333-444444444444"><CodeRef targetGUID="{{C0DE0000-0000-0000-0000-000000000001}}"/></Coding>
</PlainTextSelection>
</TextSource></Sources></Project>"#
        );
        let mut text = "\u{feff}".as_bytes().to_vec();
        text.extend_from_slice(raw.as_bytes());
        let file = zipped(&[
            ("Mit projekt.qde".into(), qde.into_bytes()),
            (format!("Sources/{source}.txt"), text),
        ]);
        // No map: the source's speaker labels name its panellist.
        let summary = import(&mut c, &p.study, &file, &BTreeMap::new());
        assert_eq!(summary["transcripts_created"], 1, "{summary}");
        assert_eq!(summary["codings_created"], 2, "{summary}");
        let here = codings_here(&mut c, &p.study);
        let quotes: BTreeSet<&str> = here.iter().map(|(q, _, _)| q.as_str()).collect();
        assert_eq!(
            quotes,
            BTreeSet::from(["Ærlig snak med lederen 🙂 hjælper.", "færre møder"])
        );
        let list = c
            .get(&format!("/api/v1/studies/{}/transcripts", p.study))
            .json();
        let t = &list[0];
        assert_eq!(t["pseudonym"], who[1].as_str(), "{t}");
        let d = c
            .get(&format!(
                "/api/v1/transcripts/{}",
                t["id"].as_str().unwrap()
            ))
            .json();
        assert!(!d["body"].as_str().unwrap().contains(['\r', '\u{feff}']));
        nothing_created(&import(&mut c, &p.study, &file, &BTreeMap::new()));

        // Two project documents, or none: refused, nothing kept.
        let two = zipped(&[
            ("a.qde".into(), b"<Project/>".to_vec()),
            ("b.qde".into(), b"<Project/>".to_vec()),
        ]);
        for bad in [two, zipped(&[("readme.txt".into(), b"x".to_vec())])] {
            let r = c.post_raw(
                &format!("/api/v1/studies/{}/project.qdpx", p.study),
                "application/zip",
                &bad,
            );
            assert_eq!(r.status, 422, "{}", r.body);
            assert!(r.body.contains(".qde"), "{}", r.body);
        }
    }
);
