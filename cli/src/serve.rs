//! `audioproc serve`: the upload app and REST API (crate `audioproc-web`), from the same binary
//! that processes, so one binary serves and works on an instance.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use audioproc_web::ServeConfig;

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
}

/// Runs the server until SIGTERM/SIGINT.
pub fn run(args: &ServeArgs) -> anyhow::Result<bool> {
    let mut config = ServeConfig::embedded(&args.data);
    config.listen = args.listen;
    config.database_url.clone_from(&args.database_url);
    config.secure_cookies = args.secure_cookies;
    config.max_upload_bytes = args.max_upload_bytes;
    config.url_lifetime_ms = i64::from(args.url_lifetime) * 1000;
    if let Some(n) = args.workers {
        config.workers = usize::from(n);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(audioproc_web::serve(config))?;
    Ok(true)
}
