//! The database: SQLite (embedded) or PostgreSQL (fleet) behind one pool and one set of
//! queries (`$1` placeholders, `TEXT`/`BIGINT` columns, times as Unix milliseconds), migrated
//! at start.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;
use sqlx::pool::PoolOptions;

use crate::error::WebError;

/// The schema, in order; each entry runs once (recorded in `audioproc_migrations`).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
    ),
    (
        2,
        "CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )",
    ),
    (
        3,
        "CREATE TABLE tokens (
            hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at BIGINT NOT NULL
        )",
    ),
    (
        4,
        "CREATE TABLE tracks (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            filename TEXT NOT NULL,
            size BIGINT NOT NULL,
            content_type TEXT NOT NULL,
            spec TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            input_key TEXT NOT NULL,
            output_key TEXT NOT NULL,
            report TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            lease_owner TEXT,
            lease_until BIGINT,
            attempts BIGINT NOT NULL DEFAULT 0,
            idempotency_key TEXT,
            request_hash TEXT,
            UNIQUE (user_id, idempotency_key)
        )",
    ),
    (5, "CREATE INDEX tracks_by_user ON tracks (user_id, created_at, id)"),
    (6, "CREATE INDEX tracks_by_status ON tracks (status, updated_at)"),
    (7, "CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)"),
    (8, "CREATE TABLE login_failures (email TEXT NOT NULL, at BIGINT NOT NULL)"),
    (9, "CREATE INDEX login_failures_by_email ON login_failures (email, at)"),
    // S3 multipart uploads sent by the client: the upload id and the part size it was planned with.
    (10, "ALTER TABLE tracks ADD COLUMN upload_id TEXT"),
    (11, "ALTER TABLE tracks ADD COLUMN part_size BIGINT"),
    // `--process external`: when the reconciler last looked for the track's result.
    (12, "ALTER TABLE tracks ADD COLUMN checked_at BIGINT"),
];

/// Key of the PostgreSQL advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x6175_6469_6f70;

/// Which server the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (one file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The pool and its dialect.
#[derive(Debug, Clone)]
pub struct Db {
    /// Connections.
    pub pool: AnyPool,
    /// The server.
    pub dialect: Dialect,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and runs the migrations.
    ///
    /// # Errors
    /// An unknown scheme, a connection or migration failure.
    pub async fn open(url: &str) -> Result<Db, WebError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(WebError::Config(format!("database URL {url:?}: expected sqlite:// or postgres://")));
        };
        // One writer at a time is all SQLite allows; PostgreSQL serves the fleet.
        let (max, wait) = if dialect == Dialect::Sqlite { (1, 10) } else { (16, 3) };
        // A request waits a few seconds at most for a connection: while PostgreSQL restarts,
        // the answer is a quick 503 to retry, not a hang (SQLite's one connection is shared by
        // every request, so it waits longer). Connections are checked before use and
        // made again as needed, so the pool recovers by itself.
        let pool = PoolOptions::<sqlx::Any>::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(wait))
            .test_before_acquire(true)
            .connect(url)
            .await?;
        let db = Db { pool, dialect };
        db.migrate().await?;
        Ok(db)
    }

    /// Runs the migrations not yet recorded, under an advisory lock on PostgreSQL (so that N
    /// instances starting at once migrate once).
    async fn migrate(&self) -> Result<(), WebError> {
        let mut conn = self.pool.acquire().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        let result = async {
            sqlx::query("CREATE TABLE IF NOT EXISTS audioproc_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
                .execute(&mut *conn)
                .await?;
            for (version, sql) in MIGRATIONS {
                let done = sqlx::query("SELECT version FROM audioproc_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_some();
                if !done {
                    sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(&mut *conn).await?;
                    sqlx::query("INSERT INTO audioproc_migrations (version, applied_at) VALUES ($1, $2)")
                        .bind(*version)
                        .bind(now_ms())
                        .execute(&mut *conn)
                        .await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        Ok(result?)
    }

    /// The secret called `name`, shared by every instance: made (random, 256 bits) by the first
    /// to ask.
    ///
    /// # Errors
    /// The database failed.
    pub async fn secret(&self, name: &str) -> Result<String, sqlx::Error> {
        sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(crate::accounts::new_secret())
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM secrets WHERE name = $1").bind(name).fetch_one(&self.pool).await?;
        sqlx::Row::try_get(&row, 0)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
