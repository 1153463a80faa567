//! What a funder can see: nothing below k, no open round, the panel's composition and declines.

use super::*;

// ---------------------------------------------------------------------------------------------
// 2, 3. What a funder can see

/// A closed round in which theme 1 was scored by two panellists only (k = 3), and the funder
/// link's token.
fn a_round_with_a_small_theme(app: &TestApp) -> (Client, String, String, String) {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 4);
    let themes = codebook(&mut c, &p.study);
    let (round, n) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    for (i, m) in p.members.iter().take(3).enumerate() {
        let answers: Vec<Value> = themes
            .iter()
            .filter(|(number, _)| **number != 1 || i < 2)
            .map(|(number, id)| json!({"theme_id": id, "score": (number + i as i32) % 5}))
            .collect();
        let r = app.client().put_json(
            &format!("/api/v1/participation/{}/rounds/{n}/answers", m.1),
            &json!({"answers": answers, "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let link = c
        .post_json(
            &format!("/api/v1/studies/{}/report-links", p.study),
            &json!({"label": "Funder"}),
        )
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = link.rsplit('/').next().unwrap().to_string();
    (c, p.study, round, token)
}

both_backends!(
    a_funder_sees_nothing_below_k_and_no_open_round,
    |app: &TestApp| {
        let (mut c, study, round, token) = a_round_with_a_small_theme(app);
        let mut funder = app.client();
        // While the round is open there is nothing for the funder, in any format.
        for path in [
            format!("/f/{token}"),
            format!("/f/{token}?round=1"),
            format!("/f/{token}/report.csv"),
            format!("/f/{token}/report.pdf?round=1"),
        ] {
            let r = funder.get(&path);
            assert_eq!(r.status, 409, "{path}: {}", r.body);
            assert!(!r.body.contains("E0"), "{path}");
        }
        assert_eq!(
            c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}))
                .status,
            200
        );
        // Closed: the report, with theme 1 as "fewer than 3" and no figure for it anywhere.
        let page = funder.get(&format!("/f/{token}"));
        assert_eq!(page.status, 200, "{}", page.body);
        let row = page
            .body
            .split("<tr")
            .find(|r| r.contains("theme-number\">A1<"))
            .unwrap()
            .to_string();
        assert!(row.contains("færre end 3"), "{row}");
        assert!(!row.contains("<svg"), "no distribution: {row}");
        // For scripts the theme is coded `hidden`; for spreadsheets it says so in Danish.
        for (table, dialect, sep, hidden) in [
            ("priorities", "scripts", ',', "hidden"),
            ("priorities", "spreadsheet", ';', "færre end 3"),
            ("stability", "scripts", ',', ""),
        ] {
            let (s, _, bytes) = get_bytes(
                app,
                &funder,
                &format!("/f/{token}/report.csv?table={table}&for={dialect}"),
            );
            if table == "stability" {
                assert_ne!(s, 500);
                continue;
            }
            assert_eq!(s, 200);
            let csv = String::from_utf8(bytes).unwrap();
            let line = csv
                .lines()
                .find(|l| l.starts_with(&format!("1{sep}")))
                .unwrap()
                .to_string();
            let cells: Vec<&str> = line.split(sep).collect();
            assert_eq!(cells[3], hidden, "{line}");
            assert!(
                cells[4..].iter().all(|x| x.is_empty()),
                "no statistic, count or rank: {line}"
            );
        }
        let (s, _, xlsx) = get_bytes(app, &funder, &format!("/f/{token}/report.xlsx"));
        assert_eq!(s, 200);
        let sheets = crate::report::unzip(&xlsx);
        assert!(
            sheets.iter().any(|(_, x)| x.contains("færre end 3")),
            "the workbook says fewer than 3"
        );
        let (s, _, pdf) = get_bytes(app, &funder, &format!("/f/{token}/report.pdf"));
        assert_eq!(s, 200);
        if let Some((_, text)) = crate::report::pdf_text(&pdf) {
            assert!(text.contains("færre end 3"), "{text}");
        }
        // The researchers' copy for the funder is the funder's, and their own view marks it.
        let theirs = c
            .get(&format!("/api/v1/studies/{study}/report?view=funder"))
            .json();
        let t1 = &theirs["themes"][0];
        assert_eq!(t1["hidden"], true);
        assert!(t1["mean"].is_null() && t1["rank"].is_null(), "{t1}");
        assert_eq!(t1["counts"], json!([]));
        assert_eq!(t1["n"], 0);
        let own = c.get(&format!("/api/v1/studies/{study}/report")).json();
        assert_eq!(own["themes"][0]["n"], 2);
        assert_eq!(own["themes"][0]["hidden"], true);
        assert!(own["themes"][0]["rank"].is_null());
        assert_eq!(own["themes"][0]["consensus"], "none");
        assert_eq!(own["kendall"]["objects"], 12, "W leaves theme 1 out");
        assert!(
            own["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.as_str().unwrap().contains("færre end 3")),
            "the summary says so: {}",
            own["findings"]
        );
    }
);

both_backends!(
    a_funder_cannot_watch_the_next_round_move,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 4);
        let themes = codebook(&mut c, &p.study);
        let score = |app: &TestApp, n: i64, m: &(String, String, String), s: i32| {
            let answers: Vec<Value> = themes
                .values()
                .map(|id| json!({"theme_id": id, "score": s}))
                .collect();
            let r = app.client().put_json(
                &format!("/api/v1/participation/{}/rounds/{n}/answers", m.1),
                &json!({"answers": answers}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        };
        let (r1, n1) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        for (i, m) in p.members.iter().enumerate() {
            score(app, n1, m, i as i32 % 5);
        }
        c.post_json(&format!("/api/v1/rounds/{r1}/close"), &json!({}));
        let (_, n2) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "feedback": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        let link = c
            .post_json(
                &format!("/api/v1/studies/{}/report-links", p.study),
                &json!({}),
            )
            .json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let token = link.rsplit('/').next().unwrap().to_string();
        let mut funder = app.client();
        let fetch = |funder: &mut Client| {
            ["priorities", "flow", "composition"]
                .map(|t| funder.get(&format!("/f/{token}/report.csv?table={t}")).body)
        };
        let before = fetch(&mut funder);
        assert!(before[0].contains("mean"));
        // One expert saves in the open round, another withdraws: the funder sees no change.
        score(app, n2, &p.members[0], 4);
        let w = c.post_json(
            &format!("/api/v1/candidates/{}/withdraw", p.members[1].0),
            &json!({"reason": "left"}),
        );
        assert_eq!(w.status, 200, "{}", w.body);
        assert_eq!(fetch(&mut funder), before);
        assert_eq!(funder.get(&format!("/f/{token}?round={n2}")).status, 409);
    }
);

// ---------------------------------------------------------------------------------------------
// 6, 7. Composition and declines as the funder sees them

both_backends!(
    hidden_counts_cannot_be_worked_out_and_reasons_stay_with_researchers,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let sid = c
            .post_json(
                "/api/v1/studies",
                &json!({"title": "Sammensætning", "language": "da", "small_cell_threshold": 3}),
            )
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        c.put_json(
            &format!("/api/v1/studies/{sid}/strata"),
            &json!([
                {"key": "side", "label": "Side", "values": ["Arbejdsgiver", "Lønmodtager"]},
                {"key": "gender", "label": "Køn", "values": ["Kvinde", "Mand", "Andet"]}
            ]),
        );
        // 7 accepted: women 3, men 3, other 1; and one who declines in their own words.
        let people = [
            ("Kvinde", "Arbejdsgiver"),
            ("Kvinde", "Lønmodtager"),
            ("Kvinde", "Lønmodtager"),
            ("Mand", "Arbejdsgiver"),
            ("Mand", "Arbejdsgiver"),
            ("Mand", "Lønmodtager"),
            ("Andet", "Lønmodtager"),
            ("Mand", "Lønmodtager"),
        ];
        let mut ids = Vec::new();
        for (i, (g, side)) in people.iter().enumerate() {
            let r = c.post_json(
                &format!("/api/v1/studies/{sid}/candidates"),
                &json!({"name": format!("Person {i}"), "email": format!("p{i}@panel.example"), "strata": {"gender": g, "side": side}}),
            );
            ids.push(r.json()["id"].as_str().unwrap().to_string());
        }
        c.post_json(
            &format!("/api/v1/studies/{sid}/invitations"),
            &json!({"candidate_ids": ids}),
        );
        app.tick();
        let mut expert = app.client();
        for i in 0..people.len() {
            let token = latest_link(app, &format!("p{i}@panel.example"));
            let body = if i == 7 {
                json!({"accept": false, "reason": "Min chef siger nej", "reason_category": "busy"})
            } else {
                json!({"accept": true})
            };
            let r = expert.post_json(&format!("/api/v1/participation/{token}/consent"), &body);
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let themes = codebook(&mut c, &sid);
        let (round, n) = open_round(
            &mut c,
            &sid,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        for i in 0..7 {
            let token = latest_link(app, &format!("p{i}@panel.example"));
            let answers: Vec<Value> = themes
                .values()
                .map(|id| json!({"theme_id": id, "score": 3}))
                .collect();
            expert.put_json(
                &format!("/api/v1/participation/{token}/rounds/{n}/answers"),
                &json!({"answers": answers}),
            );
        }
        c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
        let url = c
            .post_json(&format!("/api/v1/studies/{sid}/report-links"), &json!({}))
            .json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let token = url.rsplit('/').next().unwrap().to_string();
        let mut funder = app.client();
        let page = funder.get(&format!("/f/{token}"));
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("&amp;lt;"), "escaped once");
        assert!(!page.body.contains("Min chef"), "no free-text reason");
        assert!(page.body.contains("Jeg har ikke tid lige nu (1)"));
        let csv = funder
            .get(&format!("/f/{token}/report.csv?table=composition"))
            .body;
        // Row totals: "Andet" (1) is hidden, and so is another, so neither follows from 7.
        let totals: Vec<String> = csv
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("gender,"))
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect();
        assert_eq!(totals.len(), 3, "{csv}");
        let hidden = totals
            .iter()
            .filter(|t| t.parse::<usize>().is_err())
            .count();
        assert!(hidden >= 2, "a lone hidden total is recoverable: {csv}");
        for line in csv.lines().skip(1) {
            let hidden = line
                .split(',')
                .skip(2)
                .filter(|x| x.parse::<usize>().is_err())
                .count();
            assert_ne!(hidden, 1, "a lone hidden cell in a row: {line}");
        }
        // A withdrawal after the round closed does not move what the funder sees of it.
        c.post_json(
            &format!("/api/v1/candidates/{}/withdraw", ids[6]),
            &json!({"reason": "left"}),
        );
        assert_eq!(
            funder
                .get(&format!("/f/{token}/report.csv?table=composition"))
                .body,
            csv
        );
        // Researchers keep the words.
        let own = c.get(&format!("/api/v1/studies/{sid}/report")).json();
        assert_eq!(own["flow"]["decline_reasons"]["Min chef siger nej"], 1);
        assert_eq!(own["flow"]["decline_categories"]["busy"], 1);
    }
);
