//! Live rounds on both backends: an expert sees nothing of a theme before answering it; the
//! panel's figures come as snapshots that change only when more than k panellists changed their
//! score, so polling after every answer recovers no one's score; researchers follow the
//! snapshots and revisions; batching by the clock; the report shows the convergence.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel};
use crate::{both_backends, both_backends_where};

fn theme<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["themes"].as_array().unwrap())
        .find(|t| t["theme_id"] == id)
        .unwrap()
}

fn answer(c: &mut Client, token: &str, number: i64, theme_id: &str, score: Value) {
    let r = c.put_json(
        &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
        &json!({"answers": [{"theme_id": theme_id, "score": score}]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

both_backends!(
    a_live_round_shows_snapshots_that_hide_each_answer,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 9);
        let themes = codebook(&mut c, &p.study);
        let (t1, t2) = (themes[&1].clone(), themes[&2].clone());

        // A live round is a rating round.
        for body in [
            json!({"kind": "qualitative", "mode": "live"}),
            json!({"kind": "rating", "validation": true, "mode": "live"}),
            json!({"kind": "rating", "rating": true, "mode": "loud"}),
        ] {
            let r = c.post_json(&format!("/api/v1/studies/{}/rounds", p.study), &body);
            assert!(r.status == 422 || r.status == 400, "{body}: {}", r.body);
        }
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "mode": "live",
                   "closes_at": deadline_in(Duration::days(7))}),
        );
        let mut expert = app.client();
        let view_of = |e: &mut Client, j: usize| {
            e.get(&format!(
                "/api/v1/participation/{}/rounds/{number}",
                p.members[j].1
            ))
            .json()
        };
        let first = view_of(&mut expert, 0);
        assert_eq!(first["mode"], "live");
        assert!(theme(&first, &t1)["live"].is_null());

        // The experts score theme 1 one by one; expert 0 polls after every answer.
        let scores = [0, 1, 2, 3, 4, 1, 2, 3, 0];
        let mut seen: Vec<Value> = Vec::new();
        for (j, s) in scores.iter().enumerate() {
            answer(&mut expert, &p.members[j].1, number, &t1, json!(s));
            let v = view_of(&mut expert, 0);
            seen.push(theme(&v, &t1)["live"].clone());
            // Nothing of a theme the expert has not answered.
            assert!(theme(&v, &t2)["live"].is_null());
        }
        let ns: Vec<Option<u64>> = seen.iter().map(|l| l["n"].as_u64()).collect();
        // k = 3: a snapshot needs four changes; it is shown once at least three others scored.
        assert_eq!(
            ns,
            [
                None,
                None,
                None,
                Some(4),
                Some(4),
                Some(4),
                Some(4),
                Some(8),
                Some(8)
            ]
        );
        assert_eq!(seen[3]["counts"], json!([1, 1, 1, 1, 0]));
        assert_eq!(seen[7]["counts"], json!([1, 2, 2, 2, 1]));
        assert_eq!(seen[7]["median"], 2.0);
        assert!(
            seen[7]["published_at"]
                .as_str()
                .unwrap()
                .chars()
                .all(|ch| ch.is_ascii_digit() || ch == '-'),
            "a day, not a minute: {}",
            seen[7]["published_at"]
        );
        // Whatever changed between two polls, at least four answers came in between: no one
        // answer can be read off the difference.
        let mut last_change = 0;
        for j in 1..seen.len() {
            if seen[j] != seen[j - 1] {
                assert!(j - last_change >= 4 || last_change == 0, "{seen:?}");
                last_change = j;
            }
        }

        // Revisions: three changes are not enough; the fourth (with expert 8's first answer)
        // publishes a new snapshot.
        answer(&mut expert, &p.members[0].1, number, &t1, json!(4));
        answer(&mut expert, &p.members[1].1, number, &t1, json!(4));
        let v = view_of(&mut expert, 2);
        assert_eq!(
            theme(&v, &t1)["live"]["n"],
            8,
            "still the snapshot of eight"
        );
        answer(&mut expert, &p.members[2].1, number, &t1, json!(4));
        let v = view_of(&mut expert, 2);
        assert_eq!(theme(&v, &t1)["live"]["n"], 9);
        assert_eq!(theme(&v, &t1)["live"]["counts"], json!([1, 1, 1, 2, 4]));
        // "Don't know" is an answer too: the expert then sees the panel.
        let r = expert.put_json(
            &format!(
                "/api/v1/participation/{}/rounds/{number}/answers",
                p.members[5].1
            ),
            &json!({"answers": [{"theme_id": t2, "dont_know": true}]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);

        // Researchers follow the live figures, the snapshots and the revisions.
        let live = c.get(&format!("/api/v1/rounds/{round}/live")).json();
        assert_eq!(live["changes_needed"], 4);
        let l1 = &live["themes"][0];
        assert_eq!(l1["theme_id"], t1.as_str());
        assert_eq!(l1["snapshots"].as_array().unwrap().len(), 3);
        assert_eq!(l1["current"]["n"], 9);
        assert_eq!(l1["pending"], 0);
        assert_eq!(live["revisions"], 3);
        assert_eq!(live["revised_by"], 3);
        let mut browser = app.client();
        browser.login("lead@example.org", PASSWORD);
        let page = browser.get(&format!("/rounds/{round}"));
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("The live round") && page.body.contains("3 scores revised"),
            "{}",
            page.body
        );
        let expert_page = expert.get(&format!("/p/{}/rounds/{number}", p.members[0].1));
        assert!(
            expert_page.body.contains("Panelet indtil nu")
                || expert_page.body.contains("The panel so far")
        );
        let mut stranger = app.api("other@example.org");
        assert_eq!(
            stranger.get(&format!("/api/v1/rounds/{round}/live")).status,
            404
        );

        // The report of the closed round shows how the panel converged.
        assert_eq!(
            c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}))
                .status,
            200
        );
        let report = c
            .get(&format!(
                "/api/v1/studies/{}/report?round={number}&lang=en",
                p.study
            ))
            .json();
        let cv = &report["convergence"];
        assert_eq!(cv["themes"][0]["snapshots"].as_array().unwrap().len(), 3);
        assert_eq!(cv["revised_by"], 3);
        assert!((cv["pct_revised"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
        let html = c.get(&format!(
            "/api/v1/studies/{}/report.html?round={number}&lang=en",
            p.study
        ));
        assert!(html.body.contains("How the panel converged"));
        assert!(
            html.body.contains("3 panellists (33,3 %")
                || html.body.contains("3 panellists (33.3 %")
        );
    }
);

both_backends_where!(
    snapshots_are_published_in_batches_by_the_clock,
    |s: &mut orakel::config::Settings| s.rounds.live_snapshot_minutes = 60,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 8);
        let themes = codebook(&mut c, &p.study);
        let t1 = themes[&1].clone();
        let (_, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "mode": "live",
                   "closes_at": deadline_in(Duration::days(7))}),
        );
        let mut expert = app.client();
        let seen = |e: &mut Client| {
            let v = e
                .get(&format!(
                    "/api/v1/participation/{}/rounds/{number}",
                    p.members[0].1
                ))
                .json();
            theme(&v, &t1)["live"]["n"].as_u64()
        };
        for j in 0..4 {
            answer(&mut expert, &p.members[j].1, number, &t1, json!(2));
        }
        assert_eq!(seen(&mut expert), None, "a save never publishes");
        assert_eq!(app.tick().live_snapshots, 1, "the worker publishes");
        assert_eq!(seen(&mut expert), Some(4));
        for j in 4..8 {
            answer(&mut expert, &p.members[j].1, number, &t1, json!(3));
        }
        assert_eq!(app.tick().live_snapshots, 0, "within the hour: nothing new");
        assert_eq!(seen(&mut expert), Some(4));
        let later = orakel::db::now() + Duration::minutes(61);
        assert_eq!(app.tick_at(later).live_snapshots, 1);
        assert_eq!(seen(&mut expert), Some(8));
    }
);
