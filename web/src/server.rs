//! The listener: opens the database, starts the processing pool, serves the [`crate::api`]
//! routes, and on SIGTERM/SIGINT drains: `/readyz` turns 503 and no more tracks are claimed at
//! once; after a moment for the load balancer to notice, the listener closes and in-flight
//! requests finish; tracks being processed get the rest of the grace (`--drain-grace`), then
//! stop, and go back to the queue (their lease released) for another instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use audioproc_s3::store::Cancel;
use tokio::sync::Notify;

use crate::accounts::new_id;
use crate::api::{self, AppState};
use crate::config::{ProcessMode, ServeConfig};
use crate::db::{Db, Dialect};
use crate::error::WebError;
use crate::external::External;
use crate::objects::Objects;
use crate::processing::Pool;
use crate::signing::Signer;
use crate::tracks;

/// How long `/readyz` says 503 before the listener stops taking connections.
pub const DRAIN_NOTICE: Duration = Duration::from_secs(2);

/// How long stopped jobs get to hand their tracks back once the drain's grace is over.
const HAND_BACK: Duration = Duration::from_secs(10);

/// Opens the database (migrating it), then serves until SIGTERM or SIGINT.
///
/// # Errors
/// The data directory, the database or the listener cannot be set up.
pub async fn serve(config: ServeConfig) -> Result<(), WebError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = Db::open(&config.database()).await?;
    if db.dialect == Dialect::Sqlite && config.process == ProcessMode::Local {
        // Alone on its database: whatever was processing when it stopped runs again.
        let n = tracks::requeue_all_processing(&db).await?;
        if n > 0 {
            tracing::info!(tracks = n, "requeued tracks left processing by the last run");
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let work = audioproc_s3::work_dir::create("audioproc-serve-")?;
    let objects = objects(&config).await?;
    objects.prepare()?;
    let wake = Arc::new(Notify::new());
    let draining = Arc::new(AtomicBool::new(false));
    let pool = Pool {
        db: db.clone(),
        objects: objects.clone(),
        wake: Arc::clone(&wake),
        owner: format!("{}-{}", std::process::id(), new_id()),
        lease_ms: i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX),
        draining: Arc::clone(&draining),
        cancel: Cancel::new(),
        work_dir: work.path().to_path_buf(),
    };
    let mut workers = match config.process {
        ProcessMode::Local => pool.spawn(config.workers),
        ProcessMode::External => {
            let events = match &config.events_queue {
                Some(url) => Some((audioproc_s3::queue::sqs_client_from_env().await, url.clone())),
                None => None,
            };
            let external = External {
                db: db.clone(),
                objects: pool.objects.clone(),
                interval: config.reconcile_interval,
                cancel: pool.cancel.clone(),
            };
            external.spawn(events)
        }
    };
    let state = AppState {
        signer: Signer::new(&db.secret("url-signing").await?, config.url_lifetime_ms),
        db,
        draining: Arc::clone(&draining),
        secure_cookies: config.secure_cookies,
        objects,
        wake,
        max_upload_bytes: config.max_upload_bytes,
        work_dir: work.path().to_path_buf(),
        multipart_threshold: config.multipart_threshold,
        process: config.process,
        fixed_spec: config.fixed_spec.clone(),
        url_lifetime: Duration::from_millis(u64::try_from(config.url_lifetime_ms).unwrap_or(900_000)),
    };
    tracing::info!(address = %listener.local_addr()?, workers = config.workers, "serving");
    eprintln!("audioproc serve: listening on http://{}/", listener.local_addr()?);
    let (wake_idle, cancel, grace) = (Arc::clone(&pool.wake), pool.cancel.clone(), config.drain_grace);
    let external = config.process == ProcessMode::External;
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // No more claims; idle workers leave at once, busy ones finish their track.
            draining.store(true, Ordering::SeqCst);
            wake_idle.notify_waiters();
            tracing::info!("draining: /readyz says 503, in-flight requests and tracks finish");
            // When the grace runs out, jobs still running stop between phases and their tracks
            // go back to the queue. (The consumers of external results have nothing in hand.)
            tokio::spawn(async move {
                if !external {
                    tokio::time::sleep(grace).await;
                }
                cancel.abort();
                wake_idle.notify_waiters();
            });
            tokio::time::sleep(DRAIN_NOTICE).await;
        })
        .await?;
    // In-flight requests are done; tracks being processed finish or are handed back.
    let all_done = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(config.drain_grace + HAND_BACK, all_done).await.is_err() {
        tracing::warn!("workers still running after the drain grace: exiting; their leases will run out");
    }
    Ok(())
}

/// The stores: S3 when `--bucket` is given (the client from the standard AWS chain), else the
/// data directory.
async fn objects(config: &ServeConfig) -> Result<Objects, WebError> {
    match (&config.bucket, config.output_url()) {
        (Some(input), Some(output)) => {
            let client = audioproc_s3::client_from_env().await;
            Objects::s3(client, input, &output, config.process == ProcessMode::External).map_err(WebError::Config)
        }
        _ if config.process == ProcessMode::External => {
            Err(WebError::Config("--process external needs --bucket: the processor reads uploads from S3".to_owned()))
        }
        _ => Ok(Objects::local(config.data_dir.join("objects"))),
    }
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
