//! Shared by the end-to-end tests and the Lambda examples: the real `audioproc-lambda` binary
//! run under an in-process Lambda Runtime API, against a real S3-compatible server (moto).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use audioproc_testdata::harness::runtime_api::{Outcome, RuntimeApi};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

/// A blocking S3 client for test code (moto accepts any credentials).
#[derive(Debug)]
pub struct S3 {
    pub rt: tokio::runtime::Runtime,
    pub client: aws_sdk_s3::Client,
}

impl S3 {
    pub fn new(endpoint: &str) -> S3 {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .force_path_style(true)
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
            .build();
        S3 { rt, client: aws_sdk_s3::Client::from_conf(config) }
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.rt.block_on(self.client.create_bucket().bucket(bucket).send()).unwrap();
    }

    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.rt.block_on(self.client.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send()).unwrap();
    }

    /// Uploads a file (multipart above 8 MiB) with the project's own uploader.
    pub fn put_file(&self, bucket: &str, key: &str, path: &Path) {
        let dest = audioproc_s3::ObjectRef::new(bucket, key);
        let options = audioproc_s3::object::PutOptions { content_type: "audio/wav".to_owned(), ..Default::default() };
        self.rt.block_on(audioproc_s3::object::upload_file(&self.client, path, &dest, &options)).unwrap();
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let out = self.rt.block_on(self.client.get_object().bucket(bucket).key(key).send()).ok()?;
        Some(self.rt.block_on(out.body.collect()).unwrap().into_bytes().to_vec())
    }

    /// Downloads to a file in `dir` named after the key's file name.
    pub fn get_to(&self, bucket: &str, key: &str, dir: &Path) -> PathBuf {
        let bytes = self.get(bucket, key).unwrap_or_else(|| panic!("s3://{bucket}/{key} is missing"));
        let name = key.rsplit('/').next().unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn head(&self, bucket: &str, key: &str) -> Option<aws_sdk_s3::operation::head_object::HeadObjectOutput> {
        self.rt.block_on(self.client.head_object().bucket(bucket).key(key).send()).ok()
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self
            .rt
            .block_on(
                self.client.list_objects_v2().bucket(bucket).encoding_type(aws_sdk_s3::types::EncodingType::Url).send(),
            )
            .unwrap();
        let mut keys: Vec<String> =
            out.contents().iter().filter_map(|o| audioproc_s3::decode_event_key(o.key()?).ok()).collect();
        keys.sort();
        keys
    }

    pub fn multipart_uploads(&self, bucket: &str) -> usize {
        let out = self.rt.block_on(self.client.list_multipart_uploads().bucket(bucket).send()).unwrap();
        out.uploads().len()
    }
}

/// One `audioproc-lambda` process polling its own Runtime API.
#[derive(Debug)]
pub struct Lambda {
    pub api: RuntimeApi,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The binary under test: `AUDIOPROC_LAMBDA_BIN`, else the one Cargo built for these tests.
pub fn lambda_binary() -> PathBuf {
    std::env::var_os("AUDIOPROC_LAMBDA_BIN")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_BIN_EXE_audioproc-lambda").map(PathBuf::from))
        .expect("set AUDIOPROC_LAMBDA_BIN to the audioproc-lambda binary")
}

impl Lambda {
    /// Starts the binary with S3 at `endpoint` and the `AUDIOPROC_*` settings `vars`.
    pub fn start(endpoint: &str, vars: &[(&str, &str)]) -> Lambda {
        Self::start_binary(&lambda_binary(), endpoint, vars)
    }

    pub fn start_binary(binary: &Path, endpoint: &str, vars: &[(&str, &str)]) -> Lambda {
        let api = RuntimeApi::start();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("lambda.log");
        let mut cmd = Command::new(binary);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("AWS_") || k.starts_with("AUDIOPROC_") {
                cmd.env_remove(&*k);
            }
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "audioproc")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/audioproc")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TMPDIR", dir.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        Lambda { api, child, log, _dir: dir }
    }

    pub fn invoke(&self, event: &Value) -> Outcome {
        self.api.invoke(&event.to_string())
    }

    /// The response document of a successful invocation (panics on a failed one, with the logs).
    pub fn invoke_ok(&self, event: &Value) -> Value {
        match self.invoke(event) {
            Outcome::Response(body) => serde_json::from_str(&body).unwrap(),
            other => panic!("invocation failed: {other:?}\nlogs:\n{}", self.logs()),
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident set size of the process so far, KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn wait_ready(&self) -> bool {
        self.api.wait_first_poll(Duration::from_secs(30)).is_some()
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key as S3 event notifications carry it: `+` for spaces, percent-encoding for everything but
/// unreserved characters and `/`.
pub fn encode_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One S3 `ObjectCreated:Put` record, as S3 sends it.
pub fn s3_record(bucket: &str, key: &str) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:TEST"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "audioproc",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encode_key(key), "size": 1, "eTag": "0", "sequencer": "0A"}
        }
    })
}

/// An S3 event notification for one object.
pub fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [s3_record(bucket, key)]})
}

/// A stereo programme-like WAV of `seconds` (deterministic).
pub fn wav(seconds: f64, seed: u64) -> Vec<u8> {
    use audioproc_testdata::writers;
    let sig = audioproc_testdata::signal::programme(44_100, 2, seconds, seed);
    writers::wav(&sig, writers::Encoding::Pcm16, writers::WavOptions::default())
}

/// Integrated loudness and true peak of a local file, by the engine's meter.
pub fn measure(path: &Path) -> (f64, f64) {
    let a = audioproc_engine::analyze_path(path, &audioproc_engine::AnalyzeOptions::default()).unwrap();
    (a.loudness.integrated_lufs.unwrap(), a.loudness.true_peak_dbtp.unwrap())
}

/// A bucket name unique to this test process and `tag`.
pub fn bucket(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}
