//! `--process external`: the Lambda function or the `audioproc worker` fleet processes the
//! uploads (S3 → trigger → the one per-object job), and the app learns of each result in two
//! ways that end in the same guarded transition ([`tracks::settle`]), so that a result delivered
//! twice settles once:
//! - **events**: S3 event notifications of the output prefix, delivered to an SQS queue
//!   (`--events-queue`); an event for a track's output, report or error report settles it at
//!   once;
//! - **reconciling**: every `--reconcile-interval`, the tracks still waiting are looked up in the
//!   store (their report sidecar or error report), so that a lost or late event never leaves a
//!   track stuck. A track with no result after [`GIVE_UP_AFTER`] is failed with a reason.

use std::time::Duration;

use audioproc_s3::notification::{self, Notification};
use audioproc_s3::queue::{self, SqsClient};
use audioproc_s3::sidecar::MAX_SIDECAR_BYTES;
use audioproc_s3::store::Cancel;

use crate::db::{Db, now_ms};
use crate::objects::Objects;
use crate::report;
use crate::tracks::{self, Finish, Track};

/// A track whose processor has said nothing for this long is failed.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);
/// Tracks looked up per reconciling pass.
const PER_PASS: i64 = 100;
/// How long a received event stays hidden while it is handled.
const EVENT_VISIBILITY: Duration = Duration::from_secs(60);
/// Longest wait of one receive (short enough to notice a shutdown).
const EVENT_WAIT: Duration = Duration::from_secs(5);

/// What the event consumer and the reconciler share.
#[derive(Debug, Clone)]
pub struct External {
    /// The database.
    pub db: Db,
    /// The stores (outputs mirrored as the external processor writes them).
    pub objects: Objects,
    /// How often the reconciler looks for results.
    pub interval: Duration,
    /// Set at shutdown.
    pub cancel: Cancel,
}

impl External {
    /// Starts the reconciler, and the event consumer when a queue is given.
    pub fn spawn(&self, events: Option<(SqsClient, String)>) -> tokio::task::JoinSet<()> {
        let mut set = tokio::task::JoinSet::new();
        let me = self.clone();
        set.spawn(async move { me.reconcile_forever().await });
        if let Some((sqs, url)) = events {
            let me = self.clone();
            set.spawn(async move { me.consume(&sqs, &url).await });
        }
        set
    }

    /// Looks up what the store has for `track` and settles it; whether it was settled.
    ///
    /// # Errors
    /// The store or the database failed (try again later).
    pub async fn settle(&self, track: &Track) -> Result<bool, String> {
        let hide = |m: &str| self.objects.for_people(track, m);
        let finish = match self.objects.report(&track.output_key).await.map_err(|e| e.message)? {
            Some(bytes) => report::finish_from(track, &bytes, hide),
            None => {
                let error_report = match self.objects.error_report_key(track) {
                    Some(key) => {
                        self.objects.output_store().get_bytes(&key, MAX_SIDECAR_BYTES).await.map_err(|e| e.message)?
                    }
                    None => None,
                };
                match error_report {
                    Some(bytes) => report::finish_from(track, &bytes, hide),
                    None if now_ms() - track.updated_at > i64::try_from(GIVE_UP_AFTER.as_millis()).unwrap_or(0) => {
                        Finish::Failed(format!(
                            "no result from the processor after {} minutes; upload the file again",
                            GIVE_UP_AFTER.as_secs() / 60
                        ))
                    }
                    None => return Ok(false),
                }
            }
        };
        tracks::settle(&self.db, &track.id, &finish).await.map_err(|e| e.to_string())
    }

    async fn reconcile_forever(&self) {
        while !self.cancel.is_stopping() {
            match self.reconcile_once().await {
                Ok(n) if n > 0 => tracing::info!(tracks = n, "reconciled tracks from their reports"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reconciling failed; trying again later"),
            }
            self.pause(self.interval).await;
        }
    }

    /// One pass: the tracks waiting longer than an interval, looked up; how many settled.
    ///
    /// # Errors
    /// The database failed.
    pub async fn reconcile_once(&self) -> Result<usize, String> {
        let interval_ms = i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX);
        let waiting =
            tracks::to_reconcile(&self.db, now_ms() - interval_ms, PER_PASS).await.map_err(|e| e.to_string())?;
        let mut settled = 0;
        for t in &waiting {
            match self.settle(t).await {
                Ok(true) => settled += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(track = %t.id, error = %e, "looking up a result failed"),
            }
        }
        Ok(settled)
    }

    async fn consume(&self, sqs: &SqsClient, url: &str) {
        let mut backoff = Duration::from_secs(1);
        while !self.cancel.is_stopping() {
            match queue::receive(sqs, url, queue::MAX_MESSAGES_PER_RECEIVE, EVENT_WAIT, EVENT_VISIBILITY).await {
                Ok(messages) => {
                    backoff = Duration::from_secs(1);
                    for m in messages {
                        if self.handle(&m.body).await
                            && let Err(e) = queue::delete(sqs, url, &m.receipt_handle).await
                        {
                            tracing::warn!(error = %e, "could not delete a handled event");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, queue = url, "receiving events failed");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Settles the tracks an event names; whether the event is done with (false: keep it for a
    /// retry, the store or the database failed).
    async fn handle(&self, body: &str) -> bool {
        let Ok(value) = serde_json::from_str(body) else { return true };
        let Ok(Notification::Objects(objects)) = notification::objects_in(&value) else { return true };
        let mut done = true;
        for obj in objects.into_iter().flatten() {
            let Some((user, id)) = self.objects.track_of_output(&obj.bucket, &obj.key) else { continue };
            match tracks::get(&self.db, &user, &id).await {
                Ok(Some(t)) => {
                    if let Err(e) = self.settle(&t).await {
                        tracing::warn!(track = %id, error = %e, "settling from an event failed");
                        done = false;
                    }
                }
                Ok(None) => {} // deleted meanwhile, or not one of ours
                Err(e) => {
                    tracing::warn!(error = %e, "looking up the track of an event failed");
                    done = false;
                }
            }
        }
        done
    }

    async fn pause(&self, d: Duration) {
        let step = Duration::from_millis(200);
        let mut left = d;
        while !self.cancel.is_stopping() && !left.is_zero() {
            tokio::time::sleep(step.min(left)).await;
            left = left.saturating_sub(step);
        }
    }
}
