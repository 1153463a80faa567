//! The funder's report: the reference study's figures to the last digit, every format, funder
//! links, the small-cell policy, formula injection, and no identities anywhere.

use std::io::Read;
use std::process::Command;

use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel, scores_of};

/// The reference study's round: 12 panellists, 13 themes, 9 answer with the demo scores.
pub fn reference(app: &TestApp) -> (Client, String, Vec<String>) {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 12);
    c.patch_json(
        &format!("/api/v1/studies/{}", p.study),
        &json!({"funder": "Norliv", "small_cell_threshold": 3}),
    );
    let themes = codebook(&mut c, &p.study);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "validation": true, "rating": true, "closes_at": deadline_in(Duration::days(7))}),
    );
    let mut expert = app.client();
    for j in 0..9 {
        let mut answers = scores_of(&themes, j);
        if j == 0 {
            answers[0]["comment"] = json!("Early action is what matters most.");
        }
        if j == 1 {
            answers[0]["comment"] = json!("Expert One's private remark");
        }
        let r = expert.put_json(
            &format!(
                "/api/v1/participation/{}/rounds/{number}/answers",
                p.members[j].1
            ),
            &json!({"answers": answers, "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // One comment is cleared for the report.
    let resp = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
    let cleared = resp["themes"][0]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["comment"] == "Early action is what matters most.")
        .unwrap()["answer_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.put_json(
            &format!("/api/v1/answers/{cleared}/cleared"),
            &json!({"cleared": true})
        )
        .status,
        204
    );
    assert_eq!(
        c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}))
            .status,
        200
    );
    let names: Vec<String> = c
        .get(&format!(
            "/api/v1/studies/{}/candidates?limit=1000",
            p.study
        ))
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| {
            [
                x["name"].as_str().unwrap().to_string(),
                x["email"].as_str().unwrap().to_string(),
                x["pseudonym"].as_str().unwrap_or("E??").to_string(),
            ]
        })
        .collect();
    (c, p.study, names)
}

fn expected() -> Vec<Vec<String>> {
    include_str!("../data/demo-expected.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

both_backends!(
    the_report_reproduces_the_reference_figures,
    |app: &TestApp| {
        let (mut c, study, _) = reference(app);
        let r = c.get(&format!("/api/v1/studies/{study}/report"));
        assert_eq!(r.status, 200, "{}", r.body);
        let rep = r.json();
        assert_eq!(rep["round"]["number"], 1);
        assert!(rep["round"]["closed_at"].is_string());
        assert_eq!(rep["flow"]["identified"], 12);
        assert_eq!(rep["flow"]["accepted"], 12);
        assert_eq!(rep["flow"]["responded"], 9);
        assert!(rep["consensus_rule"]["locked_at"].is_string());
        assert_eq!(rep["consensus_rule"]["share_percent"], 70.0);
        let themes = rep["themes"].as_array().unwrap();
        assert_eq!(themes.len(), 13);
        for e in expected() {
            let n: i64 = e[0].parse().unwrap();
            let t = themes.iter().find(|t| t["number"] == n).unwrap();
            let close = |k: &str, i: usize| {
                let got = t[k]
                    .as_f64()
                    .unwrap_or_else(|| panic!("theme {n} {k} missing"));
                let want: f64 = e[i].parse().unwrap();
                assert!((got - want).abs() < 1e-4, "theme {n} {k}: {got} != {want}");
            };
            assert_eq!(t["n"], 9);
            for (k, i) in [
                ("mean", 2),
                ("median", 4),
                ("q1", 5),
                ("q3", 6),
                ("iqr", 7),
                ("sd", 8),
                ("pct_top2", 14),
                ("pct_bottom2", 15),
            ] {
                close(k, i);
            }
            assert_eq!(
                t["mean_display"],
                e[3].replace('.', ","),
                "theme {n}: shown with a decimal comma"
            );
            let counts: Vec<i64> = (9..14).map(|i| e[i].parse().unwrap()).collect();
            assert_eq!(t["counts"], json!(counts));
        }
        let table3: Vec<&str> = themes
            .iter()
            .map(|t| t["mean_display"].as_str().unwrap())
            .collect();
        assert_eq!(
            table3,
            [
                "3,8", "3,6", "3,0", "3,1", "1,9", "2,8", "2,1", "2,8", "3,2", "2,1", "3,0", "2,3",
                "2,1"
            ]
        );
        let high: Vec<i64> = themes
            .iter()
            .filter(|t| t["consensus"] == "high")
            .map(|t| t["number"].as_i64().unwrap())
            .collect();
        assert_eq!(high, [1, 2, 3, 4, 9]);
        assert!(themes.iter().all(|t| t["consensus"] != "low"));
        let priority: Vec<i64> = themes
            .iter()
            .filter(|t| t["meets_priority"] == true)
            .map(|t| t["number"].as_i64().unwrap())
            .collect();
        assert_eq!(priority, [1, 2, 3, 4, 9, 11]);
        assert_eq!(themes[0]["rank"], 1);
        let k = &rep["kendall"];
        assert_eq!(
            (
                k["raters"].as_i64(),
                k["objects"].as_i64(),
                k["df"].as_i64()
            ),
            (Some(9), Some(13), Some(12))
        );
        assert!((k["w"].as_f64().unwrap() - 0.337665).abs() < 1e-6);
        assert!((k["chi2"].as_f64().unwrap() - 36.4678).abs() < 1e-4);
        assert!((k["p"].as_f64().unwrap() - 0.000272).abs() < 1e-6);
        assert!(rep["stability"].is_null());
        let findings: Vec<&str> = rep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(
            findings.contains(&"9 af 12 paneldeltagere (75 %) besvarede runde 1."),
            "{findings:#?}"
        );
        assert!(
            findings.iter().any(|f| f
                .starts_with("5 af de 13 temaer opnåede konsensus om en høj vurdering")
                && f.ends_with("tema 1, 2, 3, 4 og 9.")),
            "{findings:#?}"
        );
        assert!(findings.contains(&"Intet tema opnåede konsensus om en lav vurdering."));
        assert!(findings.contains(&"Tema 1 og 2 blev placeret i den højeste kategori af mindst to tredjedele af panelet."), "{findings:#?}");
        assert!(findings.contains(&"Alle temaer blev placeret i en af de to højeste kategorier af mindst to paneldeltagere."));
        assert!(findings.contains(&"6 temaer nåede et gennemsnit på 3 eller mere og er panelets prioriteter: tema 1, 2, 3, 4, 9 og 11."), "{findings:#?}");
        assert!(
            findings
                .iter()
                .any(|f| f.contains("moderat (Kendalls W = 0,338")),
            "{findings:#?}"
        );
        // The same in English on request.
        let en = c
            .get(&format!("/api/v1/studies/{study}/report?lang=en"))
            .json();
        assert_eq!(en["themes"][0]["mean_display"], "3.8");
        assert!(
            en["findings"][0]
                .as_str()
                .unwrap()
                .starts_with("9 of the 12 panellists")
        );
        // Only the cleared comment, and without attribution.
        assert_eq!(
            rep["comments"],
            json!([{"theme_number": 1, "text": "Early action is what matters most."}])
        );
        assert_eq!(
            c.get(&format!("/api/v1/studies/{study}/report?round=7"))
                .status,
            404
        );
    }
);

pub fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut s = String::new();
            let _ = f.read_to_string(&mut s);
            (f.name().map(|n| n.to_string()).unwrap_or_default(), s)
        })
        .collect()
}

pub fn get_bytes(app: &TestApp, c: &Client, path: &str) -> (u16, String, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut req = agent.get(&format!("{}{path}", app.base));
    if let Some(t) = &c.token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp
        .body_mut()
        .with_config()
        .limit(100 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    (status, ct, body)
}

/// Page count and text of a PDF, through poppler's tools; None when they are not installed.
pub fn pdf_text(bytes: &[u8]) -> Option<(usize, String)> {
    let dir = std::env::temp_dir().join(format!("orakel-pdf-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("r.pdf");
    std::fs::write(&pdf, bytes).unwrap();
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .ok()?;
    // Render every page to PNG, as a reader would see it.
    let png = Command::new("pdftoppm")
        .args(["-png", "-r", "50"])
        .arg(&pdf)
        .arg(dir.join("page"))
        .status()
        .ok()?;
    assert!(png.success(), "pdftoppm could not render the PDF");
    let pages = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    let _ = std::fs::remove_dir_all(&dir);
    Some((pages, String::from_utf8_lossy(&text.stdout).to_string()))
}

both_backends!(every_format_opens_and_holds_the_figures, |app: &TestApp| {
    let (c, study, names) = reference(app);
    let base = format!("/api/v1/studies/{study}/report");
    let (s, ct, csv) = get_bytes(app, &c, &format!("{base}.csv"));
    assert_eq!((s, ct.as_str()), (200, "text/csv; charset=utf-8"));
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.starts_with('\u{feff}'),
        "a byte-order mark for spreadsheets"
    );
    let first = csv.lines().nth(1).unwrap();
    assert!(
        first.starts_with(
            "1,A,Early action at the workplace,9,0,3.7777777777777777,\"3,8\",4,4,4,0,"
        ),
        "{first}"
    );
    let (_, _, flow) = get_bytes(app, &c, &format!("{base}.csv?table=flow"));
    assert!(
        String::from_utf8(flow).unwrap().contains("accepted,12"),
        "the machine CSV codes the stages"
    );
    // The spreadsheet CSV of a Danish study: Danish headers and words, `;` between fields,
    // decimal commas, figures rounded as the report shows them.
    let (s, _, sheet) = get_bytes(app, &c, &format!("{base}.csv?for=spreadsheet"));
    assert_eq!(s, 200);
    let sheet = String::from_utf8(sheet).unwrap();
    let mut lines = sheet.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with(
            "\u{feff}Tema;Kategori;Titel;Gyldige svar (n);Ved ikke;Gennemsnit;Median;"
        ),
        "{header}"
    );
    assert!(!header.contains("mean"), "{header}");
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("1;A;Early action at the workplace;9;0;3,8;4;4;4;0;"),
        "{first}"
    );
    let (_, _, flow) = get_bytes(app, &c, &format!("{base}.csv?table=flow&for=spreadsheet"));
    assert!(String::from_utf8(flow).unwrap().contains("Takket ja;12"));
    assert_eq!(
        get_bytes(app, &c, &format!("{base}.csv?for=everyone")).0,
        422
    );
    let (_, _, z) = get_bytes(app, &c, &format!("{base}.zip?for=spreadsheet"));
    let (_, kendall) = unzip(&z)
        .into_iter()
        .find(|(n, _)| n == "kendall.csv")
        .unwrap();
    assert!(
        kendall.contains("Bedømmere;Udeladte bedømmere;Temaer;W;χ²;Frihedsgrader;p"),
        "{kendall}"
    );
    assert_eq!(
        get_bytes(app, &c, &format!("{base}.csv?table=nothing")).0,
        422
    );
    let (s, _, z) = get_bytes(app, &c, &format!("{base}.zip"));
    assert_eq!(s, 200);
    let files: Vec<String> = unzip(&z).into_iter().map(|(n, _)| n).collect();
    for f in [
        "priorities.csv",
        "flow.csv",
        "composition.csv",
        "findings.csv",
        "kendall.csv",
    ] {
        assert!(files.contains(&f.to_string()), "{files:?}");
    }
    let (s, ct, xlsx) = get_bytes(app, &c, &format!("{base}.xlsx"));
    assert_eq!(s, 200);
    assert!(ct.contains("spreadsheetml"));
    let parts = unzip(&xlsx);
    let workbook = &parts
        .iter()
        .find(|(n, _)| n == "xl/workbook.xml")
        .unwrap()
        .1;
    assert!(workbook.contains("Prioriteter") && workbook.contains("Deltagerflow"));
    let sheet1 = &parts
        .iter()
        .find(|(n, _)| n == "xl/worksheets/sheet1.xml")
        .unwrap()
        .1;
    assert!(
        sheet1.contains("<v>3.7777777777777777</v>"),
        "means are numbers, not text"
    );
    // For people: headers in the report's language, no machine columns, a mean shown with one
    // decimal by its number format (the spreadsheet shows the reader's decimal mark).
    let strings = &parts
        .iter()
        .find(|(n, _)| n == "xl/sharedStrings.xml")
        .unwrap()
        .1;
    for label in [
        "Gennemsnit",
        "Gyldige svar (n)",
        "Antal der gav 4",
        "Ja, høj vurdering",
        "Takket ja",
        "Kendalls W",
    ] {
        assert!(
            strings.contains(label) || workbook.contains(label),
            "{label} in {strings}"
        );
    }
    for key in ["mean_display", "pct_top2", "count_0", ">theme<", ">high<"] {
        assert!(!strings.contains(key), "{key} in {strings}");
    }
    let styles = &parts.iter().find(|(n, _)| n == "xl/styles.xml").unwrap().1;
    assert!(styles.contains("formatCode=\"0.0\""), "{styles}");
    let (s, ct, pdf) = get_bytes(app, &c, &format!("{base}.pdf"));
    assert_eq!((s, ct.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    // For looking at the layout: ORAKEL_REPORT_PDF_OUT=/tmp/r.pdf keeps a copy.
    if let Ok(out) = std::env::var("ORAKEL_REPORT_PDF_OUT") {
        std::fs::write(out, &pdf).unwrap();
    }
    match pdf_text(&pdf) {
        Some((pages, text)) => {
            assert!(pages >= 2, "{pages} pages");
            for want in [
                "Temaerne efter panelets vurdering",
                "panelet nåede konsensus om en høj vurdering",
                "Tallene for hvert tema",
                "3,8",
                "3,6",
                "1,9",
                "Kendalls W = 0,338",
                "Metode",
                "Sammenfatning",
            ] {
                assert!(text.contains(want), "the PDF lacks {want:?}:\n{text}");
            }
            for n in &names {
                assert!(!text.contains(n.as_str()), "the PDF names {n}");
            }
        }
        None if std::env::var("ORAKEL_REQUIRE_PDF_TOOLS").as_deref() == Ok("1") => {
            panic!("pdftotext/pdftoppm (poppler-utils) are required")
        }
        None => eprintln!(
            "PDF pages not rendered: pdftoppm and pdftotext (poppler-utils) are not installed"
        ),
    }
    let (s, _, html) = get_bytes(app, &c, &format!("{base}.html"));
    assert_eq!(s, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("<svg") && html.contains("3,8"));
    for n in &names {
        for body in [&html, &csv] {
            assert!(!body.contains(n.as_str()), "a report names {n}");
        }
    }
    assert!(
        !html.contains("Expert One's private remark"),
        "uncleared comments stay out"
    );
});

both_backends!(
    funder_links_show_the_report_and_nothing_else,
    |app: &TestApp| {
        let (mut c, study, names) = reference(app);
        let r = c.post_json(
            &format!("/api/v1/studies/{study}/report-links"),
            &json!({"label": "Norliv board"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let url = r.json()["url"].as_str().unwrap().to_string();
        let link_id = r.json()["id"].as_str().unwrap().to_string();
        let token = url.rsplit('/').next().unwrap().to_string();
        let mut funder = app.client();
        let page = funder.get(&format!("/f/{token}"));
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("3,8") && page.body.contains("Temaerne efter panelets vurdering")
        );
        assert!(
            page.body.contains("&lt;3"),
            "small cells are hidden from the funder"
        );
        for n in &names {
            assert!(
                !page.body.contains(n.as_str()),
                "the funder's page names {n}"
            );
        }
        for ext in ["pdf", "xlsx", "csv", "zip"] {
            let (s, _, _) = get_bytes(app, &funder, &format!("/f/{token}/report.{ext}"));
            assert_eq!(s, 200, "{ext}");
        }
        // The funder's token opens nothing else.
        assert_eq!(funder.get(&format!("/p/{token}")).status, 404);
        assert_eq!(
            funder.get(&format!("/api/v1/participation/{token}")).status,
            404
        );
        funder.token = Some(token.clone());
        assert_eq!(funder.get(&format!("/api/v1/studies/{study}")).status, 401);
        assert_eq!(
            funder
                .get(&format!("/api/v1/studies/{study}/report"))
                .status,
            401
        );
        funder.token = None;
        // Revoked: gone, and indistinguishable from a link that never existed.
        assert_eq!(
            c.delete(&format!("/api/v1/report-links/{link_id}")).status,
            204
        );
        let gone = funder.get(&format!("/f/{token}"));
        assert_eq!(gone.status, 404);
        assert_eq!(
            gone.body,
            funder
                .get(&format!("/f/{}", orakel::ops::secret::new_token()))
                .body
        );
        // An expired link stops working too.
        let expiring = c
            .post_json(
                &format!("/api/v1/studies/{study}/report-links"),
                &json!({"expires_at": (chrono::Utc::now() + Duration::seconds(2)).to_rfc3339()}),
            )
            .json();
        let t2 = expiring["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(funder.get(&format!("/f/{t2}")).status, 200);
        std::thread::sleep(std::time::Duration::from_millis(2500));
        assert_eq!(funder.get(&format!("/f/{t2}")).status, 404);
    }
);

both_backends!(
    small_cells_are_released_only_by_a_researcher_and_logged,
    |app: &TestApp| {
        let (mut c, study, _) = reference(app);
        let rep = c.get(&format!("/api/v1/studies/{study}/report")).json();
        let comp = &rep["composition"];
        assert_eq!(comp["column_attribute"], "sector");
        assert_eq!(comp["any_suppressed"], true);
        // Researchers see the hidden counts, marked; a funder link shows none of them.
        let cell = comp["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["cells"].as_array().unwrap().clone())
            .find(|c| c["suppressed"] == "primary" && c["count"].as_u64().unwrap_or(0) > 0)
            .expect("a small cell")
            .clone();
        assert!(cell["count"].is_number());
        let r = c.put_json(&format!("/api/v1/studies/{study}/releases"), &json!({"table_key": comp["table_key"], "cell_key": cell["key"], "released": true, "reason": "They agreed"}));
        assert_eq!(r.status, 204, "{}", r.body);
        let rep = c.get(&format!("/api/v1/studies/{study}/report")).json();
        let same = rep["composition"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["cells"].as_array().unwrap().clone())
            .find(|c| c["key"] == cell["key"])
            .unwrap();
        assert_eq!(same["released"], true);
        use diesel::prelude::*;
        use orakel::db::schema::audit_log;
        let mut conn = app.conn();
        let logged: i64 = audit_log::table
            .filter(audit_log::action.eq("small_cell.released"))
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(logged, 1);
        assert_eq!(
            c.put_json(
                &format!("/api/v1/studies/{study}/releases"),
                &json!({"table_key": "users", "cell_key": "x", "released": true})
            )
            .status,
            422
        );
    }
);

both_backends!(spreadsheet_formulas_are_neutralised, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    let cat = c
        .post_json(
            &format!("/api/v1/studies/{}/categories", p.study),
            &json!({"code": "A", "title": "@SUM(1)"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = c.post_json(&format!("/api/v1/studies/{}/themes", p.study), &json!({"category_id": cat, "number": 1, "title": "=HYPERLINK(\"http://evil.example\",\"x\")"})).json()["id"].as_str().unwrap().to_string();
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(2))}),
    );
    let mut e = app.client();
    e.put_json(
        &format!(
            "/api/v1/participation/{}/rounds/{number}/answers",
            p.members[0].1
        ),
        &json!({"answers": [{"theme_id": t, "score": 3}]}),
    );
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let (_, _, csv) = get_bytes(app, &c, &format!("/api/v1/studies/{}/report.csv", p.study));
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    let (_, _, xlsx) = get_bytes(app, &c, &format!("/api/v1/studies/{}/report.xlsx", p.study));
    let parts = unzip(&xlsx);
    let styles = &parts.iter().find(|(n, _)| n == "xl/styles.xml").unwrap().1;
    assert!(
        styles.contains("quotePrefix=\"1\""),
        "text that looks like a formula is stored quoted"
    );
});

both_backends!(the_participant_flow_adds_up, |app: &TestApp| {
    use crate::recruitment::{add_candidates, latest_link};
    let mut c = app.api("flow@example.org");
    let study = crate::recruitment::study(&mut c);
    let ids = add_candidates(&mut c, &study, 6);
    let r = c.post_json(
        &format!("/api/v1/studies/{study}/invitations"),
        &json!({"candidate_ids": ids}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    app.tick();
    let mut expert = app.client();
    // Three accept, one declines, two do not answer (yet).
    for i in 0..4 {
        let token = latest_link(app, &format!("expert{i:02}@panel.example"));
        let r = expert.post_json(
            &format!("/api/v1/participation/{token}/consent"),
            &json!({"accept": i < 3}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    codebook(&mut c, &study);
    let (round, _) = open_round(
        &mut c,
        &study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    let adds_up = |f: &serde_json::Value| {
        let n = |k: &str| f[k].as_u64().unwrap();
        assert_eq!(
            n("invited"),
            n("accepted") + n("declined") + n("no_reply") + n("withdrawn") + n("waiting"),
            "{f}"
        );
    };
    // While the round is open the two are waiting.
    let open = c.get(&format!("/api/v1/studies/{study}/report")).json();
    let f = &open["flow"];
    assert_eq!(
        (
            f["invited"].as_u64(),
            f["waiting"].as_u64(),
            f["no_reply"].as_u64()
        ),
        (Some(6), Some(2), Some(0)),
        "{f}"
    );
    adds_up(f);
    // Once it has closed they did not answer, in every format the funder gets.
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let closed = c
        .get(&format!("/api/v1/studies/{study}/report?view=funder"))
        .json();
    let f = &closed["flow"];
    assert_eq!(
        (f["waiting"].as_u64(), f["no_reply"].as_u64()),
        (Some(0), Some(2)),
        "{f}"
    );
    adds_up(f);
    let (_, _, csv) = get_bytes(
        app,
        &c,
        &format!("/api/v1/studies/{study}/report.csv?table=flow&view=funder"),
    );
    assert!(String::from_utf8(csv).unwrap().contains("no_reply,2"));
});
