//! `audioproc serve --process external`, the real binaries: uploads land in S3, S3 notifies an
//! SQS queue, the real `audioproc worker` processes them (the one per-object job), and the app
//! learns of each result from the output prefix's S3 events on a second queue, or, when an
//! event is lost, from the reconciler reading the report sidecar. moto delivers the bucket's
//! notifications to its SQS as S3 would.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{MotoServer, Sqs, aws_command};
use audioproc_testdata::programme_wav;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use common::client::{create, lufs_of, sign_up, upload_wav, wait_for};
use common::fleet::{Fleet, fetch_output};
use serde_json::json;

/// The bucket notifies `incoming/` uploads to one queue (the workers') and `processed/` results
/// to another (the app's); the queues' URLs.
fn notifications(f: &Fleet, tag: &str) -> (String, String) {
    let sqs = Sqs::new(&MotoServer::shared().endpoint());
    let (work, events) = (sqs.create(&format!("{tag}-work"), &[]), sqs.create(&format!("{tag}-events"), &[]));
    let arn = |url: &str| sqs.attribute(url, QueueAttributeName::QueueArn);
    let rule = |arn: String, prefix: &str| {
        let filter = S3KeyFilter::builder()
            .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build())
            .build();
        QueueConfiguration::builder()
            .queue_arn(arn)
            .events(Event::S3ObjectCreated)
            .filter(NotificationConfigurationFilter::builder().key(filter).build())
            .build()
            .unwrap()
    };
    let config = NotificationConfiguration::builder()
        .queue_configurations(rule(arn(&work), "incoming/"))
        .queue_configurations(rule(arn(&events), "processed/"))
        .build();
    let put = f.s3.client.put_bucket_notification_configuration().bucket(&f.bucket).notification_configuration(config);
    f.s3.rt.block_on(put.send()).unwrap();
    (work, events)
}

/// `audioproc worker` on `queue`, writing under `processed/`; killed on drop.
struct Worker(Child);

impl Worker {
    fn start(f: &Fleet, queue: &str, extra: &[&str]) -> Worker {
        let mut cmd = aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint());
        let output = format!("s3://{}/processed/", f.bucket);
        cmd.args(["worker", "--queue", queue, "--output", &output, "--jobs", "1"]).args(extra);
        Worker(cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn results_of_the_worker_fleet_reach_the_app_through_events() {
    let f = Fleet::new("serve-external-events");
    let (work, events) = notifications(&f, "serve-external-events");
    let _worker = Worker::start(&f, &work, &["--max-input-bytes", "3000000"]);
    // The app reconciles only every 60 s here: what settles sooner came through the events.
    let s = f.instance(&["--process", "external", "--events-queue", &events, "--reconcile-interval", "60"]);
    let ann = sign_up(&s, "ann@example.org");

    let (status, _, settings) = s.call("GET", "/api/v1/settings", &[("cookie", &ann)], None);
    assert_eq!((status, settings["processing"].as_str()), (200, Some("external")), "{settings}");
    assert_eq!(settings["fixed_spec"]["format"], "flac");
    let (status, body) =
        create(&s, &ann, json!({"filename": "a.wav", "size": 10, "content_type": "audio/wav", "format": "mp3"}));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("fixed_spec")), "{body}");

    let started = Instant::now();
    let id = upload_wav(&s, &ann, "Song.wav", &programme_wav(6.0, 41));
    let t = wait_for(&s, &ann, &id, &["done", "failed"]);
    assert_eq!(t["status"], "done", "{t}");
    assert!(started.elapsed() < Duration::from_secs(45), "settled by the event, not the reconciler");
    assert_eq!(t["report"]["input"]["path"], "Song.wav", "{t}");
    assert!(t["report"].get("source").is_none() && t["report"].get("destination").is_none(), "{t}");
    let (_, bytes) = fetch_output(&s, &ann, &id, "download");
    let measured = lufs_of(&bytes, "flac");
    assert!((measured + 23.0).abs() <= 0.1, "{measured}");
    let written = f.keys_under("processed/");
    assert!(written.iter().any(|k| k.starts_with("processed/incoming/") && k.ends_with("/Song.flac")), "{written:?}");

    // A failure of the worker (here: over its size limit) is its error report: failed, with why.
    let big = upload_wav(&s, &ann, "Big.wav", &programme_wav(20.0, 42));
    let t = wait_for(&s, &ann, &big, &["done", "failed"]);
    assert_eq!(t["status"], "failed", "{t}");
    let why = t["error"].as_str().unwrap();
    assert!(why.contains("limit") && !why.contains(&f.bucket), "{why}");

    // Delete takes the output, the report and the error report with it.
    for id in [&id, &big] {
        assert_eq!(s.call("DELETE", &format!("/api/v1/tracks/{id}"), &[("cookie", &ann)], None).0, 204);
    }
    assert_eq!(f.keys_under("processed/"), Vec::<String>::new());
}

#[test]
fn a_lost_event_never_leaves_a_track_stuck() {
    let f = Fleet::new("serve-external-lost");
    let (work, _events) = notifications(&f, "serve-external-lost");
    let _worker = Worker::start(&f, &work, &[]);
    // No events queue at all: every event is lost; the reconciler finds the results.
    let s = f.instance(&["--process", "external", "--reconcile-interval", "1"]);
    let ann = sign_up(&s, "ann@example.org");
    let ids: Vec<String> =
        (0..3).map(|i| upload_wav(&s, &ann, &format!("t{i}.wav"), &programme_wav(3.0, 50 + i))).collect();
    for id in &ids {
        let t = wait_for(&s, &ann, id, &["done", "failed"]);
        assert_eq!(t["status"], "done", "{t}");
        assert!((t["report"]["output"]["integrated_lufs"].as_f64().unwrap() + 23.0).abs() <= 0.1, "{t}");
    }
}
