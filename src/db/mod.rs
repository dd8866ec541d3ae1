//! The database: one enum over the SQLite and PostgreSQL pools, one set of runtime-checked
//! queries (written once where the dialects agree), and the paired migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod blobs;
pub mod catalogue;
pub mod discs;
pub mod environments;
pub mod holders;
pub mod home;
pub mod identity;
pub mod images;
pub mod leases;
pub mod media;
pub mod members;
pub mod resolve;
pub mod search;
pub mod tokens;
pub mod uploads;
pub mod usage;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds; the body is compiled once
/// per dialect, so the same query text serves both.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub use crate::on_pool;

/// A disc's first linked record's title, as an SQL expression over `discs d` (a literal, for
/// `concat!`): the title a disc is listed under wherever it has one (migration 0019 writes the
/// same expression for the discs it fills).
macro_rules! first_linked_title {
    () => {
        "(SELECT r.title FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
          WHERE l.disc_id = d.id AND l.state = 'linked' ORDER BY r.id LIMIT 1)"
    };
}
pub(crate) use first_linked_title;

/// Ids per `IN (…)` list in [`fetch_in`]: far under both dialects' bind limits (PostgreSQL's is
/// 65,535 in all), so a report or a day's rollup over any number of discs can ask for them.
const IN_CHUNK: usize = 1000;

/// The rows of `head` followed by `IN (ids)` — `head` ends with the column compared, as
/// `… WHERE d.id` — asked [`IN_CHUNK`] ids at a time.
pub(crate) async fn fetch_in<T>(db: &Db, head: &str, ids: &[i64]) -> Result<Vec<T>, DbError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<T> = on_pool!(db, pool => {
            let mut qb = sqlx::QueryBuilder::new(head);
            qb.push(" IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
            qb.build_query_as::<T>().fetch_all(pool).await?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// Begins a transaction that writes. On SQLite it takes the write lock at its start
/// (`BEGIN IMMEDIATE`), so a writer that finds another one busy waits out the busy timeout;
/// a deferred transaction whose first write comes after a read — any write to the full-text
/// table reads its index first — cannot wait and fails at once with "database is locked".
/// PostgreSQL's row locks need no such care.
pub trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send
    {
        self.begin()
    }
}

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or is restarting: a 503, not a bug.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database: {0}")]
    Query(#[source] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database schema is behind this version of Spindle (pending migrations: {0}); run `spindle migrate`"
    )]
    Behind(String),
    /// The caller asked for something that cannot exist (a malformed day, say).
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL class 57 (operator intervention: shutdown, restart), 08 (connection),
            // and 25006 (a write reached a replica not yet promoted, during a failover).
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("57") || c.starts_with("08") || c == "25006"),
            _ => false,
        };
        if unavailable {
            DbError::Unavailable(e)
        } else {
            DbError::Query(e)
        }
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// The current time as Unix seconds, the unit of every timestamp column.
pub fn now() -> i64 {
    crate::calendar::now_secs()
}

impl Db {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| DbError::Unavailable(sqlx::Error::Io(e)))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(timeout)
                .connect(url)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    pub fn dialect(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self {
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        on_pool!(self, pool => self.migrator().run(pool).await?);
        Ok(())
    }

    /// Fails with [`DbError::Behind`] when migrations this binary knows have not been applied.
    pub async fn ensure_migrated(&self) -> Result<(), DbError> {
        let applied: Result<Vec<i64>, sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
        });
        let applied = match applied {
            Ok(versions) => versions,
            // An unreachable database is reported as such; a query error means no migrations
            // table yet, so nothing is applied.
            Err(e) => match DbError::from(e) {
                unavailable @ DbError::Unavailable(_) => return Err(unavailable),
                _ => Vec::new(),
            },
        };
        let pending: Vec<String> = self
            .migrator()
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| m.version.to_string())
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(DbError::Behind(pending.join(", ")))
        }
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
