//! A read on a second PostgreSQL connection, beside the one a request holds. A report reads two
//! whole rounds (its own and the one before); PostgreSQL runs each statement on one core, so
//! the second round is read on another connection at the same time as the first, seeing
//! exactly what the first connection's transaction saw when it started it (the snapshot is
//! exported and imported). SQLite reads from the same process and gains nothing from this.
//!
//! A server's pool is lent only inside [`within`]; elsewhere (the command line) and when no
//! connection is free within a moment, [`read`] gives nothing and the caller reads on its own
//! connection, as it would have anyway.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::prelude::*;

use super::{DbConn, DbError, DbPool, TxError};

/// One server's pool, lent for reads beside a request's own.
pub struct Beside {
    pool: DbPool,
    reads: AtomicU64,
}

impl Beside {
    pub fn new(pool: DbPool) -> Beside {
        Beside {
            pool,
            reads: AtomicU64::new(0),
        }
    }

    /// How many reads ran on a second connection (`/metrics`).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Beside>>> = const { RefCell::new(None) };
}

/// Runs `f` with [`read`] able to take a second connection from `beside`'s pool.
pub fn within<T>(beside: &Arc<Beside>, f: impl FnOnce() -> T) -> T {
    super::with_local(&CURRENT, beside.clone(), f)
}

/// How long a read waits for a free connection before its caller reads on its own: a moment,
/// since reading on its own is only slower, and two reports each waiting for a second
/// connection must not hold each other up.
const WAIT_FOR_CONNECTION: Duration = Duration::from_millis(100);

/// A read started beside the caller's; [`Pending::wait`] gives its result.
pub struct Pending<T> {
    handle: JoinHandle<Result<T, String>>,
    beside: Arc<Beside>,
}

impl<T> Pending<T> {
    /// The read's result, or `None` when it failed (said in the log): the caller then reads on
    /// its own connection, where a real fault of the database shows as the caller's error.
    pub fn wait(self) -> Option<T> {
        match self.handle.join() {
            Ok(Ok(t)) => {
                self.beside.reads.fetch_add(1, Ordering::Relaxed);
                Some(t)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a read beside the request's own failed; read in turn");
                None
            }
            Err(_) => {
                tracing::warn!("a read beside the request's own panicked; read in turn");
                None
            }
        }
    }
}

/// Starts `f` on a second PostgreSQL connection that sees what `conn`'s current transaction
/// sees. `None` (and nothing started) on SQLite, outside a transaction, outside [`within`], or
/// when no connection is free within a moment. `conn`'s transaction must stay open until
/// [`Pending::wait`] has returned.
pub fn read<T, E, F>(conn: &mut DbConn, f: F) -> Option<Pending<T>>
where
    T: Send + 'static,
    E: std::fmt::Display,
    F: FnOnce(&mut diesel::PgConnection) -> Result<T, E> + Send + 'static,
{
    if !super::in_transaction(conn) {
        return None;
    }
    let DbConn::Pg(pg) = conn else {
        return None;
    };
    let beside = CURRENT.with(|c| c.borrow().clone())?;
    let snapshot = match exported_snapshot(pg) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no snapshot to share; read in turn");
            return None;
        }
    };
    let mut second = beside.pool.get_timeout(WAIT_FOR_CONNECTION).ok()?;
    let handle = std::thread::Builder::new()
        .name("orakel-read".into())
        .spawn(move || {
            let DbConn::Pg(pg) = &mut *second else {
                return Err("the pool's connection is not PostgreSQL's".to_string());
            };
            pg.build_transaction()
                .repeatable_read()
                .read_only()
                .run(|c| {
                    // Must be the transaction's first statement; the name is checked below to
                    // be PostgreSQL's own (hexadecimal groups), as the statement takes no
                    // parameters.
                    diesel::sql_query(format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
                        .execute(c)?;
                    f(c).map_err(TxError::Inner)
                })
                .map_err(|e| e.to_string())
        })
        .ok()?;
    Some(Pending { handle, beside })
}

impl<E: std::fmt::Display> std::fmt::Display for TxError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxError::Inner(e) => e.fmt(f),
            TxError::Db(e) => e.fmt(f),
        }
    }
}

#[derive(QueryableByName)]
struct Exported {
    #[diesel(sql_type = diesel::sql_types::Text)]
    snapshot: String,
}

/// The name of the current transaction's snapshot, for another connection to import.
fn exported_snapshot(pg: &mut diesel::PgConnection) -> Result<String, DbError> {
    let row: Exported =
        diesel::sql_query("SELECT pg_export_snapshot() AS snapshot").get_result(pg)?;
    let name = row.snapshot;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(DbError::Unavailable(format!(
            "PostgreSQL named a snapshot unexpectedly: {name:?}"
        )));
    }
    Ok(name)
}
