//! Encoders: planar `f32` blocks in, a finished file out.
//!
//! One [`Encoder`] type dispatches to the format's writer. Integer outputs are quantised here,
//! with TPDF dither when asked for (the pipeline asks whenever it reduces to 16 bits). Headers
//! that need totals (WAV sizes, FLAC STREAMINFO, the MP3 LAME tag, Ogg end trimming) are
//! written by [`Encoder::finish`], which must be called: dropping an encoder leaves an
//! unfinished file.
//!
//! One file per format: [`wav`], [`flac`], [`mp3`], [`opus`]; quantisation and dither in
//! [`dither`]. Every writer buffers its output internally (the sink may be a raw `File`) and
//! seeks back once, in `finish`, to complete its header.
//!
//! Zero frames: every format writes a valid, empty stream (WAV with an empty `data` chunk,
//! FLAC with only metadata, which `flac -t` accepts but symphonia refuses as too short; MP3
//! with only the LAME tag frame; Ogg Opus whose one padding packet is trimmed away). WAV, MP3
//! and Opus decode through [`crate::Decoder`] to 0 frames.

pub mod dither;
pub mod flac;
pub mod mp3;
pub mod opus;
pub mod wav;

use std::io::{Seek, Write};

use crate::channels::ChannelRole;
use crate::error::{Error, Result};
use crate::threads::Threads;

/// Output container + codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// RIFF WAVE, PCM 16/24-bit or IEEE float 32-bit.
    Wav,
    /// FLAC, 16 or 24-bit.
    Flac,
    /// MPEG-1/2 Layer III (LAME), CBR or VBR, with a LAME tag for gapless playback.
    Mp3,
    /// Opus (libopus) in Ogg.
    Opus,
}

impl OutputFormat {
    /// Every format, in documentation order.
    pub const ALL: [OutputFormat; 4] = [OutputFormat::Wav, OutputFormat::Flac, OutputFormat::Mp3, OutputFormat::Opus];

    /// The format for a file extension or a `--format` name (case-insensitive): `wav`/`wave`,
    /// `flac`, `mp3`, `opus`/`ogg`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "wav" | "wave" => Some(OutputFormat::Wav),
            "flac" => Some(OutputFormat::Flac),
            "mp3" => Some(OutputFormat::Mp3),
            "opus" | "ogg" => Some(OutputFormat::Opus),
            _ => None,
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Wav => "wav",
            OutputFormat::Flac => "flac",
            OutputFormat::Mp3 => "mp3",
            OutputFormat::Opus => "opus",
        }
    }

    /// The MIME type (for HTTP `Content-Type`).
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Wav => "audio/wav",
            OutputFormat::Flac => "audio/flac",
            OutputFormat::Mp3 => "audio/mpeg",
            OutputFormat::Opus => "audio/ogg; codecs=opus",
        }
    }

    /// Whether the codec is lossy (its output's true peak must be measured after encoding).
    pub fn is_lossy(self) -> bool {
        matches!(self, OutputFormat::Mp3 | OutputFormat::Opus)
    }

    /// The sample rate this format will be written at when the audio is at `rate`: `rate`
    /// itself when the format can carry it, else the rate to resample to (Opus: 48 kHz unless
    /// 8/12/16/24 kHz; MP3: the nearest MPEG rate not above 48 kHz).
    pub fn writable_rate(self, rate: u32) -> u32 {
        match self {
            OutputFormat::Wav | OutputFormat::Flac => rate,
            OutputFormat::Opus => match rate {
                8_000 | 12_000 | 16_000 | 24_000 | 48_000 => rate,
                _ => 48_000,
            },
            OutputFormat::Mp3 => {
                const RATES: [u32; 9] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];
                if RATES.contains(&rate) {
                    rate
                } else if rate > 48_000 {
                    // 88.2/176.4 k families go to 44.1 k, the rest to 48 k.
                    if rate.is_multiple_of(11_025) { 44_100 } else { 48_000 }
                } else {
                    RATES.iter().copied().filter(|&r| r >= rate).min().unwrap_or(48_000)
                }
            }
        }
    }

    /// Most channels the format can carry.
    pub fn max_channels(self) -> usize {
        match self {
            OutputFormat::Wav | OutputFormat::Flac | OutputFormat::Opus => 8,
            OutputFormat::Mp3 => 2,
        }
    }
}

/// Sample format of PCM outputs (WAV, FLAC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SampleFormat {
    /// 16-bit signed integer.
    I16,
    /// 24-bit signed integer.
    I24,
    /// 32-bit IEEE float (WAV only).
    F32,
}

impl SampleFormat {
    /// Bits per sample.
    pub fn bits(self) -> u32 {
        match self {
            SampleFormat::I16 => 16,
            SampleFormat::I24 => 24,
            SampleFormat::F32 => 32,
        }
    }
}

/// MP3 rate control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mp3Bitrate {
    /// Constant bit rate in kb/s (32–320).
    Cbr(u32),
    /// LAME VBR quality 0 (best) … 9.
    Vbr(u8),
}

/// How to encode.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeOptions {
    /// Container + codec.
    pub format: OutputFormat,
    /// Sample format for WAV/FLAC (ignored by lossy formats).
    pub sample_format: SampleFormat,
    /// Add TPDF dither (±1 LSB) before quantising to an integer format.
    pub dither: bool,
    /// MP3 rate control.
    pub mp3: Mp3Bitrate,
    /// Opus bit rate in kb/s for the whole stream.
    pub opus_kbps: u32,
    /// FLAC compression level, 0 (fastest) ..= 8 (smallest), as `flac -0` … `flac -8`.
    pub flac_level: u8,
}

impl EncodeOptions {
    /// Defaults for a format: 24-bit PCM, dither on, MP3 VBR quality 2, Opus 160 kb/s, FLAC
    /// level 5 (as `flac`'s default).
    pub fn new(format: OutputFormat) -> Self {
        EncodeOptions {
            format,
            sample_format: SampleFormat::I24,
            dither: true,
            mp3: Mp3Bitrate::Vbr(2),
            opus_kbps: 160,
            flac_level: 5,
        }
    }
}

/// The format writer behind an [`Encoder`].
#[derive(Debug)]
enum Writer<W: Write + Seek> {
    Wav(wav::WavWriter<W>),
    Flac(Box<flac::FlacWriter<W>>),
    Mp3(mp3::Mp3Writer<W>),
    Opus(opus::OpusWriter<W>),
}

/// A streaming encoder writing into `W`.
#[derive(Debug)]
pub struct Encoder<W: Write + Seek> {
    writer: Writer<W>,
    channels: usize,
    frames: u64,
}

impl<W: Write + Seek> Encoder<W> {
    /// Starts a stream of `layout.len()` channels at `sample_rate` Hz (which must be one the
    /// format can carry: see [`OutputFormat::writable_rate`]), free to use a helper thread
    /// ([`Threads::Pipelined`]; see [`Encoder::with_threads`]).
    ///
    /// # Errors
    /// As [`Encoder::with_threads`].
    pub fn new(options: &EncodeOptions, sample_rate: u32, layout: &[ChannelRole], sink: W) -> Result<Self> {
        Self::with_threads(options, sample_rate, layout, sink, Threads::Pipelined)
    }

    /// As [`Encoder::new`], choosing whether the codec may use a helper thread (FLAC encodes
    /// frames on two threads with [`Threads::Pipelined`]); the bytes are the same either way.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the format cannot carry the rate, channel count or
    /// sample format; [`Error::Io`] when the header cannot be written; [`Error::Encode`] when
    /// the codec library refuses the configuration.
    pub fn with_threads(
        options: &EncodeOptions,
        sample_rate: u32,
        layout: &[ChannelRole],
        sink: W,
        threads: Threads,
    ) -> Result<Self> {
        let channels = layout.len();
        let format = options.format;
        if channels == 0 {
            return Err(Error::InvalidParameter("an output needs at least one channel".to_owned()));
        }
        if channels > format.max_channels() {
            return Err(Error::InvalidParameter(format!(
                "{} carries at most {} channels, not {channels}",
                format.extension(),
                format.max_channels()
            )));
        }
        if sample_rate == 0 || format.writable_rate(sample_rate) != sample_rate {
            return Err(Error::InvalidParameter(format!(
                "{} cannot be written at {sample_rate} Hz (resample to {} Hz)",
                format.extension(),
                format.writable_rate(sample_rate.max(1))
            )));
        }
        let writer = match format {
            OutputFormat::Wav => Writer::Wav(wav::WavWriter::new(options, sample_rate, layout, sink)?),
            OutputFormat::Flac => {
                Writer::Flac(Box::new(flac::FlacWriter::new(options, sample_rate, channels, sink, threads)?))
            }
            OutputFormat::Mp3 => Writer::Mp3(mp3::Mp3Writer::new(options, sample_rate, channels, sink)?),
            OutputFormat::Opus => Writer::Opus(opus::OpusWriter::new(options, sample_rate, channels, sink)?),
        };
        Ok(Encoder { writer, channels, frames: 0 })
    }

    /// Encodes one block (one plane per channel, equal lengths; samples nominally in ±1.0,
    /// clipped when quantised; NaN is written as 0).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the block does not have one plane per channel of equal
    /// lengths; [`Error::Io`] on a write failure; [`Error::Encode`] when the codec fails;
    /// [`Error::LimitExceeded`] when a WAV file would pass 4 GiB.
    pub fn write(&mut self, block: &[Vec<f32>]) -> Result<()> {
        if block.len() != self.channels {
            return Err(Error::InvalidParameter(format!(
                "block has {} planes, the stream has {} channels",
                block.len(),
                self.channels
            )));
        }
        let n = block.first().map_or(0, Vec::len);
        if block.iter().any(|p| p.len() != n) {
            return Err(Error::InvalidParameter("planes of one block differ in length".to_owned()));
        }
        if n == 0 {
            return Ok(());
        }
        match &mut self.writer {
            Writer::Wav(w) => w.write(block)?,
            Writer::Flac(w) => w.write(block)?,
            Writer::Mp3(w) => w.write(block)?,
            Writer::Opus(w) => w.write(block)?,
        }
        self.frames += n as u64;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes the codec, completes the headers and returns the sink (not synced).
    ///
    /// # Errors
    /// As [`Encoder::write`].
    pub fn finish(self) -> Result<W> {
        match self.writer {
            Writer::Wav(w) => w.finish(),
            Writer::Flac(w) => w.finish(),
            Writer::Mp3(w) => w.finish(),
            Writer::Opus(w) => w.finish(),
        }
    }
}

/// Takes the sink back out of a `BufWriter`, flushing it.
pub(crate) fn unbuffer<W: Write>(buf: std::io::BufWriter<W>) -> Result<W> {
    buf.into_inner().map_err(|e| Error::Io(e.into_error()))
}

/// A sample made safe for a codec: NaN becomes 0, everything is clipped to ±1.
#[inline]
pub(crate) fn sanitize(x: f32) -> f32 {
    if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) }
}
