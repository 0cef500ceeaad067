//! Presigned requests: URLs a browser (or any HTTP client without AWS credentials) sends to S3
//! itself, so that the bytes of an upload or a download never pass through our server.
//!
//! What a URL signs is what S3 will accept: an upload signs `Content-Length` and
//! `Content-Type` (the client must send exactly those; a browser's XHR sets `Content-Length`
//! from the Blob), a download signs the `Content-Disposition` and `Content-Type` S3 will answer
//! with. The SDK adds no `x-amz-checksum-*` parameter to presigned requests (a browser could
//! not compute it); a unit test keeps that so.

use std::time::Duration;

use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};

use crate::client::S3Client;
use crate::error::S3Error;
use crate::location::ObjectRef;

/// The longest lifetime we give a signed URL.
pub const MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A request to send as is: method, URL, and the headers that were signed with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// `PUT` or `GET`.
    pub method: String,
    /// The full URL, signature in its query.
    pub url: String,
    /// Headers the client must send with exactly these values (lower-case names).
    pub headers: Vec<(String, String)>,
}

impl SignedRequest {
    fn from_sdk(p: &PresignedRequest) -> Self {
        SignedRequest {
            method: p.method().to_owned(),
            url: p.uri().to_owned(),
            headers: p.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect(),
        }
    }
}

fn config(lifetime: Duration) -> Result<PresigningConfig, S3Error> {
    PresigningConfig::expires_in(lifetime.min(MAX_LIFETIME)).map_err(|e| S3Error::permanent(format!("presigning: {e}")))
}

/// A PUT of exactly `size` bytes of `content_type` as `obj`, valid for `lifetime` (at most
/// [`MAX_LIFETIME`]).
///
/// # Errors
/// A permanent error when the request cannot be signed (no credentials).
pub async fn put(
    client: &S3Client,
    obj: &ObjectRef,
    size: u64,
    content_type: &str,
    lifetime: Duration,
) -> Result<SignedRequest, S3Error> {
    let signed = client
        .put_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .content_length(i64::try_from(size).unwrap_or(i64::MAX))
        .content_type(content_type)
        .presigned(config(lifetime)?)
        .await
        .map_err(|e| S3Error::permanent(format!("signing PUT {obj}: {e}")))?;
    Ok(SignedRequest::from_sdk(&signed))
}

/// A PUT of part `number` (from 1), exactly `size` bytes, of the multipart upload `upload_id`
/// of `obj`.
///
/// # Errors
/// As [`put`].
pub async fn part(
    client: &S3Client,
    obj: &ObjectRef,
    upload_id: &str,
    number: i32,
    size: u64,
    lifetime: Duration,
) -> Result<SignedRequest, S3Error> {
    let signed = client
        .upload_part()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(i64::try_from(size).unwrap_or(i64::MAX))
        .presigned(config(lifetime)?)
        .await
        .map_err(|e| S3Error::permanent(format!("signing part {number} of {obj}: {e}")))?;
    Ok(SignedRequest::from_sdk(&signed))
}

/// A GET of `obj` that S3 answers with `content_type` and `disposition`
/// (`attachment; filename=…` or `inline`).
///
/// # Errors
/// As [`put`].
pub async fn get(
    client: &S3Client,
    obj: &ObjectRef,
    content_type: &str,
    disposition: &str,
    lifetime: Duration,
) -> Result<SignedRequest, S3Error> {
    let signed = client
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .response_content_type(content_type)
        .response_content_disposition(disposition)
        .response_cache_control("private, no-store")
        .presigned(config(lifetime)?)
        .await
        .map_err(|e| S3Error::permanent(format!("signing GET {obj}: {e}")))?;
    Ok(SignedRequest::from_sdk(&signed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn client(path_style: bool) -> S3Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::v2026_01_12())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
            .force_path_style(path_style)
            .build();
        S3Client::from_conf(config)
    }

    fn query(url: &str, name: &str) -> Option<String> {
        let (_, q) = url.split_once('?')?;
        q.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    fn obj() -> ObjectRef {
        ObjectRef::new("uploads-bucket", "incoming/u1/t1/My Song.wav")
    }

    #[tokio::test]
    async fn a_put_signs_size_and_type_expires_and_carries_no_checksum() {
        let r = put(&client(false), &obj(), 5_292_044, "audio/wav", Duration::from_secs(600)).await.unwrap();
        assert_eq!(r.method, "PUT");
        assert!(r.url.starts_with("https://uploads-bucket.s3.eu-west-1.amazonaws.com/incoming/u1/t1/My%20Song.wav?"));
        let signed = query(&r.url, "X-Amz-SignedHeaders").unwrap();
        assert_eq!(signed, "content-length%3Bcontent-type%3Bhost", "{}", r.url);
        assert_eq!(query(&r.url, "X-Amz-Expires").as_deref(), Some("600"));
        assert!(!r.url.to_ascii_lowercase().contains("checksum"), "a browser cannot compute checksums: {}", r.url);
        assert!(r.headers.contains(&("content-type".to_owned(), "audio/wav".to_owned())), "{:?}", r.headers);
        assert!(r.headers.contains(&("content-length".to_owned(), "5292044".to_owned())), "{:?}", r.headers);
        assert!(r.headers.iter().all(|(k, _)| !k.contains("checksum")), "{:?}", r.headers);
    }

    #[tokio::test]
    async fn lifetimes_are_capped_at_fifteen_minutes() {
        let r = put(&client(true), &obj(), 1, "audio/wav", Duration::from_secs(7200)).await.unwrap();
        assert_eq!(query(&r.url, "X-Amz-Expires").as_deref(), Some("900"));
        assert!(r.url.contains("/uploads-bucket/incoming/u1/t1/"), "path style: {}", r.url);
    }

    #[tokio::test]
    async fn a_part_signs_its_number_upload_and_size() {
        let r = part(&client(true), &obj(), "UPLOAD-1", 3, 5 << 20, Duration::from_secs(60)).await.unwrap();
        assert_eq!(query(&r.url, "partNumber").as_deref(), Some("3"));
        assert_eq!(query(&r.url, "uploadId").as_deref(), Some("UPLOAD-1"));
        assert_eq!(query(&r.url, "X-Amz-SignedHeaders").as_deref(), Some("content-length%3Bhost"));
        assert!(!r.url.to_ascii_lowercase().contains("checksum"), "{}", r.url);
    }

    #[tokio::test]
    async fn a_get_names_the_disposition_s3_answers_with() {
        let r = get(&client(true), &obj(), "audio/flac", "attachment; filename=\"a.flac\"", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(r.method, "GET");
        assert!(query(&r.url, "response-content-disposition").unwrap().starts_with("attachment"));
        assert_eq!(query(&r.url, "response-content-type").as_deref(), Some("audio%2Fflac"));
    }
}
