//! The `orakel` command line: serve, migrate, and the administrative commands of API.md.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::config::Settings;
use crate::db;
use crate::ops::{AppError, accounts};
use crate::startup::{Application, open_database};
use crate::telemetry;

const USAGE: &str = "\
orakel — runs Delphi expert-panel studies

Usage:
  orakel serve                                  run the server (migrations are applied first)
  orakel migrate                                apply pending migrations and exit
  orakel researcher add --email E --name N      create a researcher account
                                                (password from ORAKEL_PASSWORD or a prompt)
  orakel researcher list                        list researcher accounts
  orakel token create --email E [--label L]     print a new API token (alone on the last line)
  orakel token list --email E                   list a researcher's API tokens
  orakel token revoke --email E --id ID         revoke one of them
  orakel help | --help                          this text
  orakel --version

Configuration: config/default.toml (built in), the file named by ORAKEL_CONFIG, and
ORAKEL__SECTION__KEY environment variables, e.g. ORAKEL__DATABASE__URL=postgres://…";

/// Options after the command words: `--name value` pairs.
struct Options(Vec<(String, String)>);

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                bail!("unexpected argument {a:?}");
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    name.to_string(),
                    it.next()
                        .with_context(|| format!("--{name} needs a value"))?
                        .clone(),
                ),
            };
            out.push((name, value));
        }
        Ok(Options(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> anyhow::Result<&str> {
        self.get(name)
            .with_context(|| format!("--{name} is required"))
    }

    fn only(&self, allowed: &[&str]) -> anyhow::Result<()> {
        for (n, _) in &self.0 {
            if !allowed.contains(&n.as_str()) {
                bail!("unknown option --{n}");
            }
        }
        Ok(())
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orakel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        ["--version"] | ["-V"] => {
            println!("orakel {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["serve", rest @ ..] => {
            Options::parse(&owned(rest))?.only(&[])?;
            serve(settings()?)
        }
        ["migrate", rest @ ..] => {
            Options::parse(&owned(rest))?.only(&[])?;
            let settings = settings()?;
            let (_, backend, applied) = open_database(&settings)?;
            if applied.is_empty() {
                println!("{}: the schema is up to date", backend.describe());
            } else {
                println!(
                    "{}: applied {} migration(s): {}",
                    backend.describe(),
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(())
        }
        ["researcher", "add", rest @ ..] => {
            let o = Options::parse(&owned(rest))?;
            o.only(&["email", "name"])?;
            let (email, name) = (o.require("email")?, o.require("name")?);
            let password = password()?;
            let mut conn = connection()?;
            let r = accounts::add_researcher(&mut conn, email, name, &password).map_err(explain)?;
            println!("researcher {} <{}> created (id {})", r.name, r.email, r.id);
            Ok(())
        }
        ["researcher", "list", rest @ ..] => {
            Options::parse(&owned(rest))?.only(&[])?;
            let mut conn = connection()?;
            for r in accounts::researchers(&mut conn).map_err(explain)? {
                let state = if r.disabled_at.is_some() {
                    " (disabled)"
                } else {
                    ""
                };
                println!("{}\t{}\t{}{state}", r.id, r.email, r.name);
            }
            Ok(())
        }
        ["token", "create", rest @ ..] => {
            let o = Options::parse(&owned(rest))?;
            o.only(&["email", "label"])?;
            let mut conn = connection()?;
            let r = researcher(&mut conn, o.require("email")?)?;
            let label = o.get("label").unwrap_or("command line");
            let (token, raw) =
                accounts::create_api_token(&mut conn, &r.id, label).map_err(explain)?;
            eprintln!(
                "API token {} for {} created; it is shown only now:",
                token.id, r.email
            );
            println!("{raw}");
            Ok(())
        }
        ["token", "list", rest @ ..] => {
            let o = Options::parse(&owned(rest))?;
            o.only(&["email"])?;
            let mut conn = connection()?;
            let r = researcher(&mut conn, o.require("email")?)?;
            for t in accounts::api_tokens_of(&mut conn, &r.id).map_err(explain)? {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "active".into(),
                };
                println!("{}\t{}\t{}\t{state}", t.id, t.created_at, t.label);
            }
            Ok(())
        }
        ["token", "revoke", rest @ ..] => {
            let o = Options::parse(&owned(rest))?;
            o.only(&["email", "id"])?;
            let mut conn = connection()?;
            let r = researcher(&mut conn, o.require("email")?)?;
            accounts::revoke_api_token(&mut conn, &r.id, o.require("id")?).map_err(explain)?;
            println!("token revoked");
            Ok(())
        }
        _ => bail!("unknown command {:?}\n\n{USAGE}", args.join(" ")),
    }
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn settings() -> anyhow::Result<Settings> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    Ok(settings)
}

fn connection() -> anyhow::Result<db::PooledConn> {
    let settings = settings()?;
    let (pool, _, _) = open_database(&settings)?;
    Ok(db::checkout(&pool)?)
}

fn researcher(conn: &mut db::DbConn, email: &str) -> anyhow::Result<crate::db::models::Researcher> {
    accounts::researcher_by_email(conn, email)
        .map_err(explain)?
        .with_context(|| format!("no researcher has the e-mail {email}"))
}

/// Operation errors as sentences for the terminal.
fn explain(e: AppError) -> anyhow::Error {
    match e {
        AppError::Invalid(inv) => anyhow::anyhow!("{inv}"),
        AppError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ORAKEL_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let second = rpassword::prompt_password("Again: ").context("reading the password")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        let backend = app.state().backend.describe();
        println!(
            "Orakel is listening on http://{}:{} ({backend}); links use {}",
            app.state().settings.server.host,
            app.port(),
            app.public_url()
        );
        app.run_until_stopped().await
    })
}
