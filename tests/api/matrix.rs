//! The authorisation matrix: every route Orakel serves — read from the route attributes in
//! `src/web`, so a new route without a rule here fails — called as every role, with the status
//! each role must get. Denials where existence would leak are 404. The matrix is printed.
//!
//! Roles: anonymous visitor, the expert with their personal link, an expert of another study,
//! the funder's report link, a funder's account, a researcher of another study, a researcher of the
//! study, its owner.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends_where;
use crate::helpers::*;
use crate::round1::{code, pseudonyms, upload_interviews};
use crate::rounds::{codebook, deadline_in, open_round, panel};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
}

/// Every `#[get("…")]`, `#[post("…")]`, … under `src/web`.
pub fn routes() -> Vec<Route> {
    fn walk(dir: &Path, out: &mut Vec<Route>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&p).unwrap();
                for line in src.lines() {
                    let line = line.trim();
                    for m in ["get", "post", "put", "patch", "delete"] {
                        let prefix = format!("#[{m}(\"");
                        if let Some(rest) = line.strip_prefix(&prefix)
                            && let Some(path) = rest.strip_suffix("\")]")
                        {
                            out.push(Route {
                                method: m.to_uppercase(),
                                path: path.to_string(),
                            });
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web"),
        &mut out,
    );
    out.sort();
    out.dedup();
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Anyone.
    Public,
    /// Any signed-in researcher.
    Account,
    /// A signed-in researcher's own item (their API tokens): another researcher's is 404.
    OwnItem,
    /// Researchers of the study.
    Study,
    /// Owners of the study.
    Owner,
    /// The expert's personal link.
    Expert,
    /// The funder's report link.
    Funder,
    /// A funder's account (its session).
    FunderAccount,
    /// The link that sets a new funder's password.
    FunderWelcome,
}

/// What each route is for. Anything not named here fails the test: give a new route its rule.
fn scope(r: &Route) -> Scope {
    let p = r.path.as_str();
    let m = r.method.as_str();
    let owner_only = [
        ("GET", "/api/v1/studies/{study}/archive"),
        ("GET", "/api/v1/studies/{study}/audit"),
        ("GET", "/studies/{study}/audit"),
        ("PUT", "/api/v1/studies/{study}/members"),
        ("POST", "/studies/{study}/members"),
        ("DELETE", "/api/v1/studies/{study}/members/{researcher}"),
        ("POST", "/studies/{study}/members/{researcher}/remove"),
        ("POST", "/api/v1/candidates/{candidate}/erase"),
        ("POST", "/candidates/{candidate}/erase"),
    ];
    if owner_only.contains(&(m, p)) {
        return Scope::Owner;
    }
    if matches!(
        p,
        "/" | "/health" | "/ready" | "/metrics" | "/login" | "/static/{file}" | "/api/openapi.json"
    ) {
        return Scope::Public;
    }
    if p.starts_with("/p/{token}")
        || p.starts_with("/unsubscribe/{token}")
        || p.starts_with("/api/v1/participation/{token}")
    {
        return Scope::Expert;
    }
    if p.starts_with("/f/{token}") {
        return Scope::Funder;
    }
    if p.starts_with("/funder/welcome/{token}") {
        return Scope::FunderWelcome;
    }
    if p == "/funder" || p.starts_with("/funder/") {
        return Scope::FunderAccount;
    }
    if matches!(
        p,
        "/api/v1/tokens/{token}" | "/account/tokens/{token}/revoke"
    ) {
        return Scope::OwnItem;
    }
    if matches!(
        p,
        "/account/language"
            | "/account/tokens"
            | "/logout"
            | "/studies"
            | "/studies/new"
            | "/api/v1/me"
            | "/api/v1/tokens"
            | "/api/v1/studies"
            | "/api/v1/archives"
    ) {
        return Scope::Account;
    }
    let study_owned = [
        "/studies/{study}",
        "/candidates/{candidate}",
        "/rounds/{round}",
        "/themes/{theme}",
        "/transcripts/{transcript}",
        "/api/v1/studies/{study}",
        "/api/v1/candidates/{candidate}",
        "/api/v1/rounds/{round}",
        "/api/v1/themes/{theme}",
        "/api/v1/categories/{category}",
        "/api/v1/statements/{statement}",
        "/api/v1/transcripts/{transcript}",
        "/api/v1/excerpts/{excerpt}",
        "/api/v1/codings/{coding}",
        "/api/v1/appointments/{appointment}",
        "/api/v1/answers/{answer}",
        "/api/v1/posts/{post}",
        "/api/v1/report-links/{link}",
    ];
    if study_owned
        .iter()
        .any(|s| p == *s || p.starts_with(&format!("{s}/")) || p.starts_with(&format!("{s}.")))
    {
        return Scope::Study;
    }
    panic!("no authorisation rule for {m} {p}: add it to tests/api/matrix.rs");
}

/// Changes that cannot be repeated by the next role (the item is gone): run last, once allowed.
fn destructive(r: &Route) -> Option<usize> {
    if r.path == "/logout" || r.path == "/funder/logout" {
        return Some(100);
    }
    let order = [
        "/api/v1/codings/",
        "/api/v1/excerpts/",
        "/api/v1/statements/",
        "/api/v1/transcripts/",
        "/transcripts/",
        "/api/v1/report-links/",
        "/api/v1/tokens/",
        "/account/tokens/",
        "/api/v1/studies/{study}/members/",
        "/studies/{study}/members/",
    ];
    let hit = |s: &str| r.path.contains(s);
    let ending = [
        "/erase",
        "/withdraw",
        "/unsubscribe",
        "/close",
        "/drop",
        "/split",
        "/merge",
    ];
    if r.method == "DELETE"
        || (r.method == "POST" && r.path.starts_with("/unsubscribe/"))
        || ending
            .iter()
            .chain(&["/revoke", "/remove"])
            .any(|s| r.path.ends_with(s))
    {
        return Some(
            order
                .iter()
                .chain(&ending)
                .position(|s| hit(s))
                .unwrap_or(50),
        );
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Anonymous,
    Expert,
    OtherExpert,
    Funder,
    FunderAccount,
    Stranger,
    Researcher,
    Owner,
}

const ROLES: [Role; 8] = [
    Role::Anonymous,
    Role::Expert,
    Role::OtherExpert,
    Role::Funder,
    Role::FunderAccount,
    Role::Stranger,
    Role::Researcher,
    Role::Owner,
];

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Through the gate: anything but 401, 403, 404 and 5xx.
    Allowed,
    Status(u16),
    /// A page without a session: to the login.
    Login,
    /// Not applicable (the role has no way to address the route).
    Skip,
}

fn expect(scope: Scope, role: Role, api: bool, r: &Route) -> Expect {
    use Role::*;
    let unauthenticated = if api {
        Expect::Status(401)
    } else {
        Expect::Login
    };
    let researcher = matches!(role, Stranger | Researcher | Owner);
    match scope {
        Scope::Public => Expect::Allowed,
        Scope::Account => {
            if researcher {
                Expect::Allowed
            } else {
                unauthenticated
            }
        }
        Scope::OwnItem => match role {
            Owner => Expect::Allowed,
            Stranger | Researcher => Expect::Status(404),
            _ => unauthenticated,
        },
        Scope::Study => match role {
            Owner | Researcher => Expect::Allowed,
            Stranger => Expect::Status(404),
            _ => unauthenticated,
        },
        Scope::Owner => match role {
            Owner => Expect::Allowed,
            Researcher => Expect::Status(403),
            Stranger => Expect::Status(404),
            _ => unauthenticated,
        },
        Scope::Expert => match role {
            Expert => Expect::Allowed,
            // Their own link works for their own study; this study's rounds are not theirs.
            OtherExpert if r.path.contains("{n}") => Expect::Status(404),
            OtherExpert => Expect::Skip,
            _ => Expect::Status(404),
        },
        Scope::Funder => match role {
            Funder => Expect::Allowed,
            _ => Expect::Status(404),
        },
        // Only the account's own session; a researcher's session is no way in.
        Scope::FunderAccount => match role {
            FunderAccount => Expect::Allowed,
            _ => Expect::Login,
        },
        // The password link: its holder's works (a form without the page's cookie is refused),
        // any other is unknown.
        Scope::FunderWelcome => match role {
            FunderAccount if r.method == "POST" => Expect::Status(403),
            FunderAccount => Expect::Allowed,
            _ => Expect::Status(404),
        },
    }
}

struct World {
    params: BTreeMap<&'static str, String>,
    expert_token: String,
    /// Links of further panellists, one for each route that ends a person's links (withdrawal).
    spare_tokens: std::cell::RefCell<Vec<String>>,
    other_expert_token: String,
    funder_token: String,
    /// The funder account's browser, and a password link not yet used.
    funder_account: Client,
    funder_welcome_token: String,
    questionnaire_round: String,
    pseudonym: String,
    owner_id: String,
    qdc: Vec<u8>,
    qdpx: Vec<u8>,
    owner: Client,
    owner_page: Client,
    researcher: Client,
    researcher_page: Client,
    stranger: Client,
    stranger_page: Client,
}

fn world(app: &TestApp) -> World {
    let mut owner = app.api("owner@example.org");
    let p = panel(app, &mut owner, 5);
    let themes = codebook(&mut owner, &p.study);
    // A written questionnaire for the expert's questionnaire routes.
    let q = owner.post_json(
        &format!("/api/v1/studies/{}/rounds", p.study),
        &json!({"kind": "qualitative", "questionnaire": true, "closes_at": deadline_in(Duration::days(9))}),
    );
    let qround = q.json()["id"].as_str().unwrap().to_string();
    let qnumber = q.json()["number"].as_i64().unwrap().to_string();
    owner.put_json(
        &format!("/api/v1/rounds/{qround}/guide"),
        &json!({"sections": [{"title": "Arbejde", "questions": [{"text": "Hvad virker?"}]}]}),
    );
    let o = owner.post_json(&format!("/api/v1/rounds/{qround}/open"), &json!({}));
    assert_eq!(o.status, 202, "{}", o.body);
    app.tick();
    // Closed again, so the rating round can open; its pages and routes stay.
    let closed = owner.post_json(&format!("/api/v1/rounds/{qround}/close"), &json!({}));
    assert_eq!(closed.status, 200, "{}", closed.body);
    let (round, number) = open_round(
        &mut owner,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(Duration::days(5))}),
    );
    app.tick();
    let expert_token = p.members[0].1.clone();
    let r = app.client().put_json(
        &format!("/api/v1/participation/{expert_token}/rounds/{number}/answers"),
        &json!({"answers": [{"theme_id": themes[&1], "score": 3, "comment": "En kommentar"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let responses = owner
        .get(&format!("/api/v1/rounds/{round}/responses"))
        .json();
    let answer = responses["themes"][0]["comments"][0]["answer_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.tick();
    let names = pseudonyms(&mut owner, &p.study);
    let mut order: Vec<String> = names.values().cloned().collect();
    order.sort();
    let transcripts = upload_interviews(&mut owner, &p.study, &order[..1]);
    let t = transcripts[&order[0]].clone();
    let excerpt = code(
        &mut owner,
        &t,
        "Vi taler om trivsel og løn.",
        &[&themes[&1], &themes[&2]],
    );
    let appointment = owner
        .post_json(
            &format!("/api/v1/rounds/{qround}/appointments"),
            &json!({"panellist": order[0], "starts_at": "2026-12-03T09:00:00Z"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let book = owner
        .get(&format!("/api/v1/studies/{}/codebook", p.study))
        .json();
    let link = owner.post_json(
        &format!("/api/v1/studies/{}/report-links", p.study),
        &json!({"label": "board"}),
    );
    let funder_token = link.json()["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let spare_link = owner
        .post_json(
            &format!("/api/v1/studies/{}/report-links", p.study),
            &json!({"label": "spare"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let spare_token = owner
        .post_json("/api/v1/tokens", &json!({"label": "spare"}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The study's other researchers, and a stranger with a study and panel of their own.
    // Pages and API act as the same people: the page clients sign in with their passwords.
    let researcher = app.api("researcher@example.org");
    app.researcher("third@example.org", "Third Researcher");
    app.researcher("fourth@example.org", "Fourth Researcher");
    for email in [
        "researcher@example.org",
        "third@example.org",
        "fourth@example.org",
    ] {
        let r = owner.put_json(
            &format!("/api/v1/studies/{}/members", p.study),
            &json!({"email": email, "role": "researcher"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let members = owner
        .get(&format!("/api/v1/studies/{}/members", p.study))
        .json();
    let member_id = |email: &str| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()["researcher_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (third_id, fourth_id) = (
        member_id("third@example.org"),
        member_id("fourth@example.org"),
    );
    let mut stranger = app.api("stranger@example.org");
    let other = panel(app, &mut stranger, 1);
    let other_expert_token = other.members[0].1.clone();
    let signed_in = |email: &str| {
        let mut c = app.client();
        c.login(email, PASSWORD);
        c
    };
    let (owner_page, researcher_page, stranger_page) = (
        signed_in("owner@example.org"),
        signed_in("researcher@example.org"),
        signed_in("stranger@example.org"),
    );
    let page_token = owner
        .post_json("/api/v1/tokens", &json!({"label": "spare for the page"}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut params = BTreeMap::new();
    params.insert("study", p.study.clone());
    params.insert("candidate", p.members[1].0.clone());
    params.insert("round", round);
    params.insert("theme", themes[&3].clone());
    params.insert(
        "statement",
        book["categories"][0]["themes"][1]["statements"][0]["id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    params.insert(
        "category",
        book["categories"][2]["id"].as_str().unwrap().to_string(),
    );
    params.insert("transcript", t.0.clone());
    params.insert("excerpt", excerpt["id"].as_str().unwrap().to_string());
    params.insert(
        "coding",
        excerpt["themes"][0]["coding_id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    params.insert("appointment", appointment);
    params.insert("answer", answer);
    params.insert("link", spare_link);
    params.insert("token", spare_token);
    params.insert("kind", "invitation".into());
    params.insert("ext", "csv".into());
    params.insert("n", number.to_string());
    params.insert("researcher", third_id);
    params.insert("page_researcher", fourth_id);
    params.insert("page_token", page_token);
    params.insert("file", "style.css".into());
    params.insert("qualitative_round", qround.clone());
    // The expert's own post, waiting for approval: theirs to change or withdraw.
    let own_post = app
        .client()
        .post_json(
            &format!(
                "/api/v1/participation/{expert_token}/rounds/{number}/themes/{}/posts",
                themes[&3]
            ),
            &json!({"text": "Et indlæg til matricen."}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    params.insert("post", own_post);
    params.insert("theme_b", themes[&4].clone());
    params.insert("theme_c", themes[&5].clone());
    let rep = owner
        .get(&format!("/api/v1/studies/{}/report", p.study))
        .json();
    let comp = &rep["composition"];
    params.insert(
        "table_key",
        comp["table_key"]
            .as_str()
            .unwrap_or("composition:none")
            .to_string(),
    );
    params.insert(
        "cell_key",
        comp["rows"][0]["cells"][0]["key"]
            .as_str()
            .unwrap_or("x")
            .to_string(),
    );
    // A funder's account with the study shared, a second funder whose password link is unused,
    // and a third whose access the DELETE withdraws.
    let (funder_account, _) =
        crate::funders::funder_account(app, &mut owner, &p.study, "fond@example.org", "Fonden");
    owner.post_json(
        &format!("/api/v1/studies/{}/funders", p.study),
        &json!({"email": "ny@fond.example", "name": "Ny"}),
    );
    app.tick();
    let funder_welcome_token = crate::funders::setup_token(app, "ny@fond.example");
    let spare_funder = owner
        .post_json(
            &format!("/api/v1/studies/{}/funders", p.study),
            &json!({"email": "reserve@fond.example", "name": "Reserve"}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    params.insert("funder", spare_funder);
    let (_, qdc) = owner.get_bytes(&format!("/api/v1/studies/{}/codebook.qdc", p.study));
    let (_, qdpx) = owner.get_bytes(&format!("/api/v1/studies/{}/project.qdpx", p.study));
    let owner_id = owner.get("/api/v1/me").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    World {
        pseudonym: order[0].clone(),
        owner_id,
        qdc,
        qdpx,
        params,
        expert_token,
        spare_tokens: std::cell::RefCell::new(vec![p.members[3].1.clone(), p.members[4].1.clone()]),
        other_expert_token,
        funder_token,
        funder_account,
        funder_welcome_token,
        questionnaire_round: qnumber,
        owner,
        owner_page,
        researcher,
        researcher_page,
        stranger,
        stranger_page,
    }
}

/// The route's path with real values for one role.
fn fill(w: &World, r: &Route, role: Role) -> String {
    let mut out = r.path.clone();
    let token = if r.path.starts_with("/p/")
        || r.path.starts_with("/unsubscribe/")
        || r.path.starts_with("/api/v1/participation/")
    {
        match role {
            // Withdrawing ends every link of the person: each withdrawal uses a panellist of
            // its own, so the routes after it still have a live link.
            Role::Expert if r.path.ends_with("/withdraw") => w
                .spare_tokens
                .borrow_mut()
                .pop()
                .expect("a spare panellist for each withdrawal"),
            Role::Expert => w.expert_token.clone(),
            Role::OtherExpert => w.other_expert_token.clone(),
            Role::Funder => w.funder_token.clone(),
            _ => "Z".repeat(43),
        }
    } else if r.path.starts_with("/f/") {
        match role {
            Role::Funder => w.funder_token.clone(),
            Role::Expert => w.expert_token.clone(),
            _ => "Z".repeat(43),
        }
    } else if r.path.starts_with("/funder/welcome/") {
        match role {
            Role::FunderAccount => w.funder_welcome_token.clone(),
            _ => "Z".repeat(43),
        }
    } else if r.path.starts_with("/account/tokens/") {
        w.params["page_token"].clone()
    } else {
        w.params["token"].clone()
    };
    if r.path.starts_with("/studies/{study}/members/") {
        out = out.replace("{researcher}", &w.params["page_researcher"]);
    }
    out = out.replace("{token}", &token);
    if r.path.ends_with("/questionnaire") {
        out = out.replace("{n}", &w.questionnaire_round);
    }
    if [
        "/interviews",
        "/guide",
        "/appointments",
        "/questionnaire/documents",
    ]
    .iter()
    .any(|x| r.path.contains(x))
    {
        out = out.replace("{round}", &w.params["qualitative_round"]);
    }
    if r.path.ends_with("/coding/agreement") {
        out = format!("{out}?a={}&b={}", w.owner_id, w.owner_id);
    }
    for (k, v) in &w.params {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(!out.contains('{'), "no value for a parameter of {}", r.path);
    out
}

fn call(w: &mut World, app: &TestApp, r: &Route, role: Role) -> Resp {
    let path = fill(w, r, role);
    // The body first: the CSRF token of the caller's session is put in below.
    let request = body(w, r, "@csrf@");
    let api = r.path.starts_with("/api/");
    let mut anonymous = app.client();
    let client: &mut Client = match (role, api) {
        (Role::Owner, true) => &mut w.owner,
        (Role::Owner, false) => &mut w.owner_page,
        (Role::Researcher, true) => &mut w.researcher,
        (Role::Researcher, false) => &mut w.researcher_page,
        (Role::Stranger, true) => &mut w.stranger,
        (Role::Stranger, false) => &mut w.stranger_page,
        (Role::FunderAccount, _) => &mut w.funder_account,
        _ => &mut anonymous,
    };
    let csrf = if role == Role::FunderAccount {
        // The account's pages carry its session's token; the password form has none of it.
        if !api
            && r.method == "POST"
            && r.path.starts_with("/funder/")
            && !r.path.starts_with("/funder/welcome/")
        {
            client
                .get("/funder")
                .form_value("_csrf")
                .expect("the account's token")
        } else {
            String::new()
        }
    } else if !api && r.method == "POST" && !client.cookies.is_empty() && role != Role::Anonymous {
        client.csrf()
    } else {
        String::new()
    };
    let request = match request {
        Body::Form(f) => Body::Form(
            f.into_iter()
                .map(|(k, v)| (k, v.replace("@csrf@", &csrf)))
                .collect(),
        ),
        Body::Multipart(f) => Body::Multipart(
            f.into_iter()
                .map(|(k, n, v)| {
                    if v == b"@csrf@" {
                        (k, n, csrf.as_bytes().to_vec())
                    } else {
                        (k, n, v)
                    }
                })
                .collect(),
        ),
        other => other,
    };
    match (r.method.as_str(), request) {
        ("GET", _) => client.get(&path),
        ("DELETE", _) => client.delete(&path),
        (m, Body::Json(v)) => client.send_json(m, &path, &v),
        (_, Body::Raw(ct, bytes)) => client.post_raw(&path, ct, &bytes),
        (_, Body::Form(fields)) => {
            let f: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            client.post_form(&path, &f)
        }
        (_, Body::Multipart(parts)) => {
            let p: Vec<(&str, &str, &[u8])> = parts
                .iter()
                .map(|(k, f, v)| (k.as_str(), f.as_str(), v.as_slice()))
                .collect();
            client.post_multipart(&path, &p)
        }
    }
}

enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
    Form(Vec<(String, String)>),
    Multipart(Vec<(String, String, Vec<u8>)>),
}

/// A well-formed request for each route that takes one, so that what answers is the route's
/// authorisation, not its input checks.
fn body(w: &World, r: &Route, csrf: &str) -> Body {
    let p = r.path.as_str();
    let pseud = w.pseudonym.clone();
    let theme = w.params["theme"].clone();
    let category = w.params["category"].clone();
    let form = |extra: &[(&str, &str)]| {
        let mut f = vec![("_csrf".to_string(), csrf.to_string())];
        f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Body::Form(f)
    };
    let multipart = |extra: Vec<(&str, &str, Vec<u8>)>| {
        let mut f = vec![("_csrf".to_string(), String::new(), csrf.as_bytes().to_vec())];
        f.extend(
            extra
                .into_iter()
                .map(|(k, n, v)| (k.to_string(), n.to_string(), v)),
        );
        Body::Multipart(f)
    };
    if p.starts_with("/api/") {
        let v = match (r.method.as_str(), p) {
            (_, "/api/v1/answers/{answer}/cleared") => json!({"cleared": true}),
            (_, "/api/v1/appointments/{appointment}") => {
                json!({"panellist": pseud, "starts_at": "2026-12-04T09:00:00Z"})
            }
            (_, "/api/v1/participation/{token}/consent") => json!({"accept": true}),
            ("POST", "/api/v1/participation/{token}/rounds/{n}/themes/{theme}/posts")
            | ("POST", "/api/v1/rounds/{round}/themes/{theme}/posts") => {
                json!({"text": "Et indlæg."})
            }
            ("PUT", "/api/v1/participation/{token}/posts/{post}") => json!({"text": "Rettet."}),
            (_, "/api/v1/participation/{token}/discussion-digest") => json!({"daily": true}),
            (_, "/api/v1/posts/{post}/hide") => json!({"reason": "Matricen"}),
            (_, "/api/v1/posts/{post}/cleared") => json!({"cleared": true}),
            (_, "/api/v1/participation/{token}/rounds/{n}/answers")
            | (_, "/api/v1/participation/{token}/rounds/{n}/questionnaire") => {
                json!({"answers": []})
            }
            ("POST", "/api/v1/rounds/{round}/appointments") => json!({"panellist": pseud}),
            ("PUT", "/api/v1/studies/{study}/protocol") => {
                json!({"consensus": {"share_percent": 70.0, "points": 2, "max_iqr": 1.0},
                       "priority_threshold": 3.0, "min_group_size": 3, "groups_by": null,
                       "planned_rounds": 3, "stopping": {"all_verdicts": true},
                       "feedback": ["none", "distribution", "distribution"],
                       "analyses": ["priorities"], "amendment_reason": "Matrix"})
            }
            (_, "/api/v1/rounds/{round}/themes/{theme}/minority-statement") => {
                json!({"statement": "Et mindretal så det anderledes."})
            }
            ("PUT", "/api/v1/rounds/{round}/guide") => {
                json!({"sections": [{"title": "Arbejde", "questions": [{"text": "Hvad virker?"}]}]})
            }
            ("PATCH", "/api/v1/statements/{statement}") => {
                json!({"text": "Et omformuleret udsagn"})
            }
            (_, "/api/v1/statements/{statement}/evidence") => json!({"excerpt_ids": []}),
            ("POST", "/api/v1/studies/{study}/candidates") => {
                json!({"name": "Ny Kandidat", "email": "ny@panel.example"})
            }
            ("POST", "/api/v1/studies/{study}/categories") => {
                json!({"code": "Z", "title": "Ekstra"})
            }
            ("POST", "/api/v1/studies/{study}/codebook.qdc") => {
                return Body::Raw("application/xml", w.qdc.clone());
            }
            ("POST", "/api/v1/studies/{study}/project.qdpx") => {
                return Body::Raw("application/zip", w.qdpx.clone());
            }
            (_, "/api/v1/studies/{study}/consent-text") => {
                json!({"body": "Jeg giver samtykke til at deltage."})
            }
            ("POST", "/api/v1/studies/{study}/invitations") => {
                json!({"candidate_ids": [w.params["candidate"]]})
            }
            ("POST", "/api/v1/themes/{theme}/split") => {
                json!({"parts": [{"number": 42, "title": "Del et"}, {"number": 43, "title": "Del to"}], "reason": "two themes"})
            }
            ("POST", "/api/v1/studies/{study}/themes/merge") => {
                json!({"theme_ids": [w.params["theme_b"], w.params["theme_c"]], "category_id": category, "number": 44, "title": "Samlet", "reason": "one theme"})
            }
            (_, "/api/v1/studies/{study}/letters/{kind}")
            | (_, "/api/v1/studies/{study}/letters/{kind}/preview") => {
                json!({"subject": "Invitation", "letter": "Kære {{ name }}"})
            }
            ("PUT", "/api/v1/studies/{study}/members") => {
                json!({"email": "fourth@example.org", "role": "researcher"})
            }
            ("PUT", "/api/v1/studies/{study}/releases") => {
                json!({"table_key": w.params["table_key"], "cell_key": w.params["cell_key"], "released": true, "reason": "asked"})
            }
            ("POST", "/api/v1/studies/{study}/rounds") => json!({"kind": "rating", "rating": true}),
            ("PUT", "/api/v1/studies/{study}/strata") => json!([]),
            ("PUT", "/api/v1/studies/{study}/candidates/strata") => json!({"values": {}}),
            ("POST", "/api/v1/studies/{study}/funders") => {
                json!({"email": "fond@example.org", "name": "Fonden"})
            }
            ("POST", "/api/v1/studies/{study}/themes") => {
                json!({"category_id": category, "number": 40, "title": "Nyt tema"})
            }
            ("POST", "/api/v1/studies/{study}/transcripts") => {
                json!({"panellist": pseud, "text": "Hej med dig."})
            }
            ("POST", "/api/v1/themes/{theme}/statements") => json!({"text": "Et nyt udsagn"}),
            ("POST", "/api/v1/transcripts/{transcript}/excerpts") => {
                json!({"start": 0, "end": 5, "theme_ids": [theme]})
            }
            ("POST", "/api/v1/candidates/{candidate}/erase") => json!({"reason": "asked"}),
            _ => json!({}),
        };
        return Body::Json(v);
    }
    match p {
        "/rounds/{round}" => form(&[("action", "deadline"), ("closes_at", "2026-12-20T12:00")]),
        "/studies/{study}/candidates/import" => multipart(vec![
            ("csv", "", b"name,email\n".to_vec()),
            ("action", "", b"preview".to_vec()),
        ]),
        "/studies/{study}/coding/import" => multipart(vec![("qda", "codebook.qdc", w.qdc.clone())]),
        "/studies/{study}/transcripts" => multipart(vec![
            ("panellist", "", pseud.into_bytes()),
            ("text", "", b"Hej med dig.".to_vec()),
        ]),
        "/studies/{study}/consent-text" => form(&[("body", "Jeg giver samtykke til at deltage.")]),
        "/studies/{study}/letters/{kind}" => form(&[
            ("subject", "Invitation"),
            ("letter", "Kære {{ name }}"),
            ("action", "preview"),
        ]),
        "/studies/{study}/members" => {
            form(&[("email", "fourth@example.org"), ("role", "researcher")])
        }
        "/studies/{study}/report" => form(&[("action", "link"), ("label", "board")]),
        "/funder/language" => form(&[("language", "en"), ("back", "/funder")]),
        "/studies/{study}/settings" => form(&[
            ("title", "Mentalt helbred på arbejdspladsen"),
            ("purpose", ""),
            ("funder", ""),
            ("contact", "delphi@example.org"),
            ("language", "da"),
            ("scale_min", "0"),
            ("scale_max", "4"),
            ("scale_low_label", "Lav"),
            ("scale_high_label", "Høj"),
            ("min_group_size", "3"),
            ("small_cell_threshold", "3"),
            ("priority_threshold", "3"),
            ("reminder_days", "3,1"),
            ("no_reply_after_days", "14"),
            ("link_grace_days", "30"),
            ("retention_until", ""),
        ]),
        "/candidates/{candidate}/erase" => form(&[("reason", "asked")]),
        _ if p.starts_with("/p/") => Body::Form(Vec::new()),
        _ => form(&[]),
    }
}

/// The part of a response that says what went wrong: an API error, or a page's error text.
fn excerpt(body: &str) -> String {
    let from = body
        .find("class=\"error")
        .or_else(|| body.find("<h1"))
        .or_else(|| body.find("\"error\""))
        .unwrap_or(0);
    body[from..].chars().take(400).collect()
}

fn verdict(e: &Expect, resp: &Resp) -> Result<String, String> {
    let s = resp.status;
    let ok = match e {
        Expect::Allowed => s < 500 && !matches!(s, 401 | 403 | 404),
        Expect::Status(x) => s == *x,
        Expect::Login => {
            s == 303
                && resp
                    .header("location")
                    .is_some_and(|l| l.starts_with("/login"))
        }
        Expect::Skip => true,
    };
    if ok {
        Ok(if *e == Expect::Skip {
            "·".into()
        } else {
            s.to_string()
        })
    } else {
        Err(format!("{s} (expected {e:?})"))
    }
}

both_backends_where!(
    every_route_answers_every_role_as_it_should,
    // The test knocks with many wrong links on purpose; the guess limit has its own tests.
    |s: &mut orakel::config::Settings| s.security.link_guesses_per_minute = 1_000_000,
    |app: &TestApp| {
        let all = routes();
        assert!(all.len() > 150, "the route scan found {} routes", all.len());
        // The API description documents every API route.
        let doc = app.client().get("/api/openapi.json").json();
        for r in all.iter().filter(|r| r.path.starts_with("/api/v1/")) {
            let documented = doc["paths"][&r.path][r.method.to_lowercase()].is_object();
            assert!(
                documented,
                "{} {} is not in the OpenAPI document",
                r.method, r.path
            );
        }
        let mut w = world(app);
        let mut ordered: Vec<&Route> = all.iter().collect();
        ordered.sort_by_key(|r| {
            (
                destructive(r).unwrap_or(0),
                r.path.clone(),
                r.method.clone(),
            )
        });
        let mut table = String::from(
            "| route | anonymous | expert | other expert | funder link | funder account | stranger | researcher | owner |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        let mut failures = Vec::new();
        for r in ordered {
            let sc = scope(r);
            let api = r.path.starts_with("/api/");
            let mut row = format!("| {} {} |", r.method, r.path);
            let mut allowed_done = false;
            for role in ROLES {
                let e = expect(sc, role, api, r);
                if e == Expect::Skip
                    || (allowed_done && destructive(r).is_some() && e == Expect::Allowed)
                {
                    row.push_str(" · |");
                    continue;
                }
                let resp = call(&mut w, app, r, role);
                match verdict(&e, &resp) {
                    Ok(cell) => row.push_str(&format!(" {cell} |")),
                    Err(why) => {
                        row.push_str(&format!(" **{why}** |"));
                        failures.push(format!(
                            "{} {} as {role:?}: {why}: {}",
                            r.method,
                            r.path,
                            excerpt(&resp.body)
                        ));
                    }
                }
                if e == Expect::Allowed {
                    allowed_done = true;
                }
            }
            table.push_str(&row);
            table.push('\n');
        }
        eprintln!("{table}");
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
);
