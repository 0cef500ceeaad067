//! Tracks: one uploaded file and its processing, owned by one user.
//!
//! Every read and write names the owner (`WHERE id = $1 AND user_id = $2`), so another user's
//! id is simply not found. The processing queue is the same table: a worker claims the oldest
//! `queued` track (or a `processing` one whose lease ran out: its holder died) with a lease it
//! renews while it works, and only the lease holder may finish it.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Db, Dialect, now_ms};
use crate::spec::TrackSpec;

/// Where a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created; the file is being uploaded.
    Uploading,
    /// Uploaded and checked; waiting for a worker.
    Queued,
    /// A worker holds it.
    Processing,
    /// The output and its report are there.
    Done,
    /// It cannot be processed (`error` says why).
    Failed,
}

impl Status {
    /// Its name in the database and the API.
    pub fn name(self) -> &'static str {
        match self {
            Status::Uploading => "uploading",
            Status::Queued => "queued",
            Status::Processing => "processing",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "uploading" => Status::Uploading,
            "queued" => Status::Queued,
            "processing" => Status::Processing,
            "done" => Status::Done,
            _ => Status::Failed,
        }
    }
}

/// A track as stored.
#[derive(Debug, Clone)]
pub struct Track {
    /// Its id (random, 128 bits).
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// The name it was uploaded under (as given, for display).
    pub filename: String,
    /// The size announced at creation, bytes.
    pub size: i64,
    /// The announced content type.
    pub content_type: String,
    /// What to do.
    pub spec: TrackSpec,
    /// Where it is.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
    /// The input's key in the object store.
    pub input_key: String,
    /// The output's key.
    pub output_key: String,
    /// The `audioproc.process/1` document, once done.
    pub report: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// How many times a worker claimed it.
    pub attempts: i64,
    /// The S3 multipart upload the client sends the input through (files over the multipart
    /// threshold in the fleet mode).
    pub upload_id: Option<String>,
    /// The part size of that upload, bytes.
    pub part_size: Option<i64>,
}

const COLUMNS: &str = "id, user_id, filename, size, content_type, spec, status, error, input_key, output_key, \
                       report, created_at, updated_at, attempts, upload_id, part_size";

fn from_row(row: &AnyRow) -> Result<Track, sqlx::Error> {
    let spec: String = row.try_get("spec")?;
    let report: Option<String> = row.try_get("report")?;
    Ok(Track {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        filename: row.try_get("filename")?,
        size: row.try_get("size")?,
        content_type: row.try_get("content_type")?,
        spec: serde_json::from_str(&spec).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        status: Status::parse(&row.try_get::<String, _>("status")?),
        error: row.try_get("error")?,
        input_key: row.try_get("input_key")?,
        output_key: row.try_get("output_key")?,
        report: report.and_then(|r| serde_json::from_str(&r).ok()),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        attempts: row.try_get("attempts")?,
        upload_id: row.try_get("upload_id")?,
        part_size: row.try_get("part_size")?,
    })
}

/// A new track, before it is stored.
#[derive(Debug, Clone)]
pub struct NewTrack<'a> {
    /// See [`Track::id`].
    pub id: &'a str,
    /// See [`Track::user_id`].
    pub user_id: &'a str,
    /// See [`Track::filename`].
    pub filename: &'a str,
    /// See [`Track::size`].
    pub size: i64,
    /// See [`Track::content_type`].
    pub content_type: &'a str,
    /// See [`Track::spec`].
    pub spec: &'a TrackSpec,
    /// See [`Track::input_key`].
    pub input_key: &'a str,
    /// See [`Track::output_key`].
    pub output_key: &'a str,
    /// The client's `Idempotency-Key`, and the hash of the request it came with.
    pub idempotency: Option<(&'a str, &'a str)>,
    /// See [`Track::upload_id`] and [`Track::part_size`].
    pub multipart: Option<(&'a str, i64)>,
}

/// Stores a new track (`uploading`).
///
/// # Errors
/// The database failed (a unique violation: the idempotency key was used).
pub async fn create(db: &Db, t: &NewTrack<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let spec = serde_json::to_string(t.spec).unwrap_or_default();
    sqlx::query(
        "INSERT INTO tracks (id, user_id, filename, size, content_type, spec, status, input_key, output_key, \
         created_at, updated_at, idempotency_key, request_hash, upload_id, part_size) \
         VALUES ($1, $2, $3, $4, $5, $6, 'uploading', $7, $8, $9, $9, $10, $11, $12, $13)",
    )
    .bind(t.id)
    .bind(t.user_id)
    .bind(t.filename)
    .bind(t.size)
    .bind(t.content_type)
    .bind(spec)
    .bind(t.input_key)
    .bind(t.output_key)
    .bind(now)
    .bind(t.idempotency.map(|(k, _)| k))
    .bind(t.idempotency.map(|(_, h)| h))
    .bind(t.multipart.map(|(id, _)| id))
    .bind(t.multipart.map(|(_, size)| size))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The track `id` of `user`, if it is theirs.
///
/// # Errors
/// The database failed.
pub async fn get(db: &Db, user: &str, id: &str) -> Result<Option<Track>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tracks WHERE id = $1 AND user_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(user).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The track `user` made with this idempotency key, and the hash of its request.
///
/// # Errors
/// The database failed.
pub async fn by_idempotency_key(db: &Db, user: &str, key: &str) -> Result<Option<(Track, String)>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS}, request_hash FROM tracks WHERE user_id = $1 AND idempotency_key = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user).bind(key).fetch_optional(&db.pool).await?;
    match row {
        Some(r) => Ok(Some((from_row(&r)?, r.try_get::<Option<String>, _>("request_hash")?.unwrap_or_default()))),
        None => Ok(None),
    }
}

/// `user`'s tracks, newest first: at most `limit`, older than the cursor `(created_at, id)`.
///
/// # Errors
/// The database failed.
pub async fn list(db: &Db, user: &str, limit: i64, before: Option<(i64, &str)>) -> Result<Vec<Track>, sqlx::Error> {
    // Without a cursor, `created_at < i64::MAX` holds for every row.
    let (at, id) = before.unwrap_or((i64::MAX, ""));
    let sql = format!(
        "SELECT {COLUMNS} FROM tracks WHERE user_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user).bind(at).bind(id).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// Moves `user`'s track from `from` to `to` (with `error`); whether it was in `from`.
///
/// # Errors
/// The database failed.
pub async fn transition(
    db: &Db,
    user: &str,
    id: &str,
    from: Status,
    to: Status,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE tracks SET status = $1, error = $2, updated_at = $3 WHERE id = $4 AND user_id = $5 AND status = $6",
    )
    .bind(to.name())
    .bind(error)
    .bind(now_ms())
    .bind(id)
    .bind(user)
    .bind(from.name())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes `user`'s track; whether it was there.
///
/// # Errors
/// The database failed.
pub async fn delete(db: &Db, user: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM tracks WHERE id = $1 AND user_id = $2").bind(id).bind(user).execute(&db.pool).await?;
    Ok(done.rows_affected() == 1)
}

/// Claims the oldest track waiting for a worker (or whose worker's lease ran out) for `owner`
/// until `lease_ms` from now.
///
/// # Errors
/// The database failed.
pub async fn claim_next(db: &Db, owner: &str, lease_ms: i64) -> Result<Option<Track>, sqlx::Error> {
    let now = now_ms();
    let waiting = "(status = 'queued' OR (status = 'processing' AND lease_until < $3))";
    let lock = if db.dialect == Dialect::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE tracks SET status = 'processing', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
         updated_at = $3 WHERE {waiting} AND id = (SELECT id FROM tracks WHERE {waiting} ORDER BY updated_at, id \
         LIMIT 1{lock}) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Extends `owner`'s lease on `id`; whether it still holds it.
///
/// # Errors
/// The database failed.
pub async fn renew_lease(db: &Db, owner: &str, id: &str, lease_ms: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE tracks SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'processing'")
            .bind(now_ms() + lease_ms)
            .bind(id)
            .bind(owner)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// How a worker leaves a track.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Done, with its report.
    Done(serde_json::Value),
    /// Failed for good.
    Failed(String),
    /// Back in the queue: the failure may pass (counts as an attempt).
    Requeue,
    /// Back in the queue because this instance is stopping (does not count as an attempt).
    HandBack,
}

impl Finish {
    /// The status it leaves the track in.
    pub fn status(&self) -> Status {
        match self {
            Finish::Done(_) => Status::Done,
            Finish::Failed(_) => Status::Failed,
            Finish::Requeue | Finish::HandBack => Status::Queued,
        }
    }
}

/// Leaves `id` as `finish` says, if `owner` still holds it; whether it did.
///
/// # Errors
/// The database failed.
pub async fn finish(db: &Db, owner: &str, id: &str, finish: &Finish) -> Result<bool, sqlx::Error> {
    let (error, report) = match finish {
        Finish::Done(r) => (None, Some(r.to_string())),
        Finish::Failed(e) => (Some(e.as_str()), None),
        Finish::Requeue | Finish::HandBack => (None, None),
    };
    let uncount = i64::from(matches!(finish, Finish::HandBack));
    let done = sqlx::query(
        "UPDATE tracks SET status = $1, error = $2, report = $3, updated_at = $4, lease_owner = NULL, \
         lease_until = NULL, attempts = attempts - $7 WHERE id = $5 AND lease_owner = $6 AND status = 'processing'",
    )
    .bind(finish.status().name())
    .bind(error)
    .bind(report)
    .bind(now_ms())
    .bind(id)
    .bind(owner)
    .bind(uncount)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts back in the queue every track left `processing` (the embedded server, alone on its
/// database, at start: whoever held them is gone).
///
/// # Errors
/// The database failed.
pub async fn requeue_all_processing(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE tracks SET status = 'queued', lease_owner = NULL, lease_until = NULL WHERE status = 'processing'",
    )
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// The track `id`, whoever owns it: only for requests whose signed URL stands for the owner.
///
/// # Errors
/// The database failed.
pub async fn by_id(db: &Db, id: &str) -> Result<Option<Track>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM tracks WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// Leaves a track processed elsewhere (`--process external`) as `finish` says, if it is still
/// waiting for its result (`queued` or `processing`); whether it was. Delivered twice (an S3
/// event and the reconciler), it settles once.
///
/// # Errors
/// The database failed.
pub async fn settle(db: &Db, id: &str, finish: &Finish) -> Result<bool, sqlx::Error> {
    let (error, report) = match finish {
        Finish::Done(r) => (None, Some(r.to_string())),
        Finish::Failed(e) => (Some(e.as_str()), None),
        Finish::Requeue | Finish::HandBack => return Ok(false),
    };
    let done = sqlx::query(
        "UPDATE tracks SET status = $1, error = $2, report = $3, updated_at = $4, lease_owner = NULL, \
         lease_until = NULL WHERE id = $5 AND status IN ('queued', 'processing')",
    )
    .bind(finish.status().name())
    .bind(error)
    .bind(report)
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Up to `limit` tracks waiting for an external result, queued before `queued_before`, the
/// least recently checked first; they are marked checked now.
///
/// # Errors
/// The database failed.
pub async fn to_reconcile(db: &Db, queued_before: i64, limit: i64) -> Result<Vec<Track>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tracks WHERE status IN ('queued', 'processing') AND updated_at < $1 \
         ORDER BY COALESCE(checked_at, 0), updated_at LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(queued_before).bind(limit).fetch_all(&db.pool).await?;
    let tracks = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    for t in &tracks {
        sqlx::query("UPDATE tracks SET checked_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&t.id)
            .execute(&db.pool)
            .await?;
    }
    Ok(tracks)
}
