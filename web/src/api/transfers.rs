//! How a client sends a track's input and fetches its output, whichever the backend: signed
//! URLs of the app itself in the embedded mode ([`super::files`]), presigned S3 URLs in the
//! fleet mode (the bytes never pass through the app). Files over the multipart threshold go to
//! S3 in parts: the server starts the upload, signs each part when the client asks for it, lists
//! the parts itself before completing (the client never sends ETags), and any instance can
//! resume or complete any upload.

use audioproc_s3::{direct_upload, presign};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::files::{self, output_name_header};
use super::{ApiError, AppState};
use crate::objects::Backend;
use crate::signing::Action;
use crate::tracks::Track;

/// The multipart upload to start for a new track of `size` bytes, if it needs one: its upload
/// id and part size.
///
/// # Errors
/// The store refused or failed.
pub async fn start_multipart(
    state: &AppState,
    input_key: &str,
    size: u64,
    content_type: &str,
) -> Result<Option<(String, u64)>, ApiError> {
    let Backend::S3(client) = state.objects.backend() else { return Ok(None) };
    if size <= state.multipart_threshold {
        return Ok(None);
    }
    let obj = state.objects.input_ref(input_key);
    let id = direct_upload::create(client, &obj, content_type).await.map_err(|e| ApiError::store(&e))?;
    Ok(Some((id, direct_upload::part_size(size, state.multipart_threshold / 4))))
}

/// Gives up a multipart upload started for a track that was not stored after all.
pub async fn drop_multipart(state: &AppState, input_key: &str, upload_id: &str) {
    if let Backend::S3(client) = state.objects.backend() {
        let _ = direct_upload::abort(client, &state.objects.input_ref(input_key), upload_id).await;
    }
}

fn multipart(t: &Track) -> Option<(&str, u64)> {
    Some((t.upload_id.as_deref()?, u64::try_from(t.part_size?).ok()?))
}

fn part_count(t: &Track, part_size: u64) -> u64 {
    u64::try_from(t.size).unwrap_or(0).div_ceil(part_size.max(1))
}

fn signed_json(r: &presign::SignedRequest) -> Value {
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(k, v)| {
            let name = if k == "content-type" { "Content-Type".to_owned() } else { k.clone() };
            (name, Value::String(v.clone()))
        })
        .collect();
    json!({ "method": r.method, "url": r.url, "headers": headers })
}

/// Where and how to upload `t`'s input: `{method, url, headers}` for one PUT, or
/// `{multipart: {part_size, parts}}`.
///
/// # Errors
/// The store cannot sign.
pub async fn upload_plan(state: &AppState, t: &Track) -> Result<Value, ApiError> {
    if let Some((_, part_size)) = multipart(t) {
        return Ok(json!({ "multipart": { "part_size": part_size, "parts": part_count(t, part_size) } }));
    }
    whole_put(state, t).await
}

async fn whole_put(state: &AppState, t: &Track) -> Result<Value, ApiError> {
    match state.objects.backend() {
        Backend::Local(_) => Ok(files::upload_target(state, t)),
        Backend::S3(client) => {
            let obj = state.objects.input_ref(&t.input_key);
            let size = u64::try_from(t.size).unwrap_or(0);
            let r = presign::put(client, &obj, size, &t.content_type, state.url_lifetime)
                .await
                .map_err(|e| ApiError::store(&e))?;
            Ok(signed_json(&r))
        }
    }
}

/// The signed request for part `n` (from 1) of `t`'s upload; part 1 of a single-PUT upload is
/// a fresh whole-file PUT. `None` when there is no such part.
///
/// # Errors
/// The store cannot sign.
pub async fn part_target(state: &AppState, t: &Track, n: u32) -> Result<Option<Value>, ApiError> {
    let Some((upload_id, part_size)) = multipart(t) else {
        return if n == 1 { whole_put(state, t).await.map(Some) } else { Ok(None) };
    };
    let (Backend::S3(client), Ok(number)) = (state.objects.backend(), i32::try_from(n)) else { return Ok(None) };
    if n == 0 || u64::from(n) > part_count(t, part_size) {
        return Ok(None);
    }
    let start = (u64::from(n) - 1) * part_size;
    let len = part_size.min(u64::try_from(t.size).unwrap_or(0) - start);
    let obj = state.objects.input_ref(&t.input_key);
    let r = presign::part(client, &obj, upload_id, number, len, state.url_lifetime)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Some(signed_json(&r)))
}

/// The parts the store already has of `t`'s upload: `[{n, size}]`.
///
/// # Errors
/// The store failed.
pub async fn stored_parts(state: &AppState, t: &Track) -> Result<Value, ApiError> {
    let parts: Vec<Value> = match (multipart(t), state.objects.backend()) {
        (Some((upload_id, _)), Backend::S3(client)) => {
            let obj = state.objects.input_ref(&t.input_key);
            let listed = direct_upload::list_parts(client, &obj, upload_id).await.map_err(|e| ApiError::store(&e))?;
            listed.unwrap_or_default().iter().map(|p| json!({ "n": p.number, "size": p.size })).collect()
        }
        _ => {
            let head = state.objects.input_store().head(&t.input_key, None).await.map_err(|e| ApiError::store(&e))?;
            head.filter(|h| i64::try_from(h.size) == Ok(t.size))
                .map(|h| json!({ "n": 1, "size": h.size }))
                .into_iter()
                .collect()
        }
    };
    Ok(json!({ "parts": parts }))
}

/// Completes `t`'s multipart upload (if it has one still open) from the parts S3 lists; 400
/// `incomplete_upload` naming the parts that are missing or of the wrong size.
///
/// # Errors
/// As above, or the store failed.
pub async fn finish_upload(state: &AppState, t: &Track) -> Result<(), ApiError> {
    let (Some((upload_id, part_size)), Backend::S3(client)) = (multipart(t), state.objects.backend()) else {
        return Ok(());
    };
    let obj = state.objects.input_ref(&t.input_key);
    let Some(parts) = direct_upload::list_parts(client, &obj, upload_id).await.map_err(|e| ApiError::store(&e))? else {
        return Ok(()); // completed already (a retried request), or aborted: the size check tells
    };
    let size = u64::try_from(t.size).unwrap_or(0);
    let count = part_count(t, part_size);
    let wrong: Vec<String> = (1..=count)
        .filter(|&n| {
            let want = part_size.min(size - (n - 1) * part_size);
            !parts.iter().any(|p| u64::try_from(p.number) == Ok(n) && p.size == want)
        })
        .map(|n| n.to_string())
        .collect();
    if !wrong.is_empty() || parts.len() as u64 != count {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "incomplete_upload",
            format!("parts missing or of the wrong size: {}; send them, then complete again", wrong.join(", ")),
        ));
    }
    direct_upload::complete(client, &obj, upload_id, &parts).await.map_err(|e| ApiError::store(&e))
}

/// A short-lived URL of `t`'s output, for `action` (download or play).
///
/// # Errors
/// The store cannot sign.
pub async fn output_url(state: &AppState, t: &Track, action: Action) -> Result<String, ApiError> {
    match state.objects.backend() {
        Backend::Local(_) => Ok(files::output_url(state, t, action)),
        Backend::S3(client) => {
            let obj = state.objects.output_ref(&t.output_key);
            let kind = if action == Action::Play { "inline" } else { "attachment" };
            let mime = t.spec.output_format().mime_type();
            let r = presign::get(client, &obj, mime, &output_name_header(kind, t), state.url_lifetime)
                .await
                .map_err(|e| ApiError::store(&e))?;
            Ok(r.url)
        }
    }
}
