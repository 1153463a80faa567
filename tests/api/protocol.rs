//! The registered protocol through the API, on both backends: a draft that follows the study's
//! settings, registration with a hash anyone can recompute from the downloaded document,
//! amendments that need a reason and are kept, settings the protocol fixes refused elsewhere,
//! and the report's protocol, stopping rule and methods.

use chrono::Duration;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel, scores_of};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

both_backends!(
    a_protocol_is_registered_amended_and_reported,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 6);
        let study = p.study.clone();
        let url = format!("/api/v1/studies/{study}/protocol");

        // The draft follows the settings.
        let draft = c.get(&url).json();
        assert_eq!(draft["consensus"]["share_percent"], 70.0);
        assert_eq!(draft["min_group_size"], 3);
        assert!(draft["registered_at"].is_null() && draft["sha256"].is_null());
        assert_eq!(draft["stopping"]["change_below_percent"], 15.0);

        // Bad input is named and changes nothing.
        let mut bad = draft.clone();
        bad["stopping"] = json!({});
        bad["analyses"] = json!(["astrology"]);
        bad["feedback"] = json!(["none", "distribution_by_group"]);
        let r = c.put_json(&url, &bad);
        assert_eq!(r.status, 422, "{}", r.body);
        let fields: Vec<Value> = r.json()["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].clone())
            .collect();
        for f in ["stopping", "analyses", "feedback"] {
            assert!(fields.contains(&json!(f)), "{f} in {fields:?}");
        }
        assert_eq!(c.get(&url).json(), draft);

        // A change of the draft changes the study's settings it fixes.
        let mut mine = draft.clone();
        mine["planned_rounds"] = json!(2);
        mine["priority_threshold"] = json!(3.5);
        mine["stopping"] = json!({"all_verdicts": true, "max_rounds": 2});
        let r = c.put_json(&url, &mine);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            c.get(&format!("/api/v1/studies/{study}")).json()["priority_threshold"],
            3.5
        );
        assert!(
            c.get_bytes(&format!("{url}.json")).0 == 409,
            "no document before registration"
        );

        // Registration: the hash is the SHA-256 of the downloadable document's bytes.
        let reg = c.post_json(&format!("{url}/register"), &json!({}));
        assert_eq!(reg.status, 200, "{}", reg.body);
        let sha = reg.json()["sha256"].as_str().unwrap().to_string();
        let (status, document) = c.get_bytes(&format!("{url}.json"));
        assert_eq!(status, 200);
        assert_eq!(sha256_hex(&document), sha);
        let doc: Value = serde_json::from_slice(&document).unwrap();
        assert_eq!(doc["planned_rounds"], 2);
        assert!(
            !String::from_utf8(document.clone()).unwrap().contains(": "),
            "canonical: no spaces"
        );
        assert_eq!(
            c.post_json(&format!("{url}/register"), &json!({})).status,
            409
        );
        let registered = c.get(&url).json();
        assert_eq!(registered["sha256"], sha.as_str());
        assert_eq!(registered["current_sha256"], sha.as_str());

        // What the protocol fixes no longer changes through the settings…
        let r = c.patch_json(
            &format!("/api/v1/studies/{study}"),
            &json!({"priority_threshold": 3.0}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("amendment"), "{}", r.body);
        // …but other settings do.
        let r = c.patch_json(
            &format!("/api/v1/studies/{study}"),
            &json!({"limitations": "A small panel from one region."}),
        );
        assert_eq!(r.status, 200, "{}", r.body);

        // An amendment needs a reason and a change.
        let mut amended = registered.clone();
        amended["planned_rounds"] = json!(3);
        amended["stopping"]["max_rounds"] = json!(3);
        let r = c.put_json(&url, &amended);
        assert_eq!(r.status, 422);
        assert_eq!(r.json()["fields"][0]["field"], "amendment_reason");
        let mut same = registered.clone();
        same["amendment_reason"] = json!("No reason to change");
        assert_eq!(c.put_json(&url, &same).status, 422);
        amended["amendment_reason"] = json!("The panel asked for a third round on two themes.");
        let r = c.put_json(&url, &amended);
        assert_eq!(r.status, 200, "{}", r.body);
        let now = r.json();
        assert_eq!(now["sha256"], sha.as_str(), "the registration's hash stays");
        let a = &now["amendments"][0];
        assert_eq!(a["changes"], json!(["planned_rounds", "stopping"]));
        assert_eq!(
            a["reason"],
            "The panel asked for a third round on two themes."
        );
        let (_, document) = c.get_bytes(&format!("{url}.json"));
        assert_eq!(sha256_hex(&document), a["sha256"].as_str().unwrap());
        assert_eq!(now["current_sha256"], a["sha256"]);

        // Another team's researcher reaches none of it.
        let mut stranger = app.api("other@example.org");
        assert_eq!(stranger.get(&url).status, 404);
        assert_eq!(stranger.put_json(&url, &amended).status, 404);
        assert_eq!(
            stranger
                .post_json(&format!("{url}/register"), &json!({}))
                .status,
            404
        );
        assert_eq!(stranger.get_bytes(&format!("{url}.json")).0, 404);
        assert_eq!(stranger.get_bytes(&format!("{url}.pdf")).0, 404);

        // A rating round; afterwards the consensus rule cannot be amended.
        let themes = codebook(&mut c, &study);
        let (round, number) = open_round(
            &mut c,
            &study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        let mut rule = c.get(&url).json();
        rule["consensus"]["share_percent"] = json!(80.0);
        rule["amendment_reason"] = json!("Stricter");
        let r = c.put_json(&url, &rule);
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("locked"), "{}", r.body);
        let mut expert = app.client();
        for j in 0..6 {
            let r = expert.put_json(
                &format!(
                    "/api/v1/participation/{}/rounds/{number}/answers",
                    p.members[j].1
                ),
                &json!({"answers": scores_of(&themes, j), "submit": true}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        assert_eq!(
            c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}))
                .status,
            200
        );

        // The report names the protocol, its amendment and the stopping rule's verdict.
        for view in ["", "&view=funder"] {
            let report = c
                .get(&format!(
                    "/api/v1/studies/{study}/report?round={number}&lang=en{view}"
                ))
                .json();
            let pr = &report["protocol"];
            assert_eq!(pr["sha256"], sha.as_str(), "{view}");
            assert_eq!(pr["before_rating"], true);
            assert_eq!(pr["amendments"].as_array().unwrap().len(), 1);
            let st = &report["stopping"];
            assert_eq!(st["rules"], json!(["all_verdicts", "max_rounds:3"]));
            let decided = report["themes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["consensus"] != "none" && t["hidden"] == false)
                .count();
            let shown = report["themes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["hidden"] == false)
                .count();
            assert_eq!(st["met"], json!(decided == shown), "{st}");
            let why = st["explanation"].as_str().unwrap();
            assert!(
                why.contains(&format!("{decided} of {shown} themes reached a verdict"))
                    && why.contains("1 of at most 3 rating rounds held"),
                "{why}"
            );
        }
        for view in ["", "&view=funder"] {
            let report = c
                .get(&format!(
                    "/api/v1/studies/{study}/report?round={number}&lang=en{view}"
                ))
                .json();
            checklist_of(&report, &sha, number, themes.len(), !view.is_empty());
        }
        let html = c.get(&format!(
            "/api/v1/studies/{study}/report.html?round={number}&lang=en"
        ));
        assert!(html.body.contains(&sha), "the hash in the methods");
        assert!(html.body.contains("The panel asked for a third round"));
        formats(&mut c, &study, number);
        protocol_pdf(&mut c, &study, a["sha256"].as_str().unwrap());
        let mut browser = app.client();
        browser.login("lead@example.org", PASSWORD);
        let page = browser.get(&format!("/rounds/{round}"));
        assert!(
            page.body.contains("stopping rule is") || page.body.contains("stopregel er"),
            "the round's page says whether to stop"
        );
    }
);

both_backends!(an_unregistered_analysis_says_so, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    let themes = codebook(&mut c, &p.study);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
    );
    let mut expert = app.client();
    for j in 0..3 {
        expert.put_json(
            &format!(
                "/api/v1/participation/{}/rounds/{number}/answers",
                p.members[j].1
            ),
            &json!({"answers": scores_of(&themes, j), "submit": true}),
        );
    }
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let report = c
        .get(&format!("/api/v1/studies/{}/report?lang=en", p.study))
        .json();
    assert!(report["protocol"].is_null() && report["stopping"].is_null());
    let html = c.get(&format!("/api/v1/studies/{}/report.html?lang=en", p.study));
    assert!(
        html.body.contains("not pre-registered"),
        "said in the methods"
    );
});

/// The checklist appendix and the item flow of the report's JSON.
fn checklist_of(report: &Value, sha: &str, round: i64, themes: usize, funder: bool) {
    let list = report["checklist"].as_array().unwrap();
    for (g, n) in [("CREDES", 16), ("ACCORD", 35), ("DELPHISTAR", 38)] {
        assert_eq!(
            list.iter().filter(|c| c["guideline"] == g).count(),
            n,
            "{g}"
        );
    }
    let item = |g: &str, i: &str| {
        list.iter()
            .find(|c| c["guideline"] == g && c["item"] == i)
            .unwrap_or_else(|| panic!("{g} {i}"))
            .clone()
    };
    // Answered from the data: the registration with its hash, the consensus rule, the
    // amendment with its reason, the stopping rule, response per round, software.
    let m1 = item("ACCORD", "M1");
    assert_eq!(m1["filled"], true);
    assert!(m1["value"].as_str().unwrap().contains(sha), "{m1}");
    let m12 = item("ACCORD", "M12");
    assert!(m12["value"].as_str().unwrap().contains("70 %"), "{m12}");
    assert_eq!(m12["where"], "Methods");
    let r2 = item("ACCORD", "R2");
    assert!(
        r2["value"]
            .as_str()
            .unwrap()
            .contains("The panel asked for a third round on two themes."),
        "{r2}"
    );
    let stop = item("DELPHISTAR", "23");
    assert!(
        stop["value"]
            .as_str()
            .unwrap()
            .contains("3 rating rounds have been held"),
        "{stop}"
    );
    let response = item("DELPHISTAR", "33");
    assert!(
        response["value"]
            .as_str()
            .unwrap()
            .contains(&format!("round {round}: 6 of 6 responded (100 %)")),
        "{response}"
    );
    assert!(
        item("ACCORD", "M14")["value"]
            .as_str()
            .unwrap()
            .contains(&format!("Orakel {}", env!("CARGO_PKG_VERSION")))
    );
    // How the candidates were found, by source.
    let found = item("ACCORD", "M4");
    assert!(
        found["value"]
            .as_str()
            .unwrap()
            .contains("candidates found (")
            && !found["value"].as_str().unwrap().contains("()"),
        "{found}"
    );
    // A funder gets no count of invitation reminders (an undated counter that could move
    // after the round closed); researchers do.
    let m20 = item("ACCORD", "M20");
    assert_eq!(
        m20["value"]
            .as_str()
            .unwrap()
            .contains("reminders of the invitation"),
        !funder,
        "{m20}"
    );
    // The researchers' text set in the settings, and the ones left empty.
    let limits = item("DELPHISTAR", "38");
    assert_eq!(limits["value"], "A small panel from one region.");
    let why = item("CREDES", "1");
    assert_eq!(why["filled"], false);
    assert_eq!(why["value"], "");
    assert_eq!(why["where"], "Study settings: Why a Delphi study");
    assert_eq!(item("ACCORD", "T1")["where"], "Manuscript");
    // Every item is answered or says where its answer belongs.
    for c in list {
        assert!(!c["topic"].as_str().unwrap().is_empty());
        assert!(!c["where"].as_str().unwrap().is_empty(), "{c}");
        assert_eq!(
            c["filled"] == true,
            !c["value"].as_str().unwrap().is_empty(),
            "{c}"
        );
    }
    // The item flow: the rating round with what it rated and its verdicts.
    let flow = report["item_flow"].as_array().unwrap();
    let last = flow.iter().find(|s| s["round"] == round).unwrap();
    assert_eq!(last["rated"], themes);
    let verdicts: u64 = last["verdicts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(verdicts as usize, themes);
}

/// The checklist and the item flow in HTML, PDF and XLSX, in both languages.
fn formats(c: &mut Client, study: &str, round: i64) {
    for lang in ["en", "da"] {
        let q = format!("round={round}&lang={lang}");
        let html = c.get(&format!("/api/v1/studies/{study}/report.html?{q}"));
        let words = if lang == "da" {
            [
                "Bilag: tjeklister for rapportering",
                "Temaernes forløb",
                "Skal udfyldes",
                "DELPHISTAR",
            ]
        } else {
            [
                "Appendix: reporting checklists",
                "What happened to the themes",
                "To be completed",
                "DELPHISTAR",
            ]
        };
        for w in words {
            assert!(html.body.contains(w), "{lang}: {w}");
        }
        let (status, pdf) = c.get_bytes(&format!("/api/v1/studies/{study}/report.pdf?{q}"));
        assert_eq!(status, 200);
        match crate::report::pdf_text(&pdf) {
            Some((_, text)) => {
                for w in ["ACCORD", "DELPHISTAR", "CREDES", "M12", words[1], words[2]] {
                    assert!(text.contains(w), "{lang}: the PDF lacks {w:?}");
                }
            }
            None if std::env::var("ORAKEL_REQUIRE_PDF_TOOLS").as_deref() == Ok("1") => {
                panic!("pdftotext/pdftoppm (poppler-utils) are required")
            }
            None => eprintln!("PDF text not checked: poppler-utils are not installed"),
        }
        let (status, xlsx) = c.get_bytes(&format!("/api/v1/studies/{study}/report.xlsx?{q}"));
        assert_eq!(status, 200);
        let parts = crate::report::unzip(&xlsx);
        let workbook = &parts
            .iter()
            .find(|(n, _)| n == "xl/workbook.xml")
            .unwrap()
            .1;
        let sheets = if lang == "da" {
            ["Temaernes forløb", "Tjeklister"]
        } else {
            ["Item flow", "Reporting checklists"]
        };
        for sheet in sheets {
            assert!(
                workbook.contains(&format!("name=\"{sheet}\"")),
                "{lang}: {sheet} in {workbook}"
            );
        }
    }
}

/// The protocol on one page, with the fingerprint of the document as amended.
fn protocol_pdf(c: &mut Client, study: &str, sha: &str) {
    let (status, pdf) = c.get_bytes(&format!("/api/v1/studies/{study}/protocol.pdf"));
    assert_eq!(status, 200);
    assert!(pdf.starts_with(b"%PDF"));
    match crate::report::pdf_text(&pdf) {
        Some((pages, text)) => {
            assert_eq!(pages, 1, "{text}");
            // The hash may wrap: compare without white space.
            let flat: String = text.split_whitespace().collect();
            assert!(flat.contains(sha), "{text}");
            assert!(text.contains("The panel asked for a third round"), "{text}");
        }
        None if std::env::var("ORAKEL_REQUIRE_PDF_TOOLS").as_deref() == Ok("1") => {
            panic!("pdftotext/pdftoppm (poppler-utils) are required")
        }
        None => eprintln!("PDF text not checked: poppler-utils are not installed"),
    }
}

both_backends!(the_protocol_page_registers_and_amends, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    let study = p.study.clone();
    let mut browser = app.client();
    browser.login("lead@example.org", PASSWORD);
    let here = format!("/studies/{study}/protocol");
    let page = browser.get(&here);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Register the protocol"), "{}", page.body);
    let csrf = browser.csrf();
    let plan = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = vec![
            ("planned_rounds", "2"),
            ("feedback_1", "none"),
            ("feedback_2", "distribution"),
            ("stopping_all_verdicts", "on"),
            ("stopping_change_below_percent", ""),
            ("stopping_max_rounds", "2"),
            ("analysis_priorities", "on"),
            ("analysis_consensus", "on"),
        ];
        f.extend_from_slice(extra);
        f
    };
    let mut fields = plan(&[("action", "register")]);
    fields.push(("_csrf", &csrf));
    let r = browser.post_form(&here, &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    let registered = c.get(&format!("/api/v1/studies/{study}/protocol")).json();
    assert!(registered["registered_at"].is_string());
    assert_eq!(registered["planned_rounds"], 2);
    assert_eq!(registered["analyses"], json!(["priorities", "consensus"]));

    // Registered, the page carries the settings the protocol fixes; changing one is an
    // amendment, which needs a reason: without one nothing changes.
    let page = browser.get(&here);
    assert!(page.body.contains("name=\"priority_threshold\""));
    let mut fields = plan(&[("action", "amend"), ("priority_threshold", "3,5")]);
    fields.push(("_csrf", &csrf));
    let r = browser.post_form(&here, &fields);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("say why it changes"), "{}", r.body);
    assert_eq!(
        c.get(&format!("/api/v1/studies/{study}")).json()["priority_threshold"],
        registered["priority_threshold"]
    );
    let mut fields = plan(&[
        ("action", "amend"),
        ("priority_threshold", "3,5"),
        (
            "amendment_reason",
            "The funder asked for a stricter threshold.",
        ),
    ]);
    fields.push(("_csrf", &csrf));
    let r = browser.post_form(&here, &fields);
    assert_eq!(r.status, 303, "{}", r.body);
    let amended = c.get(&format!("/api/v1/studies/{study}/protocol")).json();
    assert_eq!(
        amended["amendments"][0]["changes"],
        json!(["priority_threshold"])
    );
    assert_eq!(amended["priority_threshold"], 3.5);
    assert_eq!(
        c.get(&format!("/api/v1/studies/{study}")).json()["priority_threshold"],
        3.5
    );
    let page = browser.get(&here);
    assert!(
        page.body
            .contains("The funder asked for a stricter threshold.")
    );
});
