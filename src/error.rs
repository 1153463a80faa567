//! The error every operation returns, and how failures are logged. Operations return
//! [`AppError`]; `NotFound` also covers "exists, but not yours", so a researcher cannot learn
//! that another team's study exists; `Internal` wraps what should not happen, and its cause is
//! logged and never shown. How each becomes an HTTP status is `web::error`'s business.

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

impl From<crate::domain::round::Refusal> for AppError {
    fn from(r: crate::domain::round::Refusal) -> Self {
        match r {
            crate::domain::round::Refusal::Conflict(m) => AppError::Conflict(m),
            crate::domain::round::Refusal::Invalid(inv) => AppError::Invalid(inv),
        }
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

/// The cause of a 503 when the disk under the database is full (shown as such to the client).
pub const NO_SPACE: &str = "the database has no space left";

pub(crate) fn is_storage_exhausted(e: &diesel::result::Error) -> bool {
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

pub(crate) fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.downcast_ref::<DbError>()
        .is_some_and(|d| d.is_unique_violation())
}

/// Logs the cause of an error that is ours (5xx); a client's mistakes are not logged.
pub fn log_if_server_error(e: &AppError) {
    if e.is_race() {
        tracing::info!("a unique constraint refused one of two simultaneous changes");
        return;
    }
    match e {
        AppError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "internal error")
        }
        AppError::Unavailable(cause) => tracing::warn!(error = %cause, "service unavailable"),
        _ => {}
    }
}
