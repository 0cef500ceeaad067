//! Local files and `s3://` objects for `process` and `analyze`: `process` runs the one job of
//! `audioproc-s3` (the same the Lambda function runs) between any mix of the two; `analyze`
//! streams S3 inputs into a temporary file first (decoders need to seek).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use audioproc_engine::{ProcessReport, ProcessingSpec};
use audioproc_s3::job::{Destination, Existing, Job, Object, Outcome, Policy, ProgressFn};
use audioproc_s3::object;
use audioproc_s3::{LocalStore, ObjectRef, S3Client, S3Store, S3Url};
use tempfile::NamedTempFile;

/// Where an argument points.
#[derive(Debug, Clone)]
pub enum Place {
    /// A local path.
    Local(PathBuf),
    /// An S3 object (`s3://bucket/key`).
    S3(ObjectRef),
}

impl Place {
    /// Reads a command-line argument: `s3://bucket/key` or a local path.
    pub fn parse(arg: &Path) -> anyhow::Result<Place> {
        match arg.to_str().and_then(S3Url::parse) {
            None => Ok(Place::Local(arg.to_path_buf())),
            Some(Ok(url)) if url.key.is_empty() || url.key.ends_with('/') => {
                Err(anyhow!("{}: names a prefix, not an object", arg.display()))
            }
            Some(Ok(url)) => Ok(Place::S3(url.object())),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// Whether it is on S3.
    pub fn is_s3(&self) -> bool {
        matches!(self, Place::S3(_))
    }
}

/// A Tokio runtime, and an S3 client from the standard AWS configuration chain
/// (`AWS_ENDPOINT_URL` honoured) when something is on S3.
#[derive(Debug)]
pub struct S3Session {
    runtime: tokio::runtime::Runtime,
    client: Option<S3Client>,
}

impl S3Session {
    /// Starts the runtime and loads the configuration.
    pub fn new() -> anyhow::Result<S3Session> {
        Self::with_client(true)
    }

    /// Starts the runtime, and loads the S3 configuration only if `s3` is set.
    fn with_client(s3: bool) -> anyhow::Result<S3Session> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the S3 runtime")?;
        let client = s3.then(|| runtime.block_on(audioproc_s3::client_from_env()));
        Ok(S3Session { runtime, client })
    }

    fn client(&self) -> anyhow::Result<&S3Client> {
        self.client.as_ref().context("no S3 client")
    }

    /// Streams `obj` into a temporary file (no size limit beyond the disk's).
    pub fn download(&self, obj: &ObjectRef) -> anyhow::Result<NamedTempFile> {
        let dir = std::env::temp_dir();
        Ok(self.runtime.block_on(object::download(self.client()?, obj, None, u64::MAX, &dir))?)
    }
}

/// The store and key of a local path: its directory and its file name (any bytes).
fn local_object(path: &Path) -> Result<Object, String> {
    let (store, key) = LocalStore::for_file(path).map_err(|e| e.to_string())?;
    Ok(Object::new(Arc::new(store), key))
}

impl S3Session {
    /// The object a place names.
    fn object(&self, place: &Place) -> Result<Object, String> {
        match place {
            Place::Local(p) => local_object(p),
            Place::S3(o) => Ok(Object {
                store: Arc::new(S3Store::new(self.client().map_err(|e| e.to_string())?.clone(), &o.bucket)),
                key: o.key.clone(),
                version: o.version_id.clone(),
            }),
        }
    }
}

/// `audioproc process IN -o OUT`, local files and `s3://` objects in any mix: the one job
/// ([`audioproc_s3::job::run`]) with the CLI's rules. An existing OUT is refused unless
/// `force`; an S3 output gets the source and spec in its metadata and the JSON report sidecar
/// `OUT.json` beside it. `progress` receives the engine's progress.
pub fn process(
    input: &Place,
    output: &Place,
    spec: &ProcessingSpec,
    force: bool,
    progress: ProgressFn,
) -> Result<ProcessReport, String> {
    if let Place::Local(out) = output {
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!("output directory {} does not exist", dir.display()));
        }
    }
    let session = S3Session::with_client(input.is_s3() || output.is_s3()).map_err(|e| format!("{e:#}"))?;
    // Downloads and S3-bound outputs: removed when the job ends, or by the next run after a kill.
    let work =
        audioproc_s3::work_dir::create("audioproc-process-").map_err(|e| format!("creating a work directory: {e}"))?;
    let job = Job {
        source: session.object(input)?,
        dest: Destination::Exact(session.object(output)?),
        spec: spec.clone(),
        policy: Policy {
            existing: if force { Existing::Replace } else { Existing::Refuse },
            sidecar: output.is_s3(),
            error_reports: false,
            progress: Some(progress),
            cancel: crate::interrupt::cancel(),
            ..Policy::service(work.path().to_owned())
        },
    };
    match session.runtime.block_on(audioproc_s3::job::run(&job)) {
        Outcome::Written(w) => Ok(w.process),
        Outcome::AlreadyDone { dest, .. } => Err(format!("{} exists (use --force to replace it)", dest.url())),
        Outcome::Ignored { reason } => Err(reason.to_owned()),
        Outcome::Stopped => Err("stopped before it began".to_owned()),
        Outcome::PermanentFailure { error, .. } | Outcome::RetryableFailure { error } => Err(error.to_string()),
    }
}
