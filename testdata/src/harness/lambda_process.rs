//! The real `audioproc-lambda` binary as a test drives it: one process polling its own
//! in-test Lambda Runtime API ([`RuntimeApi`]), with S3 at a given endpoint (moto, or a proxy in
//! front of it), logs captured in a temp directory, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::aws_env::{aws_command, remove_inherited};
use super::runtime_api::{Outcome, RuntimeApi};

/// The binary under test: `AUDIOPROC_LAMBDA_BIN`, else `built` (pass
/// `option_env!("CARGO_BIN_EXE_audioproc-lambda")`, which Cargo sets for integration tests but
/// not for examples).
///
/// # Panics
///
/// If neither is set.
pub fn lambda_binary(built: Option<&str>) -> PathBuf {
    std::env::var_os("AUDIOPROC_LAMBDA_BIN")
        .map(PathBuf::from)
        .or_else(|| built.map(PathBuf::from))
        .expect("set AUDIOPROC_LAMBDA_BIN to the audioproc-lambda binary")
}

/// One `audioproc-lambda` process polling its own Runtime API.
#[derive(Debug)]
pub struct Lambda {
    /// The Runtime API the process polls: invoke through it.
    pub api: RuntimeApi,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Lambda {
    /// Starts `binary` with S3 at `endpoint`, the Lambda environment of a 3008 MB function
    /// called `audioproc`, `RUST_LOG=info`, a private `TMPDIR`, and the `AUDIOPROC_*` settings
    /// `vars` (none of the test's own `AWS_*` or `AUDIOPROC_*` variables).
    ///
    /// # Panics
    ///
    /// If the process can't be started.
    pub fn start(binary: &Path, endpoint: &str, vars: &[(&str, &str)]) -> Lambda {
        let api = RuntimeApi::start();
        let dir = tempfile::tempdir().expect("a temp dir for the Lambda process");
        let log = dir.path().join("lambda.log");
        let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut cmd = aws_command(binary, endpoint);
        remove_inherited(&mut cmd, "AUDIOPROC_");
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "audioproc")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/audioproc")
            .env("TMPDIR", dir.path())
            .env("RUST_LOG", "info")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        Lambda { api, child, log, _dir: dir }
    }

    /// Invokes the function with `event` and waits for the outcome.
    pub fn invoke(&self, event: &Value) -> Outcome {
        self.api.invoke(&event.to_string())
    }

    /// The response document of a successful invocation (panics on a failed one, with the logs).
    pub fn invoke_ok(&self, event: &Value) -> Value {
        match self.invoke(event) {
            Outcome::Response(body) => {
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {body}"))
            }
            other => panic!("invocation failed: {other:?}\nlogs:\n{}", self.logs()),
        }
    }

    /// Everything the process wrote to stderr so far (its JSON log lines).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Peak resident set size of the process so far, KiB (`VmHWM`; Linux only).
    ///
    /// # Panics
    ///
    /// If `/proc/<pid>/status` can't be read or has no `VmHWM` line.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id();
        super::peak_rss_kib(pid).unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
    }

    /// Whether the process polled its Runtime API within 30 s.
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
