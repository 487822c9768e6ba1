//! Headroom's state in one SQLite file: what must survive a restart.
//!
//! The history already fetched ([`history`], so a cycle asks the source only for what is
//! new), forecasts kept for scoring and their scores ([`accuracy`]), the outbox of messages to deliver ([`outbox`]), the last recommendation sent per entity
//! (so a webhook fires on a change, never twice for the same state: [`risks`]), and the weekly
//! reports already built (sent exactly once per period, and the baseline for "what changed
//! since last week").
//!
//! Why SQLite (ADR 0005): one file, transactions that make "enqueue the message and remember
//! the state" atomic, and no server to run next to the daemon. The schema is versioned with
//! `PRAGMA user_version` and migrated forward on open; a file from a newer Headroom is refused
//! rather than guessed at.
//!
//! Calls are short and synchronous; the connection sits behind a mutex. Async callers use
//! [`Store::call`], which runs them on tokio's blocking pool.

pub mod accuracy;
pub mod history;
pub mod lock;
pub mod outbox;
pub mod reports;
pub mod risks;
pub mod scraped;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the state file {path}: {source}; check that its directory exists and is writable ([store] path)"
    )]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the state file {path} has schema version {found}, newer than this Headroom knows ({known}); use a newer Headroom or another [store] path"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("state file {path}: {source}")]
    Sql { path: PathBuf, source: rusqlite::Error },
    #[error("state store task failed: {0}")]
    Task(String),
    #[error(
        "the state file {path} is in use by another Headroom ({holder}, per {lock}): two daemons on one state file would deliver every message twice; stop the other one, or give this one its own [store] path"
    )]
    InUse {
        path: PathBuf,
        lock: PathBuf,
        holder: String,
    },
    #[error("cannot lock the state file with {path}: {source}; check that its directory is writable")]
    Lock { path: PathBuf, source: std::io::Error },
}

/// Schema migrations, in order; migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the delivery outbox, the risks last notified, and the weekly reports built.
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        dedupe_key TEXT NOT NULL UNIQUE,
        envelope TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
        last_error TEXT,
        finished_at REAL
     );
     CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
     CREATE TABLE risks (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        entity TEXT NOT NULL,
        urgency TEXT NOT NULL,
        likely REAL,
        earliest REAL,
        order_by REAL,
        updated_at REAL NOT NULL
     );
     CREATE TABLE reports (
        period TEXT PRIMARY KEY,
        built_at REAL NOT NULL,
        snapshot TEXT NOT NULL
     );",
    // 2: cached history, so that a cycle only fetches what is new.
    "CREATE TABLE history (
        query_key TEXT NOT NULL,
        labels TEXT NOT NULL,
        start REAL NOT NULL,
        step REAL NOT NULL,
        vals BLOB NOT NULL,
        PRIMARY KEY (query_key, labels)
     ) WITHOUT ROWID;
     CREATE TABLE fetches (
        query_key TEXT PRIMARY KEY,
        step REAL NOT NULL,
        covered_from REAL NOT NULL,
        covered_to REAL NOT NULL,
        updated_at REAL NOT NULL
     );",
    // 3: forecasts kept for scoring, and their scores.
    "CREATE TABLE forecast_snapshots (
        model TEXT NOT NULL,
        entity TEXT NOT NULL,
        made_at REAL NOT NULL,
        scale REAL NOT NULL,
        path BLOB NOT NULL,
        PRIMARY KEY (model, entity, made_at)
     ) WITHOUT ROWID;
     CREATE TABLE forecast_scores (
        model TEXT NOT NULL,
        entity TEXT NOT NULL,
        made_at REAL NOT NULL,
        checkpoint TEXT NOT NULL,
        mase REAL NOT NULL,
        coverage_80 REAL NOT NULL,
        coverage_95 REAL NOT NULL,
        points INTEGER NOT NULL,
        predicted REAL NOT NULL,
        actual REAL NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (model, entity, made_at, checkpoint)
     ) WITHOUT ROWID;",
    // 4: samples scraped by Headroom itself (the scrape source, for sites without Prometheus).
    "CREATE TABLE scraped (
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        ts REAL NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (name, labels, ts)
     ) WITHOUT ROWID;
     CREATE INDEX scraped_time ON scraped (ts);",
    // 5: whether a period's report went out with every model planned, or incomplete (to be
    // followed by a corrected one).
    "ALTER TABLE reports ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;",
];

/// The open state file.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// The daemon's exclusive hold on the file ([`Store::open_exclusive`]).
    _lock: Option<lock::Lock>,
}

impl Store {
    /// Opens (creating if needed) the state file at `path` and migrates it to this version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let connection = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::with_connection(path.to_path_buf(), connection)
    }

    /// [`Store::open`] for the daemon: first takes the state file's lock, so a second daemon
    /// on the same file is refused with the other's process id (before either migrates or
    /// delivers anything); the lock is held as long as the store lives.
    pub fn open_exclusive(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let held = lock::acquire(path)?;
        let store = Store::open(path)?;
        let inner = Arc::try_unwrap(store.inner).map_err(|_| StoreError::Task("the store is shared already".into()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                _lock: Some(held),
                ..inner
            }),
        })
    }

    /// A store that lives in memory only (for `once`, `demo` and tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let connection = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Store::with_connection(path, connection)
    }

    fn with_connection(path: PathBuf, mut connection: Connection) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        configure(&connection).map_err(sql)?;
        let known = MIGRATIONS.len() as i64;
        loop {
            // The version is read inside a write transaction: two processes opening a fresh
            // file at once take turns, and the second finds the first's migration done.
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql)?;
            let found: i64 = transaction
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(sql)?;
            if found > known {
                return Err(StoreError::TooNew { path, found, known });
            }
            let Some(migration) = MIGRATIONS.get(found as usize) else {
                break;
            };
            let version = found as usize;
            transaction.execute_batch(migration).map_err(sql)?;
            transaction
                .execute_batch(&format!("PRAGMA user_version = {}", version + 1))
                .map_err(sql)?;
            transaction.commit().map_err(sql)?;
            tracing::info!(path = %path.display(), version = version + 1, "state file migrated");
        }
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                connection: Mutex::new(connection),
                _lock: None,
            }),
        })
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version this Headroom writes.
    pub fn schema_version() -> i64 {
        MIGRATIONS.len() as i64
    }

    /// Size of the state file in bytes (0 in memory).
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.inner.path.display()));
        [self.inner.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Puts the state file back if it was deleted while open (by hand, or by a cleanup job):
    /// the open connection still holds everything committed, so it is copied to the path and
    /// reopened there. Returns whether the file had to be restored.
    pub fn ensure_file(&self) -> Result<bool, StoreError> {
        let path = &self.inner.path;
        if path.as_os_str() == ":memory:" || path.exists() {
            return Ok(false);
        }
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let mut connection = self.lock();
        if path.exists() {
            return Ok(false);
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        // The unlinked database is read-only now (SQLITE_READONLY_DBMOVED) but readable,
        // WAL included, through the open descriptors: copy it to the path.
        connection
            .execute("VACUUM INTO ?1", [path.to_string_lossy()])
            .map_err(sql)?;
        // -wal/-shm names left behind belong to the old database; the new file must not
        // recover them. The old connection keeps its own descriptors.
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let reopened = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        configure(&reopened).map_err(sql)?;
        let old = std::mem::replace(&mut *connection, reopened);
        // Never close the old connection: on close SQLite would checkpoint and unlink
        // `<path>-wal` by name, which is now the new file's WAL. This leaks one connection per
        // deletion of the state file, a rare, operator-made event.
        std::mem::forget(old);
        Ok(true)
    }

    /// Runs `work` with the connection, on the calling thread.
    pub fn with<T>(&self, work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let mut connection = self.lock();
        work(&mut connection).map_err(|source| StoreError::Sql {
            path: self.inner.path.clone(),
            source,
        })
    }

    /// Runs `work` with the connection on tokio's blocking pool.
    pub async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with(work))
            .await
            .map_err(|error| StoreError::Task(error.to_string()))?
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        match self.inner.connection.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Sets a connection up: WAL (readers never wait for the writer) and NORMAL sync (durable
/// across a process crash, which is what SIGKILL is: the failure that matters for the outbox).
/// Switching a fresh file to WAL needs it alone and does not wait for a busy file, so that is
/// retried for as long as the busy timeout.
fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch("PRAGMA busy_timeout = 5000;")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if matches!(
                    error.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_migrated_and_reopens_at_the_same_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join("headroom.db");
        Store::open(&path).expect("first open");
        let store = Store::open(&path).expect("second open");
        let version: i64 = store
            .with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .expect("version");
        assert_eq!(version, Store::schema_version());
        assert!(store.size_bytes() > 0);
    }

    #[test]
    fn a_deleted_file_is_restored_with_everything_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("headroom.db");
        let store = Store::open(&path).expect("open");
        let message = outbox::NewMessage {
            channel: "email".into(),
            dedupe_key: "report-2026-W48".into(),
            envelope: "{}".into(),
            body: b"hello".to_vec(),
        };
        store.enqueue(&message, 1.0).expect("enqueue");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        assert!(store.ensure_file().expect("restore"));
        assert!(path.exists());
        assert!(!store.ensure_file().expect("nothing to do"));
        // Written before the deletion, and still there for a fresh process.
        let reopened = Store::open(&path).expect("reopen");
        assert_eq!(reopened.due(2.0, 10).expect("due")[0].body, b"hello");
        // And the restored store keeps working.
        store.mark_delivered(1, 3.0).expect("write after restore");
        assert_eq!(
            Store::open(&path)
                .expect("reopen")
                .message_state("report-2026-W48")
                .expect("state")
                .as_deref(),
            Some("delivered")
        );
    }

    #[test]
    fn processes_opening_a_fresh_file_at_once_take_turns_in_the_migrations() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("fresh.db");
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || Store::open(&path).map(|_| ()).map_err(|e| e.to_string()))
                })
                .collect();
            for opener in openers {
                opener.join().expect("thread").expect("every open succeeds");
            }
            let version: i64 = Store::open(&path)
                .expect("open")
                .with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
                .expect("version");
            assert_eq!(version, Store::schema_version());
        }
    }

    #[test]
    fn the_size_counts_the_write_ahead_log_whatever_the_file_is_called() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite");
        let store = Store::open(&path).expect("open");
        let message = outbox::NewMessage {
            channel: "email".into(),
            dedupe_key: "k".into(),
            envelope: "{}".into(),
            body: vec![7; 64 * 1024],
        };
        store.enqueue(&message, 1.0).expect("enqueue");
        let main = std::fs::metadata(&path).expect("file").len();
        let wal = std::fs::metadata(dir.path().join("state.sqlite-wal"))
            .expect("wal")
            .len();
        assert!(wal > 0);
        assert_eq!(store.size_bytes(), main + wal);
    }

    #[test]
    fn a_file_from_a_newer_headroom_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("headroom.db");
        {
            let connection = Connection::open(&path).expect("open");
            connection.execute_batch("PRAGMA user_version = 99").expect("set");
        }
        let error = Store::open(&path).expect_err("newer schema");
        assert!(error.to_string().contains("schema version 99"), "{error}");
    }
}
