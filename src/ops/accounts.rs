//! Researcher accounts: creation, login with rate limits, browser sessions and API tokens.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::secret::{
    dummy_password_hash, hash_password, looks_like_token, new_token, token_hash, verify_password,
};
use super::{Actor, AppError, AppResult, audit};
use crate::db::models::{ApiToken, LoginAttempt, Researcher, Session};
use crate::db::schema::{api_tokens, login_attempts, researchers, sessions};
use crate::db::{self, DbConn, new_id, now};
use crate::domain::{Invalid, text};
use crate::ops::access::ResearcherId;

pub const MIN_PASSWORD_CHARS: usize = 12;

/// A password of at least 12 characters, at least 8 of them not spaces, and not one character
/// over and over (twelve spaces or `aaaaaaaaaaaa` are not passwords), and at most 1024 bytes.
/// The one rule for every account's password.
pub fn password_rule(password: &str) -> Result<(), String> {
    let chars: Vec<char> = password.chars().collect();
    let visible = chars.iter().filter(|c| !c.is_whitespace()).count();
    let distinct = chars.iter().collect::<std::collections::HashSet<_>>().len();
    if chars.len() < MIN_PASSWORD_CHARS || visible < 8 || distinct < 4 {
        return Err(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters, at least 8 of them not spaces, and not the same few characters repeated"
        ));
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

/// Creates a researcher account. The e-mail is the login name, compared without case.
pub fn add_researcher(
    conn: &mut DbConn,
    email: &str,
    name: &str,
    password: &str,
) -> AppResult<Researcher> {
    let mut e = Invalid::new();
    let email = e
        .take(text::email("email", email))
        .map(|s| s.to_lowercase());
    let name = e.take(text::line("name", name, 120));
    if let Err(m) = password_rule(password) {
        e.add("password", m);
    }
    e.into_result(())?;
    let (email, name) = (email.unwrap_or_default(), name.unwrap_or_default());
    let researcher = Researcher {
        id: new_id(),
        email: email.clone(),
        name,
        password_hash: hash_password(password)?,
        locale: "en".into(),
        created_at: now(),
        disabled_at: None,
    };
    db::write(conn, |c| {
        let exists: i64 = researchers::table
            .filter(researchers::email.eq(&email))
            .count()
            .get_result(c)?;
        if exists > 0 {
            return Err(AppError::Conflict(format!(
                "a researcher with the e-mail {email} already exists"
            )));
        }
        if super::funders::by_email(c, &email)?.is_some() {
            return Err(AppError::Conflict(format!(
                "{email} is a funder's account; an address is a researcher's or a funder's"
            )));
        }
        diesel::insert_into(researchers::table)
            .values(&researcher)
            .execute(c)?;
        audit::record(
            c,
            &Actor::System,
            None,
            audit::Action::ResearcherCreated,
            Some(&researcher.id),
            serde_json::json!({}),
        )?;
        Ok(researcher.clone())
    })
}

pub fn researcher_by_email(conn: &mut DbConn, email: &str) -> AppResult<Option<Researcher>> {
    Ok(researchers::table
        .filter(researchers::email.eq(email.trim().to_lowercase()))
        .select(Researcher::as_select())
        .first(conn)
        .optional()?)
}

/// Sets the language of a researcher's pages (`da` or `en`).
pub fn set_locale(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    language: &str,
) -> AppResult<()> {
    let lang = crate::domain::Language::parse("language", language)?;
    diesel::update(researchers::table.find(researcher_id.as_str()))
        .set(researchers::locale.eq(lang.code()))
        .execute(conn)?;
    Ok(())
}

pub fn researchers(conn: &mut DbConn) -> AppResult<Vec<Researcher>> {
    Ok(researchers::table
        .order(researchers::email.asc())
        .select(Researcher::as_select())
        .load(conn)?)
}

pub fn researcher(conn: &mut DbConn, id: &str) -> AppResult<Researcher> {
    researchers::table
        .find(id)
        .select(Researcher::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

/// A new API token for a researcher; the token itself is returned once and stored only hashed.
pub fn create_api_token(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    label: &str,
) -> AppResult<(ApiToken, String)> {
    let label = if label.trim().is_empty() {
        "API token".to_string()
    } else {
        text::line("label", label, 100)?
    };
    let raw = new_token();
    let token = ApiToken {
        id: new_id(),
        researcher_id: researcher_id.into(),
        label,
        token_hash: token_hash(&raw),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    db::write(conn, |c| {
        diesel::insert_into(api_tokens::table)
            .values(&token)
            .execute(c)?;
        audit::record(
            c,
            &Actor::Researcher {
                id: researcher_id.into(),
            },
            None,
            audit::Action::ApiTokenCreated,
            Some(&token.id),
            serde_json::json!({ "label": token.label }),
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok((token, raw))
}

pub fn api_tokens_of(conn: &mut DbConn, researcher_id: &ResearcherId) -> AppResult<Vec<ApiToken>> {
    Ok(api_tokens::table
        .filter(api_tokens::researcher_id.eq(researcher_id.as_str()))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)?)
}

/// Revokes one of the researcher's own tokens; another researcher's token is "not found".
pub fn revoke_api_token(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    token_id: &str,
) -> AppResult<()> {
    db::write(conn, |c| {
        let n = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::researcher_id.eq(researcher_id.as_str()))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(now()))
        .execute(c)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        audit::record(
            c,
            &Actor::Researcher {
                id: researcher_id.into(),
            },
            None,
            audit::Action::ApiTokenRevoked,
            Some(token_id),
            serde_json::json!({}),
        )
    })
}

/// The researcher an API token belongs to, if the token is live.
pub fn researcher_for_api_token(conn: &mut DbConn, raw: &str) -> AppResult<Option<Researcher>> {
    if !looks_like_token(raw) {
        return Ok(None);
    }
    let found: Option<(ApiToken, Researcher)> = api_tokens::table
        .inner_join(researchers::table)
        .filter(api_tokens::token_hash.eq(token_hash(raw)))
        .filter(api_tokens::revoked_at.is_null())
        .filter(researchers::disabled_at.is_null())
        .select((ApiToken::as_select(), Researcher::as_select()))
        .first(conn)
        .optional()?;
    let Some((token, researcher)) = found else {
        return Ok(None);
    };
    // Record use coarsely, so a busy script does not turn every read into a write.
    let t = now();
    if token
        .last_used_at
        .is_none_or(|last| t - last > Duration::minutes(5))
    {
        diesel::update(api_tokens::table.find(&token.id))
            .set(api_tokens::last_used_at.eq(t))
            .execute(conn)?;
    }
    Ok(Some(researcher))
}

/// Limits on failed logins, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_account: i64,
    pub per_address: i64,
    pub window: Duration,
}

/// Checks a password and opens a session. Refuses without checking once the account or the
/// client address has too many recent failures. Returns the session and its cookie value.
///
/// The attempt is written down as failed before the (slow, deliberately) password check, in the
/// same transaction that counts the failures, so parallel attempts cannot all slip under the
/// limit; a correct password then turns it into a success. A success clears the account's
/// count (it was its owner) but never the address's: one account that logs in does not let its
/// address go on guessing others' passwords.
pub fn login(
    conn: &mut DbConn,
    limits: LoginLimits,
    session_length: Duration,
    email: &str,
    password: &str,
    address: &str,
) -> AppResult<(LoggedIn, String)> {
    let email = email.trim().to_lowercase();
    let since = now() - limits.window;
    let attempt = LoginAttempt {
        id: new_id(),
        email: email.clone(),
        address: address.into(),
        succeeded: false,
        at: now(),
    };
    db::write(conn, |c| {
        if let DbConn::Pg(pg) = c {
            // One login's count-and-reserve at a time across every instance.
            diesel::sql_query("SELECT pg_advisory_xact_lock(7201512)").execute(pg)?;
        }
        let account_failures = recent_failures(c, AttemptKey::Email(&email), since)?;
        let address_failures = recent_failures(c, AttemptKey::Address(address), since)?;
        if account_failures >= limits.per_account || address_failures >= limits.per_address {
            let message = match limits.window.num_minutes() {
                1 => "too many failed logins; try again in 1 minute".to_string(),
                n => format!("too many failed logins; try again in {n} minutes"),
            };
            return Err(AppError::TooManyRequests(message));
        }
        diesel::insert_into(login_attempts::table)
            .values(&attempt)
            .execute(c)?;
        Ok::<_, AppError>(())
    })?;
    let researcher = researcher_by_email(conn, &email)?;
    // An address is a researcher's or a funder's, never both; a funder without a password yet
    // cannot log in.
    let funder = match researcher {
        Some(_) => None,
        None => super::funders::by_email(conn, &email)?,
    };
    // Verify against a dummy hash for unknown accounts, so timing does not reveal which exist.
    let stored = researcher
        .as_ref()
        .map(|r| r.password_hash.as_str())
        .or(funder.as_ref().and_then(|f| f.password_hash.as_deref()))
        .unwrap_or(dummy_password_hash());
    let password_ok = verify_password(password, stored);
    if let Some(f) = funder.filter(|f| password_ok && f.disabled_at.is_none()) {
        return db::write(conn, |c| {
            diesel::update(login_attempts::table.find(&attempt.id))
                .set(login_attempts::succeeded.eq(true))
                .execute(c)?;
            let raw = super::funders::open_session(c, &f.id, session_length)?;
            Ok((LoggedIn::Funder(f.id.clone()), raw))
        });
    }
    let Some(researcher) = researcher.filter(|r| password_ok && r.disabled_at.is_none()) else {
        return Err(AppError::Unauthenticated);
    };
    db::write(conn, |c| {
        diesel::update(login_attempts::table.find(&attempt.id))
            .set(login_attempts::succeeded.eq(true))
            .execute(c)?;
        let raw = new_token();
        let t = now();
        let session = Session {
            id: token_hash(&raw),
            researcher_id: researcher.id.clone(),
            csrf_token: new_token(),
            created_at: t,
            expires_at: t + session_length,
            last_seen_at: t,
        };
        diesel::insert_into(sessions::table)
            .values(&session)
            .execute(c)?;
        Ok((LoggedIn::Researcher(session.researcher_id), raw))
    })
}

/// Whose account a login opened, with the session's cookie value beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedIn {
    Researcher(String),
    Funder(String),
}

#[derive(Clone, Copy)]
enum AttemptKey<'a> {
    Email(&'a str),
    Address(&'a str),
}

/// Failed attempts for `key` since `since`; for an account, not counting those before its
/// last success.
fn recent_failures(conn: &mut DbConn, key: AttemptKey, since: NaiveDateTime) -> AppResult<i64> {
    let attempts = || {
        let q = login_attempts::table
            .filter(login_attempts::at.ge(since))
            .into_boxed();
        match key {
            AttemptKey::Email(e) => q.filter(login_attempts::email.eq(e.to_string())),
            AttemptKey::Address(a) => q.filter(login_attempts::address.eq(a.to_string())),
        }
    };
    let from = match key {
        AttemptKey::Email(_) => attempts()
            .filter(login_attempts::succeeded.eq(true))
            .select(diesel::dsl::max(login_attempts::at))
            .first::<Option<NaiveDateTime>>(conn)?
            .unwrap_or(since),
        AttemptKey::Address(_) => since,
    };
    Ok(attempts()
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::at.ge(from))
        .count()
        .get_result(conn)?)
}

/// The session and researcher behind a session cookie, extending the session on activity.
pub fn session(
    conn: &mut DbConn,
    raw: &str,
    session_length: Duration,
) -> AppResult<Option<(Session, Researcher)>> {
    if !looks_like_token(raw) {
        return Ok(None);
    }
    let t = now();
    let found: Option<(Session, Researcher)> = sessions::table
        .inner_join(researchers::table)
        .filter(sessions::id.eq(token_hash(raw)))
        .filter(sessions::expires_at.gt(t))
        .filter(researchers::disabled_at.is_null())
        .select((Session::as_select(), Researcher::as_select()))
        .first(conn)
        .optional()?;
    if let Some((s, _)) = &found
        && t - s.last_seen_at > Duration::minutes(5)
    {
        diesel::update(sessions::table.find(&s.id))
            .set((
                sessions::last_seen_at.eq(t),
                sessions::expires_at.eq(t + session_length),
            ))
            .execute(conn)?;
    }
    Ok(found)
}

pub fn logout(conn: &mut DbConn, raw: &str) -> AppResult<()> {
    diesel::delete(sessions::table.filter(sessions::id.eq(token_hash(raw)))).execute(conn)?;
    Ok(())
}
