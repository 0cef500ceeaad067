//! Phases 2–4 of the job: fetch the input, compute the output with the engine, publish it.

use std::time::Instant;

use audioproc_engine::{Error as EngineError, Overwrite, ProcessOptions, ProcessReport, process_file_with};

use super::{Job, Plan, Timings, Written};
use crate::error::S3Error;
use crate::metadata::output_metadata;
use crate::sidecar::{OutputFile, Places, Sidecar, SourceRecord};
use crate::store::{Fetched, PutOptions};

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// Why phases 2–4 did not write an output.
#[derive(Debug)]
pub enum Failure {
    /// Stopping was asked before the work began.
    Stopped,
    /// A phase failed.
    Error(S3Error),
}

impl From<S3Error> for Failure {
    fn from(e: S3Error) -> Self {
        Failure::Error(e)
    }
}

fn unless_stopping(job: &Job) -> Result<(), Failure> {
    if job.policy.cancel.is_stopping() { Err(Failure::Stopped) } else { Ok(()) }
}

/// Phases 2–4 for a planned job. Once stopping is asked, no phase starts but publishing the
/// output of a finished computation.
///
/// # Errors
/// The first phase's error; nothing is left at the destination.
pub async fn execute(job: &Job, plan: &Plan, started: Instant) -> Result<Written, Failure> {
    unless_stopping(job)?;
    let fetch_started = Instant::now();
    let input = fetch(job, plan).await?;
    let download_s = secs(fetch_started);

    let slot = match &job.policy.compute_slots {
        Some(slots) => {
            Some(slots.clone().acquire_owned().await.map_err(|_| S3Error::retryable("the processing pool is closed"))?)
        }
        None => None,
    };
    unless_stopping(job)?;
    let compute_started = Instant::now();
    let (staged, report, file) = compute(job, plan, input).await?;
    drop(slot);
    let process_s = secs(compute_started);

    let publish_started = Instant::now();
    let sidecar = publish(job, plan, Staged { path: staged, file }, &report, started).await?;
    Ok(Written {
        dest: plan.dest.location(),
        dest_display: plan.dest.display(),
        process: report,
        sidecar,
        timings: Timings { download_s, process_s, upload_s: secs(publish_started) },
        input_bytes: plan.source.size,
    })
}

/// Phase 2: a local file with the input's bytes, as identified in phase 1.
///
/// # Errors
/// As [`crate::store::ObjectStore::fetch`].
pub async fn fetch(job: &Job, plan: &Plan) -> Result<Fetched, S3Error> {
    let src = &job.source;
    src.store
        .fetch(&src.key, src.version.as_deref(), &plan.source.etag, job.policy.max_input_bytes, &job.policy.work_dir)
        .await
}

/// A computed output, not yet published.
#[derive(Debug)]
pub struct Staged {
    /// The temporary file.
    pub path: tempfile::TempPath,
    /// Its size and hash, for the sidecar (`None` when the job writes no sidecar).
    pub file: Option<OutputFile>,
}

/// Phase 3: the engine, on a blocking thread, into a staged temporary file (then hashed, when
/// the job writes a sidecar). The input is released as soon as the engine is done with it.
///
/// # Errors
/// Permanent for anything about the audio; retryable for local I/O.
pub async fn compute(
    job: &Job,
    plan: &Plan,
    input: Fetched,
) -> Result<(tempfile::TempPath, ProcessReport, Option<OutputFile>), S3Error> {
    let suffix = format!(".{}", job.spec.format.extension());
    let staged = plan.dest.store.stage(&plan.dest.key, &suffix, &job.policy.work_dir)?;
    let (spec, threads, progress) = (job.spec.clone(), job.policy.threads, job.policy.progress.clone());
    let output = staged.to_path_buf();
    let (cancel, hash) = (job.policy.cancel.clone(), job.policy.sidecar);
    let report = tokio::task::spawn_blocking(move || {
        let report_progress = |p| {
            if let Some(f) = &progress {
                f(p);
            }
        };
        let options = ProcessOptions {
            overwrite: Overwrite::Replace,
            threads,
            progress: &report_progress,
            cancel: Some(cancel.abort_flag()),
        };
        let result = process_file_with(input.path(), &output, &spec, &options);
        drop(input);
        result.map(|report| (report, hash.then(|| crate::digest::sha256_file(&output)).transpose()))
    })
    .await
    .map_err(|e| S3Error::retryable(format!("the processing task failed: {e}")))?
    .map_err(|e| engine_error(&job.source.display(), e))?;
    let (report, hashed) = report;
    let hashed = hashed.map_err(|e| S3Error::retryable(format!("reading the output back: {e}")))?;
    Ok((staged, report, hashed.map(|(sha256, bytes)| OutputFile { bytes, sha256 })))
}

/// Engine errors: a failing local disk, an input changed while being read and an abort are
/// retryable; everything about the audio is permanent.
fn engine_error(source: &str, e: EngineError) -> S3Error {
    match e {
        EngineError::Io(io) => S3Error::retryable(format!("{source}: local I/O while processing: {io}")),
        e @ EngineError::Write { .. } => S3Error::retryable(format!("{source}: {e}")),
        EngineError::Cancelled => {
            S3Error::retryable(format!("{source}: interrupted before it finished (nothing was written)"))
        }
        e @ EngineError::InputChanged { .. } => S3Error::retryable(format!("{source}: {e}")),
        other => S3Error::permanent(format!("{source}: {other}")),
    }
}

/// Phase 4: the output first (complete or not at all), then its sidecar (taking the output
/// back if the sidecar cannot be written, so that an output never lacks its report), then the
/// removal of a stale error report. Returns the sidecar document.
///
/// # Errors
/// As the destination store's transfers.
pub async fn publish(
    job: &Job,
    plan: &Plan,
    staged: Staged,
    report: &ProcessReport,
    started: Instant,
) -> Result<Sidecar, S3Error> {
    let (src, dest) = (&job.source, &plan.dest);
    let spec_id = job.spec.canonical();
    let options = PutOptions {
        content_type: job.spec.format.mime_type().to_owned(),
        metadata: output_metadata(src.store.bucket(), &src.key, &plan.source, &spec_id, report),
    };
    dest.store.publish(staged.path, &dest.key, &options, plan.clobber, &job.policy.cancel).await?;
    let source = SourceRecord::new(src.store.bucket(), &src.key, src.version.as_deref(), Some(&plan.source));
    let (source_display, destination, destination_display) = (src.display(), dest.location(), dest.display());
    let places = Places {
        source: &source,
        source_display: &source_display,
        destination: &destination,
        destination_display: &destination_display,
        file: staged.file.as_ref(),
    };
    let sidecar = Sidecar::written(&places, report, &spec_id, secs(started));
    if job.policy.sidecar
        && let Err(e) = dest.store.put_bytes(&plan.sidecar_key(), sidecar.to_json(), "application/json").await
    {
        // An output without its report would be skipped by nothing and trusted by no one.
        dest.store.delete_quietly(&dest.key).await;
        return Err(e);
    }
    if let Some(stale) = &plan.error_report {
        // An earlier failure of this source (since re-uploaded) no longer applies.
        super::outcome::remove_stale_error_reports(job, stale).await;
    }
    Ok(sidecar)
}
