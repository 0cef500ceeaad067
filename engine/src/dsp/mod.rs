//! Sample-domain stages between the decoder and the encoder: channel mixing, gain, the
//! true-peak limiter and resampling.
//!
//! Every stage is a [`Stage`]: planar `f32` blocks in, planar `f32` blocks out, any block size,
//! latency compensated inside the stage, so the frames that come out of `process` + `finish`
//! line up with the frames that went in (a resampler emits `round(frames × ratio)` frames).

pub mod limiter;
pub mod mix;
pub mod resample;

pub use limiter::{LimiterOptions, TruePeakLimiter};
pub use mix::ChannelMixer;
pub use resample::Resampler;

/// One streaming processing stage.
///
/// Contract: `input` holds one plane per input channel, all of the same length (possibly 0).
/// The stage appends whatever output frames are ready to `output` (one plane per output
/// channel, all grown by the same count; the caller clears them between calls). After the last
/// block the caller calls [`Stage::finish`] once, which appends the remaining frames.
pub trait Stage {
    /// Number of output channels.
    fn output_channels(&self) -> usize;
    /// Consumes one block and appends the output frames that are ready.
    fn process(&mut self, input: &[Vec<f32>], output: &mut [Vec<f32>]);
    /// Flushes the stage's delay line: appends every frame still held.
    fn finish(&mut self, output: &mut [Vec<f32>]);
}
