//! `audioproc serve` as a child process for the end-to-end tests: started on a free port of
//! 127.0.0.1 with its own data directory (or a given one, to restart on the same data), killed
//! when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{aws_command, header, http_request, peak_rss_kib, try_http_request};
use serde_json::Value;

/// A running server.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server with a new data directory; `database_url` `None` means SQLite in it.
    pub fn start(database_url: Option<&str>, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Server::start_on(&data, database_url, extra);
        s._dir = Some(dir);
        s
    }

    /// A server on the data directory `data` (kept by the caller).
    pub fn start_on(data: &Path, database_url: Option<&str>, extra: &[&str]) -> Server {
        Server::spawn(Command::new(env!("CARGO_BIN_EXE_audioproc")), data, database_url, extra)
    }

    /// A fleet-mode server: its database `database_url`, its objects in S3 at the moto server
    /// `endpoint` (`extra` says where: `--bucket …`).
    pub fn start_fleet(database_url: &str, endpoint: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_fleet_at(&free_addr(), database_url, endpoint, extra, env)
    }

    /// [`Server::start_fleet`] listening on `addr` (to start an instance again where a load
    /// balancer expects it); its log goes to [`Server::log`].
    pub fn start_fleet_at(
        addr: &str,
        database_url: &str,
        endpoint: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = aws_command(env!("CARGO_BIN_EXE_audioproc"), endpoint);
        cmd.envs(env.iter().copied()).env("RUST_LOG", "audioproc_web=info");
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        cmd.stderr(log);
        let mut s = Server::spawn_at(cmd, addr, &dir.path().join("data"), Some(database_url), extra);
        s._dir = Some(dir);
        s
    }

    fn spawn(mut cmd: Command, data: &Path, database_url: Option<&str>, extra: &[&str]) -> Server {
        cmd.stderr(Stdio::null());
        Server::spawn_at(cmd, &free_addr(), data, database_url, extra)
    }

    fn spawn_at(mut cmd: Command, addr: &str, data: &Path, database_url: Option<&str>, extra: &[&str]) -> Server {
        cmd.args(["serve", "--listen", addr, "--data"]).arg(data).args(extra);
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let child = cmd.stdout(Stdio::null()).spawn().unwrap();
        let mut server = Server { child, addr: addr.to_owned(), data: data.to_path_buf(), _dir: None };
        let started = Instant::now();
        while try_http_request(&server.addr, "GET", "/healthz", &[], b"").is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited ({status})");
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The end of the server's log (fleet servers only), for failure messages.
    pub fn log(&self) -> String {
        let Some(dir) = &self._dir else { return String::new() };
        let text = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`, …) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// SIGTERM, then waits (at most `limit`) for the server to exit; how long it took.
    pub fn terminate(&mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        self.signal("TERM");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "the server exited with {status} after SIGTERM:\n{}", self.log());
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "still running {limit:?} after SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The most memory the server has held (`VmHWM`), bytes.
    pub fn peak_rss(&self) -> u64 {
        peak_rss_kib(self.pid()).map_or(0, |kib| kib * 1024)
    }

    /// A JSON call: status, headers, body (`Null` when not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Vec<(String, String)>, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        let (status, headers, bytes) = http_request(&self.addr, method, path, &h, body.as_bytes());
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        // A stopped process dies of SIGKILL too; SIGCONT first does no harm.
        let _ = Command::new("kill").arg("-CONT").arg(self.pid().to_string()).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `127.0.0.1:PORT` with a port that was free a moment ago.
pub fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

/// The session cookie (`name=value`) a response sets.
pub fn session_of(headers: &[(String, String)]) -> String {
    let set = header(headers, "set-cookie").expect("no Set-Cookie");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    set.split(';').next().unwrap().to_owned()
}
