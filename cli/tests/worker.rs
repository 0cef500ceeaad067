//! `audioproc worker`: real worker processes against a real S3 + SQS server (moto, from the venv
//! `scripts/s3-venv.sh` makes), fed S3 event notifications as S3 writes them to a queue.
//!
//! - a fleet of two workers, one killed mid-run: every object gets exactly one output,
//!   byte-identical to a single worker's, the poison message ends in the dead-letter queue and
//!   nothing else does; SIGTERM stops the survivor with exit status 0;
//! - `/healthz` and `/readyz`, ready against moto and not ready with a bogus queue;
//! - a corrupt object gets its `.error.json` and its message is deleted (not dead-lettered);
//!   test events and notifications of our own outputs are deleted without work;
//! - SIGTERM with a message still in progress after the grace period hands it back to the queue
//!   at once, and another worker completes it;
//! - a retryable failure (S3 answering 500 through a fault-injecting proxy, with S3 and SQS on
//!   separate endpoints) brings the message back, and the next delivery completes it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{FaultProxy, FaultRule, MotoServer, S3, Sqs, aws_command, bucket, s3_event};
use audioproc_testdata::programme_wav as wav;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// Visibility timeout of the test queues and the workers, seconds: short, so that messages of a
/// killed worker and messages to retry come back quickly.
const VISIBILITY: &str = "5";

// ---- worker processes -------------------------------------------------------------------------

/// One `audioproc worker` process, killed on drop.
struct Worker {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Worker {
    fn start(queue: &str, output: &str, extra: &[&str]) -> Worker {
        Self::start_with(queue, output, extra, &[])
    }

    fn start_with(queue: &str, output: &str, extra: &[&str], env: &[(&str, &str)]) -> Worker {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("worker.log");
        let mut cmd = aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint());
        cmd.args(["worker", "--queue", queue, "--output", output, "--jobs", "2"]);
        if !extra.contains(&"--visibility") {
            cmd.args(["--visibility", VISIBILITY]);
        }
        cmd.args(extra)
            .env("RUST_LOG", "info")
            .env("TMPDIR", dir.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().unwrap();
        Worker { child, log, _dir: dir }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines.
    fn events(&self) -> Vec<Value> {
        self.logs().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// SIGTERM, through kill(1) (no `unsafe` here).
    fn terminate(&self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success(), "kill -TERM failed");
    }

    /// SIGKILL: the worker dies without a chance to hand anything back.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 200 ms until it holds; panics with `what` and `context()` after `within`.
fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let until = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}\n{}", context());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn keys_under(s3: &S3, bucket: &str, prefix: &str) -> Vec<String> {
    s3.keys(bucket).into_iter().filter(|k| k.starts_with(prefix)).collect()
}

fn input_key(i: usize) -> String {
    format!("in/track {i:02}.wav")
}

/// Ids of the S3 notifications the worker received and never finished (by its log; poison
/// messages are left alone at once, so they never count).
fn unfinished_messages(worker: &Worker) -> HashSet<String> {
    let mut open = HashSet::new();
    for e in worker.events() {
        let Some(id) = e["span"]["message_id"].as_str() else {
            continue;
        };
        if e["fields"]["message"] == "message received" {
            open.insert(id.to_owned());
        } else if e["fields"]["message"] == "message done"
            || e["fields"]["status"] == "finished"
            || e["fields"]["status"] == "poison"
        {
            open.remove(id);
        }
    }
    open
}

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn a_fleet_survives_a_killed_worker_and_dead_letters_only_poison() {
    let started = Instant::now();
    let moto = MotoServer::shared();
    let (s3, sqs) = (S3::new(&moto.endpoint()), Sqs::new(&moto.endpoint()));
    let b = bucket("fleet");
    s3.create_bucket(&b);
    const N: usize = 50;
    for i in 0..N {
        s3.put(&b, &input_key(i), wav(2.0 + (i % 3) as f64, i as u64));
    }

    // The reference: one worker alone over the same inputs, into ref/.
    let (reference_queue, _) = sqs.with_dlq(&format!("ref-{}", std::process::id()), 2, VISIBILITY);
    for i in 0..N {
        sqs.send(&reference_queue, &s3_event(&b, &input_key(i)).to_string());
    }
    let mut single = Worker::start(&reference_queue, &format!("s3://{b}/ref/"), &[]);
    wait_until(
        Duration::from_secs(60),
        "the single worker's outputs",
        || keys_under(&s3, &b, "ref/").len() == 2 * N,
        || single.logs(),
    );
    single.terminate();
    assert!(single.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()), "{}", single.logs());
    let reference_s = started.elapsed().as_secs_f64();

    // The fleet: two workers on a queue with a dead-letter queue; one poison message.
    let (queue, dlq) = sqs.with_dlq(&format!("fleet-{}", std::process::id()), 2, VISIBILITY);
    for i in 0..N {
        sqs.send(&queue, &s3_event(&b, &input_key(i)).to_string());
    }
    let poison = "{\"this is\": \"not an S3 notification\"";
    sqs.send(&queue, poison);
    let output = format!("s3://{b}/out/");
    let mut doomed = Worker::start(&queue, &output, &[]);
    let mut survivor = Worker::start(&queue, &output, &["--grace", "10"]);
    let flac_count = |s3: &S3| keys_under(s3, &b, "out/").iter().filter(|k| k.ends_with(".flac")).count();
    // Kill one once outputs appear, at a moment its log shows a message in progress.
    wait_until(Duration::from_secs(30), "the first outputs", || flac_count(&s3) >= 3, || doomed.logs());
    let until = Instant::now() + Duration::from_secs(10);
    while unfinished_messages(&doomed).is_empty() {
        assert!(Instant::now() < until, "the worker never had a message in progress\n{}", doomed.logs());
        std::thread::sleep(Duration::from_millis(5));
    }
    doomed.kill();
    let abandoned = unfinished_messages(&doomed);
    assert!(!abandoned.is_empty(), "the killed worker was not mid-file:\n{}", doomed.logs());

    wait_until(
        Duration::from_secs(60),
        "every output, the poison message in the DLQ and an empty queue",
        || flac_count(&s3) == N && sqs.count(&queue) == 0 && sqs.count(&dlq) == 1,
        || {
            format!(
                "{} outputs, queue {}, dlq {}\n{}",
                flac_count(&s3),
                sqs.count(&queue),
                sqs.count(&dlq),
                survivor.logs()
            )
        },
    );
    // Exactly one output and one report per object, nothing else.
    let expected: BTreeSet<String> = (0..N)
        .flat_map(|i| {
            let out = format!("out/in/track {i:02}.flac");
            [format!("{out}.json"), out]
        })
        .collect();
    let listed: BTreeSet<String> = keys_under(&s3, &b, "out/").into_iter().collect();
    assert_eq!(listed, expected);
    // Byte-identical to the single worker's.
    for i in 0..N {
        let key = format!("in/track {i:02}.flac");
        assert!(
            s3.get(&b, &format!("out/{key}")) == s3.get(&b, &format!("ref/{key}")),
            "{key} differs from the single worker's"
        );
    }
    // The survivor finished what the killed worker had started.
    let finished_by_survivor: HashSet<String> = survivor
        .events()
        .iter()
        .filter(|e| e["fields"]["message"] == "message done")
        .filter_map(|e| e["span"]["message_id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        abandoned.is_subset(&finished_by_survivor),
        "abandoned {abandoned:?} were not all finished by the survivor\n{}\n---\n{}",
        doomed.logs(),
        survivor.logs()
    );
    // Only the poison message was dead-lettered.
    assert_eq!(sqs.bodies(&dlq), [poison]);

    survivor.terminate();
    let status = survivor.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "SIGTERM: {status:?}\n{}", survivor.logs());
    assert!(survivor.logs().contains("worker stopped"));
    eprintln!(
        "fleet test: reference run {reference_s:.1} s, total {:.1} s, {} messages abandoned by the killed worker",
        started.elapsed().as_secs_f64(),
        abandoned.len()
    );
}

/// `(status, body)` of `GET path` on 127.0.0.1:`port`, once something listens there.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let until = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < until, "nothing listens on {port}: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn health_endpoints_report_liveness_and_readiness() {
    let moto = MotoServer::shared();
    let (s3, sqs) = (S3::new(&moto.endpoint()), Sqs::new(&moto.endpoint()));
    let b = bucket("health");
    s3.create_bucket(&b);
    let queue = sqs.create(&format!("health-{}", std::process::id()), &[]);
    let bogus = format!("{}/123456789012/no-such-queue-{}", moto.endpoint(), std::process::id());

    let (good_port, bad_port) = (free_port(), free_port());
    let mut good = Worker::start(&queue, &format!("s3://{b}/out/"), &["--health-port", &good_port.to_string()]);
    let mut bad = Worker::start(&bogus, &format!("s3://{b}/out/"), &["--health-port", &bad_port.to_string()]);

    assert_eq!(http_get(good_port, "/healthz"), (200, "ok\n".to_owned()), "{}", good.logs());
    let (status, body) = http_get(good_port, "/readyz");
    assert_eq!(status, 200, "{body}\n{}", good.logs());
    assert_eq!(http_get(good_port, "/nope").0, 404);

    assert_eq!(http_get(bad_port, "/healthz").0, 200, "{}", bad.logs());
    let (status, body) = http_get(bad_port, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SQS") && body.contains("no-such-queue"), "{body}");

    for w in [&mut good, &mut bad] {
        w.terminate();
        let status = w.wait_exit(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", w.logs());
    }
}

#[test]
fn corrupt_objects_get_an_error_report_and_their_message_is_deleted() {
    let moto = MotoServer::shared();
    let (s3, sqs) = (S3::new(&moto.endpoint()), Sqs::new(&moto.endpoint()));
    let b = bucket("corrupt");
    s3.create_bucket(&b);
    s3.put(&b, "in/bad.wav", b"RIFF but not really".repeat(20));
    s3.put(&b, "in/good.wav", wav(2.0, 7));
    s3.put(&b, "out/in/old.flac", b"an output of ours".to_vec());
    let (queue, dlq) = sqs.with_dlq(&format!("corrupt-{}", std::process::id()), 2, VISIBILITY);
    // One message naming a corrupt and a good object, a test event, and our own output.
    let two = json!({"Records": [s3_event(&b, "in/bad.wav")["Records"][0], s3_event(&b, "in/good.wav")["Records"][0]]});
    sqs.send(&queue, &two.to_string());
    sqs.send(&queue, &json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": b}).to_string());
    sqs.send(&queue, &s3_event(&b, "out/in/old.flac").to_string());

    let mut worker = Worker::start(&queue, &format!("s3://{b}/out/"), &[]);
    wait_until(Duration::from_secs(30), "the queue to empty", || sqs.count(&queue) == 0, || worker.logs());
    let report: Value =
        serde_json::from_slice(&s3.get(&b, "out/in/bad.wav.error.json").expect("no error report")).unwrap();
    assert_eq!((report["ok"].as_bool(), report["failure"].as_str()), (Some(false), Some("permanent")), "{report}");
    assert!(s3.head(&b, "out/in/good.flac").is_some(), "the good object of the same message was not processed");
    assert_eq!(
        keys_under(&s3, &b, "out/"),
        ["out/in/bad.wav.error.json", "out/in/good.flac", "out/in/good.flac.json", "out/in/old.flac"]
    );
    assert_eq!(sqs.count(&dlq), 0, "a message went to the dead-letter queue");

    let statuses: HashMap<String, usize> = worker
        .events()
        .iter()
        .filter_map(|e| e["fields"]["status"].as_str().map(str::to_owned))
        .fold(HashMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
    for (status, n) in [("permanent_failure", 1), ("written", 1), ("test_event", 1), ("ignored", 1), ("done", 2)] {
        assert_eq!(statuses.get(status).copied(), Some(n), "{status}: {statuses:?}\n{}", worker.logs());
    }
    worker.terminate();
    assert!(worker.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()), "{}", worker.logs());
}

#[test]
fn a_retryable_failure_brings_the_message_back() {
    let moto = MotoServer::shared();
    let (s3, sqs) = (S3::new(&moto.endpoint()), Sqs::new(&moto.endpoint()));
    let b = bucket("retry");
    s3.create_bucket(&b);
    s3.put(&b, "in/retry.wav", wav(2.0, 11));
    let (queue, dlq) = sqs.with_dlq(&format!("retry-{}", std::process::id()), 2, VISIBILITY);
    sqs.send(&queue, &s3_event(&b, "in/retry.wav").to_string());
    // Every attempt the SDK makes at the output's PUT fails once (the report's goes through).
    let proxy = FaultProxy::start(&moto.endpoint(), vec![FaultRule::new("PUT", "retry.flac?x-id=PutObject", 500, 4)]);
    // S3 through the proxy, SQS straight to moto, and nothing on the generic endpoint.
    let env = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ENDPOINT_URL_S3", &proxy.endpoint()),
        ("AWS_ENDPOINT_URL_SQS", &moto.endpoint()),
    ];
    let mut worker = Worker::start_with(&queue, &format!("s3://{b}/out/"), &[], &env);
    wait_until(
        Duration::from_secs(40),
        "the retried output",
        || s3.head(&b, "out/in/retry.flac").is_some() && sqs.count(&queue) == 0,
        || worker.logs(),
    );
    assert_eq!(proxy.injected(), 4);
    assert_eq!(sqs.count(&dlq), 0);
    let events = worker.events();
    let with = |field: &str, value: &str| events.iter().filter(|e| e["fields"][field] == value).count();
    assert_eq!(
        (with("status", "retryable_failure"), with("status", "retry"), with("status", "written")),
        (1, 1, 1),
        "{}",
        worker.logs()
    );
    assert!(
        events.iter().any(|e| e["fields"]["status"] == "written" && e["span"]["receive_count"] == 2),
        "{}",
        worker.logs()
    );
    worker.terminate();
    assert!(worker.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()), "{}", worker.logs());
}

#[test]
fn sigterm_hands_unfinished_messages_back() {
    let moto = MotoServer::shared();
    let (s3, sqs) = (S3::new(&moto.endpoint()), Sqs::new(&moto.endpoint()));
    let b = bucket("handback");
    s3.create_bucket(&b);
    // Long enough to be still in progress when the signal arrives (the engine normalises two
    // minutes of WAV to FLAC in a tenth of a second, so the first worker encodes five minutes
    // to MP3, which with its verification takes seconds).
    s3.put(&b, "in/long.wav", wav(300.0, 3));
    let queue = sqs.create(
        &format!("handback-{}", std::process::id()),
        &[(QueueAttributeName::VisibilityTimeout, VISIBILITY.to_owned())],
    );
    sqs.send(&queue, &s3_event(&b, "in/long.wav").to_string());
    let output = format!("s3://{b}/out/");

    let mut first = Worker::start(&queue, &output, &["--grace", "0", "--visibility", "600", "--format", "mp3"]);
    wait_until(
        Duration::from_secs(20),
        "the message to be received",
        || first.logs().contains("message received"),
        || first.logs(),
    );
    first.terminate();
    let status = first.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", first.logs());
    assert!(first.logs().contains("handing them back"), "{}", first.logs());
    // Visible again at once, not after the 600 s the worker received it for.
    let visible = || sqs.attribute(&queue, QueueAttributeName::ApproximateNumberOfMessages);
    wait_until(Duration::from_secs(3), "the message to be visible again", || visible() == "1", || first.logs());
    assert!(s3.head(&b, "out/in/long.mp3").is_none(), "written despite the stop");

    let mut second = Worker::start(&queue, &output, &[]);
    wait_until(
        Duration::from_secs(40),
        "the second worker's output",
        || s3.head(&b, "out/in/long.flac").is_some() && sqs.count(&queue) == 0,
        || second.logs(),
    );
    second.terminate();
    assert!(second.wait_exit(Duration::from_secs(10)).is_some_and(|s| s.success()), "{}", second.logs());
}

#[test]
fn the_same_key_from_two_input_buckets_never_loses_an_error_report() {
    let moto = MotoServer::shared();
    let (s3, sqs) = (S3::new(&moto.endpoint()), Sqs::new(&moto.endpoint()));
    let (a, b, out) = (bucket("two-a"), bucket("two-b"), bucket("two-out"));
    for x in [&a, &b, &out] {
        s3.create_bucket(x);
    }
    s3.put(&a, "in/x.wav", b"RIFF but not really".repeat(20));
    s3.put(&b, "in/x.wav", b"RIFF nor this one".repeat(20));
    let (queue, _dlq) = sqs.with_dlq(&format!("two-{}", std::process::id()), 2, VISIBILITY);
    let worker = Worker::start(&queue, &format!("s3://{out}/out/"), &[]);
    let report_of = |key: &str| -> Value { serde_json::from_slice(&s3.get(&out, key).unwrap()).unwrap() };
    for src in [&a, &b] {
        sqs.send(&queue, &s3_event(src, "in/x.wav").to_string());
        wait_until(Duration::from_secs(30), "the queue to empty", || sqs.count(&queue) == 0, || worker.logs());
    }
    let qualified = format!("out/in/x.wav.{b}.error.json");
    assert_eq!(keys_under(&s3, &out, "out/"), ["out/in/x.wav.error.json".to_owned(), qualified.clone()]);
    assert_eq!(report_of("out/in/x.wav.error.json")["source"]["bucket"], a.as_str());
    assert_eq!(report_of(&qualified)["source"]["bucket"], b.as_str());

    // B's object is fixed: its output is written and only its own error report goes.
    s3.put(&b, "in/x.wav", wav(1.0, 3));
    sqs.send(&queue, &s3_event(&b, "in/x.wav").to_string());
    wait_until(Duration::from_secs(30), "the queue to empty", || sqs.count(&queue) == 0, || worker.logs());
    wait_until(Duration::from_secs(10), "B's output", || s3.head(&out, "out/in/x.flac").is_some(), || worker.logs());
    assert_eq!(
        keys_under(&s3, &out, "out/"),
        ["out/in/x.flac", "out/in/x.flac.json", "out/in/x.wav.error.json"],
        "{}",
        worker.logs()
    );
    assert_eq!(report_of("out/in/x.wav.error.json")["source"]["bucket"], a.as_str(), "A's report was lost");
}
