//! Part of phase 1: what to do about an output that exists already — skip it (it records this
//! very source and spec, and is still the file that was written), replace it, refuse it, or
//! refuse the job because the output belongs to another input (a name collision).
//!
//! Collisions: a mirrored destination maps `x.wav`, `x.mp3` and `x.flac` all to `x.flac`. The
//! first input whose job claims the name (the first listed, in a batch) writes it; the others
//! fail permanently, naming the input that owns the output, for as long as that input exists.
//! So one output survives, every other input is reported, and running again changes nothing.

use super::{Destination, Existing, Job, Object};
use crate::error::S3Error;
use crate::metadata::{key_md5, meta, records_same_job};
use crate::sidecar::{MAX_SIDECAR_BYTES, SidecarRecord};
use crate::store::{Clobber, ObjectInfo};

/// What phase 1 does about the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write it, replacing or never clobbering what is there.
    Write(Clobber),
    /// It records this source and spec and is intact: nothing to do.
    AlreadyDone,
}

/// What an existing output records about the job that made it.
#[derive(Debug)]
struct Record {
    /// The source's bucket and key (the key is `None` when the metadata only holds its hash).
    source: (String, Option<String>),
    /// Whether the source key is this job's.
    same_source: bool,
    /// Whether it records this source version and spec.
    same_job: bool,
    /// Whether the output is still the file the record describes.
    intact: bool,
}

/// Decides what to do about `dest`, the output of `job` (whose source `info` describes).
///
/// # Errors
/// A permanent error when the output exists and may not be replaced ([`Existing::Refuse`]) or
/// belongs to another input that still exists; the stores' errors.
pub async fn decide(job: &Job, dest: &Object, sidecar_key: &str, info: &ObjectInfo) -> Result<Decision, S3Error> {
    let mirrored = matches!(job.dest, Destination::Mirror { .. });
    let policy = job.policy.existing;
    if policy == Existing::Replace && !mirrored {
        return Ok(Decision::Write(Clobber::Replace));
    }
    let Some(existing) = dest.store.head(&dest.key, None).await? else {
        return Ok(Decision::Write(if policy == Existing::Refuse { Clobber::Never } else { Clobber::Replace }));
    };
    if policy == Existing::Refuse {
        return Err(S3Error::permanent(format!("{} already exists (use --force to replace it)", dest.display())));
    }
    let record = read_record(job, dest, sidecar_key, &existing, info).await?;
    if mirrored
        && let Some(r) = &record
        && !r.same_source
        && other_source_exists(job, r).await?
    {
        let other = r.source.1.as_deref().map_or_else(|| "another input".to_owned(), |k| format!("{k:?}"));
        return Err(S3Error::permanent(format!(
            "{}: its output {} is the output of {other}, which has the same name but another extension; \
             rename one of them (or process them into different folders)",
            job.source.display(),
            dest.display()
        )));
    }
    let done = policy == Existing::SkipIfSame && record.is_some_and(|r| r.same_job && r.intact);
    Ok(if done { Decision::AlreadyDone } else { Decision::Write(Clobber::Replace) })
}

/// What the existing output records: its metadata on S3, its sidecar for a local file.
async fn read_record(
    job: &Job,
    dest: &Object,
    sidecar_key: &str,
    existing: &ObjectInfo,
    info: &ObjectInfo,
) -> Result<Option<Record>, S3Error> {
    let (bucket, key) = (job.source.store.bucket(), job.source.key.as_str());
    let spec_id = job.spec.canonical();
    if existing.metadata.is_empty() {
        // No metadata (a local file): the sidecar is the record.
        let bytes = dest.store.get_bytes(sidecar_key, MAX_SIDECAR_BYTES).await.ok().flatten();
        let Some(r) = bytes.as_deref().and_then(SidecarRecord::parse) else { return Ok(None) };
        let same_source = r.source.bucket == bucket && r.source.key == key;
        let same_job = r.ok
            && same_source
            && r.source.etag.as_deref() == Some(info.etag.as_str())
            && r.spec.as_deref() == Some(spec_id.as_str());
        // Only an output that could be skipped is hashed; the size alone tells most damage.
        let intact = same_job
            && match &r.output_file {
                Some(f) if f.bytes == existing.size => {
                    dest.store.sha256(&dest.key).await?.is_some_and(|h| h == f.sha256)
                }
                _ => false,
            };
        return Ok(Some(Record { source: (r.source.bucket, Some(r.source.key)), same_source, same_job, intact }));
    }
    let m = &existing.metadata;
    let Some(src_bucket) = m.get(meta::SOURCE_BUCKET) else { return Ok(None) };
    let src_key = m.get(meta::SOURCE_KEY).and_then(|k| percent_encoding::percent_decode_str(k).decode_utf8().ok());
    let same_source = src_bucket == bucket && m.get(meta::SOURCE_KEY_MD5).is_some_and(|h| *h == key_md5(key));
    // The output is published before its sidecar: an output whose sidecar is missing (a job
    // killed in between) is not done yet.
    let same_job = records_same_job(existing, bucket, key, info, &spec_id)
        && (!job.policy.sidecar || dest.store.head(sidecar_key, None).await?.is_some());
    Ok(Some(Record {
        source: (src_bucket.clone(), src_key.map(|k| k.into_owned())),
        same_source,
        same_job,
        intact: true,
    }))
}

/// Whether the input an existing output records is still there (if it was deleted or renamed,
/// its output is stale and may be replaced). An input in another bucket, or one whose key the
/// metadata does not hold, cannot be looked up and counts as present.
async fn other_source_exists(job: &Job, record: &Record) -> Result<bool, S3Error> {
    let (bucket, key) = (&record.source.0, &record.source.1);
    let Some(key) = key.as_deref().filter(|_| bucket == job.source.store.bucket()) else { return Ok(true) };
    if job.source.store.check_key(key).is_err() {
        return Ok(false);
    }
    Ok(job.source.store.head(key, None).await?.is_some())
}
