//! The HTTP API: `/api/v1/…` (JSON), `/healthz` and `/readyz`.
//!
//! Routes so far: `POST /api/v1/users`, `POST /api/v1/sessions` (sets the session cookie),
//! `DELETE /api/v1/sessions`, `POST /api/v1/tokens`, `GET /api/v1/me`. Errors are
//! `{"error": {"code", "message"}}` ([`ApiError`]).

mod accounts;
pub mod auth;
pub mod error;
mod health;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::db::Db;

/// Longest request body the JSON routes accept.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Set on SIGTERM: `/readyz` answers 503 so the load balancer stops sending requests.
    pub draining: Arc<AtomicBool>,
    /// Mark cookies `Secure`.
    pub secure_cookies: bool,
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/users", post(accounts::create_user))
        .route("/api/v1/sessions", post(accounts::sign_in).delete(accounts::sign_out))
        .route("/api/v1/tokens", post(accounts::create_token))
        .route("/api/v1/me", get(accounts::me))
        .fallback(|| async { ApiError::not_found() })
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_JSON_BYTES))
        .with_state(state)
}
