//! The S3 client: the standard AWS configuration chain plus what a batch/Lambda job needs.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

/// The S3 client type used throughout.
pub type S3Client = aws_sdk_s3::Client;

/// Connecting to S3 must take no longer than this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One attempt of an operation (one part upload, one HEAD) must take no longer than this.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// One operation, retries included, must take no longer than this.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
/// Attempts per operation (the SDK's standard retry mode: throttling and 5xx, with backoff).
pub const MAX_ATTEMPTS: u32 = 4;

/// A client from the standard chain: credentials from the environment, profile, web identity or
/// instance/task role; region from the environment or profile (us-east-1 when none is set).
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` (read by the chain) point it at an S3-compatible
/// server; then path-style addressing is used and checksums are only sent where required,
/// which local servers handle. Timeouts and retries as the constants above.
pub async fn client_from_env() -> S3Client {
    let shared = shared_config().await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    if custom_endpoint().is_some() {
        config = config
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    S3Client::from_conf(config.build())
}

/// The shared configuration every client of this crate starts from: the standard chain
/// (credentials, region defaulting to us-east-1, `AWS_ENDPOINT_URL` and the service-specific
/// `AWS_ENDPOINT_URL_<SERVICE>`) with the timeouts and retries above.
pub async fn shared_config() -> aws_config::SdkConfig {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    aws_config::defaults(BehaviorVersion::v2026_01_12())
        .region(region)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// The S3 endpoint set in the environment, if any (never from an event).
pub fn custom_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}
