//! The per-object job every front end runs: one source object → its normalised output, the
//! output's metadata and its JSON report sidecar, or one typed reason why not.
//!
//! The Lambda function, `audioproc worker`, `audioproc batch` and `audioproc process` all build a
//! [`Job`] and call [`run`]; they only translate the [`Outcome`] into their protocol (SQS
//! `batchItemFailures`, Batch Operations result codes, message delete/keep, a report line, an
//! exit code). The phases, in order:
//!
//! 1. [`plan`]: the guards (allow-listed buckets, the own-output guard), the output key, the
//!    size cap and the deadline, and the existing-output policy (skip when the output records
//!    this very source and spec, refuse, or replace);
//! 2. [`fetch`](work::fetch): a local file with the input's bytes (a download on S3, `If-Match`
//!    the ETag read in step 1);
//! 3. [`compute`](work::compute): the engine on a blocking thread, into a staged temporary file;
//! 4. [`publish`](work::publish): the output first (rename, PUT, or multipart aborted on failure),
//!    then its sidecar, then the removal of a stale `.error.json`;
//! 5. on a permanent failure, the error report ([`outcome`]); one log line per job, whatever
//!    happened.
//!
//! Stores are [`ObjectStore`]s, so local directories and S3 buckets mix freely.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use audioproc_engine::{ProcessReport, ProcessingSpec, Progress, Threads};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::S3Error;
use crate::sidecar::{Location, Sidecar};
use crate::store::{Cancel, ObjectStore};

pub mod claims;
pub mod existing;
pub mod outcome;
pub mod plan;
pub mod work;

pub use plan::{Plan, Planned, plan};

/// The slowest input throughput assumed when deciding whether an input can be finished before
/// the deadline, bytes per second of input (a compressed input decodes to far more audio per
/// byte than a WAV; this is conservative for both).
pub const MIN_THROUGHPUT_BYTES_PER_S: f64 = 2_000_000.0;
/// Fixed time reserved for transfers and the report, seconds.
pub const DEADLINE_RESERVE_S: f64 = 5.0;

/// What to do when the output object already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Skip the job when the output records the same source and spec; replace it otherwise
    /// (the Lambda function, the worker and the batch job).
    SkipIfSame,
    /// Refuse (the CLI without `--force`).
    Refuse,
    /// Replace it whatever it holds (`--force`).
    Replace,
}

/// An object in a store.
#[derive(Clone, Debug)]
pub struct Object {
    /// Where it lives.
    pub store: Arc<dyn ObjectStore>,
    /// Its key.
    pub key: String,
    /// One version of it (an event may name one); `None` = the latest.
    pub version: Option<String>,
}

impl Object {
    /// The latest version of `key` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, key: impl Into<String>) -> Self {
        Object { store, key: key.into(), version: None }
    }

    /// How it is shown: `s3://bucket/key` or a local path.
    pub fn display(&self) -> String {
        self.store.display(&self.key)
    }

    /// Its location as recorded in reports.
    pub fn location(&self) -> Location {
        Location { bucket: self.store.bucket().to_owned(), key: self.key.clone() }
    }
}

/// Where the output goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// Exactly this object (`audioproc process IN -o OUT`).
    Exact(Object),
    /// The source key mirrored under a prefix: `prefix` + the source key without `strip`, with
    /// the format's extension (the Lambda function and the worker: `strip` empty; the batch
    /// job: `strip` = the source prefix). Error reports go to the same place with
    /// `.error.json` appended to the source key.
    Mirror {
        /// The store outputs go to.
        store: Arc<dyn ObjectStore>,
        /// Prepended to every output key (`processed/`; may be empty).
        prefix: String,
        /// Removed from the front of the source key first.
        strip: String,
    },
}

/// The own-output guard: events for objects under `prefix` of `bucket` are ours (outputs and
/// reports) and are ignored, so that writing outputs never triggers more work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnOutput {
    /// The output bucket.
    pub bucket: String,
    /// The output prefix.
    pub prefix: String,
}

/// Receives the engine's progress (a progress bar).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How a job may run: the rules of the front end that runs it.
#[derive(Clone)]
pub struct Policy {
    /// Only sources in these buckets are processed (empty: any bucket).
    pub allowed_buckets: Vec<String>,
    /// Sources under our own output prefix are ignored.
    pub own_output: Option<OwnOutput>,
    /// What to do when the output exists.
    pub existing: Existing,
    /// Inputs larger than this are refused (permanently).
    pub max_input_bytes: u64,
    /// When the job must be finished (Lambda's deadline): an input that cannot be processed in
    /// the time left is refused (permanently) before it is fetched.
    pub deadline: Option<Instant>,
    /// Set to stop: no phase starts once stopping (work in progress is published); an abort
    /// also gives up uploads between their parts.
    pub cancel: Cancel,
    /// Directory for downloads and S3-bound outputs.
    pub work_dir: PathBuf,
    /// Whether the engine may use helper threads for one file.
    pub threads: Threads,
    /// Write the JSON report sidecar beside the output.
    pub sidecar: bool,
    /// Write an error report for a permanent failure, and remove a stale one on success
    /// (needs a [`Destination::Mirror`]).
    pub error_reports: bool,
    /// Processing slots shared by concurrent jobs (the batch job's `--jobs`): a job holds one
    /// while the engine runs, not while it transfers.
    pub compute_slots: Option<Arc<Semaphore>>,
    /// The engine's progress.
    pub progress: Option<ProgressFn>,
    /// Outputs being written by this front end's jobs in flight (shared by every clone of the
    /// policy): two inputs with one output name are never processed at once.
    pub claims: Option<Arc<claims::Claims>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("allowed_buckets", &self.allowed_buckets)
            .field("own_output", &self.own_output)
            .field("existing", &self.existing)
            .field("max_input_bytes", &self.max_input_bytes)
            .field("threads", &self.threads)
            .field("sidecar", &self.sidecar)
            .field("error_reports", &self.error_reports)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// The rules of a queue consumer (the Lambda function, the worker): skip outputs already
    /// done, write sidecars and error reports, no size cap or deadline until set.
    pub fn service(work_dir: PathBuf) -> Self {
        Policy {
            allowed_buckets: Vec::new(),
            own_output: None,
            existing: Existing::SkipIfSame,
            max_input_bytes: u64::MAX,
            deadline: None,
            cancel: Cancel::new(),
            work_dir,
            threads: Threads::Pipelined,
            sidecar: true,
            error_reports: true,
            compute_slots: None,
            progress: None,
            claims: Some(Arc::default()),
        }
    }
}

/// One job.
#[derive(Clone, Debug)]
pub struct Job {
    /// The input object.
    pub source: Object,
    /// Where the output goes.
    pub dest: Destination,
    /// What to do to it.
    pub spec: ProcessingSpec,
    /// The front end's rules.
    pub policy: Policy,
}

/// Seconds spent in each phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Fetching the input.
    pub download_s: f64,
    /// Decoding, measuring, processing and encoding.
    pub process_s: f64,
    /// Publishing the output and its report.
    pub upload_s: f64,
}

/// A job that wrote its output.
#[derive(Debug)]
pub struct Written {
    /// The output object.
    pub dest: Location,
    /// How the output is shown.
    pub dest_display: String,
    /// The engine's report.
    pub process: ProcessReport,
    /// The sidecar document (written when the policy asks for it).
    pub sidecar: Sidecar,
    /// Where the time went.
    pub timings: Timings,
    /// Size of the input, bytes.
    pub input_bytes: u64,
}

/// How a job ended.
#[derive(Debug)]
pub enum Outcome {
    /// The output was written.
    Written(Box<Written>),
    /// The output already records this source and spec: nothing was written.
    AlreadyDone {
        /// The existing output.
        dest: Location,
        /// How it is shown.
        display: String,
    },
    /// The front end asked to stop (a signal) before the work began: nothing was done, and the
    /// next run does it.
    Stopped,
    /// Not ours to process (our own output): nothing was read or written.
    Ignored {
        /// Why.
        reason: &'static str,
    },
    /// Retrying cannot help (bad audio, a refused bucket, a missing or oversized input); its
    /// error report was written where the policy asks for one.
    PermanentFailure {
        /// What went wrong.
        error: S3Error,
        /// Where the error report went.
        report: Option<Location>,
    },
    /// It may work later (network, throttling, local disk, cancelled); nothing was left behind.
    RetryableFailure {
        /// What went wrong.
        error: S3Error,
    },
}

impl Outcome {
    /// The status name used in logs and Lambda responses: `written`, `already_done`,
    /// `ignored`, `permanent_failure`, `retryable_failure`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Written(_) => "written",
            Outcome::AlreadyDone { .. } => "already_done",
            Outcome::Stopped => "stopped",
            Outcome::Ignored { .. } => "ignored",
            Outcome::PermanentFailure { .. } => "permanent_failure",
            Outcome::RetryableFailure { .. } => "retryable_failure",
        }
    }

    /// The error, for the failures.
    pub fn error(&self) -> Option<&S3Error> {
        match self {
            Outcome::PermanentFailure { error, .. } | Outcome::RetryableFailure { error } => Some(error),
            _ => None,
        }
    }
}

/// Runs `job` to its [`Outcome`]: plan, fetch, compute, publish (see the module docs).
pub async fn run(job: &Job) -> Outcome {
    let started = Instant::now();
    let outcome = match plan(job).await {
        Ok(Planned::Process(plan)) => match work::execute(job, &plan, started).await {
            Ok(written) => Outcome::Written(Box::new(written)),
            Err(work::Failure::Stopped) => Outcome::Stopped,
            Err(work::Failure::Error(error)) => outcome::failed(job, Some(&plan), error).await,
        },
        Ok(Planned::AlreadyDone(dest)) => Outcome::AlreadyDone { dest: dest.location(), display: dest.display() },
        Ok(Planned::Ignored(reason)) => Outcome::Ignored { reason },
        Ok(Planned::Refused(error)) => Outcome::PermanentFailure { error, report: None },
        Err(error) => outcome::failed(job, None, error).await,
    };
    outcome::log(job, &outcome, started);
    outcome
}
