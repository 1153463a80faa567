//! Round 1 end to end: transcripts (text, Word, pasted), coding passages with Danish text,
//! statements linked to their evidence, the theme-by-interview overview, two coders' agreement,
//! codebook changes carrying the codings, the interview guide and appointments with calendar
//! invitations, the written questionnaire, the researcher's pages without JavaScript, and the
//! REFI-QDA exchange validated against the published schemas and round-tripped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::mails_to;
use crate::rounds::{codebook, deadline_in, panel};

mod refi;
mod refi_tools;

/// An interview as transcribed: five sentences, with æ, ø and å before and inside the passages
/// the tests code, so character offsets are tested against multi-byte text.
pub fn interview(i: usize) -> String {
    format!(
        "Interviewer: Hvad fylder mest hos jer?\nSvar {i}: Vi taler om trivsel og løn. Lederne får for lidt støtte! Små virksomheder mangler rådgivning.\nInterviewer: Tak for din tid."
    )
}

/// The `[start, end)` character offsets of `part` in `text`.
pub fn chars_of(text: &str, part: &str) -> (usize, usize) {
    let byte = text.find(part).expect("the passage is in the text");
    let start = text[..byte].chars().count();
    (start, start + part.chars().count())
}

/// A Word document holding the paragraphs.
pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t xml:space=\"preserve\">{p}</w:t></w:r></w:p>"))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    let mut buf = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("[Content_Types].xml", o).unwrap();
        z.write_all(b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>").unwrap();
        z.start_file("word/document.xml", o).unwrap();
        z.write_all(xml.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// Candidate e-mail → pseudonym.
pub fn pseudonyms(c: &mut Client, study: &str) -> BTreeMap<String, String> {
    c.get(&format!("/api/v1/studies/{study}/candidates?limit=1000"))
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| {
            Some((
                x["email"].as_str()?.to_string(),
                x["pseudonym"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Uploads `interview(i)` for each pseudonym as JSON; returns pseudonym → (transcript id, text).
pub fn upload_interviews(
    c: &mut Client,
    study: &str,
    names: &[String],
) -> BTreeMap<String, (String, String)> {
    names
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let text = interview(i);
            let r = c.post_json(
                &format!("/api/v1/studies/{study}/transcripts"),
                &json!({"panellist": p, "title": format!("Interview {}", i + 1), "text": text}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            (
                p.clone(),
                (r.json()["id"].as_str().unwrap().to_string(), text),
            )
        })
        .collect()
}

/// Codes `part` of a transcript to the themes; returns the excerpt.
pub fn code(c: &mut Client, transcript: &(String, String), part: &str, themes: &[&str]) -> Value {
    let (start, end) = chars_of(&transcript.1, part);
    let r = c.post_json(
        &format!("/api/v1/transcripts/{}/excerpts", transcript.0),
        &json!({"start": start, "end": end, "theme_ids": themes}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn transcript_count(c: &mut Client, study: &str) -> usize {
    c.get(&format!("/api/v1/studies/{study}/transcripts"))
        .json()
        .as_array()
        .unwrap()
        .len()
}

fn member(app: &TestApp, lead: &mut Client, study: &str, email: &str) -> (Client, String) {
    let token = app.researcher_token(email);
    let r = lead.put_json(
        &format!("/api/v1/studies/{study}/members"),
        &json!({"email": email, "role": "researcher"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut c = app.client();
    c.token = Some(token);
    let id = r.json()["researcher_id"].as_str().unwrap().to_string();
    (c, id)
}

both_backends!(
    twelve_interviews_coded_into_thirteen_themes_feed_a_rating_round,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 12);
        let themes = codebook(&mut c, &p.study);
        let names = pseudonyms(&mut c, &p.study);
        let mut order: Vec<String> = names.values().cloned().collect();
        order.sort();
        assert_eq!(order.len(), 12);

        // Twelve transcripts: a Word document, a text file named after the expert, the rest
        // as JSON.
        let first = order[0].clone();
        let doc = docx(&[
            "Interviewer: Hvad fylder mest hos jer?",
            "Svar 0: Vi taler om trivsel og løn. Lederne får for lidt støtte! Små virksomheder mangler rådgivning.",
            "Interviewer: Tak for din tid.",
        ]);
        let r = c.post_raw(
            &format!(
                "/api/v1/studies/{}/transcripts?panellist={first}&filename=interview.docx",
                p.study
            ),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &doc,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["source_kind"], "docx");
        let mut transcripts = BTreeMap::new();
        transcripts.insert(
            first.clone(),
            (r.json()["id"].as_str().unwrap().to_string(), interview(0)),
        );
        let detail = c
            .get(&format!("/api/v1/transcripts/{}", transcripts[&first].0))
            .json();
        assert_eq!(
            detail["body"],
            interview(0),
            "the Word text is the paragraphs, one per line"
        );

        let second = order[1].clone();
        let r = c.post_raw(
            &format!(
                "/api/v1/studies/{}/transcripts?panellist={second}&filename=Ekspert%20Nummer%2001%20interview.txt",
                p.study
            ),
            "text/plain; charset=utf-8",
            interview(1).as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        transcripts.insert(
            second.clone(),
            (r.json()["id"].as_str().unwrap().to_string(), interview(1)),
        );
        transcripts.extend(upload_interviews(&mut c, &p.study, &order[2..]));
        assert_eq!(transcript_count(&mut c, &p.study), 12);
        {
            use diesel::prelude::*;
            use orakel::db::schema::transcripts;
            let mut conn = app.conn();
            let kept: Vec<Option<String>> = transcripts::table
                .select(transcripts::original_filename)
                .load(&mut *conn)
                .unwrap();
            assert!(kept.contains(&Some("interview.docx".to_string())));
            assert!(
                kept.iter().flatten().all(|f| !f.contains("Nummer")),
                "a file name with the expert's name is not kept: {kept:?}"
            );
        }

        // Bad uploads say why and change nothing.
        let before = transcript_count(&mut c, &p.study);
        let bad = c.post_raw(
            &format!("/api/v1/studies/{}/transcripts?panellist={first}", p.study),
            "text/plain",
            b"Caf\xe9 latin-1 \xff",
        );
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("UTF-8"), "{}", bad.body);
        let big = vec![b'a'; 10 * 1024 * 1024 + 10];
        let r = c.post_raw(
            &format!("/api/v1/studies/{}/transcripts?panellist={first}", p.study),
            "text/plain",
            &big,
        );
        assert!(
            r.status == 413 || r.status == 422,
            "{} {}",
            r.status,
            r.body
        );
        assert!(r.body.contains("10 MB"), "{}", r.body);
        let r = c.post_json(
            &format!("/api/v1/studies/{}/transcripts", p.study),
            &json!({"panellist": "E99", "text": "Hej"}),
        );
        assert_eq!(r.status, 422);
        assert!(r.body.contains("E99"), "{}", r.body);
        let r = c.post_json(
            &format!("/api/v1/studies/{}/transcripts", p.study),
            &json!({"panellist": first, "text": "  \n "}),
        );
        assert_eq!(r.status, 422);
        assert_eq!(transcript_count(&mut c, &p.study), before);

        // Every interview: one passage to theme 1 and to one more theme; the passages hold ø.
        let mut excerpts: BTreeMap<String, String> = BTreeMap::new();
        for (i, name) in order.iter().enumerate() {
            let other = &themes[&((i % 12) as i32 + 2)];
            let e = code(
                &mut c,
                &transcripts[name],
                "Vi taler om trivsel og løn.",
                &[&themes[&1], other],
            );
            assert_eq!(e["quote"], "Vi taler om trivsel og løn.");
            assert_eq!(e["themes"].as_array().unwrap().len(), 2);
            excerpts.insert(name.clone(), e["id"].as_str().unwrap().to_string());
        }
        // After å: "Små virksomheder mangler rådgivning." to theme 5 in the first interview.
        let small = code(
            &mut c,
            &transcripts[&first],
            "Små virksomheder mangler rådgivning.",
            &[&themes[&5]],
        );
        let (s, e) = chars_of(&interview(0), "Små virksomheder mangler rådgivning.");
        assert_eq!(
            (
                small["start"].as_u64().unwrap() as usize,
                small["end"].as_u64().unwrap() as usize
            ),
            (s, e)
        );
        // Passages outside the text, of white space, or to a theme of another study are refused.
        let t0 = &transcripts[&first].0;
        let len = interview(0).chars().count();
        for (body, field) in [
            (
                json!({"start": len - 2, "end": len + 1, "theme_ids": [themes[&1]]}),
                "end",
            ),
            (
                json!({"start": 5, "end": 5, "theme_ids": [themes[&1]]}),
                "end",
            ),
            (
                json!({"start": 38, "end": 39, "theme_ids": [themes[&1]]}),
                "start",
            ),
            (json!({"start": 0, "end": 5, "theme_ids": []}), "theme_ids"),
            (
                json!({"start": 0, "end": 5, "theme_ids": ["no-such-theme"]}),
                "theme_ids",
            ),
        ] {
            let r = c.post_json(&format!("/api/v1/transcripts/{t0}/excerpts"), &body);
            assert_eq!(r.status, 422, "{body}: {}", r.body);
            assert_eq!(r.json()["fields"][0]["field"], field, "{}", r.body);
        }

        // The overview: theme 1 in all twelve interviews; theme 5 twice in the first.
        let o = c
            .get(&format!("/api/v1/studies/{}/coding/overview", p.study))
            .json();
        assert_eq!(o["transcripts"].as_array().unwrap().len(), 12);
        let row = |n: i64| {
            o["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["number"] == n)
                .unwrap()
                .clone()
        };
        assert_eq!(row(1)["excerpts"], 12);
        assert_eq!(row(1)["interviews"], 12);
        assert_eq!(row(5)["interviews"], 2);
        assert_eq!(row(5)["excerpts"], 2);
        assert_eq!(o["rows"].as_array().unwrap().len(), 13);

        // Statements link to their evidence; the theme's audit trail shows pseudonyms only.
        let book = c
            .get(&format!("/api/v1/studies/{}/codebook", p.study))
            .json();
        let statement = |theme: &str, letter: &str| -> String {
            book["categories"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|c| c["themes"].as_array().unwrap().iter())
                .find(|t| t["id"] == theme)
                .unwrap()["statements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["letter"] == letter)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let s1a = statement(&themes[&1], "a");
        let linked = [excerpts[&order[0]].clone(), excerpts[&order[3]].clone()];
        let r = c.put_json(
            &format!("/api/v1/statements/{s1a}/evidence"),
            &json!({"excerpt_ids": linked}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let r = c.put_json(
            &format!("/api/v1/statements/{s1a}/evidence"),
            &json!({"excerpt_ids": [small["id"]]}),
        );
        assert_eq!(
            r.status, 422,
            "a passage not coded to the theme is no evidence for it: {}",
            r.body
        );
        let ev = c.get(&format!("/api/v1/themes/{}/evidence", themes[&1]));
        let evj = ev.json();
        let a = evj["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["letter"] == "a")
            .unwrap();
        let who: BTreeSet<&str> = a["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pseudonym"].as_str().unwrap())
            .collect();
        assert_eq!(who, BTreeSet::from([order[0].as_str(), order[3].as_str()]));
        assert_eq!(a["evidence"][0]["quote"], "Vi taler om trivsel og løn.");
        assert_eq!(evj["interviews"], 12);
        assert!(
            !ev.body.contains("Ekspert Nummer") && !ev.body.contains("@panel.example"),
            "{}",
            ev.body
        );

        // Merging themes 12 and 13 carries their codings and statement links to the new theme.
        let s12a = statement(&themes[&12], "a");
        let ex12 = excerpts[&order[10]].clone();
        assert_eq!(
            c.put_json(
                &format!("/api/v1/statements/{s12a}/evidence"),
                &json!({"excerpt_ids": [ex12]})
            )
            .status,
            204
        );
        let cat_c = book["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "C")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = c.post_json(
            &format!("/api/v1/studies/{}/themes/merge", p.study),
            &json!({"theme_ids": [themes[&12], themes[&13]], "category_id": cat_c, "number": 14, "title": "Treatment in context", "reason": "one theme in the interviews"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let merged = r.json()["id"].as_str().unwrap().to_string();
        let o = c
            .get(&format!("/api/v1/studies/{}/coding/overview", p.study))
            .json();
        let rows = o["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 12);
        let m = rows
            .iter()
            .find(|r| r["theme_id"] == merged.as_str())
            .unwrap();
        assert_eq!(m["excerpts"], 2);
        assert_eq!(m["interviews"], 2);
        let ev = c.get(&format!("/api/v1/themes/{merged}/evidence")).json();
        assert!(
            ev["statements"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["excerpt_id"] == ex12.as_str())),
            "{ev}"
        );

        // A second coder codes the first interview differently: agreement on sentences.
        let (mut second_coder, second_id) = member(app, &mut c, &p.study, "second@example.org");
        code(
            &mut second_coder,
            &transcripts[&first],
            "Lederne får for lidt støtte!",
            &[&themes[&1]],
        );
        let coders = c
            .get(&format!("/api/v1/studies/{}/coding/coders", p.study))
            .json();
        assert_eq!(coders.as_array().unwrap().len(), 2);
        let lead_id = coders
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["researcher_id"] != second_id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = c.get(&format!(
            "/api/v1/studies/{}/coding/agreement?a={lead_id}&b={second_id}",
            p.study
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        let ag = r.json();
        assert_eq!(ag["unit"], "sentence");
        assert_eq!(ag["transcripts"], 1);
        assert_eq!(ag["units"], 5);
        let t1 = ag["themes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["number"] == 1)
            .unwrap();
        // A codes sentence 2, B sentence 3, neither the other three: p_o = 3/5, p_e = 0.68.
        assert!(
            (t1["kappa"].as_f64().unwrap() - (-0.25)).abs() < 1e-9,
            "{t1}"
        );
        assert!(
            (t1["alpha"].as_f64().unwrap() - (-0.125)).abs() < 1e-9,
            "{t1}"
        );
        let diffs = t1["differences"].as_array().unwrap();
        assert_eq!(diffs.len(), 2);
        assert!(diffs.iter().any(
            |d| d["coded_by"] == "a" && d["text"].as_str().unwrap().contains("trivsel og løn")
        ));
        assert!(
            diffs
                .iter()
                .any(|d| d["coded_by"] == "b" && d["text"] == "Lederne får for lidt støtte!")
        );
        assert_eq!(d_pseudonym(diffs), first);
        let r = c.get(&format!(
            "/api/v1/studies/{}/coding/agreement?a={lead_id}&b={lead_id}",
            p.study
        ));
        assert_eq!(r.status, 422, "{}", r.body);

        // The codebook, as coded, goes to the rating round.
        let r = c.post_json(
            &format!("/api/v1/studies/{}/rounds", p.study),
            &json!({"kind": "rating", "rating": true, "validation": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.json()["id"].as_str().unwrap().to_string();
        let o = c.post_json(&format!("/api/v1/rounds/{rid}/open"), &json!({}));
        assert_eq!(o.status, 202, "{}", o.body);
        let round = c.get(&format!("/api/v1/rounds/{rid}")).json();
        let published = round["themes"].as_array().unwrap();
        assert_eq!(published.len(), 12);
        assert!(published.iter().any(|t| t["theme_id"] == merged.as_str()));
    }
);

/// Reads an iCalendar file with the `icalendar` package (from PyPI), as a calendar program
/// would, and checks what it found; skipped with a printed reason without it, unless
/// `ORAKEL_REQUIRE_ICALENDAR=1`.
fn calendar_reads_it(ics: &str, expected: &[(&str, &str)]) {
    for line in ics.lines() {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let script = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
ev = next(c for c in cal.walk("VEVENT"))
att = ev["ATTENDEE"]
print(json.dumps({
    "method": str(cal["METHOD"]),
    "dtstart": ev.decoded("DTSTART").isoformat(),
    "dtend": ev.decoded("DTEND").isoformat(),
    "organizer": str(ev["ORGANIZER"]),
    "attendee": str(att),
    "rsvp": att.params.get("RSVP"),
    "partstat": att.params.get("PARTSTAT"),
    "summary": str(ev["SUMMARY"]),
}))
"#;
    let run = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(ics.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    if stderr.contains("No module named 'icalendar'") {
        assert!(
            std::env::var("ORAKEL_REQUIRE_ICALENDAR").as_deref() != Ok("1"),
            "ORAKEL_REQUIRE_ICALENDAR=1 but icalendar is missing (pip install icalendar)"
        );
        eprintln!("calendar check skipped: pip install icalendar");
        return;
    }
    assert!(run.status.success(), "icalendar: {stderr}\n{ics}");
    let got: Value = serde_json::from_slice(&run.stdout).unwrap();
    for (k, v) in expected {
        assert_eq!(got[k], *v, "{k} in {got}");
    }
    assert!(
        got["summary"].as_str().unwrap().starts_with("Interview: "),
        "{got}"
    );
}

fn d_pseudonym(diffs: &[Value]) -> String {
    diffs[0]["pseudonym"].as_str().unwrap().to_string()
}

both_backends!(
    the_guide_appointments_and_a_written_questionnaire,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 2);
        let names = pseudonyms(&mut c, &p.study);
        let e1 = names[&p.members[0].2].clone();
        let r = c.post_json(
            &format!("/api/v1/studies/{}/rounds", p.study),
            &json!({"kind": "qualitative", "questionnaire": true, "closes_at": deadline_in(Duration::days(10))}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.json()["id"].as_str().unwrap().to_string();
        let number = r.json()["number"].as_i64().unwrap();

        // The guide: categories with questions and notes; bad input names the field.
        let bad = c.put_json(
            &format!("/api/v1/rounds/{rid}/guide"),
            &json!({"sections": [{"title": "Arbejdsmiljø", "questions": [{"text": "  "}]}]}),
        );
        assert_eq!(bad.status, 422);
        assert_eq!(
            bad.json()["fields"][0]["field"],
            "sections[0].questions[0].text"
        );
        let r = c.put_json(
            &format!("/api/v1/rounds/{rid}/guide"),
            &json!({"sections": [
                {"title": "Arbejdsmiljø", "questions": [{"text": "Hvad virker hos jer?", "note": "alle"}, {"text": "Hvad mangler I?"}]},
                {"title": "Ledelse", "questions": [{"text": "Hvordan støtter I lederne?", "note": "kun virksomheder"}]}
            ]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let g = r.json();
        assert_eq!(g["sections"][1]["questions"][0]["note"], "kun virksomheder");
        let txt = c.get(&format!("/api/v1/rounds/{rid}/guide.txt"));
        assert_eq!(txt.status, 200);
        assert!(
            txt.body.contains("1.2 Hvad mangler I?") && txt.body.contains("(kun virksomheder)"),
            "{}",
            txt.body
        );

        // An appointment with a calendar invitation and the guide attached.
        let r = c.post_json(
            &format!("/api/v1/rounds/{rid}/appointments"),
            &json!({"panellist": e1, "starts_at": "2026-12-03T09:00:00Z", "duration_minutes": 60, "interviewer": "lead@example.org", "state": "agreed"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let aid = r.json()["id"].as_str().unwrap().to_string();
        let r = c.post_json(
            &format!("/api/v1/rounds/{rid}/appointments"),
            &json!({"panellist": e1, "state": "maybe"}),
        );
        assert_eq!(r.status, 422);
        let r = c.post_json(
            &format!("/api/v1/appointments/{aid}/send"),
            &json!({"attach_guide": true}),
        );
        assert_eq!(r.status, 202, "{}", r.body);
        app.tick();
        let mails = mails_to(app, &p.members[0].2);
        let invite = mails.last().unwrap();
        let all = invite.readable();
        assert!(invite.raw.contains("text/calendar"), "{}", invite.raw);
        assert!(
            all.contains("BEGIN:VCALENDAR")
                && all.contains("DTSTART:20261203T090000Z")
                && all.contains("DTEND:20261203T100000Z"),
            "{all}"
        );
        assert!(
            all.contains("Hvordan støtter I lederne?"),
            "the guide is attached: {all}"
        );
        let start = all.find("BEGIN:VCALENDAR").unwrap();
        let end = all.find("END:VCALENDAR").unwrap() + "END:VCALENDAR".len();
        calendar_reads_it(
            &all[start..end],
            &[
                ("method", "REQUEST"),
                ("dtstart", "2026-12-03T09:00:00+00:00"),
                ("dtend", "2026-12-03T10:00:00+00:00"),
                ("organizer", "mailto:lead@example.org"),
                ("attendee", &format!("mailto:{}", p.members[0].2)),
                ("rsvp", "TRUE"),
                ("partstat", "NEEDS-ACTION"),
            ],
        );
        let list = c.get(&format!("/api/v1/rounds/{rid}/appointments")).json();
        assert_eq!(list[0]["state"], "agreed");
        assert_eq!(list[0]["pseudonym"], e1.as_str());

        // Opening the questionnaire: the experts answer the guide's questions by their links.
        let o = c.post_json(&format!("/api/v1/rounds/{rid}/open"), &json!({}));
        assert_eq!(o.status, 202, "{}", o.body);
        app.tick();
        let token = &p.members[0].1;
        let mut expert = app.client();
        let q = expert.get(&format!(
            "/api/v1/participation/{token}/rounds/{number}/questionnaire"
        ));
        assert_eq!(q.status, 200, "{}", q.body);
        let q = q.json();
        let q1 = q["sections"][0]["questions"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let q3 = q["sections"][1]["questions"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/questionnaire"),
            &json!({"answers": [{"question_id": q1, "text": "Vi griber ind tidligt — før sygemeldingen."}], "submit": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.json()["submitted_at"].is_null());
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/questionnaire"),
            &json!({"answers": [{"question_id": "nope", "text": "x"}]}),
        );
        assert_eq!(r.status, 422);
        // The same through the plain form.
        let page = expert.get(&format!("/p/{token}/rounds/{number}"));
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains(&format!("name=\"q.{q3}\"")),
            "{}",
            page.body
        );
        assert!(page.body.contains("Vi griber ind tidligt"));
        let r = expert.post_form(
            &format!("/p/{token}/rounds/{number}"),
            &[
                (
                    &format!("q.{q1}"),
                    "Vi griber ind tidligt — før sygemeldingen.",
                ),
                (&format!("q.{q3}"), "Lederne får et netværk."),
                ("action", "submit"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let q = expert
            .get(&format!(
                "/api/v1/participation/{token}/rounds/{number}/questionnaire"
            ))
            .json();
        assert!(!q["submitted_at"].is_null());
        assert_eq!(
            q["sections"][1]["questions"][0]["answer"],
            "Lederne får et netværk."
        );
        // Other experts' answers are not theirs to see.
        let other = expert
            .get(&format!(
                "/api/v1/participation/{}/rounds/{number}/questionnaire",
                p.members[1].1
            ))
            .json();
        assert_eq!(other["sections"][0]["questions"][0]["answer"], "");

        // Answered questions can no longer change; the answers become documents to code.
        let r = c.put_json(
            &format!("/api/v1/rounds/{rid}/guide"),
            &json!({"sections": []}),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        let r = c.post_json(
            &format!("/api/v1/rounds/{rid}/questionnaire/documents"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["created"], 1);
        let list = c
            .get(&format!("/api/v1/studies/{}/transcripts", p.study))
            .json();
        let doc = &list[0];
        assert_eq!(doc["source_kind"], "questionnaire");
        assert_eq!(doc["pseudonym"], e1.as_str());
        let d = c
            .get(&format!(
                "/api/v1/transcripts/{}",
                doc["id"].as_str().unwrap()
            ))
            .json();
        let body = d["body"].as_str().unwrap();
        assert!(
            body.contains("Hvordan støtter I lederne?") && body.contains("Lederne får et netværk."),
            "{body}"
        );
        assert!(!body.contains("Ekspert Nummer"));

        // The researcher's pages for the round.
        let mut b = app.browser("pages@example.org");
        c.put_json(
            &format!("/api/v1/studies/{}/members", p.study),
            &json!({"email": "pages@example.org", "role": "researcher"}),
        );
        let page = b.get(&format!("/rounds/{rid}/interviews"));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("# Arbejdsmiljø") && page.body.contains("&gt; kun virksomheder"),
            "{}",
            page.body
        );
        let print = b.get(&format!("/rounds/{rid}/guide"));
        assert_eq!(print.status, 200);
        assert!(print.body.contains("Hvordan støtter I lederne?"));
    }
);

both_backends!(the_coding_pages_work_as_plain_forms, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 2);
    let themes = codebook(&mut c, &p.study);
    let names = pseudonyms(&mut c, &p.study);
    let e1 = names[&p.members[0].2].clone();
    let mut b = app.browser("coder@example.org");
    c.put_json(
        &format!("/api/v1/studies/{}/members", p.study),
        &json!({"email": "coder@example.org", "role": "researcher"}),
    );
    let home = b.get(&format!("/studies/{}/coding", p.study));
    assert_eq!(home.status, 200, "{}", home.body);
    let csrf = home.form_value("_csrf").unwrap();
    // The panellist is typed (a panel of thousands is no drop-down), with the pseudonyms
    // suggested while the panel is small.
    assert!(
        home.body
            .contains(r#"<input id="f-panellist" name="panellist" type="search""#)
    );
    assert!(home.body.contains(&format!(r#"<option value="{e1}">"#)));
    assert!(!home.body.contains(r#"<select id="f-panellist""#));

    // A file through the upload form; its name names the expert, so it is not kept.
    let text = interview(0);
    let r = b.post_multipart(
        &format!("/studies/{}/transcripts", p.study),
        &[
            ("_csrf", "", csrf.as_bytes()),
            ("panellist", "", e1.as_bytes()),
            ("title", "", b"Telefoninterview"),
            ("file", "Ekspert Nummer 00.txt", text.as_bytes()),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.header("location").unwrap().to_string();
    let tid = to.trim_start_matches("/transcripts/").to_string();
    let bad = b.post_multipart(
        &format!("/studies/{}/transcripts", p.study),
        &[
            ("_csrf", "", csrf.as_bytes()),
            ("panellist", "", e1.as_bytes()),
            ("file", "x.txt", b"\xff\xfe"),
        ],
    );
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("UTF-8"));
    let page = b.get(&to);
    assert_eq!(page.status, 200);
    // Sentence 2 and 3 are checked, and themes 1 and 2: one passage over both sentences.
    let (s2, _) = chars_of(&text, "Svar 0: Vi taler");
    let (_, e3) = chars_of(&text, "Lederne får for lidt støtte!");
    let units: Vec<String> = page
        .body
        .match_indices("name=\"unit\" value=\"")
        .map(|(i, m)| {
            let rest = &page.body[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    assert_eq!(units.len(), 5, "{units:?}");
    let r = b.post_form(
        &to,
        &[
            ("_csrf", &csrf),
            ("unit", &units[1]),
            ("unit", &units[2]),
            ("theme", &themes[&1]),
            ("theme", &themes[&2]),
            ("action", "code"),
            ("start", ""),
            ("end", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let d = c.get(&format!("/api/v1/transcripts/{tid}")).json();
    assert_eq!(d["excerpts"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            d["excerpts"][0]["start"].as_u64().unwrap() as usize,
            d["excerpts"][0]["end"].as_u64().unwrap() as usize
        ),
        (s2, e3)
    );
    assert_eq!(d["excerpts"][0]["coder"], "Browser Researcher");
    // Nothing chosen: a clear message, nothing saved.
    let r = b.post_form(
        &to,
        &[("_csrf", &csrf), ("theme", &themes[&1]), ("action", "code")],
    );
    assert_eq!(r.status, 422);
    let r = b.post_form(
        &to,
        &[("_csrf", &csrf), ("unit", &units[0]), ("action", "code")],
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        c.get(&format!("/api/v1/transcripts/{tid}")).json()["excerpts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The page shows the coding as a highlight in theme colours and lists it.
    let page = b.get(&to);
    assert!(
        page.body.contains(&format!("th-{}", themes[&1])) && page.body.contains("<mark"),
        "{}",
        page.body
    );
    let css = b.get(&format!("/studies/{}/themes.css", p.study));
    assert!(
        css.body.contains(&format!(".th-{} {{ --c: #", themes[&1])),
        "{}",
        css.body
    );
    // Filtering by a theme not coded here shows no passages.
    let filtered = b.get(&format!("{to}?theme={}", themes[&7]));
    assert!(!filtered.body.contains("<mark"));
    // Removing one coding keeps the passage for the other theme.
    let coding = d["excerpts"][0]["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["theme_id"] == themes[&2].as_str())
        .unwrap()["coding_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b.post_form(
        &to,
        &[
            ("_csrf", &csrf),
            ("coding_id", &coding),
            ("action", "remove_coding"),
        ],
    );
    assert_eq!(r.status, 303);
    let d = c.get(&format!("/api/v1/transcripts/{tid}")).json();
    assert_eq!(d["excerpts"][0]["themes"].as_array().unwrap().len(), 1);
    // The overview, the agreement and the theme's evidence pages.
    for path in [
        format!("/studies/{}/coding/overview", p.study),
        format!("/studies/{}/coding/agreement", p.study),
        format!("/themes/{}", themes[&1]),
    ] {
        let r = b.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            !r.body.contains("Ekspert Nummer"),
            "{path} shows pseudonyms only"
        );
    }
    // Linking evidence from the theme page.
    let book = c
        .get(&format!("/api/v1/studies/{}/codebook", p.study))
        .json();
    let s = book["categories"][0]["themes"][0]["statements"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ex = d["excerpts"][0]["id"].as_str().unwrap().to_string();
    let r = b.post_form(
        &format!("/themes/{}", themes[&1]),
        &[
            ("_csrf", &csrf),
            ("statement_id", &s),
            ("excerpt", &ex),
            ("action", "link_evidence"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let ev = c
        .get(&format!("/api/v1/themes/{}/evidence", themes[&1]))
        .json();
    assert_eq!(
        ev["statements"][0]["evidence"][0]["excerpt_id"],
        ex.as_str()
    );
    // Deleting the transcript goes back to the list.
    let r = b.post_form(&to, &[("_csrf", &csrf), ("action", "delete")]);
    assert_eq!(r.status, 303);
    assert_eq!(transcript_count(&mut c, &p.study), 0);
});

both_backends!(
    a_speaker_label_that_looks_like_a_name_is_pointed_out,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 2);
        let names: Vec<String> = pseudonyms(&mut c, &p.study).into_values().collect();
        let add = |c: &mut Client, who: &str, text: &str| {
            let r = c.post_json(
                &format!("/api/v1/studies/{}/transcripts", p.study),
                &json!({"panellist": who, "text": text}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_str().unwrap().to_string()
        };
        let clean = add(
            &mut c,
            &names[0],
            "Interviewer: Hvad fylder mest?\nE01: Trivsel. Og løn.\nSvar 2: Tid.",
        );
        let named = add(
            &mut c,
            &names[1],
            "Mette Hansen: Hvad fylder mest?\nNummer 01 (leder): Trivsel.\nInterviewer: Tak: det var alt.",
        );
        let mut b = app.client();
        b.login("lead@example.org", PASSWORD);
        let page = b.get(&format!("/transcripts/{clean}"));
        assert!(!page.body.contains("look like names") && !page.body.contains("looks like a name"));
        let page = b.get(&format!("/transcripts/{named}"));
        assert!(
            page.body
                .contains("2 speaker labels in the transcript look like names:"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Mette Hansen, Nummer 01 (leder)"),
            "{}",
            page.body
        );
        assert!(page.body.contains("by their pseudonym"));
        // The sentences' boxes: for a page without scripts always, with scripts when asked for.
        assert!(
            page.body
                .contains("<noscript><input type=\"checkbox\" class=\"unit\"")
        );
        let boxes = b.get(&format!("/transcripts/{named}?boxes=1"));
        assert!(
            boxes
                .body
                .contains("<input type=\"checkbox\" class=\"unit\"")
        );
        assert!(!boxes.body.contains("<noscript><input"));
        assert!(!page.body.contains("Characters "), "no character offsets");
    }
);
