//! `audioproc worker`: a long-running consumer of an SQS queue fed by S3 event notifications,
//! for a fleet of instances behind an Auto Scaling group (see "Run a worker fleet" in README.md).
//!
//! Each message is handled as the Lambda function handles an SQS record, with the same job
//! ([`audioproc_s3::job::run`], idempotent on the source ETag and the spec):
//!
//! - an S3 notification: each object is processed to `--output` prefix + its key (new
//!   extension). While it runs, the message's visibility is extended every third of
//!   `--visibility`. The message is deleted when every object is done (written, already done,
//!   or failed permanently — then an `.error.json` report is written first); if anything failed
//!   retryably, it is made visible again after [`retry_delay`] instead.
//! - `s3:TestEvent`: deleted.
//! - anything else (poison): never deleted, made visible again after the retry delay, so the
//!   queue's redrive policy moves it to the dead-letter queue after `maxReceiveCount` receives.
//!
//! Up to `--jobs` messages are in flight. On SIGTERM or SIGINT the worker stops receiving,
//! lets in-flight messages finish for up to `--grace` seconds, makes any still unfinished
//! visible again at once (another worker takes them over) and exits 0; a second signal skips
//! the wait. A worker that dies without warning loses nothing either: its messages reappear
//! when their visibility runs out.

mod health;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use audioproc_engine::{OutputFormat, ProcessingSpec};
use audioproc_s3::job::claims::Claims;
use audioproc_s3::job::{Destination, Job, Object, Outcome, OwnOutput, Policy};
use audioproc_s3::notification::{Notification, objects_in};
use audioproc_s3::queue::{self, LONG_POLL, MAX_MESSAGES_PER_RECEIVE, Received, SqsClient};
use audioproc_s3::{Cancel, ObjectRef, S3Client, S3Error, S3Store, S3Url};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, warn};

use crate::process::SpecArgs;

/// A message that must be retried is made visible again after this long at most (sooner when
/// `--visibility` is shorter).
const RETRY_DELAY: Duration = Duration::from_secs(10);
/// How long jobs given up on get to abort their uploads before they are dropped.
const ABORT_WAIT: Duration = Duration::from_secs(5);
/// Waits between failed receives: doubling from the first to the last.
const RECEIVE_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// `audioproc worker` arguments.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// URL of the SQS queue the input bucket's S3 event notifications go to.
    #[arg(long, value_name = "SQS_URL")]
    queue: String,
    /// Where outputs go, `s3://bucket/prefix/`: the output key is the prefix + the input key
    /// with the format's extension. Notifications for keys under it are ignored (no loop).
    #[arg(short, long, value_name = "S3_PREFIX")]
    output: String,
    #[command(flatten)]
    spec: SpecArgs,
    /// Messages processed at once (default: one per core; at most 256).
    #[arg(long, short = 'j', value_name = "N", value_parser = crate::parse_jobs)]
    jobs: Option<usize>,
    /// Seconds a received message stays hidden from other workers; extended every third of
    /// this while it is processed, so a worker that dies hands it on after at most this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=43_200))]
    visibility: u64,
    /// Serve `GET /healthz` (alive) and `GET /readyz` (output bucket and queue reachable) on
    /// this TCP port, all interfaces.
    #[arg(long, value_name = "PORT")]
    health_port: Option<u16>,
    /// After SIGTERM or SIGINT, seconds in-flight messages get to finish before the worker
    /// exits.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    grace: u64,
    /// Refuse inputs larger than this many bytes (a permanent failure).
    #[arg(long, value_name = "BYTES", default_value_t = 2 * 1024 * 1024 * 1024)]
    max_input_bytes: u64,
}

/// How far the worker is in stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Running,
    /// A signal arrived: no more receives; in-flight messages finish.
    Draining,
    /// A second signal: stop waiting for in-flight messages.
    Abandon,
}

/// What the message tasks share.
#[derive(Debug)]
struct Worker {
    s3: S3Client,
    sqs: SqsClient,
    queue: String,
    output: S3Url,
    spec: ProcessingSpec,
    visibility: Duration,
    max_input_bytes: u64,
    work_dir: PathBuf,
    /// Receipt handles of the messages being processed, by message id.
    in_flight: Mutex<HashMap<String, String>>,
    /// The outputs the jobs in flight are writing.
    claims: Arc<Claims>,
    /// Aborted when the worker gives up on its jobs in flight: uploads abort between parts.
    cancel: Cancel,
}

/// `audioproc worker`. Returns when stopped by a signal (`Ok(true)`); errors only at start-up.
pub fn run(args: &WorkerArgs) -> anyhow::Result<bool> {
    let output = match S3Url::parse(&args.output) {
        Some(Ok(url)) if url.key.is_empty() || url.key.ends_with('/') => url,
        Some(Ok(_)) => bail!("--output {}: the prefix must end with '/'", args.output),
        Some(Err(e)) => return Err(e.into()),
        None => bail!("--output {}: expected s3://bucket/prefix/", args.output),
    };
    let spec = args.spec.spec(args.spec.format.unwrap_or(OutputFormat::Flac));
    spec.validate()?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    // Files in progress live here; removed on exit. After a SIGKILL it stays until the next
    // worker on this machine starts and sweeps it.
    let work_dir =
        audioproc_s3::work_dir::create("audioproc-worker-").context("creating the work directory in $TMPDIR")?;
    init_logging();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the worker runtime")?;
    let outcome = runtime.block_on(async {
        let worker = Arc::new(Worker {
            s3: audioproc_s3::client_from_env().await,
            sqs: queue::sqs_client_from_env().await,
            queue: args.queue.clone(),
            output,
            spec,
            visibility: Duration::from_secs(args.visibility),
            max_input_bytes: args.max_input_bytes,
            work_dir: work_dir.path().to_owned(),
            in_flight: Mutex::new(HashMap::new()),
            claims: Arc::default(),
            cancel: Cancel::new(),
        });
        serve(worker, jobs, Duration::from_secs(args.grace), args.health_port).await
    });
    // Processing threads still running after the grace period are not waited for.
    runtime.shutdown_background();
    drop(work_dir);
    outcome
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves once the worker is at `stage` or further.
async fn reached(stage: &watch::Receiver<Stage>, at_least: Stage) {
    let mut rx = stage.clone();
    // The sender lives as long as `serve`; an error means it is gone, which is a stop too.
    let _ = rx.wait_for(|s| *s >= at_least).await;
}

/// Moves `stage` on at each SIGTERM or SIGINT: the first drains, the second abandons.
async fn watch_signals(stage: Arc<watch::Sender<Stage>>) -> anyhow::Result<()> {
    let advance = move |name: &str| {
        if *stage.borrow() == Stage::Running {
            info!(signal = name, "stopping: no more receives; in-flight messages finish");
            stage.send_replace(Stage::Draining);
        } else {
            warn!(signal = name, "second signal: not waiting for in-flight messages");
            stage.send_replace(Stage::Abandon);
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                advance(name);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            advance("Ctrl-C");
        }
    });
    Ok(())
}

/// The receive loop, then the drain.
async fn serve(worker: Arc<Worker>, jobs: usize, grace: Duration, health_port: Option<u16>) -> anyhow::Result<bool> {
    let (stage_tx, stage) = watch::channel(Stage::Running);
    let stage_tx = Arc::new(stage_tx);
    watch_signals(Arc::clone(&stage_tx)).await?;
    if let Some(port) = health_port {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .with_context(|| format!("--health-port {port}: cannot listen"))?;
        let readiness = health::Readiness::new(
            worker.s3.clone(),
            worker.sqs.clone(),
            worker.output.bucket.clone(),
            worker.queue.clone(),
            stage.clone(),
        );
        info!(address = %listener.local_addr()?, "health endpoints: GET /healthz, GET /readyz");
        tokio::spawn(health::serve(listener, Arc::new(readiness)));
    }
    info!(
        queue = %worker.queue, output = %format!("s3://{}/{}", worker.output.bucket, worker.output.key),
        spec = %worker.spec.canonical(), jobs, visibility_s = worker.visibility.as_secs(), grace_s = grace.as_secs(),
        "worker started"
    );

    let slots = Arc::new(Semaphore::new(jobs));
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::ZERO;
    loop {
        while tasks.try_join_next().is_some() {}
        // Receive only as many messages as there are free slots (at least one).
        let first = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.map_err(|e| anyhow!("{e}"))?,
            () = reached(&stage, Stage::Draining) => break,
        };
        let mut permits = vec![first];
        while permits.len() < jobs.min(MAX_MESSAGES_PER_RECEIVE) {
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let received = tokio::select! {
            r = queue::receive(&worker.sqs, &worker.queue, permits.len(), LONG_POLL, worker.visibility) => r,
            // Messages a cancelled receive had taken reappear when their visibility runs out.
            () = reached(&stage, Stage::Draining) => break,
        };
        match received {
            Ok(messages) => {
                backoff = Duration::ZERO;
                for (message, permit) in messages.into_iter().zip(permits) {
                    let worker = Arc::clone(&worker);
                    tasks.spawn(async move {
                        worker.handle(message).await;
                        drop(permit);
                    });
                }
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(RECEIVE_BACKOFF.0, RECEIVE_BACKOFF.1);
                error!(error = %e, retry_in_s = backoff.as_secs(), "receiving from the queue failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = reached(&stage, Stage::Draining) => break,
                }
            }
        }
    }

    while tasks.try_join_next().is_some() {}
    if !tasks.is_empty() {
        info!(in_flight = tasks.len(), grace_s = grace.as_secs(), "waiting for in-flight messages");
    }
    let drained = tokio::select! {
        r = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }) => r.is_ok(),
        () = reached(&stage, Stage::Abandon) => false,
    };
    if !drained {
        // Let uploads in progress abort their multipart uploads, then cancel the tasks (their
        // heartbeats too), then hand their messages back.
        worker.cancel.abort();
        let _ = tokio::time::timeout(ABORT_WAIT, async { while tasks.join_next().await.is_some() {} }).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let unfinished: Vec<(String, String)> = worker.in_flight().drain().collect();
        warn!(
            unfinished = unfinished.len(),
            "stopping before in-flight messages finished: handing them back to the queue"
        );
        for (id, receipt) in unfinished {
            if let Err(e) = queue::change_visibility(&worker.sqs, &worker.queue, &receipt, Duration::ZERO).await {
                warn!(message_id = %id, error = %e, "could not hand the message back: it reappears when its visibility runs out");
            }
        }
    }
    info!("worker stopped");
    Ok(true)
}

/// How long a message to be retried stays hidden.
fn retry_delay(visibility: Duration) -> Duration {
    RETRY_DELAY.min(visibility)
}

impl Worker {
    fn in_flight(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn handle(&self, message: Received) {
        let span = tracing::info_span!("message", message_id = %message.id, receive_count = message.receive_count);
        self.handle_message(message).instrument(span).await;
    }

    async fn handle_message(&self, message: Received) {
        let started = Instant::now();
        info!("message received");
        let notification = serde_json::from_str(&message.body)
            .map_err(|e| format!("body is not JSON: {e}"))
            .and_then(|body| objects_in(&body));
        let targets = match notification {
            Err(why) => {
                warn!(error = %why, status = "poison", "not an S3 event notification: left to the queue's redrive policy (dead-letter queue)");
                self.retry_later(&message).await;
                return;
            }
            Ok(Notification::Test) => {
                info!(status = "test_event", "s3:TestEvent: nothing to do");
                self.delete(&message).await;
                return;
            }
            Ok(Notification::Objects(targets)) => targets,
        };

        self.in_flight().insert(message.id.clone(), message.receipt_handle.clone());
        let work = async {
            let mut retry = false;
            for target in targets {
                retry |= matches!(self.run_target(target).await, Outcome::RetryableFailure { .. } | Outcome::Stopped);
            }
            retry
        };
        let retry = tokio::select! {
            retry = work => retry,
            never = self.heartbeat(&message.receipt_handle) => match never {},
        };
        self.in_flight().remove(&message.id);

        if retry {
            warn!(status = "retry", total_s = started.elapsed().as_secs_f64(), "message kept for a retry");
            self.retry_later(&message).await;
        } else {
            // Logged before the delete, so that a log without it proves the message was not
            // deleted (the fleet test relies on this to know what a killed worker left behind).
            info!(status = "finished", "message finished: deleting it");
            self.delete(&message).await;
            info!(status = "done", total_s = started.elapsed().as_secs_f64(), "message done");
        }
    }

    /// Extends the message's visibility every third of `--visibility`, for as long as it is
    /// polled.
    async fn heartbeat(&self, receipt_handle: &str) -> Infallible {
        let period = (self.visibility / 3).max(Duration::from_millis(500));
        loop {
            tokio::time::sleep(period).await;
            if let Err(e) = queue::change_visibility(&self.sqs, &self.queue, receipt_handle, self.visibility).await {
                // Another worker may get it too; the job is idempotent, so carry on.
                warn!(error = %e, "could not extend the message's visibility");
            }
        }
    }

    async fn delete(&self, message: &Received) {
        if let Err(e) = queue::delete(&self.sqs, &self.queue, &message.receipt_handle).await {
            // It will be received again; the job finds its output done.
            warn!(error = %e, "could not delete the message: it will be received again");
        }
    }

    async fn retry_later(&self, message: &Received) {
        // Given up on because the worker is stopping: another worker may take it at once.
        let delay = if self.cancel.is_aborted() { Duration::ZERO } else { retry_delay(self.visibility) };
        if let Err(e) = queue::change_visibility(&self.sqs, &self.queue, &message.receipt_handle, delay).await {
            warn!(error = %e, "could not shorten the message's visibility: it reappears when it runs out");
        }
    }

    async fn run_target(&self, target: Result<ObjectRef, S3Error>) -> Outcome {
        match target {
            Ok(obj) => self.run_object(&obj).await,
            Err(error) => {
                // Nothing names an input, so there is nowhere to put a report: log it.
                error!(error = %error, status = "permanent_failure", "the notification names no usable object");
                Outcome::PermanentFailure { error, report: None }
            }
        }
    }

    /// Processes one object: the job with the worker's rules (own-output guard, size cap, skip
    /// when done, error reports). The job logs its outcome.
    async fn run_object(&self, obj: &ObjectRef) -> Outcome {
        let out = &self.output;
        let job = Job {
            source: Object {
                store: Arc::new(S3Store::new(self.s3.clone(), &obj.bucket)),
                key: obj.key.clone(),
                version: obj.version_id.clone(),
            },
            dest: Destination::Mirror {
                store: Arc::new(S3Store::new(self.s3.clone(), &out.bucket)),
                prefix: out.key.clone(),
                strip: String::new(),
            },
            spec: self.spec.clone(),
            policy: Policy {
                own_output: Some(OwnOutput { bucket: out.bucket.clone(), prefix: out.key.clone() }),
                max_input_bytes: self.max_input_bytes,
                claims: Some(Arc::clone(&self.claims)),
                cancel: self.cancel.clone(),
                ..Policy::service(self.work_dir.clone())
            },
        };
        audioproc_s3::job::run(&job).await
    }
}
