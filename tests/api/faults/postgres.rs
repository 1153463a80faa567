//! PostgreSQL under fault: restarting under load, and two instances on one database.

use super::*;

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
    // The experts save as fast as the server answers; the limit on saves per minute is another
    // test's subject, and a fast run would reach it here.
    settings.security.saves_per_minute = u32::MAX;
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
