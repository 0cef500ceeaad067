//! Phase 1 of the job: everything decided before a byte of audio is read — the guards, the
//! output key, the size cap and the deadline, and what to do about an existing output.

use std::sync::Arc;
use std::time::Instant;

use super::claims::{Claim, Held};
use super::existing::{self, Decision};
use super::{DEADLINE_RESERVE_S, Destination, Job, MIN_THROUGHPUT_BYTES_PER_S, Object};
use crate::error::S3Error;
use crate::location::{ERROR_SUFFIX, REPORT_SUFFIX, output_key};
use crate::store::{Clobber, ObjectInfo};

/// What [`plan`] decided.
#[derive(Debug)]
pub enum Planned {
    /// Go ahead.
    Process(Plan),
    /// The output already records this source and spec.
    AlreadyDone(Object),
    /// Not ours (our own output).
    Ignored(&'static str),
    /// Refused before any request (a bucket outside the allow-list, an impossible output key):
    /// there is nowhere safe to put an error report.
    Refused(S3Error),
}

/// A job that will run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The output object.
    pub dest: Object,
    /// Where its error report goes (when the policy writes them).
    pub error_report: Option<Object>,
    /// What the source is (its identity is checked again when it is fetched).
    pub source: ObjectInfo,
    /// Whether publishing may replace an existing output.
    pub clobber: Clobber,
    /// The output's name, held while the job runs.
    _claim: Option<Arc<Claim>>,
}

impl Plan {
    /// The key of the output's sidecar.
    pub fn sidecar_key(&self) -> String {
        format!("{}{REPORT_SUFFIX}", self.dest.key)
    }
}

/// The output object and the error-report object of `job`, or why there can be none.
fn destination(job: &Job) -> Result<(Object, Option<Object>), S3Error> {
    match &job.dest {
        Destination::Exact(o) => Ok((o.clone(), None)),
        Destination::Mirror { store, prefix, strip } => {
            let rel = job.source.key.strip_prefix(strip.as_str()).unwrap_or(&job.source.key);
            let key = output_key(prefix, rel, job.spec.format)?;
            let error_key = format!("{prefix}{rel}{ERROR_SUFFIX}");
            Ok((Object::new(store.clone(), key), Some(Object::new(store.clone(), error_key))))
        }
    }
}

/// Where `job`'s output goes (`None` when its key cannot be made).
pub fn output_of(job: &Job) -> Option<Object> {
    destination(job).ok().map(|(o, _)| o)
}

/// Where `job`'s error report goes, when its policy writes them and its destination has a place
/// for them.
pub fn error_report_of(job: &Job) -> Option<Object> {
    destination(job).ok().and_then(|(_, e)| e).filter(|_| job.policy.error_reports)
}

/// Phase 1: the guards, the output key, the size cap, the deadline and the existing-output
/// policy. The guards come first and make no request at all.
///
/// # Errors
/// A permanent error for an input refused by the size cap, the deadline or an existing output
/// under [`Existing::Refuse`]; the store's errors otherwise.
pub async fn plan(job: &Job) -> Result<Planned, S3Error> {
    let policy = &job.policy;
    let (src_bucket, src_key) = (job.source.store.bucket(), job.source.key.as_str());
    if !policy.allowed_buckets.is_empty() && !policy.allowed_buckets.iter().any(|b| b == src_bucket) {
        return Ok(Planned::Refused(S3Error::permanent(format!(
            "bucket {src_bucket:?} is not in AUDIOPROC_ALLOWED_BUCKETS"
        ))));
    }
    if let Some(own) = &policy.own_output
        && own.bucket == src_bucket
        && src_key.starts_with(&own.prefix)
    {
        return Ok(Planned::Ignored("key is under our own output prefix"));
    }
    if src_key.ends_with('/') {
        return Ok(Planned::Ignored("key is a folder marker"));
    }
    let (dest, error_report) = match destination(job).and_then(|d| d.0.store.check_key(&d.0.key).map(|()| d)) {
        Ok(d) => d,
        Err(e) => return Ok(Planned::Refused(e)),
    };
    let error_report = error_report.filter(|_| policy.error_reports);
    if let Destination::Exact(_) = &job.dest {
        // A one-off job: a missing bucket should fail now, not after the processing.
        dest.store.check_destination().await?;
    }

    let info = job
        .source
        .store
        .head(src_key, job.source.version.as_deref())
        .await?
        .ok_or_else(|| S3Error::permanent(format!("{}: no such object", job.source.display())))?;
    if info.size > policy.max_input_bytes {
        return Err(S3Error::permanent(format!(
            "{} is {} bytes, over the {}-byte input limit (AUDIOPROC_MAX_INPUT_BYTES)",
            job.source.display(),
            info.size,
            policy.max_input_bytes
        )));
    }
    if let Some(deadline) = policy.deadline {
        let needed = info.size as f64 / MIN_THROUGHPUT_BYTES_PER_S + DEADLINE_RESERVE_S;
        let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        if needed > left {
            return Err(S3Error::permanent(format!(
                "{} ({} bytes) needs up to {needed:.0} s but only {left:.0} s of the invocation are left; \
                 raise the function timeout or process it with `audioproc batch`",
                job.source.display(),
                info.size
            )));
        }
    }

    // Under the claim, so that the job before (an input with the same output name) has settled
    // the output before this one decides about it.
    let claim = match (&policy.claims, &job.dest) {
        (Some(claims), Destination::Mirror { .. }) => {
            match claims.claim(&dest.display(), &job.source.display()).await {
                Ok(c) => Some(Arc::new(c)),
                Err(Held::BySame) => {
                    return Err(S3Error::retryable(format!(
                        "{} is being processed by another job",
                        job.source.display()
                    )));
                }
            }
        }
        _ => None,
    };
    let sidecar_key = format!("{}{REPORT_SUFFIX}", dest.key);
    match existing::decide(job, &dest, &sidecar_key, &info).await? {
        Decision::AlreadyDone => Ok(Planned::AlreadyDone(dest)),
        Decision::Write(clobber) => {
            Ok(Planned::Process(Plan { dest, error_report, source: info, clobber, _claim: claim }))
        }
    }
}

#[cfg(test)]
mod tests {
    use audioproc_engine::{OutputFormat, Preset, ProcessingSpec};

    use super::*;
    use crate::job::Policy;
    use crate::store::LocalStore;

    fn job(source_key: &str, dest: Destination) -> Job {
        let store = Arc::new(LocalStore::new("/in"));
        Job {
            source: Object::new(store, source_key),
            dest,
            spec: ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac),
            policy: Policy::service("/tmp".into()),
        }
    }

    #[test]
    fn mirrored_outputs_and_error_reports_keep_the_source_tree() {
        let out = Arc::new(LocalStore::new("/out"));
        let mirror = |prefix: &str, strip: &str| Destination::Mirror {
            store: out.clone(),
            prefix: prefix.to_owned(),
            strip: strip.to_owned(),
        };
        let (o, e) = destination(&job("lib/a b/c.wav", mirror("processed/", ""))).unwrap();
        assert_eq!(
            (o.key.as_str(), e.unwrap().key.as_str()),
            ("processed/lib/a b/c.flac", "processed/lib/a b/c.wav.error.json")
        );
        let (o, _) = destination(&job("lib/a b/c.wav", mirror("", "lib/"))).unwrap();
        assert_eq!(o.key, "a b/c.flac");
        assert_eq!(o.display(), "/out/a b/c.flac");
        let exact = Destination::Exact(Object::new(out.clone(), "x.flac"));
        let (o, e) = destination(&job("lib/c.wav", exact)).unwrap();
        assert_eq!((o.key.as_str(), e.is_none()), ("x.flac", true));
        assert!(destination(&job(&"k".repeat(1100), mirror("p/", ""))).is_err(), "over S3's key length");
    }

    #[tokio::test]
    async fn guards_refuse_or_ignore_before_any_request() {
        let out = Arc::new(LocalStore::new("/nonexistent-out"));
        let mut j = job(
            "processed/x.flac",
            Destination::Mirror { store: out, prefix: "processed/".into(), strip: String::new() },
        );
        j.policy.own_output = Some(crate::job::OwnOutput { bucket: String::new(), prefix: "processed/".into() });
        assert!(matches!(plan(&j).await, Ok(Planned::Ignored(_))));
        j.policy.allowed_buckets = vec!["only-this".into()];
        assert!(matches!(plan(&j).await, Ok(Planned::Refused(_))));
        j.policy.allowed_buckets.clear();
        j.source.key = "../up.wav".into();
        j.policy.own_output = None;
        assert!(matches!(plan(&j).await, Ok(Planned::Refused(_))), "a key that leaves the destination");
    }
}
