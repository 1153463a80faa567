//! The bad-input catalogue: each kind of bad request gets a clear 4xx, and nothing is stored
//! or half-stored. Markup in every text is escaped on pages and in e-mails; spreadsheet
//! exports do not run formulas.

use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::{add_candidates, mails_to, study};
use crate::rounds::{codebook, deadline_in, open_round, panel};

fn study_count(c: &mut Client) -> usize {
    c.get("/api/v1/studies").json().as_array().unwrap().len()
}

both_backends!(
    malformed_requests_are_refused_and_change_nothing,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let before = study_count(&mut c);

        // An oversized body.
        let big = format!(r#"{{"title": "{}"}}"#, "a".repeat(2 * 1024 * 1024));
        let r = c.post_raw("/api/v1/studies", "application/json", big.as_bytes());
        assert_eq!(r.status, 413, "{}", r.body);
        assert_eq!(r.json()["error"], "payload_too_large", "{}", r.body);
        // Bytes that are not UTF-8.
        let r = c.post_raw(
            "/api/v1/studies",
            "application/json",
            b"{\"title\": \"Caf\xe9\"}",
        );
        assert_eq!(r.status, 400, "{}", r.body);
        // A NUL byte and other control characters in a one-line field.
        let r = c.post_json("/api/v1/studies", &json!({"title": "Før\u{0}efter"}));
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["fields"][0]["field"], "title");
        // JSON nested far deeper than any request needs.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let r = c.post_raw("/api/v1/studies", "application/json", deep.as_bytes());
        assert_eq!(r.status, 400, "{}", r.body);
        // The wrong content type, and a body that is not JSON at all.
        let r = c.post_raw("/api/v1/studies", "text/plain", br#"{"title": "x"}"#);
        assert!(
            r.status == 415 || r.status == 400,
            "{} {}",
            r.status,
            r.body
        );
        let r = c.post_raw("/api/v1/studies", "application/json", b"title=x");
        assert_eq!(r.status, 400, "{}", r.body);
        // A field the API does not know is a mistake, not something to ignore.
        let r = c.post_json("/api/v1/studies", &json!({"title": "Ok", "titel": "typo"}));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("titel"), "{}", r.body);
        // No error reveals the server's insides.
        assert!(!r.body.contains("src/") && !r.body.contains("panicked"));
        assert_eq!(study_count(&mut c), before, "nothing was stored");

        // NUL characters in an address or in an id inside a body: refused alike on both backends.
        let s = c
            .post_json("/api/v1/studies", &json!({"title": "Med NUL"}))
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = c.get(&format!("/api/v1/studies/{s}/coding/agreement?a=x%00y&b=z"));
        assert_eq!(r.status, 400, "{}", r.body);
        let r = c.get(&format!("/api/v1/studies/{s}%00"));
        assert_eq!(r.status, 400, "{}", r.body);
        let r = c.post_json(
            &format!("/api/v1/studies/{s}/invitations"),
            &json!({"candidate_ids": ["a\u{0}b"]}),
        );
        // SQLite finds no such candidate and skips it; PostgreSQL refuses the text. Neither
        // queues anything or fails on its side.
        assert!(
            r.status == 202 || r.status == 422,
            "{} {}",
            r.status,
            r.body
        );
        assert!(r.status == 422 || r.json()["queued"] == 0, "{}", r.body);

        // Tokens: forged, unknown, revoked.
        let r = app
            .client()
            .get(&format!("/api/v1/participation/{}", "A".repeat(43)));
        assert_eq!(r.status, 404);
        let r = app.client().get("/api/v1/participation/short");
        assert_eq!(r.status, 404);
        let mut forged = app.client();
        forged.token = Some("orakel_not-a-real-token".into());
        assert_eq!(forged.get("/api/v1/studies").status, 401);

        // A replayed form without its CSRF token.
        let mut b = app.browser("pages@example.org");
        let r = b.post_form(
            "/studies/new",
            &[("title", "Uden token"), ("language", "da")],
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = b.post_form(
            "/studies/new",
            &[
                ("title", "Forkert token"),
                ("language", "da"),
                ("_csrf", "forged"),
            ],
        );
        assert_eq!(r.status, 403);
        assert_eq!(b.get("/studies").body.matches("Uden token").count(), 0);
    }
);

both_backends!(
    answers_outside_the_scale_are_refused_whole,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 2);
        let themes = codebook(&mut c, &p.study);
        let (_, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        let token = &p.members[0].1;
        let mut expert = app.client();
        // One good answer and one outside 0-4 in the same request: neither is kept.
        for bad in [json!(5), json!(-1), json!(2.5), json!("3")] {
            let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
            &json!({"answers": [{"theme_id": themes[&1], "score": 4}, {"theme_id": themes[&2], "score": bad}]}),
        );
            assert!(
                r.status == 422 || r.status == 400,
                "{bad}: {} {}",
                r.status,
                r.body
            );
        }
        let r = expert.put_json(
        &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
        &json!({"answers": [{"theme_id": themes[&1], "score": 4}, {"theme_id": "not-a-theme", "score": 1}]}),
    );
        assert_eq!(r.status, 422, "{}", r.body);
        let mine = expert
            .get(&format!("/api/v1/participation/{token}/rounds/{number}"))
            .json();
        assert!(
            mine["categories"][0]["themes"][0]["answer"].is_null()
                || mine["categories"][0]["themes"][0]["answer"]["score"].is_null(),
            "nothing half-stored: {mine}"
        );
    }
);

both_backends!(markup_in_any_text_is_shown_as_text, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let s = study(&mut c);
    let script = "<script>alert('x')</script>";
    let img = "<img src=x onerror=alert(1)>";
    let r = c.patch_json(
        &format!("/api/v1/studies/{s}"),
        &json!({"title": format!("Studie {img}"), "purpose": format!("Formål {script}")}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ids = add_candidates(&mut c, &s, 1);
    let r = c.patch_json(
        &format!("/api/v1/candidates/{}", ids[0]),
        &json!({"name": format!("Eva {script}"), "organisation": img}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.post_json(
        &format!("/api/v1/studies/{s}/invitations"),
        &json!({"candidate_ids": ids}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    app.tick();
    // The researcher's pages.
    let mut b = app.browser("pages@example.org");
    c.put_json(
        &format!("/api/v1/studies/{s}/members"),
        &json!({"email": "pages@example.org", "role": "researcher"}),
    );
    for path in [
        format!("/studies/{s}"),
        format!("/studies/{s}/recruitment"),
        format!("/candidates/{}", ids[0]),
        "/studies".to_string(),
    ] {
        let page = b.get(&path);
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains(script) && !page.body.contains(img),
            "{path} shows markup raw"
        );
        assert!(
            page.body.contains("&lt;script&gt;") || page.body.contains("&lt;img"),
            "{path}"
        );
    }
    // The expert's page and the e-mail they were sent.
    let mail = mails_to(app, "expert00@panel.example").pop().unwrap();
    let token = mail.links()[0].clone();
    let page = app.client().get(&format!("/p/{token}"));
    assert!(!page.body.contains(script) && !page.body.contains(img));
    let html = mail.text();
    let html_part = html.split("text/html").nth(1).unwrap_or("");
    assert!(
        !html_part.contains(script) && !html_part.contains(img),
        "{html_part}"
    );
});

both_backends!(spreadsheet_exports_do_not_run_formulas, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    let themes = codebook(&mut c, &p.study);
    // A theme title written as a formula, as someone might paste it.
    let formula = "=HYPERLINK(\"http://evil.example\",\"klik\")";
    let r = c.patch_json(
        &format!("/api/v1/themes/{}", themes[&1]),
        &json!({"title": formula, "reason": "test"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    for (_, token, _) in &p.members {
        let r = app.client().put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
            &json!({"answers": [{"theme_id": themes[&1], "score": 4}], "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let (status, zip) = c.get_bytes(&format!("/api/v1/studies/{}/report.zip", p.study));
    assert_eq!(status, 200);
    let all: String = crate::report::unzip(&zip)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(
        all.contains("'=HYPERLINK"),
        "the formula is neutralised in the CSV: {all}"
    );
    assert!(
        !all.contains(",=HYPERLINK") && !all.contains("\"=HYPERLINK"),
        "{all}"
    );
    let (_, xlsx) = c.get_bytes(&format!("/api/v1/studies/{}/report.xlsx", p.study));
    let sheets: String = crate::report::unzip(&xlsx)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(
        sheets.contains("HYPERLINK"),
        "the title is in the workbook as text"
    );
    assert!(!sheets.contains("<f>"), "no formula cell in the workbook");
});
