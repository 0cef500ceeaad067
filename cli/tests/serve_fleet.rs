//! `audioproc serve` in the fleet mode, the real binary: a real PostgreSQL shared by the
//! instances, S3 on the moto server. Uploads go straight to S3 with presigned URLs (one PUT, or a
//! multipart upload signed part by part, resumed on another instance, cancelled), processing
//! runs in the instances, and results come back from presigned GETs.
//!
//! moto does not check signatures, expiry or the signed `Content-Length`: the URLs are checked
//! here for what they sign (and unit-tested in `audioproc_s3::presign`), and every object's real
//! size and key are checked on the server.
#![allow(clippy::unwrap_used)]

mod common;

use audioproc_testdata::harness::{MotoServer, header};
use audioproc_testdata::programme_wav;
use common::client::{complete, create, lufs_of, put, sign_up, upload_wav, wait_for};
use common::fleet::Fleet;
use common::server::Server;
use serde_json::{Value, json};

use common::fleet::{fetch_output, query};

#[test]
fn uploads_go_straight_to_s3_and_results_come_back_from_it() {
    let f = Fleet::new("serve-fleet-put");
    let s = f.instance(&[]);
    assert_eq!(s.call("GET", "/readyz", &[], None).0, 200);
    let (ann, bob) = (sign_up(&s, "ann@example.org"), sign_up(&s, "bob@example.org"));
    let (_, _, me) = s.call("GET", "/api/v1/me", &[("cookie", &ann)], None);
    let ann_id = me["id"].as_str().unwrap().to_owned();

    // The upload URL: S3 itself, under the user's prefix, signing the size and the type.
    let wav = programme_wav(8.0, 31);
    let (status, t) =
        create(&s, &ann, json!({"filename": "My Song.wav", "size": wav.len(), "content_type": "audio/wav"}));
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let url = t["upload"]["url"].as_str().unwrap();
    let prefix = format!("{}/{}/incoming/{ann_id}/{id}/", MotoServer::shared().endpoint(), f.bucket);
    assert!(url.starts_with(&prefix), "{url} is not under {prefix}");
    assert_eq!(query(url, "X-Amz-SignedHeaders"), Some("content-length%3Bcontent-type%3Bhost"));
    assert!(query(url, "X-Amz-Expires").unwrap().parse::<u32>().unwrap() <= 900);
    assert!(!url.to_ascii_lowercase().contains("checksum"), "{url}");
    assert_eq!(t["upload"]["headers"]["Content-Type"], "audio/wav");
    assert_eq!(put(&s, &t["upload"], &wav), 200);
    let (status, body) = complete(&s, &ann, &id);
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")), "{body}");

    let t = wait_for(&s, &ann, &id, &["done", "failed"]);
    assert_eq!(t["status"], "done", "{t}");
    assert_eq!(t["report"]["input"]["path"], "My Song.wav", "no bucket path leaks: {t}");
    let input_key = format!("incoming/{ann_id}/{id}/My Song.wav");
    let head = f.s3.head(&f.bucket, &input_key).unwrap();
    assert_eq!(head.content_length(), Some(wav.len() as i64), "the object in S3 is the file sent");
    let output_key = format!("processed/{ann_id}/{id}/My Song.flac");
    assert_eq!(f.keys_under(&format!("processed/{ann_id}/{id}/")), [output_key.clone(), format!("{output_key}.json")]);

    // Download and play: presigned GETs of the output, which re-measures at the target.
    let (headers, bytes) = fetch_output(&s, &ann, &id, "download");
    let reported = t["report"]["output"]["integrated_lufs"].as_f64().unwrap();
    let measured = lufs_of(&bytes, "flac");
    assert!((measured + 23.0).abs() <= 0.1 && (measured - reported).abs() < 0.01, "{measured} vs {reported}");
    assert!(header(&headers, "content-disposition").unwrap().starts_with("attachment"), "{headers:?}");
    let (headers, bytes) = fetch_output(&s, &ann, &id, "play");
    assert!(header(&headers, "content-disposition").unwrap().starts_with("inline"), "{headers:?}");
    assert_eq!(&bytes[..4], b"fLaC");

    // Bob sees none of it: 404 on every route.
    for (method, path) in [
        ("GET", format!("/api/v1/tracks/{id}")),
        ("DELETE", format!("/api/v1/tracks/{id}")),
        ("POST", format!("/api/v1/tracks/{id}/complete")),
        ("GET", format!("/api/v1/tracks/{id}/download")),
        ("GET", format!("/api/v1/tracks/{id}/play")),
        ("GET", format!("/api/v1/tracks/{id}/parts")),
        ("GET", format!("/api/v1/tracks/{id}/parts/1")),
    ] {
        let (status, _, body) = s.call(method, &path, &[("cookie", &bob)], None);
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{method} {path}");
    }

    // What S3 holds is checked, whatever the client claimed.
    let (_, t) = create(&s, &ann, json!({"filename": "short.wav", "size": wav.len(), "content_type": "audio/wav"}));
    let short = t["id"].as_str().unwrap();
    assert_eq!(put(&s, &t["upload"], &wav[..wav.len() - 100]), 200, "moto does not enforce the signed size");
    let (status, body) = complete(&s, &ann, short);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("size_mismatch")), "{body}");
    let text = b"plain text, not audio, whatever the name says".to_vec();
    let (_, t) = create(&s, &ann, json!({"filename": "fake.wav", "size": text.len(), "content_type": "audio/wav"}));
    let fake = t["id"].as_str().unwrap();
    assert_eq!(put(&s, &t["upload"], &text), 200);
    let (status, body) = complete(&s, &ann, fake);
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("not_audio")), "{body}");
    let t = wait_for(&s, &ann, fake, &["failed"]);
    assert!(!t["error"].as_str().unwrap().contains(&f.bucket), "no bucket in the message: {t}");

    // Delete: the row, the input, the output and the report are gone.
    assert_eq!(s.call("DELETE", &format!("/api/v1/tracks/{id}"), &[("cookie", &ann)], None).0, 204);
    assert!(f.keys_under(&format!("incoming/{ann_id}/{id}/")).is_empty());
    assert!(f.keys_under(&format!("processed/{ann_id}/{id}/")).is_empty());
    assert_eq!(s.call("GET", &format!("/api/v1/tracks/{id}"), &[("cookie", &ann)], None).0, 404);
}

/// `{n, size}` of the parts S3 has, as the API lists them.
fn stored_parts(s: &Server, cookie: &str, id: &str) -> Value {
    let (status, _, body) = s.call("GET", &format!("/api/v1/tracks/{id}/parts"), &[("cookie", cookie)], None);
    assert_eq!(status, 200, "{body}");
    body["parts"].clone()
}

fn send_part(s: &Server, cookie: &str, id: &str, n: usize, bytes: &[u8]) {
    let (status, _, target) = s.call("GET", &format!("/api/v1/tracks/{id}/parts/{n}"), &[("cookie", cookie)], None);
    assert_eq!(status, 200, "{target}");
    let url = target["url"].as_str().unwrap();
    assert_eq!(query(url, "partNumber"), Some(n.to_string().as_str()));
    assert_eq!(query(url, "X-Amz-SignedHeaders"), Some("content-length%3Bhost"), "each part's size is signed");
    assert_eq!(put(s, &target, bytes), 200);
}

#[test]
fn big_files_go_in_parts_resume_on_another_instance_and_cancel_cleanly() {
    const THRESHOLD: &str = "6291456"; // 6 MiB: parts of S3's minimum, 5 MiB
    const PART: usize = 5 << 20;
    let f = Fleet::new("serve-fleet-multipart");
    let (a, b) = (f.instance(&["--multipart-threshold", THRESHOLD]), f.instance(&["--multipart-threshold", THRESHOLD]));
    let ann = sign_up(&a, "ann@example.org");

    let wav = programme_wav(40.0, 32); // 7 MB: two parts
    let (status, t) = create(&a, &ann, json!({"filename": "long.wav", "size": wav.len(), "content_type": "audio/wav"}));
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["upload"], json!({"multipart": {"part_size": PART, "parts": 2}}));
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(stored_parts(&a, &ann, &id), json!([]));
    send_part(&a, &ann, &id, 1, &wav[..PART]);
    assert_eq!(stored_parts(&a, &ann, &id), json!([{"n": 1, "size": PART}]));
    let (status, body) = complete(&a, &ann, &id);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("incomplete_upload")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains('2'), "{body}");
    for n in [0, 3] {
        assert_eq!(a.call("GET", &format!("/api/v1/tracks/{id}/parts/{n}"), &[("cookie", &ann)], None).0, 404);
    }

    // The connection dropped; the upload resumes on the other instance (same session, same
    // database), which sends only the missing part and completes.
    assert_eq!(stored_parts(&b, &ann, &id), json!([{"n": 1, "size": PART}]));
    send_part(&b, &ann, &id, 2, &wav[PART..]);
    let (status, body) = complete(&b, &ann, &id);
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")), "{body}");
    assert_eq!(complete(&a, &ann, &id).0, 202, "completing twice is harmless");
    let t = wait_for(&a, &ann, &id, &["done", "failed"]);
    assert_eq!(t["status"], "done", "{t}");
    assert_eq!(f.s3.get(&f.bucket, &format!("incoming/{}", t_key_tail(&f, &id))).unwrap(), wav, "the parts, in order");
    let (_, bytes) = fetch_output(&b, &ann, &id, "download");
    assert!((lufs_of(&bytes, "flac") + 23.0).abs() <= 0.1);
    assert_eq!(f.s3.multipart_uploads(&f.bucket), 0, "no upload left open");

    // Cancel half-way: the upload is aborted, nothing is kept.
    let (_, t) = create(&a, &ann, json!({"filename": "gone.wav", "size": wav.len(), "content_type": "audio/wav"}));
    let gone = t["id"].as_str().unwrap().to_owned();
    send_part(&a, &ann, &gone, 1, &wav[..PART]);
    assert_eq!(f.s3.multipart_uploads(&f.bucket), 1);
    assert_eq!(b.call("DELETE", &format!("/api/v1/tracks/{gone}"), &[("cookie", &ann)], None).0, 204);
    assert_eq!(f.s3.multipart_uploads(&f.bucket), 0, "aborted");
    assert!(f.s3.keys(&f.bucket).iter().all(|k| !k.contains(&gone)), "{:?}", f.s3.keys(&f.bucket));

    // A small file next to them still goes in one PUT.
    let small = upload_wav(&a, &ann, "small.wav", &programme_wav(2.0, 33));
    assert_eq!(wait_for(&b, &ann, &small, &["done", "failed"])["status"], "done");
}

/// The input key of track `id` without its `incoming/` prefix (`<user>/<id>/<name>`).
fn t_key_tail(f: &Fleet, id: &str) -> String {
    let key = f.keys_under("incoming/").into_iter().find(|k| k.contains(id)).unwrap();
    key.strip_prefix("incoming/").unwrap().to_owned()
}
