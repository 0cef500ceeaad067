//! The engine's error type.

use std::fmt;

/// Everything that can go wrong while decoding or measuring one input.
///
/// Decode-error policy: a packet the codec cannot decode is skipped and counted (the result then
/// carries a warning) until [`crate::decode::Limits::max_corrupt_packets`] is exceeded; a decoder
/// reset is honoured by rebuilding the decoder; anything else ends the file with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input (or another file operation not covered by [`Error::Write`]) failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// Writing the output failed (a full disk, a file system gone read-only).
    #[error("write error: {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: std::path::PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The input holds no bytes at all.
    #[error("file is empty")]
    Empty,
    /// The input is not a recognised audio container, or has no decodable audio track.
    #[error("unsupported input: {reason}")]
    Unsupported {
        /// What was not supported.
        reason: String,
    },
    /// The input claims or contains something invalid and decoding cannot go on.
    #[error("malformed input: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// A configured cap was exceeded (channels, sample rate, duration, packet size).
    #[error("{what} {value} exceeds the limit of {limit}")]
    LimitExceeded {
        /// Which quantity.
        what: &'static str,
        /// The value found in the input.
        value: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The decoded audio is longer than [`crate::decode::Limits::max_duration_s`]. Decoding
    /// stops at the limit, so the duration is the one the container declares when it declares a
    /// longer one, and otherwise only known to be more than the limit (`at_least`).
    #[error("{}", duration_message(*.duration_s, *.limit_s, *.at_least))]
    DurationExceeded {
        /// The audio's duration, seconds (with `at_least`: what was decoded before stopping).
        duration_s: f64,
        /// The configured limit, seconds.
        limit_s: f64,
        /// Whether the real duration is unknown and only more than `duration_s`.
        at_least: bool,
    },
    /// A value is below the supported minimum (e.g. a sample rate of 0).
    #[error("{what} {value} is below the minimum of {minimum}")]
    BelowMinimum {
        /// Which quantity.
        what: &'static str,
        /// The value found in the input.
        value: u64,
        /// The configured minimum.
        minimum: u64,
    },
    /// Too many packets failed to decode; the file is too damaged to trust a measurement.
    #[error("too many corrupt packets ({skipped} skipped, limit {limit})")]
    TooManyCorruptPackets {
        /// Packets skipped so far.
        skipped: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A dependency panicked while decoding this input; the input is treated as malformed.
    #[error("decoder crashed on this input: {message}")]
    DecoderPanic {
        /// The panic payload, if it was a string.
        message: String,
    },
    /// The output file exists and replacing it was not allowed.
    #[error("{} already exists (use --force to replace it)", path.display())]
    OutputExists {
        /// The output path.
        path: std::path::PathBuf,
    },
    /// The output exists and is not a regular file (a symbolic link, a FIFO, a device such as
    /// `/dev/null`, a socket, a directory): replacing it is refused and it is left as it was.
    #[error("{} is {kind}; only a regular file can be replaced", path.display())]
    NotARegularFile {
        /// The output path.
        path: std::path::PathBuf,
        /// What it is, in words (`"a character device"`, `"a symbolic link"` …).
        kind: &'static str,
    },
    /// An encoder failed (the codec library reported an error).
    #[error("encoder error: {0}")]
    Encode(String),
    /// A parameter passed by the caller is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The resampler refused a block (its library reported an error). The job stops: going on
    /// would put a gap of silence in the output.
    #[error("resampler {from_rate} -> {to_rate} Hz refused a block of {frames} frames: {reason}")]
    ResamplerRefused {
        /// Input sample rate, Hz.
        from_rate: u32,
        /// Output sample rate, Hz.
        to_rate: u32,
        /// Input frames in the refused block.
        frames: usize,
        /// What the resampling library said.
        reason: String,
    },
    /// A stage was fed a block with a different number of channel planes than it was built for.
    #[error("{stage} expects {expected} channel planes, was given {actual}")]
    ChannelMismatch {
        /// Which stage (`"limiter"`, `"mixer"`, …).
        stage: &'static str,
        /// The planes the stage was built for.
        expected: usize,
        /// The planes it was given.
        actual: usize,
    },
    /// The input file was written to while the job read it (its length or modification time
    /// changed between passes): the passes would not agree, so nothing is written.
    #[error("{} changed while being processed", path.display())]
    InputChanged {
        /// The input path.
        path: std::path::PathBuf,
    },
    /// The caller asked the job to stop ([`crate::ProcessOptions::cancel`]); nothing was
    /// written under the output's name.
    #[error("cancelled")]
    Cancelled,
}

/// Shorthand for results with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// "8.5 s is longer than the limit of 5 s".
fn duration_message(duration_s: f64, limit_s: f64, at_least: bool) -> String {
    let (d, l) = (seconds(duration_s), seconds(limit_s));
    if at_least {
        format!("the audio is longer than the limit of {l} s (stopped after {d} s)")
    } else {
        format!("{d} s is longer than the limit of {l} s")
    }
}

/// Seconds with at most two decimals, without trailing zeros: `8.5`, `5`, `0.25`.
fn seconds(s: f64) -> String {
    let text = format!("{s:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Renders a panic payload as text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A non-fatal problem found while decoding (the measurement is still given).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Corrupt packets were skipped.
    SkippedPackets(u64),
    /// NaN or infinite samples were replaced by zero.
    NonFiniteSamples(u64),
    /// The decoder asked for a reset mid-stream (stream parameters changed) and was rebuilt.
    DecoderReset(u64),
    /// The file ends in the middle of a packet; what came before it was measured.
    Truncated,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::SkippedPackets(n) => write!(f, "{n} corrupt packet(s) skipped"),
            Warning::NonFiniteSamples(n) => write!(f, "{n} NaN/infinite sample(s) replaced by silence"),
            Warning::DecoderReset(n) => write!(f, "decoder reset {n} time(s) mid-stream"),
            Warning::Truncated => write!(f, "file is truncated; the audio before the cut was measured"),
        }
    }
}
