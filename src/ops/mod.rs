//! What people do with Orakel, one function per action: each checks who may do it, validates
//! through `domain`, and changes the store in one transaction. The JSON API, the web pages and
//! the command line all call these, so they behave the same.
//!
//! Errors: [`crate::error`].

pub mod access;
pub mod accounts;
pub mod answers;
pub mod archive;
pub mod audit;
pub mod codebook;
pub mod coding;
pub mod discussion;
pub mod funders;
pub mod interviews;
pub mod letters;
pub mod links;
pub mod live;
pub mod outbox;
pub mod paging;
pub mod participation;
pub mod privacy;
pub mod progress;
pub mod protocol;
pub mod records;
pub mod recruitment;
pub mod refi;
pub mod reports;
pub mod rounds;
pub mod secret;
pub mod studies;
pub mod todo;

pub use crate::error::{AppError, AppResult, NO_SPACE};
use crate::error::{is_storage_exhausted, is_unique_violation};

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

/// Who is acting: recorded in the audit log and used for every access decision.
#[derive(Debug, Clone)]
pub enum Actor {
    Researcher {
        id: String,
    },
    Participant {
        candidate_id: String,
    },
    Funder {
        link_id: String,
    },
    /// A funder's read-only account.
    FunderAccount {
        id: String,
    },
    System,
}

impl Actor {
    pub fn researcher(id: &str) -> Actor {
        Actor::Researcher { id: id.into() }
    }

    /// How a researcher is named in the audit log's `actor_kind`.
    pub const RESEARCHER: &'static str = "researcher";
    /// How a funder's account is named there.
    pub const FUNDER_ACCOUNT: &'static str = "funder_account";

    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Researcher { .. } => Actor::RESEARCHER,
            Actor::Participant { .. } => "participant",
            Actor::Funder { .. } => "funder",
            Actor::FunderAccount { .. } => Actor::FUNDER_ACCOUNT,
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::Researcher { id } => Some(id),
            Actor::Participant { candidate_id } => Some(candidate_id),
            Actor::Funder { link_id } => Some(link_id),
            Actor::FunderAccount { id } => Some(id),
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
