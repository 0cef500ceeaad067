//! S3 glue for audioproc: one place for every S3 call the Lambda function, the CLI and the batch
//! job make.
//!
//! - [`client`] builds an S3 client from the standard AWS configuration chain, with timeouts,
//!   retries and `AWS_ENDPOINT_URL` (path-style) for S3-compatible servers.
//! - [`object`] streams an object into a temporary file and uploads a file (multipart above
//!   8 MiB, aborted on any failure, so a failed upload leaves no object).
//! - [`notification`] reads S3 event notifications into the objects they name.
//! - [`queue`] receives, extends and deletes SQS messages for the queue worker.
//! - [`job`] is the processing job on S3 objects: input → normalised output with its metadata and
//!   JSON report sidecar, idempotent on the source ETag and the spec.
//!
//! The DSP never sees an AWS type: the job downloads to a file, calls
//! [`audioproc_engine::process::process_file`] on a blocking thread and uploads the result.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod error;
pub mod job;
pub mod location;
pub mod notification;
pub mod object;
pub mod queue;

pub use client::{S3Client, client_from_env};
pub use error::{FailureKind, S3Error};
pub use location::{ObjectRef, S3Url, decode_event_key, output_key};
