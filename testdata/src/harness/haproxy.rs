//! HAProxy as the load balancer in front of several `audioproc serve` instances, the way an
//! Application Load Balancer sits in front of the Auto Scaling group: round robin, an active
//! health check of `GET /readyz` every 300 ms (two failures take a server out, two successes
//! put it back), and retries, on another server, of requests whose connection failed or got no
//! answer (our API's writes are idempotent: `Idempotency-Key` on create, complete twice is
//! harmless); when no server is healthy it sends to all of them, as an ALB does. Debian's `haproxy` (installed by `scripts/test.sh`); everything on 127.0.0.1.
//!
//! The statistics page (`GET /stats;csv` on [`Haproxy::stats_addr`]) says which servers are up;
//! the process is killed when the value is dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::moto::{free_port, log_tail};
use super::try_http_request;

/// How long [`Haproxy::start`] and the waits give HAProxy to come up or see a change.
const WAIT: Duration = Duration::from_secs(20);

/// A running HAProxy, killed on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    port: u16,
    stats_port: u16,
    dir: tempfile::TempDir,
}

/// The configuration for `backends` (`host:port` each, named `s0`, `s1`, …).
fn config(port: u16, stats_port: u16, backends: &[String]) -> String {
    // Like an ALB, which routes to every target when none is healthy ("fails open"), the
    // servers are listed again as unchecked backups, used only when every checked one is down
    // (the database is gone for a moment): the instances then answer 503 with Retry-After
    // themselves.
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, addr)| format!("    server s{i} {addr} check\n    server b{i} {addr} backup\n"))
        .collect();
    format!(
        "global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 15s
    timeout check 1s
    timeout queue 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    option http-server-close

frontend app
    bind 127.0.0.1:{port}
    default_backend fleet

backend fleet
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
{servers}
listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"
    )
}

impl Haproxy {
    /// Starts HAProxy in front of `backends` and waits until it answers (not until the backends
    /// are up: see [`Haproxy::wait_up`]).
    ///
    /// # Panics
    ///
    /// If `haproxy` is missing ("run scripts/test.sh, or apt-get install haproxy"), the
    /// configuration is refused, or it does not answer within 20 s (the message quotes its log).
    pub fn start(backends: &[String]) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir for haproxy");
        let (port, stats_port) = (free_port(), free_port());
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config(port, stats_port, backends)).expect("write haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("log")).expect("haproxy log");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("start haproxy ({error}): run scripts/test.sh, or apt-get install haproxy"));
        let mut proxy = Haproxy { child, port, stats_port, dir };
        let started = Instant::now();
        while try_http_request(&proxy.stats_addr(), "GET", "/stats;csv", &[], b"").is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("haproxy exited ({status}):\n{}", log_tail(&proxy.log_path()));
            }
            assert!(started.elapsed() < WAIT, "haproxy did not answer:\n{}", log_tail(&proxy.log_path()));
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    /// `127.0.0.1:PORT`, where clients send their requests.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT` of the statistics page.
    pub fn stats_addr(&self) -> String {
        format!("127.0.0.1:{}", self.stats_port)
    }

    /// HAProxy's output.
    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("log")
    }

    /// The state of each backend server (`s0`, `s1`, …; the backups `b0`, `b1`, … say `no
    /// check`) as HAProxy sees it: `"UP"`, `"DOWN"`,
    /// or a transition such as `"UP 1/2"`.
    ///
    /// # Panics
    ///
    /// If the statistics page does not answer.
    pub fn states(&self) -> Vec<(String, String)> {
        let (status, _, body) = try_http_request(&self.stats_addr(), "GET", "/stats;csv", &[], b"")
            .unwrap_or_else(|e| panic!("haproxy stats: {e}\n{}", log_tail(&self.log_path())));
        assert_eq!(status, 200, "haproxy stats");
        parse_states(&String::from_utf8_lossy(&body))
    }

    /// Waits until HAProxy counts exactly `n` backend servers `UP`.
    ///
    /// # Panics
    ///
    /// After 20 s, with the states it saw.
    pub fn wait_up(&self, n: usize) {
        let started = Instant::now();
        loop {
            let states = self.states();
            if states.iter().filter(|(_, s)| s == "UP").count() == n {
                return;
            }
            assert!(started.elapsed() < WAIT, "waiting for {n} servers up: {states:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `(server, status)` of the backend `fleet`'s servers in HAProxy's CSV statistics.
fn parse_states(csv: &str) -> Vec<(String, String)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").trim_start_matches("# ").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else {
        return Vec::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(px) == Some(&"fleet") && f.get(sv).is_some_and(|s| !matches!(*s, "FRONTEND" | "BACKEND")))
        .map(|f| (f[sv].to_owned(), f.get(st).copied().unwrap_or("").to_owned()))
        .collect()
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `haproxy` runs here.
pub fn available() -> bool {
    Command::new("haproxy").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Checks `cfg` with `haproxy -c` (for tests of the configuration itself).
///
/// # Panics
///
/// If HAProxy refuses it; the message quotes its output.
pub fn check_config(cfg: &Path) {
    let out = Command::new("haproxy").arg("-c").arg("-f").arg(cfg).output().expect("run haproxy -c");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statistics_name_each_backend_server_and_its_state() {
        let csv = "# pxname,svname,qcur,status,weight\napp,FRONTEND,,OPEN,\nfleet,s0,0,UP,1\n\
                   fleet,b0,0,no check,1\nfleet,s1,0,DOWN,1\nfleet,BACKEND,0,UP,2\nstats,FRONTEND,,OPEN,\n";
        let states = parse_states(csv);
        assert_eq!(states[0], ("s0".into(), "UP".into()));
        assert_eq!(states[1], ("b0".into(), "no check".into()));
        assert_eq!(states[2], ("s1".into(), "DOWN".into()));
        assert_eq!(states.len(), 3);
    }

    #[test]
    fn the_configuration_is_valid_haproxy() {
        if !available() {
            panic!("haproxy not found: run scripts/test.sh, or apt-get install haproxy");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config(8080, 8081, &["127.0.0.1:1".into(), "127.0.0.1:2".into()])).expect("write");
        check_config(&cfg);
    }
}
