//! Fresh attacks on anonymity and access, tried as an outsider would with the documented API:
//! archives that reach into another team's study, funder outputs below k or of an open round,
//! raw secrets at rest and in the log, redirects off the site, recoverable hidden cells,
//! expensive letters and uploads, links that outlive their promise, login limits, races.
//! Each runs on SQLite and on PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::Orakel;
use crate::recruitment::{add_candidates, latest_link, mail_files, mails_to, study};
use crate::report::get_bytes;
use crate::round1::{code, pseudonyms, upload_interviews};
use crate::rounds::{codebook, deadline_in, open_round, panel};
use crate::{both_backends, both_backends_where, on_both};

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

// ---------------------------------------------------------------------------------------------
// 2, 3. What a funder can see

/// A closed round in which theme 1 was scored by two panellists only (k = 3), and the funder
/// link's token.
fn a_round_with_a_small_theme(app: &TestApp) -> (Client, String, String, String) {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 4);
    let themes = codebook(&mut c, &p.study);
    let (round, n) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    for (i, m) in p.members.iter().take(3).enumerate() {
        let answers: Vec<Value> = themes
            .iter()
            .filter(|(number, _)| **number != 1 || i < 2)
            .map(|(number, id)| json!({"theme_id": id, "score": (number + i as i32) % 5}))
            .collect();
        let r = app.client().put_json(
            &format!("/api/v1/participation/{}/rounds/{n}/answers", m.1),
            &json!({"answers": answers, "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let link = c
        .post_json(
            &format!("/api/v1/studies/{}/report-links", p.study),
            &json!({"label": "Funder"}),
        )
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = link.rsplit('/').next().unwrap().to_string();
    (c, p.study, round, token)
}

both_backends!(
    a_funder_sees_nothing_below_k_and_no_open_round,
    |app: &TestApp| {
        let (mut c, study, round, token) = a_round_with_a_small_theme(app);
        let mut funder = app.client();
        // While the round is open there is nothing for the funder, in any format.
        for path in [
            format!("/f/{token}"),
            format!("/f/{token}?round=1"),
            format!("/f/{token}/report.csv"),
            format!("/f/{token}/report.pdf?round=1"),
        ] {
            let r = funder.get(&path);
            assert_eq!(r.status, 409, "{path}: {}", r.body);
            assert!(!r.body.contains("E0"), "{path}");
        }
        assert_eq!(
            c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}))
                .status,
            200
        );
        // Closed: the report, with theme 1 as "fewer than 3" and no figure for it anywhere.
        let page = funder.get(&format!("/f/{token}"));
        assert_eq!(page.status, 200, "{}", page.body);
        let row = page
            .body
            .split("<tr")
            .find(|r| r.contains("theme-number\">A1<"))
            .unwrap()
            .to_string();
        assert!(row.contains("færre end 3"), "{row}");
        assert!(!row.contains("<svg"), "no distribution: {row}");
        for (ext, table) in [("csv", "priorities"), ("csv", "stability")] {
            let (s, _, bytes) = get_bytes(
                app,
                &funder,
                &format!("/f/{token}/report.{ext}?table={table}"),
            );
            if table == "stability" {
                assert_ne!(s, 500);
                continue;
            }
            assert_eq!(s, 200);
            let csv = String::from_utf8(bytes).unwrap();
            let line = csv
                .lines()
                .find(|l| l.starts_with("1,"))
                .unwrap()
                .to_string();
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells[3], "færre end 3", "{line}");
            assert!(
                cells[4..].iter().all(|x| x.is_empty()),
                "no statistic, count or rank: {line}"
            );
        }
        let (s, _, xlsx) = get_bytes(app, &funder, &format!("/f/{token}/report.xlsx"));
        assert_eq!(s, 200);
        let sheets = crate::report::unzip(&xlsx);
        assert!(
            sheets.iter().any(|(_, x)| x.contains("færre end 3")),
            "the workbook says fewer than 3"
        );
        let (s, _, pdf) = get_bytes(app, &funder, &format!("/f/{token}/report.pdf"));
        assert_eq!(s, 200);
        if let Some((_, text)) = crate::report::pdf_text(&pdf) {
            assert!(text.contains("færre end 3"), "{text}");
        }
        // The researchers' copy for the funder is the funder's, and their own view marks it.
        let theirs = c
            .get(&format!("/api/v1/studies/{study}/report?view=funder"))
            .json();
        let t1 = &theirs["themes"][0];
        assert_eq!(t1["hidden"], true);
        assert!(t1["mean"].is_null() && t1["rank"].is_null(), "{t1}");
        assert_eq!(t1["counts"], json!([]));
        assert_eq!(t1["n"], 0);
        let own = c.get(&format!("/api/v1/studies/{study}/report")).json();
        assert_eq!(own["themes"][0]["n"], 2);
        assert_eq!(own["themes"][0]["hidden"], true);
        assert!(own["themes"][0]["rank"].is_null());
        assert_eq!(own["themes"][0]["consensus"], "none");
        assert_eq!(own["kendall"]["objects"], 12, "W leaves theme 1 out");
        assert!(
            own["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.as_str().unwrap().contains("færre end 3")),
            "the summary says so: {}",
            own["findings"]
        );
    }
);

both_backends!(
    a_funder_cannot_watch_the_next_round_move,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 4);
        let themes = codebook(&mut c, &p.study);
        let score = |app: &TestApp, n: i64, m: &(String, String, String), s: i32| {
            let answers: Vec<Value> = themes
                .values()
                .map(|id| json!({"theme_id": id, "score": s}))
                .collect();
            let r = app.client().put_json(
                &format!("/api/v1/participation/{}/rounds/{n}/answers", m.1),
                &json!({"answers": answers}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        };
        let (r1, n1) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        for (i, m) in p.members.iter().enumerate() {
            score(app, n1, m, i as i32 % 5);
        }
        c.post_json(&format!("/api/v1/rounds/{r1}/close"), &json!({}));
        let (_, n2) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "feedback": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        let link = c
            .post_json(
                &format!("/api/v1/studies/{}/report-links", p.study),
                &json!({}),
            )
            .json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let token = link.rsplit('/').next().unwrap().to_string();
        let mut funder = app.client();
        let fetch = |funder: &mut Client| {
            ["priorities", "flow", "composition"]
                .map(|t| funder.get(&format!("/f/{token}/report.csv?table={t}")).body)
        };
        let before = fetch(&mut funder);
        assert!(before[0].contains("mean"));
        // One expert saves in the open round, another withdraws: the funder sees no change.
        score(app, n2, &p.members[0], 4);
        let w = c.post_json(
            &format!("/api/v1/candidates/{}/withdraw", p.members[1].0),
            &json!({"reason": "left"}),
        );
        assert_eq!(w.status, 200, "{}", w.body);
        assert_eq!(fetch(&mut funder), before);
        assert_eq!(funder.get(&format!("/f/{token}?round={n2}")).status, 409);
    }
);

// ---------------------------------------------------------------------------------------------
// 4, 18. Secrets at rest and in the log

#[derive(diesel::QueryableByName)]
struct TextValue {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Every value of every column of every table, as text.
fn everything_stored(url: &str) -> Vec<(String, String, String)> {
    use diesel::RunQueryDsl;
    let pool = orakel::db::connect(url, 1, std::time::Duration::from_secs(10), 5000)
        .unwrap()
        .0;
    let mut conn = orakel::db::checkout(&pool).unwrap();
    let pg = url.starts_with("postgres");
    let tables: Vec<Name> = diesel::sql_query(if pg {
        "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    })
    .load(&mut *conn)
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let columns: Vec<Name> = diesel::sql_query(if pg {
            format!(
                "SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{}'",
                t.name
            )
        } else {
            format!("SELECT name FROM pragma_table_info('{}')", t.name)
        })
        .load(&mut *conn)
        .unwrap();
        for col in columns {
            let values: Vec<TextValue> = diesel::sql_query(format!(
                "SELECT CAST(\"{}\" AS TEXT) AS v FROM \"{}\"",
                col.name, t.name
            ))
            .load(&mut *conn)
            .unwrap();
            for v in values.into_iter().filter_map(|v| v.v) {
                out.push((t.name.clone(), col.name.clone(), v));
            }
        }
    }
    out
}

/// The `.eml` files in a folder.
fn eml_in(dir: &std::path::Path) -> Vec<crate::smtp::Received> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "eml") {
            let raw = std::fs::read_to_string(&p).unwrap();
            let m = crate::smtp::Received {
                to: Vec::new(),
                raw,
            };
            let to = m.header("To").unwrap_or_default();
            out.push(crate::smtp::Received {
                to: vec![to],
                raw: m.raw,
            });
        }
    }
    out
}

fn wait_for_mail(dir: &std::path::Path, n: usize) -> Vec<crate::smtp::Received> {
    let started = std::time::Instant::now();
    loop {
        let m = eml_in(dir);
        if m.len() >= n {
            return m;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "only {} of {n} messages arrived",
            m.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

on_both!(no_secret_is_kept_or_logged_after_a_journey, |backend| {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let mut server = Orakel::start(
        &db.url,
        &db.dir,
        &[
            ("ORAKEL__LOG__LEVEL", "debug".into()),
            ("ORAKEL__MAIL__TRANSPORT", "file".into()),
        ],
    );
    let mail = db.dir.join("mail");
    let mut secrets: HashSet<String> = HashSet::new();
    // A researcher with an API token, made as an administrator would.
    let api_token = {
        let pool = orakel::db::connect(&db.url, 1, std::time::Duration::from_secs(10), 5000)
            .unwrap()
            .0;
        let mut conn = orakel::db::checkout(&pool).unwrap();
        let r =
            orakel::ops::accounts::add_researcher(&mut conn, "lead@example.org", "Lead", PASSWORD)
                .unwrap();
        orakel::ops::accounts::create_api_token(&mut conn, &r.id, "script")
            .unwrap()
            .1
    };
    secrets.insert(api_token.clone());
    let mut c = Client::new(&server.base);
    c.token = Some(api_token);
    let sid = study(&mut c);
    let ids = add_candidates(&mut c, &sid, 3);
    c.post_json(
        &format!("/api/v1/studies/{sid}/invitations"),
        &json!({"candidate_ids": ids}),
    );
    let mut expert = Client::new(&server.base);
    let invitations = wait_for_mail(&mail, 3);
    let mut links = Vec::new();
    for m in &invitations {
        let personal = m.links();
        let stop = m.unsubscribe_links();
        assert_eq!(personal.len(), 1);
        assert_eq!(stop.len(), 1, "a one-purpose unsubscribe link");
        assert_ne!(personal, stop);
        secrets.extend(personal.iter().chain(&stop).cloned());
        links.push((personal[0].clone(), stop[0].clone()));
    }
    // The unsubscribe link only unsubscribes.
    let (link, stop) = &links[0];
    assert_eq!(expert.get(&format!("/p/{stop}")).status, 404);
    assert_eq!(
        expert.get(&format!("/api/v1/participation/{stop}")).status,
        404
    );
    for (link, _) in &links {
        let r = expert.post_json(
            &format!("/api/v1/participation/{link}/consent"),
            &json!({"accept": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Links with something stuck to them, as mail clients make them; logged masked.
    for tail in [".", "%20", "%2F", ")"] {
        let r = expert.get(&format!("/p/{link}{tail}"));
        assert_ne!(r.status, 500);
    }
    let themes = codebook(&mut c, &sid);
    let (round, n) = open_round(
        &mut c,
        &sid,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    let all = wait_for_mail(&mail, 9);
    for m in &all {
        secrets.extend(m.links());
        secrets.extend(m.unsubscribe_links());
    }
    for (link, _) in &links {
        let r = expert.put_json(
            &format!("/api/v1/participation/{link}/rounds/{n}/answers"),
            &json!({"answers": [{"theme_id": themes[&1], "score": 3, "comment": "Tidligt"}], "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let url = c
        .post_json(&format!("/api/v1/studies/{sid}/report-links"), &json!({}))
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let funder = url.rsplit('/').next().unwrap().to_string();
    secrets.insert(funder.clone());
    let mut f = Client::new(&server.base);
    assert_eq!(f.get(&format!("/f/{funder}")).status, 200);
    assert_eq!(f.get(&format!("/f/{funder}/report.csv")).status, 200);
    assert_eq!(
        expert
            .post_form(&format!("/p/{stop}/unsubscribe"), &[])
            .status,
        200
    );
    let mut browser = Client::new(&server.base);
    assert_eq!(browser.login("lead@example.org", PASSWORD).status, 303);
    secrets.insert(browser.cookies["orakel_session"].clone());
    assert_eq!(browser.get("/studies").status, 200);
    // Every message delivered.
    std::thread::sleep(std::time::Duration::from_secs(3));
    server.kill();

    let stored = everything_stored(&db.url);
    assert!(stored.len() > 100, "the scan reads the database");
    for (table, column, value) in &stored {
        for s in &secrets {
            assert!(
                !value.contains(s.as_str()),
                "a raw secret is stored in {table}.{column}"
            );
        }
    }
    let log = server.log();
    assert!(log.contains("/p/…"), "the log has the requests: {log}");
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "a raw secret is in the log");
    }
});

// ---------------------------------------------------------------------------------------------
// 5. Redirects

both_backends!(redirects_stay_on_this_site, |app: &TestApp| {
    app.researcher("lead@example.org", "Lead");
    for next in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d%0a/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example",
        "%09//evil.example",
    ] {
        let mut b = app.client();
        let form = b.get(&format!("/login?next={next}"));
        assert_eq!(form.status, 200, "{next}");
        assert_eq!(
            form.form_value("next")
                .map(|v| v.replace("&#x2f;", "/"))
                .as_deref(),
            Some("/studies"),
            "{next}"
        );
        let csrf = form.form_value("_csrf").unwrap();
        let decoded: String =
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("n={next}")).unwrap()[0]
                .1
                .clone();
        let r = b.post_form(
            "/login",
            &[
                ("email", "lead@example.org"),
                ("password", PASSWORD),
                ("_csrf", &csrf),
                ("next", &decoded),
            ],
        );
        assert_eq!(r.status, 303, "{next}: {}", r.body);
        assert_eq!(r.header("location"), Some("/studies"), "{next}");
    }
    // A local address with letters a header cannot carry is encoded, not a 500.
    let mut b = app.browser("second@example.org");
    let csrf = b.csrf();
    let r = b.post_form(
        "/account/language",
        &[
            ("language", "da"),
            ("back", "/studies?q=æ ø"),
            ("_csrf", &csrf),
        ],
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/studies?q=%C3%A6%20%C3%B8"));
    for back in ["//evil.example", "/\t/evil.example", "/\\evil.example"] {
        let r = b.post_form(
            "/account/language",
            &[("language", "da"), ("back", back), ("_csrf", &csrf)],
        );
        assert_eq!(r.header("location"), Some("/studies"), "{back:?}");
    }
});

// ---------------------------------------------------------------------------------------------
// 6, 7. Composition and declines as the funder sees them

both_backends!(
    hidden_counts_cannot_be_worked_out_and_reasons_stay_with_researchers,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let sid = c
            .post_json(
                "/api/v1/studies",
                &json!({"title": "Sammensætning", "language": "da", "small_cell_threshold": 3}),
            )
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        c.put_json(
            &format!("/api/v1/studies/{sid}/strata"),
            &json!([
                {"key": "side", "label": "Side", "values": ["Arbejdsgiver", "Lønmodtager"]},
                {"key": "gender", "label": "Køn", "values": ["Kvinde", "Mand", "Andet"]}
            ]),
        );
        // 7 accepted: women 3, men 3, other 1; and one who declines in their own words.
        let people = [
            ("Kvinde", "Arbejdsgiver"),
            ("Kvinde", "Lønmodtager"),
            ("Kvinde", "Lønmodtager"),
            ("Mand", "Arbejdsgiver"),
            ("Mand", "Arbejdsgiver"),
            ("Mand", "Lønmodtager"),
            ("Andet", "Lønmodtager"),
            ("Mand", "Lønmodtager"),
        ];
        let mut ids = Vec::new();
        for (i, (g, side)) in people.iter().enumerate() {
            let r = c.post_json(
                &format!("/api/v1/studies/{sid}/candidates"),
                &json!({"name": format!("Person {i}"), "email": format!("p{i}@panel.example"), "strata": {"gender": g, "side": side}}),
            );
            ids.push(r.json()["id"].as_str().unwrap().to_string());
        }
        c.post_json(
            &format!("/api/v1/studies/{sid}/invitations"),
            &json!({"candidate_ids": ids}),
        );
        app.tick();
        let mut expert = app.client();
        for i in 0..people.len() {
            let token = latest_link(app, &format!("p{i}@panel.example"));
            let body = if i == 7 {
                json!({"accept": false, "reason": "Min chef siger nej", "reason_category": "busy"})
            } else {
                json!({"accept": true})
            };
            let r = expert.post_json(&format!("/api/v1/participation/{token}/consent"), &body);
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let themes = codebook(&mut c, &sid);
        let (round, n) = open_round(
            &mut c,
            &sid,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
        );
        for i in 0..7 {
            let token = latest_link(app, &format!("p{i}@panel.example"));
            let answers: Vec<Value> = themes
                .values()
                .map(|id| json!({"theme_id": id, "score": 3}))
                .collect();
            expert.put_json(
                &format!("/api/v1/participation/{token}/rounds/{n}/answers"),
                &json!({"answers": answers}),
            );
        }
        c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
        let url = c
            .post_json(&format!("/api/v1/studies/{sid}/report-links"), &json!({}))
            .json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let token = url.rsplit('/').next().unwrap().to_string();
        let mut funder = app.client();
        let page = funder.get(&format!("/f/{token}"));
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("&amp;lt;"), "escaped once");
        assert!(!page.body.contains("Min chef"), "no free-text reason");
        assert!(page.body.contains("Jeg har ikke tid lige nu (1)"));
        let csv = funder
            .get(&format!("/f/{token}/report.csv?table=composition"))
            .body;
        // Row totals: "Andet" (1) is hidden, and so is another, so neither follows from 7.
        let totals: Vec<String> = csv
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("gender,"))
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect();
        assert_eq!(totals.len(), 3, "{csv}");
        let hidden = totals
            .iter()
            .filter(|t| t.parse::<usize>().is_err())
            .count();
        assert!(hidden >= 2, "a lone hidden total is recoverable: {csv}");
        for line in csv.lines().skip(1) {
            let hidden = line
                .split(',')
                .skip(2)
                .filter(|x| x.parse::<usize>().is_err())
                .count();
            assert_ne!(hidden, 1, "a lone hidden cell in a row: {line}");
        }
        // A withdrawal after the round closed does not move what the funder sees of it.
        c.post_json(
            &format!("/api/v1/candidates/{}/withdraw", ids[6]),
            &json!({"reason": "left"}),
        );
        assert_eq!(
            funder
                .get(&format!("/f/{token}/report.csv?table=composition"))
                .body,
            csv
        );
        // Researchers keep the words.
        let own = c.get(&format!("/api/v1/studies/{sid}/report")).json();
        assert_eq!(own["flow"]["decline_reasons"]["Min chef siger nej"], 1);
        assert_eq!(own["flow"]["decline_categories"]["busy"], 1);
    }
);

// ---------------------------------------------------------------------------------------------
// 8. Letters

both_backends!(a_letter_cannot_tie_up_the_server, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let sid = study(&mut c);
    for path in [
        format!("/api/v1/studies/{sid}/letters/invitation/preview"),
        format!("/api/v1/studies/{sid}/letters/invitation"),
    ] {
        let r = c.send_json(
            if path.ends_with("preview") {
                "POST"
            } else {
                "PUT"
            },
            &path,
            &json!({"subject": "Hej", "letter": "{{ \"a\" * 100000000 }}"}),
        );
        assert_eq!(r.status, 422, "{path}");
        assert!(r.body.len() < 2000, "a short error, not the text");
        assert!(r.body.contains("too much work"), "{}", r.body);
        let r = c.send_json(
            if path.ends_with("preview") {
                "POST"
            } else {
                "PUT"
            },
            &path,
            &json!({"subject": "Hej", "letter": "{% for i in range(100000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}"}),
        );
        assert_eq!(r.status, 422, "{path}");
    }
});

// ---------------------------------------------------------------------------------------------
// 9. Erasure

both_backends!(erasure_removes_the_delivered_files, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 2);
    app.tick();
    let files = |who: &str| mails_to(app, who).len();
    assert!(files(&p.members[0].2) >= 2);
    let keep = files(&p.members[1].2);
    let r = c.post_json(
        &format!("/api/v1/candidates/{}/erase", p.members[0].0),
        &json!({"reason": "asked"}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(files(&p.members[0].2), 0, "no file keeps the address");
    assert!(
        mail_files(app)
            .iter()
            .all(|m| !m.raw.contains("Ekspert Nummer 00"))
    );
    assert_eq!(files(&p.members[1].2), keep);
    let log = c.get(&format!("/api/v1/studies/{}/audit", p.study)).json();
    let e = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "person.erased")
        .unwrap();
    assert!(
        e["details"]["mail_files_removed"].as_u64().unwrap() >= 2,
        "{e}"
    );
});

// ---------------------------------------------------------------------------------------------
// 10, 17. Limits that must not lock the wrong people out

both_backends_where!(
    valid_links_work_from_an_address_over_the_guess_limit,
    |s| s.security.link_guesses_per_minute = 3,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 1);
        let mut x = app.client();
        let statuses: Vec<u16> = (0..5)
            .map(|_| x.get(&format!("/p/{}", "Q".repeat(43))).status)
            .collect();
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        assert_eq!(x.get(&format!("/p/{}", p.members[0].1)).status, 200);
        assert_eq!(
            x.get(&format!("/api/v1/participation/{}", p.members[0].1))
                .status,
            200
        );
    }
);

both_backends_where!(
    login_limits_hold_against_spraying_and_parallel_guesses,
    |s| {
        s.security.login_failures_per_address = 3;
        s.security.login_failures_per_account = 5;
    },
    |app: &TestApp| {
        app.researcher("victim@example.org", "Victim");
        app.researcher("attacker@example.org", "Attacker");
        let mut a = app.client();
        for who in ["victim@example.org", "other@example.org"] {
            assert_eq!(a.login(who, "not the password at all").status, 401);
        }
        // The attacker's own success does not reset the address's count.
        assert_eq!(a.login("attacker@example.org", PASSWORD).status, 303);
        assert_eq!(
            a.login("victim@example.org", "guess number three").status,
            401
        );
        assert_eq!(
            a.login("victim@example.org", "guess number four!").status,
            429
        );
        // Forty at once against one account: no more than five are checked.
        let base = app.base.clone();
        let threads: Vec<_> = (0..40)
            .map(|i| {
                let base = base.clone();
                std::thread::spawn(move || {
                    let mut c = Client::new(&base);
                    c.login("target@example.org", &format!("wrong password {i}"))
                        .status
                })
            })
            .collect();
        let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            statuses.iter().all(|s| *s == 401 || *s == 429),
            "{statuses:?}"
        );
        use diesel::prelude::*;
        use orakel::db::schema::login_attempts;
        let checked: i64 = login_attempts::table
            .filter(login_attempts::email.eq("target@example.org"))
            .count()
            .get_result(&mut *app.conn())
            .unwrap();
        assert!(checked <= 5, "{checked} password checks");
        // Twelve spaces are not a password.
        let mut conn = app.conn();
        assert!(
            orakel::ops::accounts::add_researcher(
                &mut conn,
                "spaces@example.org",
                "S",
                "            "
            )
            .is_err()
        );
    }
);

// ---------------------------------------------------------------------------------------------
// 11. Retention

both_backends!(
    only_owners_set_a_retention_date_and_never_too_soon,
    |app: &TestApp| {
        let mut owner = app.api("owner@example.org");
        let sid = study(&mut owner);
        let mut other = app.api("member@example.org");
        owner.put_json(
            &format!("/api/v1/studies/{sid}/members"),
            &json!({"email": "member@example.org", "role": "researcher"}),
        );
        let path = format!("/api/v1/studies/{sid}");
        let today = Utc::now().date_naive();
        let r = other.patch_json(
            &path,
            &json!({"retention_until": (today - Duration::days(1)).to_string()}),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = other.patch_json(
            &path,
            &json!({"retention_until": (today + Duration::days(30)).to_string()}),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        for days in [-1, 0, 13] {
            let r = owner.patch_json(
                &path,
                &json!({"retention_until": (today + Duration::days(days)).to_string()}),
            );
            assert_eq!(r.status, 422, "{days}: {}", r.body);
        }
        let r = owner.patch_json(&path, &json!({"retention_until": "9999-12-31"}));
        assert_eq!(r.status, 422);
        let until = today + Duration::days(14);
        let r = owner.patch_json(&path, &json!({"retention_until": until.to_string()}));
        assert_eq!(r.status, 200, "{}", r.body);
        // Nothing happens today; the worker erases nobody ahead of time.
        let report = app.tick();
        assert_eq!(report.identities_erased, 0);
        let log = owner.get(&format!("/api/v1/studies/{sid}/audit")).json();
        let e = log
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "study.retention_changed")
            .unwrap();
        assert_eq!(e["details"]["to"], until.to_string());
        assert!(e["details"]["from"].is_null());
        assert_eq!(e["actor_kind"], "researcher");
    }
);

// ---------------------------------------------------------------------------------------------
// 12. Metrics

both_backends!(invented_methods_do_not_grow_the_metrics, |app: &TestApp| {
    use std::io::Read;
    for i in 0..50 {
        // Written by hand: HTTP clients send only the methods they know.
        let mut s = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
        write!(
            s,
            "X{i}{} /api/v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            "Y".repeat(200)
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    let metrics = app.client().get("/metrics").body;
    assert!(
        !metrics.contains("YYYY"),
        "an invented method became a label"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(metrics.len() < 200_000);
});

// ---------------------------------------------------------------------------------------------
// 13, 14. Uploads that would exhaust memory or the database

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            z.start_file(*name, o).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn project(users: usize, sources: usize, path: &str, coder_guid: Option<&str>) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"P\">\n<Users>\n",
    );
    for i in 0..users {
        x.push_str(&format!(
            "<User guid=\"{}\" name=\"User {i}\"/>\n",
            uuid::Uuid::new_v4()
        ));
    }
    if let Some(g) = coder_guid {
        x.push_str(&format!("<User guid=\"{g}\" name=\"Somebody\"/>\n"));
    }
    x.push_str("</Users>\n<CodeBook><Codes><Code guid=\"5a1e0c6e-0000-4000-8000-000000000001\" name=\"1. Tema\" isCodable=\"true\"/></Codes></CodeBook>\n<Sources>\n");
    for i in 0..sources {
        x.push_str(&format!(
            "<TextSource guid=\"{}\" name=\"E01 {i}\" plainTextPath=\"internal://{path}\">",
            uuid::Uuid::new_v4()
        ));
        if let Some(g) = coder_guid {
            x.push_str(&format!(
                "<PlainTextSelection guid=\"{}\" startPosition=\"0\" endPosition=\"4\" creatingUser=\"{g}\"><Coding guid=\"{}\" creatingUser=\"{g}\"><CodeRef targetGUID=\"5a1e0c6e-0000-4000-8000-000000000001\"/></Coding></PlainTextSelection>",
                uuid::Uuid::new_v4(),
                uuid::Uuid::new_v4()
            ));
        }
        x.push_str("</TextSource>\n");
    }
    x.push_str("</Sources>\n</Project>\n");
    x
}

both_backends!(uploads_are_bounded_while_they_are_read, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 1);
    let sid = p.study.clone();
    let researchers = || {
        use diesel::prelude::*;
        orakel::db::schema::researchers::table
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
    };
    let accounts = researchers();
    let post = |c: &mut Client, bytes: &[u8]| {
        c.post_raw(
            &format!("/api/v1/studies/{sid}/project.qdpx?panellists={}", "%7B%7D"),
            "application/zip",
            bytes,
        )
    };
    // Forty sources naming one 2 MB text (of fewer than a million characters): more than the
    // project may unpack to together.
    let big = "æ".repeat(990_000);
    let qdpx = zip_of(&[
        ("project.qde", project(1, 40, "big.txt", None).as_bytes()),
        ("Sources/big.txt", big.as_bytes()),
    ]);
    let r = post(&mut c, &qdpx);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("MB unpacked"), "{}", r.body);
    // Too many sources, too many users.
    let small = zip_of(&[
        ("project.qde", project(1, 501, "s.txt", None).as_bytes()),
        ("Sources/s.txt", b"Kort"),
    ]);
    let r = post(&mut c, &small);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("500"), "{}", r.body);
    let users = zip_of(&[
        ("project.qde", project(5000, 1, "s.txt", None).as_bytes()),
        ("Sources/s.txt", b"Kort"),
    ]);
    let r = post(&mut c, &users);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(researchers(), accounts, "no accounts from a file");
    // A user with the id of a researcher outside the team is a coder of this study only.
    let outsider = app.researcher("outsider@example.org", "Outsider");
    let names = pseudonyms(&mut c, &sid);
    let pseudonym = names.values().next().unwrap().clone();
    let x = project(0, 1, "s.txt", Some(&outsider)).replace("E01 0", &pseudonym);
    let file = zip_of(&[
        ("project.qde", x.as_bytes()),
        ("Sources/s.txt", b"Kort tekst"),
    ]);
    let r = post(&mut c, &file);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["coders_created"], 1);
    assert_eq!(
        researchers(),
        accounts + 1,
        "only the outsider's own account"
    );
    let coders = c
        .get(&format!("/api/v1/studies/{sid}/coding/coders"))
        .json();
    assert!(
        coders
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["researcher_id"] != outsider.as_str()),
        "{coders}"
    );
    // A Word bomb: millions of empty paragraphs in a small file.
    let body = format!(
        "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{}</w:body></w:document>",
        "<w:p/>".repeat(3_500_000)
    );
    let docx = zip_of(&[("word/document.xml", body.as_bytes())]);
    assert!(docx.len() < 1024 * 1024);
    let r = c.post_raw(
        &format!("/api/v1/studies/{sid}/transcripts?panellist={pseudonym}&filename=x.docx"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &docx,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("more elements"),
        "refused while parsing: {}",
        r.body
    );
});

// ---------------------------------------------------------------------------------------------
// 15, 16. One expert's link: saves, history, expiry

both_backends_where!(
    a_link_saves_only_so_often_and_keeps_a_compact_history,
    |s| s.security.saves_per_minute = 5,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 1);
        let themes = codebook(&mut c, &p.study);
        let (_, n) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "validation": true, "closes_at": deadline_in(Duration::days(3))}),
        );
        let path = format!(
            "/api/v1/participation/{}/rounds/{n}/answers",
            p.members[0].1
        );
        let long = "Lang kommentar. ".repeat(300);
        let mut expert = app.client();
        let statuses: Vec<u16> = (0..7)
            .map(|i| {
                expert
                    .put_json(
                        &path,
                        &json!({"answers": [{"theme_id": themes[&1], "score": i % 2 + 2, "comment": long}]}),
                    )
                    .status
            })
            .collect();
        assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
        assert_eq!(statuses[5], 429, "{statuses:?}");
        use diesel::prelude::*;
        use orakel::db::schema::answer_changes;
        let rows: Vec<(Option<i32>, Option<String>, String)> = answer_changes::table
            .order(answer_changes::at.asc())
            .select((
                answer_changes::score,
                answer_changes::comment,
                answer_changes::kept,
            ))
            .load(&mut *app.conn())
            .unwrap();
        assert_eq!(rows.len(), 5, "every change of score is kept");
        assert_eq!(rows[0].1.as_deref(), Some(long.trim()));
        for r in &rows[1..] {
            assert!(r.1.is_none(), "the same comment is not copied again");
            assert!(r.2.contains("comment"));
        }
    }
);

both_backends!(every_link_obeys_one_expiry_rule, |app: &TestApp| {
    use diesel::prelude::*;
    use orakel::db::schema::{candidates, participation_tokens};
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 2);
    let grace: i64 = c.get(&format!("/api/v1/studies/{}", p.study)).json()["link_grace_days"]
        .as_i64()
        .unwrap();
    let tokens = |app: &TestApp, cand: &str| -> Vec<(Option<chrono::NaiveDateTime>, bool)> {
        participation_tokens::table
            .filter(participation_tokens::candidate_id.eq(cand))
            .filter(participation_tokens::purpose.eq("access"))
            .select((
                participation_tokens::expires_at,
                participation_tokens::revoked_at.is_not_null(),
            ))
            .load(&mut *app.conn())
            .unwrap()
    };
    // Once on the panel (invitation and confirmation links alike): the grace period.
    let accepted: chrono::NaiveDateTime = candidates::table
        .find(&p.members[0].0)
        .select(candidates::status_changed_at)
        .first(&mut *app.conn())
        .unwrap();
    let ts = tokens(app, &p.members[0].0);
    assert!(
        ts.len() >= 2,
        "the invitation's and the confirmation's links"
    );
    for (exp, _) in &ts {
        assert_eq!(*exp, Some(accepted + Duration::days(grace)));
    }
    // A round: every link lasts until its deadline and the grace period.
    let themes = codebook(&mut c, &p.study);
    let deadline = Utc::now() + Duration::days(4);
    let (round, n) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
    );
    let d = chrono::DateTime::parse_from_rfc3339(
        &deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
    .unwrap()
    .naive_utc();
    app.tick();
    for (exp, _) in tokens(app, &p.members[0].0) {
        assert_eq!(exp, Some(d + Duration::days(grace)));
    }
    app.client().put_json(
        &format!(
            "/api/v1/participation/{}/rounds/{n}/answers",
            p.members[0].1
        ),
        &json!({"answers": [{"theme_id": themes[&1], "score": 2, "comment": "Min egen"}]}),
    );
    // Closed early: the links end the grace period after the close, not the deadline.
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    for (exp, _) in tokens(app, &p.members[0].0) {
        let exp = exp.unwrap();
        assert!(exp < d + Duration::days(grace) - Duration::days(3), "{exp}");
        assert!(exp > Utc::now().naive_utc() + Duration::days(grace) - Duration::hours(1));
    }
    // Withdrawal ends every link at once.
    let token = p.members[1].1.clone();
    let r = app.client().post_json(
        &format!("/api/v1/participation/{token}/withdraw"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        tokens(app, &p.members[1].0)
            .iter()
            .all(|(_, revoked)| *revoked)
    );
    assert_eq!(app.client().get(&format!("/p/{token}")).status, 404);
    // Erasure leaves no link at all.
    c.post_json(
        &format!("/api/v1/candidates/{}/erase", p.members[0].0),
        &json!({"reason": "asked"}),
    );
    assert!(tokens(app, &p.members[0].0).is_empty());
});

// ---------------------------------------------------------------------------------------------
// 19, 20. Forms, races and small things

both_backends!(forms_races_and_small_things, |app: &TestApp| {
    let mut b = app.browser("lead@example.org");
    let csrf = b.csrf();
    let r = b.post_form(
        "/studies/new",
        &[("title", "Former"), ("language", "da"), ("_csrf", &csrf)],
    );
    let sid = r
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // A multipart form is refused before its parts are read: without the token first...
    let r = b.post_multipart(
        &format!("/studies/{sid}/transcripts"),
        &[("panellist", "", b"E01"), ("_csrf", "", csrf.as_bytes())],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // ...with too many parts...
    let many: Vec<(String, String, Vec<u8>)> = (0..200)
        .map(|i| (format!("f{i}"), String::new(), Vec::new()))
        .collect();
    let mut parts: Vec<(&str, &str, &[u8])> = vec![("_csrf", "", csrf.as_bytes())];
    parts.extend(
        many.iter()
            .map(|(k, f, v)| (k.as_str(), f.as_str(), v.as_slice())),
    );
    let r = b.post_multipart(&format!("/studies/{sid}/transcripts"), &parts);
    assert_eq!(r.status, 422, "{}", r.body);
    // ...or announcing more than it may send.
    let r = b.post_raw(
        &format!("/studies/{sid}/transcripts"),
        "multipart/form-data; boundary=x",
        &vec![b'-'; 12 * 1024 * 1024],
    );
    assert!(r.status == 413 || r.status == 422, "{}", r.status);

    // Ten researchers adding category A and theme 1 at once: one of each, the rest 409/422.
    let mut c = app.api("api@example.org");
    b.csrf_header = Some(csrf.clone());
    b.put_json(
        &format!("/api/v1/studies/{sid}/members"),
        &json!({"email": "api@example.org", "role": "researcher"}),
    );
    let token = c.token.clone().unwrap();
    let base = app.base.clone();
    let race = |path: String, body: Value| -> Vec<u16> {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (base, token, path, body, barrier) = (
                    base.clone(),
                    token.clone(),
                    path.clone(),
                    body.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    let mut c = Client::new(&base);
                    c.token = Some(token);
                    barrier.wait();
                    c.post_json(&path, &body).status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    };
    let statuses = race(
        format!("/api/v1/studies/{sid}/categories"),
        json!({"code": "A", "title": "Fokus"}),
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 409, 422].contains(s)),
        "{statuses:?}"
    );
    let book = c.get(&format!("/api/v1/studies/{sid}/codebook")).json();
    let category = book["categories"][0]["id"].as_str().unwrap().to_string();
    let statuses = race(
        format!("/api/v1/studies/{sid}/themes"),
        json!({"category_id": category, "number": 1, "title": "Tema"}),
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 409, 422].contains(s)),
        "{statuses:?}"
    );

    // JSON with personal data is not cached; a body too large is refused in JSON.
    let r = c.get(&format!("/api/v1/studies/{sid}/candidates"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let big = vec![b' '; 3 * 1024 * 1024];
    let r = c.post_raw("/api/v1/studies", "application/json", &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "payload_too_large", "{}", r.body);
    // The same address in another case is the same candidate.
    let add = |c: &mut Client, email: &str| {
        c.post_json(
            &format!("/api/v1/studies/{sid}/candidates"),
            &json!({"name": "Anne", "email": email}),
        )
        .status
    };
    assert_eq!(add(&mut c, "Anne.Hansen@Firma.dk"), 201);
    assert_eq!(add(&mut c, "anne.hansen@firma.DK"), 422);
    // No deadline in the year 9999.
    let r = c.post_json(
        &format!("/api/v1/studies/{sid}/rounds"),
        &json!({"kind": "rating", "rating": true, "closes_at": "9999-12-31T23:59:00Z"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
});
