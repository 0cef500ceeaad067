//! Usage errors: a command line that asks for something impossible (a parameter out of range,
//! a bad glob, a destination inside the source, an existing report file). They exit with
//! status 2, like clap's own, and under `--json` are printed as one JSON document on stdout.

use audioproc_engine::Error as EngineError;

/// A command line that cannot be run as given.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit status of usage errors.
pub const EXIT_USAGE: u8 = 2;

/// Schema of the JSON document printed for a usage error under `--json`.
pub const ERROR_SCHEMA: &str = "audioproc.error/1";

/// Makes `e` a usage error (for `anyhow` chains).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Whether `e` is about the command line rather than the inputs: a [`UsageError`] or an
/// engine [`EngineError::InvalidParameter`] anywhere in its chain.
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<UsageError>().is_some()
            || matches!(c.downcast_ref::<EngineError>(), Some(EngineError::InvalidParameter(_)))
    })
}

/// The JSON document of a failed command (`{"schema", "ok": false, "error", "usage"}`).
pub fn error_document(e: &anyhow::Error) -> serde_json::Value {
    serde_json::json!({ "schema": ERROR_SCHEMA, "ok": false, "error": format!("{e:#}"), "usage": is_usage(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_parameters_and_usage_errors_are_usage_and_nothing_else_is() {
        assert!(is_usage(&usage("bad glob")));
        let invalid = anyhow::Error::from(EngineError::InvalidParameter("target".into()));
        assert!(is_usage(&invalid.context("checking the settings")));
        assert!(!is_usage(&anyhow::anyhow!("disk full")));
        assert_eq!(error_document(&usage("x"))["usage"], true);
    }
}
