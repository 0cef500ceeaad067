//! `s3://` inputs and outputs for `process` and `analyze`, through `audioproc-s3` (the same
//! I/O module the Lambda function uses). S3 inputs are streamed into a temporary file first
//! (decoders need to seek); S3 outputs are written to a temporary file and uploaded (multipart
//! above 8 MiB, aborted on failure), so a failed run never leaves an object under OUT.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use audioproc_engine::{Overwrite, ProcessReport, ProcessingSpec, process_file};
use audioproc_s3::job::{self, Existing, Job, JobOutcome};
use audioproc_s3::object::{self, PutOptions};
use audioproc_s3::{ObjectRef, S3Client, S3Url};
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

    /// The path, or the `s3://bucket/key` URL.
    pub fn display(&self) -> String {
        match self {
            Place::Local(p) => p.display().to_string(),
            Place::S3(o) => o.url(),
        }
    }
}

/// A Tokio runtime and an S3 client from the standard AWS configuration chain
/// (`AWS_ENDPOINT_URL` honoured), made only when an argument is on S3.
#[derive(Debug)]
pub struct S3Session {
    runtime: tokio::runtime::Runtime,
    client: S3Client,
}

impl S3Session {
    /// Starts the runtime and loads the configuration.
    pub fn new() -> anyhow::Result<S3Session> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the S3 runtime")?;
        let client = runtime.block_on(audioproc_s3::client_from_env());
        Ok(S3Session { runtime, client })
    }

    /// Streams `obj` into a temporary file (no size limit beyond the disk's).
    pub fn download(&self, obj: &ObjectRef) -> anyhow::Result<NamedTempFile> {
        let dir = std::env::temp_dir();
        Ok(self.runtime.block_on(object::download(&self.client, obj, None, u64::MAX, &dir))?)
    }
}

/// `audioproc process` with IN and/or OUT on S3. `progress` receives the engine's progress.
///
/// - S3 → S3: the S3 job (as the Lambda function runs it): output metadata records the source
///   ETag and the spec, and a JSON report sidecar `OUT.json` is written beside it.
/// - S3 → local: the input is downloaded, then processed like a local file.
/// - local → S3: processed into a temporary file, uploaded with the result's metadata.
///
/// An existing OUT is refused unless `force`.
pub fn process(
    input: &Place,
    output: &Place,
    spec: &ProcessingSpec,
    force: bool,
    progress: &(dyn Fn(audioproc_engine::Progress) + Sync),
) -> Result<ProcessReport, String> {
    let session = S3Session::new().map_err(|e| format!("{e:#}"))?;
    let overwrite = if force { Overwrite::Replace } else { Overwrite::Never };
    match (input, output) {
        (Place::S3(source), Place::S3(dest)) => {
            let job = Job {
                source: source.clone(),
                dest: dest.clone(),
                spec: spec.clone(),
                max_input_bytes: u64::MAX,
                deadline: None,
                work_dir: std::env::temp_dir(),
                existing: if force { Existing::Replace } else { Existing::Refuse },
            };
            match session.runtime.block_on(job::run(&session.client, &job)) {
                Ok(JobOutcome::Written(w)) => Ok(w.process),
                Ok(JobOutcome::AlreadyDone { dest }) => Err(format!("{dest} exists (use --force to replace it)")),
                Err(e) => Err(e.to_string()),
            }
        }
        (Place::S3(source), Place::Local(out)) => {
            let temp = session.download(source).map_err(|e| format!("{e:#}"))?;
            process_file(temp.path(), out, spec, overwrite, progress).map_err(|e| e.to_string())
        }
        (Place::Local(inp), Place::S3(dest)) => {
            let existing = session.runtime.block_on(object::head(&session.client, dest)).map_err(|e| e.to_string())?;
            if existing.is_some() && !force {
                return Err(format!("{dest} exists (use --force to replace it)"));
            }
            let temp = tempfile::Builder::new()
                .prefix(".audioproc-out-")
                .suffix(&format!(".{}", spec.format.extension()))
                .tempfile()
                .map_err(|e| format!("creating a temporary file: {e}"))?
                .into_temp_path();
            let report = process_file(inp, &temp, spec, Overwrite::Replace, progress).map_err(|e| e.to_string())?;
            let options = PutOptions {
                content_type: spec.format.mime_type().to_owned(),
                metadata: job::result_metadata(&spec.canonical(), &report),
            };
            session
                .runtime
                .block_on(object::upload_file(&session.client, &temp, dest, &options))
                .map_err(|e| e.to_string())?;
            Ok(report)
        }
        (Place::Local(inp), Place::Local(out)) => {
            process_file(inp, out, spec, overwrite, progress).map_err(|e| e.to_string())
        }
    }
}
