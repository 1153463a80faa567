//! The data-protection rights: a person's data exported for them, their identity erased on
//! request while their answers still count, the retention date kept by the worker with the
//! owners warned first, and the audit log that records all of it for owners only.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::mails_to;
use crate::round1::{pseudonyms, upload_interviews};
use crate::rounds::{codebook, deadline_in, open_round, panel};

both_backends!(
    a_person_gets_their_data_and_can_be_erased,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let themes = codebook(&mut c, &p.study);
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        app.tick();
        for (i, (_, token, _)) in p.members.iter().enumerate() {
            let r = app.client().put_json(
                &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
                &json!({"answers": [{"theme_id": themes[&1], "score": 3 + (i as i32 % 2), "comment": format!("Min kommentar {i}")}], "submit": true}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let (cand, token, email) = p.members[0].clone();
        let pseudonym = pseudonyms(&mut c, &p.study)[&email].clone();

        // The export: identity, consent with its text, answers, e-mails.
        let r = c.get(&format!("/api/v1/candidates/{cand}/export"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.header("content-disposition")
                .unwrap()
                .contains("attachment")
        );
        let x = r.json();
        assert_eq!(x["identity"]["email"], email.as_str());
        assert_eq!(x["pseudonym"], pseudonym.as_str());
        assert_eq!(x["consents"][0]["decision"], "accepted");
        assert!(x["consents"][0]["text"].as_str().unwrap().len() > 20);
        assert_eq!(x["answers"][0]["comment"], "Min kommentar 0");
        assert_eq!(x["answers"][0]["theme_number"], 1);
        assert!(x["messages"].as_array().unwrap().len() >= 2, "{x}");
        assert!(
            !r.body.contains("Min kommentar 1"),
            "only this person's answers"
        );
        let mut stranger = app.api("stranger@example.org");
        assert_eq!(
            stranger
                .get(&format!("/api/v1/candidates/{cand}/export"))
                .status,
            404
        );

        // Erasure: owners only, with a reason.
        let (mut member, _) = (app.api("member@example.org"), ());
        c.put_json(
            &format!("/api/v1/studies/{}/members", p.study),
            &json!({"email": "member@example.org", "role": "researcher"}),
        );
        let r = member.post_json(
            &format!("/api/v1/candidates/{cand}/erase"),
            &json!({"reason": "asked by phone"}),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = c.post_json(
            &format!("/api/v1/candidates/{cand}/erase"),
            &json!({"reason": " "}),
        );
        assert_eq!(r.status, 422);
        assert_eq!(
            c.get(&format!("/api/v1/candidates/{cand}")).json()["email"],
            email.as_str()
        );
        let before = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
        let r = c.post_json(
            &format!("/api/v1/candidates/{cand}/erase"),
            &json!({"reason": "asked by e-mail on 20 November"}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let after = c.get(&format!("/api/v1/candidates/{cand}"));
        let a = after.json();
        assert!(a["email"].is_null());
        assert_eq!(a["pseudonym"], pseudonym.as_str());
        assert_eq!(a["erased"], true);
        assert!(!after.body.contains("Ekspert Nummer 00"), "{}", after.body);
        // The answers still count; the personal link and the e-mail history are gone.
        let now = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
        assert_eq!(now["round"]["progress"], before["round"]["progress"]);
        assert_eq!(app.client().get(&format!("/p/{token}")).status, 404);
        let x = c.get(&format!("/api/v1/candidates/{cand}/export")).json();
        assert!(x["messages"].as_array().unwrap().is_empty());
        assert!(x["identity"]["email"].is_null());
        assert_eq!(x["answers"][0]["score"], 3);
        {
            use diesel::prelude::*;
            use orakel::db::schema::{outbox, participation_tokens};
            let mut conn = app.conn();
            let mails: i64 = outbox::table
                .filter(outbox::candidate_id.eq(&cand))
                .count()
                .get_result(&mut *conn)
                .unwrap();
            let tokens: i64 = participation_tokens::table
                .filter(participation_tokens::candidate_id.eq(&cand))
                .count()
                .get_result(&mut *conn)
                .unwrap();
            assert_eq!((mails, tokens), (0, 0));
        }
        let r = c.post_json(
            &format!("/api/v1/candidates/{cand}/erase"),
            &json!({"reason": "again"}),
        );
        assert_eq!(r.status, 409);

        // The audit log has the export and the erasure, for owners only.
        let log = c.get(&format!("/api/v1/studies/{}/audit", p.study));
        assert_eq!(log.status, 200);
        let actions: Vec<String> = log.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect();
        assert!(
            actions.contains(&"person.exported".to_string()),
            "{actions:?}"
        );
        let erased = log.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "person.erased")
            .unwrap()
            .clone();
        assert_eq!(
            erased["details"]["reason"],
            "asked by e-mail on 20 November"
        );
        assert_eq!(erased["actor"], "Test Researcher");
        assert!(
            !log.body.contains(&email),
            "the log names people by id only"
        );
        assert_eq!(
            member
                .get(&format!("/api/v1/studies/{}/audit", p.study))
                .status,
            403
        );
        // The pages: the erase form for owners, the audit log page.
        let mut b = app.browser("owner2@example.org");
        c.put_json(
            &format!("/api/v1/studies/{}/members", p.study),
            &json!({"email": "owner2@example.org", "role": "owner"}),
        );
        let other = &p.members[1].0;
        let page = b.get(&format!("/candidates/{other}"));
        assert!(
            page.body
                .contains(&format!("action=\"/candidates/{other}/erase\""))
        );
        let csrf = page.form_value("_csrf").unwrap();
        let r = b.post_form(
            &format!("/candidates/{other}/erase"),
            &[("_csrf", &csrf), ("reason", "the person asked")],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(
            c.get(&format!("/api/v1/candidates/{other}")).json()["erased"],
            true
        );
        let page = b.get(&format!("/studies/{}/audit", p.study));
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Person&#x27;s identity erased"),
            "{}",
            page.body
        );
    }
);

both_backends!(
    the_retention_date_warns_owners_then_erases_identities_and_transcripts,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 2);
        let mut names: Vec<String> = pseudonyms(&mut c, &p.study).into_values().collect();
        names.sort();
        upload_interviews(&mut c, &p.study, &names);
        let today = Utc::now().date_naive();
        // The earliest date allowed: the owners' warning goes out at once.
        let until = today + Duration::days(14);
        let r = c.patch_json(
            &format!("/api/v1/studies/{}", p.study),
            &json!({"retention_until": until.to_string()}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let report = app.tick();
        assert_eq!(report.retention_warnings, 1);
        assert_eq!(report.identities_erased, 0);
        let warning = mails_to(app, "lead@example.org");
        assert_eq!(warning.len(), 1);
        assert!(
            warning[0]
                .text()
                .contains(&format!("/studies/{}/settings", p.study))
        );
        // Once per date.
        assert_eq!(app.tick().retention_warnings, 0);
        assert_eq!(mails_to(app, "lead@example.org").len(), 1);

        let report = app.tick_at((until + Duration::days(1)).and_hms_opt(3, 0, 0).unwrap());
        assert_eq!(report.identities_erased, 2);
        assert_eq!(report.transcripts_deleted, 2);
        let list = c.get(&format!("/api/v1/studies/{}/candidates", p.study));
        assert!(
            list.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["erased"] == true && x["email"].is_null()),
            "{}",
            list.body
        );
        assert!(!list.body.contains("Ekspert Nummer"));
        assert!(
            c.get(&format!("/api/v1/studies/{}/transcripts", p.study))
                .json()
                .as_array()
                .unwrap()
                .is_empty()
        );
        let log = c.get(&format!("/api/v1/studies/{}/audit", p.study)).json()["items"].take();
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "transcripts.deleted" && e["actor_kind"] == "system")
        );
        // Nothing left to do on the next pass.
        let again = app.tick_at((until + Duration::days(2)).and_hms_opt(3, 0, 0).unwrap());
        assert_eq!((again.identities_erased, again.transcripts_deleted), (0, 0));
    }
);
