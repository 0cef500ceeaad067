//! Encoders: planar `f32` blocks in, a finished file out.
//!
//! One [`Encoder`] type dispatches to the format's writer. Integer outputs are quantised here,
//! with TPDF dither when asked for (the pipeline asks whenever it reduces to 16 bits). Headers
//! that need totals (WAV sizes, FLAC STREAMINFO, the MP3 LAME tag, Ogg end trimming) are
//! written by [`Encoder::finish`], which must be called: dropping an encoder leaves an
//! unfinished file.
//!
//! STUB: the contract below is fixed; the implementations are being written.

use std::io::{Seek, Write};

use crate::channels::ChannelRole;
use crate::error::{Error, Result};

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
                    if rate % 11_025 == 0 { 44_100 } else { 48_000 }
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
}

impl EncodeOptions {
    /// Defaults for a format: 24-bit PCM, dither on, MP3 VBR quality 2, Opus 160 kb/s.
    pub fn new(format: OutputFormat) -> Self {
        EncodeOptions { format, sample_format: SampleFormat::I24, dither: true, mp3: Mp3Bitrate::Vbr(2), opus_kbps: 160 }
    }
}

/// A streaming encoder writing into `W`.
#[derive(Debug)]
pub struct Encoder<W: Write + Seek> {
    sink: W,
    frames: u64,
}

impl<W: Write + Seek> Encoder<W> {
    /// Starts a stream of `layout.len()` channels at `sample_rate` Hz (which must be one the
    /// format can carry: see [`OutputFormat::writable_rate`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the format cannot carry the rate, channel count or
    /// sample format; [`Error::Io`] when the header cannot be written.
    pub fn new(options: &EncodeOptions, sample_rate: u32, layout: &[ChannelRole], sink: W) -> Result<Self> {
        let _ = (options, sample_rate, layout);
        Err(Error::InvalidParameter("encoders are not written yet".to_owned()))?;
        Ok(Encoder { sink, frames: 0 })
    }

    /// Encodes one block (one plane per channel, equal lengths; samples nominally in ±1.0,
    /// clipped when quantised).
    ///
    /// # Errors
    /// [`Error::Io`] on a write failure; [`Error::Encode`] when the codec fails.
    pub fn write(&mut self, block: &[Vec<f32>]) -> Result<()> {
        self.frames += block.first().map_or(0, |p| p.len() as u64);
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
    pub fn finish(mut self) -> Result<W> {
        self.sink.flush()?;
        Ok(self.sink)
    }
}
