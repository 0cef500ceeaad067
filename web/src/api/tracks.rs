//! Track routes: create (and get an upload URL), complete, list, get, download/play, delete.
//! Every route looks the track up with its owner: another user's id answers 404.

use audioproc_s3::digest::hex;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth;
use super::files;
use super::transfers;
use super::view;
use super::{ApiError, AppState};
use crate::accounts::{User, new_id};
use crate::signing::Action;
use crate::spec::{SpecRequest, TrackSpec};
use crate::tracks::{self, NewTrack, Status, Track};

/// Longest file name accepted, bytes.
const MAX_FILENAME_BYTES: usize = 1024;
/// Longest `Idempotency-Key`, bytes.
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;

/// `POST /api/v1/tracks`.
#[derive(Debug, Deserialize)]
pub struct CreateTrack {
    filename: String,
    size: i64,
    content_type: String,
    #[serde(flatten)]
    spec: SpecRequest,
}

fn check_create(state: &AppState, c: &CreateTrack) -> Result<TrackSpec, ApiError> {
    if c.filename.is_empty() || c.filename.len() > MAX_FILENAME_BYTES || c.filename.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "filename must be 1 to {MAX_FILENAME_BYTES} bytes without control characters"
        )));
    }
    if c.size <= 0 {
        return Err(ApiError::bad_request("size must be the file's size in bytes (an empty file is not audio)"));
    }
    if u64::try_from(c.size).unwrap_or(u64::MAX) > state.max_upload_bytes {
        return Err(ApiError::too_large(state.max_upload_bytes));
    }
    let ct = &c.content_type;
    if ct.is_empty() || ct.len() > 200 || !ct.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(ApiError::bad_request("content_type must be a MIME type such as audio/wav"));
    }
    match &state.fixed_spec {
        Some(fixed) => fixed
            .refuse_others(&c.spec)
            .map(|()| fixed.clone())
            .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, "fixed_spec", why)),
        None => TrackSpec::from_request(&c.spec).map_err(ApiError::bad_request),
    }
}

/// The created track's answer: its id, status and where to upload.
async fn created(state: &AppState, t: &Track) -> Result<(StatusCode, Json<Value>), ApiError> {
    let upload = transfers::upload_plan(state, t).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": t.id, "status": t.status.name(), "upload": upload }))))
}

/// `POST /api/v1/tracks` → 201 `{id, status: "uploading", upload}`.
pub async fn create(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let Json(raw) = body.map_err(|e| ApiError::bad_request(format!("expected a JSON track: {e}")))?;
    let c: CreateTrack = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request(format!("expected {{filename, size, content_type, …}}: {e}")))?;
    let spec = check_create(&state, &c)?;
    let idempotency = idempotency_key(&headers)?;
    let request_hash = hex(&Sha256::digest(raw.to_string().as_bytes()));
    if let Some(key) = &idempotency
        && let Some(found) = same_request(&state, &user, key, &request_hash).await?
    {
        return created(&state, &found).await;
    }
    let id = new_id();
    let (input_key, output_key) = (
        state.objects.input_key(&user.id, &id, &c.filename),
        state.objects.output_key(&user.id, &id, &c.filename, spec.extension()),
    );
    let size = u64::try_from(c.size).unwrap_or(0);
    let multipart = transfers::start_multipart(&state, &input_key, size, &c.content_type).await?;
    let new = NewTrack {
        id: &id,
        user_id: &user.id,
        filename: &c.filename,
        size: c.size,
        content_type: &c.content_type,
        spec: &spec,
        input_key: &input_key,
        output_key: &output_key,
        idempotency: idempotency.as_deref().map(|k| (k, request_hash.as_str())),
        multipart: multipart.as_ref().map(|(id, part)| (id.as_str(), i64::try_from(*part).unwrap_or(i64::MAX))),
    };
    if let Err(e) = tracks::create(&state.db, &new).await {
        if let Some((upload_id, _)) = &multipart {
            transfers::drop_multipart(&state, &input_key, upload_id).await;
        }
        // Two requests with one key at once: the other one made it.
        if let Some(key) = &idempotency
            && let Some(found) = same_request(&state, &user, key, &request_hash).await?
        {
            return created(&state, &found).await;
        }
        return Err(ApiError::database(e));
    }
    let track =
        tracks::get(&state.db, &user.id, &id).await.map_err(ApiError::database)?.ok_or_else(ApiError::not_found)?;
    created(&state, &track).await
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_BYTES => Ok(Some(k.to_owned())),
        _ => Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible characters"
        ))),
    }
}

/// The track made earlier with this key: the same when the request was the same, 409 if not.
async fn same_request(state: &AppState, user: &User, key: &str, hash: &str) -> Result<Option<Track>, ApiError> {
    match tracks::by_idempotency_key(&state.db, &user.id, key).await.map_err(ApiError::database)? {
        Some((track, h)) if h == hash => Ok(Some(track)),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            "this Idempotency-Key was used with another request",
        )),
        None => Ok(None),
    }
}

/// The caller's track `id`, or 404.
async fn own_track(state: &AppState, user: &User, id: &str) -> Result<Track, ApiError> {
    tracks::get(&state.db, &user.id, id).await.map_err(ApiError::database)?.ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/tracks/{id}` → TRACK.
pub async fn get(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    Ok(Json(view::track(&own_track(&state, &user, &id).await?)))
}

/// `?limit=N&before=CURSOR`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    before: Option<String>,
}

/// `GET /api/v1/tracks` → `{tracks, next}`, newest first.
pub async fn list(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 100"));
    }
    let before = match &q.before {
        None => None,
        Some(c) => {
            let (at, id) = c.split_once('.').ok_or_else(|| ApiError::bad_request("before: not a cursor"))?;
            Some((at.parse::<i64>().map_err(|_| ApiError::bad_request("before: not a cursor"))?, id))
        }
    };
    let page = tracks::list(&state.db, &user.id, limit, before).await.map_err(ApiError::database)?;
    let next = (page.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| page.last().map(|t| format!("{}.{}", t.created_at, t.id)))
        .flatten();
    Ok(Json(json!({ "tracks": page.iter().map(view::track).collect::<Vec<_>>(), "next": next })))
}

/// `GET /api/v1/tracks/{id}/parts/{n}` → `{method, url, headers}`: the signed request for part
/// `n` of a multipart upload, or (`n = 1`) a fresh whole-file PUT.
pub async fn part(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path((id, n)): Path<(String, u32)>,
) -> Result<Json<Value>, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let track = own_track(&state, &user, &id).await?;
    if track.status != Status::Uploading {
        return Err(ApiError::not_found());
    }
    transfers::part_target(&state, &track, n).await?.map(Json).ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/tracks/{id}/parts` → `{parts: [{n, size}]}`: what the store already has of the
/// upload (to resume it, sending only the missing parts).
pub async fn parts(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let track = own_track(&state, &user, &id).await?;
    if track.status != Status::Uploading {
        return Err(ApiError::not_found());
    }
    transfers::stored_parts(&state, &track).await.map(Json)
}

/// `POST /api/v1/tracks/{id}/complete` → 202 `{status: "queued"}` once the stored input has the
/// announced size and reads as audio; 422 (and the track `failed`) when it is not audio.
pub async fn complete(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let track = own_track(&state, &user, &id).await?;
    if track.status != Status::Uploading {
        // Completing twice is harmless.
        return Ok((StatusCode::ACCEPTED, Json(json!({ "status": track.status.name(), "error": track.error }))));
    }
    transfers::finish_upload(&state, &track).await?;
    files::check_uploaded(&state, &track).await?;
    let sniffed = state.objects.sniff(&track, &state.work_dir, state.max_upload_bytes).await;
    if let Err(result) = sniffed {
        let why = result.map_err(|e| ApiError::store(&e))?;
        tracks::transition(&state.db, &user.id, &id, Status::Uploading, Status::Failed, Some(&why))
            .await
            .map_err(ApiError::database)?;
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_audio", why));
    }
    tracks::transition(&state.db, &user.id, &id, Status::Uploading, Status::Queued, None)
        .await
        .map_err(ApiError::database)?;
    state.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "queued" }))))
}

/// `GET /api/v1/tracks/{id}/download` → 302 to a signed URL of the output (an attachment).
pub async fn download(
    state: State<AppState>,
    method: Method,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Response, ApiError> {
    redirect(state, method, headers, id, Action::Download).await
}

/// `GET /api/v1/tracks/{id}/play` → 302 to a signed URL of the output (inline).
pub async fn play(
    state: State<AppState>,
    method: Method,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Response, ApiError> {
    redirect(state, method, headers, id, Action::Play).await
}

async fn redirect(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    action: Action,
) -> Result<Response, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let track = own_track(&state, &user, &id).await?;
    if track.status != Status::Done {
        return Err(ApiError::not_found());
    }
    let url = transfers::output_url(&state, &track, action).await?;
    let mut response = StatusCode::FOUND.into_response();
    let location = url.parse().map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /api/v1/tracks/{id}` → 204: the row, the input and the output removed.
pub async fn delete(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let track = own_track(&state, &user, &id).await?;
    if !tracks::delete(&state.db, &user.id, &id).await.map_err(ApiError::database)? {
        return Err(ApiError::not_found());
    }
    state.objects.remove_track(&track).await;
    Ok(StatusCode::NO_CONTENT)
}
