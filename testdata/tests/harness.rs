//! The test harness itself: moto, the Lambda Runtime API and the fault proxy, driven by plain
//! HTTP, and the PostgreSQL server. Needs the venv from `scripts/s3-venv.sh` (the moto tests
//! panic with that hint) and PostgreSQL (installed by `scripts/test.sh`).

use audioproc_testdata::harness::moto::S3_AUTHORIZATION;
use audioproc_testdata::harness::{
    FaultProxy, FaultRule, HttpConnection, MotoServer, Outcome, Postgres, RuntimeApi, header, http_request,
    try_http_request,
};
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Headers that make moto treat a raw request as an authenticated S3 call.
const AUTH: [(&str, &str); 1] = [("Authorization", S3_AUTHORIZATION)];

/// A bucket name no other test of this process uses (they share one moto server).
fn bucket(purpose: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("harness-{purpose}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis()
}

/// The text between `<tag>` and `</tag>`.
fn xml_value<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).expect("closing tag") + start;
    &xml[start..end]
}

// ---- moto ----

#[test]
fn moto_stores_and_returns_objects() {
    let moto = MotoServer::shared();
    assert_eq!(moto.endpoint(), format!("http://127.0.0.1:{}", moto.port()));
    let host = format!("127.0.0.1:{}", moto.port());
    let bucket = bucket("objects");

    let (status, _, body) =
        http_request(&moto.endpoint(), "PUT", &format!("/{bucket}"), &[("Host", host.as_str()), AUTH[0]], b"");
    assert_eq!(status, 200, "create bucket: {}", text(&body));
    let object: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let key = format!("/{bucket}/dir/file.wav");
    let (status, headers, body) = http_request(&host, "PUT", &key, &[("Content-Type", "audio/wav"), AUTH[0]], &object);
    assert_eq!(status, 200, "put object: {}", text(&body));
    assert!(header(&headers, "etag").is_some(), "PUT answers an ETag: {headers:?}");

    let (status, _, body) = http_request(&host, "GET", &key, &AUTH, b"");
    assert_eq!(status, 200);
    assert!(body == object, "GET returns the bytes PUT ({} vs {} bytes)", body.len(), object.len());
    let (status, headers, body) = http_request(&host, "HEAD", &key, &AUTH, b"");
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(header(&headers, "content-length"), Some("100000"));
}

#[test]
fn moto_reset_forgets_everything_and_kill_stops_it() {
    // A private server: resetting the shared one would break the tests running beside this one.
    let mut moto = MotoServer::start();
    let host = format!("127.0.0.1:{}", moto.port());
    let bucket = bucket("reset");
    assert_eq!(http_request(&host, "PUT", &format!("/{bucket}"), &AUTH, b"").0, 200);
    assert_eq!(http_request(&host, "PUT", &format!("/{bucket}/k"), &AUTH, b"data").0, 200);
    assert_eq!(http_request(&host, "GET", &format!("/{bucket}/k"), &AUTH, b"").0, 200);

    moto.reset();
    let (status, _, body) = http_request(&host, "GET", &format!("/{bucket}/k"), &AUTH, b"");
    assert_eq!(status, 404, "after reset: {}", text(&body));
    assert!(text(&body).contains("NoSuchBucket"), "{}", text(&body));

    moto.kill();
    moto.kill(); // idempotent
    assert!(try_http_request(&host, "GET", "/", &[], b"").is_err(), "moto still answers after kill");
}

// ---- Lambda Runtime API ----

/// What the fake runtime saw with one invocation.
#[derive(Debug)]
struct Seen {
    request_id: String,
    deadline_ms: u128,
    arn: String,
    trace_id: String,
    event: String,
}

/// Polls `/next` once on `connection` and returns what came.
fn next(connection: &mut HttpConnection) -> Seen {
    let (status, headers, body) = connection.request("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let get = |name: &str| header(&headers, name).unwrap_or_else(|| panic!("no {name} in {headers:?}")).to_owned();
    Seen {
        request_id: get("lambda-runtime-aws-request-id"),
        deadline_ms: get("lambda-runtime-deadline-ms").parse().expect("numeric deadline"),
        arn: get("lambda-runtime-invoked-function-arn"),
        trace_id: get("lambda-runtime-trace-id"),
        event: text(&body),
    }
}

#[test]
fn runtime_api_drives_a_runtime_through_responses_and_errors() {
    let api = RuntimeApi::start();
    assert!(api.address().starts_with("127.0.0.1:"));
    let env = api.lambda_env();
    assert!(env.contains(&("AWS_LAMBDA_RUNTIME_API", api.address())), "{env:?}");
    assert_eq!(env.len(), 6);
    assert_eq!(api.wait_first_poll(Duration::from_millis(50)), None);

    let (seen_tx, seen_rx) = mpsc::channel();
    let address = api.address();
    let runtime = thread::spawn(move || {
        // One keep-alive connection, as lambda_runtime's hyper client uses.
        let mut connection = HttpConnection::connect(&address);
        let first = next(&mut connection);
        let body = format!(r#"{{"echo":{}}}"#, first.event);
        let path = format!("/2018-06-01/runtime/invocation/{}/response", first.request_id);
        assert_eq!(connection.request("POST", &path, &[("Content-Type", "application/json")], body.as_bytes()).0, 202);
        seen_tx.send(first).expect("send");

        let second = next(&mut connection);
        let path = format!("/2018-06-01/runtime/invocation/{}/error", second.request_id);
        let error = br#"{"errorType":"Permanent","errorMessage":"not audio"}"#;
        let headers = [("Lambda-Runtime-Function-Error-Type", "Permanent")];
        assert_eq!(connection.request("POST", &path, &headers, error).0, 202);
        // Answering twice, or for an unknown id, is refused.
        assert_eq!(connection.request("POST", &path, &[], error).0, 400);
        seen_tx.send(second).expect("send");
    });

    assert!(api.wait_first_poll(Duration::from_secs(30)).is_some(), "the runtime never polled");
    let before = now_ms();
    assert_eq!(api.invoke(r#"{"n":1}"#), Outcome::Response(r#"{"echo":{"n":1}}"#.to_owned()));
    let first = seen_rx.recv().expect("first invocation seen");
    assert_eq!(first.event, r#"{"n":1}"#);
    assert!(first.deadline_ms >= before + 299_000 && first.deadline_ms <= now_ms() + 300_000, "{first:?}");
    assert!(first.arn.starts_with("arn:aws:lambda:"), "{first:?}");
    assert!(first.trace_id.starts_with("Root="), "{first:?}");

    let before = now_ms();
    assert_eq!(
        api.invoke_with_deadline(r#"{"n":2}"#, 1_500),
        Outcome::Error(r#"{"errorType":"Permanent","errorMessage":"not audio"}"#.to_owned())
    );
    let second = seen_rx.recv().expect("second invocation seen");
    assert_ne!(first.request_id, second.request_id);
    assert!(second.deadline_ms >= before + 1_500 && second.deadline_ms <= now_ms() + 1_500, "{second:?}");

    runtime.join().expect("fake runtime");
    assert_eq!(api.invocations_served(), 2);
    assert_eq!(api.init_error(), None);
}

#[test]
fn runtime_api_serves_concurrent_invocations_one_at_a_time() {
    const INVOCATIONS: usize = 3;
    let api = RuntimeApi::start();
    let address = api.address();
    let runtime = thread::spawn(move || {
        let mut connection = HttpConnection::connect(&address);
        for _ in 0..INVOCATIONS {
            let seen = next(&mut connection);
            thread::sleep(Duration::from_millis(20)); // let the other invocations pile up
            let path = format!("/2018-06-01/runtime/invocation/{}/response", seen.request_id);
            let body = format!(r#"{{"handled":{}}}"#, seen.event);
            assert_eq!(connection.request("POST", &path, &[], body.as_bytes()).0, 202);
        }
    });
    thread::scope(|scope| {
        for n in 0..INVOCATIONS {
            let api = &api;
            scope.spawn(move || {
                let outcome = api.invoke(&format!(r#"{{"n":{n}}}"#));
                assert_eq!(outcome, Outcome::Response(format!(r#"{{"handled":{{"n":{n}}}}}"#)));
            });
        }
    });
    runtime.join().expect("fake runtime");
    assert_eq!(api.invocations_served(), INVOCATIONS);
}

#[test]
fn runtime_api_records_init_errors_and_fails_waiting_invocations() {
    let api = RuntimeApi::start();
    thread::scope(|scope| {
        let waiting = scope.spawn(|| api.invoke(r#"{"n":1}"#));
        thread::sleep(Duration::from_millis(100));
        let error = br#"{"errorType":"Runtime.Config","errorMessage":"AUDIOPROC_OUTPUT_BUCKET is not set"}"#;
        let (status, _, _) = http_request(&api.address(), "POST", "/2018-06-01/runtime/init/error", &[], error);
        assert_eq!(status, 202);
        assert_eq!(api.init_error().as_deref(), Some(&text(error)[..]));
        assert_eq!(waiting.join().expect("invoke"), Outcome::Error(text(error)));
    });
    assert_eq!(api.invocations_served(), 0);
    let (status, _, _) = http_request(&api.address(), "GET", "/2018-06-01/runtime/nonsense", &[], b"");
    assert_eq!(status, 404);
}

#[test]
fn runtime_api_does_not_give_invocations_to_a_runtime_that_went_away() {
    let api = RuntimeApi::start();
    // A runtime that polls and is then killed: its connection closes during the long poll.
    let mut doomed = std::net::TcpStream::connect(api.address()).expect("connect");
    doomed
        .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n")
        .expect("send the poll");
    assert!(api.wait_first_poll(Duration::from_secs(10)).is_some());
    drop(doomed);

    let address = api.address();
    let runtime = thread::spawn(move || {
        let mut connection = HttpConnection::connect(&address);
        let seen = next(&mut connection);
        let path = format!("/2018-06-01/runtime/invocation/{}/response", seen.request_id);
        assert_eq!(connection.request("POST", &path, &[], b"\"ok\"").0, 202);
    });
    let outcome = api.try_invoke(r#"{"n":1}"#, 10_000, Duration::from_secs(30));
    assert_eq!(outcome, Some(Outcome::Response("\"ok\"".to_owned())));
    runtime.join().expect("second runtime");
}

// ---- fault proxy ----

#[test]
fn fault_proxy_fails_matching_requests_then_passes_them_through() {
    let moto = MotoServer::shared();
    let proxy = FaultProxy::start(&moto.endpoint(), vec![FaultRule::new("PUT", "partNumber=2", 500, 2)]);
    assert!(proxy.endpoint().starts_with("http://127.0.0.1:"));
    let bucket = bucket("multipart");
    // One keep-alive connection for the whole upload, as the SDK would use.
    let mut sdk = HttpConnection::connect(&proxy.endpoint());

    let (status, _, body) = sdk.request("PUT", &format!("/{bucket}"), &AUTH, b"");
    assert_eq!(status, 200, "{}", text(&body));
    let key = format!("/{bucket}/big.wav");
    let (status, _, body) = sdk.request("POST", &format!("{key}?uploads"), &AUTH, b"");
    assert_eq!(status, 200, "{}", text(&body));
    let upload_id = xml_value(&text(&body), "UploadId").to_owned();

    let part1: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let part2 = b"the last part".to_vec();
    let (status, headers, body) =
        sdk.request("PUT", &format!("{key}?partNumber=1&uploadId={upload_id}"), &AUTH, &part1);
    assert_eq!(status, 200, "{}", text(&body));
    let etag1 = header(&headers, "etag").expect("ETag of part 1").to_owned();

    let part2_path = format!("{key}?partNumber=2&uploadId={upload_id}");
    for attempt in 1..=2 {
        let (status, headers, body) = sdk.request("PUT", &part2_path, &AUTH, &part2);
        assert_eq!(status, 500, "attempt {attempt} is failed by the proxy");
        assert_eq!(header(&headers, "content-type"), Some("application/xml"));
        assert_eq!(xml_value(&text(&body), "Code"), "InternalError");
        assert_eq!(proxy.injected(), attempt);
    }
    let (status, headers, body) = sdk.request("PUT", &part2_path, &AUTH, &part2);
    assert_eq!(status, 200, "the third attempt passes: {}", text(&body));
    let etag2 = header(&headers, "etag").expect("ETag of part 2").to_owned();

    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag1}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{etag2}</ETag></Part></CompleteMultipartUpload>"
    );
    let (status, _, body) = sdk.request("POST", &format!("{key}?uploadId={upload_id}"), &AUTH, complete.as_bytes());
    assert_eq!(status, 200, "complete: {}", text(&body));

    // HEAD keeps its Content-Length and no body, and the connection still works after it.
    let (status, headers, body) = sdk.request("HEAD", &key, &AUTH, b"");
    let total = part1.len() + part2.len();
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(header(&headers, "content-length"), Some(&total.to_string()[..]));
    let (status, _, body) = sdk.request("GET", &key, &AUTH, b"");
    assert_eq!(status, 200);
    assert!(body.len() == total && body[..part1.len()] == part1[..] && body[part1.len()..] == part2[..]);

    assert_eq!(proxy.injected(), 2);
    assert_eq!(proxy.rules()[0].times, 0);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 9, "{requests:#?}");
    assert_eq!(requests.iter().filter(|r| **r == format!("PUT {part2_path}")).count(), 3);
    assert_eq!(requests[0], format!("PUT /{bucket}"));
}

#[test]
fn fault_proxy_forwards_chunked_bodies_and_reports_a_dead_upstream() {
    let moto = MotoServer::shared();
    let proxy = FaultProxy::start(&moto.endpoint(), vec![FaultRule::new("GET", "never-matches", 503, 5)]);
    let bucket = bucket("chunked");
    assert_eq!(http_request(&proxy.endpoint(), "PUT", &format!("/{bucket}"), &AUTH, b"").0, 200);
    let chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let key = format!("/{bucket}/chunked.txt");
    let (status, _, body) =
        http_request(&proxy.endpoint(), "PUT", &key, &[("Transfer-Encoding", "chunked"), AUTH[0]], chunked);
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(http_request(&moto.endpoint(), "GET", &key, &AUTH, b"").2, b"hello world");
    assert_eq!(proxy.injected(), 0);

    let injected = FaultProxy::start(&moto.endpoint(), vec![FaultRule::new("get", "", 503, 1)]);
    let (status, _, body) = http_request(&injected.endpoint(), "GET", &key, &AUTH, b"");
    assert_eq!((status, xml_value(&text(&body), "Code")), (503, "SlowDown"));
    assert_eq!(http_request(&injected.endpoint(), "GET", &key, &AUTH, b"").2, b"hello world");

    // Nothing listens on a port that was just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let orphan = FaultProxy::start(&format!("http://{free}"), Vec::new());
    assert_eq!(http_request(&orphan.endpoint(), "GET", "/anything", &[], b"").0, 502);
}

// ---- PostgreSQL ----

/// Runs `sql` with psql against `url` and returns its unaligned, tuples-only output.
fn psql(postgres: &Postgres, url: &str, sql: &str) -> String {
    let output = Command::new(postgres.psql())
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql {url} -c {sql:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn postgres_starts_and_creates_databases() {
    assert!(Postgres::available(), "PostgreSQL is not installed: run scripts/test.sh");
    let postgres = Postgres::shared();
    assert!(std::ptr::eq(postgres, Postgres::shared()), "one server per test process");
    let port = postgres.port();
    assert_eq!(postgres.url(), format!("postgres://postgres@127.0.0.1:{port}/postgres"));

    let first = postgres.create_database("Harness First!");
    let second = postgres.create_database("harness first!");
    assert_ne!(first, second, "the same name twice gives two databases");
    for url in [&first, &second] {
        let prefix = format!("postgres://postgres@127.0.0.1:{port}/harness_first__");
        assert!(url.starts_with(&prefix), "{url} starts with {prefix}");
        assert_eq!(psql(postgres, url, "select 1"), "1");
        let database = url.rsplit('/').next().expect("a path");
        assert_eq!(psql(postgres, url, "select current_database()"), database);
    }
    // Fresh: a table made in one is not in the other.
    psql(postgres, &first, "create table only_here (n int)");
    assert_eq!(psql(postgres, &second, "select count(*) from pg_tables where tablename = 'only_here'"), "0");

    // Only on 127.0.0.1: not on the rest of the loopback range, nor on IPv6.
    assert_eq!(psql(postgres, &postgres.url(), "show listen_addresses"), "127.0.0.1");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    for other in ["127.0.0.2", "[::1]"] {
        let address = format!("{other}:{port}");
        let connected = address
            .parse::<std::net::SocketAddr>()
            .map(|address| std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok())
            .unwrap_or(false);
        assert!(!connected, "PostgreSQL also answers on {address}");
    }
}
