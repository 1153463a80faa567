//! Panel groups and the further statistics through the API, on both backends: groups chosen and
//! locked, feedback by group on the expert's side (no group below k, none that would give one
//! away by subtraction), the report per group with its tests, the bootstrap interval, RAND/UCLA
//! on a 1–9 scale, stability, the sensitivity table and minority views, for researchers and for
//! the funder. Expected values were computed independently with numpy and scipy 1.17
//! (`scipy.stats.mannwhitneyu(method="auto")`, `np.percentile`, `scipy.stats.bootstrap`) from
//! the matrices below and are stored here as numbers.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::rounds::{deadline_in, open_round, panel};

/// Scores per theme of panellists 0–10 (panellist 11 never answers); `None` is "don't know",
/// `Some(0)` no answer to that theme. Panellists 0–5 are "Sector organisation", 6–9 and 11
/// "Company", 10 "Municipality" (a group below k = 3).
const ROUND_2: [[Option<i32>; 11]; 3] = [
    s([9, 8, 9, 7, 8, 9, 5, 6, 4, 9, 2]),
    [
        Some(2),
        Some(3),
        Some(5),
        None,
        Some(1),
        Some(2),
        Some(8),
        Some(9),
        Some(7),
        Some(8),
        Some(9),
    ],
    s([5, 5, 6, 4, 5, 5, 5, 6, 5, 5, 5]),
];
const ROUND_3: [[Option<i32>; 11]; 3] = [
    s([9, 9, 9, 8, 8, 9, 6, 6, 5, 8, 3]),
    [
        Some(2),
        Some(3),
        Some(2),
        None,
        Some(1),
        Some(2),
        Some(1),
        Some(2),
        Some(2),
        Some(8),
        Some(9),
    ],
    s([5, 5, 6, 4, 5, 5, 5, 6, 5, 5, 0]),
];

const fn s(v: [i32; 11]) -> [Option<i32>; 11] {
    let mut out = [None; 11];
    let mut i = 0;
    while i < 11 {
        out[i] = Some(v[i]);
        i += 1;
    }
    out
}

const GROUPS: [&str; 3] = ["Sector organisation", "Company", "Municipality"];

fn group_of(panellist: usize) -> &'static str {
    match panellist {
        0..=5 => GROUPS[0],
        10 => GROUPS[2],
        _ => GROUPS[1],
    }
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

fn answer(
    expert: &mut Client,
    token: &str,
    number: i64,
    themes: &[String],
    scores: &[[Option<i32>; 11]; 3],
    who: usize,
    comment: Option<&str>,
) {
    let answers: Vec<Value> = themes
        .iter()
        .zip(scores)
        .filter(|(_, row)| row[who] != Some(0))
        .enumerate()
        .map(|(t, (id, row))| {
            let mut a = match row[who] {
                Some(v) => json!({"theme_id": id, "score": v}),
                None => json!({"theme_id": id, "dont_know": true}),
            };
            if t == 0
                && let Some(c) = comment
            {
                a["comment"] = json!(c);
            }
            a
        })
        .collect();
    let r = expert.put_json(
        &format!("/api/v1/participation/{token}/rounds/{number}/answers"),
        &json!({"answers": answers, "submit": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

both_backends!(panel_groups_and_their_statistics, |app: &TestApp| {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, 12);
    let study = p.study.clone();
    // Each panellist's group, all in one change.
    let mut values = serde_json::Map::new();
    for (i, (id, _, _)) in p.members.iter().enumerate() {
        let g = if i == 11 { GROUPS[1] } else { group_of(i) };
        values.insert(id.clone(), json!({"org_type": g}));
    }
    let r = c.put_json(
        &format!("/api/v1/studies/{study}/candidates/strata"),
        &json!({ "values": values }),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Groups must name an attribute of the study; a 1–9 scale as RAND/UCLA uses.
    let r = c.patch_json(
        &format!("/api/v1/studies/{study}"),
        &json!({"groups_by": "side"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["fields"][0]["field"], "groups_by");
    let r = c.patch_json(
        &format!("/api/v1/studies/{study}"),
        &json!({"groups_by": "org_type", "scale": {"min": 1, "max": 9, "low_label": "Not important", "high_label": "Critical", "dont_know": true}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["groups_by"], "org_type");
    assert_eq!(r.json()["consensus"]["dont_know"], "excluded");
    // The attribute that makes the groups cannot be dropped while it does.
    let r = c.put_json(
        &format!("/api/v1/studies/{study}/strata"),
        &json!([{"key": "gender", "label": "Gender", "values": ["Woman", "Man"]}]),
    );
    assert_eq!(r.status, 422, "{}", r.body);

    // Three themes.
    let cat = c
        .post_json(
            &format!("/api/v1/studies/{study}/categories"),
            &json!({"code": "A", "title": "Workplace"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let themes: Vec<String> = (1..=3)
        .map(|n| {
            let r = c.post_json(
                &format!("/api/v1/studies/{study}/themes"),
                &json!({"category_id": cat, "number": n, "title": format!("Theme {n}")}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect();

    // Feedback by group asks for feedback.
    let r = c.post_json(
        &format!("/api/v1/studies/{study}/rounds"),
        &json!({"kind": "rating", "rating": true, "feedback_by_group": true}),
    );
    assert_eq!(r.status, 422, "{}", r.body);

    // Round 2 (round 1 was the interviews elsewhere: this study's first round is 1).
    let (r2, n2) = open_round(
        &mut c,
        &study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
    );
    // Locked with the consensus rule: the same value may be restated, another may not.
    let r = c.patch_json(
        &format!("/api/v1/studies/{study}"),
        &json!({"groups_by": "gender"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("locked"), "{}", r.body);
    let r = c.patch_json(
        &format!("/api/v1/studies/{study}"),
        &json!({"groups_by": "org_type"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let mut expert = app.client();
    for who in 0..11 {
        answer(
            &mut expert,
            &p.members[who].1,
            n2,
            &themes,
            &ROUND_2,
            who,
            None,
        );
    }
    assert_eq!(
        c.post_json(&format!("/api/v1/rounds/{r2}/close"), &json!({}))
            .status,
        200
    );

    // Round 3 gives feedback by group.
    let (r3, n3) = open_round(
        &mut c,
        &study,
        json!({"kind": "rating", "rating": true, "feedback": true, "feedback_by_group": true, "closes_at": deadline_in(Duration::days(7))}),
    );
    let seen = expert
        .get(&format!(
            "/api/v1/participation/{}/rounds/{n3}",
            p.members[0].1
        ))
        .json();
    assert_eq!(seen["groups_label"], "Organisation type");
    let fb = &seen["categories"][0]["themes"][0]["feedback"];
    assert_eq!(fb["shown"], true);
    assert_eq!(fb["n"], 11);
    let groups = fb["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{fb}");
    // Sector organisations (6) are shown; municipalities (1) are below k, and companies (4)
    // are held back too: with the whole panel's 11 they would give the municipality away.
    assert_eq!(groups[0]["label"], GROUPS[0]);
    assert_eq!(groups[0]["own"], true);
    assert_eq!(groups[0]["shown"], true);
    assert_eq!(groups[0]["n"], 6);
    assert_eq!(groups[0]["counts"], json!([0, 0, 0, 0, 0, 0, 1, 2, 3]));
    assert!(close(&groups[0]["median"], 8.5));
    for g in &groups[1..] {
        assert_eq!(g["shown"], false, "{g}");
        assert!(g["n"].is_null() && g["counts"].is_null() && g["median"].is_null());
        assert_eq!(g["own"], false);
    }
    // A company's expert sees their own group marked, and still no figure of it.
    let other = expert
        .get(&format!(
            "/api/v1/participation/{}/rounds/{n3}",
            p.members[6].1
        ))
        .json();
    let g = &other["categories"][0]["themes"][0]["feedback"]["groups"];
    assert_eq!(
        (g[1]["own"].clone(), g[1]["shown"].clone()),
        (json!(true), json!(false))
    );
    // The expert's page shows the groups, and no figure of a hidden one.
    let page = expert.get(&format!("/p/{}/rounds/{n3}", &p.members[0].1[..]));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("feedback-group own"), "own group marked");
    assert_eq!(
        page.body.matches("<li class=\"feedback-group").count(),
        9,
        "three groups, three themes"
    );

    for who in 0..11 {
        let comment = match who {
            0 => Some("Obvious to all of us."),
            6 => Some("Too costly for a small firm."),
            10 => Some("Municipalities see this differently."),
            _ => None,
        };
        answer(
            &mut expert,
            &p.members[who].1,
            n3,
            &themes,
            &ROUND_3,
            who,
            comment,
        );
    }
    // Comments of 0 (score 9, median 8) and 10 (score 3) are cleared; 6's (score 6) is not.
    let resp = c.get(&format!("/api/v1/rounds/{r3}/responses")).json();
    for cm in resp["themes"][0]["comments"].as_array().unwrap() {
        if cm["comment"] != "Too costly for a small firm." {
            let id = cm["answer_id"].as_str().unwrap();
            let r = c.put_json(
                &format!("/api/v1/answers/{id}/cleared"),
                &json!({"cleared": true}),
            );
            assert_eq!(r.status, 204);
        }
    }
    // The researchers' minority statement: bad input changes nothing.
    let statement_url = format!(
        "/api/v1/rounds/{r3}/themes/{}/minority-statement",
        themes[1]
    );
    let r = c.put_json(&statement_url, &json!({"statement": "x".repeat(5001)}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = c.put_json(
        &format!("/api/v1/rounds/{r3}/themes/no-such-theme/minority-statement"),
        &json!({"statement": "Nothing"}),
    );
    assert_eq!(r.status, 404);
    let statement = "Two companies and the municipality rated it far higher.";
    let r = c.put_json(&statement_url, &json!({"statement": statement}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["statement"], statement);
    let r = c.put_json(
        &format!(
            "/api/v1/rounds/{r3}/themes/{}/minority-statement",
            themes[2]
        ),
        &json!({"statement": "Gone soon"}),
    );
    assert_eq!(r.status, 200);
    let r = c.put_json(
        &format!(
            "/api/v1/rounds/{r3}/themes/{}/minority-statement",
            themes[2]
        ),
        &json!({"statement": "  "}),
    );
    assert_eq!(r.json()["statement"], "", "an empty statement removes it");
    // Another team's researcher reaches none of it.
    let mut stranger = app.api("other@example.org");
    assert_eq!(
        stranger
            .put_json(&statement_url, &json!({"statement": "mine"}))
            .status,
        404
    );
    assert_eq!(
        c.post_json(&format!("/api/v1/rounds/{r3}/close"), &json!({}))
            .status,
        200
    );

    let report = c
        .get(&format!("/api/v1/studies/{study}/report?round={n3}"))
        .json();
    researchers_report(&report);
    let funder = c
        .get(&format!(
            "/api/v1/studies/{study}/report?round={n3}&view=funder"
        ))
        .json();
    funders_report(&funder);
    // On PostgreSQL each of the two reports read the round before beside its own, on a second
    // connection sharing its snapshot; the figures above are the same as SQLite's.
    let metrics = app.client().get("/metrics").body;
    let beside = match app.backend {
        Backend::Postgres => 2,
        Backend::Sqlite => 0,
    };
    assert!(
        metrics.contains(&format!("orakel_postgres_reads_beside_total {beside}\n")),
        "{metrics}"
    );

    // Every format carries the new tables in both languages.
    for lang in ["da", "en"] {
        let html = c.get(&format!(
            "/api/v1/studies/{study}/report.html?round={n3}&lang={lang}"
        ));
        assert_eq!(html.status, 200);
        let words = if lang == "da" {
            [
                "Panelgrupperne",
                "Hvor meget resultaterne afhænger",
                "Mindretallets synspunkter",
                "Mann–Whitney U = 23, p = 0,019",
            ]
        } else {
            [
                "The panel groups",
                "How much the verdicts depend",
                "Minority views",
                "Mann–Whitney U = 23, p = 0.019",
            ]
        };
        for w in words {
            assert!(html.body.contains(w), "{lang}: {w}");
        }
        let (status, pdf) = c.get_bytes(&format!(
            "/api/v1/studies/{study}/report.pdf?round={n3}&lang={lang}"
        ));
        assert_eq!(status, 200);
        assert!(pdf.starts_with(b"%PDF"));
        let (status, xlsx) = c.get_bytes(&format!(
            "/api/v1/studies/{study}/report.xlsx?round={n3}&lang={lang}"
        ));
        assert_eq!(status, 200);
        let parts = crate::report::unzip(&xlsx);
        let workbook = &parts
            .iter()
            .find(|(n, _)| n == "xl/workbook.xml")
            .unwrap()
            .1;
        for sheet in if lang == "da" {
            [
                "Panelgrupper",
                "Gruppetest",
                "Følsomhed",
                "Mindretallets synspunkter",
            ]
        } else {
            [
                "Panel groups",
                "Group tests",
                "Sensitivity",
                "Minority views",
            ]
        } {
            assert!(
                workbook.contains(&format!("name=\"{sheet}\"")),
                "{lang}: {sheet} in {workbook}"
            );
        }
    }
});

fn researchers_report(r: &Value) {
    let themes = r["themes"].as_array().unwrap();
    // The bootstrap interval: within one step of the means' lattice of scipy's (a million
    // resamples), and the same on every request.
    for (t, (lo, hi, n)) in [
        (6.090909090909091, 8.272727272727273, 11.0),
        (1.7, 5.1, 10.0),
        (4.8, 5.4, 10.0),
    ]
    .iter()
    .enumerate()
    {
        let ci = &themes[t]["ci95"];
        assert!(
            (ci[0].as_f64().unwrap() - lo).abs() <= 1.0 / n + 1e-9,
            "{t}: {ci}"
        );
        assert!(
            (ci[1].as_f64().unwrap() - hi).abs() <= 1.0 / n + 1e-9,
            "{t}: {ci}"
        );
    }
    // RAND/UCLA on the 1–9 scale.
    for (t, (ipr, ipras, dis)) in [(3.0, 6.1, false), (0.3, 6.625, false), (0.0, 2.35, false)]
        .iter()
        .enumerate()
    {
        let x = &themes[t]["rand_ucla"];
        assert!(
            close(&x["ipr"], *ipr) && close(&x["ipras"], *ipras),
            "{t}: {x}"
        );
        assert_eq!(x["disagreement"], *dis);
    }
    // The groups.
    let g = &r["groups"];
    assert_eq!(g["by"], "org_type");
    let groups = g["groups"].as_array().unwrap();
    let sizes: Vec<(i64, i64)> = groups
        .iter()
        .map(|x| {
            (
                x["panellists"].as_i64().unwrap(),
                x["responded"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sizes, [(6, 6), (5, 4), (1, 1)]);
    let expect = [
        // (group, theme): n, mean, median, iqr, verdict
        (0, 0, 6, 8.666666666666666, 9.0, 0.75, "high"),
        (1, 0, 4, 6.25, 6.0, 0.75, "none"),
        (0, 1, 5, 2.0, 2.0, 0.0, "low"),
        (1, 1, 4, 3.25, 2.0, 1.75, "none"),
        (0, 2, 6, 5.0, 5.0, 0.0, "none"),
        (1, 2, 4, 5.25, 5.0, 0.25, "none"),
    ];
    for (gi, t, n, mean, median, iqr, verdict) in expect {
        let x = &groups[gi]["themes"][t];
        assert_eq!(x["n"], n, "{x}");
        assert!(
            close(&x["mean"], mean) && close(&x["median"], median) && close(&x["iqr"], iqr),
            "{x}"
        );
        assert_eq!(x["consensus"], verdict, "{x}");
        assert_eq!(x["hidden"], false);
    }
    assert_eq!(groups[0]["themes"][0]["mean_display"], "8,7");
    // Researchers see the group below k, marked, without a verdict.
    let mu = &groups[2]["themes"][0];
    assert_eq!(
        (mu["n"].clone(), mu["hidden"].clone()),
        (json!(1), json!(true))
    );
    assert!(close(&mu["mean"], 3.0));
    assert!(mu.get("consensus").is_none());
    // Mann–Whitney between the two groups of at least k (scipy: method="auto").
    let tests = g["tests"].as_array().unwrap();
    let want = [
        (1, 23.0, 0.0188810401560988),
        (2, 9.5, 1.0),
        (3, 9.5, 0.5981614526835282),
    ];
    assert_eq!(tests.len(), 3, "{tests:?}");
    for (x, (number, u, p)) in tests.iter().zip(want) {
        assert_eq!(x["number"], number);
        assert_eq!(x["test"], "mann-whitney");
        assert!(close(&x["statistic"], u) && close(&x["p"], p), "{x}");
        assert_eq!(x["exact"], false, "ties: the normal approximation");
        assert_eq!(x["groups"], json!([GROUPS[0], GROUPS[1]]));
    }
    assert_eq!(g["disagreeing"], json!([1, 2]));
    assert_eq!(g["in_every_group"], json!([]));
    // Stability with the change of the coefficient of variation.
    let st = &r["stability"];
    for (t, (pairs, changed, cv, stable)) in [
        (11, 6, -0.06965451121574456, false),
        (10, 4, 0.30674356103253697, false),
        (10, 0, 0.005357486189468866, true),
    ]
    .iter()
    .enumerate()
    {
        let x = &st["themes"][t];
        assert_eq!(
            (x["pairs"].clone(), x["changed"].clone()),
            (json!(pairs), json!(changed))
        );
        assert!((x["cv_change"].as_f64().unwrap() - cv).abs() < 1e-12, "{x}");
        assert_eq!(x["stable"], *stable);
    }
    assert!((st["pct_stable"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
    // The sensitivity table: the locked rule first, then its eleven neighbours.
    let sens = r["sensitivity"].as_array().unwrap();
    assert_eq!(sens.len(), 12);
    assert_eq!(sens[0]["locked"], true);
    assert_eq!(
        sens[0]["verdicts"],
        json!({"1": "none", "2": "low", "3": "none"})
    );
    let changed: Vec<Value> = sens.iter().map(|s| s["changed"].clone()).collect();
    assert_eq!(
        changed,
        [
            json!([]),
            json!([]),
            json!([]),
            json!([1]),
            json!([1]),
            json!([2]),
            json!([]),
            json!([2]),
            json!([2]),
            json!([2]),
            json!([2]),
            json!([2]),
        ]
    );
    assert_eq!(
        sens[5]["rule"],
        json!({"share_percent": 70.0, "points": 2, "max_iqr": 1.0, "dont_know": "not_agreeing"})
    );
    assert_eq!(sens[3]["rule"]["max_iqr"], Value::Null);
    // Minority views: only the cleared comment of a score at least two from the median.
    assert_eq!(
        r["minority_views"],
        json!([
            {"number": 1, "comments": ["Municipalities see this differently."], "statement": null},
            {"number": 2, "comments": [], "statement": "Two companies and the municipality rated it far higher."}
        ])
    );
}

fn funders_report(r: &Value) {
    let groups = r["groups"]["groups"].as_array().unwrap();
    // Themes 1 and 2: companies are held back with the municipality; theme 3: the
    // municipality did not score it, so both larger groups are shown.
    for t in 0..2 {
        assert_eq!(groups[0]["themes"][t]["hidden"], false);
        for g in &groups[1..3] {
            let x = &g["themes"][t];
            assert_eq!(x["hidden"], true, "{x}");
            let keys: Vec<&String> = x.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["hidden", "n", "number"], "{x}");
        }
    }
    assert_eq!(groups[1]["themes"][2]["hidden"], false);
    assert!(close(&groups[1]["themes"][2]["mean"], 5.25));
    // Tests and verdicts only of the groups shown.
    let tests = r["groups"]["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["number"], 3);
    assert!(close(&tests[0]["p"], 0.5981614526835282));
    assert_eq!(r["groups"]["disagreeing"], json!([]));
    assert!(r["minority_views"][0]["comments"][0] == "Municipalities see this differently.");
}
