//! Wiring: open the database, apply migrations, bind the listener, and run the HTTP server (and,
//! as later capabilities add it, the background worker) until stopped.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{HttpServer, web};
use anyhow::Context;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::db::{self, Backend, DbPool};
use crate::mail::templates::MailTemplates;
use crate::ops::outbox::MailEnv;
use crate::web::{AppState, app, auth::GuessLimiter};
use crate::worker::Worker;

/// The public URL shipped in config/default.toml; when it is left as is, links follow the
/// address actually bound (so `port = 0` yields working links).
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// Where links lead when `server.public_url` is left at its default: the address the server
/// listens on, with a listener on every interface (`0.0.0.0`, `::`) named as this machine.
fn links_to(addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    format!("http://{host}:{}", addr.port())
}

/// Opens the pool and brings the schema up to date.
pub fn open_database(settings: &Settings) -> anyhow::Result<(DbPool, Backend, Vec<String>)> {
    let (pool, backend) = db::connect(
        settings.database.url.expose(),
        settings.database.pool_size,
        Duration::from_secs(settings.database.connect_timeout_seconds),
        settings.database.busy_timeout_ms,
    )
    .context("opening the database")?;
    let mut conn =
        db::checkout(&pool).with_context(|| format!("connecting to {}", backend.describe()))?;
    let applied = db::migrate(&mut conn).context("applying migrations")?;
    Ok((pool, backend, applied))
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    worker: Option<Worker>,
}

impl Application {
    /// Everything up to accepting connections: database, migrations, listener.
    pub fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let (pool, backend, applied) = open_database(&settings)?;
        for m in &applied {
            tracing::info!(migration = %m, "applied migration");
        }
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "listening on {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let addr = listener.local_addr()?;
        if settings.server.public_url == DEFAULT_PUBLIC_URL {
            settings.server.public_url = links_to(addr);
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    public_url = %settings.server.public_url,
                    "server.public_url is not set: links in e-mails lead to this machine's own address; set it to the address people reach Orakel at"
                );
            }
        }
        crate::templates::check()?;
        let templates_dir = settings.mail.templates_dir.trim();
        let templates = MailTemplates::load(
            (!templates_dir.is_empty()).then(|| std::path::Path::new(templates_dir)),
        )
        .context("loading the e-mail templates")?;
        let mail = MailEnv {
            templates: Arc::new(templates),
            public_url: settings.server.public_url.clone(),
            files: (settings.mail.transport == crate::config::MailTransportKind::File)
                .then(|| settings.mail.dir.clone()),
        };
        let settings = Arc::new(settings);
        let database: Arc<str> = {
            let mut conn = pool.get().context("connecting to the database")?;
            crate::db::database_name(&mut conn)
                .context("reading the database's name")?
                .into()
        };
        let records = crate::ops::records::Ledger::start(pool.clone());
        let beside = Arc::new(crate::db::beside::Beside::new(pool.clone()));
        let state = web::Data::new(AppState {
            pool,
            beside,
            backend,
            link_guesses: GuessLimiter::new(settings.security.link_guesses_per_minute),
            saves: Arc::new(crate::web::auth::RateLimiter::new(
                settings.security.saves_per_minute,
            )),
            settings: settings.clone(),
            openapi: Default::default(),
            wake_worker: Arc::new(Notify::new()),
            mail,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            database,
            records,
            writes: Default::default(),
        });
        let worker = if settings.worker.enabled {
            Some(state.worker().context("starting the worker")?)
        } else {
            None
        };
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let app_state = state.clone();
        // Signals are handled in `run_until_signal`, so the worker hears of them as soon as the
        // HTTP server does.
        let server = HttpServer::new(move || app(app_state.clone()))
            .workers(workers)
            .shutdown_timeout(settings.server.shutdown_seconds)
            .disable_signals()
            // Without it a response written in two parts (the headers, then a compressed body)
            // waits for the client to acknowledge the first, which clients delay by 40 ms.
            .tcp_nodelay(true)
            .listen(listener)?
            .run();
        Ok(Application {
            port: addr.port(),
            server,
            state,
            worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.state.settings.server.public_url
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT (or the handle) stops the server. Stopping is graceful: no
    /// new connections are accepted, requests in flight are answered, and the worker finishes
    /// and records the e-mails it is sending; all within `server.shutdown_seconds`.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        self.run(true).await
    }

    /// Serves until the handle stops the server (embedding and tests: no signal handlers are
    /// installed in the host process); otherwise as `run_until_signal`.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run(false).await
    }

    async fn run(self, signals: bool) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_seconds);
        let stop_worker = self.worker.as_ref().map(|w| w.stopper());
        let worker = self.worker.map(|w| actix_web::rt::spawn(w.run()));
        let handle = self.server.handle();
        let on_signal = stop_worker.clone();
        let listener = signals.then(|| {
            actix_web::rt::spawn(async move {
                let signal = wait_for_signal().await;
                tracing::info!(
                    signal,
                    "stopping: finishing requests in flight and mail being sent"
                );
                if let Some(stop) = on_signal {
                    stop.request();
                }
                handle.stop(true).await;
            })
        });
        let result = self.server.await.context("HTTP server");
        // The records of use of the last requests, before the process ends.
        let records = self.state.records.clone();
        let _ = actix_web::rt::task::spawn_blocking(move || records.write_waiting()).await;
        if let Some(l) = listener {
            l.abort();
        }
        if let (Some(stop), Some(worker)) = (stop_worker, worker) {
            stop.request();
            if tokio::time::timeout(grace, worker).await.is_err() {
                tracing::warn!("the worker did not finish within server.shutdown_seconds");
            }
        }
        tracing::info!("stopped");
        result
    }
}

/// The name of the first of SIGTERM and SIGINT to arrive.
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for signals; stop the server through its handle");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use super::links_to;

    #[test]
    fn links_follow_the_port_and_never_name_every_interface() {
        let at = |s: &str| links_to(s.parse().unwrap());
        assert_eq!(at("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(at("127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(at("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(at("[::]:9000"), "http://127.0.0.1:9000");
        assert_eq!(at("[::1]:9000"), "http://[::1]:9000");
        assert_eq!(at("192.0.2.7:8080"), "http://192.0.2.7:8080");
    }
}
