//! Health, the OpenAPI document, headers every response carries, and the bare binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::both_backends;
use crate::helpers::*;

both_backends!(health_reports_the_database, |app: &TestApp| {
    let r = app.client().get("/health");
    assert_eq!(r.status, 200, "{}", r.body);
    let expected = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["database"], expected);
    assert!(r.header("x-request-id").is_some());
});

both_backends!(openapi_lists_the_endpoints, |app: &TestApp| {
    let r = app.client().get("/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/health",
        "/api/v1/studies",
        "/api/v1/studies/{study}",
        "/api/v1/studies/{study}/members",
        "/api/v1/tokens",
        "/api/v1/me",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(paths["/api/v1/studies/{study}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["StudyView"].is_object());
});

both_backends!(responses_carry_security_headers, |app: &TestApp| {
    let r = app.client().get("/login");
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
});

both_backends!(unknown_routes_are_404, |app: &TestApp| {
    let mut c = app.client();
    let r = c.get("/api/v1/nothing-here");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    assert_eq!(c.get("/nothing-here").status, 404);
});

/// The bare binary with no configuration at all starts on SQLite under data/ and says where it
/// listens; `researcher add` and `token create` give a token that works.
#[test]
fn the_binary_runs_with_no_configuration() {
    let dir = std::env::temp_dir().join(format!("orakel-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_orakel");
    let mut child = Command::new(bin)
        .arg("serve")
        .current_dir(&dir)
        .env_remove("ORAKEL_CONFIG")
        .env("ORAKEL__SERVER__PORT", "0")
        .env("ORAKEL__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on http://127.0.0.1:"), "{line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let mut client = Client::new(&url);
    assert_eq!(client.get("/health").status, 200);
    assert!(dir.join("data/orakel.db").exists());

    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .current_dir(&dir)
            .env("ORAKEL_PASSWORD", PASSWORD)
            .env("ORAKEL__LOG__LEVEL", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&[
        "researcher",
        "add",
        "--email",
        "lead@example.org",
        "--name",
        "Lead",
    ]);
    let token = run(&["token", "create", "--email", "lead@example.org"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    client.token = Some(token);
    let created = client.post_json(
        "/api/v1/studies",
        &serde_json::json!({"title": "CLI study"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_string();
    let read = client.get(&format!("/api/v1/studies/{id}"));
    assert_eq!(read.json()["title"], "CLI study");

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cli_refuses_bad_input_clearly() {
    let bin = env!("CARGO_BIN_EXE_orakel");
    let out = Command::new(bin).args(["frobnicate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
    let out = Command::new(bin)
        .args(["serve"])
        .env("ORAKEL__DATABASE__URL", "mysql://x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
}
