//! The page: `/` and its static files, compiled into the binary (no build step, nothing to
//! install). A small hand-written ES module talks to the JSON API like any other client.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The static files: name, content type, contents.
const FILES: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../static/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../static/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../../static/api.js")),
    ("curve.js", "text/javascript; charset=utf-8", include_str!("../../static/curve.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("../../static/dom.js")),
    ("format.js", "text/javascript; charset=utf-8", include_str!("../../static/format.js")),
    ("report.js", "text/javascript; charset=utf-8", include_str!("../../static/report.js")),
    ("session.js", "text/javascript; charset=utf-8", include_str!("../../static/session.js")),
    ("tracks.js", "text/javascript; charset=utf-8", include_str!("../../static/tracks.js")),
    ("uploads.js", "text/javascript; charset=utf-8", include_str!("../../static/uploads.js")),
];

/// The page's HTML.
const INDEX: &str = include_str!("../../static/index.html");

fn with_headers(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /`: the page, with a policy that lets it run only its own scripts, and send uploads to
/// and play from only itself and the object store (S3 over `https:`, or a custom endpoint).
pub async fn index(State(state): State<AppState>) -> Response {
    let mut r = with_headers("text/html; charset=utf-8", INDEX);
    let store = state.objects.extra_origin().map(|o| format!(" {o}")).unwrap_or_default();
    let csp = format!(
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob: https:{store}; \
         connect-src 'self' https:{store}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The API described in OpenAPI 3.1.
const OPENAPI: &str = include_str!("../../openapi/openapi.json");

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    with_headers("application/json", OPENAPI)
}

/// `GET /api/v1/settings` → `{processing, fixed_spec, max_upload_bytes}`: what the page offers
/// (with `fixed_spec`, every track gets those settings: the processor is external).
pub async fn settings(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "processing": state.process.name(),
        "fixed_spec": state.fixed_spec,
        "max_upload_bytes": state.max_upload_bytes,
    }))
}

/// `GET /static/{name}`.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, ct, body) = FILES.iter().find(|(n, _, _)| *n == name).ok_or_else(ApiError::not_found)?;
    Ok(with_headers(ct, body))
}
