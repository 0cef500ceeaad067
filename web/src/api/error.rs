//! Error answers: `{"error": {"code", "message"}}` with the status that says what happened.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::accounts::AccountError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`bad_request`, `unauthorized`, …).
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// Sent as `Retry-After`, seconds.
    pub retry_after_s: Option<i64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after_s: None }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first (session cookie or Bearer token)")
    }

    /// 403: a cookie-authenticated write from another site.
    pub fn csrf() -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf", "cross-site request refused")
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 413: over the upload limit.
    pub fn too_large(max_bytes: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "files of up to {max_bytes} bytes ({:.1} GiB) are accepted",
                max_bytes as f64 / (1u64 << 30) as f64
            ),
        )
    }

    /// 429: too many wrong passwords; try again in `wait_s` seconds (`Retry-After`).
    pub fn too_many_attempts(wait_s: i64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many wrong passwords: try again in {wait_s} s"),
        );
        e.retry_after_s = Some(wait_s);
        e
    }

    /// 503 with `Retry-After` when the object store failed in a way that may pass (network,
    /// throttling, 5xx); 500 otherwise. Logged either way; the message does not leak internals.
    pub fn store(e: &audioproc_s3::S3Error) -> Self {
        if !e.is_retryable() {
            return Self::internal(e);
        }
        tracing::warn!(error = %e, "object store unavailable");
        let mut r = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the file store is busy: try again");
        r.retry_after_s = Some(2);
        r
    }

    /// 503 with `Retry-After` when the database cannot be reached or is restarting (the pool
    /// reconnects by itself, so the same request will work again); 500 for any other database
    /// error. Logged either way; the message does not leak internals.
    pub fn database(e: sqlx::Error) -> Self {
        if !database_unavailable(&e) {
            return Self::internal(e);
        }
        tracing::warn!(error = %e, "database unavailable");
        let mut r = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is busy: try again");
        r.retry_after_s = Some(1);
        r
    }

    /// 500, logged; the message does not leak internals.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

/// Whether `e` says the database is out of reach for now rather than that the query is wrong:
/// no connection (refused, reset, timed out waiting for the pool), or the server shutting down,
/// starting up, or dropping us (SQLSTATE class 08, 57P01–57P03), or a transaction that lost a
/// race (40001, 40P01).
fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "40001" | "40P01")),
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s
            && let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::BadEmail(_) | AccountError::BadPassword => ApiError::bad_request(e.to_string()),
            AccountError::EmailTaken => ApiError::new(StatusCode::CONFLICT, "email_taken", e.to_string()),
            AccountError::WrongCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "wrong_credentials", e.to_string())
            }
            AccountError::Throttled(wait_s) => ApiError::too_many_attempts(wait_s),
            AccountError::Database(e) => ApiError::database(e),
            AccountError::Hash => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_a_503_to_retry_and_a_bad_query_a_500() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let r = ApiError::database(refused);
        assert_eq!((r.status, r.code, r.retry_after_s), (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(1)));
        assert_eq!(ApiError::database(sqlx::Error::PoolTimedOut).status, StatusCode::SERVICE_UNAVAILABLE);
        let wrong = ApiError::database(sqlx::Error::RowNotFound);
        assert_eq!((wrong.status, wrong.retry_after_s), (StatusCode::INTERNAL_SERVER_ERROR, None));
    }
}
