//! Where objects are: `s3://` URLs, event keys, and the output key of an input.

use std::fmt;

use audioproc_engine::OutputFormat;

use crate::error::S3Error;

/// An object in a bucket, optionally one version of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key (decoded: the real key, not the URL-encoded form of events).
    pub key: String,
    /// Version id, when the event named one.
    pub version_id: Option<String>,
}

impl ObjectRef {
    /// The object `key` in `bucket`, latest version.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef { bucket: bucket.into(), key: key.into(), version_id: None }
    }

    /// Its `s3://bucket/key` URL (the key as is, not percent-encoded).
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// A parsed `s3://bucket/key` URL, as the CLI takes them. The key is taken literally (no
/// percent-decoding: `s3://b/a%20b` names the key `a%20b`, as the AWS CLI does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Key or prefix; may be empty (the whole bucket).
    pub key: String,
}

impl S3Url {
    /// Parses `s3://bucket/key`. `None` when `s` does not start with `s3://`.
    ///
    /// # Errors
    /// A permanent [`S3Error`] for an `s3://` URL without a valid bucket name.
    pub fn parse(s: &str) -> Option<Result<S3Url, S3Error>> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        Some(if valid_bucket(bucket) {
            Ok(S3Url { bucket: bucket.to_owned(), key: key.to_owned() })
        } else {
            Err(S3Error::permanent(format!("{s}: not a valid bucket name {bucket:?}")))
        })
    }

    /// The object it names.
    pub fn object(&self) -> ObjectRef {
        ObjectRef::new(&self.bucket, &self.key)
    }
}

/// Whether `name` is a plausible S3 bucket name (3–63 of `a-z 0-9 . -`, starting and ending
/// with a letter or digit).
pub fn valid_bucket(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Decodes an object key as S3 event notifications carry it: `+` is a space, then
/// percent-decoding (`a+b%2Bc.wav` → `a b+c.wav`).
///
/// # Errors
/// A permanent [`S3Error`] when the decoded bytes are not UTF-8.
pub fn decode_event_key(raw: &str) -> Result<String, S3Error> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| S3Error::permanent(format!("event key {raw:?} is not UTF-8 once decoded")))
}

/// Longest object key S3 accepts, bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The output key of `input_key`: `prefix` + the input key with its extension replaced by the
/// format's (`incoming/a.wav` → `processed/incoming/a.flac`; a key without an extension gets
/// one added).
///
/// # Errors
/// A permanent [`S3Error`] when the result (with room for the `.error.json` report suffix) would
/// be longer than S3 allows.
pub fn output_key(prefix: &str, input_key: &str, format: OutputFormat) -> Result<String, S3Error> {
    let name_start = input_key.rfind('/').map_or(0, |i| i + 1);
    let stem = match input_key[name_start..].rfind('.') {
        Some(dot) if dot > 0 => &input_key[..name_start + dot],
        _ => input_key,
    };
    let key = format!("{prefix}{stem}.{}", format.extension());
    if key.len() + ERROR_SUFFIX.len() > MAX_KEY_BYTES {
        return Err(S3Error::permanent(format!(
            "output key for {input_key:?} would be {} bytes, over S3's {MAX_KEY_BYTES}",
            key.len() + ERROR_SUFFIX.len()
        )));
    }
    Ok(key)
}

/// Suffix of the JSON report sidecar written beside an output.
pub const REPORT_SUFFIX: &str = ".json";

/// Suffix of the error report written for an input that failed permanently.
pub const ERROR_SUFFIX: &str = ".error.json";

/// The key of the error report for `input_key` under `prefix`.
pub fn error_key(prefix: &str, input_key: &str) -> String {
    format!("{prefix}{input_key}{ERROR_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_decode_plus_then_percent() {
        assert_eq!(decode_event_key("a+b%2Bc.wav").unwrap(), "a b+c.wav");
        assert_eq!(decode_event_key("100%25+done.mp3").unwrap(), "100% done.mp3");
        assert_eq!(decode_event_key("caf%C3%A9.flac").unwrap(), "café.flac");
        assert!(decode_event_key("%FF.wav").is_err());
    }

    #[test]
    fn output_keys_change_the_extension_only() {
        let k = |p, i| output_key(p, i, OutputFormat::Flac).unwrap();
        assert_eq!(k("processed/", "incoming/a b.wav"), "processed/incoming/a b.flac");
        assert_eq!(k("out/", "x/y.z/noext"), "out/x/y.z/noext.flac");
        assert_eq!(k("", ".hidden"), ".hidden.flac");
        assert_eq!(k("p/", "a.tar.mp3"), "p/a.tar.flac");
        assert!(output_key("processed/", &"k".repeat(1010), OutputFormat::Wav).is_err());
        assert!(output_key("processed/", &"k".repeat(990), OutputFormat::Wav).is_ok());
    }

    #[test]
    fn urls_parse() {
        let u = S3Url::parse("s3://my-bucket/a/b c.wav").unwrap().unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("my-bucket", "a/b c.wav"));
        assert!(S3Url::parse("/tmp/x.wav").is_none());
        assert!(S3Url::parse("s3://A_b/x").unwrap().is_err());
        assert_eq!(S3Url::parse("s3://bkt").unwrap().unwrap().key, "");
    }
}
