//! Streaming FLAC writer (16/24-bit) over libFLAC, the reference encoder (`audioproc-libflac`).
//!
//! Samples are quantised here (with the same dither as every integer output) and handed to
//! libFLAC interleaved; libFLAC writes the frames, an 8 KiB PADDING block after STREAMINFO (room
//! for tags added later without rewriting the file, as `flac` leaves), and on
//! [`FlacWriter::finish`] rewrites STREAMINFO with the minimum/maximum frame size, the total
//! sample count and the MD5 of the samples. The compression level is `flac`'s (0 fastest … 8
//! smallest, default 5: [`super::EncodeOptions::flac_level`]); with helper threads libFLAC
//! encodes frames on a second thread too. The stream is the same whatever the thread count.

use std::io::{BufWriter, Seek, Write};

use audioproc_libflac::{FlacEncoder, Settings};

use super::dither::Quantizer;
use super::{EncodeOptions, SampleFormat, unbuffer};
use crate::error::{Error, Result};
use crate::threads::Threads;

/// Bytes of the PADDING metadata block.
const PADDING: u32 = 8192;

/// Largest total sample count STREAMINFO can hold (36 bits).
const MAX_TOTAL_SAMPLES: u64 = (1 << 36) - 1;

/// Highest compression level (`flac -8`).
pub const MAX_LEVEL: u8 = 8;

/// Threads libFLAC uses for one stream when the job may use helper threads: the caller's (the
/// encoder thread of a pipelined pass) and one more.
const PIPELINED_THREADS: u32 = 2;

/// Streaming FLAC writer.
#[derive(Debug)]
pub struct FlacWriter<W: Write + Seek> {
    encoder: FlacEncoder<BufWriter<W>>,
    quantizer: Quantizer,
    total_frames: u64,
    scratch: Vec<i32>,
}

impl From<audioproc_libflac::Error> for Error {
    fn from(e: audioproc_libflac::Error) -> Self {
        match e {
            audioproc_libflac::Error::Io(io) => Error::Io(io),
            e => Error::Encode(e.to_string()),
        }
    }
}

impl<W: Write + Seek> FlacWriter<W> {
    /// Writes `fLaC`, a provisional STREAMINFO and the PADDING block.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for F32, a rate FLAC cannot carry or a level over 8;
    /// [`Error::Io`]; [`Error::Encode`] when libFLAC cannot start.
    pub fn new(options: &EncodeOptions, sample_rate: u32, channels: usize, sink: W, threads: Threads) -> Result<Self> {
        let bits = match options.sample_format {
            SampleFormat::I16 => 16,
            SampleFormat::I24 => 24,
            SampleFormat::F32 => {
                return Err(Error::InvalidParameter("FLAC carries 16 or 24-bit integers, not 32-bit float".to_owned()));
            }
        };
        if sample_rate >= 1 << 20 {
            return Err(Error::InvalidParameter(format!("FLAC cannot carry {sample_rate} Hz")));
        }
        if options.flac_level > MAX_LEVEL {
            return Err(Error::InvalidParameter(format!(
                "FLAC compression level {} is not 0 ..= {MAX_LEVEL}",
                options.flac_level
            )));
        }
        let settings = Settings {
            compression_level: u32::from(options.flac_level),
            threads: if threads == Threads::Pipelined { PIPELINED_THREADS } else { 1 },
            padding: PADDING,
            ..Settings::new(sample_rate, channels as u32, bits)
        };
        let encoder = FlacEncoder::new(&settings, BufWriter::with_capacity(1 << 16, sink))?;
        Ok(FlacWriter {
            encoder,
            quantizer: Quantizer::new(bits, options.dither),
            total_frames: 0,
            scratch: Vec::new(),
        })
    }

    /// Appends one planar block.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`], [`Error::LimitExceeded`] past 2^36 frames.
    pub fn write(&mut self, block: &[Vec<f32>]) -> Result<()> {
        let n = block.first().map_or(0, Vec::len) as u64;
        if self.total_frames + n > MAX_TOTAL_SAMPLES {
            return Err(Error::LimitExceeded {
                what: "FLAC stream length (frames)",
                value: self.total_frames + n,
                limit: MAX_TOTAL_SAMPLES,
            });
        }
        self.total_frames += n;
        self.quantizer.quantize_interleaved(block, &mut self.scratch);
        self.encoder.write_interleaved(&self.scratch)?;
        Ok(())
    }

    /// Encodes what is left, completes STREAMINFO and returns the sink.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`].
    pub fn finish(self) -> Result<W> {
        unbuffer(self.encoder.finish()?)
    }
}
