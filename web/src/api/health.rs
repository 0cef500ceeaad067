//! `/healthz` (the process answers) and `/readyz` (the database and the object store answer and
//! we are not draining).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 when the database and the object store answer; 503 when one does not or
/// once SIGTERM arrived.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else if !state.db.ping().await {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    } else if !state.objects.ready().await {
        (StatusCode::SERVICE_UNAVAILABLE, "object store unreachable\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}
