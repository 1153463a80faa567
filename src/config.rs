//! Settings: the built-in `config/default.toml`, then the file named by `ORAKEL_CONFIG`, then
//! `ORAKEL__SECTION__KEY` environment variables, each layer overriding the one before.

use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// The defaults, compiled in so a bare binary runs with no files around it.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub mail: MailSettings,
    pub security: SecuritySettings,
    pub worker: WorkerSettings,
    pub rounds: RoundsSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub session_hours: i64,
    /// When set, `/metrics` asks for `Authorization: Bearer <this>`.
    pub metrics_token: Secret,
    /// How long a stopping server waits for requests in flight and the e-mail being sent.
    pub shutdown_seconds: u64,
    /// The clock of a new study (an IANA name); each study can change its own.
    pub time_zone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub pool_size: u32,
    pub connect_timeout_seconds: u64,
    pub busy_timeout_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransportKind,
    pub dir: PathBuf,
    pub from: String,
    pub smtp_url: Secret,
    pub smtp_pool_size: u32,
    pub templates_dir: String,
    pub max_attempts: i32,
    pub retry_base_seconds: i64,
    pub retry_max_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub login_failures_per_account: i64,
    pub login_failures_per_address: i64,
    pub login_window_minutes: i64,
    pub link_guesses_per_minute: u32,
    pub saves_per_minute: u32,
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundsSettings {
    /// How often a live round publishes new snapshots, at most, in minutes (0: as soon as
    /// enough answers changed).
    pub live_snapshot_minutes: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub enabled: bool,
    pub poll_seconds: u64,
    /// How long a message being delivered stays with its worker before another may take it.
    pub lease_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A value that may hold a password (database and SMTP URLs): never printed by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("ORAKEL_CONFIG names {0}, which does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Reads the layered configuration of this process.
    pub fn load() -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = std::env::var_os("ORAKEL_CONFIG").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("ORAKEL__").split("__"));
        Self::from_figment(figment)
    }

    /// The built-in defaults alone, for tests and tools that adjust them in code.
    pub fn defaults() -> Settings {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_TOML)))
            .expect("config/default.toml is valid")
    }

    fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.server.public_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "server.public_url must start with http:// or https://, got {url:?}"
            )));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if self.server.session_hours <= 0 {
            return Err(ConfigError::Invalid(
                "server.session_hours must be positive".into(),
            ));
        }
        if crate::i18n::zone::parse(&self.server.time_zone).is_none() {
            return Err(ConfigError::Invalid(format!(
                "server.time_zone {:?} is not a time zone of the IANA database (such as Europe/Copenhagen)",
                self.server.time_zone
            )));
        }
        if self.worker.lease_seconds < 1 {
            return Err(ConfigError::Invalid(
                "worker.lease_seconds must be at least 1".into(),
            ));
        }
        if self.mail.max_attempts < 1 || self.mail.retry_base_seconds < 1 {
            return Err(ConfigError::Invalid(
                "mail.max_attempts and mail.retry_base_seconds must be at least 1".into(),
            ));
        }
        if let Err(e) = self.mail.from.parse::<lettre::message::Mailbox>() {
            return Err(ConfigError::Invalid(format!(
                "mail.from {:?} is not an address: {e}",
                self.mail.from
            )));
        }
        Ok(())
    }

    /// The clock a new study starts on.
    pub fn time_zone(&self) -> crate::i18n::Tz {
        crate::i18n::zone::from_stored(&self.server.time_zone)
    }

    /// `public_url` without a trailing slash, ready to have paths appended.
    pub fn public_base(&self) -> &str {
        self.server.public_url.trim_end_matches('/')
    }

    /// Whether links are served over TLS, which decides the `Secure` cookie flag.
    pub fn is_https(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail dictates the closure's error type
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_contract() {
        let s = Settings::defaults();
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.server.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.database.url.expose(), "sqlite://data/orakel.db");
        assert_eq!(s.mail.transport, MailTransportKind::File);
        assert_eq!(s.mail.dir, PathBuf::from("data/mail"));
        assert_eq!(s.mail.from, "Orakel <orakel@localhost>");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("postgres://u:hunter2@db/x");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn environment_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORAKEL__SERVER__PORT", "9191");
            jail.set_env("ORAKEL__DATABASE__URL", "postgres://x@127.0.0.1/y");
            let s = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(s.server.port, 9191);
            assert_eq!(s.database.url.expose(), "postgres://x@127.0.0.1/y");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORAKEL__SERVER__PROT", "1");
            assert!(Settings::load().is_err());
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORAKEL__SERVER__PUBLIC_URL", "example.org");
            let err = Settings::load().unwrap_err().to_string();
            assert!(err.contains("public_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_config_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("my.toml", "[server]\nport = 7000\n")?;
            jail.set_env("ORAKEL_CONFIG", "my.toml");
            let s = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(s.server.port, 7000);
            assert_eq!(s.server.host, "127.0.0.1");
            Ok(())
        });
    }
}
