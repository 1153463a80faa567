//! The `orakel` binary as a separate process, for the tests that kill it, stop it with a signal
//! or back it up while it serves; and requests that report a failed connection instead of
//! panicking, as a client of a server being killed sees it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `orakel serve` on a fixed port, restartable on the same port and database.
pub struct Orakel {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
    env: Vec<(String, String)>,
    dir: PathBuf,
    /// How many times the process was started.
    pub starts: usize,
}

impl Orakel {
    /// Starts the server over `database_url`, with `ORAKEL__…` settings from `env`, and waits
    /// until it answers.
    pub fn start(database_url: &str, dir: &Path, env: &[(&str, String)]) -> Orakel {
        let port = crate::smtp::SmtpServer::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut all: Vec<(String, String)> = vec![
            ("ORAKEL__DATABASE__URL".into(), database_url.into()),
            ("ORAKEL__SERVER__PORT".into(), port.to_string()),
            ("ORAKEL__SERVER__PUBLIC_URL".into(), base.clone()),
            ("ORAKEL__SERVER__WORKERS".into(), "2".into()),
            (
                "ORAKEL__MAIL__DIR".into(),
                dir.join("mail").display().to_string(),
            ),
            ("ORAKEL__WORKER__POLL_SECONDS".into(), "1".into()),
            ("ORAKEL__LOG__LEVEL".into(), "warn".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let mut o = Orakel {
            child: None,
            port,
            base,
            env: all,
            dir: dir.to_path_buf(),
            starts: 0,
        };
        o.spawn();
        o
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_orakel"))
            .arg("serve")
            .current_dir(&self.dir)
            .env_remove("ORAKEL_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("orakel starts");
        self.child = Some(child);
        self.starts += 1;
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = send(&agent(), "GET", &format!("{}/health", self.base), None) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("orakel exited at start ({status}); log:\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "orakel did not answer within 60 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM; `wait` collects the exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to end.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        let child = self.child.as_mut()?;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                self.child = None;
                return Some(s);
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Orakel {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client that reports statuses rather than failing on them, with keep-alive.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// One request: the status and body, or why there was no response.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("PUT", Some(b)) => agent.put(url).send_json(b),
        ("POST", Some(b)) => agent.post(url).send_json(b),
        _ => panic!("unsupported request {method}"),
    };
    match result {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            Ok((status, body))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A small deterministic random source (xorshift), so a failing run can be repeated with the
/// seed it printed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The seed from `ORAKEL_FAULT_SEED`, or the clock.
    pub fn seed() -> u64 {
        std::env::var("ORAKEL_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
    }

    pub fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}
