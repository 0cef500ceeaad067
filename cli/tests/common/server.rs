//! `audioproc serve` as a child process for the end-to-end tests: started on a free port of
//! 127.0.0.1 with its own data directory (or a given one, to restart on the same data), killed
//! when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{aws_command, header, http_request, try_http_request};
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
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = aws_command(env!("CARGO_BIN_EXE_audioproc"), endpoint);
        cmd.envs(env.iter().copied());
        let mut s = Server::spawn(cmd, &dir.path().join("data"), Some(database_url), extra);
        s._dir = Some(dir);
        s
    }

    fn spawn(mut cmd: Command, data: &Path, database_url: Option<&str>, extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        cmd.args(["serve", "--listen", &addr, "--data"]).arg(data).args(extra);
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let server = Server { child, addr, data: data.to_path_buf(), _dir: None };
        let started = Instant::now();
        while try_http_request(&server.addr, "GET", "/healthz", &[], b"").is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The session cookie (`name=value`) a response sets.
pub fn session_of(headers: &[(String, String)]) -> String {
    let set = header(headers, "set-cookie").expect("no Set-Cookie");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    set.split(';').next().unwrap().to_owned()
}
