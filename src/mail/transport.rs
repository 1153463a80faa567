//! Delivery: SMTP through a connection pool, or `.eml` files in a folder. Failures are sorted
//! into temporary (try again later) and permanent (the address is refused).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailSettings, MailTransportKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth another attempt later: the server is away, busy, or answered 4xx.
    Temporary(String),
    /// The server refused for good (5xx), typically an address that does not exist.
    Permanent(String),
}

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Writes each message as `<outbox id>.eml`, so a repeated delivery replaces the file.
    Folder(PathBuf),
}

impl Mailer {
    pub fn from_settings(s: &MailSettings) -> anyhow::Result<Mailer> {
        Ok(match s.transport {
            MailTransportKind::Smtp => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(s.smtp_url.expose())
                    .map_err(|e| anyhow::anyhow!("mail.smtp_url is not usable: {e}"))?
                    .pool_config(PoolConfig::new().max_size(s.smtp_pool_size.max(1)))
                    .timeout(Some(Duration::from_secs(30)))
                    .build();
                Mailer::Smtp(transport)
            }
            MailTransportKind::File => {
                std::fs::create_dir_all(&s.dir).map_err(|e| {
                    anyhow::anyhow!("cannot create mail.dir {}: {e}", s.dir.display())
                })?;
                Mailer::Folder(s.dir.clone())
            }
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "SMTP".into(),
            Mailer::Folder(dir) => format!("files in {}", dir.display()),
        }
    }

    /// Delivers one message; `key` names the file when delivering into a folder.
    pub async fn send(&self, key: &str, message: Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(t) => match t.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Temporary(e.to_string())),
            },
            Mailer::Folder(dir) => {
                let dir = dir.clone();
                let name = format!("{key}.eml");
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
                    .await
                    .map_err(|e| SendError::Temporary(e.to_string()))?
                    .map_err(|e| SendError::Temporary(e.to_string()))
            }
        }
    }
}

/// Writes the file whole or not at all: to a temporary name, synced, then renamed.
fn write_atomically(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}
