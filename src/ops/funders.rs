//! Funder accounts: read-only logins for funders who follow several studies. A study's
//! researchers share its report with a funder by e-mail; the funder sets a password through the
//! link in that e-mail, logs in on the same page as researchers and reads the reports shared with
//! them, each exactly as a funder link shows it, and nothing else. Access is withdrawn per study,
//! and every report a funder account opens is in the study's audit log. Funder links stay for
//! readers who need the report once.
//!
//! The accounts live apart from researchers' (their own table and sessions), so nothing that
//! checks a researcher can be satisfied by a funder, and an e-mail address is one or the other.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::access::{self, ResearcherId, Role};
use super::accounts::password_rule;
use super::outbox::{Colleague, MailEnv, enqueue_to_person};
use super::secret::{hash_password, looks_like_token, new_token, token_hash};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{Funder, FunderAccess, FunderSession, Researcher, Study};
use crate::db::schema::{funder_access, funder_sessions, funders, researchers, studies};
use crate::db::{self, DbConn, new_id, now, utc};
use crate::domain::{Invalid, Language, text};

/// How long the link that sets a new funder's password works.
pub const SETUP_LINK_DAYS: i64 = 14;

/// A funder account as a study's researchers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FunderView {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Whether the funder has set a password (until then only the link in the e-mail works).
    pub active: bool,
    pub granted_at: DateTime<Utc>,
    /// When the funder last opened this study's report through the account.
    pub last_viewed_at: Option<DateTime<Utc>>,
}

/// Whom to share a study's report with.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareInput {
    pub email: String,
    pub name: String,
    /// The language of the e-mail and of the account's pages for a new account (`da` or `en`);
    /// by default the study's.
    #[serde(default)]
    pub language: Option<String>,
}

/// A study shared with a funder account, as the funder's list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SharedStudy {
    pub study_id: String,
    pub title: String,
    pub funder: String,
    pub contact: String,
    pub shared_at: DateTime<Utc>,
}

fn view(f: &Funder, a: &FunderAccess) -> FunderView {
    FunderView {
        id: f.id.clone(),
        email: f.email.clone(),
        name: f.name.clone(),
        active: f.password_hash.is_some(),
        granted_at: utc(a.granted_at),
        last_viewed_at: a.last_viewed_at.map(utc),
    }
}

/// The funder accounts a study's report is shared with now.
pub fn list(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
) -> AppResult<Vec<FunderView>> {
    access::study(conn, researcher_id, study_id, Role::Researcher)?;
    let rows: Vec<(Funder, FunderAccess)> = funder_access::table
        .inner_join(funders::table)
        .filter(funder_access::study_id.eq(study_id))
        .filter(funder_access::withdrawn_at.is_null())
        .order(funders::name.asc())
        .select((Funder::as_select(), FunderAccess::as_select()))
        .load(conn)?;
    Ok(rows.iter().map(|(f, a)| view(f, a)).collect())
}

/// Shares a study's report with a funder by e-mail: makes their account if they have none,
/// gives it the study, and writes to them — with a link to set a password while they have
/// none, else with the address to log in. Sharing again sends a fresh e-mail.
pub fn share(
    conn: &mut DbConn,
    env: &MailEnv,
    researcher_id: &ResearcherId,
    study_id: &str,
    input: ShareInput,
) -> AppResult<FunderView> {
    let mut e = Invalid::new();
    let email = e
        .take(text::email("email", &input.email))
        .map(|s| s.to_lowercase());
    let name = e.take(text::line("name", &input.name, 120));
    let language = match input.language.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => e.take(Language::parse("language", l)),
    };
    e.into_result(())?;
    let (email, name) = (email.unwrap_or_default(), name.unwrap_or_default());
    db::write(conn, |c| {
        let (study, _) = access::study(c, researcher_id, study_id, Role::Researcher)?;
        let is_researcher: i64 = researchers::table
            .filter(researchers::email.eq(&email))
            .count()
            .get_result(c)?;
        if is_researcher > 0 {
            return Err(Invalid::one(
                "email",
                "belongs to a researcher's account; researchers read the report as members of the study",
            )
            .into());
        }
        let t = now();
        let existing: Option<Funder> = funders::table
            .filter(funders::email.eq(&email))
            .select(Funder::as_select())
            .first(c)
            .optional()?;
        let mut funder = match existing {
            Some(f) => f,
            None => {
                let f = Funder {
                    id: new_id(),
                    email: email.clone(),
                    name: name.clone(),
                    password_hash: None,
                    locale: language
                        .unwrap_or(Language::from_stored(&study.language))
                        .code()
                        .into(),
                    setup_token_hash: None,
                    setup_expires_at: None,
                    created_at: t,
                    disabled_at: None,
                };
                diesel::insert_into(funders::table).values(&f).execute(c)?;
                f
            }
        };
        if funder.disabled_at.is_some() {
            return Err(AppError::Conflict("this funder's account is closed".into()));
        }
        let granted = FunderAccess {
            study_id: study.id.clone(),
            funder_id: funder.id.clone(),
            granted_by: Some(researcher_id.as_str().to_string()),
            granted_at: t,
            withdrawn_at: None,
            last_viewed_at: None,
        };
        let before: Option<FunderAccess> = funder_access::table
            .find((&study.id, &funder.id))
            .select(FunderAccess::as_select())
            .first(c)
            .optional()?;
        let access = match before {
            Some(a) if a.withdrawn_at.is_none() => a,
            Some(_) => {
                diesel::update(funder_access::table.find((&study.id, &funder.id)))
                    .set((
                        funder_access::withdrawn_at.eq(None::<chrono::NaiveDateTime>),
                        funder_access::granted_at.eq(t),
                        funder_access::granted_by.eq(&granted.granted_by),
                    ))
                    .execute(c)?;
                granted
            }
            None => {
                diesel::insert_into(funder_access::table)
                    .values(&granted)
                    .execute(c)?;
                granted
            }
        };
        let base = env.public_url.trim_end_matches('/');
        let (link, until) = if funder.password_hash.is_none() {
            // A new link each time: only the latest e-mail's works.
            let raw = new_token();
            let until = t + Duration::days(SETUP_LINK_DAYS);
            diesel::update(funders::table.find(&funder.id))
                .set((
                    funders::setup_token_hash.eq(Some(token_hash(&raw))),
                    funders::setup_expires_at.eq(Some(until)),
                ))
                .execute(c)?;
            funder.setup_expires_at = Some(until);
            (format!("{base}/funder/welcome/{raw}"), Some(until))
        } else {
            (format!("{base}/login"), None)
        };
        let sharer: Researcher = researchers::table
            .find(researcher_id.as_str())
            .select(Researcher::as_select())
            .first(c)?;
        let lang = Language::from_stored(&funder.locale);
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("sharer".to_string(), sharer.name.clone());
        extra.insert("email".to_string(), funder.email.clone());
        extra.insert("new_account".to_string(), until.is_some().to_string());
        enqueue_to_person(
            c,
            env,
            &study,
            Colleague {
                email: funder.email.clone(),
                name: funder.name.clone(),
                language: lang,
            },
            crate::mail::Kind::FunderAccess,
            (
                link,
                until
                    .map(|u| crate::i18n::long_date_of(utc(u), lang.code(), study.zone()))
                    .unwrap_or_default(),
            ),
            extra,
            format!("funder-access:{}:{}:{}", study.id, funder.id, new_id()),
        )?;
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(&study.id),
            audit::Action::FunderShared,
            Some(&funder.id),
            serde_json::json!({ "new_account": until.is_some() }),
        )?;
        Ok(view(&funder, &access))
    })
}

/// Withdraws a funder account's access to one study; its other studies stay.
pub fn withdraw(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    funder_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        access::study(c, researcher_id, study_id, Role::Researcher)?;
        let n = diesel::update(
            funder_access::table
                .find((study_id, funder_id))
                .filter(funder_access::withdrawn_at.is_null()),
        )
        .set(funder_access::withdrawn_at.eq(Some(now())))
        .execute(c)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        audit::record(
            c,
            &Actor::researcher(researcher_id),
            Some(study_id),
            audit::Action::FunderWithdrawn,
            Some(funder_id),
            serde_json::json!({}),
        )?;
        Ok(())
    })
}

/// The funder whose password-setting link this is, while it works.
pub fn by_setup_link(conn: &mut DbConn, raw: &str) -> AppResult<Option<Funder>> {
    if !looks_like_token(raw) {
        return Ok(None);
    }
    Ok(funders::table
        .filter(funders::setup_token_hash.eq(token_hash(raw)))
        .filter(funders::setup_expires_at.gt(now()))
        .filter(funders::disabled_at.is_null())
        .select(Funder::as_select())
        .first(conn)
        .optional()?)
}

/// Sets a funder's password through the link in their e-mail (which then stops working) and
/// opens a session. Returns the session's cookie value; `None` when the link does not work.
pub fn set_password(
    conn: &mut DbConn,
    raw: &str,
    password: &str,
    session_length: Duration,
) -> AppResult<Option<String>> {
    password_rule(password).map_err(|m| Invalid::one("password", m))?;
    let Some(funder) = by_setup_link(conn, raw)? else {
        return Ok(None);
    };
    let hash = hash_password(password)?;
    db::write(conn, |c| {
        let n = diesel::update(
            funders::table
                .find(&funder.id)
                .filter(funders::setup_token_hash.eq(token_hash(raw))),
        )
        .set((
            funders::password_hash.eq(Some(&hash)),
            funders::setup_token_hash.eq(None::<String>),
            funders::setup_expires_at.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(c)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(open_session(c, &funder.id, session_length)?))
    })
}

/// A new session for a funder whose password was checked; returns the cookie value.
pub fn open_session(
    conn: &mut DbConn,
    funder_id: &str,
    session_length: Duration,
) -> AppResult<String> {
    let raw = new_token();
    let t = now();
    diesel::insert_into(funder_sessions::table)
        .values(&FunderSession {
            id: token_hash(&raw),
            funder_id: funder_id.into(),
            csrf_token: new_token(),
            created_at: t,
            expires_at: t + session_length,
            last_seen_at: t,
        })
        .execute(conn)?;
    Ok(raw)
}

/// The funder and session behind a funder's session cookie, extending it on activity.
pub fn session(
    conn: &mut DbConn,
    raw: &str,
    session_length: Duration,
) -> AppResult<Option<(FunderSession, Funder)>> {
    if !looks_like_token(raw) {
        return Ok(None);
    }
    let t = now();
    let found: Option<(FunderSession, Funder)> = funder_sessions::table
        .inner_join(funders::table)
        .filter(funder_sessions::id.eq(token_hash(raw)))
        .filter(funder_sessions::expires_at.gt(t))
        .filter(funders::disabled_at.is_null())
        .select((FunderSession::as_select(), Funder::as_select()))
        .first(conn)
        .optional()?;
    if let Some((s, _)) = &found
        && t - s.last_seen_at > Duration::minutes(5)
    {
        diesel::update(funder_sessions::table.find(&s.id))
            .set((
                funder_sessions::last_seen_at.eq(t),
                funder_sessions::expires_at.eq(t + session_length),
            ))
            .execute(conn)?;
    }
    Ok(found)
}

pub fn logout(conn: &mut DbConn, raw: &str) -> AppResult<()> {
    diesel::delete(funder_sessions::table.filter(funder_sessions::id.eq(token_hash(raw))))
        .execute(conn)?;
    Ok(())
}

pub fn by_email(conn: &mut DbConn, email: &str) -> AppResult<Option<Funder>> {
    Ok(funders::table
        .filter(funders::email.eq(email.trim().to_lowercase()))
        .select(Funder::as_select())
        .first(conn)
        .optional()?)
}

/// The studies shared with a funder now, newest first.
pub fn shared_with(conn: &mut DbConn, funder: &Funder) -> AppResult<Vec<SharedStudy>> {
    let rows: Vec<(Study, FunderAccess)> = funder_access::table
        .inner_join(studies::table)
        .filter(funder_access::funder_id.eq(&funder.id))
        .filter(funder_access::withdrawn_at.is_null())
        .order(funder_access::granted_at.desc())
        .select((Study::as_select(), FunderAccess::as_select()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(s, a)| SharedStudy {
            study_id: s.id,
            title: s.title,
            funder: s.funder,
            contact: s.contact,
            shared_at: utc(a.granted_at),
        })
        .collect())
}

/// A study shared with this funder now, as its funder link would load it; records the view
/// (in the audit log and as the access's last view). Not shared (or withdrawn): not found.
pub fn study_for(conn: &mut DbConn, funder: &Funder, study_id: &str) -> AppResult<Study> {
    let found: Option<Study> = funder_access::table
        .inner_join(studies::table)
        .filter(funder_access::funder_id.eq(&funder.id))
        .filter(funder_access::study_id.eq(study_id))
        .filter(funder_access::withdrawn_at.is_null())
        .select(Study::as_select())
        .first(conn)
        .optional()?;
    found.ok_or(AppError::NotFound)
}

/// Records that a funder account opened a study's report (which round, which file).
pub fn record_view(
    conn: &mut DbConn,
    funder: &Funder,
    study_id: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    diesel::update(funder_access::table.find((study_id, &funder.id)))
        .set(funder_access::last_viewed_at.eq(Some(now())))
        .execute(conn)?;
    audit::record(
        conn,
        &Actor::FunderAccount {
            id: funder.id.clone(),
        },
        Some(study_id),
        audit::Action::FunderReportViewed,
        Some(study_id),
        details,
    )
}

/// Sets the language of a funder's pages.
pub fn set_locale(conn: &mut DbConn, funder_id: &str, language: &str) -> AppResult<()> {
    let lang = Language::parse("language", language)?;
    diesel::update(funders::table.find(funder_id))
        .set(funders::locale.eq(lang.code()))
        .execute(conn)?;
    Ok(())
}

/// The report of a study shared with this funder, built as for a funder link (the funder's
/// audience, the options the link would take) and recorded as viewed.
pub fn report(
    conn: &mut DbConn,
    funder: &Funder,
    study_id: &str,
    opts: &crate::report::Options,
) -> AppResult<crate::report::Report> {
    let study = study_for(conn, funder, study_id)?;
    let r = super::reports::build(conn, &study, opts, crate::report::Audience::Funder)?;
    record_view(
        conn,
        funder,
        study_id,
        serde_json::json!({ "round": r.round.number }),
    )?;
    Ok(r)
}
