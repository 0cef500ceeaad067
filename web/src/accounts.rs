//! Accounts: users with an email and an Argon2id password hash, server-side sessions (any
//! instance serves any request: the session lives in the database) and API tokens (a random
//! 256-bit secret shown once, kept only as its SHA-256).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use audioproc_s3::digest::hex;
use sqlx::Row;

use crate::db::{Db, now_ms};
use crate::throttle;

/// How long a session lasts, milliseconds (30 days).
pub const SESSION_MS: i64 = 30 * 24 * 3600 * 1000;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (Argon2 has no limit; this bounds the work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new random identifier: 128 bits, hex.
pub fn new_id() -> String {
    hex(&rand::random::<[u8; 16]>())
}

/// A new secret (session id, API token): 256 bits, hex.
pub fn new_secret() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// Why an account request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The email is not an address.
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    /// The password is too short or too long.
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters (and at most {MAX_PASSWORD_BYTES} bytes)")]
    BadPassword,
    /// Someone has this email.
    #[error("an account with this email exists")]
    EmailTaken,
    /// Wrong email or password (never saying which).
    #[error("wrong email or password")]
    WrongCredentials,
    /// Too many wrong passwords for this email: try again in this many seconds.
    #[error("too many wrong passwords: try again in {0} s")]
    Throttled(i64),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Hashing failed.
    #[error("password hashing failed")]
    Hash,
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: String,
    /// Its email, lower case.
    pub email: String,
}

/// Normalises and checks an email address: trimmed, lower case, one `@` with text on both
/// sides and no spaces or control characters.
fn normalise_email(email: &str) -> Result<String, AccountError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split('@').count() == 2
        && e.split('@').all(|p| !p.is_empty())
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(e) } else { Err(AccountError::BadEmail(email.to_owned())) }
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::BadPassword);
    }
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| AccountError::Hash)
}

fn verify_password(password: &str, hash: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
        && PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Creates a user.
///
/// # Errors
/// A bad email or password, an email in use, the database.
pub async fn create_user(db: &Db, email: &str, password: &str) -> Result<User, AccountError> {
    let email = normalise_email(email)?;
    let hash = hash_password(password)?;
    let id = new_id();
    let inserted = sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&email)
        .bind(&hash)
        .bind(now_ms())
        .execute(&db.pool)
        .await;
    match inserted {
        Ok(_) => Ok(User { id, email }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// Checks an email and password, throttled per email ([`crate::throttle`]): wrong passwords
/// are counted, a success forgets them.
///
/// # Errors
/// [`AccountError::WrongCredentials`] for an unknown email or a wrong password;
/// [`AccountError::Throttled`] after too many wrong ones; the database.
pub async fn authenticate(db: &Db, email: &str, password: &str) -> Result<User, AccountError> {
    let email = normalise_email(email).map_err(|_| AccountError::WrongCredentials)?;
    if let Some(wait_s) = throttle::wait_s(db, &email).await? {
        return Err(AccountError::Throttled(wait_s));
    }
    match check_password(db, &email, password).await {
        Err(AccountError::WrongCredentials) => {
            throttle::failed(db, &email).await?;
            Err(AccountError::WrongCredentials)
        }
        Ok(user) => {
            throttle::succeeded(db, &email).await?;
            Ok(user)
        }
        other => other,
    }
}

/// The user of the normalised `email`, if `password` is theirs.
async fn check_password(db: &Db, email: &str, password: &str) -> Result<User, AccountError> {
    let email = email.to_owned();
    let row = sqlx::query("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        // Spend the same time as a real check, so that timing does not tell which emails exist.
        let _ = verify_password(password, DUMMY_HASH);
        return Err(AccountError::WrongCredentials);
    };
    let (id, hash): (String, String) = (row.try_get("id")?, row.try_get("password_hash")?);
    if verify_password(password, &hash) { Ok(User { id, email }) } else { Err(AccountError::WrongCredentials) }
}

/// An Argon2id hash of nothing anyone knows, for unknown emails.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0ZmTYfMR2o9/2eZbmX0b0Do0cbGrx9kA3PIu1D1tQh0";

/// Opens a session for `user`; returns its id (the cookie's value). A new id every time: a
/// session id seen before log-in is never reused (no fixation).
///
/// # Errors
/// The database.
pub async fn open_session(db: &Db, user: &User) -> Result<String, AccountError> {
    let id = new_secret();
    let now = now_ms();
    sqlx::query("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&user.id)
        .bind(now)
        .bind(now + SESSION_MS)
        .execute(&db.pool)
        .await?;
    Ok(id)
}

/// The user an `id, email` row names (the session and token lookups).
fn user_of(row: &sqlx::any::AnyRow) -> Result<User, AccountError> {
    Ok(User { id: row.try_get("id")?, email: row.try_get("email")? })
}

/// The user of a live session.
///
/// # Errors
/// The database.
pub async fn session_user(db: &Db, session: &str) -> Result<Option<User>, AccountError> {
    let row = sqlx::query(
        "SELECT users.id AS id, users.email AS email FROM sessions JOIN users ON users.id = sessions.user_id \
         WHERE sessions.id = $1 AND sessions.expires_at > $2",
    )
    .bind(session)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user_of).transpose()
}

/// Ends a session.
///
/// # Errors
/// The database.
pub async fn close_session(db: &Db, session: &str) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM sessions WHERE id = $1").bind(session).execute(&db.pool).await?;
    Ok(())
}

/// A token is stored as a hash of itself, so a database leak does not leak usable tokens.
fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(token.as_bytes()))
}

/// Issues an API token for `user`; the token is returned once and stored only as a hash.
///
/// # Errors
/// The database.
pub async fn issue_token(db: &Db, user: &User) -> Result<String, AccountError> {
    let token = format!("ap_{}", new_secret());
    sqlx::query("INSERT INTO tokens (hash, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(token_hash(&token))
        .bind(&user.id)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(token)
}

/// The user of an API token.
///
/// # Errors
/// The database.
pub async fn token_user(db: &Db, token: &str) -> Result<Option<User>, AccountError> {
    let row = sqlx::query(
        "SELECT users.id AS id, users.email AS email FROM tokens JOIN users ON users.id = tokens.user_id \
         WHERE tokens.hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user_of).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_nonsense_refused() {
        assert_eq!(normalise_email(" Ann@Example.org ").unwrap(), "ann@example.org");
        for bad in ["", "ann", "@x", "a@", "a@b@c", "a b@c", "a\u{0}@b"] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(hash_password("short").is_err());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok(), "the dummy hash parses");
    }
}
