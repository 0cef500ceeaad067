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
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
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

    /// 500, logged; the message does not leak internals.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
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
            AccountError::Database(_) | AccountError::Hash => ApiError::internal(e),
        }
    }
}
