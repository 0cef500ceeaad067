//! The audioproc upload app and REST API, run by `audioproc serve`.
//!
//! This crate holds HTTP, accounts and the database; it never processes audio itself (jobs go
//! through the one per-object job of `audioproc-s3`). What is here so far:
//!
//! - [`db`]: one database layer over SQLite (the embedded default, a file under `--data`) and
//!   PostgreSQL (`--database-url`, shared by a fleet), with the migrations run at start under an
//!   advisory lock so that several instances may start at once;
//! - [`accounts`]: users (email + Argon2id password hash), server-side sessions and API tokens;
//!   [`throttle`]: sign-in throttling per email, shared by the fleet;
//! - [`tracks`]: uploaded files and their processing, owner-checked; the same table is the
//!   processing queue (claims with a lease);
//! - [`spec`], [`objects`], [`signing`]: what a track asks for, where its files live, and the
//!   signed URLs that upload and serve them;
//! - [`processing`]: the in-process pool that runs the one per-object job on queued tracks;
//!   [`external`]: following the results of the Lambda function or worker fleet instead
//!   (`--process external`); [`report`]: a result's report as its owner sees it;
//! - [`api`]: the versioned JSON API (`/api/v1/…`, see `web/API.md`), its error documents,
//!   `/healthz` and `/readyz`;
//! - [`server`]: the listener, and a shutdown that turns `/readyz` to 503 before draining.
// Unit tests may unwrap: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod accounts;
pub mod api;
pub mod config;
pub mod db;
pub mod error;
pub mod external;
pub mod objects;
pub mod processing;
pub mod report;
pub mod server;
pub mod signing;
pub mod spec;
pub mod throttle;
pub mod tracks;

pub use config::ServeConfig;
pub use error::WebError;
pub use server::serve;
