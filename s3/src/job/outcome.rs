//! The end of a job: a failure becomes a typed [`Outcome`] (with its error report written when
//! the policy asks for one), and every job is logged once, with the same fields everywhere.

use std::time::Instant;

use tracing::{error, info, warn};

use super::{Job, Object, Outcome, Plan};
use crate::error::S3Error;
use crate::location::ERROR_SUFFIX;
use crate::sidecar::{MAX_SIDECAR_BYTES, Sidecar, SidecarRecord, SourceRecord};

/// The outcome of a job that failed with `error` (after `plan`, if it got that far).
pub async fn failed(job: &Job, plan: Option<&Plan>, error: S3Error) -> Outcome {
    if error.is_retryable() {
        return Outcome::RetryableFailure { error };
    }
    let report = match plan {
        Some(p) => p.error_report.clone(),
        // Failed in planning (a missing or oversized input): the report still has a place.
        None => super::plan::error_report_of(job),
    };
    let Some(report) = report else { return Outcome::PermanentFailure { error, report: None } };
    let report = own_error_report(job, report).await;
    let src = &job.source;
    let record = SourceRecord::new(src.store.bucket(), &src.key, src.version.as_deref(), None);
    let doc = Sidecar::failed(&record, &src.display(), &error);
    match report.store.put_bytes(&report.key, doc.to_json(), "application/json").await {
        Ok(()) => Outcome::PermanentFailure { error, report: Some(report.location()) },
        // Not recorded: let it be retried rather than lost silently.
        Err(w) => Outcome::RetryableFailure {
            error: S3Error::retryable(format!("{error} (and writing its error report failed: {w})")),
        },
    }
}

/// Whether the error report at `at` is this job's source's (or there is none).
async fn is_ours(job: &Job, at: &Object) -> bool {
    let record = at.store.get_bytes(&at.key, MAX_SIDECAR_BYTES).await.ok().flatten();
    record
        .as_deref()
        .and_then(SidecarRecord::parse)
        .is_none_or(|r| r.source.bucket == job.source.store.bucket() && r.source.key == job.source.key)
}

/// The same key from two input buckets has one error-report name: the second bucket's report
/// goes to `KEY.BUCKET.error.json` rather than replace the first's.
fn qualified(job: &Job, report: &Object) -> Object {
    let stem = report.key.strip_suffix(ERROR_SUFFIX).unwrap_or(&report.key);
    Object::new(report.store.clone(), format!("{stem}.{}{ERROR_SUFFIX}", job.source.store.bucket()))
}

/// Where this job's error report goes: its usual place, unless that holds another source's.
async fn own_error_report(job: &Job, report: Object) -> Object {
    if is_ours(job, &report).await { report } else { qualified(job, &report) }
}

/// Removes this job's stale error reports after a success, and never another source's.
pub async fn remove_stale_error_reports(job: &Job, report: &Object) {
    if is_ours(job, report).await {
        report.store.delete_quietly(&report.key).await;
    }
    let other = qualified(job, report);
    if other.store.head(&other.key, None).await.ok().flatten().is_some() && is_ours(job, &other).await {
        other.store.delete_quietly(&other.key).await;
    }
}

/// Logs `outcome` once, with the fields every front end shares.
pub fn log(job: &Job, outcome: &Outcome, started: Instant) {
    let (bucket, key) = (job.source.store.bucket(), job.source.key.as_str());
    let total_s = started.elapsed().as_secs_f64();
    let status = outcome.status();
    match outcome {
        Outcome::Written(w) => {
            let (i, o) = (&w.process.input.loudness, &w.process.output.loudness);
            info!(
                bucket, key, output = %w.dest_display, status, input_bytes = w.input_bytes,
                input_lufs = i.integrated_lufs, output_lufs = o.integrated_lufs,
                output_true_peak_dbtp = o.true_peak_dbtp, gain_db = w.process.gain_db,
                target_met = w.process.target_met, passes = w.process.passes, decodes = w.process.decodes,
                download_s = w.timings.download_s, process_s = w.timings.process_s, upload_s = w.timings.upload_s,
                total_s, "written"
            );
        }
        Outcome::Stopped => info!(bucket, key, status, "stopped before it began"),
        Outcome::AlreadyDone { display: shown, .. } => {
            info!(bucket, key, output = %shown, status, "output already records this source and spec: nothing to do");
        }
        Outcome::Ignored { reason } => info!(bucket, key, status, reason, "ignored"),
        Outcome::PermanentFailure { error, report } => {
            let report = report.as_ref().map(|r| r.key.as_str());
            error!(bucket, key, error = %error, status, report, total_s, "permanent failure");
        }
        Outcome::RetryableFailure { error } => warn!(bucket, key, error = %error, status, total_s, "retryable failure"),
    }
}
