//! A study beyond the size one SQL statement can list (SQLite binds at most 32,766 variables):
//! 900 panellists × 40 themes, more than 32,766 answers, on both backends. The archive of it
//! exports and imports into an empty server whole.

use chrono::Duration;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel};
use orakel::db::models::{Answer, Candidate, Panellist, RoundParticipation};
use orakel::db::schema::{answers, candidates, panellists, round_participations};

const PANELLISTS: usize = 900;
const THEMES: usize = 40;

/// Adds `n` accepted panellists to the study and the open round, each with a score for every
/// theme: written straight into the database, as the API would leave them, because through
/// the API this many would take minutes without testing anything more. `mixed` leaves every
/// third not started and every third a draft, and gives the first theme comments.
fn fill(app: &TestApp, study: &str, round: &str, themes: &[String], n: usize, mixed: bool) {
    let mut conn = app.conn();
    let template: Candidate = candidates::table
        .filter(candidates::study_id.eq(study))
        .filter(candidates::panellist_id.is_not_null())
        .select(Candidate::as_select())
        .first(&mut *conn)
        .unwrap();
    let part: RoundParticipation = round_participations::table
        .filter(round_participations::round_id.eq(round))
        .select(RoundParticipation::as_select())
        .first(&mut *conn)
        .unwrap();
    let at = orakel::db::now();
    let mut people = Vec::new();
    let mut panel = Vec::new();
    let mut parts = Vec::new();
    let mut given = Vec::new();
    for i in 0..n {
        let pid = orakel::db::new_id();
        panel.push(Panellist {
            id: pid.clone(),
            study_id: study.into(),
            pseudonym: format!("L{i:04}"),
            created_at: at,
            withdrawn_at: None,
        });
        let mut strata: serde_json::Map<String, Value> =
            serde_json::from_str(&template.strata).unwrap();
        if mixed {
            let gender = if i % 2 == 0 { "Woman" } else { "Man" };
            strata.insert("gender".into(), json!(gender));
        }
        people.push(Candidate {
            id: orakel::db::new_id(),
            name: format!("Stor Panel {i}"),
            email: Some(format!("large{i:04}@panel.example")),
            panellist_id: Some(pid.clone()),
            strata: Value::Object(strata).to_string(),
            ..template.clone()
        });
        parts.push(RoundParticipation {
            panellist_id: pid.clone(),
            submitted_at: (!mixed || i % 3 == 0).then_some(at),
            ..part.clone()
        });
        if mixed && i % 3 == 2 {
            continue;
        }
        for (j, theme) in themes.iter().enumerate() {
            let (comment, cleared, proposal) = if mixed {
                let here = j == 0 && i % 2 == 0;
                (
                    here.then(|| format!("Kommentar {i}")),
                    (here && i % 4 == 0).then_some(at),
                    (here && i % 10 == 0).then(|| format!("Forslag {i}")),
                )
            } else {
                ((i % 97 == 0).then(|| format!("Kommentar {i}")), None, None)
            };
            given.push(Answer {
                id: orakel::db::new_id(),
                round_id: round.into(),
                panellist_id: pid.clone(),
                theme_id: theme.clone(),
                score: Some(((i + j) % 5) as i32),
                dont_know: false,
                comment,
                proposal,
                reason: None,
                comment_cleared_at: cleared,
                created_at: at,
                updated_at: at,
            });
        }
    }
    // One row at a time (the connection type spans both backends and has no batch insert),
    // in one transaction.
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        for row in &panel {
            diesel::insert_into(panellists::table)
                .values(row)
                .execute(c)?;
        }
        for row in &people {
            diesel::insert_into(candidates::table)
                .values(row)
                .execute(c)?;
        }
        for row in &parts {
            diesel::insert_into(round_participations::table)
                .values(row)
                .execute(c)?;
        }
        for row in &given {
            diesel::insert_into(answers::table).values(row).execute(c)?;
        }
        Ok(())
    })
    .unwrap();
}

both_backends!(
    an_archive_of_more_answers_than_one_statement_can_bind,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let mut themes: Vec<String> = codebook(&mut c, &p.study).into_values().collect();
        let category = c
            .post_json(
                &format!("/api/v1/studies/{}/categories", p.study),
                &json!({"code": "Z", "title": "Flere temaer"}),
            )
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        while themes.len() < THEMES {
            let number = themes.len() + 1;
            let r = c.post_json(
                &format!("/api/v1/studies/{}/themes", p.study),
                &json!({"category_id": category, "number": number, "title": format!("Tema {number}")}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            themes.push(r.json()["id"].as_str().unwrap().to_string());
        }
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        fill(app, &p.study, &round, &themes, PANELLISTS, false);
        let expected = PANELLISTS * THEMES;
        assert!(expected > 32_766);

        let (status, bytes) = c.get_bytes(&format!("/api/v1/studies/{}/archive", p.study));
        assert_eq!(
            status,
            200,
            "{}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
        );
        let archive: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(archive["answers"].as_array().unwrap().len(), expected);
        assert_eq!(
            archive["round_participations"].as_array().unwrap().len(),
            PANELLISTS + 3
        );

        // Into an empty server: the same study, every answer, and the same report.
        let other = TestApp::spawn(app.backend).unwrap();
        let mut c2 = other.api("lead@example.org");
        let r = c2.post_raw("/api/v1/archives", "application/json", &bytes);
        assert_eq!(r.status, 201, "{}", r.body);
        let (status, again) = c2.get_bytes(&format!("/api/v1/studies/{}/archive", p.study));
        assert_eq!(status, 200);
        let again: Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(again["answers"], archive["answers"]);
        let report = |c: &mut Client| {
            let mut r = c
                .get(&format!(
                    "/api/v1/studies/{}/report?round={number}&lang=en",
                    p.study
                ))
                .json();
            r["generated_at"] = Value::Null;
            r["themes"].clone()
        };
        let here = report(&mut c);
        assert_eq!(here, report(&mut c2));
        assert_eq!(here[0]["n"], (PANELLISTS) as u64, "{}", here[0]);
    }
);

/// Each bad query of a list is refused (422) naming its field.
fn refused(c: &mut Client, path: &str, cases: &[(&str, &str)]) {
    for (bad, field) in cases {
        let r = c.get(&format!("{path}{bad}"));
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(r.json()["fields"][0]["field"], *field, "{bad}: {}", r.body);
    }
}

fn page(c: &mut Client, study: &str, query: &str) -> Value {
    let r = c.get(&format!("/api/v1/studies/{study}/candidates{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.json()
}

both_backends!(
    candidates_are_searched_filtered_sorted_and_paged,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let study = crate::recruitment::study(&mut c);
        let ids = crate::recruitment::add_candidates(&mut c, &study, 250);

        let first = page(&mut c, &study, "");
        assert_eq!(first["total"], 250);
        assert_eq!(first["limit"], 100);
        assert_eq!(first["items"].as_array().unwrap().len(), 100);
        let names: Vec<String> = first["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_lowercase())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "by name unless asked");
        let last = page(&mut c, &study, "?offset=200&limit=100");
        assert_eq!(last["items"].as_array().unwrap().len(), 50);
        assert_eq!(
            page(&mut c, &study, "?limit=1000")["items"]
                .as_array()
                .unwrap()
                .len(),
            250
        );

        // Search in name, e-mail and organisation, any case.
        assert_eq!(page(&mut c, &study, "?q=Nummer%2007")["total"], 1);
        assert_eq!(page(&mut c, &study, "?q=EXPERT07%40")["total"], 1);
        assert_eq!(page(&mut c, &study, "?q=organisation%203")["total"], 50);
        // Status, attribute values and source; they combine.
        crate::recruitment::invite(&mut c, &study, &ids[..10]);
        assert_eq!(page(&mut c, &study, "?status=invited")["total"], 10);
        assert_eq!(page(&mut c, &study, "?status=identified")["total"], 240);
        let industry = (0..250).filter(|i| i % 4 == 1).count();
        assert_eq!(
            page(&mut c, &study, "?stratum.sector=Industry")["total"],
            industry
        );
        let both = (0..10).filter(|i| i % 4 == 1).count();
        assert_eq!(
            page(&mut c, &study, "?stratum.sector=Industry&status=invited")["total"],
            both
        );
        let added = page(&mut c, &study, "?sort=added&limit=1");
        assert_eq!(added["items"][0]["id"], ids[249].as_str(), "newest first");
        // Bad parameters: said, nothing shown.
        refused(
            &mut c,
            &format!("/api/v1/studies/{study}/candidates"),
            &[
                ("?limit=0", "limit"),
                ("?limit=1001", "limit"),
                ("?offset=-1", "offset"),
                ("?status=nope", "status"),
                ("?sort=colour", "sort"),
            ],
        );

        // The page: searched, paged, small, and "invite everyone matching" with the count.
        let mut b = app.client();
        b.login("lead@example.org", PASSWORD);
        let whole = b.get(&format!("/studies/{study}/recruitment"));
        assert_eq!(whole.status, 200);
        assert!(whole.body.len() < 300 * 1024, "{} bytes", whole.body.len());
        let says = |body: &str, da: &str, en: &str| body.contains(da) || body.contains(en);
        assert!(says(&whole.body, "Side 1 af 3.", "Page 1 of 3."), "paged");
        assert!(
            !whole.body.contains("id=\"tree-h\""),
            "no referral tree without referrals"
        );
        let second = b.get(&format!("/studies/{study}/recruitment?page=3"));
        assert!(
            says(&second.body, "Side 3 af 3.", "Page 3 of 3.")
                && second.body.contains("Ekspert Nummer 99")
        );
        let found = b.get(&format!(
            "/studies/{study}/recruitment?q=organisation+3&status=identified"
        ));
        assert!(
            says(
                &found.body,
                "48 af 250 kandidater passer.",
                "48 of 250 candidates match."
            ),
            "{}",
            found.body
        );
        assert!(says(
            &found.body,
            "Invitér alle 48 kandidater, der passer og kan inviteres",
            "Invite all 48 matching candidates who can be invited"
        ));
        let csrf = b.csrf();
        let r = b.post_form(
            &format!("/studies/{study}/invitations"),
            &[
                ("_csrf", csrf.as_str()),
                ("all_matching", "1"),
                ("q", "organisation 3"),
                ("status", "identified"),
                ("confirmed", "1"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(page(&mut c, &study, "?status=invited")["total"], 58);
    }
);

fn progress(c: &mut Client, round: &str, query: &str) -> Value {
    let r = c.get(&format!("/api/v1/rounds/{round}/progress{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.json()
}

fn count(v: &Value) -> (u64, usize) {
    (
        v["total"].as_u64().unwrap(),
        v["items"].as_array().unwrap().len(),
    )
}

both_backends!(
    a_round_of_hundreds_is_paged_and_filtered,
    |app: &TestApp| {
        const N: usize = 250;
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let themes: Vec<String> = codebook(&mut c, &p.study).into_values().collect();
        let (round, _) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        fill(app, &p.study, &round, &themes, N, true);
        let by = |f: &dyn Fn(usize) -> bool| (0..N).filter(|i| f(*i)).count();
        let (submitted, draft) = (by(&|i| i % 3 == 0), by(&|i| i % 3 == 1));
        let not_started = by(&|i| i % 3 == 2) + 3;

        // The counts cover the round; the page holds a hundred, by pseudonym.
        let all = progress(&mut c, &round, "");
        assert_eq!(all["counts"]["panellists"], N + 3);
        assert_eq!(all["counts"]["submitted"], submitted);
        assert_eq!(all["counts"]["draft"], draft);
        assert_eq!(all["counts"]["not_started"], not_started);
        assert_eq!(count(&all), ((N + 3) as u64, 100));
        let names: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["pseudonym"].as_str().unwrap())
            .collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
        assert_eq!(
            count(&progress(&mut c, &round, "?status=draft")),
            (draft as u64, draft)
        );
        let tail = progress(&mut c, &round, "?status=not_started&limit=10&offset=80");
        assert_eq!(count(&tail), (not_started as u64, not_started - 80));
        assert!(
            tail["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["status"] == "not_started" && x["answered"] == 0)
        );
        let one = progress(&mut c, &round, "?q=l0007");
        assert_eq!(count(&one), (1, 1));
        assert_eq!(one["items"][0]["name"], "Stor Panel 7");
        assert_eq!(one["items"][0]["status"], "draft");
        assert_eq!(one["items"][0]["answered"], themes.len());
        // "Stor Panel 1", "1x" and "1xx" of 250.
        assert_eq!(
            count(&progress(&mut c, &round, "?q=STOR%20panel%201")).0,
            111
        );
        let women = progress(&mut c, &round, "?stratum.gender=Woman&limit=1000");
        assert_eq!(women["total"], N / 2 + 1, "the even ones and expert00");
        let both = progress(&mut c, &round, "?stratum.gender=Woman&status=submitted");
        assert_eq!(both["total"], by(&|i| i % 2 == 0 && i % 3 == 0));
        refused(
            &mut c,
            &format!("/api/v1/rounds/{round}/progress"),
            &[
                ("?status=nope", "status"),
                ("?limit=0", "limit"),
                ("?limit=1001", "limit"),
                ("?offset=-1", "offset"),
            ],
        );

        // One theme's comments: those not yet cleared first, filters, pages.
        let first = &themes[0];
        let texts = by(&|i| i % 3 != 2 && i % 2 == 0);
        let cleared = by(&|i| i % 3 != 2 && i % 4 == 0);
        let proposals = by(&|i| i % 3 != 2 && i % 10 == 0);
        let comments = |c: &mut Client, q: &str| {
            let r = c.get(&format!(
                "/api/v1/rounds/{round}/themes/{first}/comments{q}"
            ));
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.json()
        };
        let page1 = comments(&mut c, "");
        assert_eq!(page1["theme"]["counts"]["comments"], texts);
        assert_eq!(page1["theme"]["counts"]["waiting"], texts - cleared);
        assert_eq!(page1["theme"]["counts"]["cleared"], cleared);
        assert_eq!(page1["theme"]["counts"]["proposals"], proposals);
        assert_eq!(count(&page1), (texts as u64, 50));
        let everything = comments(&mut c, "?limit=1000");
        let flags: Vec<bool> = everything["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["cleared_for_report"].as_bool().unwrap())
            .collect();
        assert_eq!(flags.len(), texts);
        assert!(
            flags.windows(2).all(|w| w[0] <= w[1]),
            "not yet cleared first: {flags:?}"
        );
        assert_eq!(count(&comments(&mut c, "?show=cleared")).0, cleared as u64);
        assert_eq!(
            count(&comments(&mut c, "?show=proposals")).0,
            proposals as u64
        );
        let twelve = by(&|i| i % 3 != 2 && i % 2 == 0 && format!("Kommentar {i}").contains(" 12"));
        assert_eq!(
            count(&comments(&mut c, "?q=kommentar%2012")).0,
            twelve as u64
        );
        assert_eq!(
            c.get(&format!(
                "/api/v1/rounds/{round}/themes/{first}/comments?show=all"
            ))
            .status,
            422
        );
        assert_eq!(
            c.get(&format!("/api/v1/rounds/{round}/themes/nothing/comments"))
                .status,
            404
        );
        // The whole list the scripts used before still answers.
        let whole = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
        assert_eq!(whole["panellists"].as_array().unwrap().len(), N + 3);
        assert_eq!(
            whole["themes"][0]["comments"].as_array().unwrap().len(),
            texts
        );

        // The pages: counts first, a hundred at a time, filters as links and a form.
        let mut b = app.client();
        b.login("lead@example.org", PASSWORD);
        let r = b.get(&format!("/rounds/{round}"));
        assert_eq!(r.status, 200);
        assert!(r.body.len() < 300_000, "{} bytes", r.body.len());
        assert!(
            r.body.contains("Page 1 of 3") || r.body.contains("Side 1 af 3"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains(&format!("/rounds/{round}/themes/{first}/comments"))
        );
        assert!(
            !r.body.contains("Kommentar 0<"),
            "comments are on the theme's page"
        );
        let found = b.get(&format!("/rounds/{round}?q=L0007&s.gender=Man"));
        assert!(found.body.contains("Stor Panel 7<"), "{}", found.body);
        assert!(!found.body.contains("Stor Panel 8<"));
        let page3 = b.get(&format!("/rounds/{round}?page=3"));
        assert!(page3.body.contains("L0249") && !page3.body.contains("L0000"));
        let waiting = b.get(&format!(
            "/rounds/{round}/themes/{first}/comments?show=waiting"
        ));
        assert_eq!(waiting.status, 200);
        assert!(waiting.body.contains("Kommentar 10<") && !waiting.body.contains("Kommentar 4<"));
        // Clearing one keeps the list it was done from.
        let answer = everything["items"][0]["answer_id"]
            .as_str()
            .unwrap()
            .to_string();
        let csrf = b.csrf();
        let r = b.post_form(
            &format!("/rounds/{round}"),
            &[
                ("_csrf", &csrf),
                ("action", "clear"),
                ("answer_id", &answer),
                ("theme_id", first),
                ("show", "waiting"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let to = r.header("location").unwrap_or_default();
        assert!(
            to.starts_with(&format!(
                "/rounds/{round}/themes/{first}/comments?show=waiting#answer-"
            )),
            "{to}"
        );
        assert_eq!(
            comments(&mut c, "")["theme"]["counts"]["cleared"],
            cleared + 1
        );
        // A minority statement too long is refused on the theme's page and keeps nothing.
        let long = "x".repeat(5001);
        let r = b.post_form(
            &format!("/rounds/{round}"),
            &[
                ("_csrf", &csrf),
                ("action", "minority"),
                ("theme_id", first),
                ("statement", &long),
            ],
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("id=\"statement\""), "{}", r.body);
        assert!(comments(&mut c, "")["theme"]["minority_statement"].is_null());
    }
);

both_backends!(
    the_outbox_and_the_audit_log_are_paged_and_filtered,
    |app: &TestApp| {
        use orakel::db::schema::outbox;
        use orakel::domain::states::MessageState;
        const N: usize = 250;
        let mut c = app.api("lead@example.org");
        let study = crate::recruitment::study(&mut c);
        let ids = crate::recruitment::add_candidates(&mut c, &study, N);
        crate::recruitment::invite(&mut c, &study, &ids);
        // Deliveries that failed long ago, among the rest.
        {
            let mut conn = app.conn();
            diesel::update(outbox::table.filter(outbox::recipient.like("expert1%")))
                .set((
                    outbox::state.eq(MessageState::Failed),
                    outbox::last_error.eq(Some("550 mailbox unavailable")),
                ))
                .execute(&mut *conn)
                .unwrap();
        }
        // expert1, expert10–19 and expert100–199 of 0–249.
        let failed = (0..N)
            .filter(|i| format!("expert{i:02}").starts_with("expert1"))
            .count();
        let messages = |c: &mut Client, q: &str| {
            let r = c.get(&format!("/api/v1/studies/{study}/messages{q}"));
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.json()
        };
        let all = messages(&mut c, "");
        assert_eq!(all["counts"]["failed"], failed);
        assert_eq!(
            all["counts"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>(),
            N as u64
        );
        assert_eq!(count(&all), (N as u64, 100));
        let states: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["state"].as_str().unwrap())
            .collect();
        let k = failed.min(states.len());
        assert!(
            states[..k].iter().all(|s| *s == "failed")
                && states[k..].iter().all(|s| *s != "failed"),
            "failed first: {states:?}"
        );
        let second = messages(&mut c, "?offset=100");
        assert_eq!(second["items"][failed - 100]["state"], "queued");
        assert_eq!(second["items"][failed - 101]["state"], "failed");
        assert_eq!(count(&messages(&mut c, "?state=failed")).0, failed as u64);
        assert_eq!(count(&messages(&mut c, "?kind=invitation")).0, N as u64);
        assert_eq!(count(&messages(&mut c, "?kind=round_reminder")).0, 0);
        let ones = messages(&mut c, "?to=EXPERT1&state=failed&limit=1000");
        assert_eq!(count(&ones), (failed as u64, failed), "any case");
        let one = messages(&mut c, "?to=expert01%40");
        assert_eq!(count(&one), (1, 1));
        assert_eq!(one["items"][0]["recipient"], "expert01@panel.example");
        // What is typed is looked for as letters, not as a pattern.
        assert_eq!(count(&messages(&mut c, "?to=%25")).0, 0);
        assert_eq!(count(&messages(&mut c, "?to=_")).0, 0);
        let last = messages(&mut c, "?limit=100&offset=200");
        assert_eq!(count(&last), (N as u64, 50));
        refused(
            &mut c,
            &format!("/api/v1/studies/{study}/messages"),
            &[
                ("?state=lost", "state"),
                ("?kind=letter", "kind"),
                ("?limit=0", "limit"),
                ("?offset=x", "offset"),
            ],
        );

        // The audit log: every view of the candidates is an entry.
        for _ in 0..120 {
            c.get(&format!("/api/v1/studies/{study}/candidates?limit=1"));
        }
        let audit = |c: &mut Client, q: &str| {
            let r = c.get(&format!("/api/v1/studies/{study}/audit{q}"));
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.json()
        };
        let log = audit(&mut c, "");
        let total = log["total"].as_u64().unwrap();
        assert!(total > 120, "{total}");
        let viewed = audit(&mut c, "?action=identities.viewed&limit=1000");
        assert!(viewed["total"].as_u64().unwrap() >= 120);
        assert!(
            viewed["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["action"] == "identities.viewed" && e["actor_kind"] == "researcher")
        );
        assert_eq!(audit(&mut c, "?actor=funder")["total"], 0);
        let two = audit(&mut c, "?limit=2&offset=1");
        assert_eq!(count(&two), (total, 2));
        assert_eq!(two["items"][0], log["items"][1], "newest first, in pages");
        refused(
            &mut c,
            &format!("/api/v1/studies/{study}/audit"),
            &[("?action=looked", "action"), ("?actor=robot", "actor")],
        );

        // The pages: counts first, a hundred at a time, the filters.
        let mut b = app.client();
        b.login("lead@example.org", PASSWORD);
        let page = b.get(&format!("/studies/{study}/messages"));
        assert_eq!(page.status, 200);
        assert!(page.body.len() < 300_000, "{} bytes", page.body.len());
        assert!(
            page.body.contains("Page 1 of 3") || page.body.contains("Side 1 af 3"),
            "{}",
            page.body
        );
        let found = b.get(&format!("/studies/{study}/messages?to=expert42%40"));
        assert!(
            found.body.contains("expert42@panel.example"),
            "{}",
            found.body
        );
        assert!(!found.body.contains("expert43@panel.example"));
        let failed_page = b.get(&format!("/studies/{study}/messages?state=failed"));
        assert!(failed_page.body.contains("550 mailbox unavailable"));
        assert!(!failed_page.body.contains("expert00@panel.example"));
        let log_page = b.get(&format!("/studies/{study}/audit"));
        assert_eq!(log_page.status, 200);
        assert!(
            log_page.body.len() < 300_000,
            "{} bytes",
            log_page.body.len()
        );
        assert!(
            log_page.body.contains("Page 1 of ") || log_page.body.contains("Side 1 af "),
            "{}",
            log_page.body
        );
        assert!(
            log_page
                .body
                .contains(r#"href="?page=2#audit-h" rel="next""#)
        );
        let filtered = b.get(&format!("/studies/{study}/audit?actor=system"));
        assert_eq!(filtered.status, 200);
        assert!(!filtered.body.contains("Page 1 of") && !filtered.body.contains("Side 1 af"));
    }
);

both_backends!(
    a_closed_rounds_report_is_kept_until_something_changes,
    |app: &TestApp| {
        let (mut c, study, _) = crate::report::reference(app);
        let url = format!("/api/v1/studies/{study}/report?lang=en");
        let first = c.get(&url).json();
        // Made once: the second answer is the first, to its time of making.
        assert_eq!(c.get(&url).json(), first);
        // Kept per reader and language.
        let funder = c.get(&format!("{url}&view=funder")).json();
        assert_eq!(funder["for_funder"], true);
        assert_eq!(first["for_funder"], false);
        let da = c
            .get(&format!("/api/v1/studies/{study}/report?lang=da"))
            .json();
        assert_eq!(da["language"], "da");
        assert_eq!(first["language"], "en");
        let pdf = format!("/api/v1/studies/{study}/report.pdf?lang=en");
        let (status, kind, once) = crate::report::get_bytes(app, &c, &pdf);
        assert_eq!((status, kind.as_str()), (200, "application/pdf"));
        assert_eq!(crate::report::get_bytes(app, &c, &pdf).2, once);
        let xlsx = format!("/api/v1/studies/{study}/report.xlsx?lang=en");
        let sheet = crate::report::get_bytes(app, &c, &xlsx).2;
        assert_eq!(crate::report::get_bytes(app, &c, &xlsx).2, sheet);

        // A change to what the report says is in the next answer, in every format.
        let round = c.get(&format!("/api/v1/studies/{study}/rounds")).json()[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let theme = first["themes"][1]["theme_id"].as_str().unwrap();
        let statement = "A minority weighed this far higher.";
        let r = c.put_json(
            &format!("/api/v1/rounds/{round}/themes/{theme}/minority-statement"),
            &json!({"statement": statement}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let after = c.get(&url).json();
        assert_ne!(after["generated_at"], first["generated_at"]);
        assert!(after.to_string().contains(statement));
        assert!(!first.to_string().contains(statement));
        assert_ne!(crate::report::get_bytes(app, &c, &pdf).2, once);
        let kept = c.get(&url).json();
        assert_eq!(kept, after);

        // Another server on the same database changes the statement: on PostgreSQL it counts
        // the change there, and this server's next answer has it.
        let other = "Another server wrote this.";
        {
            use orakel::db::schema::minority_statements;
            let mut conn = app.conn();
            diesel::update(minority_statements::table)
                .set(minority_statements::statement.eq(other))
                .execute(&mut *conn)
                .unwrap();
            if app.backend == Backend::Postgres {
                orakel::db::count_change(&mut conn).unwrap();
            }
        }
        let seen = c.get(&url).json();
        if app.backend == Backend::Postgres {
            assert!(seen.to_string().contains(other));
        } else {
            // One server per SQLite file: a change beside it reaches the report with the next
            // change through it, or when the kept report ages out.
            assert_eq!(seen, kept);
        }
    }
);

/// Five thousand panellists in a real browser (SQLite: what the pages send does not depend on
/// the backend, which the tests above cover at smaller sizes).
#[test]
fn thousands_in_a_real_browser() {
    if !crate::browser::browser_available() {
        return;
    }
    with_app(Backend::Sqlite, |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let themes: Vec<String> = codebook(&mut c, &p.study).into_values().collect();
        let (round, _) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        fill(app, &p.study, &round, &themes, 5000, true);
        crate::browser::run_script(
            "large.mjs",
            &[
                &app.base,
                "lead@example.org",
                PASSWORD,
                &p.study,
                &round,
                &themes[0],
            ],
        );
    });
}
