//! audioproc's engine: streaming decode and EBU R128 / ITU-R BS.1770-4 loudness measurement.
//!
//! Data flows one way: a [`decode::Decoder`] turns any supported file into planar `f32`
//! blocks, and a [`loudness::LoudnessMeter`] consumes them. [`analyze::analyze_path`] runs the
//! two over a whole file. Nothing here knows about AWS or command lines.

#![deny(missing_docs)]

pub mod analyze;
pub mod channels;
pub mod decode;
pub mod dsp;
pub mod encode;
pub mod error;
pub mod loudness;

pub use analyze::{Analysis, AnalyzeOptions, analyze_path, analyze_source};
pub use channels::ChannelRole;
pub use decode::{Decoder, Limits, StreamInfo};
pub use error::{Error, Result, Warning};
pub use loudness::{LoudnessMeter, LoudnessReport, MeterOptions, MonoMode};
