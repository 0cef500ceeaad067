//! Account routes: sign up, sign in and out, API tokens, who am I.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::{self, SESSION_COOKIE};
use super::{ApiError, AppState};
use crate::accounts;

/// `{email, password}`.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

/// The body as [`Credentials`], or a 400 that says what is wrong.
fn credentials(
    body: Result<Json<Credentials>, axum::extract::rejection::JsonRejection>,
) -> Result<Credentials, ApiError> {
    body.map(|Json(c)| c).map_err(|e| ApiError::bad_request(format!("expected {{\"email\", \"password\"}}: {e}")))
}

/// `POST /api/v1/users` → 201 `{id, email}`.
pub async fn create_user(
    State(state): State<AppState>,
    body: Result<Json<Credentials>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let c = credentials(body)?;
    let user = accounts::create_user(&state.db, &c.email, &c.password).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": user.id, "email": user.email }))))
}

fn cookie(state: &AppState, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let v = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// `POST /api/v1/sessions` → 200 `{id, email}` and a new session cookie (a new id at every
/// sign-in; any session the browser had is closed).
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Credentials>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    if !auth::same_origin(&headers) {
        return Err(ApiError::csrf());
    }
    let c = credentials(body)?;
    let user = accounts::authenticate(&state.db, &c.email, &c.password).await?;
    if let Some(old) = auth::session_cookie(&headers) {
        accounts::close_session(&state.db, &old).await?;
    }
    let session = accounts::open_session(&state.db, &user).await?;
    let mut response = Json(json!({ "id": user.id, "email": user.email })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie(&state, &session, accounts::SESSION_MS / 1000));
    Ok(response)
}

/// `DELETE /api/v1/sessions` → 204, the session closed and the cookie cleared.
pub async fn sign_out(State(state): State<AppState>, method: Method, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::user(&state, &method, &headers).await?;
    if let Some(session) = auth::session_cookie(&headers) {
        accounts::close_session(&state.db, &session).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", 0));
    Ok(response)
}

/// `POST /api/v1/tokens` → 201 `{token}` (shown once).
pub async fn create_token(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    let token = accounts::issue_token(&state.db, &user).await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))))
}

/// `GET /api/v1/me` → `{id, email}`.
pub async fn me(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = auth::user(&state, &method, &headers).await?;
    Ok(Json(json!({ "id": user.id, "email": user.email })))
}
