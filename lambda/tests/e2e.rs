//! End to end: the real `audioproc-lambda` binary, driven through the Lambda Runtime API,
//! against a real S3-compatible server (moto, from the venv `scripts/s3-venv.sh` makes).
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;

use audioproc_testdata::harness::{
    CountingProxy, FaultProxy, FaultRule, Lambda, MotoServer, Outcome, S3, bucket, lambda_binary, s3_event, s3_record,
};
use audioproc_testdata::programme_wav as wav;
use serde_json::{Value, json};

fn moto() -> String {
    MotoServer::shared().endpoint()
}

/// The binary under test (`AUDIOPROC_LAMBDA_BIN`, else the one Cargo built for these tests)
/// with S3 at `endpoint` and the `AUDIOPROC_*` settings `vars`.
fn start_lambda(endpoint: &str, vars: &[(&str, &str)]) -> Lambda {
    Lambda::start(&lambda_binary(option_env!("CARGO_BIN_EXE_audioproc-lambda")), endpoint, vars)
}

/// Integrated loudness and true peak of a local file, by the engine's meter.
fn measure(path: &Path) -> (f64, f64) {
    let a = audioproc_engine::analyze_path(path, &audioproc_engine::AnalyzeOptions::default()).unwrap();
    (a.loudness.integrated_lufs.unwrap(), a.loudness.true_peak_dbtp.unwrap())
}

/// Buckets `<tag>-in-<pid>` and `<tag>-out-<pid>`, created; a Lambda writing to the second.
fn setup(tag: &str, extra: &[(&str, &str)]) -> (S3, Lambda, String, String) {
    let s3 = S3::new(&moto());
    let (input, output) = (bucket(&format!("{tag}-in")), bucket(&format!("{tag}-out")));
    s3.create_bucket(&input);
    s3.create_bucket(&output);
    let mut vars = vec![("AUDIOPROC_OUTPUT_BUCKET", output.as_str())];
    vars.extend_from_slice(extra);
    let lambda = start_lambda(&moto(), &vars);
    (s3, lambda, input, output)
}

fn status_of(response: &Value) -> Vec<String> {
    response["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn an_uploaded_track_is_normalised_with_metadata_and_report() {
    let (s3, lambda, input, output) = setup("e2e", &[]);
    s3.put(&input, "incoming/song.wav", wav(12.0, 1));
    let response = lambda.invoke_ok(&s3_event(&input, "incoming/song.wav"));
    assert_eq!(status_of(&response), ["written"], "{response}");

    let out_key = "processed/incoming/song.flac";
    let head = s3.head(&output, out_key).expect("output exists");
    assert_eq!(head.content_type(), Some("audio/flac"));
    let meta = head.metadata().unwrap();
    assert_eq!(meta["audioproc-source-bucket"], input);
    assert_eq!(meta["audioproc-source-key"], "incoming%2Fsong%2Ewav");
    let source_etag = s3.head(&input, "incoming/song.wav").unwrap().e_tag().unwrap().to_owned();
    assert_eq!(meta["audioproc-source-etag"], source_etag);
    assert!(meta["audioproc-spec"].contains("target=-23"), "{}", meta["audioproc-spec"]);
    assert_eq!(meta["audioproc-target-met"], "true");

    // The output decodes and re-measures at the target, under the ceiling.
    let dir = tempfile::tempdir().unwrap();
    let (i, tp) = measure(&s3.get_to(&output, out_key, dir.path()));
    assert!((i + 23.0).abs() <= 0.1, "output at {i} LUFS");
    assert!(tp <= -1.0 + 0.1, "output true peak {tp} dBTP");
    let recorded: f64 = meta["audioproc-integrated-lufs"].parse().unwrap();
    assert!((recorded - i).abs() < 0.02, "metadata says {recorded}, measured {i}");

    // The sidecar report.
    let report: Value = serde_json::from_slice(&s3.get(&output, &format!("{out_key}.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "audioproc.process/1");
    assert_eq!(report["ok"], true);
    assert_eq!(report["source"]["key"], "incoming/song.wav");
    assert_eq!(report["source"]["etag"], source_etag.as_str());
    assert_eq!(report["destination"]["bucket"], output.as_str());
    assert_eq!(report["destination"]["key"], out_key);
    assert!((report["output"]["integrated_lufs"].as_f64().unwrap() - i).abs() < 0.01);

    // Structured logs: JSON lines with the request id, bucket, key, timings and loudness.
    let logs = lambda.logs();
    let written = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "written")
        .unwrap_or_else(|| panic!("no JSON 'written' log line in:\n{logs}"));
    assert_eq!(written["fields"]["key"], "incoming/song.wav");
    assert!(written["fields"]["output_lufs"].is_number() && written["fields"]["process_s"].is_number());
    assert!(written["span"]["request_id"].is_string(), "{written}");
}

#[test]
fn odd_keys_are_decoded_and_mirrored() {
    let (s3, lambda, input, output) = setup("keys", &[]);
    let long = format!("deep/{}.wav", "k".repeat(1000 - "deep/".len() - 4));
    assert_eq!(long.len(), 1000);
    let keys = [
        "in/with space.wav".to_owned(),
        "in/plus+sign.wav".to_owned(),
        "in/100% done.wav".to_owned(),
        "in/caf\u{e9}.wav".to_owned(),   // NFC
        "in/cafe\u{301}.wav".to_owned(), // NFD: another key
        "in/a/b/c/d/e/f/g/h/i/j/x.wav".to_owned(),
        "in/?&=#;,:@$!'()*[].wav".to_owned(),
        long,
    ];
    let audio = wav(2.0, 2);
    for k in &keys {
        s3.put(&input, k, audio.clone());
    }
    let event = json!({"Records": keys.iter().map(|k| s3_record(&input, k)).collect::<Vec<_>>()});
    let response = lambda.invoke_ok(&event);
    assert!(status_of(&response).iter().all(|s| s == "written"), "{response}");
    let written: HashSet<String> = s3.keys(&output).into_iter().collect();
    for k in &keys {
        let out = format!("processed/{}.flac", k.strip_suffix(".wav").unwrap());
        assert!(written.contains(&out), "no output for {k:?}");
        assert!(written.contains(&format!("{out}.json")), "no report for {k:?}");
    }
    assert_eq!(written.len(), keys.len() * 2, "{written:?}");
}

#[test]
fn duplicate_events_leave_one_identical_output() {
    let (s3, lambda, input, output) = setup("dup", &[]);
    s3.put(&input, "a.wav", wav(6.0, 3));
    let event = s3_event(&input, "a.wav");
    assert_eq!(status_of(&lambda.invoke_ok(&event)), ["written"]);
    let first = s3.head(&output, "processed/a.flac").unwrap().e_tag().unwrap().to_owned();
    let again = lambda.invoke_ok(&event);
    assert_eq!(status_of(&again), ["already_done"], "{again}");
    assert_eq!(s3.head(&output, "processed/a.flac").unwrap().e_tag().unwrap(), first, "output rewritten");

    // Concurrent duplicates: two function instances receive the same event at once.
    s3.put(&input, "b.wav", wav(6.0, 3));
    let twin = start_lambda(&moto(), &[("AUDIOPROC_OUTPUT_BUCKET", output.as_str())]);
    let event_b = s3_event(&input, "b.wav");
    std::thread::scope(|s| {
        let a = s.spawn(|| lambda.invoke_ok(&event_b));
        let b = s.spawn(|| twin.invoke_ok(&event_b));
        for r in [a.join().unwrap(), b.join().unwrap()] {
            let st = status_of(&r);
            assert!(st == ["written"] || st == ["already_done"], "{r}");
        }
    });
    // Same source bytes and spec → byte-identical outputs, whoever won.
    let out_a = s3.get(&output, "processed/a.flac").unwrap();
    let out_b = s3.get(&output, "processed/b.flac").unwrap();
    assert!(out_a == out_b, "concurrent duplicate produced different bytes");
    assert_eq!(s3.keys(&output).len(), 4);
}

#[test]
fn events_for_the_output_prefix_cause_no_s3_calls() {
    // One bucket for input and output: the output prefix is the danger zone.
    let s3 = S3::new(&moto());
    let one = bucket("loop");
    s3.create_bucket(&one);
    s3.put(&one, "processed/x.flac", wav(1.0, 4));
    let proxy = CountingProxy::start(&moto());
    let lambda = start_lambda(&proxy.endpoint(), &[]);
    let response = lambda.invoke_ok(&s3_event(&one, "processed/x.flac"));
    assert_eq!(status_of(&response), ["ignored"], "{response}");
    let response = lambda.invoke_ok(&s3_event(&one, "processed/x.flac.json"));
    assert_eq!(status_of(&response), ["ignored"]);
    proxy.assert_no_requests();
    assert_eq!(s3.keys(&one), ["processed/x.flac"]);
    assert!(lambda.logs().contains("own output prefix"), "{}", lambda.logs());
}

#[test]
fn refused_buckets_and_test_events_cause_no_s3_calls() {
    let s3 = S3::new(&moto());
    let (allowed, other) = (bucket("allowed"), bucket("other"));
    s3.create_bucket(&allowed);
    s3.create_bucket(&other);
    s3.put(&other, "in/x.wav", wav(1.0, 5));
    let proxy = CountingProxy::start(&moto());
    let lambda = start_lambda(&proxy.endpoint(), &[("AUDIOPROC_ALLOWED_BUCKETS", allowed.as_str())]);
    let response = lambda.invoke_ok(&s3_event(&other, "in/x.wav"));
    assert_eq!(status_of(&response), ["permanent_failure"], "{response}");
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T10:00:00.000Z",
        "Bucket": allowed, "RequestId": "R", "HostId": "H"});
    assert_eq!(lambda.invoke_ok(&test_event)["status"], "test_event");
    proxy.assert_no_requests();
}

#[test]
fn corrupt_audio_is_a_permanent_failure_with_an_error_report() {
    let (s3, lambda, input, output) = setup("bad", &[]);
    let mut truncated = wav(3.0, 6);
    truncated.truncate(30);
    s3.put(&input, "in/bad.wav", b"this is not audio at all, just text pretending".repeat(100));
    s3.put(&input, "in/truncated.wav", truncated);
    s3.put(&input, "in/empty.wav", Vec::new());
    let event = json!({"Records": [s3_record(&input, "in/bad.wav"), s3_record(&input, "in/truncated.wav"),
        s3_record(&input, "in/empty.wav")]});
    // Permanent failures are recorded, and the invocation succeeds so Lambda does not retry.
    let response = lambda.invoke_ok(&event);
    assert_eq!(status_of(&response), ["permanent_failure"; 3], "{response}");
    assert_eq!(
        s3.keys(&output),
        [
            "processed/in/bad.wav.error.json",
            "processed/in/empty.wav.error.json",
            "processed/in/truncated.wav.error.json"
        ]
    );
    let report: Value = serde_json::from_slice(&s3.get(&output, "processed/in/bad.wav.error.json").unwrap()).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["failure"], "permanent");
    assert_eq!(report["source"]["key"], "in/bad.wav");
    assert!(report["error"].as_str().is_some_and(|e| !e.is_empty()), "{report}");

    // Fixed and uploaded again: the output appears and the stale error report goes.
    s3.put(&input, "in/bad.wav", wav(2.0, 6));
    assert_eq!(status_of(&lambda.invoke_ok(&s3_event(&input, "in/bad.wav"))), ["written"]);
    assert!(s3.head(&output, "processed/in/bad.wav.error.json").is_none(), "stale error report kept");
    assert!(s3.head(&output, "processed/in/bad.flac").is_some());
}

#[test]
fn inputs_over_the_size_cap_or_the_time_left_are_refused() {
    let (s3, lambda, input, output) = setup("cap", &[("AUDIOPROC_MAX_INPUT_BYTES", "100000")]);
    s3.put(&input, "big.wav", wav(3.0, 7)); // 529 kB
    let response = lambda.invoke_ok(&s3_event(&input, "big.wav"));
    assert_eq!(status_of(&response), ["permanent_failure"]);
    assert!(
        response["results"][0]["detail"].as_str().unwrap().contains("over the 100000-byte input limit"),
        "{response}"
    );
    assert_eq!(s3.keys(&output), ["processed/big.wav.error.json"]);

    // 2 s left is not enough for anything.
    s3.put(&input, "small.wav", wav(0.5, 7));
    let outcome = lambda.api.invoke_with_deadline(&s3_event(&input, "small.wav").to_string(), 2_000);
    let Outcome::Response(body) = outcome else { panic!("{outcome:?}") };
    assert!(body.contains("of the invocation are left"), "{body}");
    assert!(s3.head(&output, "processed/small.flac").is_none());
}

#[test]
fn a_failing_upload_leaves_no_object_and_no_multipart_upload() {
    let s3 = S3::new(&moto());
    let (input, output) = (bucket("fault-in"), bucket("fault-out"));
    s3.create_bucket(&input);
    s3.create_bucket(&output);
    // White noise barely compresses: 70 s of stereo FLAC is > 8 MiB, so the output goes multipart.
    let noise = audioproc_testdata::signal::white_noise(44_100, 2, 70.0, 0.3, 8);
    let bytes = audioproc_testdata::writers::wav(
        &noise,
        audioproc_testdata::writers::Encoding::Pcm16,
        audioproc_testdata::writers::WavOptions::default(),
    );
    s3.put(&input, "noise.wav", bytes);
    let rule =
        FaultRule { method: "PUT".to_owned(), query_contains: "partNumber=2".to_owned(), status: 500, times: 1000 };
    let proxy = FaultProxy::start(&moto(), vec![rule]);
    let lambda = start_lambda(&proxy.endpoint(), &[("AUDIOPROC_OUTPUT_BUCKET", output.as_str())]);
    let outcome = lambda.invoke(&s3_event(&input, "noise.wav"));
    // Retryable: the invocation fails so that Lambda retries it.
    let Outcome::Error(body) = outcome else { panic!("expected a failed invocation, got {outcome:?}") };
    assert!(body.contains("UploadPart 2"), "{body}");
    assert!(proxy.injected() >= 2, "the SDK should have retried the part");
    assert!(proxy.requests().iter().any(|r| r.starts_with("DELETE") && r.contains("uploadId=")), "no abort seen");
    assert!(s3.keys(&output).is_empty(), "left behind: {:?}", s3.keys(&output));
    assert_eq!(s3.multipart_uploads(&output), 0, "orphaned multipart upload");
}

#[test]
fn sqs_batches_report_exactly_the_poison_message() {
    let (s3, lambda, input, output) = setup("sqs", &[]);
    s3.put(&input, "q/one.wav", wav(2.0, 9));
    s3.put(&input, "q/two.wav", wav(2.0, 10));
    let message = |id: &str, body: String| {
        json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})
    };
    let event = json!({"Records": [
        message("m-1", s3_event(&input, "q/one.wav").to_string()),
        message("m-poison", "{\"not\": \"an S3 event\"".to_owned()),
        message("m-2", s3_event(&input, "q/two.wav").to_string()),
    ]});
    let response = lambda.invoke_ok(&event);
    assert_eq!(response, json!({"batchItemFailures": [{"itemIdentifier": "m-poison"}]}));
    assert!(s3.head(&output, "processed/q/one.flac").is_some());
    assert!(s3.head(&output, "processed/q/two.flac").is_some());
}

#[test]
fn eventbridge_object_created_events_are_processed() {
    let (s3, lambda, input, output) = setup("eb", &[]);
    s3.put(&input, "eb/a b.wav", wav(2.0, 11));
    let event = json!({"version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-23T10:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{input}")],
        "detail": {"version": "0", "bucket": {"name": input}, "object": {"key": "eb/a+b.wav", "size": 1, "etag": "x"},
            "request-id": "R", "requester": "123456789012", "reason": "PutObject"}});
    assert_eq!(status_of(&lambda.invoke_ok(&event)), ["written"]);
    assert!(s3.head(&output, "processed/eb/a b.flac").is_some());
}

#[test]
fn batch_operations_answers_match_the_golden_documents() {
    let (s3, lambda, input, output) = setup("bops", &[]);
    s3.put(&input, "b/ok.wav", wav(2.0, 12));
    s3.put(&input, "b/bad.wav", b"garbage".repeat(50));
    let v1 = json!({
        "invocationSchemaVersion": "1.0", "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
        "tasks": [
            {"taskId": "t-ok", "s3Key": "b/ok.wav", "s3VersionId": null, "s3BucketArn": format!("arn:aws:s3:::{input}")},
            {"taskId": "t-bad", "s3Key": "b/bad.wav", "s3VersionId": null, "s3BucketArn": format!("arn:aws:s3:::{input}")},
            {"taskId": "t-missing", "s3Key": "b/missing.wav", "s3VersionId": null, "s3BucketArn": format!("arn:aws:s3:::{input}")}
        ]
    });
    let answer = lambda.invoke_ok(&v1);
    let codes: Vec<(&str, &str)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["taskId"].as_str().unwrap(), r["resultCode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [("t-ok", "Succeeded"), ("t-bad", "PermanentFailure"), ("t-missing", "PermanentFailure")],
        "{answer}"
    );
    assert_eq!(answer["invocationSchemaVersion"], "1.0");
    assert_eq!(answer["treatMissingKeysAs"], "PermanentFailure");
    assert_eq!(answer["invocationId"], v1["invocationId"]);
    assert!(s3.head(&output, "processed/b/ok.flac").is_some());

    let v2 = json!({
        "invocationSchemaVersion": "2.0", "invocationId": "Zm9vYmFy",
        "job": {"id": "a2ba7b47-4b1e-4c6c-9b4e-2b3c5a1e6e8f", "userArguments": {"k": "v"}},
        "tasks": [{"taskId": "t2", "s3Key": "b/ok.wav", "s3VersionId": null, "s3Bucket": input}]
    });
    let answer = lambda.invoke_ok(&v2);
    assert_eq!(answer["invocationSchemaVersion"], "2.0");
    assert_eq!(answer["invocationId"], "Zm9vYmFy");
    assert_eq!(answer["results"][0]["taskId"], "t2");
    assert_eq!(answer["results"][0]["resultCode"], "Succeeded");
    assert!(answer["results"][0]["resultString"].as_str().unwrap().contains("already done"), "{answer}");
}

#[test]
fn a_200_mb_wav_streams_through_with_bounded_memory() {
    let (s3, lambda, input, output) = setup("large", &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    audioproc_testdata::writers::long_wav(&path, 19).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 200_000_000, "{size}");
    s3.put_file(&input, "long/programme.wav", &path);
    drop(dir);
    let response = lambda.invoke_ok(&s3_event(&input, "long/programme.wav"));
    assert_eq!(status_of(&response), ["written"], "{response}");
    let head = s3.head(&output, "processed/long/programme.flac").unwrap();
    // A multipart upload's ETag is "<md5 of part md5s>-<parts>".
    assert!(head.e_tag().unwrap().contains('-'), "not uploaded in parts: {:?}", head.e_tag());
    let rss_mib = lambda.peak_rss_kib() as f64 / 1024.0;
    eprintln!("200 MB input: peak RSS {rss_mib:.1} MiB");
    assert!(rss_mib < 128.0, "peak RSS {rss_mib:.1} MiB for a {size}-byte input");
}
