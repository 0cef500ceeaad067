//! The REST API as a client uses it, for the `audioproc serve` end-to-end tests: sign up,
//! create, upload to whatever URL the server hands out (its own, or a presigned S3 URL),
//! complete, poll, download, re-measure.

use std::time::{Duration, Instant};

use audioproc_engine::{AnalyzeOptions, analyze_path};
use audioproc_testdata::harness::{HttpResponse, http_request};
use serde_json::{Value, json};

use super::server::{Server, session_of};

/// Signs `email` up and in; the session cookie.
pub fn sign_up(s: &Server, email: &str) -> String {
    let cred = json!({"email": email, "password": "a long enough password"});
    assert_eq!(s.call("POST", "/api/v1/users", &[], Some(cred.clone())).0, 201);
    let (status, headers, _) = s.call("POST", "/api/v1/sessions", &[], Some(cred));
    assert_eq!(status, 200);
    session_of(&headers)
}

/// `POST /api/v1/tracks`: status and body.
pub fn create(s: &Server, cookie: &str, body: Value) -> (u16, Value) {
    let (status, _, v) = s.call("POST", "/api/v1/tracks", &[("cookie", cookie)], Some(body));
    (status, v)
}

/// Sends a request to `url`: a path of the server `s`, or an absolute `http://host:port/…` URL
/// (a presigned S3 URL).
pub fn request(s: &Server, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    match url.strip_prefix("http://") {
        Some(rest) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            http_request(host, method, if path.is_empty() { "/" } else { path }, headers, body)
        }
        None => http_request(&s.addr, method, url, headers, body),
    }
}

/// Sends `bytes` as the upload target `t` (`{method, url, headers}`) says; the status.
pub fn put(s: &Server, t: &Value, bytes: &[u8]) -> u16 {
    assert_eq!(t["method"], "PUT", "{t}");
    let ct = t["headers"]["Content-Type"].as_str();
    let headers: Vec<(&str, &str)> = ct.map(|ct| ("content-type", ct)).into_iter().collect();
    request(s, "PUT", t["url"].as_str().unwrap(), &headers, bytes).0
}

/// `POST …/complete`: status and body.
pub fn complete(s: &Server, cookie: &str, id: &str) -> (u16, Value) {
    let (status, _, body) = s.call("POST", &format!("/api/v1/tracks/{id}/complete"), &[("cookie", cookie)], None);
    (status, body)
}

/// Creates, uploads (in one PUT) and completes a WAV track; its id.
pub fn upload_wav(s: &Server, cookie: &str, name: &str, wav: &[u8]) -> String {
    let (status, t) = create(s, cookie, json!({"filename": name, "size": wav.len(), "content_type": "audio/wav"}));
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["status"], "uploading");
    assert_eq!(put(s, &t["upload"], wav), 200);
    let id = t["id"].as_str().unwrap().to_owned();
    let (status, body) = complete(s, cookie, &id);
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")), "{body}");
    id
}

/// Polls the track until its status is one of `want` (at most 120 s).
pub fn wait_for(s: &Server, cookie: &str, id: &str, want: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let (status, _, t) = s.call("GET", &format!("/api/v1/tracks/{id}"), &[("cookie", cookie)], None);
        assert_eq!(status, 200, "{t}");
        if want.contains(&t["status"].as_str().unwrap()) {
            return t;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "still {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Integrated loudness of an encoded file.
pub fn lufs_of(bytes: &[u8], ext: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(format!("out.{ext}"));
    std::fs::write(&f, bytes).unwrap();
    analyze_path(&f, &AnalyzeOptions::default()).unwrap().loudness.integrated_lufs.unwrap()
}
