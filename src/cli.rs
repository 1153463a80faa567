//! The `orakel` command line: serve, migrate, and the administrative commands of API.md.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::config::Settings;
use crate::db;
use crate::ops::access::ResearcherId;
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
  orakel demo                                   create a demo study shaped like the reference study
                                                (if absent) and serve it, printing three links
  orakel export STUDY_ID [--without-identities] [-o FILE]
                                                the study archive (versioned JSON)
  orakel import FILE [--email E] [--with-members]
                                                rebuild a study from an archive, researcher E its
                                                owner; --with-members also gives the archive's
                                                members who have accounts here their roles
  orakel report STUDY_ID [--round N] --format json|csv|zip|xlsx|pdf|html [--lang da|en] [--for scripts|spreadsheet] [-o FILE]
                                                the report, offline (as the funder sees it)
  orakel backup FILE                            a consistent copy of the SQLite database, taken while
                                                the server runs (PostgreSQL: use pg_dump)
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
            let Some(name) = a.strip_prefix("--").or_else(|| (a == "-o").then_some("o")) else {
                bail!("unexpected argument {a:?}");
            };
            // -o FILE reads like --o FILE.
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
    crate::memory::limit_arenas();
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
        ["backup", file, rest @ ..] if !file.starts_with("--") => {
            Options::parse(&owned(rest))?.only(&[])?;
            let settings = settings()?;
            let backend = db::Backend::from_url(settings.database.url.expose())
                .map_err(|e| anyhow::anyhow!(e))?;
            let db::Backend::Sqlite(source) = backend else {
                bail!(
                    "orakel backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. \
                     pg_dump --format=custom --file={file} DATABASE (see docs/OPERATIONS.md)"
                );
            };
            let target = std::path::Path::new(file);
            let size = db::backup_sqlite(&source, target, settings.database.busy_timeout_ms)?;
            println!(
                "backup of {} written to {} ({size} bytes, integrity check ok)",
                source.display(),
                target.display()
            );
            Ok(())
        }
        ["migrate", rest @ ..] => {
            Options::parse(&owned(rest))?.only(&[])?;
            let settings = one_connection()?;
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
            let (token, raw) = accounts::create_api_token(
                &mut conn,
                &ResearcherId::authenticated(r.id.clone()),
                label,
            )
            .map_err(explain)?;
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
            for t in accounts::api_tokens_of(&mut conn, &ResearcherId::authenticated(r.id.clone()))
                .map_err(explain)?
            {
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
            accounts::revoke_api_token(
                &mut conn,
                &ResearcherId::authenticated(r.id.clone()),
                o.require("id")?,
            )
            .map_err(explain)?;
            println!("token revoked");
            Ok(())
        }
        ["demo", rest @ ..] => {
            Options::parse(&owned(rest))?.only(&[])?;
            demo(settings()?)
        }
        ["export", study, rest @ ..] if !study.starts_with("--") => {
            let mut rest: Vec<String> = owned(rest);
            let identities = !rest.iter().any(|a| a == "--without-identities");
            rest.retain(|a| a != "--without-identities");
            let o = Options::parse(&rest)?;
            o.only(&["o", "output"])?;
            let mut conn = connection()?;
            let archive =
                crate::ops::archive::export(&mut conn, None, study, identities).map_err(explain)?;
            let bytes = serde_json::to_vec_pretty(&archive)?;
            write_out(o.get("o").or(o.get("output")), &bytes)
        }
        ["import", file, rest @ ..] if !file.starts_with("--") => {
            let mut rest: Vec<String> = owned(rest);
            let keep_members = rest.iter().any(|a| a == "--with-members");
            rest.retain(|a| a != "--with-members");
            let o = Options::parse(&rest)?;
            o.only(&["email"])?;
            if o.get("email").is_none() && !keep_members {
                bail!("say who may open the imported study: --email E, --with-members, or both");
            }
            let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            let mut conn = connection()?;
            let owner = match o.get("email") {
                Some(e) => Some(researcher(&mut conn, e)?.id),
                None => None,
            };
            let who = crate::ops::archive::Importer {
                owner,
                keep_members,
            };
            let done = crate::ops::archive::import(&mut conn, &who, &bytes).map_err(explain)?;
            println!("study {} imported", done.id);
            for m in &done.members_not_added {
                println!("not a member here: {} ({})", m.email, m.role.as_str());
            }
            Ok(())
        }
        ["report", study, rest @ ..] if !study.starts_with("--") => {
            let o = Options::parse(&owned(rest))?;
            o.only(&["round", "format", "lang", "for", "o", "output"])?;
            offline_report(study, &o)
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

/// Settings for a command that does one thing and exits: a pool of one connection. A larger
/// pool would start another connection in the background once this one is taken, and a process
/// that exits while libpq is still connecting can crash in OpenSSL's exit handler.
fn one_connection() -> anyhow::Result<Settings> {
    let mut settings = settings()?;
    settings.database.pool_size = 1;
    Ok(settings)
}

fn connection() -> anyhow::Result<db::PooledConn> {
    let settings = one_connection()?;
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
        app.run_until_signal().await
    })
}

fn demo(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        let state = app.state();
        let s = state.clone();
        let links = actix_web::web::block(move || {
            let mut conn = db::checkout(&s.pool)?;
            crate::demo::ensure(&mut conn, &s.mail)
        })
        .await
        .context("making the demo study")?
        .map_err(explain)?;
        state.wake_worker();
        let base = app.public_url().to_string();
        println!("Orakel demo is ready at {base}");
        println!(
            "  Researcher login: {base}/login  (e-mail {}, password {})",
            crate::demo::EMAIL,
            crate::demo::PASSWORD
        );
        println!("  An expert's link: {}", links.expert);
        println!("  Funder report:    {}", links.funder);
        if links.created {
            println!(
                "The demo study was created; its e-mails are in {}.",
                state.settings.mail.dir.display()
            );
        }
        app.run_until_signal().await
    })
}

fn offline_report(study_id: &str, o: &Options) -> anyhow::Result<()> {
    let asked = o.require("format")?;
    let Some(format) = crate::report::Format::parse(asked) else {
        bail!("--format {asked:?}: use json, csv, zip, xlsx, pdf or html");
    };
    let round = o
        .get("round")
        .map(|r| {
            r.parse::<i32>()
                .with_context(|| format!("--round {r:?} is not a number"))
        })
        .transpose()?;
    let language = o
        .get("lang")
        .map(|l| crate::domain::Language::parse("lang", l).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()?;
    let opts = crate::report::Options {
        round,
        language,
        ..Default::default()
    };
    let mut conn = connection()?;
    use diesel::prelude::*;
    let study: crate::db::models::Study = crate::db::schema::studies::table
        .find(study_id)
        .select(crate::db::models::Study::as_select())
        .first(&mut *conn)
        .optional()?
        .with_context(|| format!("no study has the id {study_id}"))?;
    let report =
        crate::ops::reports::build(&mut conn, &study, &opts, crate::report::Audience::Funder)
            .map_err(explain)?;
    let dialect = crate::report::csv::Dialect::parse(o.get("for"))
        .with_context(|| "--for: use scripts or spreadsheet")?;
    let bytes = format
        .make(&report, None, dialect, crate::report::Audience::Funder, "")
        .map_err(explain)?
        .body;
    write_out(o.get("o").or(o.get("output")), &bytes)
}

/// Writes to the file named, or to standard output.
fn write_out(path: Option<&str>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {path}"))?;
            eprintln!("wrote {path} ({} bytes)", bytes.len());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(bytes)?;
        }
    }
    Ok(())
}
