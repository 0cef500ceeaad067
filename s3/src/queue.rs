//! Thin SQS helpers for the queue worker: receive (long poll), extend or shorten a message's
//! visibility, delete, and a queue health check.
//!
//! The client is configured as [`crate::client_from_env`]'s: the standard chain, the same
//! timeouts and retries; `AWS_ENDPOINT_URL_SQS` or `AWS_ENDPOINT_URL` point it at a local
//! server (the queue URL names the queue; requests go to the endpoint).

use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use crate::client::shared_config;
use crate::error::S3Error;

/// The SQS client type used throughout.
pub type SqsClient = aws_sdk_sqs::Client;

/// The longest long poll SQS allows.
pub const LONG_POLL: Duration = Duration::from_secs(20);
/// The most messages one receive returns.
pub const MAX_MESSAGES_PER_RECEIVE: usize = 10;
/// The longest visibility timeout SQS allows (12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// An SQS client from the standard chain, with [`crate::client`]'s timeouts and retries.
pub async fn sqs_client_from_env() -> SqsClient {
    SqsClient::new(&shared_config().await)
}

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `MessageId`.
    pub id: String,
    /// The receipt handle of this receive: what visibility changes and the delete need.
    pub receipt_handle: String,
    /// The body (for S3 → SQS, an S3 event notification).
    pub body: String,
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    pub receive_count: u32,
}

/// Seconds as SQS takes them, clamped to what it allows.
fn seconds(d: Duration) -> i32 {
    d.min(MAX_VISIBILITY).as_secs() as i32
}

/// Classifies an SQS error as [`S3Error::from_sdk`] does, also counting SQS's own throttling
/// codes as retryable.
fn sqs_error<E>(what: &str, err: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> S3Error
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + 'static,
{
    let mut e = S3Error::from_sdk(what, err);
    if let Some(code) = aws_sdk_sqs::error::ProvideErrorMetadata::code(err)
        && matches!(code, "RequestThrottled" | "ThrottlingException" | "KmsThrottled" | "ServiceUnavailable")
    {
        e.kind = crate::error::FailureKind::Retryable;
    }
    e
}

/// Receives up to `max` (1–10) messages from `queue_url`, waiting up to `wait` (at most 20 s)
/// for the first; each is hidden from other receivers for `visibility`. An empty list when
/// none arrived in time.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`] (a missing queue is permanent).
pub async fn receive(
    client: &SqsClient,
    queue_url: &str,
    max: usize,
    wait: Duration,
    visibility: Duration,
) -> Result<Vec<Received>, S3Error> {
    let out = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max.clamp(1, MAX_MESSAGES_PER_RECEIVE) as i32)
        .wait_time_seconds(seconds(wait.min(LONG_POLL)))
        .visibility_timeout(seconds(visibility))
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|e| sqs_error(&format!("ReceiveMessage {queue_url}"), &e))?;
    Ok(out
        .messages()
        .iter()
        .filter_map(|m| {
            let receive_count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            Some(Received {
                id: m.message_id()?.to_owned(),
                receipt_handle: m.receipt_handle()?.to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                receive_count,
            })
        })
        .collect())
}

/// Hides the message of `receipt_handle` for `visibility` from now on (longer: a heartbeat
/// while it is processed; shorter: let it reappear soon for a retry; zero: at once).
///
/// # Errors
/// As classified by [`S3Error::from_sdk`]; a message that is no longer in flight (deleted, or
/// its visibility ran out and someone else received it) is a permanent error.
pub async fn change_visibility(
    client: &SqsClient,
    queue_url: &str,
    receipt_handle: &str,
    visibility: Duration,
) -> Result<(), S3Error> {
    client
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(seconds(visibility))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sqs_error(&format!("ChangeMessageVisibility {queue_url}"), &e))
}

/// Deletes the message of `receipt_handle`: it is done.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn delete(client: &SqsClient, queue_url: &str, receipt_handle: &str) -> Result<(), S3Error> {
    client
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sqs_error(&format!("DeleteMessage {queue_url}"), &e))
}

/// `ApproximateNumberOfMessages` of `queue_url`: proves the queue exists and is readable with
/// these credentials.
///
/// # Errors
/// As classified by [`S3Error::from_sdk`].
pub async fn approximate_backlog(client: &SqsClient, queue_url: &str) -> Result<u64, S3Error> {
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| sqs_error(&format!("GetQueueAttributes {queue_url}"), &e))?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}
