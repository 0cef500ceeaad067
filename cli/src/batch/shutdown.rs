//! How `batch` stops on SIGINT/SIGTERM: stop taking work at once (the listing ends, no job
//! starts a new phase), let the inputs in flight finish for `--grace` seconds, then abort what
//! is left (uploads aborted between parts).

use std::sync::Mutex;
use std::time::Duration;

use audioproc_s3::Cancel;

/// Shutdown state: set by the signal task, read by every stage.
#[derive(Debug, Default)]
pub struct Stop {
    /// Shared with every job's policy.
    pub cancel: Cancel,
    signal: Mutex<Option<&'static str>>,
}

impl Stop {
    /// Whether a signal asked to stop.
    pub fn requested(&self) -> bool {
        self.cancel.is_stopping()
    }

    /// Whether the grace period is over.
    pub fn aborting(&self) -> bool {
        self.cancel.is_aborted()
    }

    /// The signal that stopped the batch.
    pub fn signal(&self) -> Option<&'static str> {
        *self.signal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a signal, then stops, waits `grace`, then aborts.
    pub async fn watch(&self, grace: Duration) {
        let name = wait_for_signal().await;
        *self.signal.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
        self.cancel.stop();
        eprintln!(
            "audioproc: {name}: finishing the files in flight (up to {:.0} s), then stopping",
            grace.as_secs_f64()
        );
        tokio::time::sleep(grace).await;
        self.cancel.abort();
    }
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
