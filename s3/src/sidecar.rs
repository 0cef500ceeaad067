//! The JSON report written beside every output (`OUT.json`) and for every permanent failure
//! (`KEY.error.json`): built here and nowhere else, and read back typed by the skip check.
//!
//! The document is an `audioproc.process/1` document (see
//! [`audioproc_engine::report::ProcessDocument`]) plus where its source and output are, the
//! spec applied and, for a failure, whether it was permanent.

use audioproc_engine::ProcessReport;
use audioproc_engine::report::ProcessDocument;
use serde::{Deserialize, Serialize};

use crate::error::{FailureKind, S3Error};
use crate::store::ObjectInfo;

/// The source of a job as recorded in reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Bucket (empty for a local file).
    pub bucket: String,
    /// Key (for a local file: its path under the source directory).
    pub key: String,
    /// What identified the version processed: the ETag, or `size=N;mtime=NS` for a local file.
    pub etag: Option<String>,
    /// Version id processed, on versioned buckets.
    pub version_id: Option<String>,
    /// Size, bytes.
    pub size: Option<u64>,
}

impl SourceRecord {
    /// The record of `key` in `bucket` as `info` describes it (`None`: not read).
    pub fn new(bucket: &str, key: &str, version: Option<&str>, info: Option<&ObjectInfo>) -> Self {
        SourceRecord {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            etag: info.map(|i| i.etag.clone()),
            version_id: info.and_then(|i| i.version_id.clone()).or_else(|| version.map(str::to_owned)),
            size: info.map(|i| i.size),
        }
    }
}

/// An object location in reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Bucket (empty for a local directory).
    pub bucket: String,
    /// Key (for a local file: its path under the destination directory).
    pub key: String,
}

impl Location {
    /// `s3://bucket/key`, or the key alone for a local file.
    pub fn url(&self) -> String {
        if self.bucket.is_empty() { self.key.clone() } else { format!("s3://{}/{}", self.bucket, self.key) }
    }
}

/// What the output file was when it was written: the skip check trusts an existing output only
/// if it still is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Size, bytes.
    pub bytes: u64,
    /// SHA-256 of its contents, lower-case hex.
    pub sha256: String,
}

/// The sidecar document.
#[derive(Debug, Serialize)]
pub struct Sidecar {
    /// The process document (input and output are shown as `s3://` URLs or local paths).
    #[serde(flatten)]
    pub process: ProcessDocument,
    /// The source object.
    pub source: SourceRecord,
    /// The output object (`None` when it was not written).
    pub destination: Option<Location>,
    /// The output's size and hash (`None` when it was not written).
    pub output_file: Option<OutputFile>,
    /// Whether a failure was permanent or retryable (`None` on success).
    pub failure: Option<FailureKind>,
    /// [`audioproc_engine::ProcessingSpec::canonical`] of the spec applied (`None` in error
    /// reports).
    pub spec: Option<String>,
}

/// Where a job's input and output are shown and recorded.
#[derive(Debug)]
pub struct Places<'a> {
    /// The source, as recorded.
    pub source: &'a SourceRecord,
    /// The source as shown (`s3://…` or a path).
    pub source_display: &'a str,
    /// The output, as recorded.
    pub destination: &'a Location,
    /// The output as shown.
    pub destination_display: &'a str,
    /// The output's size and hash (`None` when not computed: no sidecar is written).
    pub file: Option<&'a OutputFile>,
}

impl Sidecar {
    /// The report of a written output.
    pub fn written(places: &Places<'_>, report: &ProcessReport, spec_id: &str, elapsed_s: f64) -> Self {
        let process =
            ProcessDocument::new(places.source_display, places.destination_display, &Ok(report.clone()), elapsed_s);
        Sidecar {
            process,
            source: places.source.clone(),
            destination: Some(places.destination.clone()),
            output_file: places.file.cloned(),
            failure: None,
            spec: Some(spec_id.to_owned()),
        }
    }

    /// The report of an input that failed.
    pub fn failed(source: &SourceRecord, source_display: &str, error: &S3Error) -> Self {
        Sidecar {
            process: ProcessDocument::new(source_display, "", &Err(error.message.clone()), 0.0),
            source: source.clone(),
            destination: None,
            output_file: None,
            failure: Some(error.kind),
            spec: None,
        }
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // A document of plain fields always serializes.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// The part of a sidecar the skip check reads back.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SidecarRecord {
    /// Whether the output was written.
    pub ok: bool,
    /// The source processed.
    pub source: SourceRecord,
    /// The output written.
    pub destination: Option<Location>,
    /// The output's size and hash when it was written (absent in sidecars of older versions).
    #[serde(default)]
    pub output_file: Option<OutputFile>,
    /// The spec applied.
    pub spec: Option<String>,
}

impl SidecarRecord {
    /// Reads a sidecar; `None` when it is not one (corrupt, truncated, another schema).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Longest sidecar the skip check reads.
pub const MAX_SIDECAR_BYTES: u64 = 1 << 20;
