//! The store: one connection type over SQLite and PostgreSQL, the pool, the embedded migrations,
//! and the row types and queries of every table. Nothing here knows about HTTP.

pub mod beside;
pub mod columns;
pub mod group;
pub mod models;
pub mod schema;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

diesel::define_sql_function! {
    /// Lower case, as the database computes it (both backends have `lower`): for comparing
    /// e-mail addresses without regard to case.
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

diesel::define_sql_function! {
    /// The first of two moments that is not NULL (both backends have `coalesce`).
    fn coalesce(x: diesel::sql_types::Nullable<diesel::sql_types::Timestamp>, y: diesel::sql_types::Nullable<diesel::sql_types::Timestamp>) -> diesel::sql_types::Nullable<diesel::sql_types::Timestamp>;
}

/// A stored moment (naive, in UTC) as the UTC time it is.
pub fn utc(t: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    t.and_utc()
}

/// One connection to whichever database the configuration names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledConn = PooledConnection<ConnectionManager>;

/// Errors of the store. `Unavailable` means the database could not be reached (the caller
/// answers 503); everything else is a bug or a broken database (500).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl DbError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Which database, decided by the scheme of `database.url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, String> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err(
                    "database.url sqlite:// needs a file path, e.g. sqlite://data/orakel.db".into(),
                );
            }
            Ok(Backend::Sqlite(PathBuf::from(rest)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_string()))
        } else {
            Err("database.url must start with sqlite:// or postgres://".into())
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A description safe to print: the SQLite path, or the PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(p) => format!("SQLite at {}", p.display()),
            Backend::Postgres(url) => format!("PostgreSQL at {}", redact_password(url)),
        }
    }
}

fn redact_password(url: &str) -> String {
    // postgres://user:password@host/db -> postgres://user:…@host/db
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:…@{host}");
    }
    url.to_string()
}

/// Opens connections itself rather than through the derived `establish`, which tries every
/// backend in turn and discards the real error (a wrong password would read as a bad URL).
#[derive(Debug)]
pub struct ConnectionManager {
    backend: Backend,
    busy_timeout_ms: u32,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.backend {
            Backend::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&path)
                    .map_err(r2d2::Error::ConnectionError)?;
                // Per connection: WAL for concurrent readers, FULL so a commit survives power loss.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = FULL;
                     PRAGMA foreign_keys = ON;",
                    self.busy_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
            Backend::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(r2d2::Error::ConnectionError),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Pg(c) => diesel::r2d2::R2D2Connection::is_broken(c),
            DbConn::Sqlite(c) => diesel::r2d2::R2D2Connection::is_broken(c),
        }
    }
}

/// Opens the pool. SQLite's parent directory is created so a first run needs no set-up.
pub fn connect(
    url: &str,
    pool_size: u32,
    connect_timeout: Duration,
    busy_timeout_ms: u32,
) -> Result<(DbPool, Backend), DbError> {
    let backend = Backend::from_url(url).map_err(DbError::Unavailable)?;
    if let Backend::Sqlite(path) = &backend
        && let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    }
    let manager = ConnectionManager {
        backend: backend.clone(),
        busy_timeout_ms,
    };
    let pool = Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(1))
        .connection_timeout(connect_timeout)
        // A PostgreSQL connection whose server restarted looks healthy until used; checking it
        // on checkout (one round trip) lets the pool replace it, so the server recovers by
        // itself. A SQLite file has no such failure.
        .test_on_check_out(matches!(backend, Backend::Postgres(_)))
        .build(manager)
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    Ok((pool, backend))
}

/// A connection from the pool; waiting too long means the database is away.
pub fn checkout(pool: &DbPool) -> Result<PooledConn, DbError> {
    pool.get().map_err(|e| DbError::Unavailable(e.to_string()))
}

/// Applies pending migrations; returns the names of those applied.
pub fn migrate(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Whether every embedded migration has been applied.
pub fn migrations_current(conn: &mut DbConn) -> Result<bool, DbError> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|p| p.len()),
        DbConn::Pg(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|p| p.len()),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(pending == 0)
}

/// SQLite has one writer at a time, and its busy handler makes the others sleep and retry,
/// which under load turns into long and unfair waits. This process's writers queue here instead
/// and take the database's write lock in turn. (The busy timeout still covers other processes,
/// such as `orakel backup`.)
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// Whether this thread holds `SQLITE_WRITER` (a write inside a write must not wait for
    /// itself; SQLite refuses the nested BEGIN with an error instead).
    static HOLDS_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the thread-local `key` holding `value`, and what it held before again after
/// (a server's context for the operations it runs on a shared thread).
pub(crate) fn with_local<V: 'static, T>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<Option<V>>>,
    value: V,
    f: impl FnOnce() -> T,
) -> T {
    struct Restore<V: 'static>(
        &'static std::thread::LocalKey<std::cell::RefCell<Option<V>>>,
        Option<V>,
    );
    impl<V: 'static> Drop for Restore<V> {
        fn drop(&mut self) {
            let before = self.1.take();
            self.0.with(|c| *c.borrow_mut() = before);
        }
    }
    let before = key.with(|c| c.borrow_mut().replace(value));
    let _restore = Restore(key, before);
    f()
}

/// Whether this thread holds SQLite's write turn (is inside `write`).
pub(crate) fn holds_writer() -> bool {
    HOLDS_WRITER.with(|h| h.get())
}

struct WriterTurn(Option<std::sync::MutexGuard<'static, ()>>);

impl WriterTurn {
    fn take(conn: &DbConn) -> WriterTurn {
        if !matches!(conn, DbConn::Sqlite(_)) || HOLDS_WRITER.with(|h| h.get()) {
            return WriterTurn(None);
        }
        let guard = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
        HOLDS_WRITER.with(|h| h.set(true));
        WriterTurn(Some(guard))
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        if self.0.is_some() {
            HOLDS_WRITER.with(|h| h.set(false));
        }
    }
}

/// Whether `conn` is inside a transaction.
pub fn in_transaction(conn: &mut DbConn) -> bool {
    <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .is_ok_and(|depth| depth.is_some())
}

/// Runs `f` in a transaction that is ready to write from its first statement. On SQLite this is
/// `BEGIN IMMEDIATE`: a deferred transaction that reads first and then writes fails at once with
/// SQLITE_BUSY when another writer committed in between, whatever the busy timeout.
pub fn write<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    let _turn = WriterTurn::take(conn);
    let begun = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(_) => <DbConn as TransactionManager<DbConn>>::begin_transaction(conn),
    };
    begun.map_err(|e| E::from(DbError::from(e)))?;
    match f(conn) {
        Ok(value) => match <DbConn as TransactionManager<DbConn>>::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn);
                Err(E::from(DbError::from(e)))
            }
        },
        Err(e) => {
            let _ = <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Runs `$body` for each row of `$query` as it arrives, without holding the whole result:
/// PostgreSQL's client library would otherwise keep every row of the answer in memory until the
/// last is read, which for a round of a million answers is the largest thing a report holds.
/// For the few reads that walk that many rows; the connection takes no other query meanwhile.
macro_rules! each_row {
    ($conn:expr, $query:expr, $row:ty, |$r:pat_param| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg(pg) => {
                for row in $query.load_iter::<$row, diesel::pg::PgRowByRowLoadingMode>(pg)? {
                    let $r = row?;
                    $body;
                }
            }
            $crate::db::DbConn::Sqlite(lite) => {
                for row in $query.load_iter::<$row, diesel::connection::DefaultLoadingMode>(lite)? {
                    let $r = row?;
                    $body;
                }
            }
        }
    };
}
pub(crate) use each_row;

/// Inserts `$rows` in one statement on either backend, optionally `on_conflict_do_nothing`;
/// yields the number inserted. Many rows to a statement is typed per backend in diesel, so the
/// connection is matched here once for every caller.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr $(, $conflict:ident)?) => {
        match $conn {
            $crate::db::DbConn::Pg(pg) => diesel::insert_into($table)
                .values($rows)
                $(.$conflict())?
                .execute(pg),
            $crate::db::DbConn::Sqlite(lite) => diesel::insert_into($table)
                .values($rows)
                $(.$conflict())?
                .execute(lite),
        }
    };
}
pub(crate) use insert_rows;

/// Runs `f` in a read-only transaction, so what it reads is one consistent snapshot.
pub fn read<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    transaction(conn, f)
}

/// `f` in a transaction (a savepoint inside another), rolled back when it fails.
fn transaction<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    conn.transaction(|c| f(c).map_err(TxError::Inner))
        .map_err(|e| match e {
            TxError::Inner(e) => e,
            TxError::Db(e) => E::from(DbError::from(e)),
        })
}

/// A transaction's own error, or the database's.
pub(crate) enum TxError<E> {
    Inner(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

#[derive(QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

/// SQLite's own check of a database file: `ok`, or what is wrong.
pub fn sqlite_integrity(conn: &mut diesel::SqliteConnection) -> Result<String, DbError> {
    let rows: Vec<IntegrityRow> = diesel::sql_query("PRAGMA integrity_check").load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| r.integrity_check)
        .collect::<Vec<_>>()
        .join("; "))
}

/// Copies a SQLite database to `target` while it serves: `VACUUM INTO` reads one consistent
/// snapshot (writers carry on beside it in WAL mode), the copy is checked, synced and only
/// then given its name, so `target` is whole or absent. Returns the size in bytes.
pub fn backup_sqlite(
    source: &std::path::Path,
    target: &std::path::Path,
    busy_timeout_ms: u32,
) -> Result<u64, DbError> {
    let fail = |what: String| DbError::Unavailable(what);
    if !source.is_file() {
        return Err(fail(format!(
            "there is no database at {}",
            source.display()
        )));
    }
    if target.exists() {
        return Err(fail(format!(
            "{} exists already; name a new file (a backup never overwrites)",
            target.display()
        )));
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| fail(format!("{} is not a file name", target.display())))?;
    let tmp = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut conn = diesel::SqliteConnection::establish(&source.to_string_lossy())
            .map_err(|e| fail(e.to_string()))?;
        conn.batch_execute(&format!("PRAGMA busy_timeout = {busy_timeout_ms};"))?;
        let quoted = tmp.to_string_lossy().replace('\'', "''");
        conn.batch_execute(&format!("VACUUM INTO '{quoted}'"))?;
        let mut copy = diesel::SqliteConnection::establish(&tmp.to_string_lossy())
            .map_err(|e| fail(e.to_string()))?;
        let check = sqlite_integrity(&mut copy)?;
        if check != "ok" {
            return Err(DbError::Corrupt(format!(
                "the copy fails its check: {check}"
            )));
        }
        drop(copy);
        let file = std::fs::File::open(&tmp).map_err(|e| fail(e.to_string()))?;
        file.sync_all().map_err(|e| fail(e.to_string()))?;
        let size = file.metadata().map_err(|e| fail(e.to_string()))?.len();
        std::fs::rename(&tmp, target).map_err(|e| fail(e.to_string()))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new opaque id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Now, as stored: naive UTC with microseconds (PostgreSQL keeps no more than that).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://data/orakel.db"),
            Ok(Backend::Sqlite(PathBuf::from("data/orakel.db")))
        );
        assert_eq!(
            Backend::from_url("sqlite:///var/lib/orakel.db"),
            Ok(Backend::Sqlite(PathBuf::from("/var/lib/orakel.db")))
        );
        assert!(matches!(
            Backend::from_url("postgres://u@h/db"),
            Ok(Backend::Postgres(_))
        ));
        assert!(Backend::from_url("mysql://x").is_err());
        assert!(Backend::from_url("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_not_printed() {
        let b = Backend::from_url("postgres://orakel:s3cret@db:5432/orakel").unwrap();
        assert_eq!(
            b.describe(),
            "PostgreSQL at postgres://orakel:…@db:5432/orakel"
        );
    }
}

#[derive(QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Which database the connection reads (the SQLite file, the PostgreSQL database), so what is
/// kept in memory for one database is never served for another in the same process.
pub fn database_name(conn: &mut DbConn) -> Result<String, DbError> {
    let query = match conn {
        DbConn::Sqlite(_) => "SELECT file AS name FROM pragma_database_list WHERE name = 'main'",
        DbConn::Pg(_) => "SELECT current_database() AS name",
    };
    let row: DatabaseName = diesel::sql_query(query).get_result(conn)?;
    Ok(row.name)
}

/// How many changes have been made through any server on this database (counted on
/// PostgreSQL, where several servers may share it; see `report::cache`).
pub fn change_count(conn: &mut DbConn) -> Result<i64, DbError> {
    use schema::change_counter::dsl::*;
    Ok(change_counter.find(1).select(value).first(conn)?)
}

/// Counts one change (a request that may have changed stored data).
pub fn count_change(conn: &mut DbConn) -> Result<(), DbError> {
    use schema::change_counter::dsl::*;
    diesel::update(change_counter.find(1))
        .set(value.eq(value + 1))
        .execute(conn)?;
    Ok(())
}
