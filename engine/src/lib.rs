//! audioproc's engine: streaming decode, EBU R128 / ITU-R BS.1770-4 loudness measurement,
//! loudness normalisation with a true-peak ceiling, resampling, channel mixing and encoding.
//!
//! Data flows one way: a [`decode::Decoder`] turns any supported file into planar `f32`
//! blocks; [`dsp`] stages (mixer, resampler, limiter) transform them; a
//! [`loudness::LoudnessMeter`] measures them and an [`encode::Encoder`] writes them.
//! [`analyze::analyze_path`] measures a whole file; [`process::process_file`] (or
//! [`process::process_file_with`], to choose the [`Threads`]) runs a whole normalise-and-convert
//! job from a [`process::ProcessingSpec`]; [`album`] measures the tracks of an album together
//! and gives the one gain every track's job applies. Configuration is passed in; there are no process-wide
//! switches. [`output::place`] puts a finished file under its final name safely. Nothing here
//! knows about AWS or command lines.

#![deny(missing_docs)]

pub mod album;
pub mod analyze;
mod block_worker;
pub mod channels;
pub mod decode;
pub mod dsp;
pub mod encode;
pub mod error;
mod handoff;
pub mod loudness;
pub mod output;
pub mod process;
pub mod replaygain;
pub mod report;
pub mod tags;
mod threads;

pub use album::{AlbumLoudness, TrackLoudness};
pub use analyze::{Analysis, AnalyzeOptions, analyze_path, analyze_source};
pub use channels::ChannelRole;
pub use decode::{Decoder, Limits, StreamInfo};
pub use encode::{OutputFormat, SampleFormat};
pub use error::{Error, Result, Warning};
pub use loudness::{LoudnessMeter, LoudnessReport, MeterOptions, MonoMode};
pub use process::{
    AlbumLevel, Overwrite, PeakMode, Preset, ProcessOptions, ProcessReport, ProcessingSpec, Progress,
    measure_for_album, process_file, process_file_with,
};
pub use threads::Threads;
