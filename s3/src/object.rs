//! Object transfers: download into a temporary file, upload a file (multipart above 8 MiB).

use std::path::Path;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncWriteExt;

use crate::client::S3Client;
use crate::error::S3Error;
use crate::location::ObjectRef;
pub use crate::store::{ObjectInfo, PutOptions};

/// Outputs larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
/// Size of each part but the last (S3's minimum is 5 MiB). Parts are streamed from the file, so
/// no part is ever held in memory whole.
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's limit on parts per upload; [`PART_SIZE`] grows for files that would need more.
const MAX_PARTS: u64 = 10_000;

/// HEAD of `obj`; `Ok(None)` when there is no such object.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn head(client: &S3Client, obj: &ObjectRef) -> Result<Option<ObjectInfo>, S3Error> {
    let out =
        client.head_object().bucket(&obj.bucket).key(&obj.key).set_version_id(obj.version_id.clone()).send().await;
    match out {
        Ok(o) => Ok(Some(ObjectInfo {
            etag: o.e_tag().unwrap_or_default().to_owned(),
            size: o.content_length().unwrap_or(0).max(0) as u64,
            version_id: o.version_id().map(str::to_owned),
            metadata: o.metadata().cloned().unwrap_or_default(),
        })),
        Err(e) if S3Error::status(&e) == Some(404) => Ok(None),
        Err(e) => Err(S3Error::from_sdk(&format!("HEAD {obj}"), &e)),
    }
}

/// Streams `obj` into a new temporary file in `dir`, refusing more than `max_bytes`. With
/// `if_match`, the download fails (retryably) if the object changed since that ETag was read.
///
/// # Errors
/// Permanent when the object is missing or larger than `max_bytes`; otherwise as classified by
/// [`S3Error::from_sdk`]; local I/O errors are retryable.
pub async fn download(
    client: &S3Client,
    obj: &ObjectRef,
    if_match: Option<&str>,
    max_bytes: u64,
    dir: &Path,
) -> Result<tempfile::NamedTempFile, S3Error> {
    let out = client
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .set_version_id(obj.version_id.clone())
        .set_if_match(if_match.map(str::to_owned))
        .send()
        .await
        .map_err(|e| match S3Error::status(&e) {
            Some(404) => S3Error::permanent(format!("{obj}: no such object")),
            Some(412) => S3Error::retryable(format!("{obj}: changed while being read")),
            _ => S3Error::from_sdk(&format!("GET {obj}"), &e),
        })?;
    let declared = out.content_length().unwrap_or(0).max(0) as u64;
    if declared > max_bytes {
        return Err(too_large(obj, declared, max_bytes));
    }
    let temp = tempfile::Builder::new().prefix(".audioproc-in-").tempfile_in(dir)?;
    let mut file = tokio::fs::File::from_std(temp.reopen()?);
    let mut body = out.body;
    let mut total = 0u64;
    while let Some(chunk) =
        body.try_next().await.map_err(|e| S3Error::retryable(format!("GET {obj}: reading the body: {e}")))?
    {
        total += chunk.len() as u64;
        if total > max_bytes {
            return Err(too_large(obj, total, max_bytes));
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    if declared != 0 && total != declared {
        return Err(S3Error::retryable(format!("GET {obj}: body ended after {total} of {declared} bytes")));
    }
    Ok(temp)
}

fn too_large(obj: &ObjectRef, size: u64, max: u64) -> S3Error {
    S3Error::permanent(format!("{obj} is {size} bytes, over the {max}-byte input limit"))
}

/// Uploads the file at `path` as `dest`: one PUT up to [`MULTIPART_THRESHOLD`], a multipart
/// upload above it, aborted on any failure so that no object and no stray parts are left.
/// Returns the new object's ETag.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`]; local I/O errors are retryable.
pub async fn upload_file(
    client: &S3Client,
    path: &Path,
    dest: &ObjectRef,
    options: &PutOptions,
) -> Result<String, S3Error> {
    upload_file_cancellable(client, path, dest, options, &|| false).await
}

/// [`upload_file`] that gives up (aborting a multipart upload, so nothing is left) as soon as
/// `cancelled()` is true between parts. A cancelled upload fails with a retryable error.
///
/// # Errors
/// As [`upload_file`].
pub async fn upload_file_cancellable(
    client: &S3Client,
    path: &Path,
    dest: &ObjectRef,
    options: &PutOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<String, S3Error> {
    let size = tokio::fs::metadata(path).await?.len();
    if size <= MULTIPART_THRESHOLD {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| S3Error::retryable(format!("reading {}: {e}", path.display())))?;
        let out = client
            .put_object()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .content_type(&options.content_type)
            .set_metadata(Some(options.metadata.clone()))
            .content_length(size as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| S3Error::from_sdk(&format!("PUT {dest}"), &e))?;
        return Ok(out.e_tag().unwrap_or_default().to_owned());
    }
    let created = client
        .create_multipart_upload()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .content_type(&options.content_type)
        .set_metadata(Some(options.metadata.clone()))
        .send()
        .await
        .map_err(|e| S3Error::from_sdk(&format!("CreateMultipartUpload {dest}"), &e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| S3Error::retryable(format!("CreateMultipartUpload {dest}: no upload id")))?
        .to_owned();
    match upload_parts(client, path, size, dest, &upload_id, cancelled).await {
        Ok(etag) => Ok(etag),
        Err(e) => {
            abort(client, dest, &upload_id).await;
            Err(e)
        }
    }
}

/// Parts in flight at once: S3 serves parallel connections far faster than one, and each part
/// is streamed from the file, so this bounds memory at a few socket buffers.
pub const PARTS_IN_FLIGHT: usize = 4;

async fn upload_parts(
    client: &S3Client,
    path: &Path,
    size: u64,
    dest: &ObjectRef,
    upload_id: &str,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<String, S3Error> {
    let part_size = PART_SIZE.max(size.div_ceil(MAX_PARTS));
    let mut pending = (0..size.div_ceil(part_size)).map(|i| {
        let offset = i * part_size;
        Part { number: i as i32 + 1, offset, len: part_size.min(size - offset) }
    });
    let mut running = tokio::task::JoinSet::new();
    let mut parts = Vec::new();
    let sent = async {
        loop {
            while running.len() < PARTS_IN_FLIGHT
                && let Some(part) = pending.next()
            {
                if cancelled() {
                    return Err(S3Error::retryable(format!("upload of {dest} cancelled")));
                }
                let (client, path, dest, id) = (client.clone(), path.to_owned(), dest.clone(), upload_id.to_owned());
                running.spawn(async move { part.upload(&client, &path, &dest, &id).await });
            }
            match running.join_next().await {
                Some(done) => {
                    parts.push(done.map_err(|e| S3Error::retryable(format!("uploading a part of {dest}: {e}")))??)
                }
                None => return Ok(()),
            }
        }
    }
    .await;
    if let Err(e) = sent {
        // No part may still be on its way when the caller aborts the upload.
        running.shutdown().await;
        return Err(e);
    }
    parts.sort_by_key(|p| p.part_number());
    let out = client
        .complete_multipart_upload()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map_err(|e| S3Error::from_sdk(&format!("CompleteMultipartUpload {dest}"), &e))?;
    Ok(out.e_tag().unwrap_or_default().to_owned())
}

/// One part of a multipart upload: its number (from 1) and its byte range in the file.
#[derive(Clone, Copy, Debug)]
struct Part {
    number: i32,
    offset: u64,
    len: u64,
}

impl Part {
    /// Streams this part's range of the file at `path` as part `number` of `upload_id`.
    async fn upload(
        self,
        client: &S3Client,
        path: &Path,
        dest: &ObjectRef,
        upload_id: &str,
    ) -> Result<CompletedPart, S3Error> {
        let body = ByteStream::read_from()
            .path(path)
            .offset(self.offset)
            .length(Length::Exact(self.len))
            .build()
            .await
            .map_err(|e| S3Error::retryable(format!("reading {}: {e}", path.display())))?;
        let out = client
            .upload_part()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .upload_id(upload_id)
            .part_number(self.number)
            .content_length(self.len as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| S3Error::from_sdk(&format!("UploadPart {} of {dest}", self.number), &e))?;
        Ok(CompletedPart::builder().set_e_tag(out.e_tag().map(str::to_owned)).part_number(self.number).build())
    }
}

/// Aborts a multipart upload, logging (not returning) a failure: the caller is already failing.
async fn abort(client: &S3Client, dest: &ObjectRef, upload_id: &str) {
    let result = client.abort_multipart_upload().bucket(&dest.bucket).key(&dest.key).upload_id(upload_id).send().await;
    match result {
        Ok(_) => tracing::warn!(bucket = %dest.bucket, key = %dest.key, "multipart upload aborted"),
        Err(e) => tracing::error!(
            bucket = %dest.bucket, key = %dest.key, upload_id,
            error = %aws_sdk_s3::error::DisplayErrorContext(&e),
            "could not abort the multipart upload (the bucket's lifecycle rule will remove its parts)"
        ),
    }
}

/// Uploads a small in-memory body (a JSON report) with one PUT.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn put_bytes(client: &S3Client, dest: &ObjectRef, body: Vec<u8>, content_type: &str) -> Result<(), S3Error> {
    client
        .put_object()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| S3Error::from_sdk(&format!("PUT {dest}"), &e))?;
    Ok(())
}

/// Reads a small object (a JSON report) into memory, at most `max_bytes`; `Ok(None)` when it
/// does not exist.
///
/// # Errors
/// Permanent when it is larger than `max_bytes`; otherwise as classified by
/// [`S3Error::from_sdk`].
pub async fn get_bytes(client: &S3Client, obj: &ObjectRef, max_bytes: u64) -> Result<Option<Vec<u8>>, S3Error> {
    let out = match client.get_object().bucket(&obj.bucket).key(&obj.key).send().await {
        Ok(o) => o,
        Err(e) if S3Error::status(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(S3Error::from_sdk(&format!("GET {obj}"), &e)),
    };
    if out.content_length().unwrap_or(0).max(0) as u64 > max_bytes {
        return Err(S3Error::permanent(format!("{obj} is over {max_bytes} bytes")));
    }
    let bytes =
        out.body.collect().await.map_err(|e| S3Error::retryable(format!("GET {obj}: reading the body: {e}")))?;
    Ok(Some(bytes.into_bytes().to_vec()))
}

/// Deletes `obj`, logging (not returning) a failure: used to take back a report whose output
/// could not be written.
pub async fn delete_quietly(client: &S3Client, obj: &ObjectRef) {
    if let Err(e) = client.delete_object().bucket(&obj.bucket).key(&obj.key).send().await {
        tracing::error!(bucket = %obj.bucket, key = %obj.key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "could not delete");
    }
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Entity tag, with its quotes.
    pub etag: String,
}

/// One page (up to 1 000 keys) of the objects under `prefix` in `bucket`, from `token` (`None`
/// for the first page), and the token of the next page, if there is one.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn list_page(
    client: &S3Client,
    bucket: &str,
    prefix: &str,
    token: Option<String>,
) -> Result<(Vec<Listed>, Option<String>), S3Error> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_continuation_token(token)
        // Keys may hold characters XML cannot carry (control characters): ask for them
        // URL-encoded and decode them here.
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .map_err(|e| S3Error::from_sdk(&format!("LIST s3://{bucket}/{prefix}"), &e))?;
    let page = out
        .contents()
        .iter()
        .filter_map(|o| {
            Some(Listed {
                key: crate::location::decode_event_key(o.key()?).ok()?,
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().unwrap_or_default().to_owned(),
            })
        })
        .collect();
    let next = match out.next_continuation_token() {
        Some(t) if out.is_truncated() == Some(true) => Some(t.to_owned()),
        _ => None,
    };
    Ok((page, next))
}
