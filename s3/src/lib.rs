//! S3 glue for audioproc: one place for every S3 call the Lambda function, the CLI and the batch
//! job make.
//!
//! - [`client`] builds an S3 client from the standard AWS configuration chain, with timeouts,
//!   retries and `AWS_ENDPOINT_URL` (path-style) for S3-compatible servers.
//! - [`object`] streams an object into a temporary file and uploads a file (multipart above
//!   8 MiB, aborted on any failure, so a failed upload leaves no object).
//! - [`presign`] signs URLs that clients send to S3 themselves, and [`direct_upload`] makes the
//!   calls S3 cannot presign for their multipart uploads (create, list parts, complete, abort).
//! - [`notification`] reads S3 event notifications into the objects they name.
//! - [`queue`] receives, extends and deletes SQS messages for the queue worker.
//! - [`store`] puts S3 buckets and local directories behind one [`store::ObjectStore`] trait.
//! - [`job`] is the one per-object job every front end runs (Lambda, worker, batch, process):
//!   source object → normalised output with its [`metadata`] and JSON report [`sidecar`],
//!   idempotent on the source's identity and the spec, ending in one typed [`job::Outcome`].
//!
//! The DSP never sees an AWS type: the job fetches to a local file, calls
//! [`audioproc_engine::process_file_with`] on a blocking thread and publishes the result.

// Unit tests may unwrap: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod digest;
pub mod direct_upload;
pub mod error;
pub mod job;
pub mod location;
pub mod metadata;
pub mod notification;
pub mod object;
pub mod presign;
pub mod queue;
pub mod sidecar;
pub mod store;
pub mod work_dir;

pub use client::{S3Client, client_from_env};
pub use error::{FailureKind, S3Error};
pub use job::{Destination, Existing, Job, Object, Outcome, Policy};
pub use location::{ObjectRef, S3Url, decode_event_key, output_key};
pub use store::{Cancel, LocalStore, ObjectStore, S3Store};
