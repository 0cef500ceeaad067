//! A real PostgreSQL server for tests: Debian's `initdb` and `pg_ctl` (the highest version under
//! `/usr/lib/postgresql/*/bin`, else the ones on `PATH`), a throw-away cluster in a temp
//! directory, on a free 127.0.0.1 port, with trust authentication for the `postgres` role.
//!
//! `initdb` and the server refuse to run as root: as root they run as the `postgres` system user
//! (`runuser -u postgres --`), which owns the temp directory; as anyone else they run as that user.
//!
//! As with [`super::MotoServer`], the server lives in a `static` that is never dropped, so it is
//! stopped by a small watcher instead: a `sh` whose stdin is a pipe from the test process. When
//! the test process exits (even when killed), the pipe closes, and the watcher stops the server
//! (`pg_ctl stop -m immediate`) and removes the temp directory. The server's log is quoted when
//! setup fails. `scripts/test.sh` installs Debian's `postgresql` when no `initdb` is found.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::moto::{free_port, log_tail};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many free ports to try if another process takes the chosen one first.
const START_ATTEMPTS: usize = 3;
/// Seconds `pg_ctl start -w` waits for the server to accept connections.
const STARTUP_TIMEOUT_SECS: &str = "60";

/// Waits for its stdin to close, then stops the server and removes the temp directory.
/// Arguments: the temp directory, the data directory, then the `pg_ctl` command (with its
/// `runuser` prefix when needed).
const WATCHER: &str = r#"
trap '' INT HUP
tmp=$1; data=$2; shift 2
cat >/dev/null
"$@" -D "$data" stop -m immediate -w >/dev/null 2>&1
rm -rf "$tmp"
"#;

/// A running PostgreSQL server on 127.0.0.1, stopped when the test process exits.
///
/// Every connection is trusted: connect as `postgres` without a password.
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    /// The cluster, in the temp directory that is removed at exit.
    data: PathBuf,
    psql: PathBuf,
    pg_ctl: PathBuf,
    /// The server's options (`pg_ctl -o`), to start it again on the same port.
    options: String,
    /// Whether `pg_ctl` runs as the `postgres` system user (we are root).
    as_postgres: bool,
    /// Its stdin pipe keeps the server alive; closing it stops the server.
    _watcher: Watcher,
}

/// The watcher process. Dropping it (only on a setup failure: the shared server is never
/// dropped) closes its stdin and waits while it stops the server and removes the directory.
#[derive(Debug)]
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Where the binaries are.
#[derive(Debug)]
struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

impl Postgres {
    /// The server shared by every test of this process, started on first use (`initdb`, then
    /// `pg_ctl start` on a free 127.0.0.1 port). It is never dropped; it stops, and its directory
    /// is removed, when the test process exits.
    ///
    /// Tests sharing it run in parallel: give each its own database ([`Postgres::create_database`]).
    ///
    /// # Panics
    ///
    /// If the binaries are missing ("run scripts/test.sh, or apt-get install postgresql"), if the
    /// process runs as root and there is no `postgres` user, or if `initdb` or the server fails;
    /// the message quotes their output or the end of the server's log.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(start)
    }

    /// A server of its own, for a test that stops and starts it ([`Postgres::stop`],
    /// [`Postgres::start_again`]) without disturbing the tests sharing [`Postgres::shared`].
    /// Stopped, and its directory removed, when dropped.
    ///
    /// # Panics
    ///
    /// As [`Postgres::shared`].
    pub fn private() -> Postgres {
        start()
    }

    /// Stops the server at once (`pg_ctl stop -m fast`: connections are closed), as a failover
    /// does. [`Postgres::start_again`] brings it back on the same port with the same data.
    ///
    /// # Panics
    ///
    /// If `pg_ctl` fails.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Starts the server stopped by [`Postgres::stop`] again; returns once it accepts connections.
    ///
    /// # Panics
    ///
    /// If `pg_ctl` fails.
    pub fn start_again(&self) {
        let log = self.log_path();
        let log = log.to_string_lossy();
        self.pg_ctl(&["-o", &self.options, "-l", &log, "-w", "-t", STARTUP_TIMEOUT_SECS, "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
            runuser
        } else {
            Command::new(&self.pg_ctl)
        };
        let root = self.data.parent().unwrap_or(&self.data);
        let output = command
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("run {}: {error}", self.pg_ctl.display()));
        if !output.status.success() {
            panic!("pg_ctl {args:?} failed ({}):\n{}\n{}", output.status, outputs(&output), log_tail(&self.log_path()));
        }
    }

    /// Whether `initdb`, `pg_ctl` and `psql` are installed (see the module docs for where they are
    /// looked for). Tests do not skip on `false`: [`Postgres::shared`] panics instead.
    pub fn available() -> bool {
        binaries().is_ok()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the maintenance database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `psql` binary used by [`Postgres::create_database`], for tests that query the server.
    pub fn psql(&self) -> &Path {
        &self.psql
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.data.join("log")
    }

    /// Creates a new, empty database and returns its URL,
    /// `postgres://postgres@127.0.0.1:PORT/NAME_N`.
    ///
    /// The database's name is `name` made lower-case with every character other than `[a-z0-9_]`
    /// replaced by `_` (prefixed by `db_` if that leaves it empty or starting with a digit, and
    /// cut to 40 characters), then `_N` with a number unique in this process: two tests asking
    /// for the same name get different databases.
    ///
    /// # Panics
    ///
    /// If `psql` fails; the message quotes its output.
    pub fn create_database(&self, name: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let database = format!("{}_{}", sanitize(name), NEXT.fetch_add(1, Ordering::Relaxed));
        let sql = format!("CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8'");
        let output = Command::new(&self.psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-c", &sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("run {}: {error}", self.psql.display()));
        if !output.status.success() {
            panic!("{sql} failed ({}):\n{}\n{}", output.status, outputs(&output), log_tail(&self.log_path()));
        }
        self.database_url(&database)
    }

    fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

/// `[a-z0-9_]` only, not empty, not starting with a digit, at most 40 characters.
fn sanitize(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .take(40)
        .collect();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        clean = format!("db_{clean}");
        clean.truncate(40);
    }
    clean
}

fn start() -> Postgres {
    let binaries = binaries().unwrap_or_else(|missing| {
        panic!("PostgreSQL not found ({missing}): run scripts/test.sh, or apt-get install postgresql")
    });
    // initdb and postgres refuse to run as root: run them as the postgres system user then.
    let as_postgres = effective_uid() == 0;
    let owner = as_postgres.then(postgres_ids);

    let unique = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let root = std::env::temp_dir().join(format!("audioproc-postgres-{}-{unique}", std::process::id()));
    let data = root.join("data");
    for dir in [&root, &data] {
        fs::create_dir(dir).unwrap_or_else(|error| panic!("create {}: {error}", dir.display()));
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|error| panic!("chmod 0700 {}: {error}", dir.display()));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .unwrap_or_else(|error| panic!("chown postgres {}: {error}", dir.display()));
        }
    }

    // Started before anything else, so the directory is removed even if setup panics below
    // (dropping the Watcher closes the pipe and waits for it).
    let mut watcher = Command::new("sh");
    watcher.arg("-c").arg(WATCHER).arg("sh").arg(&root).arg(&data);
    if as_postgres {
        watcher.args(["runuser", "-u", "postgres", "--"]);
    }
    let watcher = Watcher(
        watcher
            .arg(&binaries.pg_ctl)
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the terminal's process group: a ^C reaches the tests, not the watcher.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("start sh (the PostgreSQL watcher): {error}")),
    );

    let command = |binary: &Path| {
        let mut command = if as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(binary);
            runuser
        } else {
            Command::new(binary)
        };
        // The test's directory may not be readable by the postgres user.
        command.current_dir(&root).stdin(Stdio::null());
        command
    };

    let output = command(&binaries.initdb)
        .arg("-D")
        .arg(&data)
        .args(["--auth=trust", "--username=postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", binaries.initdb.display()));
    if !output.status.success() {
        panic!("{} -D {} failed ({}):\n{}", binaries.initdb.display(), data.display(), output.status, outputs(&output));
    }

    let log = data.join("log");
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off \
             -c max_connections=200",
            data.display()
        );
        let output = command(&binaries.pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(&options)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", STARTUP_TIMEOUT_SECS, "start"])
            .output()
            .unwrap_or_else(|error| panic!("run {}: {error}", binaries.pg_ctl.display()));
        if output.status.success() {
            return Postgres {
                port,
                data,
                psql: binaries.psql,
                pg_ctl: binaries.pg_ctl,
                options,
                as_postgres,
                _watcher: watcher,
            };
        }
        let tail = log_tail(&log);
        let message = format!(
            "{} start on port {port} failed ({}):\n{}\n{tail}",
            binaries.pg_ctl.display(),
            output.status,
            outputs(&output)
        );
        if !tail.contains("could not bind") && !tail.contains("Address already in use") {
            panic!("{message}");
        }
        failures.push(message);
    }
    panic!("PostgreSQL could not bind a port:\n{}", failures.join("\n"));
}

/// initdb, pg_ctl and psql: the highest version under /usr/lib/postgresql, else beside the
/// `initdb` on PATH (following its symlink: Debian links them from elsewhere), else on PATH.
fn binaries() -> Result<Binaries, String> {
    let bin = debian_bin()
        .or_else(|| {
            on_path("initdb")
                .map(|initdb| fs::canonicalize(&initdb).unwrap_or(initdb))
                .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        })
        .ok_or("no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH")?;
    let find = |name: &str| {
        let beside = bin.join(name);
        if beside.is_file() { Some(beside) } else { on_path(name) }
    };
    let pg_ctl = find("pg_ctl").ok_or_else(|| format!("no pg_ctl in {} or on PATH", bin.display()))?;
    let psql = find("psql").ok_or_else(|| format!("no psql in {} or on PATH", bin.display()))?;
    Ok(Binaries { initdb: bin.join("initdb"), pg_ctl, psql })
}

/// `/usr/lib/postgresql/VERSION/bin` with the highest numeric VERSION that has an `initdb`.
fn debian_bin() -> Option<PathBuf> {
    let versions = fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version: Vec<u32> = name.split('.').map(str::parse).collect::<Result<_, _>>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// The first `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// This process's effective uid, from `/proc/self/status` (std has no `geteuid`).
fn effective_uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:")).expect("a Uid: line in /proc/self/status");
    uids.split_whitespace().nth(1).and_then(|uid| uid.parse().ok()).expect("an effective uid in /proc/self/status")
}

/// The `postgres` system user's uid and gid.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap_or_else(|error| panic!("run id {flag} postgres: {error}"));
        let text = String::from_utf8_lossy(&output.stdout);
        match text.trim().parse() {
            Ok(id) if output.status.success() => id,
            _ => panic!(
                "running as root, PostgreSQL needs the postgres system user (apt-get install postgresql \
                 creates it): id {flag} postgres: {}",
                outputs(&output)
            ),
        }
    };
    (id("-u"), id("-g"))
}

/// A port that was free a moment ago.
/// A command's stdout and stderr, for panic messages.
fn outputs(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize("Web-Tests.v2"), "web_tests_v2");
        assert_eq!(sanitize(""), "db_");
        assert_eq!(sanitize("9lives"), "db_9lives");
        assert_eq!(sanitize("é;DROP"), "__drop");
        assert_eq!(sanitize(&"x".repeat(100)).len(), 40);
    }
}
