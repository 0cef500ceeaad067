//! Test support for the AWS front ends, in one place for the Lambda and CLI tests and the
//! Lambda examples (behind the cargo feature `harness`).
//!
//! Servers (std-only: no async runtime, no HTTP crate):
//!
//! - [`moto::MotoServer`]: `moto_server` from the venv made by `scripts/s3-venv.sh`, on a free
//!   127.0.0.1 port, stopped when the test process exits.
//! - [`runtime_api::RuntimeApi`]: the Lambda Runtime API (2018-06-01) that a `lambda_runtime`
//!   binary polls when started with `AWS_LAMBDA_RUNTIME_API` pointing at it.
//! - [`postgres::Postgres`]: a real PostgreSQL server (Debian's `initdb` and `pg_ctl`, installed
//!   by `scripts/test.sh`) on a free 127.0.0.1 port, one fresh database per test, stopped and
//!   removed when the test process exits.
//! - [`chromedriver::ChromeDriver`]: Debian's chromedriver for headless-Chromium tests over
//!   WebDriver.
//! - [`fault_proxy::FaultProxy`]: sits between the SDK and moto and answers chosen requests with
//!   5xx errors a set number of times.
//! - [`haproxy::Haproxy`]: Debian's HAProxy as the load balancer in front of several
//!   `audioproc serve` instances (health checks on `/readyz`, retries on another server).
//! - [`http_request`] and [`HttpConnection`]: small HTTP/1.1 clients for tests that talk to
//!   these servers directly ([`http`]).
//!
//! Clients and processes (the AWS SDK, blocking):
//!
//! - [`s3_client::S3`] and [`sqs_client::Sqs`]: set up inputs and inspect outputs in moto.
//! - [`aws_env::aws_command`]: a `Command` for a real binary, with the environment that points
//!   its SDK at moto.
//! - [`peak_rss_kib`]: a process's peak resident memory (`VmHWM`).
//! - [`lambda_process::Lambda`]: the real `audioproc-lambda` binary behind its own Runtime API.
//! - [`s3_events`]: S3 event notifications as S3 sends them.
//!
//! Template checks:
//!
//! - [`cfn_lint::assert_clean`]: cfn-lint 1.51 finds nothing in a template.
//! - [`yaml_tree`]: the templates' block-style YAML read into a tree (block scalars such as user
//!   data kept whole).
//! - [`systemd_unit`]: the unit files the templates' user data writes, read as systemd does.
//! - [`loop_guard`]: proofs that a trigger never fires for a front end's own outputs, in the
//!   template and at run time.
//!
//! Everything here panics with a message on setup failures: it is test support.

#![warn(missing_docs)]

pub mod aws_env;
pub mod cfn_lint;
pub mod chromedriver;
pub mod fault_proxy;
pub mod haproxy;
pub mod http;
pub mod lambda_process;
pub mod loop_guard;
pub mod moto;
pub mod peak_rss;
pub mod postgres;
pub mod runtime_api;
pub mod s3_client;
pub mod s3_events;
pub mod sqs_client;
pub mod systemd_unit;
pub mod yaml_tree;

pub use aws_env::aws_command;
pub use fault_proxy::{FaultProxy, FaultRule};
pub use haproxy::Haproxy;
pub use http::{HttpConnection, HttpResponse, header, http_request, try_http_request};
pub use lambda_process::{Lambda, lambda_binary};
pub use loop_guard::CountingProxy;
pub use moto::MotoServer;
pub use peak_rss::peak_rss_kib;
pub use postgres::Postgres;
pub use runtime_api::{Outcome, RuntimeApi};
pub use s3_client::{S3, bucket};
pub use s3_events::{s3_event, s3_record};
pub use sqs_client::Sqs;

pub(crate) use http::{
    Request, Response, accept_loop, host_port, lock, read_request, read_response, reason_phrase, request_once,
    write_response,
};
