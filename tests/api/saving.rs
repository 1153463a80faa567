//! How an expert's answers are saved under load: the short reply a page saving theme by theme
//! asks for, saves arriving together (committed together on SQLite, each answered only once
//! kept), and the first view of a round, which is recorded off the request's path but seen by
//! the researcher at once.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel};

const MINIMAL: (&str, &str) = ("Prefer", "return=minimal");

/// A panel of `n`, the codebook, and a rating round open for three days: the researcher's
/// client, the panel, the themes, the round's id and number.
fn rating_round(
    app: &TestApp,
    n: usize,
) -> (
    Client,
    crate::rounds::Panel,
    std::collections::BTreeMap<i32, String>,
    String,
    i64,
) {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, n);
    let themes = codebook(&mut c, &p.study);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    (c, p, themes, round, number)
}

fn answers_path(token: &str, number: i64) -> String {
    format!("/api/v1/participation/{token}/rounds/{number}/answers")
}

both_backends!(
    the_short_reply_says_how_far_the_expert_is,
    |app: &TestApp| {
        let (_, p, themes, _, number) = rating_round(app, 2);
        let token = p.members[0].1.clone();
        let total = themes.len();
        let mut expert = app.client();
        let path = answers_path(&token, number);
        let one = |t: i32, score: Value| json!({"answers": [{"theme_id": themes[&t], "score": score}], "submit": false});

        // As a browser's script asks: the reply is a few dozen bytes, sent uncompressed.
        let r = expert.put_json_with(
            &path,
            &one(1, json!(3)),
            &[MINIMAL, ("Accept-Encoding", "gzip, deflate, br")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("preference-applied"), Some("return=minimal"));
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(
            r.json(),
            json!({"answered": 1, "total": total, "submitted_at": null}),
            "only how far the expert is"
        );

        // Without the preference: the whole round, as always.
        let r = expert.put_json(&path, &one(2, json!(4)));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("preference-applied"), None);
        let round = r.json();
        assert_eq!(round["answered"], 2);
        assert!(
            round["categories"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );

        // Among other preferences, in any case; a "don't know" counts as answered.
        let r = expert.put_json_with(
            &path,
            &json!({"answers": [{"theme_id": themes[&3], "dont_know": true}], "submit": false}),
            &[("Prefer", "handling=lenient, RETURN=\"minimal\"; x=1")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["answered"], 3);
        // Another preference alone gives the whole round.
        let r = expert.put_json_with(
            &path,
            &one(3, json!(1)),
            &[("Prefer", "return=representation")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.json()["categories"].is_array());

        // A bad answer is refused as before and changes nothing.
        let r = expert.put_json_with(&path, &one(4, json!(99)), &[MINIMAL]);
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.header("preference-applied"), None);
        let r = expert.put_json_with(&path, &one(4, json!(null)), &[MINIMAL]);
        assert_eq!(r.json()["answered"], 3, "the refused score was not kept");

        // Finishing says when; saves after it, finishing again included, keep that moment.
        let r = expert.put_json_with(&path, &json!({"answers": [], "submit": true}), &[MINIMAL]);
        assert_eq!(r.status, 200, "{}", r.body);
        let finished = r.json()["submitted_at"].clone();
        assert!(finished.is_string(), "{}", r.body);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let r = expert.put_json_with(&path, &one(5, json!(2)), &[MINIMAL]);
        assert_eq!(r.json()["submitted_at"], finished, "{}", r.body);
        let r = expert.put_json_with(
            &path,
            &json!({"answers": [{"theme_id": themes[&6], "score": 2}], "submit": true}),
            &[MINIMAL],
        );
        assert_eq!(r.json()["submitted_at"], finished, "{}", r.body);
        assert_eq!(r.json()["answered"], 5);
        let r = expert.put_json(&path, &one(7, json!(2)));
        assert_eq!(
            r.json()["submitted_at"],
            finished,
            "the whole round: {}",
            r.body
        );
        // An unknown link is a 404, whatever it prefers.
        let r = expert.put_json_with(
            &answers_path("nosuchlink0000000000000000000000", number),
            &one(1, json!(2)),
            &[MINIMAL],
        );
        assert_eq!(r.status, 404);
    }
);

both_backends!(saves_arriving_together_are_each_kept, |app: &TestApp| {
    const EXPERTS: usize = 12;
    let (mut c, p, themes, round, number) = rating_round(app, EXPERTS);
    let base = app.url("");
    let ids: Vec<String> = themes.values().cloned().collect();
    // Every expert saves each theme on its own, all at once; one of them also sends a score the
    // scale does not have between its saves.
    let experts: Vec<_> = p
        .members
        .iter()
        .take(EXPERTS)
        .enumerate()
        .map(|(i, (_, token, _))| {
            let (base, token, ids) = (base.clone(), token.clone(), ids.clone());
            std::thread::spawn(move || {
                let mut expert = Client::new(&base);
                let path = answers_path(&token, number);
                let mut replies = Vec::new();
                for (k, id) in ids.iter().enumerate() {
                    let body = json!({"answers": [{"theme_id": id, "score": (i + k) % 5}], "submit": false});
                    let r = expert.put_json_with(&path, &body, &[MINIMAL]);
                    assert_eq!(r.status, 200, "{}", r.body);
                    replies.push(r.json()["answered"].as_u64().unwrap());
                    if i == 3 && k == 2 {
                        let bad = json!({"answers": [{"theme_id": id, "score": 42}], "submit": false});
                        assert_eq!(expert.put_json_with(&path, &bad, &[MINIMAL]).status, 422);
                    }
                }
                replies
            })
        })
        .collect();
    for e in experts {
        let replies = e.join().expect("an expert's saves");
        let expected: Vec<u64> = (1..=ids.len() as u64).collect();
        assert_eq!(
            replies, expected,
            "each reply counts the saves before it and itself"
        );
    }
    let table = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
    let rows = table["panellists"].as_array().unwrap();
    assert_eq!(rows.len(), EXPERTS);
    for r in rows {
        assert_eq!(r["answered"].as_u64().unwrap() as usize, ids.len(), "{r}");
    }
    // The scores are the ones sent, not the refused one.
    let mut expert = app.client();
    let own = expert
        .get(&format!(
            "/api/v1/participation/{}/rounds/{number}",
            p.members[3].1
        ))
        .json();
    let scores: Vec<i64> = own["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["themes"].as_array().unwrap().clone())
        .map(|t| t["answer"]["score"].as_i64().unwrap())
        .collect();
    assert!(scores.iter().all(|s| (0..5).contains(s)), "{scores:?}");
});

both_backends!(
    a_first_view_is_seen_by_the_researcher_at_once,
    |app: &TestApp| {
        let (mut c, p, _, round, number) = rating_round(app, 3);
        let opened = |c: &mut Client| {
            c.get(&format!("/api/v1/rounds/{round}")).json()["progress"]["opened"].clone()
        };
        assert_eq!(opened(&mut c), 0);
        let mut expert = app.client();
        // The page, then the API's view of the round: each a first view of one panellist.
        assert_eq!(
            expert
                .get(&format!("/p/{}/rounds/{number}", p.members[0].1))
                .status,
            200
        );
        assert_eq!(opened(&mut c), 1, "the researcher sees the view at once");
        assert_eq!(
            expert
                .get(&format!(
                    "/api/v1/participation/{}/rounds/{number}",
                    p.members[1].1
                ))
                .status,
            200
        );
        let progress = c.get(&format!("/api/v1/rounds/{round}/progress")).json();
        let seen: Vec<&Value> = progress["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["opened_at"].is_string())
            .collect();
        assert_eq!(seen.len(), 2, "{progress}");
        let todo = c.get(&format!("/api/v1/studies/{}/todo", p.study)).json();
        let waiting = todo["rounds"][0]["waiting"].as_array().unwrap();
        assert_eq!(
            waiting.iter().filter(|w| w["opened"] == true).count(),
            2,
            "{todo}"
        );
        // Looking again keeps the first time.
        let first = seen[0]["opened_at"].clone();
        let pseudonym = seen[0]["pseudonym"].clone();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        for m in &p.members[..2] {
            expert.get(&format!("/p/{}/rounds/{number}", m.1));
        }
        let again = c.get(&format!("/api/v1/rounds/{round}/progress")).json();
        let same = again["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["pseudonym"] == pseudonym)
            .unwrap();
        assert_eq!(same["opened_at"], first);
        assert_eq!(opened(&mut c), 2);
    }
);

/// A view just before the server stops is kept: the records waiting are written as it stops.
#[test]
fn a_view_just_before_stopping_is_kept() {
    let Some(app) = TestApp::spawn(Backend::Sqlite) else {
        return;
    };
    let (mut c, p, _, round, number) = rating_round(&app, 2);
    assert_eq!(
        app.client()
            .get(&format!("/p/{}/rounds/{number}", p.members[0].1))
            .status,
        200
    );
    // The same port and database: the researcher's token still works.
    let _app = app.restart();
    assert_eq!(
        c.get(&format!("/api/v1/rounds/{round}")).json()["progress"]["opened"],
        1
    );
}

both_backends!(
    one_who_joined_after_the_round_opened_can_neither_save_nor_probe_it,
    |app: &TestApp| {
        let (mut c, p, themes, round, number) = rating_round(app, 2);
        // Invited and accepted after the round opened: a panellist, but not of this round.
        let r = c.post_json(
            &format!("/api/v1/studies/{}/candidates", p.study),
            &json!({"name": "Sent Ankommen", "email": "late@panel.example", "source": "a referral"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_string();
        crate::recruitment::invite(&mut c, &p.study, &[id]);
        app.tick();
        let token = crate::recruitment::latest_link(app, "late@panel.example");
        let mut late = app.client();
        let r = late.post_json(
            &format!("/api/v1/participation/{token}/consent"),
            &json!({"accept": true}),
        );
        assert_eq!(r.json()["status"], "accepted", "{}", r.body);
        let path = answers_path(&token, number);
        let theme = &themes[&1];
        // A valid answer, a score off the scale, a theme that is not the round's and the same
        // theme twice: all the same 404, so nothing tells the round's themes apart.
        for body in [
            json!({"answers": [{"theme_id": theme, "score": 3}], "submit": true}),
            json!({"answers": [{"theme_id": theme, "score": 99}], "submit": false}),
            json!({"answers": [{"theme_id": "00000000-0000-0000-0000-000000000000", "score": 3}], "submit": false}),
            json!({"answers": [{"theme_id": theme, "score": 3}, {"theme_id": theme, "score": 3}], "submit": false}),
        ] {
            let r = late.put_json_with(&path, &body, &[MINIMAL]);
            assert_eq!(r.status, 404, "{body}: {}", r.body);
        }
        assert_eq!(late.get(&format!("/p/{token}/rounds/{number}")).status, 404);
        // Nothing of theirs was kept: no answer, and no one has finished.
        let progress = c.get(&format!("/api/v1/rounds/{round}")).json()["progress"].clone();
        assert_eq!(progress["answered"], 0, "{progress}");
        assert_eq!(progress["submitted"], 0, "{progress}");
    }
);
