//! The expert's round, the researcher's coding and confirmations and the funder's report in a
//! real browser
//! (headless Chromium, driven by the scripts in `tests/browser/` with playwright-core, checked
//! with axe-core). Skipped with a printed reason when Chromium or
//! the Node packages are missing, unless `ORAKEL_REQUIRE_BROWSER=1`.

use std::process::Command;

use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{codebook, deadline_in, open_round, panel};

/// Whether the browser tests can run here; prints why not.
pub fn browser_available() -> bool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing = if !std::path::Path::new(&chromium).exists() {
        Some(format!("{chromium} is missing (apt-get install chromium)"))
    } else if !std::path::Path::new(&format!("{dir}/node_modules/playwright-core")).exists() {
        Some("tests/browser/node_modules is missing (cd tests/browser && npm ci)".to_string())
    } else if Command::new("node").arg("--version").output().is_err() {
        Some("node is missing".to_string())
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if std::env::var("ORAKEL_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("ORAKEL_REQUIRE_BROWSER=1 but {why}")
        }
        Some(why) => {
            eprintln!("browser test skipped: {why}");
            false
        }
    }
}

/// Runs a script of `tests/browser` with node; fails the test with its output when it fails.
pub fn run_script(script: &str, args: &[&str]) {
    let out = Command::new("node")
        .arg(format!(
            "{}/tests/browser/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("browser: {stdout}");
}

both_backends!(an_expert_answers_in_a_real_browser, |app: &TestApp| {
    if !browser_available() {
        return;
    }
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    let themes = codebook(&mut c, &p.study);
    let (_, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "validation": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    let token = &p.members[0].1;
    run_script(
        "round.mjs",
        &[
            &app.base,
            token,
            &number.to_string(),
            &themes[&1],
            &themes[&2],
        ],
    );
    // What the browser did is what the server stored.
    let mut expert = app.client();
    let view = expert
        .get(&format!("/api/v1/participation/{token}/rounds/{number}"))
        .json();
    let t = &view["categories"][0]["themes"];
    assert_eq!(t[0]["answer"]["score"], 4);
    assert_eq!(t[0]["answer"]["comment"], "Skrevet i browseren: æøå");
    assert_eq!(
        t[1]["answer"]["score"], 3,
        "the plain form's save came last"
    );
    assert!(view["submitted_at"].is_string());
});

both_backends!(a_researcher_codes_in_a_real_browser, |app: &TestApp| {
    if !browser_available() {
        return;
    }
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 2);
    let themes = codebook(&mut c, &p.study);
    let mut names: Vec<String> = crate::round1::pseudonyms(&mut c, &p.study)
        .into_values()
        .collect();
    names.sort();
    let transcripts = crate::round1::upload_interviews(&mut c, &p.study, &names);
    let (tid, text) = transcripts[&names[0]].clone();
    // Something to show on the overview, agreement and evidence pages.
    crate::round1::code(
        &mut c,
        &(tid.clone(), text.clone()),
        "Vi taler om trivsel og løn.",
        &[&themes[&1]],
    );
    app.researcher("coder@example.org", "Browser Coder");
    let r = c.put_json(
        &format!("/api/v1/studies/{}/members", p.study),
        &json!({"email": "coder@example.org", "role": "researcher"}),
    );
    assert_eq!(r.status, 200);
    run_script(
        "coding.mjs",
        &[
            &app.base,
            "coder@example.org",
            PASSWORD,
            &p.study,
            &tid,
            &themes[&2],
            &themes[&5],
        ],
    );
    // What the browser coded is what the server stored, at the right characters.
    let d = c.get(&format!("/api/v1/transcripts/{tid}")).json();
    let mine: Vec<&serde_json::Value> = d["excerpts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["coder"] == "Browser Coder")
        .collect();
    assert_eq!(mine.len(), 1, "{d}");
    let quote = mine[0]["quote"].as_str().unwrap();
    assert!(
        quote.trim_end().ends_with("idt støtte!") || quote.trim_end().ends_with("idt støtte"),
        "{quote:?}"
    );
    assert_eq!(mine[0]["themes"][0]["theme_id"], themes[&2].as_str());
    let (s, e) = crate::round1::chars_of(&text, quote);
    assert_eq!(mine[0]["start"].as_u64().unwrap() as usize, s);
    assert_eq!(mine[0]["end"].as_u64().unwrap() as usize, e);
});

both_backends!(
    a_funder_reads_the_report_in_a_real_browser,
    |app: &TestApp| {
        if !browser_available() {
            return;
        }
        let (mut c, study, _) = crate::report::reference(app);
        let r = c.post_json(
            &format!("/api/v1/studies/{study}/report-links"),
            &json!({"label": "Board"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let url = r.json()["url"].as_str().unwrap().to_string();
        let token = url.rsplit('/').next().unwrap();
        // A funder's account too, through the password link in its e-mail.
        let r = c.post_json(
            &format!("/api/v1/studies/{study}/funders"),
            &json!({"email": "fonden@example.org", "name": "Fonden"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        app.tick();
        let welcome = crate::funders::setup_token(app, "fonden@example.org");
        run_script("report.mjs", &[&app.base, token, &welcome]);
        let listed = c.get(&format!("/api/v1/studies/{study}/funders")).json();
        assert_eq!(listed[0]["active"], true, "{listed}");
    }
);

both_backends!(a_researcher_confirms_in_a_real_browser, |app: &TestApp| {
    if !browser_available() {
        return;
    }
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 3);
    codebook(&mut c, &p.study);
    let waiting: Vec<String> = (0..5)
            .map(|i| {
                let r = c.post_json(
                    &format!("/api/v1/studies/{}/candidates", p.study),
                    &json!({"name": format!("Venter {i}"), "email": format!("waiting{i}@panel.example")}),
                );
                assert_eq!(r.status, 201, "{}", r.body);
                r.json()["id"].as_str().unwrap().to_string()
            })
            .collect();
    let r = c.post_json(
        &format!("/api/v1/studies/{}/rounds", p.study),
        &json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(9))}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let round = r.json()["id"].as_str().unwrap().to_string();
    run_script(
        "researcher.mjs",
        &[
            app.base.as_str(),
            "lead@example.org",
            PASSWORD,
            &p.study,
            &round,
        ],
    );
    // What the browser confirmed is what the server did, and only that.
    let view = c.get(&format!("/api/v1/rounds/{round}")).json();
    assert_eq!(view["state"], "closed", "{view}");
    let invited = waiting
        .iter()
        .filter(|id| c.get(&format!("/api/v1/candidates/{id}")).json()["status"] != "identified")
        .count();
    assert_eq!(invited, 2, "two candidates were chosen and confirmed");
});

both_backends!(feedback_by_group_in_a_real_browser, |app: &TestApp| {
    if !browser_available() {
        return;
    }
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 8);
    // Five sector organisations, two companies, one municipality: the companies (below k = 3)
    // are said in words, and the sector organisations shown with a chart.
    let mut values = serde_json::Map::new();
    for (i, (id, _, _)) in p.members.iter().enumerate() {
        let g = match i {
            0..=4 => "Sector organisation",
            5 | 6 => "Company",
            _ => "Municipality",
        };
        values.insert(id.clone(), json!({"org_type": g}));
    }
    let r = c.put_json(
        &format!("/api/v1/studies/{}/candidates/strata", p.study),
        &json!({ "values": values }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.patch_json(
        &format!("/api/v1/studies/{}", p.study),
        &json!({"groups_by": "org_type"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let themes = codebook(&mut c, &p.study);
    let (first, n1) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    let mut expert = app.client();
    for (j, (_, token, _)) in p.members.iter().enumerate() {
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{n1}/answers"),
            &json!({"answers": crate::rounds::scores_of(&themes, j), "submit": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        c.post_json(&format!("/api/v1/rounds/{first}/close"), &json!({}))
            .status,
        200
    );
    let (_, n2) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "feedback": true, "feedback_by_group": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    run_script(
        "feedback.mjs",
        &[
            &app.base,
            &p.members[0].1,
            &n2.to_string(),
            "Sector organisation",
            "Company",
        ],
    );
});

both_backends!(a_live_round_in_a_real_browser, |app: &TestApp| {
    if !browser_available() {
        return;
    }
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 6);
    let themes = codebook(&mut c, &p.study);
    let (_, n) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "mode": "live", "closes_at": deadline_in(Duration::days(5))}),
    );
    // Four experts score theme 1: enough changes for a snapshot that three others are in.
    let mut expert = app.client();
    for (j, (_, token, _)) in p.members.iter().take(4).enumerate() {
        let r = expert.put_json(
            &format!("/api/v1/participation/{token}/rounds/{n}/answers"),
            &json!({"answers": [{"theme_id": themes[&1], "score": j % 5}]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    run_script(
        "live.mjs",
        &[
            &app.base,
            &p.members[0].1,
            &n.to_string(),
            &themes[&1],
            &themes[&2],
        ],
    );
});

both_backends!(the_discussion_in_a_real_browser, |app: &TestApp| {
    if !browser_available() {
        return;
    }
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 4);
    let themes = codebook(&mut c, &p.study);
    let (round, n) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    run_script(
        "discussion.mjs",
        &[
            &app.base,
            &p.members[0].1,
            &n.to_string(),
            &themes[&1],
            "lead@example.org",
            PASSWORD,
            &round,
        ],
    );
    // Two approved posts per width's first post, the replies waiting: as the browser left them.
    let m = c.get(&format!("/api/v1/rounds/{round}/posts")).json();
    assert_eq!(m["posts"].as_array().unwrap().len(), 4, "{m}");
    assert_eq!(m["pending"], 2, "{m}");
});
