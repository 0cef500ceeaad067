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

    /// 500, logged; the message does not leak internals.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
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
            AccountError::Database(_) | AccountError::Hash => ApiError::internal(e),
        }
    }
}
