//! The REFI-QDA exchange validated against the published schemas and round-tripped.

use super::*;

/// The exported XML against the published REFI-QDA schema, when the schemas and xmllint are
/// here; says so when the check cannot run.
fn validate(xml: &[u8], schema: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/refi-qda");
    let xsd = dir.join(schema);
    if !xsd.exists() {
        eprintln!(
            "REFI-QDA schema check skipped: {} is not here",
            xsd.display()
        );
        return;
    }
    if std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("ORAKEL_REQUIRE_XMLLINT").as_deref() != Ok("1"),
            "ORAKEL_REQUIRE_XMLLINT=1 but xmllint is missing (apt-get install libxml2-utils)"
        );
        eprintln!(
            "REFI-QDA schema check skipped: xmllint is missing (apt-get install libxml2-utils)"
        );
        return;
    }
    let file = std::env::temp_dir().join(format!("orakel-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{schema}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn project_xml(qdpx: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(Cursor::new(qdpx)).unwrap();
    let mut f = z.by_name("project.qde").unwrap();
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

/// Each coding as (source, start, end, code name, coder name).
fn codings_of(qdpx: &[u8]) -> BTreeSet<(String, usize, usize, String, String)> {
    let p = orakel::qda::parse_qdpx(qdpx).unwrap();
    let mut codes = BTreeMap::new();
    fn walk(codes: &mut BTreeMap<String, String>, list: &[orakel::qda::Code]) {
        for c in list {
            codes.insert(c.guid.clone(), c.name.clone());
            walk(codes, &c.children);
        }
    }
    walk(&mut codes, &p.codes);
    let users: BTreeMap<String, String> = p
        .users
        .iter()
        .map(|u| (u.guid.clone(), u.name.clone()))
        .collect();
    let mut out = BTreeSet::new();
    for s in &p.sources {
        for sel in &s.selections {
            for c in &sel.codings {
                let user = c
                    .user
                    .as_ref()
                    .or(sel.user.as_ref())
                    .and_then(|u| users.get(u))
                    .cloned()
                    .unwrap_or_default();
                // Without the pseudonym: another study's panel has its own.
                let title = s.name.split_once(' ').map_or(s.name.as_str(), |(_, t)| t);
                out.insert((
                    title.to_string(),
                    sel.start,
                    sel.end,
                    codes[&c.code].clone(),
                    user,
                ));
            }
        }
    }
    out
}

both_backends!(refi_qda_exports_validate_and_round_trip, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    let themes = codebook(&mut c, &p.study);
    let mut order: Vec<String> = pseudonyms(&mut c, &p.study).into_values().collect();
    order.sort();
    let transcripts = upload_interviews(&mut c, &p.study, &order);
    code(
        &mut c,
        &transcripts[&order[0]],
        "Vi taler om trivsel og løn.",
        &[&themes[&1], &themes[&4]],
    );
    code(
        &mut c,
        &transcripts[&order[0]],
        "Små virksomheder mangler rådgivning.",
        &[&themes[&5]],
    );
    code(
        &mut c,
        &transcripts[&order[2]],
        "Lederne får for lidt støtte!",
        &[&themes[&2]],
    );
    let (mut second, _) = member(app, &mut c, &p.study, "second@example.org");
    code(
        &mut second,
        &transcripts[&order[0]],
        "Lederne får for lidt støtte!",
        &[&themes[&2]],
    );

    let (status, qdc) = c.get_bytes(&format!("/api/v1/studies/{}/codebook.qdc", p.study));
    assert_eq!(status, 200);
    let qdc_text = String::from_utf8(qdc.clone()).unwrap();
    assert!(qdc_text.contains("urn:QDA-XML:codebook:1.0"));
    assert!(
        qdc_text.contains("Managers&apos; own work environment")
            || qdc_text.contains("Managers' own work environment")
    );
    validate(&qdc, "Codebook.xsd");
    let (status, qdpx) = c.get_bytes(&format!("/api/v1/studies/{}/project.qdpx", p.study));
    assert_eq!(status, 200);
    let xml = project_xml(&qdpx);
    assert!(String::from_utf8_lossy(&xml).contains("urn:QDA-XML:project:1.0"));
    validate(&xml, "Project.xsd");
    let exported = codings_of(&qdpx);
    assert_eq!(exported.len(), 5, "{exported:?}");
    // The positions are characters: the passage after "å" starts where the text says.
    let (s, e) = chars_of(&interview(0), "Små virksomheder mangler rådgivning.");
    assert!(
        exported.iter().any(|x| x.1 == s && x.2 == e),
        "{exported:?}"
    );
    assert!(
        !String::from_utf8_lossy(&xml).contains("Ekspert Nummer"),
        "sources carry pseudonyms only"
    );

    // Into a fresh study with its own panel: the same codings come back out.
    let mut other = app.api("other@example.org");
    let q = panel(app, &mut other, 3);
    // Its pseudonyms differ: the sources are mapped to them by name.
    let mut theirs: Vec<String> = pseudonyms(&mut other, &q.study).into_values().collect();
    theirs.sort();
    let mut sources: Vec<String> = orakel::qda::parse_qdpx(&qdpx)
        .unwrap()
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect();
    sources.sort();
    let map: BTreeMap<&String, &String> = sources.iter().zip(&theirs).collect();
    let map = serde_json::to_string(&map).unwrap();
    let r = other.post_raw(
        &format!(
            "/api/v1/studies/{}/project.qdpx?panellists={}",
            q.study,
            urlencode(&map)
        ),
        "application/zip",
        &qdpx,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let summary = r.json();
    assert_eq!(summary["themes_created"], 13);
    assert_eq!(summary["transcripts_created"], 3);
    assert_eq!(summary["codings_created"], 5);
    let (_, again) = other.get_bytes(&format!("/api/v1/studies/{}/project.qdpx", q.study));
    assert_eq!(codings_of(&again), exported);
    validate(&project_xml(&again), "Project.xsd");
    let book = other
        .get(&format!("/api/v1/studies/{}/codebook", q.study))
        .json();
    let cats = book["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 3);
    let t1 = &cats[0]["themes"][0];
    assert_eq!(
        t1["statements"].as_array().unwrap().len(),
        2,
        "statements travel with the theme: {t1}"
    );

    // A codebook alone into a third study; a broken file changes nothing.
    let mut third = app.api("third@example.org");
    let s3 = crate::recruitment::study(&mut third);
    let r = third.post_raw(
        &format!("/api/v1/studies/{s3}/codebook.qdc"),
        "application/xml",
        b"<Project/>",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = third.post_raw(
        &format!("/api/v1/studies/{s3}/project.qdpx"),
        "application/zip",
        b"PK\x03\x04broken",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        third.get(&format!("/api/v1/studies/{s3}/codebook")).json()["categories"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let r = third.post_raw(
        &format!("/api/v1/studies/{s3}/codebook.qdc"),
        "application/xml",
        &qdc,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["themes_created"], 13);
    // A project whose sources name no panellist of the study is refused whole.
    let r = third.post_raw(
        &format!("/api/v1/studies/{s3}/project.qdpx"),
        "application/zip",
        &qdpx,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(transcript_count(&mut third, &s3), 0);
});
