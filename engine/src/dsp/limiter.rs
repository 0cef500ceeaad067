//! Look-ahead true-peak limiter.
//!
//! STUB: the contract below is fixed; the implementation is being written.

use super::Stage;
use crate::error::Result;

/// Limiter settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LimiterOptions {
    /// Ceiling in dBTP that the oversampled (true) peak of the output must not exceed.
    pub ceiling_dbtp: f64,
    /// Look-ahead in milliseconds (also the attack time).
    pub lookahead_ms: f64,
    /// Release time constant in milliseconds.
    pub release_ms: f64,
}

impl Default for LimiterOptions {
    fn default() -> Self {
        LimiterOptions { ceiling_dbtp: -1.0, lookahead_ms: 5.0, release_ms: 200.0 }
    }
}

/// A linked (same gain on every channel) look-ahead limiter on the true peak. Output frames
/// equal input frames, aligned with the input (the look-ahead delay is compensated).
#[derive(Debug)]
pub struct TruePeakLimiter {
    channels: usize,
    max_reduction_db: f64,
}

impl TruePeakLimiter {
    /// Builds a limiter for `channels` channels at `sample_rate`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a zero rate or channel count or a non-finite
    /// ceiling.
    pub fn new(sample_rate: u32, channels: usize, options: &LimiterOptions) -> Result<Self> {
        let _ = (sample_rate, options);
        Ok(TruePeakLimiter { channels, max_reduction_db: 0.0 })
    }

    /// Largest gain reduction applied so far, in dB (≥ 0).
    pub fn max_reduction_db(&self) -> f64 {
        self.max_reduction_db
    }
}

impl Stage for TruePeakLimiter {
    fn output_channels(&self) -> usize {
        self.channels
    }
    fn process(&mut self, input: &[Vec<f32>], output: &mut [Vec<f32>]) {
        for (o, i) in output.iter_mut().zip(input) {
            o.extend_from_slice(i);
        }
    }
    fn finish(&mut self, _output: &mut [Vec<f32>]) {}
}
