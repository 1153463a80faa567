//! Records of use that nobody needs durably at once: when an expert first opened a round, when a
//! personal link was last used. A server keeps them in memory for a moment and one thread writes
//! them together, so opening a page never waits for a durable write (on SQLite, behind every
//! expert's save). Whoever reads them (a round's progress, what is left to do) first lets the
//! thread write what is waiting, so researchers see them as soon as they happened.
//!
//! Outside a server (the command line, tests of `ops`) and on PostgreSQL a record is written at
//! once, as part of the request.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::AppResult;
use crate::db::schema::{participation_tokens, round_participations};
use crate::db::{self, DbConn, DbPool};

/// One record of use.
#[derive(Debug)]
pub enum Record {
    /// A personal link was used at `at`.
    LinkUsed { token_id: String, at: NaiveDateTime },
    /// A panellist opened a round for the first time at `at`.
    RoundOpened {
        round_id: String,
        panellist_id: String,
        at: NaiveDateTime,
    },
}

impl Record {
    /// Writes the record. Both only move forward: a link's last use never goes back in time
    /// and a round's first view is never replaced, so writing late or twice changes nothing.
    fn write(&self, conn: &mut DbConn) -> QueryResult<usize> {
        match self {
            Record::LinkUsed { token_id, at } => diesel::update(
                participation_tokens::table.find(token_id).filter(
                    participation_tokens::last_used_at
                        .is_null()
                        .or(participation_tokens::last_used_at.lt(at)),
                ),
            )
            .set(participation_tokens::last_used_at.eq(at))
            .execute(conn),
            Record::RoundOpened {
                round_id,
                panellist_id,
                at,
            } => diesel::update(
                round_participations::table
                    .find((round_id, panellist_id))
                    .filter(round_participations::first_opened_at.is_null()),
            )
            .set(round_participations::first_opened_at.eq(at))
            .execute(conn),
        }
    }
}

/// How long a reader waits for the records before it reads without them.
const SETTLE_LIMIT: Duration = Duration::from_secs(2);
/// Records held while the database cannot take them; beyond this the oldest are let go (they
/// are only records of use, and memory must not grow without bound).
const MOST_WAITING: usize = 100_000;

/// A server's records waiting to be written, and the thread that writes them.
pub struct Ledger {
    state: Mutex<Waiting>,
    changed: Condvar,
    pool: DbPool,
}

#[derive(Default)]
struct Waiting {
    records: Vec<Record>,
    /// Records ever added, and of those written (or let go): a reader waits until `done`
    /// reaches what `added` was when it asked.
    added: u64,
    done: u64,
}

impl Ledger {
    /// A ledger writing to `pool`, with its writing thread. The thread ends by itself once the
    /// ledger is dropped, after writing what was still waiting.
    pub fn start(pool: DbPool) -> Arc<Ledger> {
        let ledger = Arc::new(Ledger {
            state: Mutex::new(Waiting::default()),
            changed: Condvar::new(),
            pool,
        });
        let weak = Arc::downgrade(&ledger);
        std::thread::Builder::new()
            .name("orakel-records".into())
            .spawn(move || write_while_wanted(weak))
            .expect("starting the records thread");
        ledger
    }

    fn add(&self, record: Record) {
        let mut w = self.lock();
        if w.records.len() >= MOST_WAITING {
            w.records.remove(0);
            w.done += 1;
        }
        w.records.push(record);
        w.added += 1;
        self.changed.notify_all();
    }

    /// Waits until every record added before now is written, at most `limit`.
    fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut w = self.lock();
        let wanted = w.added;
        while w.done < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("records of use were not written in time; reading without them");
                return;
            }
            w = self
                .changed
                .wait_timeout(w, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Writes what is waiting now (the writing thread, and a server that stops).
    pub fn write_waiting(&self) {
        let (batch, upto) = {
            let mut w = self.lock();
            (std::mem::take(&mut w.records), w.added)
        };
        if batch.is_empty() {
            return;
        }
        match self.write(&batch) {
            Ok(()) => {}
            Err(super::AppError::Unavailable(m)) if m == super::NO_SPACE => {
                tracing::warn!(
                    records = batch.len(),
                    "records of use were not kept: the disk is full"
                );
            }
            Err(e) => {
                // The database is away: keep them for the next turn, in their order.
                tracing::warn!(error = %e, records = batch.len(), "records of use wait for the database");
                let mut w = self.lock();
                let newer = std::mem::replace(&mut w.records, batch);
                w.records.extend(newer);
                let over = w.records.len().saturating_sub(MOST_WAITING);
                w.records.drain(..over);
                w.done += over as u64;
                return;
            }
        }
        let mut w = self.lock();
        w.done = w.done.max(upto.min(w.added));
        self.changed.notify_all();
    }

    fn write(&self, batch: &[Record]) -> AppResult<()> {
        let mut conn = db::checkout(&self.pool)?;
        db::write(&mut conn, |c| {
            for r in batch {
                super::bookkeeping(r.write(c))?;
            }
            Ok(())
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writing thread: waits for records, writes each batch in one transaction. While a batch
/// is written the next one gathers, so the busier the server the more each write carries.
fn write_while_wanted(ledger: Weak<Ledger>) {
    loop {
        let Some(l) = ledger.upgrade() else { return };
        {
            let w = l.lock();
            if w.records.is_empty() {
                // Wakes now and then to notice that the server has gone.
                let (w, _) = l
                    .changed
                    .wait_timeout(w, Duration::from_millis(500))
                    .unwrap_or_else(|p| p.into_inner());
                if w.records.is_empty() {
                    continue;
                }
            }
        }
        let before = l.lock().added;
        l.write_waiting();
        let stuck = l.lock().done < before;
        drop(l);
        if stuck {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

thread_local! {
    /// The ledger of the server whose request this thread is serving.
    static CURRENT: RefCell<Option<Arc<Ledger>>> = const { RefCell::new(None) };
}

/// Runs `f` with records going to `ledger` (a server's database operations run in this).
pub fn within<T>(ledger: &Arc<Ledger>, f: impl FnOnce() -> T) -> T {
    db::with_local(&CURRENT, ledger.clone(), f)
}

/// Keeps a record: in the server's ledger on SQLite, or written at once. PostgreSQL's writers
/// do not queue behind one another, and a record written beside the request's own transaction
/// would contend with it for the same rows (a link's row is also what consent updates), so
/// there it is written at once, as part of the request.
pub fn keep(conn: &mut DbConn, record: Record) -> AppResult<()> {
    let ledger = CURRENT
        .with(|c| c.borrow().clone())
        .filter(|_| matches!(conn, DbConn::Sqlite(_)));
    match ledger {
        Some(ledger) => {
            ledger.add(record);
            Ok(())
        }
        None => super::bookkeeping(record.write(conn)),
    }
}

/// Before reading records of use: lets the ledger write what is waiting. Not inside a
/// transaction, which would not see what the ledger writes, and whose locks the ledger's thread
/// might wait for.
pub fn settle(conn: &mut DbConn) {
    if db::in_transaction(conn) {
        return;
    }
    if let Some(ledger) = CURRENT.with(|c| c.borrow().clone()) {
        ledger.settle(SETTLE_LIMIT);
    }
}
