//! The user metadata of an output object (`x-amz-meta-*`): which source and spec made it, and
//! its figures. S3 outputs carry it; the skip check reads it back from a HEAD.

use std::collections::HashMap;

use audioproc_engine::ProcessReport;
use md5::{Digest, Md5};

use crate::store::ObjectInfo;

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
    /// [`audioproc_engine::ProcessingSpec::canonical`] of the spec applied.
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

/// MD5 (hex) of a key.
pub fn key_md5(key: &str) -> String {
    crate::digest::hex(&Md5::digest(key.as_bytes()))
}

/// Whether an existing output's metadata records this very source object (`bucket`, `key`, as
/// `info` describes it) and spec.
pub fn records_same_job(existing: &ObjectInfo, bucket: &str, key: &str, info: &ObjectInfo, spec_id: &str) -> bool {
    let m = &existing.metadata;
    let is = |k: &str, v: &str| m.get(k).is_some_and(|x| x == v);
    is(meta::SOURCE_BUCKET, bucket)
        && is(meta::SOURCE_KEY_MD5, &key_md5(key))
        && is(meta::SOURCE_ETAG, &info.etag)
        && is(meta::SPEC, spec_id)
}

/// The user metadata of an output of source `key` in `bucket`, as `info` describes it.
pub fn output_metadata(
    bucket: &str,
    key: &str,
    info: &ObjectInfo,
    spec_id: &str,
    report: &ProcessReport,
) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert(meta::SOURCE_BUCKET.to_owned(), bucket.to_owned());
    let encoded = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string();
    if encoded.len() <= MAX_META_KEY_BYTES {
        m.insert(meta::SOURCE_KEY.to_owned(), encoded);
    }
    m.insert(meta::SOURCE_KEY_MD5.to_owned(), key_md5(key));
    m.insert(meta::SOURCE_ETAG.to_owned(), info.etag.clone());
    if let Some(v) = &info.version_id {
        m.insert(meta::SOURCE_VERSION.to_owned(), v.clone());
    }
    m.extend(result_metadata(spec_id, report));
    m
}

/// The part of an output's user metadata that describes the result: the spec, the output's
/// loudness, the gain, whether the target was met and the audioproc version.
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
