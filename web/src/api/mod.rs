//! The HTTP API: `/api/v1/…` (JSON), `/healthz` and `/readyz`.
//!
//! The routes are listed in `web/API.md` (and served as OpenAPI). Errors are
//! `{"error": {"code", "message"}}` ([`ApiError`]). The JSON routes take bodies of at most
//! [`MAX_JSON_BYTES`]; the signed upload route takes the announced size and no more.

mod accounts;
pub mod auth;
pub mod error;
pub mod files;
mod health;
mod page;
mod tracks;
pub mod transfers;
pub mod view;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::sync::Notify;

pub use error::ApiError;

use crate::db::Db;
use crate::objects::Objects;
use crate::signing::Signer;

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
    /// The tracks' files.
    pub objects: Objects,
    /// Signs the object URLs.
    pub signer: Signer,
    /// Wakes a processing worker when a track is queued.
    pub wake: Arc<Notify>,
    /// Largest upload accepted, bytes.
    pub max_upload_bytes: u64,
    /// Where uploads are staged.
    pub work_dir: std::path::PathBuf,
    /// Files larger than this are uploaded to S3 in parts, bytes.
    pub multipart_threshold: u64,
    /// How long presigned S3 URLs last.
    pub url_lifetime: std::time::Duration,
    /// Who processes the uploads.
    pub process: crate::config::ProcessMode,
    /// The settings every track gets (`--process external`), if fixed.
    pub fixed_spec: Option<crate::spec::TrackSpec>,
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/", get(page::index))
        .route("/static/{name}", get(page::file))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/openapi.json", get(page::openapi))
        .route("/api/v1/users", post(accounts::create_user))
        .route("/api/v1/sessions", post(accounts::sign_in).delete(accounts::sign_out))
        .route("/api/v1/tokens", post(accounts::create_token))
        .route("/api/v1/me", get(accounts::me))
        .route("/api/v1/settings", get(page::settings))
        .route("/api/v1/tracks", post(tracks::create).get(tracks::list))
        .route("/api/v1/tracks/{id}", get(tracks::get).delete(tracks::delete))
        .route("/api/v1/tracks/{id}/parts", get(tracks::parts))
        .route("/api/v1/tracks/{id}/parts/{n}", get(tracks::part))
        .route("/api/v1/tracks/{id}/complete", post(tracks::complete))
        .route("/api/v1/tracks/{id}/download", get(tracks::download))
        .route("/api/v1/tracks/{id}/play", get(tracks::play))
        .route("/files/{id}/{what}", get(files::output))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_JSON_BYTES));
    // The upload route checks the size against the one announced and signed.
    let uploads = Router::new().route("/files/{id}/upload", put(files::upload));
    api.merge(uploads).fallback(|| async { ApiError::not_found() }).with_state(state)
}
