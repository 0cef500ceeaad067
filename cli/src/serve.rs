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
}

/// Runs the server until SIGTERM/SIGINT.
pub fn run(args: &ServeArgs) -> anyhow::Result<bool> {
    let config = ServeConfig {
        listen: args.listen,
        data_dir: args.data.clone(),
        database_url: args.database_url.clone(),
        secure_cookies: args.secure_cookies,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(audioproc_web::serve(config))?;
    Ok(true)
}
