//! Studies: creation with defaults, validation, updates, isolation between teams, members.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(a_study_is_created_and_read_back, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let r = c.post_json(
        "/api/v1/studies",
        &json!({"title": "Norliv Delphi", "language": "da"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let s = r.json();
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/studies/{id}").as_str())
    );
    assert_eq!(s["scale"]["min"], 0);
    assert_eq!(s["scale"]["max"], 4);
    assert_eq!(s["scale"]["dont_know"], true);
    assert_eq!(s["consensus"]["share_percent"], 70.0);
    assert_eq!(s["consensus"]["points"], 2);
    assert_eq!(s["consensus"]["max_iqr"], 1.0);
    assert!(s["consensus"]["locked_at"].is_null());
    assert_eq!(s["min_group_size"], 3);
    assert_eq!(s["priority_threshold"], 3.0);
    assert_eq!(s["role"], "owner");
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));

    let got = c.get(&format!("/api/v1/studies/{id}")).json();
    assert_eq!(got, s);
    let list = c.get("/api/v1/studies").json();
    assert_eq!(list.as_array().unwrap().len(), 1);
});

both_backends!(
    invalid_settings_are_422_naming_the_field,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let cases = [
            (json!({"title": ""}), "title"),
            (json!({"language": "da"}), "title"),
            (json!({"title": "x", "language": "de"}), "language"),
            (json!({"title": "x", "min_group_size": 0}), "min_group_size"),
            (
                json!({"title": "x", "priority_threshold": 7}),
                "priority_threshold",
            ),
            (
                json!({"title": "x", "scale": {"min": 3, "max": 1, "low_label": "a", "high_label": "b", "dont_know": false}}),
                "scale.max",
            ),
            (
                json!({"title": "x", "consensus": {"share_percent": 30, "points": 2, "max_iqr": 1}}),
                "consensus.share_percent",
            ),
            (
                json!({"title": "x", "reminder_days": [10, 5]}),
                "reminder_days",
            ),
        ];
        for (body, field) in cases {
            let r = c.post_json("/api/v1/studies", &body);
            assert_eq!(r.status, 422, "{body} -> {} {}", r.status, r.body);
            let fields: Vec<String> = r.json()["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_string())
                .collect();
            assert!(fields.contains(&field.to_string()), "{body}: {fields:?}");
            assert!(r.json()["message"].as_str().unwrap().contains(field));
        }
        // Malformed bodies are 400s that say why; unknown fields are refused, not ignored.
        let r = c.post_raw("/api/v1/studies", "application/json", b"{\"title\": ");
        assert_eq!(r.status, 400);
        let r = c.post_json("/api/v1/studies", &json!({"title": "x", "colour": "red"}));
        assert_eq!(r.status, 400);
        assert!(r.json()["message"].as_str().unwrap().contains("colour"));
        let r = c.post_raw("/api/v1/studies", "text/plain", b"title=x");
        assert_eq!(r.status, 415);
        assert!(
            c.get("/api/v1/studies")
                .json()
                .as_array()
                .unwrap()
                .is_empty(),
            "nothing was stored"
        );
    }
);

both_backends!(settings_are_updated_and_validated, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let id = c
        .post_json("/api/v1/studies", &json!({"title": "Before"}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/studies/{id}");
    let r = c.patch_json(&path, &json!({
        "title": "After", "language": "en", "min_group_size": 4, "retention_until": "2030-06-30",
        "scale": {"min": 1, "max": 5, "low_label": "Low", "high_label": "High", "dont_know": false},
        "consensus": {"share_percent": 75, "points": 2, "max_iqr": 1.5}
    }));
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.json();
    assert_eq!(s["title"], "After");
    assert_eq!(s["language"], "en");
    assert_eq!(s["scale"]["max"], 5);
    assert_eq!(s["consensus"]["share_percent"], 75.0);
    assert_eq!(s["retention_until"], "2030-06-30");
    // A bad change leaves everything as it was.
    let r = c.patch_json(
        &path,
        &json!({"title": "Changed", "priority_threshold": 0.5}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(c.get(&path).json()["title"], "After");
    // null clears the retention date; absent keeps it.
    assert_eq!(
        c.patch_json(&path, &json!({"title": "Again"})).json()["retention_until"],
        "2030-06-30"
    );
    assert!(
        c.patch_json(&path, &json!({"retention_until": null}))
            .json()["retention_until"]
            .is_null()
    );
});

both_backends!(
    another_teams_study_does_not_exist_for_you,
    |app: &TestApp| {
        let mut a = app.api("a@team-a.example");
        let mut b = app.api("b@team-b.example");
        let id = a
            .post_json("/api/v1/studies", &json!({"title": "Team A"}))
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/api/v1/studies/{id}");
        let missing = b.get(&format!("/api/v1/studies/{}", uuid::Uuid::new_v4()));
        let theirs = b.get(&path);
        assert_eq!(theirs.status, 404);
        assert_eq!(
            theirs.body, missing.body,
            "indistinguishable from a study that does not exist"
        );
        assert_eq!(
            b.patch_json(&path, &json!({"title": "Hijacked"})).status,
            404
        );
        assert_eq!(b.get(&format!("{path}/members")).status, 404);
        assert_eq!(
            b.put_json(
                &format!("{path}/members"),
                &json!({"email": "b@team-b.example", "role": "owner"})
            )
            .status,
            404
        );
        assert!(
            b.get("/api/v1/studies")
                .json()
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert_eq!(a.get(&path).json()["title"], "Team A");

        // The same through the pages.
        let mut browser = app.browser("c@team-c.example");
        assert_eq!(browser.get(&format!("/studies/{id}")).status, 404);
        assert_eq!(browser.get(&format!("/studies/{id}/settings")).status, 404);
        let csrf = browser.csrf();
        let r = browser.post_form(&format!("/studies/{id}/settings"), &settings_form(&csrf));
        assert_eq!(r.status, 404);
        assert_eq!(a.get(&path).json()["title"], "Team A");
    }
);

both_backends!(owners_add_researchers, |app: &TestApp| {
    let mut owner = app.api("owner@example.org");
    let mut colleague = app.api("colleague@example.org");
    let id = owner
        .post_json("/api/v1/studies", &json!({"title": "Shared"}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let members = format!("/api/v1/studies/{id}/members");
    let r = owner.put_json(
        &members,
        &json!({"email": "nobody@example.org", "role": "researcher"}),
    );
    assert_eq!(r.status, 422);
    let r = owner.put_json(
        &members,
        &json!({"email": "colleague@example.org", "role": "researcher"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        colleague.get(&format!("/api/v1/studies/{id}")).json()["role"],
        "researcher"
    );
    // A researcher may work on the study but not manage its members.
    let r = colleague.put_json(
        &members,
        &json!({"email": "colleague@example.org", "role": "owner"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        colleague
            .patch_json(&format!("/api/v1/studies/{id}"), &json!({"purpose": "Why"}))
            .status,
        200
    );
    // The last owner cannot step down.
    let owner_id = owner.get("/api/v1/me").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(owner.delete(&format!("{members}/{owner_id}")).status, 409);
    assert_eq!(owner.get(&members).json().as_array().unwrap().len(), 2);
});

both_backends!(the_pages_create_and_edit_a_study, |app: &TestApp| {
    let mut c = app.browser("page@example.org");
    let csrf = c.csrf();
    let r = c.post_form(
        "/studies/new",
        &[("title", ""), ("language", "da"), ("_csrf", &csrf)],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("error-summary"));
    let r = c.post_form(
        "/studies/new",
        &[
            ("title", "Psykisk arbejdsmiljø"),
            ("language", "da"),
            ("_csrf", &csrf),
        ],
    );
    assert_eq!(r.status, 303);
    let home = r.header("location").unwrap().to_string();
    let page = c.get(&home);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Psykisk arbejdsmiljø"));
    assert!(
        page.body.contains("Setting up"),
        "the home page says where the study stands"
    );

    let settings = c.get(&format!("{home}/settings"));
    assert_eq!(settings.status, 200);
    let form = settings_form(&csrf);
    let r = c.post_form(&format!("{home}/settings"), &form);
    assert_eq!(r.status, 200, "{}", r.body);
    c.csrf_header = Some(csrf.clone());
    let id = home.rsplit('/').next().unwrap();
    let s = c.get(&format!("/api/v1/studies/{id}")).json();
    assert_eq!(s["funder"], "Norliv");
    assert_eq!(
        s["priority_threshold"], 2.5,
        "a decimal comma is read as Danes write it"
    );

    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "min_group_size");
    bad.push(("min_group_size", "many"));
    let r = c.post_form(&format!("{home}/settings"), &bad);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("must be a whole number"));
});

/// The settings form as a browser posts it.
fn settings_form(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("_csrf", csrf),
        ("title", "Psykisk arbejdsmiljø"),
        ("purpose", ""),
        ("funder", "Norliv"),
        ("contact", ""),
        ("language", "da"),
        ("scale_min", "0"),
        ("scale_max", "4"),
        ("scale_low_label", "Mindst relevant"),
        ("scale_high_label", "Meget relevant"),
        ("dont_know", "on"),
        ("consensus_share_percent", "70"),
        ("consensus_points", "2"),
        ("consensus_max_iqr", "1"),
        ("min_group_size", "3"),
        ("small_cell_threshold", "3"),
        ("priority_threshold", "2,5"),
        ("reminder_days", "5, 10"),
        ("no_reply_after_days", "5"),
        ("link_grace_days", "7"),
        ("retention_until", ""),
    ]
}
