//! Who is asking: a session cookie or a `Bearer` token, and the CSRF rule for cookie-
//! authenticated writes (the browser's `Sec-Fetch-Site` or `Origin` must say same origin).

use axum::http::{HeaderMap, Method, header};

use super::AppState;
use super::error::ApiError;
use crate::accounts::{self, User};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "audioproc_session";

/// The session id in the request's cookies.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Whether a cookie-authenticated write comes from our own pages: `Sec-Fetch-Site` is
/// `same-origin` (or `none`, typed by the user), or, without it, `Origin` is our host. Requests
/// with neither header are not from a browser and carry no ambient credentials worth forging.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            origin.split_once("://").is_some_and(|(_, rest)| rest == host)
        }
    }
}

/// The signed-in user: `Authorization: Bearer TOKEN`, else the session cookie (for which a
/// write must pass the CSRF rule).
///
/// # Errors
/// 401 when neither identifies a user, 403 for a cross-site cookie write.
pub async fn user(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<User, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth.strip_prefix("Bearer ").ok_or_else(ApiError::unauthorized)?;
        return accounts::token_user(&state.db, token.trim()).await?.ok_or_else(ApiError::unauthorized);
    }
    let session = session_cookie(headers).ok_or_else(ApiError::unauthorized)?;
    if !matches!(*method, Method::GET | Method::HEAD) && !same_origin(headers) {
        return Err(ApiError::csrf());
    }
    accounts::session_user(&state.db, &session).await?.ok_or_else(ApiError::unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; audioproc_session=abc; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert_eq!(session_cookie(&headers(&[("cookie", "audioproc_session=")])), None);
    }

    #[test]
    fn cross_site_writes_are_told_apart_from_our_own() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[("origin", "http://app:8080"), ("host", "app:8080")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil.example"), ("host", "app:8080")])));
        assert!(same_origin(&headers(&[])), "not a browser");
    }
}
