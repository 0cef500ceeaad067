//! Sample-domain stages between the decoder and the encoder: channel mixing, gain, the
//! true-peak limiter and resampling, and the oversampling kernel the limiter shares with the
//! true-peak meter.
//!
//! Every stage is a [`Stage`]: planar `f32` blocks in, planar `f32` blocks out, any block size,
//! latency compensated inside the stage, so the frames that come out of `process` + `finish`
//! line up with the frames that went in (a resampler emits `round(frames × ratio)` frames).
//! A [`StageChain`] runs stages in order with their buffers.

pub mod chain;
pub mod gain;
pub mod limiter;
pub mod mix;
pub mod oversample;
pub mod resample;

pub use chain::StageChain;
pub use gain::Gain;
pub use limiter::{LimiterOptions, TruePeakLimiter};
pub use mix::ChannelMixer;
pub use resample::Resampler;

use crate::error::{Error, Result};

/// One streaming processing stage.
///
/// Contract: `input` holds one plane per input channel, all of the same length (possibly 0).
/// The stage appends whatever output frames are ready to `output` (one plane per output
/// channel, all grown by the same count; the caller clears them between calls). After the last
/// block the caller calls [`Stage::finish`] once, which appends the remaining frames.
///
/// A stage that cannot process a block says so with an error rather than emitting silence;
/// after an error the stream is broken and the stage should not be fed again.
pub trait Stage {
    /// Number of output channels.
    fn output_channels(&self) -> usize;
    /// Consumes one block and appends the output frames that are ready.
    ///
    /// # Errors
    /// [`Error::ChannelMismatch`] when `input` has fewer planes than the stage was built for;
    /// [`Error::ResamplerRefused`] when the resampling library refuses the block.
    fn process(&mut self, input: &[Vec<f32>], output: &mut [Vec<f32>]) -> Result<()>;
    /// Flushes the stage's delay line: appends every frame still held.
    ///
    /// # Errors
    /// As [`Stage::process`].
    fn finish(&mut self, output: &mut [Vec<f32>]) -> Result<()>;
}

/// Checks that a stage built for `expected` channels was given at least that many planes.
pub(crate) fn check_planes(stage: &'static str, expected: usize, input: &[Vec<f32>]) -> Result<()> {
    if input.len() < expected {
        return Err(Error::ChannelMismatch { stage, expected, actual: input.len() });
    }
    Ok(())
}
