//! The embedded mode's object URLs: the signed `PUT /files/{id}/upload` that takes a track's
//! input (the stand-in for an S3 presigned PUT: the same client code uploads to either), and the
//! signed `GET /files/{id}/download|play` that serves its output. A signed URL is the only
//! credential these routes take; it names the track, the key, and for uploads the size and
//! content type, and expires in 15 minutes.

use audioproc_s3::ObjectStore;
use audioproc_s3::store::{Cancel, Clobber, PutOptions};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use super::{ApiError, AppState};
use crate::objects::{Backend, output_name};
use crate::signing::{Action, Refused};
use crate::tracks::{self, Status, Track};

/// `?expires=…&signature=…`.
#[derive(Debug, Deserialize)]
pub struct Signed {
    expires: i64,
    signature: String,
}

fn upload_scope(t: &Track) -> String {
    format!("{}\n{}\n{}", t.input_key, t.size, t.content_type)
}

/// Where and how to upload `t`'s input: `{method, url, headers}`.
pub fn upload_target(state: &AppState, t: &Track) -> Value {
    let q = state.signer.query(Action::Upload, &t.id, &upload_scope(t));
    json!({
        "method": "PUT",
        "url": format!("/files/{}/upload?{q}", t.id),
        "headers": { "Content-Type": t.content_type },
    })
}

/// A signed URL of `t`'s output.
pub fn output_url(state: &AppState, t: &Track, action: Action) -> String {
    let q = state.signer.query(action, &t.id, &t.output_key);
    let what = if action == Action::Play { "play" } else { "download" };
    format!("/files/{}/{what}?{q}", t.id)
}

fn refused(e: Refused) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, if e == Refused::Expired { "expired" } else { "bad_signature" }, e.to_string())
}

/// The track of a signed request, checked for `action` in the scope `scope` gives it.
async fn signed_track(
    state: &AppState,
    id: &str,
    signed: &Signed,
    action: Action,
    scope: fn(&Track) -> String,
) -> Result<Track, ApiError> {
    let track = tracks::by_id(&state.db, id).await.map_err(ApiError::database)?.ok_or_else(ApiError::not_found)?;
    state.signer.check(action, &track.id, &scope(&track), signed.expires, &signed.signature).map_err(refused)?;
    Ok(track)
}

/// `PUT /files/{id}/upload?expires&signature`: exactly the announced number of bytes, with the
/// signed `Content-Type`; stored whole or not at all.
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let Query(signed) = signed.map_err(|_| refused(Refused::BadSignature))?;
    let track = signed_track(&state, &id, &signed, Action::Upload, upload_scope).await?;
    if track.status != Status::Uploading {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_uploading", "this track is already uploaded"));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type != track.content_type {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_signature",
            format!("Content-Type must be {:?}, as signed", track.content_type),
        ));
    }
    let size = u64::try_from(track.size).unwrap_or(0);
    let announced =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(n) if n > size => return Err(too_many_bytes(size)),
        Some(n) if n < size => return Err(size_mismatch(size)),
        _ => {}
    }
    let Backend::Local(store) = state.objects.backend() else { return Err(ApiError::not_found()) };
    let staged = store.stage(&track.input_key, ".upload", &state.work_dir).map_err(ApiError::internal)?;
    let received = receive(body, &staged, size).await?;
    if received != size {
        return Err(size_mismatch(size));
    }
    let options = PutOptions { content_type: track.content_type.clone(), ..PutOptions::default() };
    store
        .publish(staged, &track.input_key, &options, Clobber::Replace, &Cancel::new())
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::OK)
}

/// Writes `body` to `to`, refusing more than `size` bytes; the count received.
async fn receive(body: Body, to: &std::path::Path, size: u64) -> Result<u64, ApiError> {
    use http_body_util::BodyExt;
    let mut file =
        tokio::fs::OpenOptions::new().write(true).truncate(true).open(to).await.map_err(ApiError::internal)?;
    let mut body = body;
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("the upload broke off: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        received += data.len() as u64;
        if received > size {
            return Err(too_many_bytes(size));
        }
        file.write_all(&data).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(received)
}

fn too_many_bytes(size: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("more than the {size} bytes announced"))
}

fn size_mismatch(size: u64) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "size_mismatch",
        format!("the upload must be exactly the {size} bytes announced"),
    )
}

/// 400 unless the stored input is there with exactly the announced size.
pub async fn check_uploaded(state: &AppState, t: &Track) -> Result<(), ApiError> {
    let info = state.objects.input_store().head(&t.input_key, None).await.map_err(|e| ApiError::store(&e))?;
    match info {
        None => Err(ApiError::new(StatusCode::BAD_REQUEST, "not_uploaded", "nothing was uploaded yet")),
        Some(i) if i.size != u64::try_from(t.size).unwrap_or(0) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "size_mismatch",
            format!("the stored file has {} bytes, not the {} announced", i.size, t.size),
        )),
        Some(_) => Ok(()),
    }
}

/// `GET /files/{id}/download|play?expires&signature`: the output (with ranges, for players).
pub async fn output(
    State(state): State<AppState>,
    Path((id, what)): Path<(String, String)>,
    signed: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let action = match what.as_str() {
        "download" => Action::Download,
        "play" => Action::Play,
        _ => return Err(ApiError::not_found()),
    };
    let Query(signed) = signed.map_err(|_| refused(Refused::BadSignature))?;
    let track = signed_track(&state, &id, &signed, action, |t| t.output_key.clone()).await?;
    let Backend::Local(store) = state.objects.backend() else { return Err(ApiError::not_found()) };
    let path = store.path(&track.output_key).map_err(ApiError::internal)?;
    let mime = track.spec.output_format().mime_type();
    let served = tower_http::services::ServeFile::new_with_mime(&path, &mime.parse().map_err(ApiError::internal)?)
        .oneshot(request)
        .await
        .map_err(ApiError::internal)?;
    if served.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found());
    }
    let mut response = served.into_response();
    let kind = if action == Action::Play { "inline" } else { "attachment" };
    if let Ok(v) = HeaderValue::from_str(&output_name_header(kind, &track)) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// The `Content-Disposition` of `t`'s output: `kind` (`inline` or `attachment`) and its name.
pub fn output_name_header(kind: &str, t: &Track) -> String {
    content_disposition(kind, &output_name(&t.filename, t.spec.extension()))
}

/// `Content-Disposition` with an ASCII fallback name and the exact one in RFC 5987 form.
fn content_disposition(kind: &str, name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
