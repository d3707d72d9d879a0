//! Persistence for muster over SQLite and PostgreSQL through sqlx's `Any`
//! driver: every query is written once, with `$n` placeholders and types that
//! both backends carry (BIGINT, TEXT). A query that must differ is an explicit,
//! commented branch on [`Backend`].

mod error;
pub mod sql;
mod sqlite_busy;

pub mod api_keys;
pub mod audit;
pub mod import_uploads;
pub mod job_users;
pub mod jobs;
pub mod login_attempts;
pub mod login_rollup;
pub mod metrics;
pub mod organizations;
pub mod outbox;
pub mod passkeys;
pub mod password_resets;
pub mod password_schemes;
pub mod records;
pub mod saved_views;
pub mod second_factor;
pub mod seed;
pub mod seed_attempts;
pub mod sessions;
pub mod settings;
pub mod user_cursor;
pub mod user_export;
pub mod user_import;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

pub use error::{Error, Result};
pub use sqlx::AnyConnection as Conn;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long an unused SQLite connection stays open (see `Store::connect`).
pub const SQLITE_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a SQLite writer waits for the lock before it fails with SQLITE_BUSY.
pub(crate) const BUSY_TIMEOUT_MS: u32 = 10_000;

/// How much memory SQLite may hold in this process before it recycles page
/// cache instead of growing it: a soft limit, never a failure. Each of the
/// pool's 8 connections may cache 2 MiB of pages; a mass flip's selection at
/// 1M users filled every one (SQLite held 20 MiB at the peak RSS, against
/// 4 MiB during an import).
pub const SQLITE_SOFT_HEAP_LIMIT: i64 = 8 << 20;

/// See [`Store::let_other_writers_in`].
const SQLITE_WRITER_GAP: Duration = Duration::from_millis(25);

/// The database handle shared by every part of the server.
#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
    /// For a connection of the backend's own driver beside the pool (the
    /// export's step loop, `COPY`): sqlx's `Any` cannot hand one out.
    url: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

impl Store {
    /// Connect to `sqlite://path?mode=rwc` or `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::Config(
                "database URL must start with sqlite: or postgres:".to_owned(),
            ));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        // Each SQLite connection keeps its own page cache (up to 2 MiB), its
        // prepared statements and a copy of the schema. A burst that opens every
        // pooled connection (an export job paging through the users) left 8 × 2 MiB
        // resident for the 10 minutes sqlx keeps an idle connection (an export of
        // 27,530 rows: +15.5 MB kept). Closing a connection after 2 s unused gives it
        // back; reopening one costs a millisecond. A busy pool is unaffected, and an
        // in-memory database, which lives only while a connection does, is never closed.
        if backend == Backend::Sqlite && !url.contains(":memory:") && !url.contains("mode=memory") {
            pool = pool.idle_timeout(SQLITE_IDLE_TIMEOUT);
        }
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the one writer; the busy handler makes a
            // second writer wait instead of failing; foreign keys are off by default.
            // secure_delete zeroes what a DELETE or UPDATE frees (cells, overflow
            // pages), so an emptied mail body (a live reset link) does not stay
            // readable in the file; the WAL's old frames are dropped by the mail
            // worker's checkpoint ([`outbox::checkpoint_wal`]).
            // The busy handler polls every millisecond for up to 10 s (sqlite_busy.rs).
            // journal_size_limit: the WAL grows while readers keep SQLite from starting it
            // over (861 MB during mass flips under load at 1M users) and SQLite never shrinks
            // it by itself; then the next TRUNCATE checkpoint cut 861 MB while holding the
            // writer lock, 238 ms. With the limit, each start-over cuts it back to 64 MiB.
            sqlite_busy::register();
            // SAFETY: sets a process-wide number; any thread, any time
            unsafe { libsqlite3_sys::sqlite3_soft_heap_limit64(SQLITE_SOFT_HEAP_LIMIT) };
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA journal_size_limit = 67108864; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
                    )
                    .await?;
                    conn.execute(sqlx::AssertSqlSafe(sqlite_busy::install_sql(BUSY_TIMEOUT_MS)))
                        .await?;
                    Ok(())
                })
            });
        }
        // A transaction whose COMMIT or ROLLBACK failed (a full disk) leaves its
        // connection counted "in a transaction", and the next BEGIN on it fails.
        // Such a connection is closed, not handed to the next request. A dropped
        // transaction's rollback may still be queued (SQLite runs it on its worker
        // thread): a ping waits for it before the connection is judged.
        pool = pool.after_release(|conn, _meta| {
            Box::pin(async move {
                if conn.is_in_transaction() {
                    conn.ping().await?;
                }
                Ok(!conn.is_in_transaction())
            })
        });
        let pool = pool.connect_with(options).await?;
        Ok(Store {
            pool,
            backend,
            url: url.into(),
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        // rows older than migration 0013 get their name sort keys; a transaction per
        // batch, so an upgrade of a million users is not a million commits
        loop {
            let mut tx = self.begin().await?;
            let filled = users::fill_name_keys(&mut tx).await?;
            tx.commit().await?;
            if filled == 0 {
                return Ok(());
            }
        }
    }

    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so two writers queue in the busy handler instead
    /// of failing when a read lock would have to be upgraded.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Between two transactions of a long series (a mass action's batches, an
    /// import's rows, a mass reset job's batches): on SQLite, let go of the
    /// one writer for a moment. A writer waiting in SQLite's busy handler
    /// polls every 1–25 ms in its first 130 ms of waiting, so it finds the
    /// lock free within this gap instead of queueing behind the whole series
    /// (another process's too: the lock is the file's). PostgreSQL locks rows,
    /// not the database: nothing to wait for there.
    pub async fn let_other_writers_in(&self) {
        if self.backend == Backend::Sqlite {
            tokio::time::sleep(SQLITE_WRITER_GAP).await;
        }
    }

    /// The memory SQLite holds in this process, in bytes: its page caches
    /// (near [`SQLITE_SOFT_HEAP_LIMIT`] in all), compiled statements and schemas. None
    /// on PostgreSQL, whose memory is the server's, not ours.
    pub fn sqlite_memory_used(&self) -> Option<i64> {
        // SAFETY: a read of SQLite's allocator statistics, thread-safe in every threading mode
        (self.backend == Backend::Sqlite).then(|| unsafe { libsqlite3_sys::sqlite3_memory_used() })
    }

    /// Take no more work from now on: the pool refuses new connections, and the
    /// background loops (job and mail workers) see [`Store::is_closed`] and end
    /// without logging the errors their last step may meet.
    pub fn close_now(&self) {
        // `close` marks the pool closed when called; its future only waits for
        // the connections in use to come back, which nobody here needs
        drop(self.pool.close());
    }

    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl Backend {
    /// The backend a connection talks to.
    pub fn of(conn: &Conn) -> Backend {
        if conn.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// `true`/`false` as the 0/1 both backends store.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}
