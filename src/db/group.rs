//! Group commit for SQLite. SQLite writes one transaction at a time and each commit waits for
//! the disk, so small writes that arrive together (experts' saves, one theme each) are run
//! together: the first to arrive runs every write waiting at that moment in one transaction,
//! each in its own savepoint, and commits once. Each write is answered only after the commit
//! that holds it, and one that fails is rolled back alone. PostgreSQL commits in parallel and
//! groups commits itself, so there a write is simply its own transaction.
//!
//! A group belongs to one server (one database): writes join it only inside [`within`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::{DbConn, DbError};

/// A write as the group runs it: true when it succeeded (its savepoint is kept).
type Job = Box<dyn FnOnce(&mut DbConn) -> bool + Send>;

/// One server's writes waiting to be committed together.
#[derive(Default)]
pub struct Group {
    queue: Mutex<Queue>,
    committed: Condvar,
    commits: AtomicU64,
    writes: AtomicU64,
}

#[derive(Default)]
struct Queue {
    next: u64,
    waiting: Vec<(u64, Job)>,
    /// Whether a write is running a batch now.
    leading: bool,
    /// How each finished write's transaction ended, until its writer takes it.
    ended: HashMap<u64, Result<(), String>>,
}

/// Most writes run in one transaction (a bound on how long the last of them waits).
const MOST_TOGETHER: usize = 64;

thread_local! {
    static CURRENT: RefCell<Option<Arc<Group>>> = const { RefCell::new(None) };
}

/// Runs `f` with writes through [`write_together`] joining `group`.
pub fn within<T>(group: &Arc<Group>, f: impl FnOnce() -> T) -> T {
    super::with_local(&CURRENT, group.clone(), f)
}

/// Runs `f` as a write that may share its transaction (and commit) with others waiting at the
/// same moment. `f` sees only its own changes rolled back when it fails. Inside another
/// transaction it is a savepoint of that one; outside a server's group and on PostgreSQL it is
/// [`super::write`].
pub fn write_together<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
{
    if super::in_transaction(conn) {
        return super::transaction(conn, f);
    }
    let group = CURRENT.with(|c| c.borrow().clone());
    let Some(group) = group.filter(|_| matches!(conn, DbConn::Sqlite(_)) && !super::holds_writer())
    else {
        return super::write(conn, f);
    };
    let slot: Arc<Mutex<Option<Result<T, E>>>> = Arc::new(Mutex::new(None));
    let put = slot.clone();
    let job: Job = Box::new(move |c| {
        // In a savepoint of the batch's transaction: rolled back alone when it fails.
        let result = super::transaction(c, f);
        let ok = result.is_ok();
        *put.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        ok
    });
    let ended = group.run(conn, job);
    let result = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    match (ended, result) {
        (_, Some(Err(e))) => Err(e),
        (Ok(()), Some(Ok(value))) => Ok(value),
        (Err(why), _) => Err(E::from(failed(why))),
        (Ok(()), None) => Err(E::from(failed("the write did not run".into()))),
    }
}

/// The error of a transaction that failed for all its writes, worded as the database worded it
/// (so a full disk still reads as one).
fn failed(why: String) -> DbError {
    DbError::Query(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new(why),
    ))
}

impl Group {
    /// Queues `job` and returns once a transaction holding it has ended: leads a batch itself
    /// when no other write is leading one.
    fn run(&self, conn: &mut DbConn, job: Job) -> Result<(), String> {
        let mut q = self.lock();
        let id = q.next;
        q.next += 1;
        q.waiting.push((id, job));
        loop {
            if let Some(ended) = q.ended.remove(&id) {
                return ended;
            }
            if q.leading {
                q = self.committed.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            q.leading = true;
            drop(q);
            let mut leading = Leading {
                group: self,
                ids: Vec::new(),
                ended: None,
            };
            // The batch is taken once the database's write turn is ours: the writes that
            // arrived while it was waiting for the turn go in too.
            let ended = super::write(conn, |c| {
                let batch: Vec<(u64, Job)> = {
                    let mut q = self.lock();
                    let n = q.waiting.len().min(MOST_TOGETHER);
                    q.waiting.drain(..n).collect()
                };
                leading.ids = batch.iter().map(|(id, _)| *id).collect();
                let n = batch.len() as u64;
                for (_, job) in batch {
                    job(c);
                }
                Ok::<u64, DbError>(n)
            });
            if let Ok(n) = ended {
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.writes.fetch_add(n, Ordering::Relaxed);
            } else if leading.ids.is_empty() {
                // The transaction did not even begin: the writes waiting hear why.
                let mut q = self.lock();
                let n = q.waiting.len().min(MOST_TOGETHER);
                leading.ids = q.waiting.drain(..n).map(|(id, _)| id).collect();
            }
            leading.ended = Some(ended.map(|_| ()).map_err(|e| e.to_string()));
            drop(leading);
            q = self.lock();
        }
    }

    /// Transactions committed so far (each holding one or more writes).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Writes committed so far through the group (succeeded or rolled back alone).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Writes waiting for a transaction now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A batch being run: however it ends (a panic included), its writers hear of it and another
/// write may lead.
struct Leading<'a> {
    group: &'a Group,
    ids: Vec<u64>,
    ended: Option<Result<(), String>>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let ended = self
            .ended
            .take()
            .unwrap_or_else(|| Err("a write in the same transaction failed".into()));
        let mut q = self.group.lock();
        for id in &self.ids {
            q.ended.insert(*id, ended.clone());
        }
        q.leading = false;
        self.group.committed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    fn rows(conn: &mut DbConn) -> i64 {
        diesel::sql_query("SELECT COUNT(*) AS n FROM saved")
            .get_result::<Count>(conn)
            .unwrap()
            .n
    }

    /// Writes that wait while the database is busy are committed in one transaction; the one
    /// that fails is rolled back alone and hears its own error, the others their success.
    #[test]
    fn writes_waiting_together_share_one_commit_and_fail_alone() {
        let dir = std::env::temp_dir().join(format!("orakel-group-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("g.db").display());
        let (pool, _) =
            crate::db::connect(&url, 20, Duration::from_secs(5), 5000).expect("sqlite pool");
        pool.get()
            .unwrap()
            .batch_execute("CREATE TABLE saved (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
            .unwrap();
        let group = Arc::new(Group::default());
        // Another write holds the database's write turn while sixteen writes arrive.
        let (hold, release) = mpsc::channel::<()>();
        let (held, is_held) = mpsc::channel::<()>();
        let holder = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut c = pool.get().unwrap();
                crate::db::write(&mut c, |_| {
                    held.send(()).unwrap();
                    release.recv().unwrap();
                    Ok::<(), DbError>(())
                })
                .unwrap();
            })
        };
        is_held.recv().unwrap();
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let (pool, group) = (pool.clone(), group.clone());
                std::thread::spawn(move || {
                    let mut c = pool.get().unwrap();
                    within(&group, || {
                        write_together(&mut c, move |c| {
                            diesel::sql_query(format!("INSERT INTO saved (v) VALUES ({i})"))
                                .execute(c)?;
                            if i == 7 {
                                return Err(DbError::Corrupt("seven is refused".into()));
                            }
                            Ok(i)
                        })
                    })
                })
            })
            .collect();
        let started = Instant::now();
        // The first to arrive waits for the write turn, the others behind it.
        while group.waiting() < 16 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(group.waiting(), 16, "every write is waiting");
        hold.send(()).unwrap();
        holder.join().unwrap();
        let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i),
                Err(e) => {
                    assert_eq!(i, 7);
                    assert!(e.to_string().contains("seven is refused"), "{e}");
                }
            }
        }
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(group.commits(), 1, "one transaction for all sixteen");
        assert_eq!(group.writes(), 16);
        let mut c = pool.get().unwrap();
        assert_eq!(rows(&mut c), 15, "the refused write left nothing");
        // Outside a server's group a write is its own transaction, as before.
        write_together(&mut c, |c| {
            diesel::sql_query("INSERT INTO saved (v) VALUES (99)").execute(c)?;
            Ok::<(), DbError>(())
        })
        .unwrap();
        assert_eq!(rows(&mut c), 16);
        assert_eq!(group.commits(), 1);
        // Inside another transaction it joins that one, whatever the group.
        assert!(!crate::db::in_transaction(&mut c));
        crate::db::write(&mut c, |c| {
            assert!(crate::db::in_transaction(c));
            within(&group, || {
                write_together(c, |c| {
                    diesel::sql_query("INSERT INTO saved (v) VALUES (100)").execute(c)?;
                    Ok::<(), DbError>(())
                })
            })
        })
        .unwrap();
        assert_eq!(rows(&mut c), 17);
        assert_eq!(group.commits(), 1);
        drop(c);
        drop(pool);
        let _ = std::fs::remove_dir_all(dir);
    }
}
