//! Errors of S3 work, sorted by what the caller should do about them.

use std::fmt;

/// Whether retrying can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Network errors, timeouts, throttling, server errors: retry later.
    Retryable,
    /// Corrupt or unsupported audio, an object over the size cap, a refused bucket, a missing
    /// object, access denied: the same input will fail the same way.
    Permanent,
}

/// An error of an S3 operation or of the job around it.
#[derive(Debug, thiserror::Error)]
pub struct S3Error {
    /// Whether retrying can help.
    pub kind: FailureKind,
    /// What failed, for people.
    pub message: String,
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl S3Error {
    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        S3Error { kind: FailureKind::Permanent, message: message.into() }
    }

    /// A retryable failure.
    pub fn retryable(message: impl Into<String>) -> Self {
        S3Error { kind: FailureKind::Retryable, message: message.into() }
    }

    /// Whether retrying can help.
    pub fn is_retryable(&self) -> bool {
        self.kind == FailureKind::Retryable
    }

    /// Classifies an SDK error of operation `what`: throttling (429, `SlowDown`), server errors
    /// (5xx), timeouts, connection and response failures are retryable (the SDK has already
    /// retried them); any other 4xx is permanent.
    pub fn from_sdk<E>(what: &str, err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Self
    where
        E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        let message = format!("{what}: {}", one_line(err));
        match err {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let code = ctx.err().code().unwrap_or("");
                if status >= 500 || status == 429 || matches!(code, "SlowDown" | "Throttling" | "RequestTimeout") {
                    S3Error::retryable(message)
                } else {
                    S3Error::permanent(message)
                }
            }
            SdkError::ConstructionFailure(_) => S3Error::permanent(message),
            _ => S3Error::retryable(message),
        }
    }

    /// The HTTP status of a service error, if the error is one.
    pub fn status<E>(err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
        err.raw_response().map(|r| r.status().as_u16())
    }
}

/// Longest description of an SDK error kept in a message.
const MAX_DETAIL_CHARS: usize = 300;

/// An SDK error in one line: the AWS error code and message and the HTTP status for a service
/// error; otherwise the chain of causes, each said once (the SDK's debug output runs to
/// kilobytes).
pub fn one_line<E>(err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let text = match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().map_or_else(|| status_name(status).to_owned(), str::to_owned);
            match ctx.err().message() {
                Some(m) if !m.is_empty() => format!("{code}: {m} (HTTP {status})"),
                _ => format!("{code} (HTTP {status})"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        other => {
            let mut parts: Vec<String> = Vec::new();
            let mut cause: Option<&dyn std::error::Error> = Some(other);
            while let Some(c) = cause {
                let s = c.to_string();
                if !s.is_empty() && !parts.iter().any(|p| p.contains(&s) || s.contains(p.as_str())) {
                    parts.push(s);
                }
                cause = c.source();
            }
            parts.join(": ")
        }
    };
    let text = text.replace(['\n', '\r'], " ");
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The name of an HTTP status S3 answers without a body (HEAD requests).
fn status_name(status: u16) -> &'static str {
    match status {
        301 => "PermanentRedirect (the bucket is in another region)",
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NotFound",
        412 => "PreconditionFailed",
        500..=599 => "ServerError",
        _ => "Error",
    }
}

impl From<std::io::Error> for S3Error {
    /// Local I/O (the temporary files): retryable, it is not the input's fault.
    fn from(e: std::io::Error) -> Self {
        S3Error::retryable(format!("local I/O: {e}"))
    }
}
