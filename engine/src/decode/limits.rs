//! The decoder's caps against hostile or broken inputs, and the checks that apply them before
//! any buffer is sized from a value the input claims.

use crate::error::{Error, Result};

/// Caps that protect against hostile or broken inputs. All are checked before any buffer is
/// sized from a value the input claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Most channels accepted (default 8).
    pub max_channels: usize,
    /// Lowest sample rate accepted in Hz (default 8 000; K-weighting is defined from there).
    pub min_sample_rate: u32,
    /// Highest sample rate accepted in Hz (default 384 000).
    pub max_sample_rate: u32,
    /// Longest decoded duration accepted, in seconds (default 24 hours).
    pub max_duration_s: f64,
    /// Most frames one packet may claim to decode to (default 1 048 576).
    pub max_frames_per_packet: u64,
    /// Most corrupt packets skipped before the file is rejected (default 1 000).
    pub max_corrupt_packets: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_channels: 8,
            min_sample_rate: 8_000,
            max_sample_rate: 384_000,
            max_duration_s: 24.0 * 3600.0,
            max_frames_per_packet: 1 << 20,
            max_corrupt_packets: 1_000,
        }
    }
}

/// Checks a sample rate against the caps.
pub(super) fn check_rate(rate: u32, limits: &Limits) -> Result<()> {
    if rate < limits.min_sample_rate {
        return Err(Error::BelowMinimum {
            what: "sample rate (Hz)",
            value: u64::from(rate),
            minimum: u64::from(limits.min_sample_rate),
        });
    }
    if rate > limits.max_sample_rate {
        return Err(Error::LimitExceeded {
            what: "sample rate (Hz)",
            value: u64::from(rate),
            limit: u64::from(limits.max_sample_rate),
        });
    }
    Ok(())
}

/// Checks a channel count against the caps.
pub(super) fn check_channels(n: usize, limits: &Limits) -> Result<()> {
    if n == 0 {
        return Err(Error::Malformed { reason: "stream has no channels".to_owned() });
    }
    if n > limits.max_channels {
        return Err(Error::LimitExceeded { what: "channel count", value: n as u64, limit: limits.max_channels as u64 });
    }
    Ok(())
}
