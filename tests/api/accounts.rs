//! Logins, sessions, CSRF protection and API tokens.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(login_opens_a_session, |app: &TestApp| {
    app.researcher("anne@example.org", "Anne");
    let mut c = app.client();
    assert_eq!(
        c.get("/studies").status,
        303,
        "no session: redirected to the login"
    );
    let r = c.login("Anne@Example.org", PASSWORD);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/studies"));
    let cookie = r
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("orakel_session="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    let page = c.get("/studies");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Anne"));
    let me = c.get("/api/v1/me");
    assert_eq!(me.json()["email"], "anne@example.org");

    let csrf = c.csrf();
    assert_eq!(c.post_form("/logout", &[("_csrf", &csrf)]).status, 303);
    assert_eq!(c.get("/studies").status, 303, "logged out");
});

both_backends!(bad_logins_are_refused_and_limited, |app: &TestApp| {
    app.researcher("bo@example.org", "Bo");
    let mut c = app.client();
    let wrong = c.login("bo@example.org", "not the password at all");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong"), "{}", wrong.body);
    assert!(!c.cookies.contains_key("orakel_session"));
    let unknown = c.login("nobody@example.org", PASSWORD);
    assert_eq!(
        unknown.status, 401,
        "an unknown account reads the same as a wrong password"
    );

    // The account's limit is 5 failures in the window; then even the right password is refused.
    for _ in 0..4 {
        assert_eq!(c.login("bo@example.org", "wrong password here").status, 401);
    }
    let limited = c.login("bo@example.org", PASSWORD);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(!c.cookies.contains_key("orakel_session"));
});

both_backends!(
    a_login_form_without_its_csrf_token_is_refused,
    |app: &TestApp| {
        app.researcher("cy@example.org", "Cy");
        let mut c = app.client();
        let r = c.post_form(
            "/login",
            &[
                ("email", "cy@example.org"),
                ("password", PASSWORD),
                ("_csrf", "forged"),
            ],
        );
        assert_eq!(r.status, 403);
        assert!(!c.cookies.contains_key("orakel_session"));
    }
);

both_backends!(
    forms_and_session_api_calls_need_the_csrf_token,
    |app: &TestApp| {
        let mut c = app.browser("dee@example.org");
        // A form posted without (or with a wrong) token changes nothing.
        let r = c.post_form("/studies/new", &[("title", "Forged"), ("language", "da")]);
        assert_eq!(r.status, 403, "{}", r.body);
        let r = c.post_form(
            "/studies/new",
            &[("title", "Forged"), ("language", "da"), ("_csrf", "x")],
        );
        assert_eq!(r.status, 403);
        // The JSON API with the session cookie needs the X-CSRF-Token header on writes.
        let r = c.post_json("/api/v1/studies", &json!({"title": "Forged"}));
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            c.get("/api/v1/studies")
                .json()
                .as_array()
                .unwrap()
                .is_empty()
        );
        // With the token both work.
        let csrf = c.csrf();
        let r = c.post_form(
            "/studies/new",
            &[("title", "Real"), ("language", "da"), ("_csrf", &csrf)],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        c.csrf_header = Some(csrf);
        assert_eq!(
            c.post_json("/api/v1/studies", &json!({"title": "Real too"}))
                .status,
            201
        );
        assert_eq!(c.get("/api/v1/studies").json().as_array().unwrap().len(), 2);
    }
);

both_backends!(api_tokens_work_until_revoked, |app: &TestApp| {
    let mut c = app.api("eve@example.org");
    assert_eq!(c.get("/api/v1/studies").status, 200);
    let created = c.post_json("/api/v1/tokens", &json!({"label": "second"}));
    assert_eq!(created.status, 201);
    let second = created.json()["token"].as_str().unwrap().to_string();
    let second_id = created.json()["id"].as_str().unwrap().to_string();

    let mut other = app.client();
    other.token = Some(second.clone());
    assert_eq!(other.get("/api/v1/studies").status, 200);
    assert_eq!(c.delete(&format!("/api/v1/tokens/{second_id}")).status, 204);
    let r = other.get("/api/v1/studies");
    assert_eq!(r.status, 401, "a revoked token no longer works");
    assert_eq!(r.json()["error"], "unauthenticated");
    // The first token is unaffected; a revoked token cannot be revoked twice.
    assert_eq!(c.get("/api/v1/studies").status, 200);
    assert_eq!(c.delete(&format!("/api/v1/tokens/{second_id}")).status, 404);

    let mut nobody = app.client();
    assert_eq!(nobody.get("/api/v1/studies").status, 401);
    nobody.token = Some("not-a-token".into());
    assert_eq!(nobody.get("/api/v1/studies").status, 401);
    nobody.token = Some(orakel::ops::secret::new_token());
    assert_eq!(nobody.get("/api/v1/studies").status, 401);
});

both_backends!(
    one_cannot_revoke_another_researchers_token,
    |app: &TestApp| {
        let mut a = app.api("fay@example.org");
        let mut b = app.api("gus@example.org");
        let id = a.post_json("/api/v1/tokens", &json!({})).json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(b.delete(&format!("/api/v1/tokens/{id}")).status, 404);
        let tokens = a.get("/api/v1/tokens").json();
        assert!(
            tokens
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["revoked_at"].is_null())
        );
    }
);

both_backends!(tokens_are_managed_in_the_browser, |app: &TestApp| {
    let mut c = app.browser("hal@example.org");
    let csrf = c.csrf();
    let r = c.post_form("/account/tokens", &[("label", "laptop"), ("_csrf", &csrf)]);
    assert_eq!(r.status, 200);
    let token = r
        .body
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    let mut api = app.client();
    api.token = Some(token);
    assert_eq!(api.get("/api/v1/me").json()["email"], "hal@example.org");
});
