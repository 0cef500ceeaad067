//! The EC2 tier on one machine, for the failover and load tests: `audioproc serve` instances in
//! the fleet mode (`--process local`) on one PostgreSQL database and one moto bucket, behind
//! HAProxy as the load balancer; and clients that use the REST API through it as a person's
//! browser or a script would, retrying what a client may retry (no connection, 502/503/504,
//! waiting as `Retry-After` says) and counting everything else as an error the user saw.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{Haproxy, MotoServer, Postgres, S3, bucket, header, try_http_request};
use serde_json::{Value, json};

use super::server::{Server, free_addr, session_of};

/// A track's lease in these tests, seconds: a dead instance's track is taken over this soon.
pub const LEASE_S: &str = "3";

/// Instances behind a load balancer.
pub struct Stack {
    pub s3: S3,
    pub bucket: String,
    pub database: String,
    pub psql: PathBuf,
    pub addrs: Vec<String>,
    pub instances: Vec<Option<Server>>,
    pub proxy: Haproxy,
    workers: String,
    extra: Vec<String>,
}

impl Stack {
    /// `n` instances of `workers` processing workers each on a new database of `pg`, a new
    /// bucket, and HAProxy in front; returns once HAProxy sees them all up.
    pub fn new(tag: &str, pg: &Postgres, n: usize, workers: usize) -> Stack {
        Stack::with_args(tag, pg, n, workers, &[])
    }

    /// [`Stack::new`] with more flags for every instance.
    pub fn with_args(tag: &str, pg: &Postgres, n: usize, workers: usize, extra: &[&str]) -> Stack {
        let (database, psql) = (pg.create_database(tag), pg.psql().to_path_buf());
        let s3 = S3::new(&MotoServer::shared().endpoint());
        let bucket = bucket(tag);
        s3.create_bucket(&bucket);
        let addrs: Vec<String> = (0..n).map(|_| free_addr()).collect();
        let proxy = Haproxy::start(&addrs);
        let mut stack = Stack {
            s3,
            bucket,
            database,
            psql,
            addrs,
            instances: Vec::new(),
            proxy,
            workers: workers.to_string(),
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
        stack.instances = (0..n).map(|i| Some(stack.start(i))).collect();
        stack.proxy.wait_up(n);
        stack
    }

    /// Starts instance `i` where the load balancer expects it.
    pub fn start(&self, i: usize) -> Server {
        let (input, output) = (format!("s3://{}/incoming/", self.bucket), format!("s3://{}/processed/", self.bucket));
        let mut args = vec![
            "--bucket",
            &input,
            "--output",
            &output,
            "--process",
            "local",
            "--workers",
            &self.workers,
            "--lease",
            LEASE_S,
        ];
        args.extend(self.extra.iter().map(String::as_str));
        Server::start_fleet_at(&self.addrs[i], &self.database, &MotoServer::shared().endpoint(), &args, &[])
    }

    /// Instance `i` (panics when it was killed).
    pub fn instance(&self, i: usize) -> &Server {
        self.instances[i].as_ref().expect("a running instance")
    }

    /// The load balancer's address.
    pub fn lb(&self) -> String {
        self.proxy.addr()
    }

    /// Kills instance `i` with SIGKILL.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut s) = self.instances[i].take() {
            s.kill9();
        }
    }

    /// The logs of the instances still there, for failure messages.
    pub fn logs(&self) -> String {
        self.instances.iter().flatten().map(|s| format!("--- {}\n{}\n", s.addr, s.log())).collect()
    }

    /// Keys in the bucket under `prefix`.
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.s3.keys(&self.bucket).into_iter().filter(|k| k.starts_with(prefix)).collect()
    }
}

/// What the clients saw, shared between their threads.
#[derive(Default)]
pub struct Tally {
    /// API calls made (each counted once, however often retried).
    pub calls: AtomicU64,
    /// Answers a client retried: no connection, 502, 503 or 504.
    pub retried: AtomicU64,
    /// Of those, 503s that said when to retry (`Retry-After`).
    pub retry_after: AtomicU64,
    /// Errors a client cannot retry (or that did not pass after retrying for a minute).
    pub errors: Mutex<Vec<String>>,
    /// Each call's time, retries included.
    pub latencies: Mutex<Vec<Duration>>,
}

impl Tally {
    pub fn error(&self, what: String) {
        self.errors.lock().unwrap().push(what);
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// `(p50, p99)` of the calls' times, milliseconds.
    pub fn percentiles(&self) -> (f64, f64) {
        let mut l = self.latencies.lock().unwrap().clone();
        l.sort();
        let at = |q: f64| l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)));
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        (ms(at(0.50)), ms(at(0.99)))
    }
}

/// A status, the headers and the JSON body (`Null` when not JSON).
pub type Answer = (u16, Vec<(String, String)>, Value);

/// How long a client keeps retrying one call.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// Whether a client may send this answer's request again.
fn retryable(status: u16) -> bool {
    matches!(status, 502..=504)
}

/// One API call through the load balancer `lb`, retried as a client may; the final status and
/// body (`None` when it never got an answer it could use, recorded in `tally`).
pub fn call(
    tally: &Tally,
    lb: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Option<Answer> {
    tally.calls.fetch_add(1, Ordering::Relaxed);
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    let started = Instant::now();
    loop {
        let wait = match try_http_request(lb, method, path, &h, body.as_bytes()) {
            Ok((status, headers, bytes)) if !retryable(status) => {
                tally.latencies.lock().unwrap().push(started.elapsed());
                return Some((status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
            }
            Ok((status, headers, _)) => {
                let after = header(&headers, "retry-after").and_then(|v| v.parse::<u64>().ok());
                if status == 503 && after.is_some() {
                    tally.retry_after.fetch_add(1, Ordering::Relaxed);
                }
                Duration::from_millis(after.map_or(200, |s| (s * 1000).min(1000)))
            }
            Err(_) => Duration::from_millis(100),
        };
        tally.retried.fetch_add(1, Ordering::Relaxed);
        if started.elapsed() > RETRY_FOR {
            tally.error(format!("{method} {path}: no usable answer for {RETRY_FOR:?}"));
            return None;
        }
        std::thread::sleep(wait);
    }
}

/// [`call`] that expects the status `want`; anything else is an error the user saw.
pub fn expect(
    tally: &Tally,
    lb: &str,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<&Value>,
    want: u16,
) -> Option<Value> {
    expect_with(tally, lb, method, path, &[("cookie", cookie)], body, want)
}

fn expect_with(
    tally: &Tally,
    lb: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    want: u16,
) -> Option<Value> {
    let (status, _, v) = call(tally, lb, method, path, headers, body)?;
    if status == want {
        Some(v)
    } else {
        tally.error(format!("{method} {path}: {status} {v}"));
        None
    }
}

/// Signs a user up (through the load balancer, before anything is broken); the cookie.
pub fn sign_up(lb: &str, email: &str) -> String {
    let tally = Tally::default();
    let cred = json!({"email": email, "password": "a long enough password"});
    expect_with(&tally, lb, "POST", "/api/v1/users", &[], Some(&cred), 201).expect("signed up");
    let (status, headers, _) = call(&tally, lb, "POST", "/api/v1/sessions", &[], Some(&cred)).expect("signed in");
    assert_eq!(status, 200);
    session_of(&headers)
}

/// Creates a track (with an `Idempotency-Key`, so a retried create makes one track), sends
/// `wav` to the signed URL and completes it; its id (`None`: an error was recorded).
pub fn upload(tally: &Tally, lb: &str, cookie: &str, name: &str, wav: &[u8]) -> Option<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = format!("{name}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let body = json!({"filename": name, "size": wav.len(), "content_type": "audio/wav"});
    let headers = [("cookie", cookie), ("idempotency-key", key.as_str())];
    let t = expect_with(tally, lb, "POST", "/api/v1/tracks", &headers, Some(&body), 201)?;
    let id = t["id"].as_str()?.to_owned();
    let url = t["upload"]["url"].as_str()?;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/')?);
    let put = try_http_request(host, "PUT", path, &[("content-type", "audio/wav")], wav);
    if !matches!(put, Ok((200, _, _))) {
        tally.error(format!("PUT to S3 for {name}: {:?}", put.map(|r| r.0)));
        return None;
    }
    let done = expect(tally, lb, "POST", &format!("/api/v1/tracks/{id}/complete"), cookie, None, 202)?;
    if !matches!(done["status"].as_str(), Some("queued" | "processing" | "done")) {
        tally.error(format!("complete {name}: {done}"));
    }
    Some(id)
}

/// Polls the track through the load balancer until it is `done` or `failed` (at most `limit`).
pub fn settle(tally: &Tally, lb: &str, cookie: &str, id: &str, limit: Duration) -> Option<Value> {
    let started = Instant::now();
    loop {
        let t = expect(tally, lb, "GET", &format!("/api/v1/tracks/{id}"), cookie, None, 200)?;
        if matches!(t["status"].as_str(), Some("done" | "failed")) {
            return Some(t);
        }
        if started.elapsed() > limit {
            tally.error(format!("track {id} still {} after {limit:?}", t["status"]));
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Checks what the users' tracks came to: each of `expected` (cookie, ids) is listed once,
/// `done`, at its target; one output and one report per track in S3, one input, nothing else,
/// no multipart upload left open; the database holds exactly these tracks.
pub fn assert_every_track_done_once(stack: &Stack, expected: &[(String, Vec<String>)]) {
    let tally = Tally::default();
    let mut all = BTreeSet::new();
    for (cookie, ids) in expected {
        let page = expect(&tally, &stack.lb(), "GET", "/api/v1/tracks?limit=100", cookie, None, 200).unwrap();
        let listed: Vec<&Value> = page["tracks"].as_array().unwrap().iter().collect();
        let listed_ids: BTreeSet<String> = listed.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(listed.len(), ids.len(), "one row per track: {listed_ids:?} for {ids:?}");
        assert_eq!(listed_ids, ids.iter().cloned().collect(), "the user's tracks");
        for t in listed {
            assert_eq!(t["status"], "done", "{} {}: {}\n{}", t["id"], t["status"], t["error"], stack.logs());
            let r = &t["report"];
            let (got, target) = (r["output"]["integrated_lufs"].as_f64().unwrap(), r["target_lufs"].as_f64().unwrap());
            assert!((got - target).abs() <= 0.1, "{got} LUFS against {target}: {}", t["id"]);
            assert_eq!(r["target_met"], true, "{}: {}", t["id"], r["notes"]);
        }
        all.extend(listed_ids);
    }
    assert!(tally.errors().is_empty(), "{:?}", tally.errors());
    let outputs = stack.keys_under("processed/");
    let (reports, audio): (Vec<_>, Vec<_>) = outputs.iter().partition(|k| k.ends_with(".json"));
    assert_eq!(audio.len(), all.len(), "one output per track, no orphans");
    assert_eq!(reports.len(), all.len(), "one report per output");
    for id in &all {
        assert_eq!(audio.iter().filter(|k| k.contains(&format!("/{id}/"))).count(), 1, "{id}: {audio:?}");
    }
    assert_eq!(stack.keys_under("incoming/").len(), all.len(), "one input per track");
    assert_eq!(stack.s3.multipart_uploads(&stack.bucket), 0, "no multipart upload left open");
    assert_eq!(stack.sql("SELECT count(*) FROM tracks"), all.len().to_string());
}

impl Stack {
    /// What `sql` answers on the stack's database (psql's unaligned output), or `None` when the
    /// database does not answer.
    pub fn try_sql(&self, sql: &str) -> Option<String> {
        try_psql(&self.psql, &self.database, sql)
    }

    /// [`Stack::try_sql`] that must answer.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|| panic!("psql {sql} failed"))
    }

    /// `(track id, process id)` of each track being processed now, by its lease holder.
    pub fn leases(&self) -> Vec<(String, u32)> {
        let rows =
            self.sql("SELECT id, lease_owner FROM tracks WHERE status = 'processing' AND lease_owner IS NOT NULL");
        rows.lines()
            .filter_map(|l| {
                let (id, owner) = l.split_once('|')?;
                Some((id.to_owned(), owner.split('-').next()?.parse().ok()?))
            })
            .collect()
    }
}

/// What `sql` answers on the database at `url`, run by the `psql` binary (unaligned output), or
/// `None` when the database does not answer.
pub fn try_psql(psql: &std::path::Path, url: &str, sql: &str) -> Option<String> {
    let out = std::process::Command::new(psql)
        .args(["-X", "-A", "-t", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
