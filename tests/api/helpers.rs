//! The test harness: a real Orakel server on a free port over a fresh SQLite file or a fresh
//! PostgreSQL database, and a small HTTP client that keeps cookies like a browser.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::{Connection, RunQueryDsl};
use orakel::config::{MailTransportKind, Secret, Settings};
use orakel::db::{self, DbPool};
use orakel::startup::Application;
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `body` against a server on the given backend. On PostgreSQL without
/// `ORAKEL_TEST_POSTGRES_URL` the test is skipped with a printed reason, unless
/// `ORAKEL_REQUIRE_POSTGRES=1` turns the skip into a failure.
pub fn with_app(backend: Backend, body: impl FnOnce(&TestApp)) {
    let Some(app) = TestApp::spawn(backend) else {
        return;
    };
    body(&app);
}

/// Like `with_app`, with the settings adjusted first (SMTP, limits, ...).
/// Points the server's mail at a test SMTP server.
pub fn use_smtp(s: &mut Settings, url: &str) {
    s.mail.transport = MailTransportKind::Smtp;
    s.mail.smtp_url = Secret::new(url.to_string());
}

pub fn with_app_where(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
    body: impl FnOnce(&TestApp),
) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let mut settings = TestApp::settings_for(&db);
    configure(&mut settings);
    let app = TestApp::spawn_with(backend, db, settings);
    body(&app);
}

/// Declares a test that runs the scenario `f(backend)` once on each backend.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $f:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                ($f)($crate::helpers::Backend::Sqlite);
            }
            #[test]
            fn postgres() {
                ($f)($crate::helpers::Backend::Postgres);
            }
        }
    };
}

/// Declares a test that runs once on SQLite and once on PostgreSQL, with adjusted settings.
#[macro_export]
macro_rules! both_backends_where {
    ($name:ident, $configure:expr, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                $crate::helpers::with_app_where(
                    $crate::helpers::Backend::Sqlite,
                    $configure,
                    $body,
                );
            }
            #[test]
            fn postgres() {
                $crate::helpers::with_app_where(
                    $crate::helpers::Backend::Postgres,
                    $configure,
                    $body,
                );
            }
        }
    };
}

/// Declares a test that runs once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                $crate::helpers::with_app($crate::helpers::Backend::Sqlite, $body);
            }
            #[test]
            fn postgres() {
                $crate::helpers::with_app($crate::helpers::Backend::Postgres, $body);
            }
        }
    };
}

/// A fresh database for one test: a SQLite file in a temporary directory, or a new PostgreSQL
/// database (dropped afterwards).
pub struct TestDb {
    pub url: String,
    pub dir: PathBuf,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    /// A SQLite database in `dir`, which the caller owns (it is emptied afterwards).
    pub fn sqlite_in(dir: PathBuf) -> TestDb {
        TestDb {
            url: format!("sqlite://{}", dir.join("orakel.db").display()),
            dir,
            pg_admin: None,
        }
    }

    /// A database the caller runs (and removes); `dir` is removed afterwards.
    pub fn external(url: String, dir: PathBuf) -> TestDb {
        TestDb {
            url,
            dir,
            pg_admin: None,
        }
    }

    /// The same database under another handle that does not drop it (a second instance).
    pub fn shared(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            dir: self.dir.join(format!("second-{}", uuid::Uuid::new_v4())),
            pg_admin: None,
        }
    }

    pub fn new(backend: Backend) -> Option<TestDb> {
        let dir = std::env::temp_dir().join(format!("orakel-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        match backend {
            Backend::Sqlite => Some(TestDb {
                url: format!("sqlite://{}", dir.join("orakel.db").display()),
                dir,
                pg_admin: None,
            }),
            Backend::Postgres => {
                let Some(admin) = std::env::var("ORAKEL_TEST_POSTGRES_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                else {
                    if std::env::var("ORAKEL_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                        panic!("ORAKEL_REQUIRE_POSTGRES=1 but ORAKEL_TEST_POSTGRES_URL is not set");
                    }
                    eprintln!(
                        "PostgreSQL skipped: set ORAKEL_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run this test on PostgreSQL"
                    );
                    let _ = std::fs::remove_dir_all(&dir);
                    return None;
                };
                let name = format!("orakel_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("cannot reach PostgreSQL at ORAKEL_TEST_POSTGRES_URL: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Some(TestDb {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_admin: Some((admin.clone(), name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_admin
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub backend: Backend,
    pub settings: Settings,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    pub db: TestDb,
    pub state: actix_web::web::Data<orakel::web::AppState>,
}

impl TestApp {
    pub fn settings_for(db: &TestDb) -> Settings {
        let mut s = Settings::defaults();
        s.server.port = 0;
        s.server.workers = 2;
        s.database.url = Secret::new(db.url.clone());
        s.database.pool_size = 4;
        s.mail.transport = MailTransportKind::File;
        s.mail.dir = db.dir.join("mail");
        s.log.level = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
        // Tests drive the worker themselves (`tick`), so what happens when is decided by them.
        s.worker.enabled = false;
        s.mail.retry_base_seconds = 60;
        // Live rounds publish a snapshot as soon as enough answers changed.
        s.rounds.live_snapshot_minutes = 0;
        s
    }

    pub fn spawn(backend: Backend) -> Option<TestApp> {
        let db = TestDb::new(backend)?;
        let settings = Self::settings_for(&db);
        Some(Self::spawn_with(backend, db, settings))
    }

    pub fn spawn_with(backend: Backend, db: TestDb, settings: Settings) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            orakel::telemetry::init(&settings.log);
        }
        let (tx, rx) = mpsc::channel();
        let s = settings.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(s).expect("the server starts");
                tx.send((
                    app.port(),
                    app.handle(),
                    app.public_url().to_string(),
                    app.state(),
                ))
                .unwrap();
                app.run_until_stopped().await.unwrap();
            })
        });
        let (port, handle, base, state) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server reports its port");
        let mut settings = settings;
        settings.server.public_url = base.clone();
        TestApp {
            base,
            port,
            backend,
            settings,
            handle,
            thread: Some(thread),
            db,
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A direct pool on the test database, for assertions on what was stored.
    pub fn pool(&self) -> DbPool {
        db::connect(&self.db.url, 2, Duration::from_secs(10), 5000)
            .unwrap()
            .0
    }

    pub fn conn(&self) -> db::PooledConn {
        db::checkout(&self.pool()).unwrap()
    }

    /// Creates a researcher account and returns its id.
    pub fn researcher(&self, email: &str, name: &str) -> String {
        let mut conn = self.conn();
        orakel::ops::accounts::add_researcher(&mut conn, email, name, PASSWORD)
            .unwrap()
            .id
    }

    /// Creates a researcher with an API token; returns the token.
    pub fn researcher_token(&self, email: &str) -> String {
        let id = self.researcher(email, "Test Researcher");
        let mut conn = self.conn();
        orakel::ops::accounts::create_api_token(
            &mut conn,
            &orakel::ops::access::ResearcherId::authenticated(id),
            "test",
        )
        .unwrap()
        .1
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client authenticated with a new researcher's API token.
    pub fn api(&self, email: &str) -> Client {
        let mut c = self.client();
        c.token = Some(self.researcher_token(email));
        c
    }

    /// A browser-like client logged in as a new researcher.
    pub fn browser(&self, email: &str) -> Client {
        self.researcher(email, "Browser Researcher");
        let mut c = self.client();
        c.login(email, PASSWORD);
        c
    }

    /// One worker pass now: delivers the outbox and runs what is due.
    pub fn tick(&self) -> orakel::worker::Report {
        self.tick_at(orakel::db::now())
    }

    /// One worker pass as if it were `at`.
    pub fn tick_at(&self, at: chrono::NaiveDateTime) -> orakel::worker::Report {
        let state = self.state.clone();
        // Inside the runtime: the SMTP pool starts a task of its own when built.
        actix_web::rt::System::new()
            .block_on(async move { state.worker().expect("a worker").tick_at(at).await })
            .expect("the worker pass succeeds")
    }

    /// Stops the server and starts a new one on the same database (a restart).
    pub fn restart(self) -> TestApp {
        // The same port, so links written before the restart still lead here.
        let mut settings = self.settings.clone();
        settings.server.port = self.port;
        let backend = self.backend;
        let db = self.into_db();
        TestApp::spawn_with(backend, db, settings)
    }

    /// Stops the server and hands over its database (for a server run another way next).
    pub fn into_db(mut self) -> TestDb {
        self.stop();
        let db = std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                dir: PathBuf::new(),
                pg_admin: None,
            },
        );
        std::mem::forget(self);
        db
    }

    pub fn stop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The last path segment of the redirect's `Location`: the id of what a form created.
    pub fn created_id(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location: {} {}", self.status, self.body))
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a hidden form field such as `_csrf`.
    pub fn form_value(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_string())
    }
}

/// A small HTTP client: JSON and form requests, an optional bearer token, and a cookie jar.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    pub token: Option<String>,
    pub cookies: BTreeMap<String, String>,
    pub csrf_header: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Client {
            base: base.to_string(),
            agent,
            token: None,
            cookies: BTreeMap::new(),
            csrf_header: None,
        }
    }

    fn prepare<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        let mut req = req;
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("Cookie", &c.join("; "));
        }
        if let Some(h) = &self.csrf_header {
            req = req.header("X-CSRF-Token", h);
        }
        req
    }

    fn finish(&mut self, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut r = r.expect("the request reaches the server");
        let headers: Vec<(String, String)> = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() || v.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_string(), value.to_string());
                    }
                }
            }
        }
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(50 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn get(&mut self, path: &str) -> Resp {
        let r = self.prepare(self.agent.get(&self.url(path))).call();
        self.finish(r)
    }

    /// GETs a binary body (a zip, a PDF): the status and the bytes.
    pub fn get_bytes(&mut self, path: &str) -> (u16, Vec<u8>) {
        let (status, _, bytes) = self.get_full(path);
        (status, bytes)
    }

    /// GETs with extra request headers (`Accept-Language`, …).
    pub fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let req = with_headers(self.prepare(self.agent.get(&self.url(path))), headers);
        let r = req.call();
        self.finish(r)
    }

    /// POSTs JSON with extra request headers.
    pub fn post_json_with(&mut self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        self.send_json_with("POST", path, body, headers)
    }

    /// GETs any body: the status, the content type and the bytes.
    pub fn get_full(&mut self, path: &str) -> (u16, String, Vec<u8>) {
        let mut r = self
            .prepare(self.agent.get(&self.url(path)))
            .call()
            .expect("the request reaches the server");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = r
            .body_mut()
            .with_config()
            .limit(200 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        (status, content_type, bytes)
    }

    /// POSTs a multipart form as a browser does: `(name, filename, bytes)`, filename empty
    /// for plain fields.
    pub fn post_multipart(&mut self, path: &str, parts: &[(&str, &str, &[u8])]) -> Resp {
        let boundary = "orakel-test-boundary-7d1f";
        let mut body = Vec::new();
        for (name, filename, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            if filename.is_empty() {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
            } else {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.post_raw(
            path,
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
    }

    pub fn delete(&mut self, path: &str) -> Resp {
        let r = self.prepare(self.agent.delete(&self.url(path))).call();
        self.finish(r)
    }

    pub fn send_json(&mut self, method: &str, path: &str, body: &Value) -> Resp {
        self.send_json_with(method, path, body, &[])
    }

    /// PUTs JSON with extra request headers.
    pub fn put_json_with(&mut self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        self.send_json_with("PUT", path, body, headers)
    }

    /// Sends JSON by `method` with extra request headers.
    fn send_json_with(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = self.url(path);
        let r = match method {
            "POST" => with_headers(self.prepare(self.agent.post(&url)), headers).send_json(body),
            "PUT" => with_headers(self.prepare(self.agent.put(&url)), headers).send_json(body),
            "PATCH" => with_headers(self.prepare(self.agent.patch(&url)), headers).send_json(body),
            other => panic!("unsupported method {other}"),
        };
        self.finish(r)
    }

    pub fn post_json(&mut self, path: &str, body: &Value) -> Resp {
        self.send_json("POST", path, body)
    }

    pub fn patch_json(&mut self, path: &str, body: &Value) -> Resp {
        self.send_json("PATCH", path, body)
    }

    pub fn put_json(&mut self, path: &str, body: &Value) -> Resp {
        self.send_json("PUT", path, body)
    }

    /// POSTs raw bytes with a content type.
    pub fn post_raw(&mut self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        let r = self
            .prepare(self.agent.post(&self.url(path)))
            .header("Content-Type", content_type)
            .send(body);
        self.finish(r)
    }

    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let r = self
            .prepare(self.agent.post(&self.url(path)))
            .send_form(fields.iter().copied());
        self.finish(r)
    }

    /// Logs in through the login page, as a browser would.
    pub fn login(&mut self, email: &str, password: &str) -> Resp {
        let page = self.get("/login");
        assert_eq!(page.status, 200);
        let csrf = page
            .form_value("_csrf")
            .expect("the login form has a CSRF field");
        self.post_form(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("_csrf", &csrf),
                ("next", "/studies"),
            ],
        )
    }

    /// The CSRF token of the logged-in session, read from a page.
    pub fn csrf(&mut self) -> String {
        let page = self.get("/studies");
        page.form_value("_csrf")
            .expect("pages carry the session's CSRF token")
    }
}

fn with_headers<B>(
    mut req: ureq::RequestBuilder<B>,
    headers: &[(&str, &str)],
) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req
}
