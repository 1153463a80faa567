//! 1. Archives that reach into another team's study.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. Archives

/// A study with rows in every table an archive carries.
fn rich_study(app: &TestApp, c: &mut Client) -> String {
    let p = panel(app, c, 3);
    let sid = p.study.clone();
    // A decline with a referral: a candidate referred by another.
    let extra = c.post_json(
        &format!("/api/v1/studies/{sid}/candidates"),
        &json!({"name": "Dorte Nej", "email": "dorte@panel.example", "strata": {"sector": "Transport"}}),
    );
    let extra = extra.json()["id"].as_str().unwrap().to_string();
    c.post_json(
        &format!("/api/v1/studies/{sid}/invitations"),
        &json!({"candidate_ids": [extra]}),
    );
    app.tick();
    let token = latest_link(app, "dorte@panel.example");
    let r = app.client().post_json(
        &format!("/api/v1/participation/{token}/consent"),
        &json!({"accept": false, "reason": "Ingen tid", "referral": {"name": "Karl Kollega", "email": "karl@firma.example"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    c.put_json(
        &format!("/api/v1/studies/{sid}/consent-text"),
        &json!({"body": "Jeg deltager frivilligt og kan trække mig."}),
    );
    c.put_json(
        &format!("/api/v1/studies/{sid}/letters/invitation"),
        &json!({"subject": "Invitation", "letter": "Kære {{ name }}"}),
    );
    let themes = codebook(c, &sid);
    // Round 1: a guide, an appointment, a written questionnaire answered by one expert.
    let r = c.post_json(
        &format!("/api/v1/studies/{sid}/rounds"),
        &json!({"kind": "qualitative", "questionnaire": true, "closes_at": deadline_in(Duration::days(9))}),
    );
    let q = r.json()["id"].as_str().unwrap().to_string();
    let qn = r.json()["number"].as_i64().unwrap();
    c.put_json(
        &format!("/api/v1/rounds/{q}/guide"),
        &json!({"sections": [{"title": "Arbejde", "questions": [{"text": "Hvad virker?"}]}]}),
    );
    let names = pseudonyms(c, &sid);
    let first = names[&p.members[0].2].clone();
    let r = c.post_json(
        &format!("/api/v1/rounds/{q}/appointments"),
        &json!({"panellist": first, "starts_at": deadline_in(Duration::days(2)), "duration_minutes": 45, "state": "agreed"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        c.post_json(&format!("/api/v1/rounds/{q}/open"), &json!({}))
            .status,
        202
    );
    app.tick();
    let expert = &p.members[0].1;
    let form = app
        .client()
        .get(&format!(
            "/api/v1/participation/{expert}/rounds/{qn}/questionnaire"
        ))
        .json();
    let qid = form["sections"][0]["questions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.client().put_json(
        &format!("/api/v1/participation/{expert}/rounds/{qn}/questionnaire"),
        &json!({"answers": [{"question_id": qid, "text": "Tidlig indsats."}], "submit": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    c.post_json(&format!("/api/v1/rounds/{q}/close"), &json!({}));
    // Transcripts coded, with a statement's evidence.
    let mut order: Vec<String> = names.values().cloned().collect();
    order.sort();
    let ts = upload_interviews(c, &sid, &order[..1]);
    let t = ts.values().next().unwrap().clone();
    let ex = code(c, &t, "Lederne får for lidt støtte!", &[&themes[&1]]);
    let book = c.get(&format!("/api/v1/studies/{sid}/codebook")).json();
    let statement = book["categories"][0]["themes"][0]["statements"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.put_json(
        &format!("/api/v1/statements/{statement}/evidence"),
        &json!({"excerpt_ids": [ex["id"]]}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    // A rating round with answers and their changes.
    let (round, n) = open_round(
        c,
        &sid,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    for (i, m) in p.members.iter().enumerate() {
        for s in [1, 2 + i as i32 % 3] {
            let r = app.client().put_json(
                &format!("/api/v1/participation/{}/rounds/{n}/answers", m.1),
                &json!({"answers": [{"theme_id": themes[&1], "score": s}]}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    // A released small cell.
    let rep = c.get(&format!("/api/v1/studies/{sid}/report")).json();
    let comp = &rep["composition"];
    let r = c.put_json(
        &format!("/api/v1/studies/{sid}/releases"),
        &json!({"table_key": comp["table_key"], "cell_key": comp["rows"][0]["cells"][0]["key"], "released": true, "reason": "agreed"}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    sid
}

fn archive_of(app: &TestApp, c: &Client, study: &str) -> Value {
    let (s, _, bytes) = get_bytes(app, c, &format!("/api/v1/studies/{study}/archive"));
    assert_eq!(s, 200);
    serde_json::from_slice(&bytes).unwrap()
}

/// The same archive with every id replaced by a fresh one (consistently), as an attacker who
/// wants to import it again would do.
fn fresh_ids(v: &Value) -> Value {
    fn walk(v: &Value, map: &mut HashMap<String, String>) -> Value {
        match v {
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() && s.len() == 36 => Value::String(
                map.entry(s.clone())
                    .or_insert_with(|| uuid::Uuid::new_v4().to_string())
                    .clone(),
            ),
            Value::String(s) if s.starts_with('[') => {
                // JSON held in a text column (a revision's related themes).
                match serde_json::from_str::<Value>(s) {
                    Ok(inner) => Value::String(walk(&inner, map).to_string()),
                    Err(_) => v.clone(),
                }
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, map)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, map))).collect())
            }
            _ => v.clone(),
        }
    }
    walk(v, &mut HashMap::new())
}

/// Every table of an archive whose rows refer to rows of a study.
const REFERRING: [&str; 25] = [
    "strata",
    "panellists",
    "candidates",
    "candidate_events",
    "consent_texts",
    "consents",
    "email_templates",
    "rounds",
    "categories",
    "themes",
    "theme_revisions",
    "statements",
    "round_themes",
    "guide_sections",
    "guide_questions",
    "appointments",
    "questionnaire_answers",
    "transcripts",
    "excerpts",
    "codings",
    "statement_excerpts",
    "answers",
    "answer_changes",
    "round_participations",
    "small_cell_releases",
];

both_backends!(
    an_archive_cannot_reach_into_another_teams_study,
    |app: &TestApp| {
        let mut a = app.api("victim@example.org");
        let victim = rich_study(app, &mut a);
        let theirs = archive_of(app, &a, &victim);
        for t in REFERRING {
            assert!(
                !theirs[t].as_array().unwrap().is_empty(),
                "the victim's study has no {t}"
            );
        }
        let mut b = app.api("attacker@example.org");
        let own = b
            .post_json(
                "/api/v1/studies",
                &json!({"title": "Min egen", "language": "da"}),
            )
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = b.post_json(
            &format!("/api/v1/studies/{own}/candidates"),
            &json!({"name": "Egen Kandidat", "email": "egen@panel.example"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let mine = archive_of(app, &b, &own);
        let before = archive_of(app, &a, &victim);
        let studies_before = b.get("/api/v1/studies").json().as_array().unwrap().len();

        for t in REFERRING {
            // The attacker's own study under new ids, plus one of the victim's rows (under a
            // new id of its own) that still points into the victim's study.
            let mut forged = fresh_ids(&mine);
            let mut row = theirs[t][0].clone();
            if row.get("id").is_some() {
                row["id"] = json!(uuid::Uuid::new_v4().to_string());
            }
            forged[t].as_array_mut().unwrap().push(row);
            // Listing the researchers the row names, as the format asks.
            let listed = forged["researchers"].as_array_mut().unwrap();
            for r in theirs["researchers"].as_array().unwrap() {
                if !listed.contains(r) {
                    listed.push(r.clone());
                }
            }
            let r = b.post_raw(
                "/api/v1/archives",
                "application/json",
                forged.to_string().as_bytes(),
            );
            assert_eq!(r.status, 422, "{t}: {}", r.body);
            assert!(
                r.json()["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["field"].as_str().unwrap().starts_with(&format!("{t}["))),
                "{t}: the error names the row: {}",
                r.body
            );
        }
        assert_eq!(
            b.get("/api/v1/studies").json().as_array().unwrap().len(),
            studies_before,
            "nothing was imported"
        );
        assert_eq!(
            archive_of(app, &a, &victim),
            before,
            "the victim's study is as it was"
        );

        // An id that exists here already is a conflict, never a server error.
        let mut taken = fresh_ids(&mine);
        let theirs_candidate = theirs["candidates"][0]["id"].clone();
        let old = taken["candidates"][0]["id"].as_str().unwrap().to_string();
        let text = taken
            .to_string()
            .replace(&old, theirs_candidate.as_str().unwrap());
        let r = b.post_raw("/api/v1/archives", "application/json", text.as_bytes());
        assert_eq!(r.status, 409, "{}", r.body);
        taken["study"]["id"] = theirs["study"]["id"].clone();
        let r = b.post_raw(
            "/api/v1/archives",
            "application/json",
            taken.to_string().as_bytes(),
        );
        assert!(r.status == 409 || r.status == 422, "{}", r.body);

        // Naming someone as an owner gives them nothing: the importer owns it, the rest are
        // listed for the owner to add.
        let mut named = fresh_ids(&mine);
        named["researchers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"email": "victim@example.org", "name": "Offer"}));
        named["members"]
            .as_array_mut()
            .unwrap()
            .push(json!({"email": "victim@example.org", "role": "owner"}));
        let r = b.post_raw(
            "/api/v1/archives",
            "application/json",
            named.to_string().as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let imported = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(
            r.json()["members_not_added"][0]["email"],
            "victim@example.org"
        );
        assert_eq!(
            a.get(&format!("/api/v1/studies/{imported}")).status,
            404,
            "the named owner was not given access"
        );
        let members = b.get(&format!("/api/v1/studies/{imported}/members")).json();
        assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
        assert_eq!(members[0]["email"], "attacker@example.org");
    }
);
