//! Uploads a client sends straight to S3 with [`crate::presign`]ed URLs, and the calls the
//! server makes on their behalf: S3 cannot presign CreateMultipartUpload, ListParts,
//! CompleteMultipartUpload or AbortMultipartUpload, so the server calls them itself. Listing the
//! parts server-side before completing means the client never has to send ETags, and any server
//! can resume or complete any upload.
//!
//! Also here: [`head_bytes`], the first bytes of an uploaded object, to check that it is audio
//! before any work is queued for it.

use std::path::Path;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncWriteExt;

use crate::client::S3Client;
use crate::error::S3Error;
use crate::location::ObjectRef;

/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;

/// One part S3 holds of an upload in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    /// Its number, from 1.
    pub number: i32,
    /// Its size, bytes.
    pub size: u64,
    /// Its entity tag.
    pub etag: String,
}

/// Starts a multipart upload of `obj` (of `content_type`); its upload id.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn create(client: &S3Client, obj: &ObjectRef, content_type: &str) -> Result<String, S3Error> {
    let out = client
        .create_multipart_upload()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .content_type(content_type)
        .send()
        .await
        .map_err(|e| S3Error::from_sdk(&format!("CreateMultipartUpload {obj}"), &e))?;
    out.upload_id()
        .map(str::to_owned)
        .ok_or_else(|| S3Error::retryable(format!("CreateMultipartUpload {obj}: no upload id")))
}

/// The parts S3 holds of the upload `upload_id`, in order; `Ok(None)` when there is no such
/// upload (completed or aborted).
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn list_parts(
    client: &S3Client,
    obj: &ObjectRef,
    upload_id: &str,
) -> Result<Option<Vec<StoredPart>>, S3Error> {
    let mut parts = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = client
            .list_parts()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.take())
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if S3Error::status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(S3Error::from_sdk(&format!("ListParts {obj}"), &e)),
        };
        parts.extend(out.parts().iter().filter_map(|p| {
            Some(StoredPart {
                number: p.part_number()?,
                size: p.size().unwrap_or(0).max(0) as u64,
                etag: p.e_tag().unwrap_or_default().to_owned(),
            })
        }));
        match out.next_part_number_marker() {
            Some(m) if out.is_truncated() == Some(true) && parts.len() < MAX_PARTS as usize => {
                marker = Some(m.to_owned());
            }
            _ => break,
        }
    }
    parts.sort_by_key(|p| p.number);
    Ok(Some(parts))
}

/// Completes the upload `upload_id` from `parts` (as [`list_parts`] gave them).
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn complete(
    client: &S3Client,
    obj: &ObjectRef,
    upload_id: &str,
    parts: &[StoredPart],
) -> Result<(), S3Error> {
    let completed =
        parts.iter().map(|p| CompletedPart::builder().part_number(p.number).e_tag(&p.etag).build()).collect::<Vec<_>>();
    client
        .complete_multipart_upload()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .map_err(|e| S3Error::from_sdk(&format!("CompleteMultipartUpload {obj}"), &e))?;
    Ok(())
}

/// Aborts the upload `upload_id`, so that S3 keeps none of its parts; an upload that is already
/// gone is not an error.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn abort(client: &S3Client, obj: &ObjectRef, upload_id: &str) -> Result<(), S3Error> {
    match client.abort_multipart_upload().bucket(&obj.bucket).key(&obj.key).upload_id(upload_id).send().await {
        Ok(_) => Ok(()),
        Err(e) if S3Error::status(&e) == Some(404) => Ok(()),
        Err(e) => Err(S3Error::from_sdk(&format!("AbortMultipartUpload {obj}"), &e)),
    }
}

/// The part size for a file of `size` bytes: `preferred`, raised to S3's minimum and so that
/// no more than [`MAX_PARTS`] parts are needed (rounded up to a whole MiB).
pub fn part_size(size: u64, preferred: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    preferred.max(MIN_PART_SIZE).max(needed)
}

/// Writes the first `max_bytes` of `obj` (or all of it, if smaller) into `to`; the count.
///
/// # Errors
/// Permanent when the object is missing; otherwise as classified by [`S3Error::from_sdk`];
/// local I/O errors are retryable.
pub async fn head_bytes(client: &S3Client, obj: &ObjectRef, max_bytes: u64, to: &Path) -> Result<u64, S3Error> {
    let range = format!("bytes=0-{}", max_bytes.saturating_sub(1));
    let out = client.get_object().bucket(&obj.bucket).key(&obj.key).range(range).send().await.map_err(|e| {
        match S3Error::status(&e) {
            Some(404) => S3Error::permanent(format!("{obj}: no such object")),
            _ => S3Error::from_sdk(&format!("GET {obj}"), &e),
        }
    })?;
    let mut file = tokio::fs::File::create(to).await?;
    let mut body = out.body;
    let mut total = 0u64;
    while let Some(chunk) =
        body.try_next().await.map_err(|e| S3Error::retryable(format!("GET {obj}: reading the body: {e}")))?
    {
        let room = usize::try_from(max_bytes - total).unwrap_or(usize::MAX).min(chunk.len());
        file.write_all(&chunk[..room]).await?;
        total += room as u64;
        if total >= max_bytes {
            break;
        }
    }
    file.flush().await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_respect_s3s_limits() {
        assert_eq!(part_size(100 << 20, 16 << 20), 16 << 20);
        assert_eq!(part_size(100 << 20, 1 << 20), MIN_PART_SIZE, "never under 5 MiB");
        let huge = 5u64 << 40; // 5 TiB
        let p = part_size(huge, 16 << 20);
        assert!(huge.div_ceil(p) <= MAX_PARTS && p.is_multiple_of(1 << 20), "{p}");
    }
}
