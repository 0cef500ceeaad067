//! The handler: one event → the jobs it names → the answer its invoker expects.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audioproc_s3::job::claims::Claims;
use audioproc_s3::job::{Destination, Job, Object, Outcome, OwnOutput, Policy};
use audioproc_s3::{ObjectRef, S3Client, S3Store};
use serde_json::{Value, json};
use tracing::{Instrument, error, info, warn};

use crate::config::Config;
use crate::events::{self, Incoming};

fn retryable(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::RetryableFailure { .. } | Outcome::Stopped)
}

/// The `results[]` entry of one object.
fn summary(outcome: &Outcome, obj: Option<&ObjectRef>) -> Value {
    json!({"object": obj.map(ObjectRef::url), "status": outcome.status(), "detail": detail(outcome)})
}

/// What happened, in a few words: the output, the reason or the error.
fn detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Written(w) => w.dest.url(),
        Outcome::AlreadyDone { dest, .. } => dest.url(),
        Outcome::Ignored { reason } => (*reason).to_owned(),
        Outcome::Stopped => "stopped before it began".to_owned(),
        Outcome::PermanentFailure { error, .. } | Outcome::RetryableFailure { error } => error.message.clone(),
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
    /// The outputs the jobs in flight are writing (two records of one event may collide).
    claims: Arc<Claims>,
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
        Handler { client, config, claims: Arc::default() }
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
                    if retryable(&result) {
                        retry.push(summary(&result, obj.as_ref()).to_string());
                    }
                    results.push(summary(&result, obj.as_ref()));
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
                                retry |= retryable(&self.run_target(target, deadline).await.1);
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
                    let code = match &result {
                        Outcome::Written(_) | Outcome::AlreadyDone { .. } | Outcome::Ignored { .. } => "Succeeded",
                        Outcome::RetryableFailure { .. } | Outcome::Stopped => "TemporaryFailure",
                        Outcome::PermanentFailure { .. } => "PermanentFailure",
                    };
                    let text = match &result {
                        Outcome::Written(_) => format!("written {}", detail(&result)),
                        Outcome::AlreadyDone { .. } => format!("already done {}", detail(&result)),
                        Outcome::Ignored { .. } => format!("ignored: {}", detail(&result)),
                        _ => detail(&result),
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

    async fn run_target(&self, target: events::Target, deadline: Option<Instant>) -> (Option<ObjectRef>, Outcome) {
        match target {
            Ok(obj) => {
                let result = self.run_object(&obj, deadline).await;
                (Some(obj), result)
            }
            Err(error) => {
                error!(error = %error, status = "permanent_failure", "event names no usable object");
                (None, Outcome::PermanentFailure { error, report: None })
            }
        }
    }

    /// Processes one object: the job, with the function's rules (allow-list, own-output guard,
    /// size cap, deadline, skip when done, error reports).
    pub async fn run_object(&self, obj: &ObjectRef, deadline: Option<Instant>) -> Outcome {
        let c = &self.config;
        let out_bucket = c.output_bucket_for(&obj.bucket).to_owned();
        let source_store = Arc::new(S3Store::new(self.client.clone(), &obj.bucket));
        let output_store = Arc::new(S3Store::new(self.client.clone(), &out_bucket));
        let job = Job {
            source: Object { store: source_store, key: obj.key.clone(), version: obj.version_id.clone() },
            dest: Destination::Mirror { store: output_store, prefix: c.output_prefix.clone(), strip: String::new() },
            spec: c.spec.clone(),
            policy: Policy {
                allowed_buckets: c.allowed_buckets.clone(),
                own_output: Some(OwnOutput { bucket: out_bucket.clone(), prefix: c.output_prefix.clone() }),
                max_input_bytes: c.max_input_bytes,
                deadline,
                claims: Some(Arc::clone(&self.claims)),
                ..Policy::service(c.work_dir.clone())
            },
        };
        audioproc_s3::job::run(&job).await
    }
}
