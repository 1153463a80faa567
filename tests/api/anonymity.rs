//! Anonymity between experts, crawled: everything one expert's personal link reaches — pages
//! followed link by link, the participation API, every e-mail they were sent — holds no other
//! participant's name, e-mail address, organisation, pseudonym or unshared comment, in bodies
//! or headers. (The funder's outputs are checked the same way in `report.rs`.)

use std::collections::{BTreeSet, VecDeque};

use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::recruitment::{latest_link, mails_to};
use crate::report::reference;
use crate::rounds::{deadline_in, open_round};

/// Whether `text` mentions `s` as a whole word: a pseudonym such as `E03` may occur inside a
/// random token by chance, which says nothing about anyone.
fn mentions(text: &str, s: &str) -> bool {
    text.match_indices(s).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + s.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// The same-site links of a page: `href`, `src` and GET form `action`s.
fn links(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "action=\""] {
        let mut rest = body;
        while let Some(i) = rest.find(attr) {
            let tail = &rest[i + attr.len()..];
            let end = tail.find('"').unwrap_or(tail.len());
            let link = tail[..end].replace("&amp;", "&");
            if link.starts_with('/') && !link.starts_with("//") {
                out.push(link.split('#').next().unwrap_or("").to_string());
            }
            rest = &tail[end..];
        }
    }
    out
}

both_backends!(one_expert_reaches_nothing_about_another, |app: &TestApp| {
    let (mut c, study, _) = reference(app);
    // A feedback round, so the panel's answers are shown back.
    open_round(
        &mut c,
        &study,
        json!({"kind": "rating", "rating": true, "feedback": true, "closes_at": deadline_in(Duration::days(7))}),
    );
    app.tick();
    let me = "expert00@panel.example";
    let token = latest_link(app, me);
    let everyone = c
        .get(&format!("/api/v1/studies/{study}/candidates?limit=1000"))
        .json()["items"]
        .clone();
    let mine = everyone
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == me)
        .unwrap()
        .clone();
    // Every other participant's identifying strings, and what they wrote and did not share.
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    for x in everyone.as_array().unwrap() {
        if x["email"] == me {
            continue;
        }
        for key in ["name", "email", "organisation", "pseudonym"] {
            if let Some(v) = x[key].as_str()
                && !v.is_empty()
                && Some(v) != mine[key].as_str()
            {
                secrets.insert(v.to_string());
            }
        }
    }
    secrets.insert("Expert One's private remark".into());
    assert!(secrets.len() > 30, "{secrets:?}");

    let mut expert = app.client();
    let mut queue: VecDeque<String> = VecDeque::from([
        format!("/p/{token}"),
        format!("/api/v1/participation/{token}"),
        format!("/api/v1/participation/{token}/rounds/1"),
        format!("/api/v1/participation/{token}/rounds/2"),
        format!("/p/{token}/rounds/1"),
        format!("/p/{token}/rounds/2"),
    ]);
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 300 {
            continue;
        }
        let r = expert.get(&path);
        assert!(r.status < 500, "{path}: {}", r.status);
        for s in &secrets {
            assert!(!mentions(&r.body, s), "{path} shows {s:?}");
            for (k, v) in &r.headers {
                assert!(!mentions(v, s), "{path}: header {k} carries {s:?}");
            }
        }
        for l in links(&r.body) {
            if !seen.contains(&l) {
                queue.push_back(l);
            }
        }
    }
    assert!(seen.len() >= 8, "the crawl reached only {seen:?}");
    assert!(seen.iter().any(|p| p.starts_with("/static/")), "{seen:?}");

    // Every e-mail the expert got: one recipient, nobody else's identity.
    let mails = mails_to(app, me);
    assert!(mails.len() >= 3);
    for m in &mails {
        assert_eq!(m.header("To").unwrap_or_default().matches('@').count(), 1);
        assert!(m.header("Cc").is_none() && m.header("Bcc").is_none());
        let text = m.readable();
        assert!(
            text.contains("/p/"),
            "the decoded message holds its link: {text}"
        );
        for s in &secrets {
            assert!(!mentions(&text, s), "an e-mail to {me} carries {s:?}");
        }
    }
});
