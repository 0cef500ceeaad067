//! How `audioproc serve` runs: where it listens, where its database and objects live.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The server's configuration (from flags and `AUDIOPROC_*` variables; see `audioproc serve
/// --help`).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// Directory of the embedded mode's database and objects (default `./audioproc-data`).
    pub data_dir: PathBuf,
    /// `postgres://…` for a fleet; `None`: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Mark session cookies `Secure` (served over HTTPS, e.g. behind a TLS load balancer).
    pub secure_cookies: bool,
    /// Largest upload accepted, bytes (default 2 GiB).
    pub max_upload_bytes: u64,
    /// Processing workers in this instance (default: one per core).
    pub workers: usize,
    /// How long signed upload and download URLs last, milliseconds (default and most: 15 min).
    pub url_lifetime_ms: i64,
}

/// The default upload limit: 2 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 2 << 30;

impl ServeConfig {
    /// The embedded defaults under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            database_url: None,
            secure_cookies: false,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            url_lifetime_ms: crate::signing::URL_LIFETIME_MS,
        }
    }

    /// The database URL in use: the configured one, or the SQLite file in the data directory.
    pub fn database(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("audioproc.db").display()),
        }
    }
}
