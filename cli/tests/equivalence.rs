//! One job, four front ends: the same source and spec through the Lambda function, `audioproc
//! worker`, `audioproc batch` and `audioproc process` (all S3 → S3, real binaries against moto)
//! give byte-identical outputs, identical user metadata and identical report sidecars (minus
//! timings and the output's own location), on an unversioned and on a versioned bucket. The
//! versioned run is the regression test for the drift the four routes had (batch sidecars with
//! `version_id`/`size` null and outputs without `audioproc-source-version-id`; `process` local →
//! S3 without a sidecar).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{Lambda, MotoServer, S3, Sqs, aws_command, bucket, lambda_binary, s3_event};
use audioproc_testdata::programme_wav as wav;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use serde_json::Value;

const SOURCE: &str = "in/song one.wav";

fn audioproc(args: &[&str], dir: &Path) -> Output {
    aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The Lambda binary Cargo built beside `audioproc` (`scripts/test.sh` builds the workspace
/// first), unless `AUDIOPROC_LAMBDA_BIN` names another.
fn lambda_path() -> PathBuf {
    let beside = Path::new(env!("CARGO_BIN_EXE_audioproc")).with_file_name("audioproc-lambda");
    assert!(
        std::env::var_os("AUDIOPROC_LAMBDA_BIN").is_some() || beside.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        beside.display()
    );
    lambda_binary(beside.to_str())
}

/// What one front end wrote for the source: the output's bytes, its user metadata, and its
/// sidecar without the fields that legitimately differ (timings, the output's own location).
#[derive(Debug, PartialEq)]
struct Result {
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
    sidecar: Value,
}

fn collect(s3: &S3, b: &str, out_key: &str) -> Result {
    let bytes = s3.get(b, out_key).unwrap_or_else(|| panic!("no output {out_key}"));
    let metadata = s3.head(b, out_key).unwrap().metadata().cloned().unwrap_or_default();
    let raw = s3.get(b, &format!("{out_key}.json")).unwrap_or_else(|| panic!("no sidecar for {out_key}"));
    let mut sidecar: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(sidecar["destination"]["key"], out_key);
    assert_eq!(sidecar["output"]["path"], format!("s3://{b}/{out_key}"));
    let doc = sidecar.as_object_mut().unwrap();
    for k in ["elapsed_s", "destination"] {
        doc.remove(k);
    }
    doc["output"].as_object_mut().unwrap().remove("path");
    Result { bytes, metadata, sidecar }
}

fn run_worker(s3: &S3, b: &str) {
    let sqs = Sqs::new(&MotoServer::shared().endpoint());
    let queue = sqs.create(&format!("{b}-q"), &[]);
    sqs.send(&queue, &s3_event(b, SOURCE).to_string());
    let dir = tempfile::tempdir().unwrap();
    let mut child = aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint())
        .args(["worker", "--queue", &queue, "--output", &format!("s3://{b}/worker/"), "--visibility", "30"])
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("worker.log")).unwrap())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    while s3.head(b, "worker/in/song one.flac.json").is_none() {
        let log = || std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
        assert!(Instant::now() < until, "the worker wrote nothing:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

fn four_front_ends_agree(versioned: bool) {
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket(if versioned { "equiv-v" } else { "equiv" });
    s3.create_bucket(&b);
    if versioned {
        let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        s3.rt.block_on(s3.client.put_bucket_versioning().bucket(&b).versioning_configuration(on).send()).unwrap();
    }
    s3.put(&b, SOURCE, wav(4.0, 77));
    let head = s3.head(&b, SOURCE).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let lambda =
        Lambda::start(&lambda_path(), &MotoServer::shared().endpoint(), &[("AUDIOPROC_OUTPUT_PREFIX", "lambda/")]);
    let response = lambda.invoke_ok(&s3_event(&b, SOURCE));
    assert_eq!(response["results"][0]["status"], "written", "{response}");
    run_worker(&s3, &b);
    let o = audioproc(&["batch", &format!("s3://{b}/in/"), &format!("s3://{b}/batch/in/")], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let source_url = format!("s3://{b}/{SOURCE}");
    let o = audioproc(&["process", &source_url, "-o", &format!("s3://{b}/process/in/song one.flac")], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let reference = collect(&s3, &b, "lambda/in/song one.flac");
    for prefix in ["worker", "batch", "process"] {
        let other = collect(&s3, &b, &format!("{prefix}/in/song one.flac"));
        assert!(other.bytes == reference.bytes, "{prefix}: output bytes differ from the Lambda's");
        let differ: Vec<_> = other.metadata.iter().filter(|(k, v)| reference.metadata.get(*k) != Some(*v)).collect();
        assert_eq!(other.metadata, reference.metadata, "{prefix}: metadata differs in {differ:?}");
        assert_eq!(other.sidecar, reference.sidecar, "{prefix}: sidecar");
    }
    // The sidecar and the metadata describe the very source version that was processed.
    let source = &reference.sidecar["source"];
    assert_eq!(source["etag"], head.e_tag().unwrap());
    assert_eq!(source["size"], head.content_length().unwrap());
    assert_eq!(reference.metadata["audioproc-source-etag"], head.e_tag().unwrap());
    match head.version_id().filter(|v| *v != "null") {
        Some(v) if versioned => {
            assert_eq!(source["version_id"], v);
            assert_eq!(reference.metadata["audioproc-source-version-id"], v);
        }
        None if !versioned => {
            assert!(source["version_id"].is_null());
            assert!(!reference.metadata.contains_key("audioproc-source-version-id"));
        }
        other => panic!("versioned={versioned} but the source's version id is {other:?}"),
    }
}

#[test]
fn four_front_ends_write_identical_outputs_metadata_and_sidecars() {
    four_front_ends_agree(false);
}

#[test]
fn four_front_ends_agree_on_a_versioned_bucket_including_the_source_version() {
    four_front_ends_agree(true);
}

/// Regression: `process` local → S3 wrote no sidecar.
#[test]
fn process_from_a_local_file_to_s3_writes_the_sidecar_and_source_metadata() {
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket("equiv-local");
    s3.create_bucket(&b);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("local.wav"), wav(3.0, 78)).unwrap();
    let o = audioproc(&["process", "local.wav", "-o", &format!("s3://{b}/out/local.flac")], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sidecar: Value = serde_json::from_slice(&s3.get(&b, "out/local.flac.json").expect("a sidecar")).unwrap();
    assert_eq!(sidecar["ok"], true);
    assert_eq!(sidecar["source"]["key"], "local.wav");
    assert_eq!(sidecar["source"]["size"], std::fs::metadata(dir.path().join("local.wav")).unwrap().len());
    let meta = s3.head(&b, "out/local.flac").unwrap().metadata().cloned().unwrap();
    assert_eq!(meta["audioproc-source-etag"], sidecar["source"]["etag"].as_str().unwrap());
}
