//! Errors of the web tier that are not answers to a request (those are [`crate::api::ApiError`]).

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The database could not be opened, migrated or queried.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The listener or a data directory.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The configuration is impossible.
    #[error("configuration: {0}")]
    Config(String),
}
