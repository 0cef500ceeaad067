//! The handler: one event → the jobs it names → the answer its invoker expects.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audioproc_s3::job::{self, Existing, Job, JobOutcome};
use audioproc_s3::location::error_key;
use audioproc_s3::{ObjectRef, S3Client, S3Error, output_key};
use serde_json::{Value, json};
use tracing::{Instrument, error, info, warn};

use crate::config::Config;
use crate::events::{self, Incoming};

/// How one object ended.
#[derive(Debug)]
pub enum ObjectResult {
    /// The output was written.
    Written(ObjectRef),
    /// The output already existed for this source ETag and spec.
    AlreadyDone(ObjectRef),
    /// The event was not for us (our own output): nothing read, nothing written.
    Ignored(&'static str),
    /// It failed; a permanent failure has been recorded (where allowed) in an error report.
    Failed(S3Error),
}

impl ObjectResult {
    fn retryable(&self) -> bool {
        matches!(self, ObjectResult::Failed(e) if e.is_retryable())
    }

    fn summary(&self, obj: Option<&ObjectRef>) -> Value {
        let (status, detail) = match self {
            ObjectResult::Written(o) => ("written", o.url()),
            ObjectResult::AlreadyDone(o) => ("already_done", o.url()),
            ObjectResult::Ignored(why) => ("ignored", (*why).to_owned()),
            ObjectResult::Failed(e) if e.is_retryable() => ("retryable_failure", e.message.clone()),
            ObjectResult::Failed(e) => ("permanent_failure", e.message.clone()),
        };
        json!({"object": obj.map(ObjectRef::url), "status": status, "detail": detail})
    }
}

/// A failed invocation (Lambda retries asynchronous invocations that fail).
#[derive(Debug)]
pub struct InvocationFailed(pub String);

impl std::fmt::Display for InvocationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvocationFailed {}

impl From<InvocationFailed> for lambda_runtime::Diagnostic {
    fn from(e: InvocationFailed) -> Self {
        lambda_runtime::Diagnostic { error_type: "audioproc.InvocationFailed".to_owned(), error_message: e.0 }
    }
}

/// The function's state across invocations: the S3 client and the configuration.
#[derive(Debug)]
pub struct Handler {
    client: S3Client,
    config: Config,
}

/// Lambda's deadline (epoch milliseconds) as an [`Instant`].
pub fn deadline_instant(deadline_ms: u64) -> Instant {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    Instant::now() + left
}

impl Handler {
    /// A handler with this client and configuration.
    pub fn new(client: S3Client, config: Config) -> Self {
        Handler { client, config }
    }

    /// Handles one invocation. `Err` means "fail the invocation" (retryable work remains, or the
    /// payload is not an event we accept).
    ///
    /// # Errors
    /// [`InvocationFailed`] as above.
    pub async fn handle(
        &self,
        event: Value,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Value, InvocationFailed> {
        let span = tracing::info_span!("invocation", request_id);
        self.dispatch(event, deadline).instrument(span).await
    }

    async fn dispatch(&self, event: Value, deadline: Option<Instant>) -> Result<Value, InvocationFailed> {
        let incoming = events::parse(&event).map_err(|e| {
            error!(error = %e, "unsupported event");
            InvocationFailed(format!("unsupported event: {e}"))
        })?;
        match incoming {
            Incoming::Test => {
                info!("s3:TestEvent: nothing to do");
                Ok(json!({"status": "test_event"}))
            }
            Incoming::Objects(targets) => {
                let mut results = Vec::new();
                let mut retry = Vec::new();
                for target in targets {
                    let (obj, result) = self.run_target(target, deadline).await;
                    if result.retryable() {
                        retry.push(result.summary(obj.as_ref()).to_string());
                    }
                    results.push(result.summary(obj.as_ref()));
                }
                if retry.is_empty() {
                    Ok(json!({"results": results}))
                } else {
                    Err(InvocationFailed(format!("retryable failures: {}", retry.join("; "))))
                }
            }
            Incoming::Sqs(messages) => {
                let mut failures = Vec::new();
                for (id, objects) in messages {
                    match objects {
                        Err(why) => {
                            warn!(message_id = %id, error = %why, "poison message: left to the queue's redrive policy");
                            failures.push(json!({"itemIdentifier": id}));
                        }
                        Ok(targets) => {
                            let mut retry = false;
                            for target in targets {
                                retry |= self.run_target(target, deadline).await.1.retryable();
                            }
                            if retry {
                                failures.push(json!({"itemIdentifier": id}));
                            }
                        }
                    }
                }
                Ok(json!({"batchItemFailures": failures}))
            }
            Incoming::Batch(batch) => {
                let mut results = Vec::new();
                for (task_id, target) in batch.tasks {
                    let (_, result) = self.run_target(target, deadline).await;
                    let (code, text) = match &result {
                        ObjectResult::Written(o) => ("Succeeded", format!("written {}", o.url())),
                        ObjectResult::AlreadyDone(o) => ("Succeeded", format!("already done {}", o.url())),
                        ObjectResult::Ignored(why) => ("Succeeded", format!("ignored: {why}")),
                        ObjectResult::Failed(e) if e.is_retryable() => ("TemporaryFailure", e.message.clone()),
                        ObjectResult::Failed(e) => ("PermanentFailure", e.message.clone()),
                    };
                    results.push(json!({"taskId": task_id, "resultCode": code, "resultString": text}));
                }
                Ok(json!({
                    "invocationSchemaVersion": batch.schema,
                    "treatMissingKeysAs": "PermanentFailure",
                    "invocationId": batch.invocation_id,
                    "results": results,
                }))
            }
        }
    }

    async fn run_target(&self, target: events::Target, deadline: Option<Instant>) -> (Option<ObjectRef>, ObjectResult) {
        match target {
            Ok(obj) => {
                let result = self.run_object(&obj, deadline).await;
                (Some(obj), result)
            }
            Err(e) => {
                error!(error = %e, "event names no usable object");
                (None, ObjectResult::Failed(e))
            }
        }
    }

    /// Processes one object: the safety rules, the job, and the error report of a permanent
    /// failure.
    pub async fn run_object(&self, obj: &ObjectRef, deadline: Option<Instant>) -> ObjectResult {
        let started = Instant::now();
        if !self.config.bucket_allowed(&obj.bucket) {
            error!(bucket = %obj.bucket, key = %obj.key, "bucket not in AUDIOPROC_ALLOWED_BUCKETS: refused");
            return ObjectResult::Failed(S3Error::permanent(format!(
                "bucket {:?} is not in AUDIOPROC_ALLOWED_BUCKETS",
                obj.bucket
            )));
        }
        if self.config.is_own_output(&obj.bucket, &obj.key) {
            info!(bucket = %obj.bucket, key = %obj.key, "event for our own output prefix: ignored");
            return ObjectResult::Ignored("key is under the output prefix");
        }
        let out_bucket = self.config.output_bucket_for(&obj.bucket).to_owned();
        let dest_key = match output_key(&self.config.output_prefix, &obj.key, self.config.spec.format) {
            Ok(k) => k,
            Err(e) => return ObjectResult::Failed(e),
        };
        let job = Job {
            source: obj.clone(),
            dest: ObjectRef::new(&out_bucket, dest_key),
            spec: self.config.spec.clone(),
            max_input_bytes: self.config.max_input_bytes,
            deadline,
            work_dir: self.config.work_dir.clone(),
            existing: Existing::SkipIfSame,
        };
        match job::run(&self.client, &job).await {
            Ok(JobOutcome::Written(w)) => {
                // An earlier failure of this key (since re-uploaded) no longer applies.
                let stale = ObjectRef::new(&out_bucket, error_key(&self.config.output_prefix, &obj.key));
                audioproc_s3::object::delete_quietly(&self.client, &stale).await;
                let o = &w.process.output.loudness;
                info!(
                    bucket = %obj.bucket, key = %obj.key, output = %w.dest.url(), input_bytes = w.input_bytes,
                    input_lufs = w.process.input.loudness.integrated_lufs, output_lufs = o.integrated_lufs,
                    output_true_peak_dbtp = o.true_peak_dbtp, gain_db = w.process.gain_db, target_met = w.process.target_met,
                    download_s = w.timings.download_s, process_s = w.timings.process_s, upload_s = w.timings.upload_s,
                    total_s = started.elapsed().as_secs_f64(), "written"
                );
                ObjectResult::Written(w.dest)
            }
            Ok(JobOutcome::AlreadyDone { dest }) => {
                info!(bucket = %obj.bucket, key = %obj.key, output = %dest.url(), "output already records this source and spec: nothing to do");
                ObjectResult::AlreadyDone(dest)
            }
            Err(e) if e.is_retryable() => {
                warn!(bucket = %obj.bucket, key = %obj.key, error = %e, total_s = started.elapsed().as_secs_f64(), "retryable failure");
                ObjectResult::Failed(e)
            }
            Err(e) => {
                let report_key = error_key(&self.config.output_prefix, &obj.key);
                error!(bucket = %obj.bucket, key = %obj.key, error = %e, report = %report_key, "permanent failure");
                match job::write_error_report(&self.client, &out_bucket, &report_key, obj, &e).await {
                    Ok(_) => ObjectResult::Failed(e),
                    // Not recorded: let it be retried rather than lost silently.
                    Err(w) => ObjectResult::Failed(S3Error::retryable(format!(
                        "{e} (and writing its error report failed: {w})"
                    ))),
                }
            }
        }
    }
}
