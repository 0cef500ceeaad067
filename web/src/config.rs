//! How `audioproc serve` runs: where it listens, where its database and objects live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use audioproc_s3::S3Url;

use crate::spec::TrackSpec;

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
    /// Fleet mode: where uploads go (`s3://BUCKET/incoming/`); `None`: the data directory.
    pub bucket: Option<S3Url>,
    /// Fleet mode: where results go (`s3://BUCKET/processed/`; default: `processed/` in the
    /// upload bucket).
    pub output: Option<S3Url>,
    /// Files larger than this are uploaded to S3 in parts, bytes (default 64 MiB).
    pub multipart_threshold: u64,
    /// Who processes the uploads.
    pub process: ProcessMode,
    /// `--process external`: the SQS queue the output prefix's S3 events are delivered to.
    pub events_queue: Option<String>,
    /// `--process external`: how often tracks still waiting are looked up in the store.
    pub reconcile_interval: Duration,
    /// `--process external`: the settings the external processor applies (every track gets
    /// them; a request for others is refused).
    pub fixed_spec: Option<TrackSpec>,
    /// At SIGTERM, how long tracks being processed may take to finish before they are handed
    /// back to the queue for another instance (default 30 s).
    pub drain_grace: Duration,
    /// How long a processing claim lasts without renewal (default 30 s): a track whose instance
    /// died is taken over this long after its last renewal.
    pub lease: Duration,
}

/// Who processes the uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessMode {
    /// The serve instances themselves: a pool per instance claims tracks from the database.
    Local,
    /// The Lambda function or `audioproc worker` fleet, triggered by S3; the app follows the
    /// results (S3 events on SQS, and a reconciler).
    External,
}

impl ProcessMode {
    /// Its name in the API and `--process`.
    pub fn name(self) -> &'static str {
        match self {
            ProcessMode::Local => "local",
            ProcessMode::External => "external",
        }
    }
}

/// Files over this size are uploaded to S3 in parts by default: 64 MiB.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 << 20;

/// How long in-flight tracks may take to finish at SIGTERM by default: 30 s.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(30);

/// How long a processing claim lasts without renewal by default: 30 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

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
            bucket: None,
            output: None,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            process: ProcessMode::Local,
            events_queue: None,
            reconcile_interval: Duration::from_secs(30),
            fixed_spec: None,
            drain_grace: DEFAULT_DRAIN_GRACE,
            lease: DEFAULT_LEASE,
        }
    }

    /// Where results go in the fleet mode: `--output`, or `processed/` in the upload bucket.
    pub fn output_url(&self) -> Option<S3Url> {
        let input = self.bucket.as_ref()?;
        Some(
            self.output.clone().unwrap_or_else(|| S3Url { bucket: input.bucket.clone(), key: "processed/".to_owned() }),
        )
    }

    /// The database URL in use: the configured one, or the SQLite file in the data directory.
    pub fn database(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("audioproc.db").display()),
        }
    }
}
