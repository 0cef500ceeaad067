//! Sample-rate conversion with rubato.
//!
//! STUB: the contract below is fixed; the implementation is being written.

use super::Stage;
use crate::error::Result;

/// A streaming resampler: over a whole stream of `n` input frames, `process` + `finish` emit
/// exactly `round(n × to / from)` frames, the first aligned with the first input frame (the
/// filter delay is compensated).
#[derive(Debug)]
pub struct Resampler {
    channels: usize,
}

impl Resampler {
    /// Builds a resampler from `from_rate` to `to_rate` Hz for `channels` channels.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a zero rate or channel count.
    pub fn new(from_rate: u32, to_rate: u32, channels: usize) -> Result<Self> {
        let _ = (from_rate, to_rate);
        Ok(Resampler { channels })
    }

    /// Frames emitted in total for a stream of `input_frames` frames.
    pub fn output_frames_for(&self, input_frames: u64) -> u64 {
        input_frames
    }
}

impl Stage for Resampler {
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
