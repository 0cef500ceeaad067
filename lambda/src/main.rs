//! `audioproc-lambda`: the Lambda function binary (the `bootstrap` of a `provided.al2023`
//! function). Configuration: the `AUDIOPROC_*` environment variables (see the README).
// The S3 job's futures nest deeply (SDK operations inside the job inside the handler).
#![recursion_limit = "256"]

use std::sync::Arc;

use audioproc_lambda::handler::deadline_instant;
use audioproc_lambda::{Config, Handler};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from_env().map_err(|e| {
        tracing::error!(error = %e, "bad configuration");
        e
    })?;
    let client = audioproc_s3::client_from_env().await;
    tracing::info!(
        output_bucket = ?config.output_bucket, output_prefix = %config.output_prefix,
        spec = %config.spec.canonical(), "ready"
    );
    let handler = Arc::new(Handler::new(client, config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        async move {
            let deadline = deadline_instant(event.context.deadline);
            handler.handle(event.payload, &event.context.request_id, Some(deadline)).await
        }
    }))
    .await
}
