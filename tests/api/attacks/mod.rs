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

mod archive;
mod funder;
mod limits;

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
        orakel::ops::accounts::create_api_token(
            &mut conn,
            &orakel::ops::access::ResearcherId::authenticated(r.id.clone()),
            "script",
        )
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
    let page = expert.get(&format!("/unsubscribe/{stop}"));
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(&format!("/p/{stop}\"")),
        "no way back to a personal page the link cannot open"
    );
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
    let log = c.get(&format!("/api/v1/studies/{}/audit", p.study)).json()["items"].take();
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
// 19, 20. Forms, races and small things

both_backends!(forms_races_and_small_things, |app: &TestApp| {
    let mut b = app.browser("lead@example.org");
    let csrf = b.csrf();
    let r = b.post_form(
        "/studies/new",
        &[("title", "Former"), ("language", "da"), ("_csrf", &csrf)],
    );
    let sid = r.created_id();
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
