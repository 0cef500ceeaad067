//! `audioproc serve`, the real binary: the account API against SQLite (embedded) and a real
//! PostgreSQL server, the same suite on both; health, readiness and draining.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use audioproc_testdata::harness::postgres::Postgres;
use audioproc_testdata::harness::{header, http_request};
use common::server::{Server, session_of};
use serde_json::json;

/// The account suite, the same on every database.
fn accounts_suite(s: &Server) {
    let ann = json!({"email": "Ann@Example.org", "password": "correct horse battery"});
    let (status, _, body) = s.call("POST", "/api/v1/users", &[], Some(ann.clone()));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], "ann@example.org");
    let (status, _, body) = s.call("POST", "/api/v1/users", &[], Some(ann.clone()));
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("email_taken")));
    for bad in [
        json!({"email": "nope", "password": "correct horse"}),
        json!({"email": "b@x.org", "password": "short"}),
        json!({"x": 1}),
    ] {
        let (status, _, body) = s.call("POST", "/api/v1/users", &[], Some(bad.clone()));
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad}");
    }
    // SQL metacharacters are data, nothing else.
    let odd = json!({"email": "o'brien\";DROP/**/TABLE/**/users;--@x.org", "password": "' OR '1'='1' --"});
    assert_eq!(s.call("POST", "/api/v1/users", &[], Some(odd.clone())).0, 201);
    assert_eq!(s.call("POST", "/api/v1/sessions", &[], Some(odd)).0, 200);

    let wrong = json!({"email": "ann@example.org", "password": "wrong horse battery"});
    let (status, _, body) = s.call("POST", "/api/v1/sessions", &[], Some(wrong));
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("wrong_credentials")));
    let (status, _, body) = s.call("GET", "/api/v1/me", &[], None);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));

    // Sign in: a fresh session id, never the one the browser came with (no fixation).
    let planted = "audioproc_session=0123456789abcdef";
    let (status, headers, _) = s.call("POST", "/api/v1/sessions", &[("cookie", planted)], Some(ann.clone()));
    assert_eq!(status, 200);
    let cookie = session_of(&headers);
    assert_ne!(cookie, planted);
    let (status, _, me) = s.call("GET", "/api/v1/me", &[("cookie", &cookie)], None);
    assert_eq!((status, me["email"].as_str()), (200, Some("ann@example.org")));

    // A cookie-authenticated write from another site is refused; from our pages it passes.
    let cross = [("cookie", cookie.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(s.call("POST", "/api/v1/tokens", &cross, None).0, 403);
    let (status, _, token) =
        s.call("POST", "/api/v1/tokens", &[("cookie", &cookie), ("sec-fetch-site", "same-origin")], None);
    assert_eq!(status, 201, "{token}");
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let (status, _, me) = s.call("GET", "/api/v1/me", &[("authorization", &bearer)], None);
    assert_eq!((status, me["email"].as_str()), (200, Some("ann@example.org")));
    assert_eq!(s.call("GET", "/api/v1/me", &[("authorization", "Bearer ap_guessed")], None).0, 401);

    // Sign out: the session is gone server-side, whatever the browser keeps.
    let (status, headers, _) = s.call("DELETE", "/api/v1/sessions", &[("cookie", &cookie)], None);
    assert_eq!(status, 204);
    assert!(header(&headers, "set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(s.call("GET", "/api/v1/me", &[("cookie", &cookie)], None).0, 401);
    assert_eq!(s.call("GET", "/api/v1/no-such-route", &[], None).0, 404);

    // Wrong-password throttling: after 5 failures even the right password waits.
    let carl = json!({"email": "carl@example.org", "password": "the right password"});
    assert_eq!(s.call("POST", "/api/v1/users", &[], Some(carl.clone())).0, 201);
    let guess = json!({"email": "Carl@example.org", "password": "a wrong guess!"});
    for _ in 0..5 {
        assert_eq!(s.call("POST", "/api/v1/sessions", &[], Some(guess.clone())).0, 401);
    }
    let (status, headers, body) = s.call("POST", "/api/v1/sessions", &[], Some(carl));
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{body}");
    let wait: i64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    assert_eq!(s.call("POST", "/api/v1/sessions", &[], Some(ann)).0, 200, "other accounts are not affected");
}

#[test]
fn accounts_work_the_same_on_sqlite() {
    let s = Server::start(None, &[]);
    accounts_suite(&s);
    let (status, _, _) = http_request(&s.addr, "GET", "/readyz", &[], b"");
    assert_eq!(status, 200);
}

#[test]
fn accounts_work_the_same_on_postgres_and_instances_share_sessions() {
    let url = Postgres::shared().create_database("serve_accounts");
    // Two instances start at once on one database: migrations run once, under the lock.
    let (a, b) = std::thread::scope(|sc| {
        let (a, b) = (sc.spawn(|| Server::start(Some(&url), &[])), sc.spawn(|| Server::start(Some(&url), &[])));
        (a.join().unwrap(), b.join().unwrap())
    });
    accounts_suite(&a);
    // A session opened on one instance is valid on the other.
    let cred = json!({"email": "bob@example.org", "password": "another long one"});
    assert_eq!(a.call("POST", "/api/v1/users", &[], Some(cred.clone())).0, 201);
    let (_, headers, _) = a.call("POST", "/api/v1/sessions", &[], Some(cred));
    let cookie = session_of(&headers);
    let (status, _, me) = b.call("GET", "/api/v1/me", &[("cookie", &cookie)], None);
    assert_eq!((status, me["email"].as_str()), (200, Some("bob@example.org")));
}

#[test]
fn sigterm_turns_readyz_to_503_before_the_server_exits() {
    let mut s = Server::start(None, &[]);
    assert_eq!(http_request(&s.addr, "GET", "/readyz", &[], b"").0, 200);
    assert!(Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_request(&s.addr, "GET", "/readyz", &[], b"").0, 503);
    let started = Instant::now();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
