//! The panel's anonymous discussion on both backends: handles random per panellist and theme
//! that never equal a pseudonym, days instead of times, posts held for approval, edited or
//! withdrawn by their writer while they wait, hidden with a reason, the facilitator's replies,
//! who wrote what for researchers (audited), bad input refused with nothing stored, a daily
//! digest and never an e-mail per post, the report for researchers and for a funder, and the
//! archive.

use std::collections::HashMap;

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::mails_to;
use crate::rounds::{codebook, deadline_in, open_round, panel};

fn posts_url(token: &str, number: i64, theme: &str) -> String {
    format!("/api/v1/participation/{token}/rounds/{number}/themes/{theme}/posts")
}

fn post(e: &mut Client, token: &str, number: i64, theme: &str, body: Value) -> Resp {
    e.post_json(&posts_url(token, number, theme), &body)
}

fn thread(e: &mut Client, token: &str, number: i64, theme: &str) -> Value {
    let r = e.get(&posts_url(token, number, theme));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn moderation(c: &mut Client, round: &str) -> Value {
    let r = c.get(&format!("/api/v1/rounds/{round}/posts"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn mails_to_panel(app: &TestApp, p: &crate::rounds::Panel) -> usize {
    p.members.iter().map(|m| mails_to(app, &m.2).len()).sum()
}

both_backends!(
    the_panel_discusses_under_handles_that_link_nothing,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 6);
        let themes = codebook(&mut c, &p.study);
        let (t1, t2) = (themes[&1].clone(), themes[&2].clone());
        let (round, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        app.tick();
        let mails_before = mails_to_panel(app, &p);
        let tok = |j: usize| p.members[j].1.clone();
        let mut e = app.client();

        // The round names the discussion and counts each theme's posts.
        let view = e
            .get(&format!("/api/v1/participation/{}/rounds/{number}", tok(0)))
            .json();
        assert_eq!(view["discussion"], "moderated");
        assert_eq!(view["categories"][0]["themes"][0]["posts"], 0);
        let empty = thread(&mut e, &tok(0), number, &t1);
        assert_eq!(empty["posts"], json!([]));
        assert_eq!(empty["moderation"], "moderated");
        assert_eq!(empty["open"], true);

        // Bad input: each a clear refusal, nothing stored.
        for (body, status, field) in [
            (json!({"text": "   "}), 422, Some("text")),
            (json!({"text": "x".repeat(4001)}), 422, Some("text")),
            (
                json!({"text": "ok", "reply_to": "nope"}),
                422,
                Some("reply_to"),
            ),
            (json!({"text": "ok", "colour": "red"}), 400, None),
        ] {
            let r = post(&mut e, &tok(0), number, &t1, body.clone());
            assert_eq!(r.status, status, "{body}: {}", r.body);
            if let Some(f) = field {
                assert_eq!(r.json()["fields"][0]["field"], f, "{}", r.body);
            }
        }
        let r = post(
            &mut e,
            &tok(0),
            number,
            "no-such-theme",
            json!({"text": "ok"}),
        );
        assert_eq!(r.status, 404);
        let r = post(&mut e, "not-a-token", number, &t1, json!({"text": "ok"}));
        assert_eq!(r.status, 404);
        assert_eq!(moderation(&mut c, &round)["posts"], json!([]));

        // Every panellist posts on both themes; the posts wait for approval.
        let mut ids: HashMap<(usize, String), String> = HashMap::new();
        for j in 0..5 {
            for t in [&t1, &t2] {
                let r = post(
                    &mut e,
                    &tok(j),
                    number,
                    t,
                    json!({"text": format!("Expert {j} thinks <b>this</b> matters.")}),
                );
                assert_eq!(r.status, 201, "{}", r.body);
                let v = r.json();
                assert_eq!(v["state"], "pending");
                assert_eq!(v["own"], true);
                assert_eq!(v["facilitator"], false);
                assert!(v["handle"].as_str().unwrap().starts_with("Deltager "));
                ids.insert((j, t.clone()), v["id"].as_str().unwrap().to_string());
            }
        }
        // Waiting posts are the writer's alone.
        assert_eq!(
            thread(&mut e, &tok(1), number, &t1)["posts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(thread(&mut e, &tok(5), number, &t1)["posts"], json!([]));
        // The writer edits one and withdraws another while they wait.
        let edit = format!(
            "/api/v1/participation/{}/posts/{}",
            tok(0),
            ids[&(0, t1.clone())]
        );
        let r = e.put_json(&edit, &json!({"text": ""}));
        assert_eq!(r.status, 422);
        let r = e.put_json(
            &edit,
            &json!({"text": "Expert 0, said better: <script>alert(1)</script>"}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let other = format!(
            "/api/v1/participation/{}/posts/{}",
            tok(1),
            ids[&(0, t1.clone())]
        );
        assert_eq!(e.put_json(&other, &json!({"text": "mine now"})).status, 404);
        let withdrawn = ids[&(4, t2.clone())].clone();
        let r = e.delete(&format!(
            "/api/v1/participation/{}/posts/{withdrawn}",
            tok(4)
        ));
        assert_eq!(r.status, 204);
        let m = moderation(&mut c, &round);
        assert_eq!(m["pending"], 9);
        assert!(
            m["posts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["writer"].is_null())
        );

        // Approval publishes in the order approved.
        for p in m["posts"].as_array().unwrap() {
            let r = c.post_json(
                &format!("/api/v1/posts/{}/approve", p["id"].as_str().unwrap()),
                &json!({}),
            );
            assert_eq!(r.status, 204, "{}", r.body);
        }
        let again = c.post_json(
            &format!("/api/v1/posts/{}/approve", ids[&(1, t1.clone())]),
            &json!({}),
        );
        assert_eq!(again.status, 409);
        assert_eq!(moderation(&mut c, &round)["pending"], 0);
        // The writer can no longer change a published post.
        assert_eq!(e.put_json(&edit, &json!({"text": "too late"})).status, 409);

        // Expert 5 reads both threads: handles, days, no pseudonyms, markup as text.
        let th1 = thread(&mut e, &tok(5), number, &t1);
        let th2 = thread(&mut e, &tok(5), number, &t2);
        assert_eq!(th1["posts"].as_array().unwrap().len(), 5);
        assert_eq!(th2["posts"].as_array().unwrap().len(), 4);
        let writers = c
            .get(&format!("/api/v1/rounds/{round}/posts?writers=true"))
            .json();
        let pseudonyms: Vec<String> = writers["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["writer"]["pseudonym"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(pseudonyms.len(), 9);
        let handle_of = |th: &Value, id: &str| {
            th["posts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id)
                .map(|p| p["handle"].as_str().unwrap().to_string())
        };
        let mut same = 0;
        for j in 0..4 {
            let h1 = handle_of(&th1, &ids[&(j, t1.clone())]).unwrap();
            let h2 = handle_of(&th2, &ids[&(j, t2.clone())]).unwrap();
            if h1 == h2 {
                same += 1;
            }
            for h in [&h1, &h2] {
                assert!(pseudonyms.iter().all(|ps| !h.contains(ps.as_str())), "{h}");
            }
        }
        assert!(same < 4, "handles are drawn per theme: {th1} {th2}");
        let handles1: std::collections::HashSet<&str> = th1["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["handle"].as_str().unwrap())
            .collect();
        assert_eq!(handles1.len(), 5, "one handle per writer in a thread");
        for p in th1["posts"].as_array().unwrap() {
            let day = p["day"].as_str().unwrap();
            assert_eq!(day.len(), 10, "a day, not a time: {day}");
            assert_eq!(p["own"], false);
            assert_eq!(p["state"], "published");
        }
        assert!(
            th1.to_string().contains("<script>alert(1)</script>"),
            "kept as text"
        );
        let page = e.get(&format!(
            "/p/{}/rounds/{number}/themes/{t1}/discussion",
            tok(5)
        ));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("&lt;script&gt;") && !page.body.contains("<script>alert"));
        // Who wrote what is for researchers who ask, and the audit log says they did.
        let log = c.get(&format!("/api/v1/studies/{}/audit", p.study)).json()["items"].take();
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "identity.viewed" && e["target"] == round.as_str()),
            "{log}"
        );

        // A reply, the facilitator, a hidden post with its reason.
        let first = ids[&(1, t1.clone())].clone();
        let r = post(
            &mut e,
            &tok(5),
            number,
            &t1,
            json!({"text": "I disagree.", "reply_to": first}),
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["reply_to"], first.as_str());
        let reply = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(
            c.post_json(&format!("/api/v1/posts/{reply}/approve"), &json!({}))
                .status,
            204
        );
        let r = c.post_json(
            &format!("/api/v1/rounds/{round}/themes/{t1}/posts"),
            &json!({"text": "Thank you all; please say why.", "reply_to": first}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["handle"], "Ordstyrer");
        assert_eq!(r.json()["state"], "published");
        let hidden = ids[&(2, t1.clone())].clone();
        let r = c.post_json(
            &format!("/api/v1/posts/{hidden}/hide"),
            &json!({"reason": " "}),
        );
        assert_eq!(r.status, 422);
        let r = c.post_json(
            &format!("/api/v1/posts/{hidden}/hide"),
            &json!({"reason": "Names a colleague"}),
        );
        assert_eq!(r.status, 204);
        let th = thread(&mut e, &tok(5), number, &t1);
        assert!(
            th["posts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["id"] != hidden.as_str())
        );
        assert!(
            th["posts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["facilitator"] == true)
        );
        let own = thread(&mut e, &tok(2), number, &t1);
        let mine = own["posts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == hidden.as_str())
            .unwrap()
            .clone();
        assert_eq!(mine["state"], "hidden");
        let m = moderation(&mut c, &round);
        let h = m["posts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == hidden.as_str())
            .unwrap()
            .clone();
        assert_eq!(h["hidden_reason"], "Names a colleague");

        // Another team sees none of it.
        let mut stranger = app.api("other@example.org");
        assert_eq!(
            stranger
                .get(&format!("/api/v1/rounds/{round}/posts"))
                .status,
            404
        );
        assert_eq!(
            stranger
                .post_json(
                    &format!("/api/v1/posts/{first}/hide"),
                    &json!({"reason": "x"})
                )
                .status,
            404
        );
        assert_eq!(
            stranger
                .post_json(&format!("/api/v1/posts/{first}/approve"), &json!({}))
                .status,
            404
        );
        assert_eq!(
            stranger
                .post_json(
                    &format!("/api/v1/rounds/{round}/themes/{t1}/posts"),
                    &json!({"text": "hi"})
                )
                .status,
            404
        );

        // No e-mail for any post; the digest once a day to those who asked.
        app.tick();
        assert_eq!(mails_to_panel(app, &p), mails_before, "no e-mail per post");
        let digest = format!("/api/v1/participation/{}/discussion-digest", tok(3));
        assert_eq!(e.get(&digest).json()["daily"], false);
        assert_eq!(
            e.put_json(&digest, &json!({"daily": true})).json()["daily"],
            true
        );
        let r = post(
            &mut e,
            &tok(0),
            number,
            &t2,
            json!({"text": "One more thought."}),
        );
        let late = r.json()["id"].as_str().unwrap().to_string();
        c.post_json(&format!("/api/v1/posts/{late}/approve"), &json!({}));
        c.post_json(
            &format!("/api/v1/rounds/{round}/themes/{t2}/posts"),
            &json!({"text": "Noted."}),
        );
        for j in [1, 3] {
            let r = post(
                &mut e,
                &tok(j),
                number,
                &t1,
                json!({"text": format!("Expert {j} again.")}),
            );
            let id = r.json()["id"].as_str().unwrap().to_string();
            assert_eq!(
                c.post_json(&format!("/api/v1/posts/{id}/approve"), &json!({}))
                    .status,
                204
            );
        }
        assert_eq!(app.tick().discussion_digests, 0, "not the same day");
        let later = (chrono::Utc::now().date_naive() + Duration::days(2))
            .and_hms_opt(11, 0, 0)
            .unwrap();
        assert_eq!(app.tick_at(later).discussion_digests, 1);
        assert_eq!(app.tick_at(later).discussion_digests, 0, "once a day");
        let digests: Vec<_> = mails_to(app, &p.members[3].2)
            .into_iter()
            .filter(|m| {
                m.header("Subject")
                    .unwrap_or_default()
                    .contains("diskussion")
            })
            .collect();
        assert_eq!(digests.len(), 1);
        let body = digests[0].text();
        assert!(
            body.contains("3 nye indlæg om 2 temaer"),
            "the others' posts, not one's own: {body}"
        );
        assert_eq!(
            mails_to_panel(app, &p),
            mails_before + 1,
            "the digest is the only e-mail"
        );

        // A withdrawn panellist cannot post (their link stops working); nothing is stored.
        let r = e.post_json(
            &format!("/api/v1/participation/{}/withdraw", tok(4)),
            &json!({}),
        );
        assert_eq!(r.status, 200);
        let count = moderation(&mut c, &round)["posts"]
            .as_array()
            .unwrap()
            .len();
        let r = post(&mut e, &tok(4), number, &t1, json!({"text": "Still here?"}));
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(
            moderation(&mut c, &round)["posts"]
                .as_array()
                .unwrap()
                .len(),
            count
        );

        // The report: every post for researchers, counts and cleared posts for a funder.
        for j in [0, 1, 2, 3, 5] {
            let r = e.put_json(
                &format!("/api/v1/participation/{}/rounds/{number}/answers", tok(j)),
                &json!({"answers": [{"theme_id": t1, "score": 4}, {"theme_id": t2, "score": 3}]}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let cleared = ids[&(3, t1.clone())].clone();
        assert_eq!(
            c.put_json(
                &format!("/api/v1/posts/{cleared}/cleared"),
                &json!({"cleared": true})
            )
            .status,
            204
        );
        assert_eq!(
            c.put_json(
                &format!("/api/v1/posts/{hidden}/cleared"),
                &json!({"cleared": true})
            )
            .status,
            409
        );
        assert_eq!(
            c.post_json(&format!("/api/v1/rounds/{round}/close"), &json!({}))
                .status,
            200
        );
        let r = post(
            &mut e,
            &tok(0),
            number,
            &t1,
            json!({"text": "After the close"}),
        );
        assert_eq!(r.status, 409);
        let r = c.post_json(
            &format!("/api/v1/rounds/{round}/themes/{t1}/posts"),
            &json!({"text": "Late"}),
        );
        assert_eq!(r.status, 409);
        let report = c
            .get(&format!(
                "/api/v1/studies/{}/report?round={number}&lang=en",
                p.study
            ))
            .json();
        let d1 = &report["discussion"][0];
        assert_eq!(d1["theme_number"], 1);
        // Theme 1: five experts' first posts less the hidden one, the reply, the facilitator
        // and two second posts.
        assert_eq!(d1["posts"], 8);
        assert_eq!(d1["writers"], 5);
        assert!(
            d1["shown"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["handle"].is_string())
        );
        let funder = c
            .get(&format!(
                "/api/v1/studies/{}/report?round={number}&lang=en&view=funder",
                p.study
            ))
            .json();
        let f1 = &funder["discussion"][0];
        assert_eq!(f1["posts"], 8);
        assert!(f1["writers"].is_null());
        assert_eq!(f1["shown"].as_array().unwrap().len(), 1);
        assert!(f1["shown"][0]["handle"].is_null());
        assert_eq!(
            f1["shown"][0]["text"],
            "Expert 3 thinks <b>this</b> matters."
        );
        let html = c.get(&format!(
            "/api/v1/studies/{}/report.html?round={number}&lang=en&view=funder",
            p.study
        ));
        assert!(
            html.body.contains("The panel&#x27;s discussion")
                || html.body.contains("The panel's discussion")
        );
        assert!(html.body.contains("8 posts"), "{}", html.body);
        assert!(!html.body.contains("Deltager "), "no handles for a funder");

        // The archive carries the discussion.
        let archive = c
            .get(&format!("/api/v1/studies/{}/archive", p.study))
            .json();
        assert_eq!(archive["posts"].as_array().unwrap().len(), count);
        assert!(!archive["post_handles"].as_array().unwrap().is_empty());
        assert_eq!(archive["discussion_digests"].as_array().unwrap().len(), 1);
    }
);

both_backends!(
    open_discussion_publishes_at_once_and_off_has_none,
    |app: &TestApp| {
        let mut c = app.api("lead@example.org");
        let p = panel(app, &mut c, 3);
        let themes = codebook(&mut c, &p.study);
        let t1 = themes[&1].clone();
        let r = c.patch_json(
            &format!("/api/v1/studies/{}", p.study),
            &json!({"discussion": "loud"}),
        );
        assert!(r.status == 400 || r.status == 422, "{}", r.body);
        let r = c.patch_json(
            &format!("/api/v1/studies/{}", p.study),
            &json!({"discussion": "open"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["discussion"], "open");
        let (_, number) = open_round(
            &mut c,
            &p.study,
            json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(7))}),
        );
        let mut e = app.client();
        let r = post(
            &mut e,
            &p.members[0].1,
            number,
            &t1,
            json!({"text": "Straight to the panel."}),
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["state"], "published");
        assert_eq!(
            thread(&mut e, &p.members[1].1, number, &t1)["posts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let view = e
            .get(&format!(
                "/api/v1/participation/{}/rounds/{number}",
                p.members[1].1
            ))
            .json();
        assert_eq!(view["categories"][0]["themes"][0]["posts"], 1);
        // The page form posts too, and comes back with the fault beside the field.
        let url = format!(
            "/p/{}/rounds/{number}/themes/{t1}/discussion",
            p.members[2].1
        );
        let r = e.post_form(&url, &[("text", "")]);
        assert_eq!(r.status, 422);
        assert!(r.body.contains("skriv noget, før du sender"), "{}", r.body);
        let r = e.post_form(&url, &[("text", "Fra formularen.")]);
        assert_eq!(r.status, 303, "{}", r.body);
        let page = e.get(&url);
        assert!(page.body.contains("Fra formularen."));

        let r = c.patch_json(
            &format!("/api/v1/studies/{}", p.study),
            &json!({"discussion": "off"}),
        );
        assert_eq!(r.status, 200);
        let view = e
            .get(&format!(
                "/api/v1/participation/{}/rounds/{number}",
                p.members[1].1
            ))
            .json();
        assert!(view["discussion"].is_null());
        assert_eq!(e.get(&posts_url(&p.members[1].1, number, &t1)).status, 409);
        let r = post(
            &mut e,
            &p.members[1].1,
            number,
            &t1,
            json!({"text": "Anyone?"}),
        );
        assert_eq!(r.status, 409);
    }
);
