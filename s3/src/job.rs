//! The processing job on S3 objects: input object → normalised output object, its metadata and
//! its JSON report sidecar.
//!
//! 1. HEAD the input: size against the cap and the time left; ETag and version recorded.
//! 2. HEAD the output: if its metadata records the same source ETag and the same spec, the job
//!    is already done (a duplicate delivery) and nothing is written.
//! 3. Stream the input into a temporary file (`If-Match` its ETag), process it on a blocking
//!    thread with [`process_file`], upload the report sidecar and then the output (multipart
//!    above 8 MiB, aborted on failure; the sidecar is deleted again if the output could not be
//!    written). The output is written last, so it exists only when everything before it
//!    succeeded; the engine is deterministic, so concurrent duplicates write identical bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use audioproc_engine::report::ProcessDocument;
use audioproc_engine::{Error as EngineError, Overwrite, ProcessReport, ProcessingSpec, process_file};
use md5::{Digest, Md5};
use serde::Serialize;

use crate::client::S3Client;
use crate::error::{FailureKind, S3Error};
use crate::location::{ERROR_SUFFIX, ObjectRef, REPORT_SUFFIX};
use crate::object::{self, ObjectInfo, PutOptions};

/// User-metadata keys written on every output (`x-amz-meta-` + these).
pub mod meta {
    /// Bucket of the source object.
    pub const SOURCE_BUCKET: &str = "audioproc-source-bucket";
    /// Source key, percent-encoded (omitted when that would not fit S3's 2 KiB metadata limit).
    pub const SOURCE_KEY: &str = "audioproc-source-key";
    /// MD5 (hex) of the source key, always present.
    pub const SOURCE_KEY_MD5: &str = "audioproc-source-key-md5";
    /// ETag of the source object that was processed.
    pub const SOURCE_ETAG: &str = "audioproc-source-etag";
    /// Version id of the source object, on versioned buckets.
    pub const SOURCE_VERSION: &str = "audioproc-source-version-id";
    /// [`ProcessingSpec::canonical`] of the spec applied.
    pub const SPEC: &str = "audioproc-spec";
    /// Integrated loudness of the output, LUFS.
    pub const INTEGRATED_LUFS: &str = "audioproc-integrated-lufs";
    /// True peak of the output, dBTP.
    pub const TRUE_PEAK_DBTP: &str = "audioproc-true-peak-dbtp";
    /// Gain applied, dB.
    pub const GAIN_DB: &str = "audioproc-gain-db";
    /// Whether the target was met.
    pub const TARGET_MET: &str = "audioproc-target-met";
    /// Version of audioproc that wrote the output.
    pub const VERSION: &str = "audioproc-version";
}

/// Longest percent-encoded source key recorded in metadata (S3 allows 2 KiB of user metadata in
/// all).
const MAX_META_KEY_BYTES: usize = 1024;

/// The slowest input throughput assumed when deciding whether an input can be finished before
/// the deadline, bytes per second of input (a compressed input decodes to far more audio per
/// byte than a WAV; this is conservative for both).
pub const MIN_THROUGHPUT_BYTES_PER_S: f64 = 2_000_000.0;
/// Fixed time reserved for transfers and the report, seconds.
pub const DEADLINE_RESERVE_S: f64 = 5.0;

/// What to do when the output object already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Skip the job when the output records the same source ETag and spec; replace it otherwise
    /// (the Lambda function and the batch job).
    SkipIfSame,
    /// Refuse (the CLI without `--force`).
    Refuse,
    /// Replace it whatever it holds (`--force`).
    Replace,
}

/// One job.
#[derive(Clone, Debug)]
pub struct Job {
    /// The input object.
    pub source: ObjectRef,
    /// Where the output goes (see [`crate::output_key`]).
    pub dest: ObjectRef,
    /// What to do.
    pub spec: ProcessingSpec,
    /// Inputs larger than this are refused (permanently).
    pub max_input_bytes: u64,
    /// When the job must be finished (Lambda's deadline): an input that cannot be processed in
    /// the time left is refused (permanently) before it is downloaded.
    pub deadline: Option<Instant>,
    /// Directory for the temporary input and output files.
    pub work_dir: PathBuf,
    /// Policy for an existing output.
    pub existing: Existing,
}

/// Seconds spent in each step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Downloading the input.
    pub download_s: f64,
    /// Decoding, measuring, processing and encoding.
    pub process_s: f64,
    /// Uploading the report and the output.
    pub upload_s: f64,
}

/// A job that wrote its output.
#[derive(Debug)]
pub struct Written {
    /// The output object.
    pub dest: ObjectRef,
    /// The report sidecar object.
    pub report: ObjectRef,
    /// The engine's report.
    pub process: ProcessReport,
    /// The sidecar document as written.
    pub document: S3ProcessDocument,
    /// Where the time went.
    pub timings: Timings,
    /// Size of the input, bytes.
    pub input_bytes: u64,
}

/// How a job ended, when it did not fail.
#[derive(Debug)]
pub enum JobOutcome {
    /// The output was written.
    Written(Box<Written>),
    /// The output already records this source ETag and spec: nothing was written.
    AlreadyDone {
        /// The existing output.
        dest: ObjectRef,
    },
}

/// The source of a job as recorded in reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceRecord {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// ETag processed.
    pub etag: Option<String>,
    /// Version id processed.
    pub version_id: Option<String>,
    /// Size, bytes.
    pub size: Option<u64>,
}

/// An object location in reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Location {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
}

impl From<&ObjectRef> for Location {
    fn from(o: &ObjectRef) -> Self {
        Location { bucket: o.bucket.clone(), key: o.key.clone() }
    }
}

/// The sidecar report: an `audioproc.process/1` document plus the S3 locations.
#[derive(Debug, Serialize)]
pub struct S3ProcessDocument {
    /// The process document (input and output paths are `s3://` URLs).
    #[serde(flatten)]
    pub process: ProcessDocument,
    /// The source object.
    pub source: SourceRecord,
    /// The output object (`None` when it was not written).
    pub destination: Option<Location>,
    /// Whether a failure was permanent or retryable (`None` on success).
    pub failure: Option<FailureKind>,
    /// [`ProcessingSpec::canonical`] of the spec applied (`None` in error reports).
    pub spec: Option<String>,
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// Runs `job`.
///
/// # Errors
/// [`S3Error`] with [`FailureKind::Permanent`] for anything retrying cannot fix (corrupt or
/// unsupported audio, a missing or oversized input, an output that exists under
/// [`Existing::Refuse`]), [`FailureKind::Retryable`] for the rest. No output object is left
/// behind in either case.
pub async fn run(client: &S3Client, job: &Job) -> Result<JobOutcome, S3Error> {
    let started = Instant::now();
    let info = object::head(client, &job.source)
        .await?
        .ok_or_else(|| S3Error::permanent(format!("{}: no such object", job.source)))?;
    if info.size > job.max_input_bytes {
        return Err(S3Error::permanent(format!(
            "{} is {} bytes, over the {}-byte input limit (AUDIOPROC_MAX_INPUT_BYTES)",
            job.source, info.size, job.max_input_bytes
        )));
    }
    if let Some(deadline) = job.deadline {
        let needed = info.size as f64 / MIN_THROUGHPUT_BYTES_PER_S + DEADLINE_RESERVE_S;
        let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        if needed > left {
            return Err(S3Error::permanent(format!(
                "{} ({} bytes) needs up to {needed:.0} s but only {left:.0} s of the invocation are left; \
                 raise the function timeout or process it with `audioproc batch`",
                job.source, info.size
            )));
        }
    }
    let spec_id = job.spec.canonical();
    match (job.existing, object::head(client, &job.dest).await?) {
        (_, None) | (Existing::Replace, _) => {}
        (Existing::Refuse, Some(_)) => {
            return Err(S3Error::permanent(format!("{} exists (use --force to replace it)", job.dest)));
        }
        (Existing::SkipIfSame, Some(existing)) => {
            if records_same_job(&existing, &job.source, &info, &spec_id) {
                return Ok(JobOutcome::AlreadyDone { dest: job.dest.clone() });
            }
        }
    }

    let download_started = Instant::now();
    let input = object::download(client, &job.source, Some(&info.etag), job.max_input_bytes, &job.work_dir).await?;
    let download_s = secs(download_started);

    let process_started = Instant::now();
    let output = tempfile::Builder::new()
        .prefix(".audioproc-out-")
        .suffix(&format!(".{}", job.spec.format.extension()))
        .tempfile_in(&job.work_dir)?
        .into_temp_path();
    let (spec, input_path, output_path) = (job.spec.clone(), input.path().to_owned(), output.to_path_buf());
    let report = tokio::task::spawn_blocking(move || {
        process_file(&input_path, &output_path, &spec, Overwrite::Replace, &|_| {})
    })
    .await
    .map_err(|e| S3Error::retryable(format!("the processing task failed: {e}")))?
    .map_err(|e| engine_error(&job.source, e))?;
    drop(input);
    let process_s = secs(process_started);

    let upload_started = Instant::now();
    let report_ref = ObjectRef::new(&job.dest.bucket, format!("{}{REPORT_SUFFIX}", job.dest.key));
    let mut document = S3ProcessDocument {
        process: ProcessDocument::new(&job.source.url(), &job.dest.url(), &Ok(report.clone()), secs(started)),
        source: SourceRecord {
            bucket: job.source.bucket.clone(),
            key: job.source.key.clone(),
            etag: Some(info.etag.clone()),
            version_id: info.version_id.clone(),
            size: Some(info.size),
        },
        destination: Some(Location::from(&job.dest)),
        failure: None,
        spec: Some(spec_id.clone()),
    };
    document.process.elapsed_s = (secs(started) * 1e4).round() / 1e4;
    let json = serde_json::to_vec_pretty(&document).map_err(|e| S3Error::permanent(format!("report: {e}")))?;
    object::put_bytes(client, &report_ref, json, "application/json").await?;
    let options = PutOptions {
        content_type: job.spec.format.mime_type().to_owned(),
        metadata: output_metadata(&job.source, &info, &spec_id, &report),
    };
    if let Err(e) = object::upload_file(client, &output, &job.dest, &options).await {
        // The report describes an output that does not exist: take it back.
        object::delete_quietly(client, &report_ref).await;
        return Err(e);
    }
    let upload_s = secs(upload_started);
    Ok(JobOutcome::Written(Box::new(Written {
        dest: job.dest.clone(),
        report: report_ref,
        process: report,
        document,
        timings: Timings { download_s, process_s, upload_s },
        input_bytes: info.size,
    })))
}

/// Engine errors: a failing local disk is retryable, everything about the audio is permanent.
fn engine_error(source: &ObjectRef, e: EngineError) -> S3Error {
    match e {
        EngineError::Io(io) => S3Error::retryable(format!("{source}: local I/O while processing: {io}")),
        other => S3Error::permanent(format!("{source}: {other}")),
    }
}

fn key_md5(key: &str) -> String {
    Md5::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an existing output's metadata records this very source object and spec.
pub fn records_same_job(existing: &ObjectInfo, source: &ObjectRef, info: &ObjectInfo, spec_id: &str) -> bool {
    let m = &existing.metadata;
    let is = |k: &str, v: &str| m.get(k).is_some_and(|x| x == v);
    is(meta::SOURCE_BUCKET, &source.bucket)
        && is(meta::SOURCE_KEY_MD5, &key_md5(&source.key))
        && is(meta::SOURCE_ETAG, &info.etag)
        && is(meta::SPEC, spec_id)
}

/// The user metadata of an output.
pub fn output_metadata(
    source: &ObjectRef,
    info: &ObjectInfo,
    spec_id: &str,
    report: &ProcessReport,
) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert(meta::SOURCE_BUCKET.to_owned(), source.bucket.clone());
    let encoded = percent_encoding::utf8_percent_encode(&source.key, percent_encoding::NON_ALPHANUMERIC).to_string();
    if encoded.len() <= MAX_META_KEY_BYTES {
        m.insert(meta::SOURCE_KEY.to_owned(), encoded);
    }
    m.insert(meta::SOURCE_KEY_MD5.to_owned(), key_md5(&source.key));
    m.insert(meta::SOURCE_ETAG.to_owned(), info.etag.clone());
    if let Some(v) = &info.version_id {
        m.insert(meta::SOURCE_VERSION.to_owned(), v.clone());
    }
    m.extend(result_metadata(spec_id, report));
    m
}

/// The part of an output's user metadata that describes the result: the spec, the output's
/// loudness, the gain, whether the target was met and the audioproc version (also written by the
/// CLI for a local input uploaded to S3).
pub fn result_metadata(spec_id: &str, report: &ProcessReport) -> HashMap<String, String> {
    let fmt = |x: Option<f64>| x.map_or_else(|| "-inf".to_owned(), |v| format!("{v:.2}"));
    HashMap::from([
        (meta::SPEC.to_owned(), spec_id.to_owned()),
        (meta::INTEGRATED_LUFS.to_owned(), fmt(report.output.loudness.integrated_lufs)),
        (meta::TRUE_PEAK_DBTP.to_owned(), fmt(report.output.loudness.true_peak_dbtp)),
        (meta::GAIN_DB.to_owned(), format!("{:.2}", report.gain_db)),
        (meta::TARGET_MET.to_owned(), report.target_met.to_string()),
        (meta::VERSION.to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ])
}

/// Writes the error report of a failed job to `error_key` (see [`crate::location::error_key`])
/// in the output bucket: an `audioproc.process/1` document with `ok: false`, the source and the
/// failure kind. Returns where it went.
///
/// # Errors
/// As [`object::put_bytes`].
pub async fn write_error_report(
    client: &S3Client,
    output_bucket: &str,
    error_key: &str,
    source: &ObjectRef,
    error: &S3Error,
) -> Result<ObjectRef, S3Error> {
    debug_assert!(error_key.ends_with(ERROR_SUFFIX));
    let dest = ObjectRef::new(output_bucket, error_key);
    let document = S3ProcessDocument {
        process: ProcessDocument::new(&source.url(), "", &Err(error.message.clone()), 0.0),
        source: SourceRecord {
            bucket: source.bucket.clone(),
            key: source.key.clone(),
            etag: None,
            version_id: source.version_id.clone(),
            size: None,
        },
        destination: None,
        failure: Some(error.kind),
        spec: None,
    };
    let json = serde_json::to_vec_pretty(&document).map_err(|e| S3Error::permanent(format!("report: {e}")))?;
    object::put_bytes(client, &dest, json, "application/json").await?;
    Ok(dest)
}
