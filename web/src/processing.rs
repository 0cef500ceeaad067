//! Processing uploaded tracks in the server itself (the embedded mode, and `--process local` in a
//! fleet): a bounded pool of workers, one per core, each claiming the next queued track from the
//! database with a lease (see [`crate::tracks::claim_next`]) and running the one per-object job
//! of `audioproc-s3` on it. A worker that dies leaves its lease to run out; another takes the
//! track over. The job skips an output that already records this source and spec, so a track
//! whose result was written but not yet recorded is finished without being redone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use audioproc_engine::{ProcessingSpec, Threads};
use audioproc_s3::job::{self, Destination, Existing, Job, Object, Outcome, Policy};
use audioproc_s3::store::Cancel;
use tokio::sync::Notify;

use crate::db::Db;
use crate::objects::Objects;
use crate::report;
use crate::tracks::{self, Finish, Track};

/// How often a worker with nothing to do looks at the queue (tracks queued by other instances).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// Claims after which a track that keeps failing or killing its worker is given up.
pub const MAX_ATTEMPTS: i64 = 3;

/// The pool's shared parts.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The database (the queue).
    pub db: Db,
    /// The tracks' files.
    pub objects: Objects,
    /// Woken when a track is queued.
    pub wake: Arc<Notify>,
    /// This instance's lease name.
    pub owner: String,
    /// How long a claim lasts without renewal, milliseconds.
    pub lease_ms: i64,
    /// Set at SIGTERM: no more claims; the tracks in hand may still finish.
    pub draining: Arc<AtomicBool>,
    /// Set when the drain's grace runs out: jobs stop between phases and their tracks go back
    /// to the queue.
    pub cancel: Cancel,
    /// Where downloads go (S3 inputs).
    pub work_dir: std::path::PathBuf,
}

impl Pool {
    /// Starts `workers` workers; they run until [`Pool::draining`] or [`Pool::cancel`] is set.
    pub fn spawn(&self, workers: usize) -> tokio::task::JoinSet<()> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers.max(1) {
            let pool = self.clone();
            set.spawn(async move { pool.work().await });
        }
        set
    }

    async fn work(&self) {
        while !self.cancel.is_stopping() && !self.draining.load(Ordering::SeqCst) {
            let woken = self.wake.notified();
            match tracks::claim_next(&self.db, &self.owner, self.lease_ms).await {
                Ok(Some(track)) => self.process(track).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(IDLE_POLL, woken).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a track failed");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    /// Runs the job of `track` (claimed by us) and records how it ended.
    async fn process(&self, track: Track) {
        let finish = if track.attempts > MAX_ATTEMPTS {
            Finish::Failed(format!("processing was interrupted {MAX_ATTEMPTS} times; upload the file again"))
        } else {
            let renewing = self.keep_lease(&track.id);
            let finish = self.run(&track).await;
            renewing.abort();
            finish
        };
        // The database may be restarting: try for as long as the lease lasts (after that
        // another instance takes the track over and finds its output already written).
        let mut tries = self.lease_ms / 1000;
        loop {
            match tracks::finish(&self.db, &self.owner, &track.id, &finish).await {
                Ok(true) => tracing::info!(track = %track.id, status = finish.status().name(), "track finished"),
                Ok(false) => {
                    tracing::warn!(track = %track.id, "lost the lease (or the track was deleted) before finishing");
                }
                Err(e) if tries > 0 => {
                    tracing::warn!(track = %track.id, error = %e, "recording a finished track failed; retrying");
                    tries -= 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => tracing::error!(track = %track.id, error = %e, "recording a finished track failed"),
            }
            return;
        }
    }

    /// Renews the lease on `id` until aborted.
    fn keep_lease(&self, id: &str) -> tokio::task::JoinHandle<()> {
        let (db, owner, id, lease_ms) = (self.db.clone(), self.owner.clone(), id.to_owned(), self.lease_ms);
        tokio::spawn(async move {
            let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(10_000));
            loop {
                tokio::time::sleep(every).await;
                // A failed renewal (the database restarting) is tried again at the next beat:
                // the lease lasts three beats.
                if matches!(tracks::renew_lease(&db, &owner, &id, lease_ms).await, Ok(false)) {
                    return;
                }
            }
        })
    }

    async fn run(&self, track: &Track) -> Finish {
        let spec = match track.spec.engine() {
            // The page draws the loudness curves of the report.
            Ok(s) => ProcessingSpec { curve: true, ..s },
            Err(e) => return Finish::Failed(e),
        };
        let job = Job {
            source: Object::new(self.objects.input_store(), track.input_key.clone()),
            dest: Destination::Exact(Object::new(self.objects.output_store(), track.output_key.clone())),
            spec,
            policy: Policy {
                existing: Existing::SkipIfSame,
                cancel: self.cancel.clone(),
                threads: Threads::Single,
                error_reports: false,
                claims: None,
                ..Policy::service(self.work_dir.clone())
            },
        };
        match job::run(&job).await {
            Outcome::Written(_) | Outcome::AlreadyDone { .. } => self.report(track).await,
            Outcome::PermanentFailure { error, .. } => Finish::Failed(self.objects.for_people(track, &error.message)),
            Outcome::Ignored { reason } => Finish::Failed(reason.to_owned()),
            Outcome::Stopped => {
                tracing::info!(track = %track.id, "drain grace over: track handed back to the queue");
                Finish::HandBack
            }
            Outcome::RetryableFailure { .. } if self.cancel.is_stopping() => {
                tracing::info!(track = %track.id, "drain grace over: track handed back to the queue");
                Finish::HandBack
            }
            Outcome::RetryableFailure { error } if track.attempts < MAX_ATTEMPTS => {
                tracing::warn!(track = %track.id, error = %error, "retrying later");
                Finish::Requeue
            }
            Outcome::RetryableFailure { error } => Finish::Failed(self.objects.for_people(track, &error.message)),
        }
    }

    /// The track's report: its output's sidecar, as its owner sees it.
    async fn report(&self, track: &Track) -> Finish {
        match self.objects.report(&track.output_key).await {
            Ok(Some(bytes)) => report::finish_from(track, &bytes, |m| self.objects.for_people(track, m)),
            _ => Finish::Requeue,
        }
    }
}
