//! `audioproc serve`, the real binary: upload a track through the signed URL, watch it reach
//! `done`, download and re-measure it; isolation between users on every route; signed URLs;
//! bad input (not audio, lying sizes, odd names); idempotency; and durability across kill -9.
//! The suite runs on SQLite and on a real PostgreSQL server.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use audioproc_testdata::harness::postgres::Postgres;
use audioproc_testdata::harness::{header, http_request};
use audioproc_testdata::programme_wav;
use common::client::{create, lufs_of, put, sign_up, upload_wav, wait_for};
use common::server::Server;
use serde_json::json;

/// Follows the download redirect; the output's bytes.
fn download(s: &Server, cookie: &str, id: &str) -> Vec<u8> {
    let (status, headers, _) =
        http_request(&s.addr, "GET", &format!("/api/v1/tracks/{id}/download"), &[("cookie", cookie)], b"");
    assert_eq!(status, 302);
    let location = header(&headers, "location").unwrap().to_owned();
    // The signed URL is the credential: no cookie needed.
    let (status, headers, bytes) = http_request(&s.addr, "GET", &location, &[], b"");
    assert_eq!(status, 200);
    assert!(header(&headers, "content-disposition").unwrap().starts_with("attachment"));
    bytes
}

/// The whole suite on one server.
fn tracks_suite(s: &Server) {
    let ann = sign_up(s, "ann@example.org");
    let bob = sign_up(s, "bob@example.org");
    let wav = programme_wav(8.0, 1);

    // Upload → done; the report and the downloaded file are at the target.
    let id = upload_wav(s, &ann, "My Song (live).wav", &wav);
    let t = wait_for(s, &ann, &id, &["done", "failed"]);
    assert_eq!(t["status"], "done", "{t}");
    assert_eq!(t["report"]["schema"], "audioproc.process/1");
    assert_eq!(t["report"]["input"]["path"], "My Song (live).wav", "no server path leaks: {t}");
    assert_eq!(t["output_filename"], "My Song (live).flac");
    let reported = t["report"]["output"]["integrated_lufs"].as_f64().unwrap();
    let measured = lufs_of(&download(s, &ann, &id), "flac");
    assert!((measured + 23.0).abs() <= 0.1 && (measured - reported).abs() < 0.01, "{measured} vs {reported}");

    // Play: inline, with ranges for the player.
    let (status, headers, _) =
        http_request(&s.addr, "GET", &format!("/api/v1/tracks/{id}/play"), &[("cookie", &ann)], b"");
    assert_eq!(status, 302);
    let play = header(&headers, "location").unwrap().to_owned();
    let (status, headers, body) = http_request(&s.addr, "GET", &play, &[("range", "bytes=0-3")], b"");
    assert_eq!((status, body.as_slice()), (206, b"fLaC".as_slice()));
    assert!(header(&headers, "content-disposition").unwrap().starts_with("inline"));
    let tampered = play.replace("signature=", "signature=0");
    assert_eq!(http_request(&s.addr, "GET", &tampered, &[], b"").0, 403);

    // Bob sees nothing of Ann's: 404 on every route, and an empty list.
    for (method, path) in [
        ("GET", format!("/api/v1/tracks/{id}")),
        ("DELETE", format!("/api/v1/tracks/{id}")),
        ("POST", format!("/api/v1/tracks/{id}/complete")),
        ("GET", format!("/api/v1/tracks/{id}/download")),
        ("GET", format!("/api/v1/tracks/{id}/play")),
        ("GET", format!("/api/v1/tracks/{id}/parts/1")),
    ] {
        let (status, _, body) = s.call(method, &path, &[("cookie", &bob)], None);
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{method} {path}");
    }
    let (_, _, list) = s.call("GET", "/api/v1/tracks", &[("cookie", &bob)], None);
    assert_eq!(list["tracks"], json!([]));
    assert_eq!(s.call("GET", &format!("/api/v1/tracks/{id}"), &[], None).0, 401);
    // A cross-site write with Ann's cookie is refused before anything happens.
    let cross = [("cookie", ann.as_str()), ("origin", "http://evil.example")];
    let body = json!({"filename": "x.wav", "size": 10, "content_type": "audio/wav"});
    assert_eq!(s.call("POST", "/api/v1/tracks", &cross, Some(body)).0, 403);
    assert_eq!(s.call("DELETE", &format!("/api/v1/tracks/{id}"), &cross, None).0, 403);

    bad_uploads(s, &ann);
    names_idempotency_and_pages(s, &ann);

    // Delete: the row and the files are gone.
    let (status, _, _) = s.call("DELETE", &format!("/api/v1/tracks/{id}"), &[("cookie", &ann)], None);
    assert_eq!(status, 204);
    assert_eq!(s.call("GET", &format!("/api/v1/tracks/{id}"), &[("cookie", &ann)], None).0, 404);
    assert_eq!(http_request(&s.addr, "GET", &play, &[], b"").0, 404);
}

/// Non-audio content, lying and oversized sizes, signed headers.
fn bad_uploads(s: &Server, ann: &str) {
    let text = b"this is not audio at all, just text in a file named .wav".to_vec();
    let (_, t) = create(s, ann, json!({"filename": "fake.wav", "size": text.len(), "content_type": "audio/wav"}));
    let id = t["id"].as_str().unwrap();
    assert_eq!(put(s, &t["upload"], &text), 200);
    let (status, _, body) = s.call("POST", &format!("/api/v1/tracks/{id}/complete"), &[("cookie", ann)], None);
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("not_audio")), "{body}");
    let t = wait_for(s, ann, id, &["failed"]);
    assert!(t["error"].as_str().unwrap().contains("not audio"), "{t}");
    assert!(!t["error"].as_str().unwrap().contains(s.data.to_str().unwrap()), "no server path: {t}");

    let wav = programme_wav(1.0, 2);
    let (_, t) = create(s, ann, json!({"filename": "a.wav", "size": wav.len(), "content_type": "audio/wav"}));
    let id = t["id"].as_str().unwrap();
    let (status, _, body) = s.call("POST", &format!("/api/v1/tracks/{id}/complete"), &[("cookie", ann)], None);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("not_uploaded")));
    assert_eq!(put(s, &t["upload"], &wav[..wav.len() - 1]), 400, "fewer bytes than announced");
    let mut more = wav.clone();
    more.push(0);
    assert_eq!(put(s, &t["upload"], &more), 413, "more bytes than announced");
    let url = t["upload"]["url"].as_str().unwrap();
    assert_eq!(http_request(&s.addr, "PUT", url, &[("content-type", "text/plain")], &wav).0, 403, "unsigned type");
    let forged = url.replace("signature=", "signature=f");
    assert_eq!(http_request(&s.addr, "PUT", &forged, &[("content-type", "audio/wav")], &wav).0, 403);
    assert_eq!(put(s, &t["upload"], &wav), 200);
    assert_eq!(put(s, &t["upload"], &wav), 200, "an upload may be retried until completed");

    for (body, want) in [
        (json!({"filename": "big.wav", "size": 3u64 << 30, "content_type": "audio/wav"}), 413),
        (json!({"filename": "empty.wav", "size": 0, "content_type": "audio/wav"}), 400),
        (json!({"filename": "x.wav", "size": 10, "content_type": "audio/wav", "preset": "loud"}), 400),
        (json!({"filename": "x.wav", "size": 10, "content_type": "audio/wav", "target_lufs": -200}), 400),
        (json!({"filename": "", "size": 10, "content_type": "audio/wav"}), 400),
        (json!({"filename": "x.wav", "size": 10, "content_type": "audio/wav\r\nx: y"}), 400),
    ] {
        let (status, v) = create(s, ann, body.clone());
        assert_eq!(status, want, "{body} → {v}");
    }
}

/// Odd names are kept for display and made safe for keys; idempotent creation; pages.
fn names_idempotency_and_pages(s: &Server, ann: &str) {
    let wav = programme_wav(3.0, 3);
    for name in ["../../etc/passwd.wav", "日本語 <script>alert(1)</script>.wav", "'; DROP TABLE tracks; --.wav"] {
        let id = upload_wav(s, ann, name, &wav);
        let t = wait_for(s, ann, &id, &["done", "failed"]);
        assert_eq!((t["status"].as_str(), t["filename"].as_str()), (Some("done"), Some(name)), "{t}");
    }
    assert!(!s.data.join("etc").exists() && !s.data.parent().unwrap().join("etc").exists());

    let body = json!({"filename": "same.wav", "size": 100, "content_type": "audio/wav"});
    let key = [("cookie", ann), ("idempotency-key", "k-1")];
    let (_, _, first) = s.call("POST", "/api/v1/tracks", &key, Some(body.clone()));
    let (status, _, again) = s.call("POST", "/api/v1/tracks", &key, Some(body));
    assert_eq!((status, &again["id"]), (201, &first["id"]), "the same request gives the same track");
    let other = json!({"filename": "other.wav", "size": 100, "content_type": "audio/wav"});
    let (status, _, body) = s.call("POST", "/api/v1/tracks", &key, Some(other));
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("idempotency_conflict")));

    let mut seen = Vec::new();
    let mut path = "/api/v1/tracks?limit=2".to_owned();
    loop {
        let (status, _, page) = s.call("GET", &path, &[("cookie", ann)], None);
        assert_eq!(status, 200, "{page}");
        seen.extend(page["tracks"].as_array().unwrap().iter().map(|t| t["created_at"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/tracks?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "every track once: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "newest first: {seen:?}");
}

#[test]
fn tracks_work_end_to_end_on_sqlite() {
    tracks_suite(&Server::start(None, &[]));
}

#[test]
fn tracks_work_end_to_end_on_postgres() {
    let url = Postgres::shared().create_database("serve_tracks");
    tracks_suite(&Server::start(Some(&url), &[]));
}

#[test]
fn the_openapi_document_describes_every_route() {
    let s = Server::start(None, &[]);
    let (status, _, doc) = s.call("GET", "/api/v1/openapi.json", &[], None);
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
    let routes = [
        ("/api/v1/users", "post"),
        ("/api/v1/sessions", "post"),
        ("/api/v1/sessions", "delete"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/settings", "get"),
        ("/api/v1/tracks", "post"),
        ("/api/v1/tracks", "get"),
        ("/api/v1/tracks/{id}", "get"),
        ("/api/v1/tracks/{id}", "delete"),
        ("/api/v1/tracks/{id}/parts", "get"),
        ("/api/v1/tracks/{id}/parts/{n}", "get"),
        ("/api/v1/tracks/{id}/complete", "post"),
        ("/api/v1/tracks/{id}/download", "get"),
        ("/api/v1/tracks/{id}/play", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ];
    for (path, method) in routes {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not described");
        assert_eq!(doc["paths"].as_object().unwrap().len(), 14, "every described path is listed here");
        // And it is served: signed out, every route answers (401, 400, 200), none is unknown.
        let concrete = path.replace("{id}", "x").replace("{n}", "1");
        let (status, _, _) = s.call(&method.to_uppercase(), &concrete, &[], None);
        assert_ne!(status, 404, "{method} {path}");
    }
}

#[test]
fn signed_urls_expire() {
    let s = Server::start(None, &["--url-lifetime", "1"]);
    let ann = sign_up(&s, "ann@example.org");
    let wav = programme_wav(1.0, 4);
    let (_, t) = create(&s, &ann, json!({"filename": "a.wav", "size": wav.len(), "content_type": "audio/wav"}));
    std::thread::sleep(Duration::from_millis(1500));
    let url = t["upload"]["url"].as_str().unwrap();
    let (status, _, body) = http_request(&s.addr, "PUT", url, &[("content-type", "audio/wav")], &wav);
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("expired"));
    // A fresh link for the same upload.
    let (_, _, fresh) =
        s.call("GET", &format!("/api/v1/tracks/{}/parts/1", t["id"].as_str().unwrap()), &[("cookie", &ann)], None);
    assert_eq!(put(&s, &fresh, &wav), 200);
}

#[test]
fn kill_9_mid_processing_and_mid_upload_loses_nothing_and_redoes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_on(&data, None, &["--workers", "1"]);
    let ann = sign_up(&s, "ann@example.org");
    let ids: Vec<String> =
        (0..4).map(|i| upload_wav(&s, &ann, &format!("t{i}.wav"), &programme_wav(30.0, 10 + i))).collect();
    // An upload cut off half-way.
    let wav = programme_wav(5.0, 20);
    let (_, half) = create(&s, &ann, json!({"filename": "half.wav", "size": wav.len(), "content_type": "audio/wav"}));
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    let url = half["upload"]["url"].as_str().unwrap();
    let head = format!(
        "PUT {url} HTTP/1.1\r\nhost: {}\r\ncontent-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
        s.addr,
        wav.len()
    );
    std::io::Write::write_all(&mut conn, head.as_bytes()).unwrap();
    std::io::Write::write_all(&mut conn, &wav[..wav.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.kill9();
    drop(conn);

    let s = Server::start_on(&data, None, &["--workers", "1"]);
    for id in &ids {
        let t = wait_for(&s, &ann, id, &["done", "failed"]);
        assert_eq!(t["status"], "done", "{t}");
    }
    let half_id = half["id"].as_str().unwrap();
    let (_, _, t) = s.call("GET", &format!("/api/v1/tracks/{half_id}"), &[("cookie", &ann)], None);
    assert_eq!(t["status"], "uploading", "the cut-off upload is not queued");
    let (status, _, body) = s.call("POST", &format!("/api/v1/tracks/{half_id}/complete"), &[("cookie", &ann)], None);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("not_uploaded")), "no half file was kept");
    // Exactly one output and report per track, and no temporary file anywhere.
    let mut files = Vec::new();
    let mut stack = vec![data.join("objects")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path().strip_prefix(&data).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let outputs = files.iter().filter(|f| f.starts_with("objects/processed/")).count();
    assert_eq!(outputs, 2 * ids.len(), "{files:?}");
    assert!(files.iter().all(|f| !f.contains(".audioproc-tmp-") && !f.contains(".upload")), "{files:?}");
}
