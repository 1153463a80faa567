//! Limits that must hold without locking the wrong people out: logins, retention, metrics, uploads, and one expert's link.

use super::*;

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
        let log = owner.get(&format!("/api/v1/studies/{sid}/audit")).json()["items"].take();
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
    let lapsed = app.client().get(&format!("/p/{token}"));
    assert_eq!(lapsed.status, 404);
    // The holder of a link that lapsed learns whom to write to, nothing of the person; an
    // unknown link names no study.
    let study = c.get(&format!("/api/v1/studies/{}", p.study)).json();
    let title = study["title"].as_str().unwrap();
    assert!(lapsed.body.contains(title), "{}", lapsed.body);
    assert!(!lapsed.body.contains("Ekspert Nummer"), "{}", lapsed.body);
    let unknown = app.client().get(&format!("/p/{}", "A".repeat(43)));
    assert_eq!(unknown.status, 404);
    assert!(!unknown.body.contains(title));
    // Erasure leaves no link at all.
    let erased = p.members[0].1.clone();
    c.post_json(
        &format!("/api/v1/candidates/{}/erase", p.members[0].0),
        &json!({"reason": "asked"}),
    );
    assert!(tokens(app, &p.members[0].0).is_empty());
    assert!(
        !app.client()
            .get(&format!("/p/{erased}"))
            .body
            .contains(title)
    );
});
