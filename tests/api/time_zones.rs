//! A study's clock: deadlines typed, shown and enforced in the study's time zone, in winter and
//! in summer, on every surface (researcher pages, the expert's pages, e-mails), with the API in
//! UTC and accepting offsets.

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::json;

use crate::helpers::*;
use crate::recruitment::mails_to;
use crate::rounds::{codebook, panel};
use crate::{both_backends, both_backends_where};

fn next_year() -> i32 {
    Utc::now().year() + 1
}

/// The last Sunday of March: when Danish clocks skip from 02:00 to 03:00.
fn spring_change(year: i32) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(year, 3, 31).unwrap();
    while d.weekday() != Weekday::Sun {
        d -= Duration::days(1);
    }
    d
}

fn closes_at(c: &mut Client, round: &str) -> String {
    let r = c.get(&format!("/api/v1/rounds/{round}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["closes_at"].as_str().unwrap().to_string()
}

/// A rating round made on the page with the deadline as typed; its id.
fn new_round(b: &mut Client, study: &str, typed: &str) -> String {
    let csrf = b.csrf();
    let r = b.post_form(
        &format!("/studies/{study}/rounds"),
        &[
            ("_csrf", &csrf),
            ("kind", "rating"),
            ("rating", "on"),
            ("closes_at", typed),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    r.created_id()
}

fn set_deadline(b: &mut Client, round: &str, typed: &str) -> Resp {
    let csrf = b.csrf();
    b.post_form(
        &format!("/rounds/{round}"),
        &[
            ("_csrf", &csrf),
            ("action", "deadline"),
            ("closes_at", typed),
        ],
    )
}

both_backends!(
    times_are_typed_shown_and_kept_on_the_study_clock,
    |app: &TestApp| {
        let email = "clock@example.org";
        let mut c = app.api(email);
        let mut b = app.client();
        b.login(email, PASSWORD);
        let csrf = b.csrf();
        let r = b.post_form("/account/language", &[("_csrf", &csrf), ("language", "da")]);
        assert_eq!(r.status, 303);
        let p = panel(app, &mut c, 3);
        let study = p.study.clone();
        codebook(&mut c, &study);
        let s = c.get(&format!("/api/v1/studies/{study}")).json();
        assert_eq!(
            s["time_zone"], "Europe/Copenhagen",
            "the server's zone by default"
        );
        let y = next_year();

        // Winter: 23:59 typed on the page is 22:59 UTC.
        let round = new_round(&mut b, &study, &format!("{y}-01-15T23:59"));
        assert_eq!(closes_at(&mut c, &round), format!("{y}-01-15T22:59:00Z"));
        let page = b.get(&format!("/rounds/{round}"));
        assert!(page.body.contains("kl. 23:59 (dansk tid)"), "{}", page.body);
        assert!(page.body.contains(&format!("value=\"{y}-01-15T23:59\"")));
        assert!(page.body.contains("Frist (dansk tid)") && !page.body.contains("UTC"));

        let o = c.post_json(&format!("/api/v1/rounds/{round}/open"), &json!({}));
        assert_eq!(o.status, 202, "{}", o.body);
        app.tick();
        let (_, token, address) = &p.members[0];
        let mail = mails_to(app, address).pop().unwrap().readable();
        assert!(mail.contains("kl. 23:59 (dansk tid)"), "{mail}");
        assert!(!mail.contains("UTC"), "{mail}");
        let expert = app.client().get(&format!("/p/{token}/rounds/1"));
        assert!(
            expert.body.contains("kl. 23:59 (dansk tid)"),
            "{}",
            expert.body
        );
        // (minijinja writes the slash as an entity in attributes)
        assert!(
            expert.body.contains("data-zone=\"Europe&#x2f;Copenhagen\"")
                || expert.body.contains("data-zone=\"Europe/Copenhagen\""),
            "{}",
            expert.body
        );

        // Summer: the same clock time is 21:59 UTC. A date alone is the end of that day.
        assert_eq!(
            set_deadline(&mut b, &round, &format!("{y}-07-15T23:59")).status,
            303
        );
        assert_eq!(closes_at(&mut c, &round), format!("{y}-07-15T21:59:00Z"));
        let page = b.get(&format!("/rounds/{round}"));
        assert!(page.body.contains("kl. 23:59 (dansk tid)"));
        assert_eq!(
            set_deadline(&mut b, &round, &format!("{y}-07-16")).status,
            303
        );
        assert_eq!(closes_at(&mut c, &round), format!("{y}-07-16T21:59:59Z"));

        // A time the clock skips is refused, naming the field, and nothing changes.
        let gap = format!("{}T02:30", spring_change(y));
        let r = set_deadline(&mut b, &round, &gap);
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("f-closes_at") || r.body.contains("closes_at"));
        assert_eq!(closes_at(&mut c, &round), format!("{y}-07-16T21:59:59Z"));

        // The API speaks UTC and takes any offset.
        let r = c.patch_json(
            &format!("/api/v1/rounds/{round}"),
            &json!({"closes_at": format!("{y}-07-20T23:59:00+02:00")}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(closes_at(&mut c, &round), format!("{y}-07-20T21:59:00Z"));

        // The round closes at that instant, not at 23:59 UTC.
        let deadline = NaiveDate::from_ymd_opt(y, 7, 20)
            .unwrap()
            .and_hms_opt(21, 59, 0)
            .unwrap();
        app.tick_at(deadline - Duration::seconds(1));
        assert_eq!(
            c.get(&format!("/api/v1/rounds/{round}")).json()["state"],
            "open"
        );
        app.tick_at(deadline + Duration::seconds(1));
        assert_eq!(
            c.get(&format!("/api/v1/rounds/{round}")).json()["state"],
            "closed"
        );

        // Another zone: the same instant reads on New York's clock, and typing is on it too.
        let r = c.patch_json(
            &format!("/api/v1/studies/{study}"),
            &json!({"time_zone": "Mars/Olympus"}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("time_zone"));
        let r = c.patch_json(
            &format!("/api/v1/studies/{study}"),
            &json!({"time_zone": "America/New_York"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["time_zone"], "America/New_York");
        let page = b.get(&format!("/rounds/{round}"));
        assert!(page.body.contains("kl. 17:59 (EDT)"), "{}", page.body);
        // The expert's own page reads the new clock too (when they said yes).
        let expert = app.client().get(&format!("/p/{token}"));
        assert!(
            (expert.body.contains("(EST)") || expert.body.contains("(EDT)"))
                && !expert.body.contains("dansk tid"),
            "{}",
            expert.body
        );
        let second = new_round(&mut b, &study, &format!("{y}-01-15T23:59"));
        assert_eq!(closes_at(&mut c, &second), format!("{y}-01-16T04:59:00Z"));
        let page = b.get(&format!("/rounds/{second}"));
        assert!(page.body.contains("kl. 23:59 (EST)"), "{}", page.body);
        assert!(page.body.contains("Frist (America&#x2f;New York)"));
        // A researcher who reads English sees the zone's abbreviation.
        let csrf = b.csrf();
        b.post_form("/account/language", &[("_csrf", &csrf), ("language", "en")]);
        let page = b.get(&format!("/rounds/{second}"));
        assert!(page.body.contains("at 23:59 EST"), "{}", page.body);
    }
);

both_backends_where!(
    a_new_study_takes_the_server_zone,
    |s: &mut orakel::config::Settings| s.server.time_zone = "America/New_York".into(),
    |app: &TestApp| {
        let mut c = app.api("ny@example.org");
        let r = c.post_json("/api/v1/studies", &json!({"title": "East coast"}));
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["time_zone"], "America/New_York");
        let r = c.post_json(
            "/api/v1/studies",
            &json!({"title": "Aarhus", "time_zone": "Europe/Copenhagen"}),
        );
        assert_eq!(r.json()["time_zone"], "Europe/Copenhagen");
    }
);
