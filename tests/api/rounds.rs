//! Rating rounds end to end: the codebook and its revisions, opening a round, the expert's
//! answers through the API and the form, deadlines, reminders, feedback rounds, anonymity and
//! concurrency.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::{add_candidates, latest_link, mails_to, study};

/// The demo score matrix: theme number → the nine experts' scores.
pub fn demo_matrix() -> BTreeMap<i32, Vec<i32>> {
    include_str!("../data/demo-ratings.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1..].iter().map(|x| x.parse().unwrap()).collect(),
            )
        })
        .collect()
}

pub struct Panel {
    pub study: String,
    /// (candidate id, personal-link token, e-mail), in order of the candidates.
    pub members: Vec<(String, String, String)>,
}

/// A study with `n` accepted panellists (through their invitation links).
pub fn panel(app: &TestApp, c: &mut Client, n: usize) -> Panel {
    let study = study(c);
    let ids = add_candidates(c, &study, n);
    let r = c.post_json(
        &format!("/api/v1/studies/{study}/invitations"),
        &json!({"candidate_ids": ids}),
    );
    assert_eq!(r.status, 202);
    app.tick();
    let mut expert = app.client();
    let members = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let email = format!("expert{i:02}@panel.example");
            let token = latest_link(app, &email);
            let r = expert.post_json(
                &format!("/api/v1/participation/{token}/consent"),
                &json!({"accept": true}),
            );
            assert_eq!(r.json()["status"], "accepted");
            (id.clone(), token, email)
        })
        .collect();
    Panel { study, members }
}

pub const THEMES: [(i32, &str, &str); 13] = [
    (1, "A", "Early action at the workplace"),
    (
        2,
        "A",
        "Managers equipped for the psychosocial work environment",
    ),
    (3, "A", "Managers' own work environment"),
    (4, "A", "Cooperation between management and employees"),
    (5, "A", "Support for small and medium-sized companies"),
    (6, "B", "Start from the concrete situation"),
    (7, "B", "Preventing offensive behaviour"),
    (8, "B", "Practice-oriented research"),
    (9, "C", "External advisers"),
    (10, "C", "Sector networks"),
    (11, "C", "Workplaces and clinicians together"),
    (12, "C", "Tailored treatment"),
    (13, "C", "Trends and conditions"),
];

/// The 13 themes in 3 categories, each with two statements; returns theme number → id.
pub fn codebook(c: &mut Client, study: &str) -> BTreeMap<i32, String> {
    let mut cats = HashMap::new();
    for (code, title) in [
        ("A", "Company focus"),
        ("B", "Prevention approach"),
        ("C", "External factors"),
    ] {
        let r = c.post_json(
            &format!("/api/v1/studies/{study}/categories"),
            &json!({"code": code, "title": title}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        cats.insert(code, r.json()["id"].as_str().unwrap().to_string());
    }
    let mut themes = BTreeMap::new();
    for (n, cat, title) in THEMES {
        let r = c.post_json(
            &format!("/api/v1/studies/{study}/themes"),
            &json!({"category_id": cats[cat], "number": n, "title": title, "statements": [format!("First point of theme {n}"), format!("Second point of theme {n}")]}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        themes.insert(n, r.json()["id"].as_str().unwrap().to_string());
    }
    themes
}

pub fn deadline_in(d: Duration) -> String {
    (Utc::now() + d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Creates and opens a rating round; returns (round id, number).
pub fn open_round(c: &mut Client, study: &str, body: Value) -> (String, i64) {
    let r = c.post_json(&format!("/api/v1/studies/{study}/rounds"), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let number = r.json()["number"].as_i64().unwrap();
    let o = c.post_json(&format!("/api/v1/rounds/{id}/open"), &json!({}));
    assert_eq!(o.status, 202, "{}", o.body);
    (id, number)
}

pub fn scores_of(themes: &BTreeMap<i32, String>, expert: usize) -> Value {
    let m = demo_matrix();
    json!(
        themes
            .iter()
            .map(|(n, id)| json!({"theme_id": id, "score": m[n][expert]}))
            .collect::<Vec<_>>()
    )
}

both_backends!(the_reference_rounds_run_with_feedback, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 12);
    let themes = codebook(&mut c, &p.study);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "validation": true, "rating": true, "feedback": false, "closes_at": deadline_in(Duration::days(7))}),
    );
    let study = c.get(&format!("/api/v1/studies/{}", p.study)).json();
    assert!(
        study["consensus"]["locked_at"].is_string(),
        "the rule locks when the first rating round opens"
    );
    app.tick();
    // Every panellist got the round's e-mail, with the deadline written in Danish.
    for (_, _, email) in &p.members {
        let mails = mails_to(app, email);
        let round_mail = mails
            .iter()
            .find(|m| m.text().contains(&format!("Runde {number}")))
            .expect("a round e-mail");
        assert!(
            round_mail.text().contains("Fristen er "),
            "{}",
            round_mail.text()
        );
        assert_eq!(round_mail.links().len(), 1);
    }
    // Nine answer (one through the HTML form, as a browser without JavaScript would).
    let mut expert = app.client();
    for j in 0..8 {
        let token = &p.members[j].1;
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
            &json!({"answers": scores_of(&themes, j), "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["answered"], 13);
        assert!(r.json()["submitted_at"].is_string());
    }
    let token8 = p.members[8].1.clone();
    let page = expert.get(&format!("/p/{token8}/rounds/{number}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("First point of theme 1"));
    let m = demo_matrix();
    let mut form: Vec<(String, String)> = themes
        .iter()
        .map(|(n, id)| (format!("score.{id}"), m[n][8].to_string()))
        .collect();
    form.push((
        format!("comment.{}", themes[&1]),
        "Vigtigt, men <b>svært</b> at måle.".into(),
    ));
    form.push((
        format!("proposal.{}", themes[&2]),
        "Klæd lederne på til at handle tidligt".into(),
    ));
    form.push(("action".into(), "submit".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = expert.post_form(&format!("/p/{token8}/rounds/{number}"), &pairs);
    assert_eq!(r.status, 303, "{}", r.body);
    let done = r.header("location").unwrap().to_string();
    assert_eq!(done, format!("/p/{token8}/rounds/{number}/done"));
    let thanks = expert.get(&done);
    assert_eq!(thanks.status, 200);
    assert!(thanks.body.contains("Tak"), "{}", thanks.body);
    let after = expert.get(&format!("/p/{token8}/rounds/{number}"));
    assert!(
        after.body.contains("13 af 13"),
        "the page shows what is saved"
    );
    assert!(
        after
            .body
            .contains("Vigtigt, men &lt;b&gt;svært&lt;&#x2f;b&gt; at måle."),
        "typed HTML is shown escaped"
    );

    // The researchers see who submitted and the comments under pseudonyms.
    let resp = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
    assert_eq!(resp["round"]["progress"]["submitted"], 9);
    let t1 = resp["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["number"] == 1)
        .unwrap();
    assert_eq!(
        t1["comments"][0]["comment"],
        "Vigtigt, men <b>svært</b> at måle."
    );
    assert!(
        t1["comments"][0]["pseudonym"]
            .as_str()
            .unwrap()
            .starts_with('E')
    );

    // The deadline passes while nobody looks; the worker closes the round at the deadline.
    let closes = chrono::DateTime::parse_from_rfc3339(
        c.get(&format!("/api/v1/rounds/{round}")).json()["closes_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let report = app.tick_at(closes.naive_utc() + Duration::hours(3));
    assert_eq!(report.rounds_closed, 1);
    let closed = c.get(&format!("/api/v1/rounds/{round}")).json();
    assert_eq!(closed["state"], "closed");
    assert_eq!(
        closed["closed_at"], closed["closes_at"],
        "closed at the deadline itself"
    );
    // A late answer is refused and changes nothing.
    let late = &p.members[10].1;
    let r = expert.put_json(
        &format!("/api/v1/participation/{late}/rounds/{number}/answers"),
        &json!({"answers": [{"theme_id": themes[&1], "score": 0}]}),
    );
    assert_eq!(r.status, 409);
    assert!(r.json()["message"].as_str().unwrap().contains("final"));
    let view = expert
        .get(&format!("/api/v1/participation/{late}/rounds/{number}"))
        .json();
    assert_eq!(view["answered"], 0);
    assert_eq!(view["accepting"], false);
    let page = expert.get(&format!("/p/{late}/rounds/{number}"));
    assert!(page.body.contains("Runden er lukket"));

    // A follow-up feedback round: the group's distribution, the median and one's own score.
    let (_, number2) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "feedback": true, "closes_at": deadline_in(Duration::days(7))}),
    );
    let mine = expert
        .get(&format!(
            "/api/v1/participation/{}/rounds/{number2}",
            p.members[0].1
        ))
        .json();
    let theme1 = &mine["categories"][0]["themes"][0];
    assert_eq!(theme1["number"], 1);
    assert_eq!(theme1["feedback"]["shown"], true);
    assert_eq!(theme1["feedback"]["n"], 9);
    assert_eq!(theme1["feedback"]["counts"], json!([0, 0, 0, 2, 7]));
    assert_eq!(theme1["feedback"]["median"], 4.0);
    assert_eq!(theme1["feedback"]["previous_score"], m[&1][0]);
    let silent = expert
        .get(&format!(
            "/api/v1/participation/{}/rounds/{number2}",
            p.members[11].1
        ))
        .json();
    assert!(silent["categories"][0]["themes"][0]["feedback"]["previous_score"].is_null());
    let page = expert.get(&format!("/p/{}/rounds/{number2}", p.members[0].1));
    assert!(
        page.body.contains("medianen var 4"),
        "the feedback is written out for screen readers too"
    );
    assert!(page.body.contains("<svg role=\"img\""));
    // The panellist may keep or change the score, with a reason.
    let r = expert.put_json(
        &format!("/api/v1/participation/{}/rounds/{number2}/answers", p.members[0].1),
        &json!({"answers": [{"theme_id": themes[&1], "score": 3, "reason": "Efter at have set panelets svar"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
});

both_backends!(feedback_is_hidden_below_the_group_size, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 4);
    let themes = codebook(&mut c, &p.study);
    c.patch_json(
        &format!("/api/v1/studies/{}", p.study),
        &json!({"min_group_size": 3}),
    );
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    let mut expert = app.client();
    // Two score theme 1, three score theme 2.
    for j in 0..3 {
        let mut answers = vec![json!({"theme_id": themes[&2], "score": 4})];
        if j < 2 {
            answers.push(json!({"theme_id": themes[&1], "score": j as i64}));
        }
        expert.put_json(
            &format!(
                "/api/v1/participation/{}/rounds/{number}/answers",
                p.members[j].1
            ),
            &json!({"answers": answers}),
        );
    }
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let (_, number2) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "feedback": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    let r = expert.get(&format!(
        "/api/v1/participation/{}/rounds/{number2}",
        p.members[0].1
    ));
    let themes_seen = r.json()["categories"][0]["themes"].clone();
    let t1 = &themes_seen[0];
    let t2 = &themes_seen[1];
    assert_eq!(
        t1["feedback"]["shown"], false,
        "two scores are below the group size of three"
    );
    assert!(t1["feedback"]["counts"].is_null() && t1["feedback"]["median"].is_null());
    assert_eq!(
        t1["feedback"]["previous_score"], 0,
        "one's own previous score is always shown"
    );
    assert_eq!(t2["feedback"]["shown"], true);
    assert_eq!(t2["feedback"]["counts"], json!([0, 0, 0, 0, 3]));
    let page = expert.get(&format!("/p/{}/rounds/{number2}", p.members[0].1));
    assert!(page.body.contains("færre end 3"));
});

both_backends!(
    the_consensus_rule_locks_at_the_first_rating_round,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 1);
        codebook(&mut c, &p.study);
        let path = format!("/api/v1/studies/{}", p.study);
        let r = c.patch_json(
            &path,
            &json!({"consensus": {"share_percent": 75, "points": 2, "max_iqr": 1}}),
        );
        assert_eq!(r.status, 200, "editable before any rating round");
        // A qualitative round does not lock it.
        let q = c
            .post_json(
                &format!("/api/v1/studies/{}/rounds", p.study),
                &json!({"kind": "qualitative", "closes_at": deadline_in(Duration::days(10))}),
            )
            .json();
        c.post_json(
            &format!("/api/v1/rounds/{}/open", q["id"].as_str().unwrap()),
            &json!({}),
        );
        assert!(c.get(&path).json()["consensus"]["locked_at"].is_null());
        c.post_json(
            &format!("/api/v1/rounds/{}/close", q["id"].as_str().unwrap()),
            &json!({}),
        );
        open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
        );
        let s = c.get(&path).json();
        assert!(s["consensus"]["locked_at"].is_string());
        let r = c.patch_json(
            &path,
            &json!({"consensus": {"share_percent": 80, "points": 2, "max_iqr": 1}}),
        );
        assert_eq!(r.status, 422);
        assert!(r.json()["message"].as_str().unwrap().contains("locked"));
        assert_eq!(c.get(&path).json()["consensus"]["share_percent"], 75.0);
        assert_eq!(
            c.patch_json(&path, &json!({"title": "Still editable"}))
                .status,
            200
        );
    }
);

both_backends!(
    reminders_and_extensions_reach_only_those_outstanding,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let themes = codebook(&mut c, &p.study);
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7)), "reminder_days": [3, 1]}),
        );
        app.tick();
        let mut expert = app.client();
        expert.put_json(
            &format!(
                "/api/v1/participation/{}/rounds/{number}/answers",
                p.members[0].1
            ),
            &json!({"answers": scores_of(&themes, 0), "submit": true}),
        );
        // Answered but not submitted: still reminded.
        expert.put_json(
            &format!(
                "/api/v1/participation/{}/rounds/{number}/answers",
                p.members[1].1
            ),
            &json!({"answers": [{"theme_id": themes[&1], "score": 2}]}),
        );
        let count = |email: &str| mails_to(app, email).len();
        let before: Vec<usize> = p.members.iter().map(|m| count(&m.2)).collect();
        let t0 = orakel::db::now();
        assert_eq!(
            app.tick_at(t0 + Duration::days(3)).round_reminders,
            0,
            "not yet three days before"
        );
        assert_eq!(
            app.tick_at(t0 + Duration::days(4) + Duration::hours(1))
                .round_reminders,
            2
        );
        assert_eq!(
            app.tick_at(t0 + Duration::days(4) + Duration::hours(2))
                .round_reminders,
            0,
            "once each"
        );
        assert_eq!(
            app.tick_at(t0 + Duration::days(6) + Duration::hours(1))
                .round_reminders,
            2
        );
        let after: Vec<usize> = p.members.iter().map(|m| count(&m.2)).collect();
        assert_eq!(
            after[0], before[0],
            "the one who submitted gets no reminder"
        );
        assert_eq!(after[1], before[1] + 2);
        // Extending the deadline tells those still outstanding; a shorter one is refused.
        let r = c.patch_json(
            &format!("/api/v1/rounds/{round}"),
            &json!({"closes_at": deadline_in(Duration::days(2))}),
        );
        assert_eq!(r.status, 422);
        let r = c.patch_json(
            &format!("/api/v1/rounds/{round}"),
            &json!({"closes_at": deadline_in(Duration::days(14))}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        app.tick();
        let extended: Vec<usize> = p.members.iter().map(|m| count(&m.2)).collect();
        assert_eq!(extended[0], after[0]);
        assert_eq!(extended[2], after[2] + 1);
        let last = mails_to(app, &p.members[2].2).pop().unwrap();
        assert!(last.text().contains("forlænget"), "{}", last.text());
    }
);

both_backends!(
    bad_answers_are_refused_and_nothing_is_stored,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 2);
        let themes = codebook(&mut c, &p.study);
        let (_, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "validation": true, "closes_at": deadline_in(Duration::days(3))}),
        );
        // A second study with its own theme, round and panellist.
        let mut other_team = app.api("other@example.org");
        let q = crate::recruitment::study(&mut other_team);
        let other_themes = codebook(&mut other_team, &q);
        let token = p.members[0].1.clone();
        let path = format!("/api/v1/participation/{token}/rounds/{number}/answers");
        let mut expert = app.client();
        let cases = [
            json!({"answers": [{"theme_id": themes[&1], "score": 5}]}),
            json!({"answers": [{"theme_id": themes[&1], "score": -1}]}),
            json!({"answers": [{"theme_id": themes[&1], "score": 2, "dont_know": true}]}),
            json!({"answers": [{"theme_id": other_themes[&1], "score": 2}]}),
            json!({"answers": [{"theme_id": themes[&1], "comment": "x".repeat(5001)}]}),
            json!({"answers": [{"theme_id": themes[&1], "score": 2}, {"theme_id": themes[&1], "score": 3}]}),
            json!({"answers": [{"theme_id": themes[&2], "score": 3}, {"theme_id": themes[&1], "score": 9}]}),
        ];
        for body in cases {
            let r = expert.put_json(&path, &body);
            assert_eq!(r.status, 422, "{body}: {}", r.body);
            assert!(r.json()["fields"].as_array().is_some_and(|f| !f.is_empty()));
        }
        assert_eq!(
            expert
                .put_json(
                    &path,
                    &json!({"answers": [{"theme_id": themes[&1], "score": "high"}]})
                )
                .status,
            400
        );
        assert_eq!(
            expert
                .put_json(&path, &json!({"answers": [], "extra": 1}))
                .status,
            400
        );
        let view = expert
            .get(&format!("/api/v1/participation/{token}/rounds/{number}"))
            .json();
        assert_eq!(
            view["answered"], 0,
            "nothing was stored, not even the valid half of a bad request"
        );
        // A round of another study through this token does not exist; nor does a made-up round.
        assert_eq!(
            expert
                .get(&format!("/api/v1/participation/{token}/rounds/99"))
                .status,
            404
        );
        let forged = orakel::ops::secret::new_token();
        assert_eq!(
            expert
                .put_json(
                    &format!("/api/v1/participation/{forged}/rounds/{number}/answers"),
                    &json!({"answers": []})
                )
                .status,
            404
        );
        // Scores are not taken in a validation-only round.
        let _ = other_team;
    }
);

both_backends!(an_expert_sees_nothing_of_the_others, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 4);
    let themes = codebook(&mut c, &p.study);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "validation": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    let mut expert = app.client();
    for (j, (_, token, _)) in p.members.iter().enumerate() {
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
            &json!({"answers": [{"theme_id": themes[&1], "score": 3, "comment": format!("Secret remark number {j}")}], "submit": true}),
        );
        assert_eq!(r.status, 200);
    }
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let (_, number2) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "feedback": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    let cands = c
        .get(&format!(
            "/api/v1/studies/{}/candidates?limit=1000",
            p.study
        ))
        .json()["items"]
        .clone();
    let me = &p.members[0];
    let others: Vec<&Value> = cands
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["id"] != me.0.as_str())
        .collect();
    let my_pseudonym = cands
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == me.0.as_str())
        .unwrap()["pseudonym"]
        .as_str()
        .unwrap()
        .to_string();
    let token = &me.1;
    let reachable = [
        format!("/p/{token}"),
        format!("/p/{token}/rounds/{number}"),
        format!("/p/{token}/rounds/{number2}"),
        format!("/p/{token}/unsubscribe"),
        format!("/api/v1/participation/{token}"),
        format!("/api/v1/participation/{token}/rounds/{number}"),
        format!("/api/v1/participation/{token}/rounds/{number2}"),
    ];
    for path in &reachable {
        let r = expert.get(path);
        assert_eq!(r.status, 200, "{path}");
        // The token itself is random text that could contain anything; leave it out.
        let everything = format!("{:?}{}", r.headers, r.body).replace(token.as_str(), "TOKEN");
        for o in &others {
            for field in ["name", "email", "organisation", "pseudonym"] {
                let v = o[field].as_str().unwrap_or_default();
                assert!(
                    v.is_empty() || !everything.contains(v),
                    "{path} shows another panellist's {field}: {v}"
                );
            }
        }
        assert!(
            !everything.contains(&my_pseudonym),
            "{path}: pseudonyms are for researchers only"
        );
        for j in 1..4 {
            assert!(
                !everything.contains(&format!("Secret remark number {j}")),
                "{path} shows another expert's comment"
            );
        }
    }
});

both_backends!(
    the_same_expert_in_two_tabs_and_a_hundred_at_once,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 100);
        let themes = codebook(&mut c, &p.study);
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
        );
        // Two tabs of one expert saving the same theme at the same moment.
        let token = p.members[0].1.clone();
        let base = app.base.clone();
        let t1 = themes[&1].clone();
        let handles: Vec<_> = (0..2)
            .map(|tab| {
                let (base, token, t1) = (base.clone(), token.clone(), t1.clone());
                std::thread::spawn(move || {
                    let mut cl = Client::new(&base);
                    (0..10)
                        .map(|i| {
                            cl.put_json(
                                &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
                                &json!({"answers": [{"theme_id": t1, "score": (tab + i) % 5}]}),
                            )
                            .status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap().iter().all(|s| *s == 200));
        }
        // A hundred experts submitting at once.
        let handles: Vec<_> = p
            .members
            .iter()
            .enumerate()
            .map(|(j, (_, token, _))| {
                let (base, token) = (base.clone(), token.clone());
                let answers = scores_of(&themes, j % 9);
                std::thread::spawn(move || {
                    let mut cl = Client::new(&base);
                    cl.put_json(
                        &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
                        &json!({"answers": answers, "submit": true}),
                    )
                    .status
                })
            })
            .collect();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let progress = c.get(&format!("/api/v1/rounds/{round}")).json()["progress"].clone();
        assert_eq!(progress["submitted"], 100);
        assert_eq!(progress["answered"], 100);
    }
);

both_backends!(
    the_codebook_keeps_its_history_and_rounds_keep_what_they_published,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 1);
        let themes = codebook(&mut c, &p.study);
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "validation": true, "closes_at": deadline_in(Duration::days(3))}),
        );
        // Reword theme 1 after the round opened: the round still shows the published wording.
        let r = c.patch_json(
            &format!("/api/v1/themes/{}", themes[&1]),
            &json!({"title": "Acting early at work", "reason": "Experts' proposals"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 2);
        let mut expert = app.client();
        let seen = expert
            .get(&format!(
                "/api/v1/participation/{}/rounds/{number}",
                p.members[0].1
            ))
            .json();
        assert_eq!(
            seen["categories"][0]["themes"][0]["title"],
            "Early action at the workplace"
        );
        c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
        // Merge 3 and 4, split 5, drop 13, add a statement to 6.
        let cats = c
            .get(&format!("/api/v1/studies/{}/codebook", p.study))
            .json();
        let cat_a = cats["categories"][0]["id"].as_str().unwrap().to_string();
        let merged = c.post_json(
        &format!("/api/v1/studies/{}/themes/merge", p.study),
        &json!({"theme_ids": [themes[&3], themes[&4]], "category_id": cat_a, "number": 3, "title": "Managers and cooperation", "reason": "Overlap"}),
    );
        assert_eq!(merged.status, 201, "{}", merged.body);
        assert_eq!(merged.json()["statements"].as_array().unwrap().len(), 4);
        assert_eq!(merged.json()["statements"][3]["letter"], "d");
        let five = c
            .get(&format!("/api/v1/studies/{}/codebook", p.study))
            .json()["categories"][0]["themes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["number"] == 5)
            .unwrap()
            .clone();
        let split = c.post_json(
        &format!("/api/v1/themes/{}/split", themes[&5]),
        &json!({"parts": [
            {"number": 5, "title": "Small companies", "statement_ids": [five["statements"][0]["id"]]},
            {"number": 14, "title": "Medium-sized companies", "statement_ids": [five["statements"][1]["id"]]}
        ], "reason": "Different needs"}),
    );
        assert_eq!(split.status, 201, "{}", split.body);
        assert_eq!(
            c.post_json(
                &format!("/api/v1/themes/{}/drop", themes[&13]),
                &json!({"reason": "Out of scope"})
            )
            .status,
            200
        );
        assert_eq!(
            c.post_json(
                &format!("/api/v1/themes/{}/statements", themes[&6]),
                &json!({"text": "A third point"})
            )
            .json()["letter"],
            "c"
        );
        // Numbers are unique among active themes.
        let dup = c.post_json(
            &format!("/api/v1/studies/{}/themes", p.study),
            &json!({"category_id": cat_a, "number": 14, "title": "Again"}),
        );
        assert_eq!(dup.status, 422);
        let active = c
            .get(&format!("/api/v1/studies/{}/codebook", p.study))
            .json();
        let numbers: Vec<i64> = active["categories"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| {
                c["themes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["number"].as_i64().unwrap())
            })
            .collect();
        assert_eq!(
            numbers,
            [1, 2, 3, 5, 14, 6, 7, 8, 9, 10, 11, 12],
            "by category, then number"
        );
        let history = c
            .get(&format!("/api/v1/themes/{}/revisions", themes[&3]))
            .json();
        let changes: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["change"].as_str().unwrap())
            .collect();
        assert_eq!(changes, ["created", "merged"]);
        assert_eq!(history[1]["reason"], "Overlap");
        let history = c
            .get(&format!("/api/v1/themes/{}/revisions", themes[&1]))
            .json();
        assert_eq!(history[1]["snapshot"]["title"], "Acting early at work");
        assert_eq!(
            history[0]["snapshot"]["title"],
            "Early action at the workplace"
        );
        // The next round publishes the revised codebook.
        let (r2, _) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
        );
        let published = c.get(&format!("/api/v1/rounds/{r2}")).json()["themes"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(published, 12);
    }
);

both_backends!(every_answer_change_is_kept, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 1);
    let themes = codebook(&mut c, &p.study);
    let (_, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    let mut expert = app.client();
    let path = format!(
        "/api/v1/participation/{}/rounds/{number}/answers",
        p.members[0].1
    );
    for s in [1, 1, 3, 4] {
        expert.put_json(
            &path,
            &json!({"answers": [{"theme_id": themes[&1], "score": s}]}),
        );
    }
    use diesel::prelude::*;
    use orakel::db::schema::{answer_changes, answers};
    let mut conn = app.conn();
    let scores: Vec<Option<i32>> = answer_changes::table
        .inner_join(answers::table)
        .order(answer_changes::at.asc())
        .select(answer_changes::score)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(
        scores,
        [Some(1), Some(3), Some(4)],
        "an unchanged save adds nothing"
    );
    let current: Option<i32> = answers::table
        .select(answers::score)
        .first(&mut *conn)
        .unwrap();
    assert_eq!(current, Some(4));
});

both_backends!(the_round_pages_for_researchers, |app: &TestApp| {
    let mut b = app.browser("page@example.org");
    let csrf = b.csrf();
    let r = b.post_form(
        "/studies/new",
        &[("title", "Sider"), ("language", "en"), ("_csrf", &csrf)],
    );
    let study = r.created_id();
    assert_eq!(
        b.post_form(
            &format!("/studies/{study}/categories"),
            &[("_csrf", &csrf), ("code", "A"), ("title", "Company focus")]
        )
        .status,
        303
    );
    let book = b.get(&format!("/studies/{study}/codebook"));
    let cat = book
        .body
        .split("name=\"category_id\"")
        .nth(1)
        .unwrap()
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = b.post_form(
        &format!("/studies/{study}/themes"),
        &[
            ("_csrf", &csrf),
            ("category_id", &cat),
            ("number", "1"),
            ("title", "Early action"),
            ("statements", "First\nSecond"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let book = b.get(&format!("/studies/{study}/codebook"));
    assert!(book.body.contains("Early action") && book.body.contains("Second"));
    let r = b.post_form(
        &format!("/studies/{study}/rounds"),
        &[
            ("_csrf", &csrf),
            ("kind", "rating"),
            ("rating", "on"),
            ("validation", "on"),
            (
                "closes_at",
                &format!(
                    "{}-01-01T12:00",
                    chrono::Utc::now()
                        .format("%Y")
                        .to_string()
                        .parse::<i32>()
                        .unwrap()
                        + 2
                ),
            ),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let round = r.header("location").unwrap().to_string();
    // Opening asks first, saying what will happen, and changes nothing until confirmed.
    let r = b.post_form(&round, &[("_csrf", &csrf), ("action", "open")]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Open round 1?"), "{}", r.body);
    assert!(
        r.body.contains("consensus rule will be locked"),
        "{}",
        r.body
    );
    assert!(
        !b.get(&format!("/studies/{study}/rounds"))
            .body
            .contains("Open<"),
        "nothing opened before the researcher confirmed"
    );
    let r = b.post_form(
        &round,
        &[("_csrf", &csrf), ("action", "open"), ("confirmed", "1")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = b.get(r.header("location").unwrap());
    assert!(shown.body.contains("The round is open"), "{}", shown.body);
    assert!(
        !b.get(r.header("location").unwrap())
            .body
            .contains("The round is open"),
        "the message is said once"
    );
    assert!(
        b.get(&format!("/studies/{study}/rounds"))
            .body
            .contains("Open")
    );
});

both_backends!(
    interviews_held_outside_a_round_are_round_1,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        // A study that starts with a rating round counts it as round 1.
        let plain = panel(app, &mut c, 2);
        codebook(&mut c, &plain.study);
        let r = c.post_json(
            &format!("/api/v1/studies/{}/rounds", plain.study),
            &json!({"kind": "rating", "rating": true}),
        );
        assert_eq!(r.json()["number"], 1);

        // One whose interviews were transcribed and coded first counts them as round 1.
        let mut c2 = app.api("second@example.org");
        let p = panel(app, &mut c2, 2);
        codebook(&mut c2, &p.study);
        let names: Vec<String> = crate::round1::pseudonyms(&mut c2, &p.study)
            .into_values()
            .collect();
        crate::round1::upload_interviews(&mut c2, &p.study, &names);
        let r = c2.post_json(
            &format!("/api/v1/studies/{}/rounds", p.study),
            &json!({"kind": "rating", "rating": true}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["number"], 2, "{}", r.body);
        let r = c2.post_json(
            &format!("/api/v1/studies/{}/rounds", p.study),
            &json!({"kind": "rating", "rating": true}),
        );
        assert_eq!(r.json()["number"], 3);
        let mut b = app.client();
        b.login("second@example.org", PASSWORD);
        let page = b.get(&format!("/studies/{}/rounds", p.study));
        assert!(page.body.contains("Round 1: interviews"), "{}", page.body);
        assert!(page.body.contains("2 interviews, transcribed and coded"));
        assert!(page.body.contains("Round 2") && page.body.contains("Round 3"));
    }
);

both_backends!(
    opening_mails_each_panellist_once_with_links_to_the_deadline,
    |app: &TestApp| {
        use diesel::prelude::*;
        use orakel::db::schema::{
            candidates as ca, participation_tokens as pt, rounds as ro, studies as st,
        };
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        codebook(&mut c, &p.study);
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        app.tick();
        let mut conn = app.conn();
        let (closes_at, grace): (Option<chrono::NaiveDateTime>, i32) = ro::table
            .inner_join(st::table)
            .filter(ro::id.eq(&round))
            .select((ro::closes_at, st::link_grace_days))
            .first(&mut *conn)
            .unwrap();
        let until = closes_at.unwrap() + Duration::days(grace as i64);
        for (id, _, email) in &p.members {
            // One round e-mail each, and its link works.
            let round_mails: Vec<_> = mails_to(app, email)
                .into_iter()
                .filter(|m| m.text().contains(&format!("Runde {number}")))
                .collect();
            assert_eq!(round_mails.len(), 1, "{email}");
            let link = round_mails[0].links()[0].clone();
            assert_eq!(app.client().get(&format!("/p/{link}")).status, 200);
            // Every live personal link of theirs, old and new, ends at the deadline and its
            // grace period.
            let ends: Vec<Option<chrono::NaiveDateTime>> = pt::table
                .inner_join(ca::table)
                .filter(ca::id.eq(id))
                .filter(pt::purpose.eq("access"))
                .filter(pt::revoked_at.is_null())
                .select(pt::expires_at)
                .load(&mut *conn)
                .unwrap();
            assert!(ends.len() >= 2, "the invitation's link and the round's");
            assert!(
                ends.iter().all(|e| *e == Some(until)),
                "{ends:?} against {until}"
            );
        }
        // Opening it again mails no one twice.
        let again = c.post_json(&format!("/api/v1/rounds/{round}/open"), &json!({}));
        assert!(again.status >= 400 || again.status == 202, "{}", again.body);
        app.tick();
        for (_, _, email) in &p.members {
            let n = mails_to(app, email)
                .iter()
                .filter(|m| m.text().contains(&format!("Runde {number}")))
                .count();
            assert_eq!(n, 1, "{email}");
        }
    }
);
