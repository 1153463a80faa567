//! Recruitment end to end: candidates, CSV import, invitations over a real SMTP server, the
//! personal link, consent and declines, reminders, outages and restarts.

use std::collections::HashSet;

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::smtp::SmtpServer;
use crate::{both_backends, on_both};

const SECTORS: [&str; 5] = [
    "Transport",
    "Industry",
    "Retail",
    "Finance",
    "Across sectors",
];

/// A study with the reference study's attributes; returns its id.
pub fn study(c: &mut Client) -> String {
    let id = c.post_json("/api/v1/studies", &json!({"title": "Mentalt helbred på arbejdspladsen", "language": "da", "contact": "delphi@example.org"})).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.put_json(
        &format!("/api/v1/studies/{id}/strata"),
        &json!([
            {"key": "sector", "label": "Sector", "values": SECTORS},
            {"key": "org_type", "label": "Organisation type", "values": ["Sector organisation", "Company", "Municipality"]},
            {"key": "gender", "label": "Gender", "values": ["Woman", "Man"]}
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// Adds candidates expert00..; returns their ids.
pub fn add_candidates(c: &mut Client, study: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = c.post_json(
                &format!("/api/v1/studies/{study}/candidates"),
                &json!({
                    "name": format!("Ekspert Nummer {i:02}"), "email": format!("expert{i:02}@panel.example"),
                    "organisation": format!("Organisation {}", i % 5),
                    "strata": {"sector": SECTORS[i % 4], "org_type": if i % 3 == 0 { "Company" } else { "Sector organisation" }, "gender": if i % 4 == 0 { "Woman" } else { "Man" }},
                    "source": "the funder's network"
                }),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect()
}

pub fn invite(c: &mut Client, study: &str, ids: &[String]) -> Value {
    let r = c.post_json(
        &format!("/api/v1/studies/{study}/invitations"),
        &json!({"candidate_ids": ids}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()
}

fn candidates(c: &mut Client, study: &str) -> Vec<Value> {
    c.get(&format!("/api/v1/studies/{study}/candidates?limit=1000"))
        .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn status_counts(c: &mut Client, study: &str) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for cand in candidates(c, study) {
        *m.entry(cand["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

on_both!(
    invitations_go_over_smtp_and_the_link_gives_consent,
    |backend| {
        let Some(smtp) = SmtpServer::start() else {
            return;
        };
        with_app_where(
            backend,
            |s| use_smtp(s, &smtp.url()),
            |app| {
                let mut c = app.api("lead@example.org");
                let study = study(&mut c);
                let ids = add_candidates(&mut c, &study, 3);
                let result = invite(&mut c, &study, &ids);
                assert_eq!(result["queued"], 3);
                let report = app.tick();
                assert_eq!(report.sent, 3, "{report:?}");
                let mails = smtp.wait_for(3);
                assert_eq!(mails.len(), 3);
                let mut ids_seen = HashSet::new();
                for m in &mails {
                    assert_eq!(m.to.len(), 1, "one recipient per message");
                    assert!(
                        m.header("Content-Type")
                            .unwrap()
                            .contains("multipart/alternative")
                    );
                    assert!(m.raw.contains("text/plain") && m.raw.contains("text/html"));
                    assert!(
                        ids_seen.insert(m.header("Message-ID").unwrap()),
                        "Message-IDs are unique"
                    );
                    // The header's link can only unsubscribe, under its own path.
                    assert!(
                        m.header("List-Unsubscribe")
                            .unwrap()
                            .contains("/unsubscribe/")
                    );
                    assert!(m.text().contains("Mentalt helbred på arbejdspladsen"));
                    assert_eq!(m.links().len(), 1, "{}", m.text());
                }
                let first = mails
                    .iter()
                    .find(|m| m.to[0] == "expert00@panel.example")
                    .unwrap();
                let token = first.links()[0].clone();

                // The link shows the study and the consent text; accepting gives a pseudonym.
                let mut expert = app.client();
                let page = expert.get(&format!("/p/{token}"));
                assert_eq!(page.status, 200);
                assert!(page.body.contains("Mentalt helbred på arbejdspladsen"));
                assert!(page.body.contains("Samtykke"));
                let r = expert.post_json(
                    &format!("/api/v1/participation/{token}/consent"),
                    &json!({"accept": true}),
                );
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(r.json()["status"], "accepted");
                let cands = candidates(&mut c, &study);
                let me = cands
                    .iter()
                    .find(|x| x["email"] == "expert00@panel.example")
                    .unwrap();
                assert_eq!(me["status"], "accepted");
                let pseudonym = me["pseudonym"].as_str().unwrap().to_string();
                assert!(
                    pseudonym.starts_with('E') && pseudonym.len() == 3,
                    "{pseudonym}"
                );

                // A second click changes nothing: same status, same pseudonym, one confirmation.
                let r = expert.post_json(
                    &format!("/api/v1/participation/{token}/consent"),
                    &json!({"accept": true}),
                );
                assert_eq!(r.status, 200);
                app.tick();
                app.tick();
                let cands = candidates(&mut c, &study);
                let me = cands
                    .iter()
                    .find(|x| x["email"] == "expert00@panel.example")
                    .unwrap();
                assert_eq!(me["pseudonym"], pseudonym.as_str());
                let confirmations: Vec<_> = smtp
                    .wait_for(4)
                    .into_iter()
                    .filter(|m| {
                        m.to[0] == "expert00@panel.example" && m.text().contains("samtykke")
                    })
                    .filter(|m| {
                        m.header("Subject")
                            .is_some_and(|s| s.contains("Tak") || s.contains("=?utf-8"))
                    })
                    .collect();
                assert_eq!(
                    smtp.received().len(),
                    4,
                    "three invitations and one confirmation"
                );
                assert!(!confirmations.is_empty());
                let detail = c
                    .get(&format!(
                        "/api/v1/candidates/{}",
                        me["id"].as_str().unwrap()
                    ))
                    .json();
                let history: Vec<&str> = detail["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["to"].as_str().unwrap())
                    .collect();
                assert_eq!(history, ["identified", "invited", "accepted"]);
                assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
                assert!(
                    detail["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|m| m["state"] == "sent")
                );
            },
        );
    }
);

on_both!(no_message_names_another_candidate, |backend| {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    with_app_where(
        backend,
        |s| use_smtp(s, &smtp.url()),
        |app| {
            let mut c = app.api("lead@example.org");
            let study = study(&mut c);
            let ids = add_candidates(&mut c, &study, 6);
            invite(&mut c, &study, &ids);
            app.tick();
            let mails = smtp.wait_for(6);
            assert_eq!(mails.len(), 6);
            for m in &mails {
                let own = &m.to[0];
                for i in 0..6 {
                    let other = format!("expert{i:02}@panel.example");
                    let name = format!("Ekspert Nummer {i:02}");
                    if &other != own {
                        assert!(!m.raw.contains(&other), "{own}'s message contains {other}");
                        assert!(!m.text().contains(&name), "{own}'s message names {name}");
                    }
                }
            }
        },
    );
});

on_both!(an_outage_delays_mail_and_a_restart_loses_none, |backend| {
    let port = SmtpServer::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let mut settings = TestApp::settings_for(&db);
    use_smtp(&mut settings, &url);
    let app = TestApp::spawn_with(backend, db, settings);
    let mut c = app.api("lead@example.org");
    let study = study(&mut c);
    let ids = add_candidates(&mut c, &study, 4);
    invite(&mut c, &study, &ids);
    // Nothing listens: every message waits for another attempt.
    let r = app.tick();
    assert_eq!((r.sent, r.retried), (0, 4), "{r:?}");
    let msgs = c.get(&format!("/api/v1/studies/{study}/messages")).json()["items"].take();
    assert!(
        msgs.as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "queued" && m["attempts"] == 1 && !m["last_error"].is_null())
    );
    // Too early for the retry: nothing is tried.
    assert_eq!(app.tick().retried, 0);

    // Orakel restarts; then the SMTP server comes back, and answers 451 at first.
    let app = app.restart();
    let Some(smtp) = SmtpServer::start_on(port) else {
        return;
    };
    smtp.set_failing(true);
    let later = orakel::db::now() + Duration::minutes(5);
    let r = app.tick_at(later);
    assert_eq!((r.sent, r.retried), (0, 4), "{r:?}");
    smtp.set_failing(false);
    let r = app.tick_at(later + Duration::hours(1));
    assert_eq!(r.sent, 4, "{r:?}");
    // Each went out once; more passes send nothing again.
    app.tick_at(later + Duration::days(1));
    assert_eq!(smtp.wait_for(4).len(), 4);
    let to: HashSet<String> = smtp.received().iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(to.len(), 4);
});

on_both!(a_refused_address_is_marked_on_the_candidate, |backend| {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    with_app_where(
        backend,
        |s| use_smtp(s, &smtp.url()),
        |app| {
            let mut c = app.api("lead@example.org");
            let study = study(&mut c);
            let id = c
                .post_json(
                    &format!("/api/v1/studies/{study}/candidates"),
                    &json!({"name": "Nobody", "email": "bounce@panel.example"}),
                )
                .json()["id"]
                .as_str()
                .unwrap()
                .to_string();
            invite(&mut c, &study, std::slice::from_ref(&id));
            let r = app.tick();
            assert_eq!(r.failed, 1, "{r:?}");
            let detail = c.get(&format!("/api/v1/candidates/{id}")).json();
            assert!(
                detail["mail_failure"].as_str().unwrap().contains("550"),
                "{detail}"
            );
            assert_eq!(detail["messages"][0]["state"], "failed");
            // Correcting the address clears the mark.
            let fixed = c.patch_json(
                &format!("/api/v1/candidates/{id}"),
                &json!({"email": "somebody@panel.example"}),
            );
            assert!(fixed.json()["mail_failure"].is_null());
        },
    );
});

both_backends!(
    reminders_follow_the_schedule_then_no_reply,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let study = study(&mut c);
        let ids = add_candidates(&mut c, &study, 2);
        invite(&mut c, &study, &ids);
        app.tick();
        // One answers; the other stays silent.
        let token = latest_link(app, "expert00@panel.example");
        app.client().post_json(
            &format!("/api/v1/participation/{token}/consent"),
            &json!({"accept": true}),
        );
        let t0 = orakel::db::now();
        assert_eq!(
            app.tick_at(t0 + Duration::days(4)).reminders,
            0,
            "too early"
        );
        assert_eq!(
            app.tick_at(t0 + Duration::days(5) + Duration::hours(1))
                .reminders,
            1
        );
        assert_eq!(
            app.tick_at(t0 + Duration::days(6)).reminders,
            0,
            "each reminder once"
        );
        assert_eq!(
            app.tick_at(t0 + Duration::days(10) + Duration::hours(1))
                .reminders,
            1
        );
        assert_eq!(app.tick_at(t0 + Duration::days(12)).no_reply, 0);
        let r = app.tick_at(t0 + Duration::days(15) + Duration::hours(1));
        assert_eq!(r.no_reply, 1, "{r:?}");
        let counts = status_counts(&mut c, &study);
        assert_eq!(counts.get("accepted"), Some(&1));
        assert_eq!(counts.get("no_reply"), Some(&1));
        let silent = candidates(&mut c, &study)
            .into_iter()
            .find(|x| x["status"] == "no_reply")
            .unwrap();
        assert_eq!(silent["reminders_sent"], 2);
        let reminders = mails_to(app, "expert01@panel.example");
        assert_eq!(reminders.len(), 3, "the invitation and two reminders");
        assert!(
            mails_to(app, "expert00@panel.example").len() == 2,
            "invitation and confirmation only"
        );
        // A late answer still counts.
        let token = latest_link(app, "expert01@panel.example");
        let r = app.client().post_json(
            &format!("/api/v1/participation/{token}/consent"),
            &json!({"accept": true}),
        );
        assert_eq!(r.json()["status"], "accepted");
    }
);

/// The `.eml` files the server wrote (file transport), parsed lightly.
pub fn mail_files(app: &TestApp) -> Vec<crate::smtp::Received> {
    let dir = app.settings.mail.dir.clone();
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        for p in paths {
            let bytes = std::fs::read(&p).unwrap();
            crate::smtp::assert_wire_format(&p.display().to_string(), &bytes);
            let raw = String::from_utf8(bytes).unwrap();
            let msg = crate::smtp::Received {
                to: Vec::new(),
                raw,
            };
            let to = msg.header("To").unwrap_or_default();
            out.push(crate::smtp::Received {
                to: vec![to],
                raw: msg.raw,
            });
        }
    }
    out
}

pub fn mails_to(app: &TestApp, address: &str) -> Vec<crate::smtp::Received> {
    mail_files(app)
        .into_iter()
        .filter(|m| m.to[0].contains(address))
        .collect()
}

/// The personal link in the latest message to `address`.
pub fn latest_link(app: &TestApp, address: &str) -> String {
    let mails = mails_to(app, address);
    let m = mails
        .last()
        .unwrap_or_else(|| panic!("no mail to {address}"));
    m.links()[0].clone()
}

both_backends!(
    declines_keep_reasons_and_referrals_become_leads,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let study = study(&mut c);
        let ids = add_candidates(&mut c, &study, 3);
        invite(&mut c, &study, &ids);
        app.tick();
        let token = latest_link(app, "expert00@panel.example");
        let mut expert = app.client();
        // A bad referral address changes nothing.
        let r = expert.post_json(&format!("/api/v1/participation/{token}/consent"), &json!({"accept": false, "reason": "No time", "referral": {"name": "Kollega", "email": "not an address"}}));
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["fields"][0]["field"], "referral.email");
        assert_eq!(status_counts(&mut c, &study).get("invited"), Some(&3));
        let r = expert.post_json(&format!("/api/v1/participation/{token}/consent"), &json!({"accept": false, "reason": "No time", "referral": {"name": "Kirsten Kollega", "email": "kirsten@firma.example", "organisation": "Firma"}}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "declined");
        // Declining twice changes nothing; accepting after declining is refused.
        assert_eq!(
            expert
                .post_json(
                    &format!("/api/v1/participation/{token}/consent"),
                    &json!({"accept": false})
                )
                .json()["status"],
            "declined"
        );
        assert_eq!(
            expert
                .post_json(
                    &format!("/api/v1/participation/{token}/consent"),
                    &json!({"accept": true})
                )
                .status,
            409
        );
        let token1 = latest_link(app, "expert01@panel.example");
        expert.post_json(
            &format!("/api/v1/participation/{token1}/consent"),
            &json!({"accept": false, "reason": "No time"}),
        );

        let all = candidates(&mut c, &study);
        let lead = all
            .iter()
            .find(|x| x["email"] == "kirsten@firma.example")
            .expect("the referral is a new candidate");
        assert_eq!(
            lead["status"], "identified",
            "referrals are leads, not invited automatically"
        );
        assert_eq!(lead["referred_by"], ids[0].as_str());
        let rec = c
            .get(&format!("/api/v1/studies/{study}/recruitment"))
            .json();
        assert_eq!(rec["by_status"]["declined"], 2);
        assert_eq!(rec["by_status"]["identified"], 1);
        assert_eq!(rec["decline_reasons"]["No time"], 2);
        // Grouped by the category chosen, with the reasons written, most often given first.
        assert_eq!(
            rec["declines"],
            json!([{"category": "other", "count": 2, "reasons": [{"reason": "No time", "count": 2}]}])
        );
        let root = rec["referral_tree"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == ids[0].as_str())
            .unwrap();
        assert_eq!(root["referred"][0]["name"], "Kirsten Kollega");
        let transport = rec["by_stratum"][0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["value"] == "Transport")
            .unwrap();
        assert_eq!(transport["total"], 1);
        // The researchers see it on the recruitment page too.
        let mut b = app.browser("page@example.org");
        let owner_email = "page@example.org";
        c.put_json(
            &format!("/api/v1/studies/{study}/members"),
            &json!({"email": owner_email, "role": "researcher"}),
        );
        let page = b.get(&format!("/studies/{study}/recruitment"));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Kirsten Kollega") && page.body.contains("No time"));

        // The referral came without attribute values: the to-do list and her page ask for them.
        let lead_id = lead["id"].as_str().unwrap().to_string();
        let t = c.get(&format!("/api/v1/studies/{study}/todo")).json();
        let lacking: Vec<&str> = t["without_strata"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["candidate_id"].as_str().unwrap())
            .collect();
        assert_eq!(lacking, [lead_id.as_str()], "{t}");
        let page = b.get(&format!("/candidates/{lead_id}"));
        assert!(
            page.body
                .contains("Kirsten Kollega has no value for: Sector, Organisation type, Gender."),
            "{}",
            page.body
        );
        let page = b.get(&format!("/studies/{study}/strata/values"));
        assert!(
            page.body.contains("Showing 1 candidate who lacks a value."),
            "{}",
            page.body
        );
        assert!(page.body.contains(&format!("name=\"v.{lead_id}.sector\"")));
        // Several at once through the page: her values and a change to expert02's sector.
        let csrf = b.csrf();
        let r = b.post_form(
            &format!("/studies/{study}/strata/values"),
            &[
                ("_csrf", &csrf),
                (&format!("v.{lead_id}.sector"), "Retail"),
                (&format!("v.{lead_id}.org_type"), "Company"),
                (&format!("v.{lead_id}.gender"), "Woman"),
                (&format!("v.{}.sector", ids[2]), "Finance"),
                (&format!("v.{}.gender", ids[1]), "Man"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let page = b.get(r.header("location").unwrap());
        assert!(
            page.body.contains("The values of 2 candidates are saved."),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("Every candidate has a value for every attribute.")
        );
        let t = c.get(&format!("/api/v1/studies/{study}/todo")).json();
        assert_eq!(t["without_strata"], json!([]));
        let all = candidates(&mut c, &study);
        let by_id = |id: &str| all.iter().find(|x| x["id"] == id).unwrap().clone();
        assert_eq!(by_id(&lead_id)["strata"]["org_type"], "Company");
        assert_eq!(by_id(&ids[2])["strata"]["sector"], "Finance");

        // Through the API: one wrong value refuses the whole change.
        let r = c.put_json(
            &format!("/api/v1/studies/{study}/candidates/strata"),
            &json!({"values": {
                lead_id.clone(): {"sector": "Transport"},
                ids[2].clone(): {"sector": "Shipping"}
            }}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(
            r.json()["fields"][0]["field"],
            format!("values.{}.strata.sector", ids[2])
        );
        let r = c.put_json(
            &format!("/api/v1/studies/{study}/candidates/strata"),
            &json!({"values": {"no-such-candidate": {"sector": "Transport"}}}),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(by_id(&lead_id)["strata"]["sector"], "Retail");
        assert_eq!(
            candidates(&mut c, &study)
                .iter()
                .find(|x| x["id"] == lead_id.as_str())
                .unwrap()["strata"]["sector"],
            "Retail",
            "nothing changed"
        );
        // An empty value clears one attribute and leaves the others; unchanged ones are not listed.
        let r = c.put_json(
            &format!("/api/v1/studies/{study}/candidates/strata"),
            &json!({"values": {
                lead_id.clone(): {"gender": ""},
                ids[2].clone(): {"sector": "Finance"}
            }}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let changed = r.json();
        assert_eq!(changed.as_array().unwrap().len(), 1, "{changed}");
        assert_eq!(
            changed[0]["strata"],
            json!({"sector": "Retail", "org_type": "Company"})
        );
        // Another study's researcher cannot set values here, nor learn who is a candidate.
        let mut other = app.api("other@example.org");
        let r = other.put_json(
            &format!("/api/v1/studies/{study}/candidates/strata"),
            &json!({"values": {lead_id.clone(): {"gender": "Man"}}}),
        );
        assert_eq!(r.status, 404, "{}", r.body);
    }
);

both_backends!(a_csv_with_bad_rows_saves_nothing, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let study = study(&mut c);
    let path = format!("/api/v1/studies/{study}/candidates/import");
    let bad = "Navn;E-mail;Organisation;Sector;gender\n\
               Søren Ægidius;soeren@bus.example;Bus A/S;Transport;Man\n\
               Åse Øberg;not-an-email;Butik;Retail;Woman\n\
               Bo Bæk;soeren@bus.example;Bank;Finance;Man\n\
               Ida Iversen;ida@x.example;Fabrik;Shipping;Woman\n";
    let r = c.post_raw(&format!("{path}?dry_run=true"), "text/csv", bad.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["problem_rows"], 3);
    let r = c.post_raw(&path, "text/csv", bad.as_bytes());
    assert_eq!(r.status, 422, "{}", r.body);
    let problems: Vec<Vec<String>> = r.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert!(problems[0].is_empty());
    assert!(problems[1][0].contains("email"));
    assert!(problems[2][0].contains("more than once"));
    assert!(problems[3][0].contains("Shipping"));
    assert!(candidates(&mut c, &study).is_empty(), "nothing saved");
    let good = "Navn;E-mail;Organisation;sector;Gender;henvist af\n\
                Søren Ægidius;soeren@bus.example;Bus A/S;transport;Man;\n\
                Åse Øberg;aase@butik.example;Butik;Retail;Woman;soeren@bus.example\n";
    let r = c.post_raw(&path, "text/csv", good.as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
    // Saved: how many, not the file back.
    assert_eq!(
        r.json(),
        json!({"saved": 2, "delimiter": ";", "encoding": "UTF-8"})
    );
    let all = candidates(&mut c, &study);
    assert_eq!(all.len(), 2);
    let aase = all.iter().find(|x| x["name"] == "Åse Øberg").unwrap();
    assert_eq!(aase["strata"]["sector"], "Retail");
    let soeren = all.iter().find(|x| x["name"] == "Søren Ægidius").unwrap();
    assert_eq!(soeren["strata"]["sector"], "Transport");
    assert_eq!(aase["referred_by"], soeren["id"]);
    // Importing the same file again: every row is a duplicate now.
    let r = c.post_raw(&path, "text/csv", good.as_bytes());
    assert_eq!(r.status, 422);
    assert_eq!(candidates(&mut c, &study).len(), 2);

    // The file's limits are the ones stated: 5,000 rows and 2 MB, also above the 1 MB that
    // other request bodies may have.
    let note = "n".repeat(300);
    let big: String = std::iter::once("name;email;notes\n".to_string())
        .chain((0..5000).map(|i| format!("Person {i};p{i}@big.example;{note}\n")))
        .collect();
    assert!(
        big.len() > 1024 * 1024 && big.len() < 2 * 1024 * 1024,
        "{}",
        big.len()
    );
    let r = c.post_raw(&format!("{path}?dry_run=true"), "text/csv", big.as_bytes());
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 5000);
    let more = format!("{big}Person X;x@big.example;\n");
    let r = c.post_raw(&format!("{path}?dry_run=true"), "text/csv", more.as_bytes());
    assert_eq!(r.status, 422, "{}", &r.body[..r.body.len().min(300)]);
    assert!(r.body.contains("5000"), "{}", r.body);
    let huge = format!("{big}{}", "x".repeat(1024 * 1024));
    let r = c.post_raw(&path, "text/csv", huge.as_bytes());
    assert_eq!(r.status, 422, "{}", &r.body[..r.body.len().min(300)]);
    assert!(r.body.contains("2 MB"), "{}", r.body);
    assert_eq!(candidates(&mut c, &study).len(), 2, "nothing saved");
});

both_backends!(
    bad_links_are_404_and_guessing_is_limited,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let study = study(&mut c);
        let ids = add_candidates(&mut c, &study, 1);
        invite(&mut c, &study, &ids);
        app.tick();
        let token = latest_link(app, "expert00@panel.example");
        let mut anyone = app.client();
        let unknown = anyone.get(&format!("/p/{}", orakel::ops::secret::new_token()));
        assert_eq!(unknown.status, 404);
        assert_eq!(anyone.get("/p/short").status, 404);
        assert_eq!(
            anyone
                .get(&format!(
                    "/api/v1/participation/{}",
                    orakel::ops::secret::new_token()
                ))
                .status,
            404
        );
        // An expired link is refused like an unknown one, but its page names the study and
        // whom to write to (what its e-mail said), and nothing of the person.
        {
            use diesel::prelude::*;
            use orakel::db::schema::participation_tokens as pt;
            let mut conn = app.conn();
            diesel::update(
                pt::table.filter(pt::token_hash.eq(orakel::ops::secret::token_hash(&token))),
            )
            .set(pt::expires_at.eq(Some(orakel::db::now() - Duration::minutes(1))))
            .execute(&mut *conn)
            .unwrap();
        }
        let expired = anyone.get(&format!("/p/{token}"));
        assert_eq!(expired.status, 404);
        let title = c.get(&format!("/api/v1/studies/{study}")).json()["title"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(expired.body.contains(&title), "{}", expired.body);
        assert!(!unknown.body.contains(&title));
        assert!(!expired.body.contains("Ekspert Nummer"));
        assert_eq!(
            anyone.get(&format!("/api/v1/participation/{token}")).body,
            anyone
                .get(&format!(
                    "/api/v1/participation/{}",
                    orakel::ops::secret::new_token()
                ))
                .body,
            "the API says nothing more of an expired link than of an unknown one"
        );
        // After 30 misses a minute, even a good link must wait.
        for _ in 0..30 {
            anyone.get(&format!("/p/{}", orakel::ops::secret::new_token()));
        }
        assert_eq!(
            anyone
                .get(&format!("/p/{}", orakel::ops::secret::new_token()))
                .status,
            429
        );
    }
);

both_backends!(unsubscribing_stops_mail_and_declines, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let study = study(&mut c);
    let ids = add_candidates(&mut c, &study, 1);
    invite(&mut c, &study, &ids);
    app.tick();
    let token = latest_link(app, "expert00@panel.example");
    let mut mail_client = app.client();
    // The one-click POST a mail client sends (RFC 8058).
    let r = mail_client.post_raw(
        &format!("/p/{token}/unsubscribe"),
        "application/x-www-form-urlencoded",
        b"List-Unsubscribe=One-Click",
    );
    assert_eq!(r.status, 200);
    let cand = &candidates(&mut c, &study)[0];
    assert_eq!(cand["status"], "declined");
    assert_eq!(cand["mail_opt_out"], true);
    let t0 = orakel::db::now();
    assert_eq!(app.tick_at(t0 + Duration::days(20)).reminders, 0);
    assert_eq!(mails_to(app, "expert00@panel.example").len(), 1);
    // Inviting again is refused with a reason.
    let r = invite(&mut c, &study, &ids);
    assert_eq!(r["queued"], 0);
    assert!(
        r["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no further e-mail")
    );
});

both_backends!(
    the_study_letter_is_edited_previewed_and_used,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let study = study(&mut c);
        let path = format!("/api/v1/studies/{study}/letters/invitation");
        let default = c.get(&path).json();
        assert_eq!(default["custom"], false);
        assert!(default["letter"].as_str().unwrap().contains("{{ name }}"));
        let r = c.put_json(
            &path,
            &json!({"subject": "Vil du hjælpe os?", "letter": "Kære {{ navn }}"}),
        );
        assert_eq!(r.status, 422);
        assert_eq!(r.json()["fields"][0]["field"], "letter");
        let r = c.post_json(&format!("{path}/preview"), &json!({"subject": "Vil du hjælpe os, {{ name }}?", "letter": "Kære {{ name }}\n\nVi skriver med vores egne ord om {{ study.title }}."}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.json()["text"]
                .as_str()
                .unwrap()
                .contains("Vi skriver med vores egne ord om Mentalt helbred")
        );
        assert_eq!(
            c.get(&path).json()["custom"],
            false,
            "a preview saves nothing"
        );
        let r = c.put_json(&path, &json!({"subject": "Vil du hjælpe os, {{ name }}?", "letter": "Kære {{ name }}\n\nVi skriver med vores egne ord."}));
        assert_eq!(r.status, 200);
        let ids = add_candidates(&mut c, &study, 1);
        invite(&mut c, &study, &ids);
        app.tick();
        let m = &mails_to(app, "expert00@panel.example")[0];
        assert!(m.text().contains("Kære Ekspert Nummer 00"));
        assert!(m.text().contains("Vi skriver med vores egne ord."));
        assert_eq!(c.delete(&path).json()["custom"], false);
    }
);

both_backends!(consent_records_the_text_version, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let study = study(&mut c);
    let v1 = c
        .get(&format!("/api/v1/studies/{study}/consent-text"))
        .json();
    assert_eq!(v1["version"], 1);
    let r = c.put_json(
        &format!("/api/v1/studies/{study}/consent-text"),
        &json!({"body": "Jeg deltager frivilligt. <script>alert(1)</script>"}),
    );
    assert_eq!(r.json()["version"], 2);
    let ids = add_candidates(&mut c, &study, 1);
    invite(&mut c, &study, &ids);
    app.tick();
    let token = latest_link(app, "expert00@panel.example");
    let mut expert = app.client();
    let page = expert.get(&format!("/p/{token}"));
    assert!(page.body.contains("Jeg deltager frivilligt."));
    assert!(
        !page.body.contains("<script>alert(1)</script>"),
        "typed text is escaped"
    );
    // Accepting through the page's form, as a browser without JavaScript would.
    let r = expert.post_form(&format!("/p/{token}/consent"), &[("decision", "accept")]);
    assert_eq!(r.status, 303);
    let me = expert.get(&format!("/api/v1/participation/{token}")).json();
    assert_eq!(me["status"], "accepted");
    assert_eq!(me["consent_version"], 2);
    assert!(me["consented_at"].is_string());
    let page = expert.get(&format!("/p/{token}"));
    assert!(page.body.contains("version 2"), "{}", page.body);
});

// The reference study's recruitment: 17 candidates, 12 accept, 3 decline (two for lack of
// time, one who felt unqualified, with one referral), 2 never answer; over SMTP.
on_both!(the_reference_study_recruits_its_panel, |backend| {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    with_app_where(
        backend,
        |s| use_smtp(s, &smtp.url()),
        |app| {
            let mut c = app.api("lead@example.org");
            let study = study(&mut c);
            let ids = add_candidates(&mut c, &study, 17);
            assert_eq!(invite(&mut c, &study, &ids)["queued"], 17);
            app.tick();
            let mails = smtp.wait_for(17);
            assert_eq!(mails.len(), 17);
            let link = |i: usize| {
                let addr = format!("expert{i:02}@panel.example");
                mails.iter().find(|m| m.to[0] == addr).unwrap().links()[0].clone()
            };
            let mut expert = app.client();
            for i in 0..12 {
                let r = expert.post_json(
                    &format!("/api/v1/participation/{}/consent", link(i)),
                    &json!({"accept": true}),
                );
                assert_eq!(r.json()["status"], "accepted");
            }
            for (i, reason) in [
                (12, "Lack of time"),
                (13, "Lack of time"),
                (14, "Does not feel qualified"),
            ] {
                let mut body = json!({"accept": false, "reason": reason});
                if i == 14 {
                    body["referral"] = json!({"name": "Anden Kandidat", "email": "anden@panel.example", "organisation": "Brancheforeningen"});
                }
                assert_eq!(
                    expert
                        .post_json(&format!("/api/v1/participation/{}/consent", link(i)), &body)
                        .json()["status"],
                    "declined"
                );
            }
            let t0 = orakel::db::now();
            for days in [6, 11, 16] {
                app.tick_at(t0 + Duration::days(days));
            }
            let counts = status_counts(&mut c, &study);
            assert_eq!(counts.get("accepted"), Some(&12));
            assert_eq!(counts.get("declined"), Some(&3));
            assert_eq!(counts.get("no_reply"), Some(&2));
            assert_eq!(
                counts.get("identified"),
                Some(&1),
                "the referral, waiting to be invited"
            );
            let pseudonyms: HashSet<String> = candidates(&mut c, &study)
                .iter()
                .filter_map(|x| x["pseudonym"].as_str().map(str::to_string))
                .collect();
            assert_eq!(pseudonyms.len(), 12, "twelve distinct pseudonyms");
            let rec = c
                .get(&format!("/api/v1/studies/{study}/recruitment"))
                .json();
            assert_eq!(rec["by_status"]["accepted"], 12);
            assert_eq!(rec["decline_reasons"]["Lack of time"], 2);
            let overview = c.get(&format!("/api/v1/studies/{study}/overview")).json();
            assert_eq!(overview["accepted"], 12);
            assert_eq!(overview["phase"], "recruitment");
            // 17 invitations, 12 confirmations, reminders to the two silent ones.
            let to_silent = smtp
                .received()
                .iter()
                .filter(|m| m.to[0] == "expert15@panel.example")
                .count();
            assert_eq!(to_silent, 3);
        },
    );
});

both_backends!(
    recruitment_pages_work_without_javascript,
    |app: &TestApp| {
        let mut b = app.browser("page@example.org");
        let csrf = b.csrf();
        let r = b.post_form(
            "/studies/new",
            &[("title", "Sider"), ("language", "en"), ("_csrf", &csrf)],
        );
        let home = r.header("location").unwrap().to_string();
        let study = home.rsplit('/').next().unwrap().to_string();
        // Attributes through the form, several at once.
        let form = b.get(&format!("/studies/{study}/strata"));
        assert!(
            form.body.contains("name=\"key.2\"") && !form.body.contains("name=\"key.3\""),
            "room for three new attributes: {}",
            form.body
        );
        let r = b.post_form(
            &format!("/studies/{study}/strata"),
            &[
                ("_csrf", &csrf),
                ("key.0", "sector"),
                ("label.0", "Sector"),
                ("values.0", "Retail\nFinance"),
                ("key.1", "region"),
                ("label.1", "Region"),
                ("values.1", "North\nSouth"),
                ("key.2", ""),
                ("label.2", ""),
                ("values.2", ""),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(
            r.header("location"),
            Some(format!("/studies/{study}/recruitment").as_str()),
            "no candidates wait for values yet"
        );
        let strata = b.get(&format!("/api/v1/studies/{study}/strata")).json();
        assert_eq!(strata.as_array().unwrap().len(), 2, "{strata}");
        // A candidate through the form; a bad e-mail is shown next to its field.
        let r = b.post_form(
            &format!("/studies/{study}/candidates/new"),
            &[
                ("_csrf", &csrf),
                ("name", "Per"),
                ("email", "per@"),
                ("strata.sector", "Retail"),
            ],
        );
        assert_eq!(r.status, 422);
        assert!(r.body.contains("is not an e-mail address"));
        let r = b.post_form(
            &format!("/studies/{study}/candidates/new"),
            &[
                ("_csrf", &csrf),
                ("name", "Per Hansen"),
                ("email", "per@firma.example"),
                ("strata.sector", "Retail"),
                ("source", "Network"),
            ],
        );
        assert_eq!(r.status, 303);
        let r = b.post_form(
            &format!("/studies/{study}/candidates/new"),
            &[
                ("_csrf", &csrf),
                ("name", "Fie Finans"),
                ("email", "fie@bank.example"),
                ("strata.sector", "Finance"),
            ],
        );
        assert_eq!(r.status, 303);
        // Neither has a region: saving the attributes now leads on to giving the values.
        let r = b.post_form(
            &format!("/studies/{study}/strata"),
            &[
                ("_csrf", &csrf),
                ("key.0", "sector"),
                ("label.0", "Sector"),
                ("values.0", "Retail\nFinance"),
                ("key.1", "region"),
                ("label.1", "Region"),
                ("values.1", "North\nSouth"),
            ],
        );
        assert_eq!(
            r.header("location"),
            Some(format!("/studies/{study}/strata/values").as_str())
        );
        let page = b.get(r.header("location").unwrap());
        assert!(
            page.body
                .contains("The panel attributes are saved. Now give the candidates their values.")
                && page
                    .body
                    .contains("Showing the 2 candidates who lack a value."),
            "{}",
            page.body
        );
        let page = b.get(&format!("/studies/{study}/recruitment"));
        assert!(page.body.contains("Per Hansen") && page.body.contains("Retail"));
        assert!(page.body.contains("per@firma.example"), "the e-mail column");
        assert!(page.body.contains("Showing 2 of 2 candidates."));
        assert!(page.body.contains("0 selected"));
        // Filters and "select all" are links and a GET form: they work without JavaScript.
        let page = b.get(&format!(
            "/studies/{study}/recruitment?status=identified&s.sector=Finance&select=all"
        ));
        assert!(
            page.body.contains("1 of 2 candidates matches."),
            "{}",
            page.body
        );
        assert_eq!(
            page.body.matches("name=\"candidate_ids\"").count(),
            1,
            "only Fie's row is shown"
        );
        assert!(page.body.contains("fie@bank.example") && !page.body.contains("per@firma.example"));
        assert_eq!(page.body.matches(" checked>").count(), 1, "{}", page.body);
        assert!(page.body.contains("1 selected"));
        assert!(
            page.body.contains(
                "href=\"?s.sector=Finance&amp;status=identified&amp;select=none#candidates-h\""
            ),
            "select none keeps the filter: {}",
            page.body
        );
        let page = b.get(&format!("/studies/{study}/recruitment?status=withdrawn"));
        assert!(page.body.contains("No candidate matches the filter."));
        let page = b.get(&format!("/studies/{study}/recruitment?s.sector=Retail"));
        let id = page
            .body
            .split("name=\"candidate_ids\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        // Invitations cannot be called back: a page of its own says how many go out, and
        // nothing is sent until it is confirmed.
        let r = b.post_form(
            &format!("/studies/{study}/invitations"),
            &[("_csrf", &csrf), ("candidate_ids", &id)],
        );
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("Send an invitation to 1 candidate?"),
            "{}",
            r.body
        );
        assert_eq!(r.form_value("confirmed").as_deref(), Some("1"));
        assert!(app.tick().sent == 0 && mails_to(app, "per@firma.example").is_empty());
        let r = b.post_form(
            &format!("/studies/{study}/invitations"),
            &[("_csrf", &csrf), ("candidate_ids", &id), ("confirmed", "1")],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let page = b.get(r.header("location").unwrap());
        assert!(page.body.contains("1 invitation queued."), "{}", page.body);
        // Sent again (a reload of the old kind): the candidate is skipped, nothing goes twice.
        let again = b.post_form(
            &format!("/studies/{study}/invitations"),
            &[("_csrf", &csrf), ("candidate_ids", &id), ("confirmed", "1")],
        );
        let page = b.get(again.header("location").unwrap());
        assert!(
            page.body
                .contains("0 invitations queued. 1 candidate could not be invited."),
            "{}",
            page.body
        );
        app.tick();
        let detail = b.get(&format!("/candidates/{id}"));
        assert!(detail.body.contains("Sent"), "the message state is shown");
        let messages = b.get(&format!("/studies/{study}/messages"));
        assert!(messages.body.contains("per@firma.example"));
        // The letters page and a preview.
        let r = b.post_form(
            &format!("/studies/{study}/letters/reminder"),
            &[
                ("_csrf", &csrf),
                ("subject", "Hi {{ name }}"),
                ("letter", "Dear {{ name }}, please answer."),
                ("action", "preview"),
            ],
        );
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Dear Anne Example, please answer."));
        // The preview is a document of its own, framed on the letter's page: the HTML e-mail
        // with the study's values, then its text part; it may show inline styles and nothing
        // else may run in it.
        let policy = r
            .header("content-security-policy")
            .unwrap_or("")
            .to_string();
        assert!(
            policy.contains("sandbox") && policy.contains("default-src 'none'"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'self'"));
        assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
        assert!(
            r.body.contains("Hi Anne Example"),
            "the subject: {}",
            r.body
        );
        assert!(r.body.contains("<pre lang=\"en\">"), "the text part");
        assert!(
            r.body.contains("style=\"display:inline-block"),
            "the HTML e-mail's own styles"
        );
        // A letter with a mistake says what is wrong there, and nothing is saved.
        let r = b.post_form(
            &format!("/studies/{study}/letters/reminder"),
            &[
                ("_csrf", &csrf),
                ("subject", "Hi"),
                ("letter", "Dear {% if name %}"),
                ("action", "preview"),
            ],
        );
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("The letter cannot be shown yet:"),
            "{}",
            r.body
        );
        // The letter's page: the text, the frame with the letter as it stands, the names.
        let page = b.get(&format!("/studies/{study}/letters/reminder"));
        assert!(page.body.contains("formtarget=\"mail-preview\""));
        assert!(page.body.contains(&format!(
            "src=\"/studies/{study}/letters/reminder/preview\""
        )));
        assert!(
            page.body.contains("{{ study.funder }}") && page.body.contains("{% if study.funder %}")
        );
        assert!(
            !page.body.contains("{{ deadline }}"),
            "a reminder to candidates has no deadline"
        );
        let saved = b.get(&format!("/studies/{study}/letters/reminder/preview"));
        assert_eq!(saved.status, 200);
        assert!(
            !saved.body.contains("Dear Anne Example, please answer."),
            "nothing was saved"
        );
        assert!(saved.body.contains("Anne Example"));
        // Saving says so on the letter's page; the preview then shows the saved text.
        let r = b.post_form(
            &format!("/studies/{study}/letters/reminder"),
            &[
                ("_csrf", &csrf),
                ("subject", "Hi {{ name }}"),
                ("letter", "Dear {{ name }}, please answer."),
                ("action", "save"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let page = b.get(r.header("location").unwrap());
        assert!(page.body.contains("The letter was saved."));
        let saved = b.get(&format!("/studies/{study}/letters/reminder/preview"));
        assert!(saved.body.contains("Dear Anne Example, please answer."));
        let mut other = app.browser("stranger@example.org");
        assert_eq!(
            other
                .get(&format!("/studies/{study}/letters/reminder/preview"))
                .status,
            404
        );
        // The import page's preview with a multipart upload.
        let boundary = "XyZ";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\npreview\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\nname,email,sector\nEva,eva@x.example,Finance\nBad,bad,Retail\n\r\n--{boundary}--\r\n"
        );
        let r = b.post_raw(
            &format!("/studies/{study}/candidates/import"),
            &format!("multipart/form-data; boundary={boundary}"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("1 row has problems"), "{}", r.body);
    }
);

/// The whole invitation as it leaves Orakel, with what changes per message masked: the token,
/// the Message-ID, the date and the MIME boundary. UPDATE_SNAPSHOTS=1 rewrites the snapshot.
fn masked(raw: &str, base: &str) -> String {
    let mut out = Vec::new();
    for line in raw.replace("\r\n", "\n").lines() {
        let mut l = line.replace(base, "http://ORAKEL");
        for prefix in ["Message-ID: ", "Date: "] {
            if l.starts_with(prefix) {
                l = format!("{prefix}MASKED");
            }
        }
        if let Some(i) = l.find("boundary=") {
            l = format!("{}boundary=MASKED", &l[..i]);
        }
        if l.starts_with("--") && l.len() > 20 && !l.contains(' ') {
            l = if l.ends_with("--") {
                "--MASKED--".into()
            } else {
                "--MASKED".into()
            };
        }
        // Tokens: 43 URL-safe characters after /p/ or /unsubscribe/.
        for prefix in ["/p/", "/unsubscribe/"] {
            let mut masked_line = String::new();
            let mut rest = l.as_str();
            while let Some(i) = rest.find(prefix) {
                let tail = &rest[i + prefix.len()..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(tail.len());
                masked_line.push_str(&rest[..i + prefix.len()]);
                if end == 43 {
                    masked_line.push_str("TOKEN");
                    rest = &tail[end..];
                } else {
                    rest = tail;
                }
            }
            masked_line.push_str(rest);
            l = masked_line;
        }
        out.push(l);
    }
    out.join("\n") + "\n"
}

both_backends!(the_invitation_message_snapshot, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let study = study(&mut c);
    c.patch_json(
        &format!("/api/v1/studies/{study}"),
        &json!({"purpose": "Hvilke indsatser betyder mest?", "funder": "Norliv"}),
    );
    let ids = add_candidates(&mut c, &study, 1);
    invite(&mut c, &study, &ids);
    app.tick();
    let m = &mails_to(app, "expert00@panel.example")[0];
    let got = masked(&m.text(), &app.base);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/invitation.da.eml"
    );
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") && app.backend == Backend::Sqlite {
        std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
        std::fs::write(path, &got).unwrap();
    }
    let expected =
        std::fs::read_to_string(path).expect("the snapshot exists (UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(got, expected);
});
