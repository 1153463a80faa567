//! What people do with Orakel, one function per action: each checks who may do it, validates
//! through `domain`, and changes the store in one transaction. The JSON API, the web pages and
//! the command line all call these, so they behave the same.
//!
//! Error policy: operations return [`AppError`]. `NotFound` also covers "exists, but not yours",
//! so a researcher cannot learn that another team's study exists. `Internal` wraps what should
//! not happen; its cause is logged and never shown.

pub mod accounts;
pub mod answers;
pub mod archive;
pub mod audit;
pub mod candidates;
pub mod codebook;
pub mod links;
pub mod outbox;
pub mod participation;
pub mod privacy;
pub mod refi;
pub mod reports;
pub mod round1;
pub mod rounds;
pub mod secret;
pub mod studies;

use crate::db::DbError;
use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid input: {0}")]
    Invalid(Invalid),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// Lost a race on a unique constraint: two people made the same change at the same moment
    /// and the database kept the other's (409, not a fault of ours).
    pub fn is_race(&self) -> bool {
        matches!(self, AppError::Internal(e) if is_unique_violation(e))
    }
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        AppError::Invalid(e)
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(msg) => AppError::Unavailable(msg),
            DbError::Query(ref q) if is_storage_exhausted(q) => {
                AppError::Unavailable(NO_SPACE.into())
            }
            DbError::Query(ref q) if is_connection_lost(q) => {
                AppError::Unavailable("the database connection was lost".into())
            }
            // PostgreSQL refuses NUL characters in text, wherever they came from (a path, a
            // query string): the request is at fault, and SQLite would simply find nothing.
            DbError::Query(ref q) if is_nul_in_text(q) => AppError::Invalid(
                crate::domain::Invalid::one("request", "text must not contain NUL characters"),
            ),
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        AppError::from(DbError::from(e))
    }
}

/// A write that only keeps a record (first opened, last used) and must not fail the read it
/// accompanies: with the disk full, the expert still sees their answers.
pub fn bookkeeping(result: Result<usize, diesel::result::Error>) -> AppResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_storage_exhausted(&e) => {
            tracing::warn!(error = %e, "a record of use was not kept: the disk is full");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The cause of a 503 when the disk under the database is full (shown as such to the client).
pub const NO_SPACE: &str = "the database has no space left";

fn is_storage_exhausted(e: &diesel::result::Error) -> bool {
    let text = e.to_string();
    text.contains("database or disk is full") || text.contains("No space left on device")
}

fn is_nul_in_text(e: &diesel::result::Error) -> bool {
    let text = e.to_string();
    text.contains("invalid byte sequence for encoding") && text.contains("0x00")
}

fn is_connection_lost(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            _
        )
    ) || {
        let text = e.to_string();
        [
            "server closed the connection",
            "terminating connection",
            "no connection to the server",
            "connection to server",
            "the database system is shutting down",
            "the database system is starting up",
            "could not receive data from server",
            "could not send data to server",
        ]
        .iter()
        .any(|m| text.contains(m))
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Who is acting: recorded in the audit log and used for every access decision.
#[derive(Debug, Clone)]
pub enum Actor {
    Researcher { id: String },
    Participant { candidate_id: String },
    Funder { link_id: String },
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Researcher { .. } => "researcher",
            Actor::Participant { .. } => "participant",
            Actor::Funder { .. } => "funder",
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::Researcher { id } => Some(id),
            Actor::Participant { candidate_id } => Some(candidate_id),
            Actor::Funder { link_id } => Some(link_id),
            Actor::System => None,
        }
    }
}

/// Runs `f` again (up to three more times) when it lost a race on a unique constraint, as two
/// concurrent first inserts of the same row do on PostgreSQL; each run is its own transaction.
pub fn retrying<T>(mut f: impl FnMut() -> AppResult<T>) -> AppResult<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f() {
            Err(AppError::Internal(e)) if attempt < 4 && is_unique_violation(&e) => continue,
            other => return other,
        }
    }
}

fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.downcast_ref::<DbError>()
        .is_some_and(|d| d.is_unique_violation())
}
