//! Sign-in throttling: after [`MAX_FAILURES`] wrong passwords for one email within
//! [`WINDOW_MS`], sign-in for that email answers 429 until the oldest of them leaves the window.
//! Failures are rows in the database, so every instance of a fleet counts the same ones.

use crate::db::{Db, now_ms};

/// Wrong passwords allowed per email within the window.
pub const MAX_FAILURES: i64 = 5;
/// The window, milliseconds (15 minutes).
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// `Some(seconds to wait)` when sign-in for `email` is throttled now.
///
/// # Errors
/// The database failed.
pub async fn wait_s(db: &Db, email: &str) -> Result<Option<i64>, sqlx::Error> {
    let since = now_ms() - WINDOW_MS;
    let row = sqlx::query("SELECT COUNT(*), MIN(at) FROM login_failures WHERE email = $1 AND at > $2")
        .bind(email)
        .bind(since)
        .fetch_one(&db.pool)
        .await?;
    let count: i64 = sqlx::Row::try_get(&row, 0)?;
    let oldest: Option<i64> = sqlx::Row::try_get(&row, 1)?;
    Ok(match oldest {
        Some(at) if count >= MAX_FAILURES => Some(((at + WINDOW_MS - now_ms()) / 1000).max(1)),
        _ => None,
    })
}

/// Records a wrong password for `email` (and forgets failures older than the window).
///
/// # Errors
/// The database failed.
pub async fn failed(db: &Db, email: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query("DELETE FROM login_failures WHERE at <= $1").bind(now - WINDOW_MS).execute(&db.pool).await?;
    sqlx::query("INSERT INTO login_failures (email, at) VALUES ($1, $2)")
        .bind(email)
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets `email`'s failures (after a successful sign-in).
///
/// # Errors
/// The database failed.
pub async fn succeeded(db: &Db, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1").bind(email).execute(&db.pool).await?;
    Ok(())
}
