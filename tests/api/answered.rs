//! One rule for "answered": the round's progress, the table of who answered, the researcher's
//! round page, the expert's own page and the report's participant flow agree on a panel with a
//! full answer, drafts, a "don't know", a comment without a score and a withdrawal.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel};

fn save(expert: &mut Client, token: &str, number: i64, answers: Value, submit: bool) -> Value {
    let r = expert.put_json(
        &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
        &json!({"answers": answers, "submit": submit}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

both_backends!(every_view_counts_answers_alike, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 7);
    let themes = codebook(&mut c, &p.study);
    let (round, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(3))}),
    );
    let t = |n: i32| themes[&n].clone();
    let token = |i: usize| p.members[i].1.clone();
    let mut expert = app.client();
    // 0: every theme scored and submitted.
    let all: Vec<Value> = themes
        .values()
        .map(|id| json!({"theme_id": id, "score": 4}))
        .collect();
    let full = save(&mut expert, &token(0), number, json!(all), true);
    // 1: a draft with two scores.
    let draft = save(
        &mut expert,
        &token(1),
        number,
        json!([{"theme_id": t(1), "score": 2}, {"theme_id": t(2), "score": 1}]),
        false,
    );
    // 2: "don't know" on one theme, saved as a draft.
    let unsure = save(
        &mut expert,
        &token(2),
        number,
        json!([{"theme_id": t(3), "dont_know": true}]),
        false,
    );
    // 3: a comment without a score is a remark, not an answer.
    let remark = save(
        &mut expert,
        &token(3),
        number,
        json!([{"theme_id": t(1), "comment": "Svær at vurdere"}]),
        false,
    );
    // 4: scores, then withdraws from the study.
    save(
        &mut expert,
        &token(4),
        number,
        json!([{"theme_id": t(1), "score": 3}]),
        false,
    );
    let w = expert.post_json(
        &format!("/api/v1/participation/{}/withdraw", token(4)),
        &json!({"reason": ""}),
    );
    assert_eq!(w.status, 200, "{}", w.body);
    // 5 opens the round and answers nothing; 6 never looks.
    assert_eq!(
        expert
            .get(&format!("/p/{}/rounds/{number}", token(5)))
            .status,
        200
    );

    // What each expert's own page counts.
    let own: Vec<u64> = [full, draft, unsure, remark]
        .iter()
        .map(|r| r["answered"].as_u64().unwrap())
        .collect();
    assert_eq!(own[0], themes.len() as u64);
    assert_eq!(own[1], 2);
    assert_eq!(own[2], 1);
    assert_eq!(own[3], 0, "a comment alone is not an answer");

    // The round's progress.
    let progress = c.get(&format!("/api/v1/rounds/{round}")).json()["progress"].clone();
    let answered = progress["answered"].as_u64().unwrap() as usize;
    assert_eq!(progress["submitted"], 1);

    // The table of who answered: as many people with answers as the progress says, and each
    // person's count as their own page told them.
    let table = c.get(&format!("/api/v1/rounds/{round}/responses")).json();
    let rows = table["panellists"].as_array().unwrap();
    let with_answers = rows
        .iter()
        .filter(|r| r["answered"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(with_answers, answered, "{table}");
    assert_eq!(table["round"]["progress"], progress);
    let mut counts: Vec<u64> = rows
        .iter()
        .map(|r| r["answered"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    for n in &own {
        assert!(counts.contains(n), "{counts:?} lacks {n}");
    }

    // The researcher's round page says the same.
    let mut page = app.client();
    page.login("lead@example.org", PASSWORD);
    let html = page.get(&format!("/rounds/{round}")).body;
    assert!(
        html.contains(&format!("({answered} have answered something)")),
        "the round page shows {answered} who answered: {html}"
    );

    // The report's flow, once the round is closed.
    c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}));
    let report = c.get(&format!("/api/v1/studies/{}/report", p.study)).json();
    let flow = &report["flow"];
    let this = flow["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["number"] == number)
        .unwrap();
    assert_eq!(
        flow["responded"].as_u64().unwrap() as usize,
        answered,
        "{flow}"
    );
    assert_eq!(this["responded"].as_u64().unwrap() as usize, answered);
    // Answers given before a withdrawal stay in the round: the three who stay and the one who
    // left, in every view above.
    assert_eq!(answered, 4);
});
