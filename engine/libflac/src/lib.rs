//! The reference FLAC encoder and decoder, libFLAC 1.5 (built from source by `libflac-sys`),
//! behind a small safe API: [`FlacEncoder`] takes interleaved integer samples and writes a
//! complete FLAC stream (STREAMINFO with the MD5 of the samples, the total sample count and the
//! frame sizes filled, an optional PADDING block) into any `Write + Seek` sink; [`FlacDecoder`]
//! reads one frame at a time from any `Read + Seek` source as planar `f32`.
//!
//! libFLAC is the encoder behind `flac -5`; using it gives the reference compression at the
//! reference speed, and its frame-level threads (`Settings::threads`) let one stream use more
//! than one core. This crate and `audioproc-simd` are the only ones of the workspace that may
//! use `unsafe`, this one only in its `ffi` module; everything it exports is safe.

mod ffi;

pub use ffi::{FlacDecoder, FlacEncoder, SeekPoint};

/// What a stream's STREAMINFO block says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels, 1 ..= 8.
    pub channels: u32,
    /// Bits per sample, 4 ..= 32.
    pub bits_per_sample: u32,
    /// Samples per channel, when STREAMINFO gives them (`None`: unknown).
    pub total_frames: Option<u64>,
    /// The smallest frame (samples per channel) any audio frame but the last holds.
    pub min_block_frames: u32,
    /// The largest frame (samples per channel) any audio frame holds.
    pub max_block_frames: u32,
}

/// How to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Samples per second, 1 ..= 1 048 575.
    pub sample_rate: u32,
    /// Channels, 1 ..= 8 (interleaved in WAV order, as FLAC stores them).
    pub channels: u32,
    /// Bits per sample, 4 ..= 32; every sample must fit.
    pub bits_per_sample: u32,
    /// Compression level, 0 (fastest) ..= 8 (smallest), as `flac -0` … `flac -8`.
    pub compression_level: u32,
    /// Threads libFLAC may use for this stream, 1 ..= 128 (1: all on the caller's thread).
    pub threads: u32,
    /// Bytes of the PADDING metadata block written after STREAMINFO (room for tags added later
    /// without rewriting the file); 0 writes none.
    pub padding: u32,
}

impl Settings {
    /// Settings as `flac -5`: compression level 5, one thread, 8 KiB of padding.
    pub fn new(sample_rate: u32, channels: u32, bits_per_sample: u32) -> Self {
        Settings { sample_rate, channels, bits_per_sample, compression_level: 5, threads: 1, padding: 8192 }
    }

    /// Checks every field's range.
    fn check(&self) -> Result<(), Error> {
        let checks: [(&str, u32, u32, u32); 5] = [
            ("sample rate", self.sample_rate, 1, 1_048_575),
            ("channel count", self.channels, 1, 8),
            ("bits per sample", self.bits_per_sample, 4, 32),
            ("compression level", self.compression_level, 0, 8),
            ("thread count", self.threads, 1, 128),
        ];
        for (what, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(Error::Settings(format!("{what} {value} is outside {min} ..= {max}")));
            }
        }
        Ok(())
    }

    /// The smallest and largest sample value of this bit depth.
    fn sample_range(&self) -> (i32, i32) {
        let max = ((1i64 << (self.bits_per_sample - 1)) - 1) as i32;
        (-max - 1, max)
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting out of range, or refused by libFLAC.
    #[error("FLAC settings: {0}")]
    Settings(String),
    /// The samples handed in are not whole frames or do not fit the bit depth.
    #[error("FLAC input: {0}")]
    Input(String),
    /// The sink failed (the first error it returned).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// libFLAC stopped (its state, e.g. a memory allocation error).
    #[error("FLAC encoder: {0}")]
    Encoder(String),
    /// The input is not a FLAC stream (no STREAMINFO before the audio or the end).
    #[error("not a FLAC stream (no STREAMINFO)")]
    NotFlac,
    /// libFLAC could not start or stopped decoding (out of memory), or a frame disagrees with
    /// STREAMINFO.
    #[error("FLAC decoder: {0}")]
    Decoder(String),
}
