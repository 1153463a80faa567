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
/// the API this many would take minutes without testing anything more.
fn fill(app: &TestApp, study: &str, round: &str, themes: &[String], n: usize) {
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
        people.push(Candidate {
            id: orakel::db::new_id(),
            name: format!("Stor Panel {i}"),
            email: Some(format!("large{i:04}@panel.example")),
            panellist_id: Some(pid.clone()),
            ..template.clone()
        });
        parts.push(RoundParticipation {
            panellist_id: pid.clone(),
            submitted_at: Some(at),
            ..part.clone()
        });
        for (j, theme) in themes.iter().enumerate() {
            given.push(Answer {
                id: orakel::db::new_id(),
                round_id: round.into(),
                panellist_id: pid.clone(),
                theme_id: theme.clone(),
                score: Some(((i + j) % 5) as i32),
                dont_know: false,
                comment: (i % 97 == 0).then(|| format!("Kommentar {i}")),
                proposal: None,
                reason: None,
                comment_cleared_at: None,
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
        fill(app, &p.study, &round, &themes, PANELLISTS);
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
        for (query, field) in [
            ("?limit=0", "limit"),
            ("?limit=1001", "limit"),
            ("?offset=-1", "offset"),
            ("?status=nope", "status"),
            ("?sort=colour", "sort"),
        ] {
            let r = c.get(&format!("/api/v1/studies/{study}/candidates{query}"));
            assert_eq!(r.status, 422, "{query}: {}", r.body);
            assert_eq!(r.json()["fields"][0]["field"], field);
        }

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
