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

mod postgres;

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
