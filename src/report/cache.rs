//! Finished reports of closed rounds, kept in memory so a second view costs a copy instead of
//! a computation, and a bound on how many reports are computed at once.
//!
//! A closed round's answers no longer change, but its report still can: a release of a small
//! cell, an amendment, a cleared comment, a settings change, an erasure. Rather than name every
//! such event, every request that may change something (any method but GET, HEAD and OPTIONS,
//! apart from an expert's answers in an open round) empties the cache once it is done, and so
//! do the background jobs that change stored data. An entry is also dropped after
//! [`MAX_AGE`], so a change made beside the server (the command line on the same database)
//! reaches the report within that time.
//!
//! Several servers may share one PostgreSQL database: there each such request also counts a
//! change in the database (`db::count_change`), and a report is only found under the count it
//! was read at, so a change made through another server is seen at once too.
//!
//! A report only enters the cache if nothing was emptied while it was being computed: a report
//! computed from the data before a change never outlives the change.
//!
//! Computing a report and writing one of its files (a PDF above all) are the largest things the
//! server does; at most [`AT_ONCE`] of them run at a time, the rest wait, and the memory each
//! used is handed back to the system when it is done (`crate::memory`), so eight readers at
//! once cost about what two do.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::{Audience, File, Options, Report};
use crate::ops::AppResult;

/// How long an entry is served at most.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// At most this many reports are kept, and files up to this many bytes in all.
const MAX_REPORTS: usize = 64;
const MAX_FILE_BYTES: usize = 96 * 1024 * 1024;
/// Reports computed or files written at the same time, across studies: each can hold a round's
/// answers or a typeset document, so parallel requests wait here rather than multiply the
/// server's memory.
const AT_ONCE: usize = 2;

/// Which report: the database, the study, its round, the reader and their choices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// The database (`db::database_name`): each is emptied on its own, so two servers in one
    /// process (tests) keep apart.
    database: String,
    /// The database's count of changes through any server when the report was read
    /// (`db::change_count`): a report read before another server's change is never found.
    changes: i64,
    report: String,
}

impl Key {
    pub fn new(
        database: &str,
        changes: i64,
        study_id: &str,
        round: i32,
        opts: &Options,
        audience: Audience,
    ) -> Key {
        Key {
            database: database.to_string(),
            changes,
            report: format!(
                "{study_id}|{round}|{audience:?}|{:?}|{:?}|{:?}",
                opts.language.map(|l| l.code()),
                opts.columns,
                opts.rows
            ),
        }
    }
}

struct Entry<T> {
    value: Arc<T>,
    at: Instant,
}

#[derive(Default)]
struct Store {
    reports: HashMap<Key, Entry<Report>>,
    report_order: VecDeque<Key>,
    files: HashMap<(Key, String), Entry<File>>,
    file_order: VecDeque<(Key, String)>,
    file_bytes: usize,
    /// The reports being computed now, by key.
    building: Vec<Key>,
    /// Reports being computed and files being written now.
    busy: usize,
    /// Per database, bumped by every emptying: an entry computed across a bump is not kept.
    generations: HashMap<String, u64>,
}

struct Cache {
    store: Mutex<Store>,
    changed: Condvar,
}

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Cache {
        store: Mutex::new(Store::default()),
        changed: Condvar::new(),
    })
}

fn lock() -> MutexGuard<'static, Store> {
    // A panic while holding the lock leaves only a cache: carry on with what is in it.
    cache()
        .store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fresh<T>(e: &Entry<T>) -> bool {
    e.at.elapsed() < MAX_AGE
}

impl Store {
    fn generation(&self, database: &str) -> u64 {
        self.generations.get(database).copied().unwrap_or(0)
    }
}

/// Forgets every kept report and file of a database (something in it may have changed).
pub fn invalidate(database: &str) {
    let mut s = lock();
    *s.generations.entry(database.to_string()).or_insert(0) += 1;
    s.reports.retain(|k, _| k.database != database);
    s.report_order.retain(|k| k.database != database);
    let mut freed = 0;
    s.files.retain(|(k, _), e| {
        let keep = k.database != database;
        if !keep {
            freed += e.value.body.len();
        }
        keep
    });
    s.file_order.retain(|(k, _)| k.database != database);
    s.file_bytes -= freed;
}

/// One of the [`AT_ONCE`] turns at heavy work, held until dropped; the memory the work used
/// is then handed back.
struct Turn<'a>(Option<&'a Key>);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut s = lock();
        s.busy -= 1;
        if let Some(key) = self.0 {
            s.building.retain(|k| k != key);
        }
        drop(s);
        cache().changed.notify_all();
        crate::memory::give_back();
    }
}

fn wait(s: MutexGuard<'static, Store>) -> MutexGuard<'static, Store> {
    cache()
        .changed
        .wait(s)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `work` in one of the [`AT_ONCE`] turns (after waiting for one): a report's file, or a
/// report that is not kept.
pub fn in_turn<T>(work: impl FnOnce() -> T) -> T {
    let mut s = lock();
    while s.busy >= AT_ONCE {
        s = wait(s);
    }
    s.busy += 1;
    drop(s);
    let _turn = Turn(None);
    work()
}

/// The report under `key`: the kept one, or one computed by `build` (after waiting while the
/// same report is being computed, or for a turn) and kept if `keep`.
pub fn report(
    key: Key,
    keep: bool,
    build: impl FnOnce() -> AppResult<Report>,
) -> AppResult<Arc<Report>> {
    let mut s = lock();
    loop {
        if let Some(e) = s.reports.get(&key).filter(|e| keep && fresh(e)) {
            return Ok(e.value.clone());
        }
        if !s.building.contains(&key) && s.busy < AT_ONCE {
            break;
        }
        s = wait(s);
    }
    s.building.push(key.clone());
    s.busy += 1;
    let generation = s.generation(&key.database);
    drop(s);
    // Whatever happens in `build`, the turn is let go and the waiting are woken.
    let turn = Turn(Some(&key));
    let built = Arc::new(build()?);
    let mut s = lock();
    if keep && s.generation(&key.database) == generation {
        if s.reports.remove(&key).is_some() {
            s.report_order.retain(|k| k != &key);
        }
        while s.report_order.len() >= MAX_REPORTS {
            if let Some(old) = s.report_order.pop_front() {
                s.reports.remove(&old);
            }
        }
        s.reports.insert(
            key.clone(),
            Entry {
                value: built.clone(),
                at: Instant::now(),
            },
        );
        s.report_order.push_back(key.clone());
    }
    drop(s);
    drop(turn);
    Ok(built)
}

/// A file of a kept report (`variant` says which format and choices): the kept file or the
/// one `make` writes.
pub fn file(key: &Key, variant: String, make: impl FnOnce() -> AppResult<File>) -> AppResult<File> {
    let id = (key.clone(), variant);
    let generation = {
        let s = lock();
        if let Some(e) = s.files.get(&id).filter(|e| fresh(e)) {
            return Ok(File::clone(&e.value));
        }
        s.generation(&key.database)
    };
    let made = in_turn(make)?;
    let size = made.body.len();
    let mut s = lock();
    if s.generation(&key.database) == generation && size <= MAX_FILE_BYTES / 4 {
        if let Some(old) = s.files.remove(&id) {
            s.file_bytes -= old.value.body.len();
            s.file_order.retain(|k| k != &id);
        }
        while s.file_bytes + size > MAX_FILE_BYTES {
            let Some(old) = s.file_order.pop_front() else {
                break;
            };
            if let Some(e) = s.files.remove(&old) {
                s.file_bytes -= e.value.body.len();
            }
        }
        s.file_bytes += size;
        s.files.insert(
            id.clone(),
            Entry {
                value: Arc::new(made.clone()),
                at: Instant::now(),
            },
        );
        s.file_order.push_back(id);
    }
    Ok(made)
}

/// How many reports and files are kept, and the files' bytes (for tests and metrics).
pub fn size() -> (usize, usize, usize) {
    let s = lock();
    (s.reports.len(), s.files.len(), s.file_bytes)
}
