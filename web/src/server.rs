//! The listener: binds, serves the [`crate::api`] routes, and on SIGTERM/SIGINT turns
//! `/readyz` to 503, waits a moment for the load balancer to notice, then drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::db::Db;
use crate::error::WebError;

/// How long `/readyz` says 503 before the listener stops taking connections.
pub const DRAIN_NOTICE: Duration = Duration::from_secs(2);

/// Opens the database (migrating it), then serves until SIGTERM or SIGINT.
///
/// # Errors
/// The data directory, the database or the listener cannot be set up.
pub async fn serve(config: ServeConfig) -> Result<(), WebError> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let db = Db::open(&config.database()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let draining = Arc::new(AtomicBool::new(false));
    let state = AppState { db, draining: Arc::clone(&draining), secure_cookies: config.secure_cookies };
    tracing::info!(address = %listener.local_addr()?, "serving");
    eprintln!("audioproc serve: listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            draining.store(true, Ordering::SeqCst);
            tokio::time::sleep(DRAIN_NOTICE).await;
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
