//! Benchmark of the Lambda path against a local S3 server (`scripts/lambda-bench.sh`): the
//! real `audioproc-lambda` binary behind the Lambda Runtime API, moto as S3.
//!
//! Prints the release binary's size, its cold start (process start → first poll of the Runtime
//! API), x-realtime for a 5-minute track (event → response: download, two passes, FLAC encode,
//! upload) and objects/second for a stream of 30-second tracks.
//!
//! `AUDIOPROC_LAMBDA_BIN=target/release/audioproc-lambda cargo run --release -p audioproc-lambda --example lambda_bench`
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use audioproc_testdata::harness::{Lambda, MotoServer, S3, lambda_binary, s3_event};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The download, process and upload times of each job the Lambda logged as written.
fn phases(logs: &str) -> Vec<String> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            let f = v.get("fields")?;
            let t = |k: &str| f.get(k).and_then(serde_json::Value::as_f64);
            Some(format!("{:.2}/{:.2}/{:.2}", t("download_s")?, t("process_s")?, t("upload_s")?))
        })
        .collect()
}

fn main() {
    let bin = lambda_binary(None);
    let size = std::fs::metadata(&bin).unwrap().len();
    println!("binary: {} ({:.1} MiB)", bin.display(), size as f64 / 1048576.0);
    let moto = MotoServer::start();
    let s3 = S3::new(&moto.endpoint());
    s3.create_bucket("bench-in");
    s3.create_bucket("bench-out");
    // As deploy/lambda.yaml sets them.
    let vars = [("AUDIOPROC_OUTPUT_BUCKET", "bench-out"), ("MALLOC_ARENA_MAX", "2")];

    let cold: Vec<f64> = (0..7)
        .map(|_| {
            let started = Instant::now();
            let lambda = Lambda::start(&bin, &moto.endpoint(), &vars);
            let ready = lambda.api.wait_first_poll(Duration::from_secs(30)).expect("the runtime never polled");
            ready.duration_since(started).as_secs_f64() * 1e3
        })
        .collect();
    println!("cold start (spawn → first /next poll): median {:.1} ms over {} starts", median(cold.clone()), cold.len());

    let lambda = Lambda::start(&bin, &moto.endpoint(), &vars);
    let dir = tempfile::tempdir().unwrap();
    let five = dir.path().join("five.wav");
    audioproc_testdata::writers::long_wav(&five, 5).unwrap();
    let runs: Vec<f64> = (0..3)
        .map(|n| {
            let key = format!("five/{n}.wav");
            s3.put_file("bench-in", &key, &five);
            let started = Instant::now();
            lambda.invoke_ok(&s3_event("bench-in", &key));
            300.0 / started.elapsed().as_secs_f64()
        })
        .collect();
    println!(
        "5-minute 44.1 kHz stereo WAV → FLAC: median {:.0}× realtime (runs: {:?})",
        median(runs.clone()),
        runs.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    println!("  phases (download / process / upload, s): {}", phases(&lambda.logs()).join(", "));

    let track = audioproc_testdata::programme_wav(30.0, 42);
    let n = 40;
    for i in 0..n {
        s3.put("bench-in", &format!("many/{i}.wav"), track.clone());
    }
    let started = Instant::now();
    for i in 0..n {
        lambda.invoke_ok(&s3_event("bench-in", &format!("many/{i}.wav")));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} × 30-second tracks, one at a time: {:.2} objects/s ({:.0}× realtime), peak RSS {:.1} MiB",
        f64::from(n) / secs,
        f64::from(n) * 30.0 / secs,
        lambda.peak_rss_kib() as f64 / 1024.0
    );
}
