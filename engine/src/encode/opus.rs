//! Ogg Opus writer (libopus through `opusic-c`), following RFC 7845.
//!
//! - 20 ms packets, `OPUS_APPLICATION_AUDIO`, complexity 10, VBR at
//!   [`EncodeOptions::opus_kbps`] for the whole stream.
//! - OpusHead: channel mapping family 0 for 1–2 channels; family 1 (Vorbis channel order) with
//!   the standard stream/coupling table for 3–8 channels. Input planes are taken in the
//!   WAV/SMPTE order of [`crate::channels::default_layout`] and reordered to the Vorbis order.
//! - Pre-skip = the encoder's lookahead (in 48 kHz samples). The stream is padded with silence
//!   until every input frame has come out of the encoder, and the last page's granule position
//!   is `pre_skip + frames × 48000 / rate`, so decoders trim the padding and return exactly the
//!   input length (at 48 kHz).
//! - OpusTags with the vendor string only; tags are added later by other tools.
//! - Ogg pages are written here (one logical stream, fixed serial number so outputs are
//!   reproducible); audio pages hold up to one second of packets.

use std::io::{BufWriter, Seek, Write};

use opusic_c::multistream::Config;
use opusic_c::{Application, Bitrate, Channels, SampleRate};

use super::{EncodeOptions, sanitize, unbuffer};
use crate::channels::vorbis_to_wav;
use crate::error::{Error, Result};

/// Ogg stream serial number of the Opus stream.
const SERIAL: u32 = 0x4f70_7573; // "Opus"

/// Packets per audio page (50 × 20 ms = 1 s).
const PACKETS_PER_PAGE: usize = 50;

/// Largest Opus packet we ask for (RFC 6716: 1275 bytes per frame and stream; 8 streams max).
const MAX_PACKET: usize = 1275 * 8;

/// Family-1 (Vorbis order) layout for 3..=8 channels: (streams, coupled streams, mapping).
/// The table of RFC 7845 §5.1.1.2 as libopus' surround encoder uses it.
pub(crate) fn family1_table(channels: usize) -> Option<(u8, u8, &'static [u8])> {
    Some(match channels {
        1 => (1, 0, &[0]),
        2 => (1, 1, &[0, 1]),
        3 => (2, 1, &[0, 2, 1]),
        4 => (2, 2, &[0, 1, 2, 3]),
        5 => (3, 2, &[0, 4, 1, 2, 3]),
        6 => (4, 2, &[0, 4, 1, 2, 3, 5]),
        7 => (4, 3, &[0, 4, 1, 2, 3, 5, 6]),
        8 => (5, 3, &[0, 6, 1, 2, 3, 4, 5, 7]),
        _ => return None,
    })
}

fn opus_error(e: opusic_c::ErrorCode) -> Error {
    Error::Encode(format!("opus: {e:?}"))
}

pub(crate) fn sample_rate(rate: u32) -> Option<SampleRate> {
    Some(match rate {
        8_000 => SampleRate::Hz8000,
        12_000 => SampleRate::Hz12000,
        16_000 => SampleRate::Hz16000,
        24_000 => SampleRate::Hz24000,
        48_000 => SampleRate::Hz48000,
        _ => return None,
    })
}

/// A single-stream or multistream libopus encoder.
enum OpusEncoder {
    Single(opusic_c::Encoder),
    Multi(opusic_c::multistream::Encoder),
}

macro_rules! multistream_encoder {
    ($n:literal, $streams:expr, $coupled:expr, $map:expr, $rate:expr) => {{
        let mut mapping = [0u8; $n];
        mapping.copy_from_slice($map);
        let config = Config::<$n>::try_new($streams, $coupled, mapping)
            .ok_or_else(|| Error::Encode("opus: bad multistream configuration".to_owned()))?;
        opusic_c::multistream::Encoder::new(config, $rate, Application::Audio).map_err(opus_error)?
    }};
}

impl OpusEncoder {
    fn new(channels: usize, rate: SampleRate) -> Result<Self> {
        Ok(match channels {
            1 => OpusEncoder::Single(
                opusic_c::Encoder::new(Channels::Mono, rate, Application::Audio).map_err(opus_error)?,
            ),
            2 => OpusEncoder::Single(
                opusic_c::Encoder::new(Channels::Stereo, rate, Application::Audio).map_err(opus_error)?,
            ),
            n => {
                let (s, c, map) = family1_table(n)
                    .ok_or_else(|| Error::InvalidParameter(format!("Opus carries 1 to 8 channels, not {n}")))?;
                OpusEncoder::Multi(match n {
                    3 => multistream_encoder!(3, s, c, map, rate),
                    4 => multistream_encoder!(4, s, c, map, rate),
                    5 => multistream_encoder!(5, s, c, map, rate),
                    6 => multistream_encoder!(6, s, c, map, rate),
                    7 => multistream_encoder!(7, s, c, map, rate),
                    _ => multistream_encoder!(8, s, c, map, rate),
                })
            }
        })
    }

    fn configure(&mut self, bits_per_second: u32) -> Result<()> {
        match self {
            OpusEncoder::Single(e) => {
                e.set_bitrate(Bitrate::Value(bits_per_second)).map_err(opus_error)?;
                e.set_complexity(10).map_err(opus_error)?;
                e.set_vbr(true).map_err(opus_error)?;
            }
            OpusEncoder::Multi(e) => {
                e.set_bitrate(Bitrate::Value(bits_per_second)).map_err(opus_error)?;
                e.set_complexity(10).map_err(opus_error)?;
                e.set_vbr(true).map_err(opus_error)?;
            }
        }
        Ok(())
    }

    fn lookahead(&mut self) -> Result<u32> {
        match self {
            OpusEncoder::Single(e) => e.get_look_ahead(),
            OpusEncoder::Multi(e) => e.get_look_ahead(),
        }
        .map_err(opus_error)
    }

    fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize> {
        match self {
            OpusEncoder::Single(e) => e.encode_float_to_slice(pcm, out),
            OpusEncoder::Multi(e) => e.encode_float_to_slice(pcm, out),
        }
        .map_err(opus_error)
    }
}

/// CRC-32 of Ogg pages (polynomial 0x04C11DB7, not reflected, no final xor).
const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04C1_1DB7 } else { r << 1 };
            k += 1;
        }
        t[i] = r;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

fn ogg_crc(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |crc, &b| (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize])
}

/// Assembles packets into Ogg pages of one logical stream.
#[derive(Debug, Default)]
struct OggPager {
    sequence: u32,
    segments: Vec<u8>,
    body: Vec<u8>,
    packets: usize,
    page: Vec<u8>,
}

impl OggPager {
    /// Whether `len` more bytes of packet fit on the current page.
    fn fits(&self, len: usize) -> bool {
        self.segments.len() + len / 255 < 255
    }

    fn push(&mut self, packet: &[u8]) {
        let mut left = packet.len();
        while left >= 255 {
            self.segments.push(255);
            left -= 255;
        }
        self.segments.push(left as u8);
        self.body.extend_from_slice(packet);
        self.packets += 1;
    }

    /// Writes the current page (even if it holds no packet) with `granule` and `flags`.
    fn flush(&mut self, out: &mut impl Write, granule: u64, flags: u8) -> Result<()> {
        self.page.clear();
        self.page.extend_from_slice(b"OggS");
        self.page.push(0);
        self.page.push(flags);
        self.page.extend_from_slice(&granule.to_le_bytes());
        self.page.extend_from_slice(&SERIAL.to_le_bytes());
        self.page.extend_from_slice(&self.sequence.to_le_bytes());
        self.page.extend_from_slice(&[0; 4]);
        self.page.push(self.segments.len() as u8);
        self.page.extend_from_slice(&self.segments);
        self.page.extend_from_slice(&self.body);
        let crc = ogg_crc(&self.page);
        self.page[22..26].copy_from_slice(&crc.to_le_bytes());
        out.write_all(&self.page)?;
        self.sequence += 1;
        self.segments.clear();
        self.body.clear();
        self.packets = 0;
        Ok(())
    }
}

/// Streaming Ogg Opus writer.
pub struct OpusWriter<W: Write + Seek> {
    out: BufWriter<W>,
    encoder: OpusEncoder,
    pager: OggPager,
    channels: usize,
    /// 48 kHz samples per input sample.
    ratio: u64,
    /// Samples per channel in one 20 ms packet, at the input rate.
    frame_size: usize,
    /// Encoder lookahead at the input rate.
    lookahead: u64,
    /// Interleaved input (Vorbis order) not yet encoded.
    pending: Vec<f32>,
    frames_in: u64,
    /// Samples per channel handed to the encoder so far (input rate), padding included.
    encoded: u64,
    /// Output buffer for one packet.
    packet: Vec<u8>,
    /// For each channel in Vorbis order, its input plane.
    order: &'static [usize],
}

impl<W: Write + Seek> std::fmt::Debug for OpusWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusWriter")
            .field("channels", &self.channels)
            .field("frames_in", &self.frames_in)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Seek> OpusWriter<W> {
    /// Configures libopus and writes the OpusHead and OpusTags pages.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a rate other than 8/12/16/24/48 kHz, more than 8
    /// channels or a bit rate outside 6–512 kb/s per channel; [`Error::Encode`], [`Error::Io`].
    pub fn new(options: &EncodeOptions, rate: u32, channels: usize, sink: W) -> Result<Self> {
        let sr = sample_rate(rate).ok_or_else(|| {
            Error::InvalidParameter(format!("Opus is written at 8, 12, 16, 24 or 48 kHz, not {rate} Hz"))
        })?;
        let (streams, coupled, mapping) = family1_table(channels)
            .ok_or_else(|| Error::InvalidParameter(format!("Opus carries 1 to 8 channels, not {channels}")))?;
        let kbps = options.opus_kbps;
        if kbps < 6 || kbps > 512 * channels as u32 {
            return Err(Error::InvalidParameter(format!("Opus bit rate {kbps} kb/s is out of range")));
        }
        let mut encoder = OpusEncoder::new(channels, sr)?;
        encoder.configure(kbps * 1000)?;
        let lookahead = u64::from(encoder.lookahead()?);
        let ratio = u64::from(48_000 / rate);
        let pre_skip = u16::try_from(lookahead * ratio)
            .map_err(|_| Error::Encode(format!("opus: lookahead {lookahead} too long")))?;

        let mut head = Vec::with_capacity(32);
        head.extend_from_slice(b"OpusHead");
        head.push(1);
        head.push(channels as u8);
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&rate.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        if channels <= 2 {
            head.push(0);
        } else {
            head.push(1);
            head.push(streams);
            head.push(coupled);
            head.extend_from_slice(mapping);
        }
        let vendor = format!("audioproc {} (libopus via opusic-c)", env!("CARGO_PKG_VERSION"));
        let mut tags = Vec::with_capacity(64);
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes()); // no user comments

        let mut out = BufWriter::with_capacity(1 << 16, sink);
        let mut pager = OggPager::default();
        pager.push(&head);
        pager.flush(&mut out, 0, 0x02)?;
        pager.push(&tags);
        pager.flush(&mut out, 0, 0)?;
        let frame_size = rate as usize / 50;
        Ok(OpusWriter {
            out,
            encoder,
            pager,
            channels,
            ratio,
            frame_size,
            lookahead,
            pending: Vec::with_capacity(frame_size * channels * 2),
            frames_in: 0,
            encoded: 0,
            packet: vec![0; MAX_PACKET],
            order: vorbis_to_wav(channels),
        })
    }

    /// Encodes one planar block.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`].
    pub fn write(&mut self, block: &[Vec<f32>]) -> Result<()> {
        let n = block.first().map_or(0, Vec::len);
        let full = self.frame_size * self.channels;
        for i in 0..n {
            for &c in self.order {
                let x = block.get(c).and_then(|p| p.get(i)).copied().unwrap_or(0.0);
                self.pending.push(sanitize(x));
            }
            if self.pending.len() == full {
                self.encode_pending()?;
            }
        }
        self.frames_in += n as u64;
        Ok(())
    }

    /// Encodes one packet from `pending` (which holds exactly one frame) and pages it.
    fn encode_pending(&mut self) -> Result<()> {
        let len = self.encoder.encode(&self.pending, &mut self.packet)?;
        self.pending.clear();
        if !self.pager.fits(len) || self.pager.packets >= PACKETS_PER_PAGE {
            let granule = self.encoded * self.ratio;
            self.pager.flush(&mut self.out, granule, 0)?;
        }
        self.pager.push(&self.packet[..len]);
        self.encoded += self.frame_size as u64;
        Ok(())
    }

    /// Pads the stream until every input frame is out of the encoder, writes the last page with
    /// the end-trimming granule position and returns the sink.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`].
    pub fn finish(mut self) -> Result<W> {
        let full = self.frame_size * self.channels;
        let needed = self.frames_in + self.lookahead;
        while self.encoded < needed || !self.pending.is_empty() || self.pager.packets == 0 {
            self.pending.resize(full, 0.0);
            self.encode_pending()?;
        }
        let granule = (self.lookahead + self.frames_in) * self.ratio;
        self.pager.flush(&mut self.out, granule, 0x04)?;
        unbuffer(self.out)
    }
}
