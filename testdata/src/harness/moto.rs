//! A local S3 (and SQS, on the same port) server: `moto_server` from the venv that
//! `scripts/s3-venv.sh` creates.
//!
//! The machine's preinstalled moto (5.2.1) mishandles the Rust SDK's multipart uploads, so the
//! venv's is always used: `$AUDIOPROC_MOTO_SERVER` if set, else
//! `${AUDIOPROC_VENV:-$HOME/.cache/audioproc-venv}/bin/moto_server`.
//!
//! moto runs under a small `python3` wrapper whose stdin is a pipe from the test process: when
//! the test process exits (even when killed), the pipe closes and the wrapper stops moto. So a
//! [`MotoServer::shared`] server, which lives in a `static` and is never dropped, still does
//! not outlive the tests. moto's output goes to a log file in the temp directory, whose tail is
//! quoted when the server fails.

use super::request_once;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// An `Authorization` header for raw HTTP requests to moto's S3 (tests not using the SDK).
///
/// moto does not check signatures, but treats requests without `Authorization` as anonymous:
/// those cannot read objects with the default private ACL (403 with an empty body). The
/// credential scope also tells moto the service (s3) and region (us-east-1).
pub const S3_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
     SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// How long moto may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How many free ports to try if another process takes the chosen one first.
const START_ATTEMPTS: usize = 3;

/// Runs moto_server (argv[1]) on 127.0.0.1:argv[2] until stdin closes, then stops it (SIGTERM,
/// SIGKILL after 5 s). Exits with moto's status if moto stops first. On Linux moto also gets
/// SIGKILL if the wrapper itself is killed.
const WRAPPER: &str = r#"
import subprocess, sys, threading

def die_with_wrapper():
    try:
        import ctypes, signal
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass

server = subprocess.Popen(
    [sys.argv[1], "-H", "127.0.0.1", "-p", sys.argv[2]],
    stdin=subprocess.DEVNULL,
    preexec_fn=die_with_wrapper,
)

def stop_when_stdin_closes():
    try:
        sys.stdin.buffer.read()
    except BaseException:
        pass
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()

threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
sys.exit(server.wait())
"#;

/// A running moto server on 127.0.0.1, stopped by [`MotoServer::kill`], on drop, or when the
/// test process exits.
#[derive(Debug)]
pub struct MotoServer {
    /// The python wrapper; its stdin pipe keeps moto alive.
    wrapper: Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto_server on a free 127.0.0.1 port and waits (at most 30 s) until it answers.
    ///
    /// # Panics
    ///
    /// If moto_server is missing ("run scripts/s3-venv.sh"), exits early or does not answer in
    /// time; the message quotes the end of its log.
    pub fn start() -> MotoServer {
        let binary = moto_binary();
        if !binary.is_file() {
            panic!(
                "moto_server not found at {}: run scripts/s3-venv.sh (or set AUDIOPROC_MOTO_SERVER); \
                 the system moto is not used on purpose",
                binary.display()
            );
        }
        // The venv's own python if the binary sits in one, else the one on PATH.
        let python = binary.with_file_name("python3");
        let python = if python.is_file() { python } else { PathBuf::from("python3") };
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match try_start(&python, &binary) {
                Ok(server) => return server,
                Err(Failure { message, port_taken: true }) => failures.push(message),
                Err(Failure { message, port_taken: false }) => panic!("{message}"),
            }
        }
        panic!("moto_server could not bind a port:\n{}", failures.join("\n"));
    }

    /// The server shared by every test of this process, started on first use. It is never
    /// dropped; it stops when the test process exits.
    ///
    /// Tests sharing it run in parallel: give each its own bucket names, and never
    /// [`MotoServer::reset`] it (start a private server for that).
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(MotoServer::start)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// moto's log file (stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Forgets every bucket, object and queue (`POST /moto-api/reset`).
    ///
    /// # Panics
    ///
    /// If moto does not answer 200.
    pub fn reset(&self) {
        let host = format!("127.0.0.1:{}", self.port);
        let (status, _, body) = request_once(&host, "POST", "/moto-api/reset", &[], b"", Duration::from_secs(60))
            .unwrap_or_else(|error| panic!("POST /moto-api/reset: {error}\n{}", log_tail(&self.log)));
        assert!(status == 200, "POST /moto-api/reset answered {status}: {}", String::from_utf8_lossy(&body));
    }

    /// Stops the server now (closing the wrapper's stdin, then killing it if it lingers).
    /// Idempotent; also done on drop.
    pub fn kill(&mut self) {
        drop(self.wrapper.stdin.take());
        let give_up = Instant::now() + Duration::from_secs(10);
        while Instant::now() < give_up {
            match self.wrapper.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `$AUDIOPROC_MOTO_SERVER`, else `${AUDIOPROC_VENV:-$HOME/.cache/audioproc-venv}/bin/moto_server`.
fn moto_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("AUDIOPROC_MOTO_SERVER").filter(|v| !v.is_empty()) {
        return PathBuf::from(binary);
    }
    let venv = std::env::var_os("AUDIOPROC_VENV").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME is set (or set AUDIOPROC_VENV)");
        Path::new(&home).join(".cache/audioproc-venv")
    });
    venv.join("bin/moto_server")
}

#[derive(Debug)]
struct Failure {
    message: String,
    /// moto exited because the port was taken between choosing it and binding it.
    port_taken: bool,
}

fn try_start(python: &Path, binary: &Path) -> Result<MotoServer, Failure> {
    let port = free_port();
    let log = std::env::temp_dir().join(format!("audioproc-moto-{}-{port}.log", std::process::id()));
    let log_file = File::create(&log).unwrap_or_else(|error| panic!("create {}: {error}", log.display()));
    let log_err = log_file.try_clone().expect("clone the moto log file handle");
    let wrapper = Command::new(python)
        .arg("-c")
        .arg(WRAPPER)
        .arg(binary)
        .arg(port.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|error| panic!("start {} for moto_server: {error}", python.display()));
    let mut server = MotoServer { wrapper, port, log };

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = server.wrapper.try_wait() {
            let tail = log_tail(&server.log);
            return Err(Failure {
                port_taken: tail.contains("Address already in use"),
                message: format!("moto_server ({}) exited early ({status}):\n{tail}", binary.display()),
            });
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
            let host = address.to_string();
            if request_once(&host, "GET", "/moto-api/", &[], b"", Duration::from_secs(10)).is_ok() {
                return Ok(server);
            }
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            server.kill();
            panic!(
                "moto_server ({}) did not answer on {address} within {STARTUP_TIMEOUT:?}:\n{}",
                binary.display(),
                log_tail(&server.log)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A port that was free a moment ago.
/// A port on 127.0.0.1 that was free a moment ago (shared by the harness's servers).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local address of a bound listener").port()
}

/// The last few kilobytes of a server's log, for panic messages (shared by the harness's
/// servers).
pub(crate) fn log_tail(log: &Path) -> String {
    const TAIL: u64 = 4096;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(log)?;
        let length = file.metadata()?.len();
        file.seek(SeekFrom::Start(length.saturating_sub(TAIL)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(tail) => format!("--- end of {} ---\n{tail}", log.display()),
        Err(error) => format!("(cannot read {}: {error})", log.display()),
    }
}
