//! Health, the OpenAPI document, headers every response carries, and the bare binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;
use crate::{both_backends, both_backends_where};

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

both_backends!(
    ready_checks_the_database_and_its_migrations,
    |app: &TestApp| {
        let r = app.client().get("/ready");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "ok");
        // A migration this version does not know of is not "pending"; one it knows of but that is
        // not applied is: take the newest one back and readiness turns 503 while liveness stays.
        let mut conn = app.conn();
        let newest: String = {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct V {
                #[diesel(sql_type = diesel::sql_types::Text)]
                version: String,
            }
            let v: Vec<V> = diesel::sql_query(
                "SELECT version FROM __diesel_schema_migrations ORDER BY version DESC LIMIT 1",
            )
            .load(&mut *conn)
            .unwrap();
            v[0].version.clone()
        };
        {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = '{newest}'"
            ))
            .execute(&mut *conn)
            .unwrap();
        }
        let r = app.client().get("/ready");
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.json()["status"], "migrations_pending");
        assert!(r.header("retry-after").is_some());
        assert_eq!(app.client().get("/health").status, 200);
    }
);

both_backends_where!(
    metrics_count_requests_by_route_and_show_the_outbox,
    |s| s.server.metrics_token = orakel::config::Secret::new("scrape-secret"),
    |app: &TestApp| {
        let mut c = app.client();
        assert_eq!(c.get("/health").status, 200);
        assert_eq!(c.get("/api/v1/nothing-here").status, 404);
        let token = orakel::ops::secret::new_token();
        assert_eq!(c.get(&format!("/p/{token}")).status, 404);
        // Without the configured token: refused.
        let r = c.get("/metrics");
        assert_eq!(r.status, 401);
        assert!(!r.body.contains("orakel_"));
        c.token = Some("scrape-secret".into());
        let r = c.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let m = &r.body;
        assert!(
            m.contains(
                "orakel_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"
            ),
            "{m}"
        );
        assert!(m.contains("route=\"/p/{token}\",status=\"404\"} 1"), "{m}");
        assert!(
            !m.contains(&token),
            "paths with personal links never appear, only their patterns"
        );
        assert!(m.contains("orakel_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"+Inf\"} 1"));
        assert!(m.contains("orakel_database_up 1"));
        assert!(m.contains("orakel_outbox_messages{state=\"queued\"} 0"));
        // Queued mail shows in the outbox gauge until the worker sends it.
        let mut lead = app.api("lead@example.org");
        let study = crate::recruitment::study(&mut lead);
        let ids = crate::recruitment::add_candidates(&mut lead, &study, 2);
        lead.post_json(
            &format!("/api/v1/studies/{study}/invitations"),
            &serde_json::json!({"candidate_ids": ids}),
        );
        let m = c.get("/metrics").body;
        assert!(
            m.contains("orakel_outbox_messages{state=\"queued\"} 2"),
            "{m}"
        );
        app.tick();
        let m = c.get("/metrics").body;
        assert!(
            m.contains("orakel_outbox_messages{state=\"sent\"} 2"),
            "{m}"
        );
        assert!(m.contains("orakel_outbox_oldest_due_seconds 0.000"), "{m}");
    }
);

both_backends!(openapi_lists_the_endpoints, |app: &TestApp| {
    let r = app.client().get("/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/health",
        "/ready",
        "/metrics",
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

/// A command does its one thing and exits cleanly, every time: with a pool larger than one it
/// used to start a second PostgreSQL connection in the background and, now and then, crash in
/// OpenSSL's exit handler while libpq was still connecting (a token printed, yet exit 139).
fn commands_exit_cleanly(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_orakel");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(&db.dir)
            .env("ORAKEL__DATABASE__URL", &db.url)
            .env("ORAKEL__DATABASE__POOL_SIZE", "8")
            .env("ORAKEL_PASSWORD", PASSWORD)
            .env("ORAKEL__LOG__LEVEL", "warn")
            .output()
            .unwrap()
    };
    let added = run(&[
        "researcher",
        "add",
        "--email",
        "cli@example.org",
        "--name",
        "Cli",
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    for i in 0..60 {
        let out = run(&["token", "list", "--email", "cli@example.org"]);
        assert!(
            out.status.success(),
            "run {i} ended with {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn commands_exit_cleanly_on_sqlite() {
    commands_exit_cleanly(Backend::Sqlite);
}

#[test]
fn commands_exit_cleanly_on_postgres() {
    commands_exit_cleanly(Backend::Postgres);
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

/// What is compressed for a client that asks: bodies of a kilobyte or more; shorter ones (a
/// save's reply, the health check) go as they are, since gzip would add about what it saves, and
/// never with an encoding named "identity".
#[test]
fn short_answers_go_uncompressed_and_longer_ones_compressed() {
    let Some(app) = TestApp::spawn(Backend::Sqlite) else {
        return;
    };
    let mut c = app.client();
    let gzip = [("Accept-Encoding", "gzip, deflate, br")];
    let css = c.get_with("/static/style.css", &gzip);
    assert_eq!(css.status, 200);
    assert!(
        matches!(
            css.header("content-encoding"),
            Some("gzip" | "br" | "deflate")
        ),
        "{:?}",
        css.headers
    );
    let plain = c.get("/static/style.css");
    assert!(
        plain.body.len() >= 1024,
        "the style sheet is over a kilobyte"
    );
    assert_eq!(plain.header("content-encoding"), None);

    let health = c.get_with("/health", &gzip);
    assert_eq!(health.status, 200);
    assert!(health.body.len() < 1024, "{}", health.body);
    assert_eq!(
        health.header("content-encoding"),
        None,
        "{:?}",
        health.headers
    );
    assert!(
        health.body.contains("\"status\""),
        "readable as sent: {}",
        health.body
    );
}

/// Nagle's algorithm holds back a response's second write (a compressed body after its headers)
/// until the client acknowledges the first, and clients delay that acknowledgement by up to
/// 40 ms: every compressed page and save waited for it. The server's end of a connection must
/// send at once.
#[test]
fn the_server_sends_without_waiting_for_acknowledgements() {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    let Some(app) = TestApp::spawn(Backend::Sqlite) else {
        return;
    };
    let mut client = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    client
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n")
        .unwrap();
    let mut status = [0u8; 12];
    client.read_exact(&mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 200");
    // The server runs in this process: find its end of this connection among our descriptors.
    let ours = client.local_addr().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed: ManuallyDrop never closes it, and a call on a
        // descriptor that is no longer (or not) a TCP socket only fails.
        let socket = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
        if socket.peer_addr().ok() == Some(ours) {
            found.push(socket.nodelay().unwrap());
        }
    }
    assert_eq!(
        found,
        vec![true],
        "the server's end of the connection has TCP_NODELAY"
    );
}
