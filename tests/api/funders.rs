//! Funder accounts: a report shared by e-mail, a password chosen through the link, the same
//! login page, the list of shared reports, each exactly as a funder link shows it, access
//! withdrawn per study, every view in the audit log — and nothing else reachable.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::mails_to;
use crate::rounds::{codebook, open_round, panel};

pub const FUNDER_PASSWORD: &str = "a long sentence only the funder knows";

/// The token of the password link in the latest e-mail to `address`.
pub fn setup_token(app: &TestApp, address: &str) -> String {
    let mails = mails_to(app, address);
    let text = mails
        .last()
        .unwrap_or_else(|| panic!("no mail to {address}"))
        .text();
    let at = text
        .find("/funder/welcome/")
        .unwrap_or_else(|| panic!("no password link in: {text}"));
    text[at + "/funder/welcome/".len()..][..43].to_string()
}

/// Shares `study`'s report with `email` and logs the funder in through the e-mailed link;
/// returns their browser and their account's id.
pub fn funder_account(
    app: &TestApp,
    owner: &mut Client,
    study: &str,
    email: &str,
    name: &str,
) -> (Client, String) {
    let r = owner.post_json(
        &format!("/api/v1/studies/{study}/funders"),
        &json!({"email": email, "name": name}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    app.tick();
    let token = setup_token(app, email);
    let mut b = app.client();
    let form = b.get(&format!("/funder/welcome/{token}"));
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.form_value("_csrf").unwrap();
    let r = b.post_form(
        &format!("/funder/welcome/{token}"),
        &[
            ("_csrf", &csrf),
            ("password", FUNDER_PASSWORD),
            ("again", FUNDER_PASSWORD),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/funder"));
    (b, id)
}

/// A study with a closed rating round, so its report exists.
fn reported_study(app: &TestApp, c: &mut Client, title: &str) -> String {
    let p = panel(app, c, 4);
    c.patch_json(
        &format!("/api/v1/studies/{}", p.study),
        &json!({"title": title}),
    );
    let themes = codebook(c, &p.study);
    let (round, number) = open_round(
        c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": crate::rounds::deadline_in(Duration::days(5))}),
    );
    app.tick();
    let mut expert = app.client();
    for (i, (_, token, _)) in p.members.iter().enumerate() {
        let answers: Vec<Value> = themes
            .values()
            .map(|t| json!({"theme_id": t, "score": (i % 5) as i64}))
            .collect();
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
            &json!({"answers": answers, "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    p.study
}

both_backends!(
    a_funder_account_reads_exactly_the_shared_reports,
    |app: &TestApp| {
        let mut owner = app.api("lead@example.org");
        let first = reported_study(app, &mut owner, "Første undersøgelse");
        let second = reported_study(app, &mut owner, "Anden undersøgelse");
        let unshared = reported_study(app, &mut owner, "Ikke delt");

        // Bad input changes nothing; a researcher's address cannot be a funder's.
        let r = owner.post_json(
            &format!("/api/v1/studies/{first}/funders"),
            &json!({"email": "not an address", "name": "Fonden"}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = owner.post_json(
            &format!("/api/v1/studies/{first}/funders"),
            &json!({"email": "lead@example.org", "name": "Mig"}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(
            owner
                .get(&format!("/api/v1/studies/{first}/funders"))
                .json(),
            json!([])
        );

        let (mut funder, funder_id) = funder_account(
            app,
            &mut owner,
            &first,
            "fond@example.org",
            "Fonden for Arbejdsliv",
        );
        // The link worked once: it is spent.
        let token_again = app.client().get(&format!(
            "/funder/welcome/{}",
            setup_token(app, "fond@example.org")
        ));
        assert_eq!(token_again.status, 404);
        // Sharing a second study with the same address uses the same account: the e-mail says
        // it is on their list, without a new password link.
        let r = owner.post_json(
            &format!("/api/v1/studies/{second}/funders"),
            &json!({"email": "Fond@Example.org", "name": "Fonden"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["id"], funder_id.as_str());
        assert_eq!(r.json()["active"], true);
        app.tick();
        let last = mails_to(app, "fond@example.org").pop().unwrap();
        assert!(
            !last.text().contains("/funder/welcome/") && last.text().contains("/login"),
            "{}",
            last.text()
        );

        // The list holds the two shared studies, not the third.
        let home = funder.get("/funder");
        assert_eq!(home.status, 200);
        assert!(
            home.body.contains("Første undersøgelse") && home.body.contains("Anden undersøgelse")
        );
        assert!(!home.body.contains("Ikke delt"));
        assert!(
            home.body.contains("Your password is saved")
                || home.body.contains("Din adgangskode er gemt")
        );

        // Each report is exactly what the funder link shows, with the account's bar above it.
        let link = owner.post_json(
            &format!("/api/v1/studies/{first}/report-links"),
            &json!({"label": "bestyrelsen"}),
        );
        let url = link.json()["url"].as_str().unwrap().to_string();
        let token = url.rsplit('/').next().unwrap();
        let by_link = app.client().get(&format!("/f/{token}"));
        let by_account = funder.get(&format!("/funder/studies/{first}"));
        assert_eq!(by_account.status, 200, "{}", by_account.body);
        let main = |html: &str| {
            let from = html.find("<main").unwrap();
            html[from..]
                .replace("&#x2f;", "/")
                .replace(&format!("/f/{token}/report"), "DOWNLOADS")
                .replace(&format!("/funder/studies/{first}/report"), "DOWNLOADS")
        };
        let (a, b) = (main(&by_link.body), main(&by_account.body));
        let first_difference = a
            .char_indices()
            .zip(b.chars())
            .find(|((_, x), y)| x != y)
            .map(|((i, _), _)| i);
        assert!(
            a == b,
            "the account's report differs from the link's at {first_difference:?}: {:?}",
            first_difference.map(|i| &a[i.saturating_sub(100)..(i + 100).min(a.len())])
        );
        assert!(by_account.body.contains("action=\"/funder/logout\""));
        let csv = funder.get(&format!(
            "/funder/studies/{first}/report.csv?table=priorities"
        ));
        assert_eq!(csv.status, 200, "{}", csv.body);

        // Nothing else: a study not shared, the researchers' pages and the API.
        for path in [
            format!("/funder/studies/{unshared}"),
            format!("/funder/studies/{unshared}/report.csv"),
            "/funder/studies/no-such-study".to_string(),
        ] {
            assert_eq!(funder.get(&path).status, 404, "{path}");
        }
        for path in [
            "/studies".to_string(),
            format!("/studies/{first}"),
            format!("/studies/{first}/report"),
        ] {
            let r = funder.get(&path);
            assert_eq!(r.status, 303, "{path}");
            assert!(
                r.header("location").unwrap().starts_with("/login"),
                "{path}"
            );
        }
        for path in [
            format!("/api/v1/studies/{first}/report"),
            format!("/api/v1/studies/{first}/candidates"),
            "/api/v1/me".to_string(),
        ] {
            assert_eq!(funder.get(&path).status, 401, "{path}");
        }

        // The researchers see when it was read; every view is in the audit log, by name.
        let listed = owner
            .get(&format!("/api/v1/studies/{first}/funders"))
            .json();
        assert!(listed[0]["last_viewed_at"].is_string(), "{listed}");
        let audit = owner.get(&format!("/api/v1/studies/{first}/audit")).json()["items"].take();
        let views: Vec<&Value> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "report.viewed_by_funder_account")
            .collect();
        assert_eq!(views.len(), 2, "the page and the CSV: {audit}");
        assert_eq!(views[0]["actor_kind"], "funder_account");
        assert_eq!(
            views[0]["actor"],
            "Fonden for Arbejdsliv <fond@example.org>"
        );

        // Withdrawn for one study: that report is gone at once, the other stays.
        let r = owner.delete(&format!("/api/v1/studies/{first}/funders/{funder_id}"));
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(funder.get(&format!("/funder/studies/{first}")).status, 404);
        assert_eq!(funder.get(&format!("/funder/studies/{second}")).status, 200);
        let home = funder.get("/funder");
        assert!(
            !home.body.contains("Første undersøgelse") && home.body.contains("Anden undersøgelse")
        );
        // The funder link is untouched by it.
        assert_eq!(app.client().get(&format!("/f/{token}")).status, 200);
        // Another study's researcher cannot withdraw or list.
        let mut other = app.api("other@example.org");
        assert_eq!(
            other
                .delete(&format!("/api/v1/studies/{second}/funders/{funder_id}"))
                .status,
            404
        );
        assert_eq!(
            other
                .get(&format!("/api/v1/studies/{second}/funders"))
                .status,
            404
        );

        // The same login page: a funder logs in and lands on their list.
        let mut again = app.client();
        let login = again.get("/login");
        let csrf = login.form_value("_csrf").unwrap();
        let r = again.post_form(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", "fond@example.org"),
                ("password", FUNDER_PASSWORD),
                ("next", "/studies"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some("/funder"));
        assert_eq!(again.get("/funder").status, 200);
        // Logging out ends the session.
        let csrf = again.get("/funder").form_value("_csrf").unwrap();
        let r = again.post_form("/funder/logout", &[("_csrf", &csrf)]);
        assert_eq!(r.status, 303);
        assert_eq!(again.get("/funder").status, 303);
    }
);
