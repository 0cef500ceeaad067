//! The Lambda function `audioproc-lambda`: events naming S3 objects → normalised outputs.
//!
//! Accepted events (the shape is recognised from the payload):
//! - S3 event notifications (`Records[].eventSource = "aws:s3"`), invoked asynchronously: a
//!   retryable failure fails the invocation so Lambda retries it; a permanent one is recorded in
//!   `<prefix><key>.error.json` and the invocation succeeds (no retry storm).
//! - SQS messages carrying S3 notifications: per-message `batchItemFailures` for retryable
//!   failures and for messages that are not S3 notifications at all (poison: the queue's redrive
//!   policy moves them to the DLQ); permanent failures are recorded and the message completes.
//! - EventBridge "Object Created" events (`source = "aws.s3"`): as S3 notifications.
//! - S3 Batch Operations tasks (schema 1.0 and 2.0): one result per task, `Succeeded`,
//!   `TemporaryFailure` or `PermanentFailure`.
//! - `s3:TestEvent` (sent when a notification is configured): nothing to do.
//!
//! Before any S3 call, buckets outside `AUDIOPROC_ALLOWED_BUCKETS` are refused and keys under the
//! output prefix of the output bucket are ignored (our own outputs: no recursion).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod events;
pub mod handler;

pub use config::Config;
pub use handler::Handler;
