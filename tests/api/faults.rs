//! Faults: the server killed under load, a full disk, PostgreSQL restarting, a slow SMTP server,
//! two instances on one database, a deadline passing while the server is down, a graceful stop,
//! and a backup taken under load. Each test prints what it counted; with `ORAKEL_FAULT_REPORT`
//! set, it also appends that line to the named file (CI shows it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use orakel::db::schema::{outbox, rounds};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::process::{Orakel, Rng, agent, send};
use crate::recruitment::{add_candidates, study};
use crate::rounds::{codebook, deadline_in, open_round, panel};
use crate::smtp::SmtpServer;

/// A rating round open to a panel.
struct Round {
    id: String,
    number: i64,
    themes: BTreeMap<i32, String>,
    tokens: Vec<String>,
    /// The researcher's API token.
    token: String,
}

/// Makes a panel of `n` and opens a rating round to it through the API (the round e-mails are
/// queued, not yet delivered).
fn set_up(app: &TestApp, n: usize) -> Round {
    let mut c = app.api("lead@example.org");
    let p = panel(app, &mut c, n);
    let themes = codebook(&mut c, &p.study);
    let (id, number) = open_round(
        &mut c,
        &p.study,
        json!({"kind": "rating", "validation": true, "rating": true, "feedback": false,
               "closes_at": deadline_in(chrono::Duration::days(7)), "reminder_days": [3]}),
    );
    Round {
        id,
        number,
        themes,
        tokens: p.members.into_iter().map(|m| m.1).collect(),
        token: c.token.clone().unwrap(),
    }
}

fn answers_url(base: &str, token: &str, number: i64) -> String {
    format!("{base}/api/v1/participation/{token}/rounds/{number}/answers")
}

/// Saves one score through the expert's link: the status and body.
fn save_score(base: &str, round: &Round, expert: usize, theme: i32, score: i64) -> (u16, String) {
    let body = json!({"answers": [{"theme_id": round.themes[&theme], "score": score}]});
    send(
        &agent(),
        "PUT",
        &answers_url(base, &round.tokens[expert], round.number),
        Some(&body),
    )
    .expect("the server answers")
}

/// Each theme's stored score and comment, as the expert's link shows them.
fn stored(base: &str, token: &str, number: i64) -> HashMap<i32, (Option<i64>, Option<String>)> {
    let a = agent();
    let (status, body) = send(
        &a,
        "GET",
        &format!("{base}/api/v1/participation/{token}/rounds/{number}"),
        None,
    )
    .expect("the server answers");
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    let mut out = HashMap::new();
    for cat in view["categories"].as_array().unwrap() {
        for t in cat["themes"].as_array().unwrap() {
            if let Some(a) = t["answer"].as_object() {
                out.insert(
                    t["number"].as_i64().unwrap() as i32,
                    (
                        a["score"].as_i64(),
                        a["comment"].as_str().map(str::to_string),
                    ),
                );
            }
        }
    }
    out
}

/// What one simulated expert saw: the last acknowledged score per theme.
#[derive(Default)]
struct ExpertLog {
    acked: HashMap<i32, i64>,
    acks: usize,
    /// Requests repeated because the server was gone or answered 503.
    repeats: usize,
    unavailable: usize,
}

/// Saves random scores one theme at a time, sometimes submitting, until `stop`. A request
/// that gets no answer or a 503 is repeated until acknowledged, as the page's script does, so
/// the last acknowledged value per theme is known exactly.
fn save_until_stopped(
    base: &str,
    token: &str,
    round: &Round,
    seed: u64,
    stop: &AtomicBool,
) -> ExpertLog {
    let mut rng = Rng::new(seed);
    let mut log = ExpertLog::default();
    let url = answers_url(base, token, round.number);
    let a = agent();
    while !stop.load(Ordering::Relaxed) {
        let n = 1 + rng.below(13) as i32;
        let score = rng.below(5) as i64;
        let body = json!({"answers": [{"theme_id": round.themes[&n], "score": score}],
                          "submit": rng.below(8) == 0});
        let started = Instant::now();
        loop {
            match send(&a, "PUT", &url, Some(&body)) {
                Ok((200, _)) => {
                    log.acked.insert(n, score);
                    log.acks += 1;
                    break;
                }
                Ok((503, body)) => {
                    assert!(body.contains("unavailable"), "{body}");
                    log.unavailable += 1;
                    log.repeats += 1;
                }
                Err(_) => log.repeats += 1,
                Ok((status, body)) => panic!("saving answered {status}: {body}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "an answer was not acknowledged within 120 s"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    log
}

/// Starts one saving thread per expert.
fn experts(
    base: &str,
    round: &Arc<Round>,
    seed: u64,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<ExpertLog>> {
    (0..round.tokens.len())
        .map(|e| {
            let (base, round, stop) = (base.to_string(), round.clone(), stop.clone());
            std::thread::spawn(move || {
                save_until_stopped(
                    &base,
                    &round.tokens[e],
                    &round,
                    seed ^ (e as u64 + 1),
                    &stop,
                )
            })
        })
        .collect()
}

/// Every acknowledged answer is stored with its last acknowledged value; returns how many.
fn check_answers(base: &str, round: &Round, logs: &[ExpertLog]) -> usize {
    let mut found = 0;
    for (e, log) in logs.iter().enumerate() {
        let have = stored(base, &round.tokens[e], round.number);
        for (n, score) in &log.acked {
            assert_eq!(
                have.get(n).and_then(|s| s.0),
                Some(*score),
                "expert {e}, theme {n}: the acknowledged score is not what is stored"
            );
            found += 1;
        }
    }
    found
}

/// Prints a summary line, and appends it to `ORAKEL_FAULT_REPORT` when set.
fn report(line: String) {
    eprintln!("{line}");
    if let Ok(path) = std::env::var("ORAKEL_FAULT_REPORT")
        && !path.is_empty()
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

fn smtp_env(smtp: &SmtpServer, lease_seconds: u32) -> Vec<(&'static str, String)> {
    vec![
        ("ORAKEL__MAIL__TRANSPORT", "smtp".into()),
        ("ORAKEL__MAIL__SMTP_URL", smtp.url()),
        ("ORAKEL__MAIL__RETRY_BASE_SECONDS", "1".into()),
        ("ORAKEL__WORKER__LEASE_SECONDS", lease_seconds.to_string()),
    ]
}

fn outbox_states(url: &str) -> Vec<(String, String)> {
    let (pool, _) = orakel::db::connect(url, 1, Duration::from_secs(10), 5000).unwrap();
    let mut conn = orakel::db::checkout(&pool).unwrap();
    outbox::table
        .select((outbox::message_id, outbox::state))
        .load(&mut *conn)
        .unwrap()
}

/// Messages already delivered (set-up mail, written to files).
fn sent_ids(url: &str) -> HashSet<String> {
    outbox_states(url)
        .into_iter()
        .filter(|(_, s)| s == "sent")
        .map(|(id, _)| id)
        .collect()
}

/// The SMTP server's copies of each message queued since `earlier`: every one arrived, and
/// nothing else did. Returns (messages, deliveries).
fn deliveries(smtp: &SmtpServer, url: &str, earlier: &HashSet<String>) -> (usize, usize) {
    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in smtp.received() {
        *copies
            .entry(m.header("Message-ID").expect("a Message-ID"))
            .or_default() += 1;
    }
    let queued: HashSet<String> = outbox_states(url)
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !earlier.contains(id))
        .collect();
    for id in &queued {
        assert!(copies.contains_key(id), "message {id} was never delivered");
    }
    assert_eq!(
        copies.len(),
        queued.len(),
        "nothing delivered that was not queued"
    );
    (queued.len(), copies.values().sum())
}

/// Waits until nothing in the outbox is queued or being sent.
fn wait_for_empty_outbox(url: &str, limit: Duration) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let rows = outbox_states(url);
        if rows.iter().all(|(_, s)| s == "sent" || s == "failed") {
            return rows;
        }
        assert!(
            started.elapsed() < limit,
            "the outbox did not empty within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The database's own consistency check: SQLite's integrity_check, or pg_amcheck over every
/// table and index on PostgreSQL.
fn integrity(backend: Backend, url: &str) -> String {
    match backend {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            let check = orakel::db::sqlite_integrity(&mut conn).unwrap();
            assert_eq!(check, "ok", "SQLite integrity_check");
            "SQLite integrity_check ok".into()
        }
        Backend::Postgres => {
            let Some(bin) = postgres_bin("pg_amcheck") else {
                return "pg_amcheck not found; not checked".into();
            };
            let out = Command::new(bin)
                .args(["--install-missing", "--heapallindexed", url])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pg_amcheck: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            "pg_amcheck (heaps and indexes) clean".into()
        }
    }
}

/// A PostgreSQL program, from the newest server installed.
fn postgres_bin(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.into_iter()
        .rev()
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

/// Queues invitations to `n` new candidates of another study (mail for the worker to send).
fn queue_invitations(app: &TestApp, n: usize) {
    let mut c = app.api("recruiter@example.org");
    let s = study(&mut c);
    let ids = add_candidates(&mut c, &s, n);
    let r = c.post_json(
        &format!("/api/v1/studies/{s}/invitations"),
        &json!({"candidate_ids": ids}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
}

/// A database with an open round to a panel of `n` (and invitations to `invitations` more
/// people waiting in the outbox), made by an in-process server that is stopped again.
fn prepared(backend: Backend, n: usize, invitations: usize) -> Option<(TestDb, Round)> {
    let db = TestDb::new(backend)?;
    let settings = TestApp::settings_for(&db);
    let app = TestApp::spawn_with(backend, db, settings);
    let round = set_up(&app, n);
    if invitations > 0 {
        queue_invitations(&app, invitations);
    }
    Some((app.into_db(), round))
}

on_both!(
    answers_survive_the_server_being_killed_under_load,
    |backend| {
        let Some(smtp) = SmtpServer::start() else {
            return;
        };
        let Some((db, round)) = prepared(backend, 50, 150) else {
            return;
        };
        let round = Arc::new(round);
        let earlier = sent_ids(&db.url);
        // Slow enough that deliveries are under way when the kills come.
        smtp.set_delay(0.02);
        const LEASE: u32 = 2;
        let mut server = Orakel::start(&db.url, &db.dir, &smtp_env(&smtp, LEASE));
        let seed = Rng::seed();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = experts(&server.base, &round, seed, &stop);
        let mut rng = Rng::new(seed);
        let mut kills = 0;
        while kills < 20 {
            std::thread::sleep(Duration::from_millis(150 + rng.below(650)));
            server.restart();
            kills += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<ExpertLog> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let acks: usize = logs.iter().map(|l| l.acks).sum();
        let repeats: usize = logs.iter().map(|l| l.repeats).sum();
        assert!(
            repeats > 0,
            "no request met a killed server: the kills tested nothing"
        );
        let found = check_answers(&server.base, &round, &logs);

        let rows = wait_for_empty_outbox(&db.url, Duration::from_secs(90));
        assert!(
            rows.iter().all(|(_, s)| s == "sent"),
            "every message is sent: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
        let (messages, delivered) = deliveries(&smtp, &db.url, &earlier);
        let duplicates = delivered - messages;
        // Only a message accepted by the SMTP server in the moment before its kill, and not yet
        // marked sent, goes out again: at most one per connection per kill.
        let bound = kills * 4;
        assert!(
            duplicates <= bound,
            "{duplicates} duplicate deliveries, more than {bound}"
        );
        drop(server);
        let check = integrity(backend, &db.url);
        report(format!(
            "crash under load ({backend:?}, seed {seed}): {kills} SIGKILLs survived, {} experts; \
         {acks} answers acknowledged, {found} last values found exactly ({repeats} requests \
         repeated after a kill); {} e-mails queued, all delivered, {duplicates} delivered twice \
         (at most one per SMTP connection per kill; they went out again after the {LEASE} s \
         lease); {check}",
            logs.len(),
            messages
        ));
    }
);

/// A small filesystem of its own, mounted by the test (root only) and unmounted afterwards.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Result<SmallDisk, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root, so no filesystem can be mounted".into());
        }
        let dir = std::env::temp_dir().join(format!("orakel-disk-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir })
    }

    /// Writes a file until the filesystem is full, then gives back `slack` bytes, so some
    /// writes succeed before the disk refuses.
    fn fill(&self, slack: u64) -> u64 {
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let mut written = 0u64;
        for chunk in [1 << 20, 4096, 512] {
            let block = vec![0x5au8; chunk];
            while f.write_all(&block).is_ok() {
                written += chunk as u64;
            }
        }
        written -= slack.min(written);
        f.set_len(written).unwrap();
        let _ = f.sync_all();
        written
    }

    fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_full_disk_refuses_with_503_and_loses_nothing() {
    let disk = match SmallDisk::mount(24) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("full-disk test skipped: {why}");
            return;
        }
    };
    let db = TestDb::sqlite_in(disk.dir.join("db"));
    std::fs::create_dir_all(&db.dir).unwrap();
    let settings = TestApp::settings_for(&db);
    let app = TestApp::spawn_with(Backend::Sqlite, db, settings);
    let round = set_up(&app, 5);
    let filled = disk.fill(256 * 1024);

    // Long comments grow the database until the disk refuses.
    let a = agent();
    let mut acked: HashMap<(usize, i32), (i64, String)> = HashMap::new();
    let mut refusals = 0;
    let mut refusal = String::new();
    for i in 0..20_000usize {
        let (e, n) = (i % 5, 1 + (i / 5 % 13) as i32);
        let comment = format!("{i:06} ").repeat(600).trim_end().to_string();
        let score = (i % 5) as i64;
        let body = json!({"answers": [{"theme_id": round.themes[&n], "score": score, "comment": comment}]});
        match send(
            &a,
            "PUT",
            &answers_url(&app.base, &round.tokens[e], round.number),
            Some(&body),
        ) {
            Ok((200, _)) => {
                acked.insert((e, n), (score, comment));
            }
            Ok((503, body)) => {
                refusals += 1;
                refusal = body;
                if refusals == 3 {
                    break;
                }
            }
            other => panic!("saving on a full disk answered {other:?}"),
        }
    }
    assert_eq!(refusals, 3, "the disk never filled");
    let message: Value = serde_json::from_str(&refusal).unwrap();
    assert_eq!(message["error"], "unavailable");
    assert!(
        message["message"].as_str().unwrap().contains("disk space"),
        "{refusal}"
    );
    // Reading still works, and shows what was acknowledged.
    assert!(
        !acked.is_empty(),
        "some answers were saved before the disk refused"
    );
    for e in 0..5 {
        let have = stored(&app.base, &round.tokens[e], round.number);
        for ((ae, n), (score, comment)) in &acked {
            if *ae == e {
                assert_eq!(have[n], (Some(*score), Some(comment.clone())));
            }
        }
    }
    assert_eq!(
        send(&a, "GET", &format!("{}/ready", app.base), None)
            .unwrap()
            .0,
        200
    );

    // Space comes back: saving works again without a restart.
    disk.free();
    let mut recovered = false;
    for _ in 0..50 {
        let body =
            json!({"answers": [{"theme_id": round.themes[&1], "score": 4, "comment": "after"}]});
        if let Ok((200, _)) = send(
            &a,
            "PUT",
            &answers_url(&app.base, &round.tokens[0], round.number),
            Some(&body),
        ) {
            acked.insert((0, 1), (4, "after".into()));
            recovered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(recovered, "saving did not work again once space was freed");

    // After a restart every acknowledged answer is there, comment and all.
    let app = app.restart();
    for e in 0..5 {
        let have = stored(&app.base, &round.tokens[e], round.number);
        for ((ae, n), (score, comment)) in &acked {
            if *ae == e {
                assert_eq!(
                    have[n],
                    (Some(*score), Some(comment.clone())),
                    "expert {e} theme {n}"
                );
            }
        }
    }
    let db = app.into_db();
    let check = integrity(Backend::Sqlite, &db.url);
    report(format!(
        "full disk (SQLite on a 24 MB tmpfs, {} MB filler): {} answers acknowledged before the \
         disk refused, then 503 \"{}\"; all found after space was freed and a restart; {check}",
        filled >> 20,
        acked.len(),
        message["message"].as_str().unwrap()
    ));
}

/// A PostgreSQL server of the test's own (initdb in a temporary directory, on a free port), so
/// it can be stopped without disturbing the other tests.
struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres_user: bool,
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let Some(initdb) = postgres_bin("initdb") else {
            if std::env::var("ORAKEL_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("ORAKEL_REQUIRE_POSTGRES=1 but PostgreSQL's initdb is not installed");
            }
            eprintln!("PostgreSQL outage test skipped: initdb not found under /usr/lib/postgresql");
            return None;
        };
        let bin = initdb.parent().unwrap().to_path_buf();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let dir = std::env::temp_dir().join(format!("orakel-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = PrivatePostgres {
            dir,
            port: SmtpServer::free_port(),
            bin,
            as_postgres_user: root,
        };
        if root {
            // initdb refuses to run as root; the cluster belongs to the postgres user.
            assert!(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&pg.dir)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.up();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let out = if self.as_postgres_user {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(exe)
                .args(args)
                .output()
        } else {
            Command::new(exe).args(args).output()
        }
        .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-w",
                "-t",
                "60",
                "-l",
                &log,
                "-o",
                &options,
                "start",
            ],
        );
    }

    fn down(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-w", "-m", "fast", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres_user {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(exe)
                .args(args)
                .output()
        } else {
            Command::new(exe).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn postgres_restarting_under_load_gives_503_and_recovers() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("orakel-pgout-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = TestDb::external(pg.url(), dir);
    let mut settings = TestApp::settings_for(&db);
    settings.database.connect_timeout_seconds = 2;
    let app = TestApp::spawn_with(Backend::Postgres, db, settings);
    let round = Arc::new(set_up(&app, 10));
    let stop = Arc::new(AtomicBool::new(false));
    let seed = Rng::seed();
    let threads = experts(&app.base, &round, seed, &stop);
    std::thread::sleep(Duration::from_secs(1));

    pg.down();
    let a = agent();
    let down_at = Instant::now();
    let ready = send(&a, "GET", &format!("{}/ready", app.base), None).unwrap();
    assert_eq!(ready.0, 503, "{}", ready.1);
    assert!(ready.1.contains("unavailable"), "{}", ready.1);
    assert_eq!(
        send(&a, "GET", &format!("{}/health", app.base), None)
            .unwrap()
            .0,
        200,
        "liveness does not depend on the database"
    );
    let (status, text) = save_score(&app.base, &round, 0, 1, 1);
    assert_eq!(status, 503, "{text}");
    assert!(
        down_at.elapsed() < Duration::from_secs(15),
        "503s came quickly, not after long waits"
    );
    std::thread::sleep(Duration::from_secs(2));

    pg.up();
    let back_at = Instant::now();
    loop {
        if let Ok((200, _)) = send(&a, "GET", &format!("{}/ready", app.base), None) {
            break;
        }
        assert!(
            back_at.elapsed() < Duration::from_secs(30),
            "the server did not recover within 30 s of PostgreSQL's return"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let recovered_in = back_at.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<ExpertLog> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let unavailable: usize = logs.iter().map(|l| l.unavailable).sum();
    let acks: usize = logs.iter().map(|l| l.acks).sum();
    assert!(unavailable > 0, "no expert met the outage");
    let found = check_answers(&app.base, &round, &logs);
    report(format!(
        "PostgreSQL restart under load: 10 experts, {acks} answers acknowledged, {found} last \
         values found exactly; {unavailable} answers of 503 while it was away (no other error); \
         ready again {:.1} s after PostgreSQL returned",
        recovered_in.as_secs_f64()
    ));
}

on_both!(
    a_slow_smtp_server_delays_mail_but_sends_it_once,
    |backend| {
        let Some(smtp) = SmtpServer::start() else {
            return;
        };
        smtp.set_delay(1.5);
        with_app_where(
            backend,
            |s| use_smtp(s, &smtp.url()),
            |app| {
                queue_invitations(app, 6);
                let started = Instant::now();
                let r = app.tick();
                assert_eq!(r.sent, 6, "{r:?}");
                assert!(started.elapsed() >= Duration::from_millis(1500));
                assert_eq!(app.tick().sent, 0);
                let received = smtp.received();
                let to: HashSet<String> = received.iter().map(|m| m.to[0].clone()).collect();
                assert_eq!((received.len(), to.len()), (6, 6));
            },
        );
    }
);

#[test]
fn two_instances_on_one_postgres_send_each_mail_once() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres) else {
        return;
    };
    // The panel is made first; then two servers with their workers share the database.
    let settings = TestApp::settings_for(&db);
    let setup = TestApp::spawn_with(Backend::Postgres, db, settings);
    let mut c = setup.api("lead@example.org");
    let p = panel(&setup, &mut c, 30);
    codebook(&mut c, &p.study);
    let token = c.token.clone().unwrap();
    let db = setup.into_db();
    let earlier = sent_ids(&db.url);
    let second_db = db.shared();
    let configure = |s: &mut orakel::config::Settings| {
        use_smtp(s, &smtp.url());
        s.worker.enabled = true;
        s.worker.poll_seconds = 1;
    };
    let mut sa = TestApp::settings_for(&db);
    configure(&mut sa);
    let mut sb = TestApp::settings_for(&second_db);
    configure(&mut sb);
    let a = TestApp::spawn_with(Backend::Postgres, db, sa);
    let b = TestApp::spawn_with(Backend::Postgres, second_db, sb);
    let mut ca = a.client();
    ca.token = Some(token.clone());

    // Opening: both workers run, and passes are also forced on both at the same moment.
    let (round, _) = open_round(
        &mut ca,
        &p.study,
        json!({"kind": "rating", "rating": true, "closes_at": deadline_in(chrono::Duration::days(7)), "reminder_days": [3]}),
    );
    let race = |at: chrono::NaiveDateTime| -> Vec<orakel::worker::Report> {
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = [a.state.clone(), b.state.clone()]
            .into_iter()
            .map(|state| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    actix_web::rt::System::new().block_on(async move {
                        let worker = state.worker().unwrap();
                        barrier.wait();
                        worker.tick_at(at).await.unwrap()
                    })
                })
            })
            .collect();
        runs.into_iter().map(|t| t.join().unwrap()).collect()
    };
    for _ in 0..3 {
        race(orakel::db::now());
    }
    let url = a.db.url.clone();
    wait_for_empty_outbox(&url, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let (opening, delivered) = deliveries(&smtp, &url, &earlier);
    assert_eq!(delivered, opening, "each message once");
    assert!(
        opening >= 30,
        "the round e-mails (and any confirmations) went out"
    );

    // Reminders three days before the deadline, decided by both at once: once each.
    let t0 = orakel::db::now();
    let reports = race(t0 + chrono::Duration::days(4) + chrono::Duration::hours(1));
    let reminded: usize = reports.iter().map(|r| r.round_reminders).sum();
    assert_eq!(reminded, 30, "{reports:?}");
    race(orakel::db::now());
    wait_for_empty_outbox(&url, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let (messages, delivered) = deliveries(&smtp, &url, &earlier);
    assert_eq!(messages, opening + 30);
    assert_eq!(delivered, messages, "each reminder once");

    // The deadline passes: the round is closed once, by one of them.
    let reports = race(t0 + chrono::Duration::days(8));
    let closed: usize = reports.iter().map(|r| r.rounds_closed).sum();
    assert_eq!(closed, 1, "{reports:?}");
    let view = ca.get(&format!("/api/v1/rounds/{round}")).json();
    assert_eq!(view["state"], "closed");
    let (messages, delivered) = deliveries(&smtp, &url, &earlier);
    assert_eq!(delivered, messages);
    drop(b);
    report(format!(
        "two instances on one PostgreSQL: {messages} e-mails (round opening, confirmations, 30 \
         reminders) delivered {delivered} times, exactly once each, with both workers running \
         and passes raced; the round closed once"
    ));
}

on_both!(
    a_deadline_passed_while_down_closes_the_round_at_the_deadline,
    |backend| {
        let Some(db) = TestDb::new(backend) else {
            return;
        };
        let settings = TestApp::settings_for(&db);
        let app = TestApp::spawn_with(backend, db, settings);
        let round = set_up(&app, 3);
        assert_eq!(save_score(&app.base, &round, 0, 2, 3).0, 200);
        let mut settings = app.settings.clone();
        settings.server.port = app.port;
        let db = app.into_db();

        // While the server is down, the deadline passes.
        let deadline = orakel::db::now() - chrono::Duration::hours(2);
        {
            let (pool, _) = orakel::db::connect(&db.url, 1, Duration::from_secs(10), 5000).unwrap();
            let mut conn = orakel::db::checkout(&pool).unwrap();
            diesel::update(rounds::table.find(&round.id))
                .set(rounds::closes_at.eq(Some(deadline)))
                .execute(&mut *conn)
                .unwrap();
        }
        // Back up without its worker: the round still reads as open, yet takes no answers.
        let app = TestApp::spawn_with(backend, db, settings.clone());
        let (status, text) = save_score(&app.base, &round, 0, 2, 0);
        assert_eq!(status, 409, "{text}");
        let db = app.into_db();

        // With its worker: the round is closed at the deadline, not at the restart.
        settings.worker.enabled = true;
        settings.worker.poll_seconds = 1;
        let app = TestApp::spawn_with(backend, db, settings);
        let mut c = app.client();
        c.token = Some(round.token.clone());
        let started = Instant::now();
        let view = loop {
            let v = c.get(&format!("/api/v1/rounds/{}", round.id)).json();
            if v["state"] == "closed" {
                break v;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "not closed: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(view["closed_at"], view["closes_at"]);
        assert_eq!(save_score(&app.base, &round, 1, 2, 0).0, 409);
        assert_eq!(
            stored(&app.base, &round.tokens[0], round.number)[&2].0,
            Some(3)
        );
    }
);

on_both!(
    sigterm_finishes_requests_in_flight_and_mail_being_sent,
    |backend| {
        let Some(smtp) = SmtpServer::start() else {
            return;
        };
        let Some((db, round)) = prepared(backend, 3, 0) else {
            return;
        };
        let earlier = sent_ids(&db.url);
        // Each message takes 3 s to be accepted: the first ones are mid-delivery when the
        // signal comes.
        smtp.set_delay(3.0);
        let mut server = Orakel::start(&db.url, &db.dir, &smtp_env(&smtp, 120));

        // A request whose body has only half arrived.
        let body = json!({"answers": [{"theme_id": round.themes[&5], "score": 4}]}).to_string();
        let path = format!(
            "/api/v1/participation/{}/rounds/{}/answers",
            round.tokens[0], round.number
        );
        let mut conn = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(
        conn,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
        let (first, rest) = body.split_at(body.len() / 2);
        conn.write_all(first.as_bytes()).unwrap();
        conn.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1000));

        let signalled = Instant::now();
        server.terminate();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            send(&agent(), "GET", &format!("{}/health", server.base), None).is_err(),
            "no new connections once stopping"
        );
        conn.write_all(rest.as_bytes()).unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");

        let status = server
            .wait(Duration::from_secs(30))
            .expect("the server exits within its grace period");
        assert!(status.success(), "exit status {status}");
        let took = signalled.elapsed();
        // What was being sent went out and is recorded as sent; what was claimed but not
        // started is handed back, not left to wait for its lease.
        let rows = outbox_states(&db.url);
        assert!(
            rows.iter().all(|(_, s)| s == "sent" || s == "queued"),
            "nothing left half-done: {rows:?}"
        );
        let finished = rows
            .iter()
            .filter(|(id, s)| s == "sent" && !earlier.contains(id))
            .count();
        assert!(finished > 0, "{rows:?}");
        assert_eq!(smtp.received().len(), finished);
        let waiting = rows.iter().filter(|(_, s)| s == "queued").count();
        smtp.set_delay(0.0);
        let mut server = Orakel::start(&db.url, &db.dir, &smtp_env(&smtp, 120));
        assert_eq!(
            stored(&server.base, &round.tokens[0], round.number)[&5].0,
            Some(4)
        );
        wait_for_empty_outbox(&db.url, Duration::from_secs(20));
        std::thread::sleep(Duration::from_secs(1));
        let (messages, delivered) = deliveries(&smtp, &db.url, &earlier);
        assert_eq!(messages, delivered, "each e-mail once");
        server.kill();
        report(format!(
            "graceful stop ({backend:?}): SIGTERM refused new connections, answered the request in \
         flight (200, stored), finished and recorded the {finished} e-mails being sent, handed \
         back {waiting} not yet started, exited 0 after {:.1} s; after a restart all {messages} \
         arrived once each",
            took.as_secs_f64()
        ));
    }
);

#[test]
fn a_backup_taken_under_load_holds_every_answer_acknowledged_before_it() {
    let Some((db, round)) = prepared(Backend::Sqlite, 20, 0) else {
        return;
    };
    let round = Arc::new(round);
    let server = Orakel::start(&db.url, &db.dir, &[]);

    // Each expert answers the themes in order, once each, recording when each was acknowledged.
    let acked = Arc::new(std::sync::Mutex::new(
        Vec::<(usize, i32, i64, Instant)>::new(),
    ));
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..round.tokens.len())
        .map(|e| {
            let (round, acked, done, base) = (
                round.clone(),
                acked.clone(),
                done.clone(),
                server.base.clone(),
            );
            std::thread::spawn(move || {
                let a = agent();
                for n in 1..=13 {
                    let score = ((e + n as usize) % 5) as i64;
                    let body = json!({"answers": [{"theme_id": round.themes[&n], "score": score}]});
                    let (status, text) = send(
                        &a,
                        "PUT",
                        &answers_url(&base, &round.tokens[e], round.number),
                        Some(&body),
                    )
                    .unwrap();
                    assert_eq!(status, 200, "{text}");
                    acked.lock().unwrap().push((e, n, score, Instant::now()));
                    std::thread::sleep(Duration::from_millis(40));
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(250));
    let file = db.dir.join("backups").join("orakel-backup.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let backup_started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_orakel"))
        .args(["backup"])
        .arg(&file)
        .env_remove("ORAKEL_CONFIG")
        .env("ORAKEL__DATABASE__URL", &db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity check ok"));
    let during = done.load(Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        during < round.tokens.len(),
        "the backup was taken while answers were being saved"
    );
    // A second backup never overwrites the first; PostgreSQL is pointed to pg_dump.
    let again = Command::new(env!("CARGO_BIN_EXE_orakel"))
        .arg("backup")
        .arg(&file)
        .env_remove("ORAKEL_CONFIG")
        .env("ORAKEL__DATABASE__URL", &db.url)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let pg = Command::new(env!("CARGO_BIN_EXE_orakel"))
        .args(["backup", "x.dump"])
        .env_remove("ORAKEL_CONFIG")
        .env(
            "ORAKEL__DATABASE__URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
    drop(server);

    // Restore as documented: the backup file becomes the database of a server.
    let restored = db.dir.join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(&file, restored.join("orakel.db")).unwrap();
    let rdb = TestDb::sqlite_in(restored);
    let settings = TestApp::settings_for(&rdb);
    let app = TestApp::spawn_with(Backend::Sqlite, rdb, settings);
    let acked = acked.lock().unwrap().clone();
    let before: Vec<_> = acked.iter().filter(|a| a.3 < backup_started).collect();
    let after = acked.len() - before.len();
    assert!(
        !before.is_empty() && after > 0,
        "answers on both sides of the backup"
    );
    let mut views = HashMap::new();
    for (e, n, score, _) in &before {
        let have = views
            .entry(*e)
            .or_insert_with(|| stored(&app.base, &round.tokens[*e], round.number));
        assert_eq!(
            have.get(n).and_then(|s| s.0),
            Some(*score),
            "expert {e} theme {n}"
        );
    }
    report(format!(
        "backup under load (SQLite): {} answers acknowledged before `orakel backup` started, all \
         in the restored copy; {after} acknowledged after it",
        before.len()
    ));
}
