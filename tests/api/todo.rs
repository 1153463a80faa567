//! The study's to-do list and the reminder sent by hand: what waits is listed and goes away when
//! done, a reminder reaches only those who have not finished (once within the hour), and nobody
//! outside the study reads or sends any of it.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::mails_to;
use crate::rounds::{codebook, deadline_in, panel};

fn todo(c: &mut Client, study: &str) -> Value {
    let r = c.get(&format!("/api/v1/studies/{study}/todo"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn reminders_to(app: &TestApp, email: &str) -> usize {
    mails_to(app, email)
        .iter()
        .filter(|m| m.text().contains("mindelse om runde"))
        .count()
}

both_backends!(
    the_to_do_list_says_what_waits_and_a_reminder_reaches_only_who_has_not_finished,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let themes = codebook(&mut c, &p.study);
        let r = c.post_json(
            &format!("/api/v1/studies/{}/rounds", p.study),
            &json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(10)),
                    "reminder_days": [5, 2]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let round = r.json()["id"].as_str().unwrap().to_string();
        let number = r.json()["number"].as_i64().unwrap();
        assert_eq!(
            c.post_json(&format!("/api/v1/rounds/{round}/open"), &json!({}))
                .status,
            202
        );
        app.tick();

        // Before the round: the study names no funder and mails from localhost.
        let t = todo(&mut c, &p.study);
        let warnings: Vec<&str> = t["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(warnings.contains(&"no_funder"), "{t}");
        assert!(
            !warnings.contains(&"no_contact"),
            "the study has a contact: {t}"
        );
        assert_eq!(
            warnings.contains(&"local_sender"),
            app.settings.mail.from.contains("@localhost")
        );

        // One expert finishes, with a comment; two have not.
        let mut expert = app.client();
        let (done_id, done_token, done_mail) = &p.members[0];
        let r = expert.put_json(
            &format!("/api/v1/participation/{done_token}/rounds/{number}/answers"),
            &json!({"answers": [{"theme_id": themes[&1], "score": 3, "comment": "Vigtigt"}], "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let t = todo(&mut c, &p.study);
        let r0 = &t["rounds"][0];
        assert_eq!(r0["number"], number);
        assert_eq!(
            (r0["panel"].as_i64(), r0["submitted"].as_i64()),
            (Some(3), Some(1))
        );
        let waiting: Vec<&str> = r0["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["candidate_id"].as_str().unwrap())
            .collect();
        assert_eq!(waiting.len(), 2);
        assert!(!waiting.contains(&done_id.as_str()));
        assert!(
            r0["waiting"][0]["pseudonym"]
                .as_str()
                .unwrap()
                .starts_with('E')
        );
        // The planned reminders, latest first in time: 5 and 2 days before, none due yet.
        let schedule = r0["schedule"].as_array().unwrap();
        assert_eq!(schedule.len(), 2);
        assert_eq!(schedule[0]["days_before"], 5);
        assert_eq!(schedule[0]["due"], false);
        assert_eq!(t["comments"][0]["waiting"], 1, "{t}");

        // Reading the list names non-responders: logged.
        let log = c.get(&format!("/api/v1/studies/{}/audit", p.study)).json();
        assert!(
            log.to_string().contains("to-do list"),
            "viewing who has not answered is logged"
        );

        // A reminder now to all who have not finished: two, not the one who did.
        let r = c.post_json(&format!("/api/v1/rounds/{round}/reminders"), &json!({}));
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.json()["queued"], 2, "{}", r.body);
        app.tick();
        assert_eq!(reminders_to(app, done_mail), 0);
        for (_, _, email) in &p.members[1..] {
            assert_eq!(reminders_to(app, email), 1, "{email}");
        }
        // A second click within the hour sends nothing more.
        let r = c.post_json(&format!("/api/v1/rounds/{round}/reminders"), &json!({}));
        assert_eq!(r.json()["queued"], 0, "{}", r.body);
        assert_eq!(r.json()["skipped"].as_array().unwrap().len(), 2);
        // The one who finished, chosen, is skipped; none chosen is refused.
        let r = c.post_json(
            &format!("/api/v1/rounds/{round}/reminders"),
            &json!({"candidate_ids": [done_id]}),
        );
        assert_eq!(
            (r.json()["queued"].as_i64(), r.json()["skipped"][0].as_str()),
            (Some(0), Some(done_id.as_str()))
        );
        let r = c.post_json(
            &format!("/api/v1/rounds/{round}/reminders"),
            &json!({"candidate_ids": []}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["fields"][0]["field"], "candidate_ids");
        app.tick();
        for (_, _, email) in &p.members[1..] {
            assert_eq!(reminders_to(app, email), 1, "still one: {email}");
        }
        let t = todo(&mut c, &p.study);
        let sent: Vec<i64> = t["rounds"][0]["sent_now"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["queued"].as_i64().unwrap())
            .collect();
        assert_eq!(sent, vec![2, 0, 0], "{t}");

        // The worker's scheduled reminder is listed with what it sent.
        let five_before = Utc::now().naive_utc() + Duration::days(5) + Duration::hours(1);
        app.tick_at(five_before);
        let t = todo(&mut c, &p.study);
        assert_eq!(t["rounds"][0]["schedule"][0]["due"], true, "{t}");
        assert_eq!(t["rounds"][0]["schedule"][0]["sent"], 2, "{t}");

        // A comment cleared for the report leaves the list.
        let resp = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
        let answer = resp["themes"][0]["comments"][0]["answer_id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = c.put_json(
            &format!("/api/v1/answers/{answer}/cleared"),
            &json!({"cleared": true}),
        );
        assert!(r.status < 300, "{} {}", r.status, r.body);
        assert_eq!(todo(&mut c, &p.study)["comments"], json!([]));

        // Another team's researcher reads and sends nothing.
        let mut other = app.api("other@example.org");
        assert_eq!(
            other
                .get(&format!("/api/v1/studies/{}/todo", p.study))
                .status,
            404
        );
        assert_eq!(
            other
                .post_json(&format!("/api/v1/rounds/{round}/reminders"), &json!({}))
                .status,
            404
        );

        // A closed round is reminded of nothing.
        c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
        let r = c.post_json(&format!("/api/v1/rounds/{round}/reminders"), &json!({}));
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(todo(&mut c, &p.study)["rounds"], json!([]));
    }
);

both_backends!(
    referrals_and_unanswered_invitations_wait_on_the_list,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let study = crate::recruitment::study(&mut c);
        let r = c.patch_json(
            &format!("/api/v1/studies/{study}"),
            &json!({"funder": "Fonden", "reminder_days": [3]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let ids = crate::recruitment::add_candidates(&mut c, &study, 2);
        let r = c.post_json(
            &format!("/api/v1/studies/{study}/invitations"),
            &json!({"candidate_ids": [ids[0]]}),
        );
        assert_eq!(r.status, 202);
        app.tick();
        // The invited candidate names a colleague through their link.
        let token = crate::recruitment::latest_link(app, "expert00@panel.example");
        let mut expert = app.client();
        let r = expert.post_json(
            &format!("/api/v1/participation/{token}/consent"),
            &json!({"accept": false, "reason": "Ingen tid", "referral": {"name": "Kollega Kaj", "email": "kaj@firma.example"}}),
        );
        assert!(r.status < 300, "{} {}", r.status, r.body);
        let t = todo(&mut c, &study);
        assert_eq!(t["referrals"][0]["name"], "Kollega Kaj", "{t}");
        assert!(!t.to_string().contains("no_funder"));

        // The other is invited and never answers: after the last reminder they wait on the list.
        c.post_json(
            &format!("/api/v1/studies/{study}/invitations"),
            &json!({"candidate_ids": [ids[1]]}),
        );
        app.tick();
        assert_eq!(todo(&mut c, &study)["unanswered"], json!([]));
        app.tick_at(Utc::now().naive_utc() + Duration::days(3) + Duration::hours(1));
        let t = todo(&mut c, &study);
        assert_eq!(t["unanswered"][0]["candidate_id"], ids[1].as_str(), "{t}");
        assert!(t["unanswered"][0]["invited_at"].is_string());
    }
);

both_backends!(
    the_overview_lists_what_waits_and_reminds_after_asking,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 2);
        codebook(&mut c, &p.study);
        let (round, number) = crate::rounds::open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(4))}),
        );
        app.tick();
        let mut b = app.client();
        b.login("lead@example.org", PASSWORD);
        let csrf = b.csrf();
        b.post_form("/account/language", &[("_csrf", &csrf), ("language", "da")]);
        let page = b.get(&format!("/studies/{}", p.study));
        assert!(page.body.contains("Det venter"), "{}", page.body);
        assert!(
            page.body.contains(&format!(
                "Runde {number}: 2 paneldeltagere har ikke afsluttet (0 af 2 har)."
            )),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Ekspert Nummer 00") && page.body.contains("har ikke åbnet runden")
        );
        assert!(page.body.contains("Send en påmindelse nu til alle 2"));
        assert!(
            page.body.contains("orakel@localhost") == app.settings.mail.from.contains("@localhost")
        );

        // Without JavaScript: asked first, nothing sent until confirmed.
        let path = format!("/rounds/{round}/reminders");
        let r = b.post_form(&path, &[("_csrf", &csrf), ("to", "all")]);
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("Send påmindelser til 2 paneldeltagere?"),
            "{}",
            r.body
        );
        assert_eq!(app.tick().sent, 0);
        let r = b.post_form(
            &path,
            &[("_csrf", &csrf), ("to", "all"), ("confirmed", "1")],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let to = r.header("location").unwrap().to_string();
        assert_eq!(to, format!("/studies/{}#todo-round-{number}", p.study));
        let page = b.get(&to);
        assert!(
            page.body.contains("2 påmindelser sat i kø."),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Sendt i hånden"),
            "the list says what was sent"
        );
        assert_eq!(app.tick().sent, 2);

        // Chosen: one, within the hour already reminded: said, not sent.
        let one = &p.members[0].0;
        let r = b.post_form(
            &path,
            &[
                ("_csrf", &csrf),
                ("to", "chosen"),
                ("candidate_ids", one),
                ("confirmed", "1"),
            ],
        );
        let page = b.get(r.header("location").unwrap());
        assert!(
            page.body
                .contains("0 påmindelser sat i kø. 1 paneldeltager fik ingen"),
            "{}",
            page.body
        );
        // None chosen: said as an error, nothing sent.
        let r = b.post_form(&path, &[("_csrf", &csrf), ("to", "chosen")]);
        let page = b.get(r.header("location").unwrap());
        assert!(
            page.body.contains("vælg mindst én paneldeltager"),
            "{}",
            page.body
        );
        assert!(page.body.contains("role=\"alert\""));
        assert_eq!(app.tick().sent, 0);
    }
);
