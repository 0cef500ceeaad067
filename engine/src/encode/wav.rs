//! RIFF WAVE writer: PCM 16/24-bit and IEEE float 32-bit.
//!
//! Mono and stereo 16-bit files use plain `WAVE_FORMAT_PCM`; 24-bit, float and anything with
//! more than two channels use `WAVE_FORMAT_EXTENSIBLE` with a channel mask, as Microsoft's
//! rules ask (and as symphonia, ffmpeg and sox read). Float files carry a `fact` chunk. The
//! RIFF and data sizes (and the `fact` frame count) are written as 0 first and patched by
//! [`WavWriter::finish`]; data that would pass the 4 GiB RIFF limit is refused with
//! [`Error::LimitExceeded`] before it is written.

use std::io::{BufWriter, Seek, SeekFrom, Write};

use super::dither::Quantizer;
use super::{EncodeOptions, SampleFormat, unbuffer};
use crate::channels::{ChannelRole, default_layout};
use crate::error::{Error, Result};

/// Largest data chunk: the RIFF size (u32) must also cover the header.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 256;

// Speaker position bits of WAVEFORMATEXTENSIBLE's dwChannelMask.
const FL: u32 = 0x1;
const FR: u32 = 0x2;
const FC: u32 = 0x4;
const LFE: u32 = 0x8;
const BL: u32 = 0x10;
const BR: u32 = 0x20;
const BC: u32 = 0x100;
const SL: u32 = 0x200;
const SR: u32 = 0x400;

/// The conventional mask for `n` channels in [`default_layout`] order.
fn standard_mask(n: usize) -> u32 {
    match n {
        1 => FC,
        2 => FL | FR,
        3 => FL | FR | FC,
        4 => FL | FR | BL | BR,
        5 => FL | FR | FC | BL | BR,
        6 => FL | FR | FC | LFE | BL | BR,
        7 => FL | FR | FC | LFE | BC | SL | SR,
        8 => FL | FR | FC | LFE | BL | BR | SL | SR,
        _ => 0,
    }
}

/// The channel mask for a layout. The default layout for the count gets the standard mask;
/// another layout gets positions assigned in order (surrounds: back, then side) if they come out
/// in ascending bit order as WAV requires, else the standard mask for the count.
pub fn channel_mask(layout: &[ChannelRole]) -> u32 {
    if layout == default_layout(layout.len()).as_slice() {
        return standard_mask(layout.len());
    }
    let mut surrounds = [BL, BR, SL, SR].into_iter();
    let mut others = [BC, 0x40, 0x80, 0x800, 0x1000, 0x2000].into_iter();
    let mut mask = 0u32;
    let mut last = 0u32;
    for role in layout {
        let bit = match role {
            ChannelRole::Mono | ChannelRole::Center => Some(FC),
            ChannelRole::Left => Some(FL),
            ChannelRole::Right => Some(FR),
            ChannelRole::Lfe => Some(LFE),
            ChannelRole::Surround => surrounds.next(),
            _ => others.next(),
        };
        match bit {
            Some(b) if b > last => {
                mask |= b;
                last = b;
            }
            _ => return standard_mask(layout.len()),
        }
    }
    mask
}

/// Streaming WAV writer.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    out: BufWriter<W>,
    format: SampleFormat,
    quantizer: Quantizer,
    channels: usize,
    /// Position of the `RIFF` tag in the sink.
    start: u64,
    /// Offset of the data chunk's size field from `start`.
    data_size_at: u64,
    /// Offset of the `fact` chunk's frame count from `start`, for float files.
    fact_at: Option<u64>,
    data_bytes: u64,
    scratch: Vec<i32>,
    bytes: Vec<u8>,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Writes the header for `layout.len()` channels at `sample_rate`.
    ///
    /// # Errors
    /// [`Error::Io`] when the header cannot be written.
    pub fn new(options: &EncodeOptions, sample_rate: u32, layout: &[ChannelRole], mut sink: W) -> Result<Self> {
        let start = sink.stream_position()?;
        let channels = layout.len();
        let format = options.sample_format;
        let bits = format.bits();
        let block_align = (channels as u32 * bits / 8) as u16;
        let is_float = format == SampleFormat::F32;
        let extensible = channels > 2 || bits > 16;
        let tag: u16 = if is_float { 3 } else { 1 };

        let mut fmt = Vec::with_capacity(40);
        fmt.extend(if extensible { 0xFFFEu16 } else { tag }.to_le_bytes());
        fmt.extend((channels as u16).to_le_bytes());
        fmt.extend(sample_rate.to_le_bytes());
        fmt.extend(sample_rate.saturating_mul(u32::from(block_align)).to_le_bytes());
        fmt.extend(block_align.to_le_bytes());
        fmt.extend((bits as u16).to_le_bytes());
        if extensible {
            fmt.extend(22u16.to_le_bytes());
            fmt.extend((bits as u16).to_le_bytes()); // valid bits per sample
            fmt.extend(channel_mask(layout).to_le_bytes());
            // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT.
            fmt.extend(u32::from(tag).to_le_bytes());
            fmt.extend([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]);
        } else if is_float {
            fmt.extend(0u16.to_le_bytes());
        }

        let mut head = Vec::with_capacity(80);
        head.extend(b"RIFF");
        head.extend(0u32.to_le_bytes());
        head.extend(b"WAVE");
        head.extend(b"fmt ");
        head.extend((fmt.len() as u32).to_le_bytes());
        head.extend(&fmt);
        let mut fact_at = None;
        if is_float {
            head.extend(b"fact");
            head.extend(4u32.to_le_bytes());
            fact_at = Some(head.len() as u64);
            head.extend(0u32.to_le_bytes());
        }
        head.extend(b"data");
        let data_size_at = head.len() as u64;
        head.extend(0u32.to_le_bytes());

        let mut out = BufWriter::with_capacity(1 << 16, sink);
        out.write_all(&head)?;
        let bits_q = if is_float { 16 } else { bits };
        let dither = options.dither && !is_float;
        Ok(WavWriter {
            out,
            format,
            quantizer: Quantizer::new(bits_q, dither),
            channels,
            start,
            data_size_at,
            fact_at,
            data_bytes: 0,
            scratch: Vec::new(),
            bytes: Vec::new(),
        })
    }

    /// Appends one planar block.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] when the file would pass 4 GiB; [`Error::Io`].
    pub fn write(&mut self, block: &[Vec<f32>]) -> Result<()> {
        let n = block.first().map_or(0, Vec::len);
        let add = (n * self.channels) as u64 * u64::from(self.format.bits() / 8);
        if self.data_bytes + add > MAX_DATA_BYTES {
            return Err(Error::LimitExceeded {
                what: "WAV data size (bytes)",
                value: self.data_bytes + add,
                limit: MAX_DATA_BYTES,
            });
        }
        self.bytes.clear();
        self.bytes.reserve(add as usize);
        match self.format {
            SampleFormat::F32 => {
                for i in 0..n {
                    for p in block {
                        let x = p[i];
                        let x = if x.is_finite() { x } else { super::sanitize(x) };
                        self.bytes.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
            SampleFormat::I16 => {
                self.quantizer.quantize_interleaved(block, &mut self.scratch);
                self.bytes.resize(self.scratch.len() * 2, 0);
                for (b, &v) in self.bytes.chunks_exact_mut(2).zip(&self.scratch) {
                    b.copy_from_slice(&(v as i16).to_le_bytes());
                }
            }
            SampleFormat::I24 => {
                self.quantizer.quantize_interleaved(block, &mut self.scratch);
                self.bytes.resize(self.scratch.len() * 3, 0);
                for (b, &v) in self.bytes.chunks_exact_mut(3).zip(&self.scratch) {
                    b.copy_from_slice(&v.to_le_bytes()[..3]);
                }
            }
        }
        self.out.write_all(&self.bytes)?;
        self.data_bytes += add;
        Ok(())
    }

    /// Pads the data chunk to an even length, patches the sizes and returns the sink.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn finish(mut self) -> Result<W> {
        if self.data_bytes % 2 == 1 {
            self.out.write_all(&[0])?;
        }
        let end = self.out.stream_position()?;
        let riff_size = (end - self.start - 8) as u32;
        self.out.seek(SeekFrom::Start(self.start + 4))?;
        self.out.write_all(&riff_size.to_le_bytes())?;
        if let Some(at) = self.fact_at {
            let frames = self.data_bytes / (self.channels as u64 * 4);
            self.out.seek(SeekFrom::Start(self.start + at))?;
            self.out.write_all(&(frames as u32).to_le_bytes())?;
        }
        self.out.seek(SeekFrom::Start(self.start + self.data_size_at))?;
        self.out.write_all(&(self.data_bytes as u32).to_le_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        unbuffer(self.out)
    }
}
