//! `audioproc process` and `audioproc analyze` on `s3://` URLs: the real binary against a real
//! S3-compatible server (moto, from the venv `scripts/s3-venv.sh` makes), through the same I/O
//! module as the Lambda function.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use audioproc_testdata::harness::{MotoServer, S3, aws_command, bucket};
use audioproc_testdata::programme_wav as wav;
use serde_json::Value;

fn audioproc(args: &[&str], dir: &Path) -> Output {
    aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Integrated loudness and true peak of a local file, by the engine's meter.
fn measure(path: &Path) -> (f64, f64) {
    let a = audioproc_engine::analyze_path(path, &audioproc_engine::AnalyzeOptions::default()).unwrap();
    (a.loudness.integrated_lufs.unwrap(), a.loudness.true_peak_dbtp.unwrap())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn process_reaches_s3_in_every_combination() {
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket("cli");
    s3.create_bucket(&b);
    s3.put(&b, "in/song one.wav", wav(8.0, 21));
    let dir = tempfile::tempdir().unwrap();
    let url = |k: &str| format!("s3://{b}/{k}");

    // S3 → S3: the S3 job, with metadata and the report sidecar.
    let o = audioproc(&["process", &url("in/song one.wav"), "-o", &url("out/song one.flac"), "--json"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema"], "audioproc.process/1");
    assert_eq!(doc["target_met"], true);
    let head = s3.head(&b, "out/song one.flac").unwrap();
    assert_eq!(head.content_type(), Some("audio/flac"));
    assert!(head.metadata().unwrap().contains_key("audioproc-source-etag"));
    assert!(s3.get(&b, "out/song one.flac.json").is_some(), "no report sidecar");
    let (i, tp) = measure(&s3.get_to(&b, "out/song one.flac", dir.path()));
    assert!((i + 23.0).abs() <= 0.1 && tp <= -0.9, "{i} LUFS, {tp} dBTP");

    // An existing output is refused without --force, replaced with it.
    let again = audioproc(&["process", &url("in/song one.wav"), "-o", &url("out/song one.flac")], dir.path());
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    let forced =
        audioproc(&["process", &url("in/song one.wav"), "-o", &url("out/song one.flac"), "--force"], dir.path());
    assert!(forced.status.success(), "{}", stderr(&forced));

    // S3 → local.
    let o = audioproc(
        &["process", &url("in/song one.wav"), "-o", "local.wav", "--preset", "streaming", "--mode", "limit"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (i, _) = measure(&dir.path().join("local.wav"));
    assert!((i + 14.0).abs() <= 0.5, "{i}");

    // local → S3: uploaded with the result's metadata.
    let o = audioproc(&["process", "local.wav", "-o", &url("up/local.mp3")], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let head = s3.head(&b, "up/local.mp3").unwrap();
    assert_eq!(head.content_type(), Some("audio/mpeg"));
    assert!(head.metadata().unwrap()["audioproc-spec"].contains("fmt=mp3"), "{:?}", head.metadata());

    // analyze reads S3 objects and local files side by side.
    let o = audioproc(&["analyze", "--json", &url("out/song one.flac"), "local.wav"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["files"][0]["path"], url("out/song one.flac"));
    assert!((doc["files"][0]["integrated_lufs"].as_f64().unwrap() + 23.0).abs() <= 0.1);
    assert!((doc["files"][1]["integrated_lufs"].as_f64().unwrap() + 14.0).abs() <= 0.5);
}

#[test]
fn s3_errors_are_clear_and_leave_nothing() {
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket("cli-err");
    s3.create_bucket(&b);
    s3.put(&b, "bad.wav", b"RIFF but not really".repeat(20));
    let dir = tempfile::tempdir().unwrap();

    let o = audioproc(&["process", &format!("s3://{b}/missing.wav"), "-o", &format!("s3://{b}/out.flac")], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such object"), "{}", stderr(&o));

    let o = audioproc(&["process", &format!("s3://{b}/bad.wav"), "-o", &format!("s3://{b}/out.flac")], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).is_empty());
    assert_eq!(s3.keys(&b), ["bad.wav"], "a failed job left objects behind");

    let o = audioproc(&["process", "s3://Not_A_Bucket/x.wav", "-o", "x.flac"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a valid bucket name"), "{}", stderr(&o));

    let o = audioproc(&["analyze", &format!("s3://{b}/missing.wav")], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such object"), "{}", stderr(&o));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "local files written");
}
