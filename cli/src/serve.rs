//! `audioproc serve`: the upload app and REST API (crate `audioproc-web`), from the same binary
//! that processes, so one binary serves and works on an instance.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use audioproc_s3::S3Url;
use audioproc_web::ServeConfig;
use audioproc_web::config::ProcessMode;
use audioproc_web::spec::TrackSpec;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR:PORT", env = "AUDIOPROC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of the embedded mode's database (SQLite) and objects.
    #[arg(long, value_name = "DIR", env = "AUDIOPROC_DATA", default_value = "audioproc-data")]
    data: PathBuf,
    /// PostgreSQL database shared by a fleet of instances (`postgres://user@host/db`); default:
    /// SQLite in --data.
    #[arg(long, value_name = "URL", env = "AUDIOPROC_DATABASE_URL")]
    database_url: Option<String>,
    /// Mark session cookies Secure (when served over HTTPS, e.g. behind a TLS load balancer).
    #[arg(long, env = "AUDIOPROC_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Largest upload accepted, bytes.
    #[arg(long, value_name = "BYTES", env = "AUDIOPROC_MAX_UPLOAD_BYTES", default_value_t = audioproc_web::config::DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Tracks processed at once by this instance [default: one per core].
    #[arg(long, value_name = "N", env = "AUDIOPROC_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// How long signed upload and download links last, seconds (at most 900).
    #[arg(long, value_name = "SECONDS", env = "AUDIOPROC_URL_LIFETIME", default_value_t = 900, value_parser = clap::value_parser!(u16).range(1..=900))]
    url_lifetime: u16,
    /// Fleet mode: keep uploads in S3 under this prefix (`s3://BUCKET/incoming/`). Browsers
    /// upload straight to S3 with presigned URLs; the credentials, region and endpoint come from
    /// the standard AWS chain (instance role, `AWS_*` variables, `AWS_ENDPOINT_URL`).
    #[arg(long, value_name = "S3URL", env = "AUDIOPROC_BUCKET", value_parser = parse_s3_url)]
    bucket: Option<S3Url>,
    /// Fleet mode: write results under this prefix (`s3://BUCKET/processed/`) [default:
    /// processed/ in the --bucket bucket]. Must not overlap --bucket.
    #[arg(long, value_name = "S3URL", env = "AUDIOPROC_OUTPUT", value_parser = parse_s3_url, requires = "bucket")]
    output: Option<S3Url>,
    /// Files larger than this are uploaded to S3 in parts (signed one by one, resumable),
    /// bytes (at least 5 MiB).
    #[arg(long, value_name = "BYTES", env = "AUDIOPROC_MULTIPART_THRESHOLD", default_value_t = audioproc_web::config::DEFAULT_MULTIPART_THRESHOLD, value_parser = clap::value_parser!(u64).range(5 * 1024 * 1024..))]
    multipart_threshold: u64,
    /// Who processes uploads: `local` (these instances, claiming tracks from the database) or
    /// `external` (the Lambda function or `audioproc worker` fleet, triggered by S3; needs
    /// --bucket; the settings are the processor's AUDIOPROC_PRESET, AUDIOPROC_FORMAT, … and its
    /// results are followed through --events-queue and by reading their reports).
    #[arg(long, value_enum, env = "AUDIOPROC_PROCESS", default_value = "local", requires_if("external", "bucket"))]
    process: Process,
    /// With --process external: the SQS queue the output prefix's S3 event notifications are
    /// delivered to (results show at once; without it they show at the next --reconcile-interval).
    #[arg(long, value_name = "SQS_URL", env = "AUDIOPROC_EVENTS_QUEUE")]
    events_queue: Option<String>,
    /// With --process external: how often tracks still waiting are looked up in the output
    /// store, seconds (repairs lost events).
    #[arg(long, value_name = "SECONDS", env = "AUDIOPROC_RECONCILE_INTERVAL", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..))]
    reconcile_interval: u16,
    /// At SIGTERM (a scale-in or a rolling deploy), how long tracks being processed may take
    /// to finish before they go back to the queue for another instance, seconds. /readyz says
    /// 503 at once; the load balancer's deregistration delay should be a few seconds longer.
    #[arg(long, value_name = "SECONDS", env = "AUDIOPROC_DRAIN_GRACE", default_value_t = 30)]
    drain_grace: u16,
    /// How long a processing claim lasts without renewal, seconds: a track whose instance died
    /// (or froze) is taken over by another this long after the claim's last renewal.
    #[arg(long, value_name = "SECONDS", env = "AUDIOPROC_LEASE", default_value_t = 30, value_parser = clap::value_parser!(u16).range(3..))]
    lease: u16,
}

/// `--process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Process {
    /// These instances process the uploads.
    Local,
    /// The Lambda function or the worker fleet does.
    External,
}

fn parse_s3_url(s: &str) -> Result<S3Url, String> {
    match S3Url::parse(s) {
        Some(Ok(url)) => Ok(url),
        Some(Err(e)) => Err(e.message),
        None => Err(format!("{s:?}: expected s3://BUCKET/PREFIX/")),
    }
}

/// Runs the server until SIGTERM/SIGINT.
pub fn run(args: &ServeArgs) -> anyhow::Result<bool> {
    let mut config = ServeConfig::embedded(&args.data);
    config.listen = args.listen;
    config.database_url.clone_from(&args.database_url);
    config.secure_cookies = args.secure_cookies;
    config.max_upload_bytes = args.max_upload_bytes;
    config.url_lifetime_ms = i64::from(args.url_lifetime) * 1000;
    config.bucket.clone_from(&args.bucket);
    config.output.clone_from(&args.output);
    config.multipart_threshold = args.multipart_threshold;
    config.events_queue.clone_from(&args.events_queue);
    config.reconcile_interval = std::time::Duration::from_secs(u64::from(args.reconcile_interval));
    config.drain_grace = std::time::Duration::from_secs(u64::from(args.drain_grace));
    config.lease = std::time::Duration::from_secs(u64::from(args.lease));
    if args.process == Process::External {
        config.process = ProcessMode::External;
        let fixed = TrackSpec::from_processor_env(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
        config.fixed_spec = Some(fixed);
    }
    if let Some(n) = args.workers {
        config.workers = usize::from(n);
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(audioproc_web::serve(config))?;
    Ok(true)
}

/// Log lines on stderr (journald keeps them under systemd); `RUST_LOG` sets the level
/// [default: info].
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
