//! The local Lambda demo (`scripts/lambda-demo.sh`): a local S3 server (moto), the bundled
//! track uploaded to an input bucket, the real `audioproc-lambda` binary invoked through the
//! Lambda Runtime API with the S3 event that upload produces, and the output downloaded to
//! `out/lambda-demo/`.
//!
//! `AUDIOPROC_LAMBDA_BIN=target/release/audioproc-lambda cargo run --release -p audioproc-lambda --example lambda_demo [TRACK]`
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use audioproc_testdata::harness::{Lambda, MotoServer, S3, lambda_binary, s3_event};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let track = std::env::args_os().nth(1).map_or_else(|| root.join("testdata/demo.flac"), PathBuf::from);
    let name = track.file_name().unwrap().to_string_lossy().into_owned();
    let moto = MotoServer::start();
    println!("local S3 server (moto) at {}", moto.endpoint());
    let s3 = S3::new(&moto.endpoint());
    let (input, output) = ("audioproc-demo-in", "audioproc-demo-out");
    s3.create_bucket(input);
    s3.create_bucket(output);
    let key = format!("incoming/{name}");
    s3.put(input, &key, std::fs::read(&track).unwrap());
    println!("uploaded {} → s3://{input}/{key}", track.display());

    let lambda = Lambda::start(
        &lambda_binary(None),
        &moto.endpoint(),
        &[("AUDIOPROC_OUTPUT_BUCKET", output), ("AUDIOPROC_FORMAT", "flac")],
    );
    let event = s3_event(input, &key);
    println!("invoking audioproc-lambda through the Runtime API with the S3 ObjectCreated event");
    let started = std::time::Instant::now();
    let response = lambda.invoke_ok(&event);
    println!("response ({:.2} s): {response}", started.elapsed().as_secs_f64());

    let out_dir = root.join("out/lambda-demo");
    std::fs::create_dir_all(&out_dir).unwrap();
    for k in s3.keys(output) {
        let path = s3.get_to(output, &k, &out_dir);
        println!("downloaded s3://{output}/{k} → {}", path.display());
    }
    let out_key = audioproc_s3::output_key("processed/", &key, audioproc_engine::OutputFormat::Flac).unwrap();
    let out_path = out_dir.join(out_key.rsplit('/').next().unwrap());
    let report = audioproc_engine::analyze_path(&out_path, &audioproc_engine::AnalyzeOptions::default()).unwrap();
    let (i, tp) = (report.loudness.integrated_lufs.unwrap(), report.loudness.true_peak_dbtp.unwrap());
    println!("output re-measured: {i:.2} LUFS, {tp:.2} dBTP (target −23 LUFS, ceiling −1 dBTP)");
}
