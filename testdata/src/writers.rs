//! Writers that turn a [`Signal`] into file bytes: WAV (PCM 8/16/24/32, float 32/64, extensible),
//! AIFF, CAF and FLAC. They build bytes in memory so tests can corrupt or truncate them.

use crate::signal::Signal;

/// A sample encoding for the PCM writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Unsigned 8-bit PCM (WAV convention).
    Pcm8,
    /// Signed 16-bit PCM.
    Pcm16,
    /// Signed 24-bit PCM.
    Pcm24,
    /// Signed 32-bit PCM.
    Pcm32,
    /// IEEE float, 32-bit.
    Float32,
    /// IEEE float, 64-bit.
    Float64,
}

impl Encoding {
    /// Bits per sample.
    pub fn bits(self) -> u16 {
        match self {
            Encoding::Pcm8 => 8,
            Encoding::Pcm16 => 16,
            Encoding::Pcm24 => 24,
            Encoding::Pcm32 | Encoding::Float32 => 32,
            Encoding::Float64 => 64,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Encoding::Float32 | Encoding::Float64)
    }
}

/// Quantizes `x` to a signed integer of `bits` bits (round to nearest, clamped).
pub fn quantize(x: f32, bits: u16) -> i32 {
    let scale = (1i64 << (bits - 1)) as f64;
    let v = (f64::from(x) * scale).round();
    v.clamp(-scale, scale - 1.0) as i32
}

fn push_sample(out: &mut Vec<u8>, x: f32, enc: Encoding, big_endian: bool) {
    let bytes: Vec<u8> = match enc {
        Encoding::Pcm8 => vec![(quantize(x, 8) + 128) as u8],
        Encoding::Pcm16 => (quantize(x, 16) as i16).to_le_bytes().to_vec(),
        Encoding::Pcm24 => quantize(x, 24).to_le_bytes()[..3].to_vec(),
        Encoding::Pcm32 => quantize(x, 32).to_le_bytes().to_vec(),
        Encoding::Float32 => x.to_le_bytes().to_vec(),
        Encoding::Float64 => f64::from(x).to_le_bytes().to_vec(),
    };
    if big_endian {
        out.extend(bytes.iter().rev());
    } else {
        out.extend(bytes);
    }
}

fn interleaved_bytes(sig: &Signal, enc: Encoding, big_endian: bool) -> Vec<u8> {
    let mut data = Vec::with_capacity(sig.frames() * sig.channels() * usize::from(enc.bits() / 8));
    for i in 0..sig.frames() {
        for p in &sig.planes {
            push_sample(&mut data, p[i], enc, big_endian);
        }
    }
    data
}

/// WAV options.
#[derive(Clone, Copy, Debug, Default)]
pub struct WavOptions {
    /// Write `WAVE_FORMAT_EXTENSIBLE` with this channel mask.
    pub extensible_mask: Option<u32>,
}

/// Writes a RIFF/WAVE file.
pub fn wav(sig: &Signal, enc: Encoding, opts: WavOptions) -> Vec<u8> {
    let data = interleaved_bytes(sig, enc, false);
    let channels = sig.channels() as u16;
    let block_align = channels * enc.bits() / 8;
    let format_tag: u16 = if enc.is_float() { 3 } else { 1 };
    let mut fmt = Vec::new();
    let tag = if opts.extensible_mask.is_some() { 0xFFFE } else { format_tag };
    fmt.extend(tag.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(sig.rate.to_le_bytes());
    fmt.extend((sig.rate * u32::from(block_align)).to_le_bytes());
    fmt.extend(block_align.to_le_bytes());
    fmt.extend(enc.bits().to_le_bytes());
    if let Some(mask) = opts.extensible_mask {
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(enc.bits().to_le_bytes()); // valid bits
        fmt.extend(mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUID.
        fmt.extend(format_tag.to_le_bytes());
        fmt.extend([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]);
    }
    let mut out = Vec::with_capacity(data.len() + 80);
    out.extend(b"RIFF");
    out.extend(((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
    out.extend(b"WAVE");
    out.extend(b"fmt ");
    out.extend((fmt.len() as u32).to_le_bytes());
    out.extend(&fmt);
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(&data);
    out
}

/// Byte offset of the `data` chunk's size field in a file from [`wav`] (for corrupting it).
pub fn wav_data_size_offset(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"data").map(|p| p + 4)
}

/// Encodes `rate` as an 80-bit IEEE 754 extended float (AIFF's sample rate field).
fn f80(rate: u32) -> [u8; 10] {
    let mut out = [0u8; 10];
    if rate == 0 {
        return out;
    }
    let exp = 31 - rate.leading_zeros();
    let mantissa = u64::from(rate) << (63 - exp);
    out[..2].copy_from_slice(&((16383 + exp) as u16).to_be_bytes());
    out[2..].copy_from_slice(&mantissa.to_be_bytes());
    out
}

/// Writes an AIFF file (big-endian signed PCM, 8/16/24/32 bits).
///
/// # Panics
/// For float encodings (AIFF-C would be needed).
pub fn aiff(sig: &Signal, enc: Encoding) -> Vec<u8> {
    assert!(!enc.is_float() && enc != Encoding::Pcm8, "aiff writer supports signed PCM 16/24/32");
    let data = interleaved_bytes(sig, enc, true);
    let mut comm = Vec::new();
    comm.extend((sig.channels() as u16).to_be_bytes());
    comm.extend((sig.frames() as u32).to_be_bytes());
    comm.extend(enc.bits().to_be_bytes());
    comm.extend(f80(sig.rate));
    let mut out = Vec::new();
    out.extend(b"FORM");
    out.extend(((4 + 8 + comm.len() + 8 + 8 + data.len()) as u32).to_be_bytes());
    out.extend(b"AIFF");
    out.extend(b"COMM");
    out.extend((comm.len() as u32).to_be_bytes());
    out.extend(&comm);
    out.extend(b"SSND");
    out.extend(((8 + data.len()) as u32).to_be_bytes());
    out.extend(0u32.to_be_bytes()); // offset
    out.extend(0u32.to_be_bytes()); // block size
    out.extend(&data);
    out
}

/// Writes a CAF file with linear PCM (little-endian integers or floats).
pub fn caf(sig: &Signal, enc: Encoding) -> Vec<u8> {
    assert!(enc != Encoding::Pcm8, "caf writer supports 16/24/32-bit PCM and floats");
    let data = interleaved_bytes(sig, enc, false);
    let mut out = Vec::new();
    out.extend(b"caff");
    out.extend(1u16.to_be_bytes());
    out.extend(0u16.to_be_bytes());
    // Audio description chunk.
    out.extend(b"desc");
    out.extend(32u64.to_be_bytes());
    out.extend(f64::from(sig.rate).to_be_bytes());
    out.extend(b"lpcm");
    let flags: u32 = if enc.is_float() { 1 } else { 0 } | 2; // float?, little-endian
    out.extend(flags.to_be_bytes());
    let bpf = sig.channels() as u32 * u32::from(enc.bits() / 8);
    out.extend(bpf.to_be_bytes()); // bytes per packet
    out.extend(1u32.to_be_bytes()); // frames per packet
    out.extend((sig.channels() as u32).to_be_bytes());
    out.extend(u32::from(enc.bits()).to_be_bytes());
    out.extend(b"data");
    out.extend((4 + data.len() as u64).to_be_bytes());
    out.extend(0u32.to_be_bytes()); // edit count
    out.extend(&data);
    out
}

/// Writes a FLAC stream (16 or 24 bits) with `flacenc`.
///
/// flacenc 0.5 writes the last (short) block's size as STREAMINFO's minimum block size, which
/// symphonia rejects (flacenc-rs #242); for a fixed-block-size stream the spec says minimum =
/// maximum, so that field is patched after encoding.
///
/// # Panics
/// If flacenc rejects the configuration (only 16/24 bits are supported here).
pub fn flac(sig: &Signal, bits: u16) -> Vec<u8> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    assert!(bits == 16 || bits == 24, "flac writer supports 16 or 24 bits");
    let samples: Vec<i32> = sig.interleaved().iter().map(|&x| quantize(x, bits)).collect();
    let config = flacenc::config::Encoder::default().into_verified().expect("default flacenc config is valid");
    let source =
        flacenc::source::MemSource::from_samples(&samples, sig.channels(), usize::from(bits), sig.rate as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size).expect("flacenc encodes");
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).expect("flacenc writes to memory");
    let mut bytes = sink.as_slice().to_vec();
    // "fLaC", then a 4-byte metadata block header, then STREAMINFO: min block (u16), max block (u16).
    let max = [bytes[10], bytes[11]];
    bytes[8..10].copy_from_slice(&max);
    bytes
}

/// Writes a 16-bit stereo 44.1 kHz WAV of `minutes` by tiling 10 s of generated programme with
/// a gain that changes every tile (−6 … −12 dB), streaming, without holding it in memory.
pub fn long_wav(path: &std::path::Path, minutes: u32) -> std::io::Result<()> {
    let tile = crate::signal::programme(44_100, 2, 10.0, 21);
    let tiles = minutes * 6;
    let frames = tile.frames() as u32 * tiles;
    let data = frames * 4;
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut head = Vec::new();
    head.extend_from_slice(b"RIFF");
    head.extend_from_slice(&(36 + data).to_le_bytes());
    head.extend_from_slice(b"WAVEfmt ");
    head.extend_from_slice(&16u32.to_le_bytes());
    head.extend_from_slice(&1u16.to_le_bytes());
    head.extend_from_slice(&2u16.to_le_bytes());
    head.extend_from_slice(&44_100u32.to_le_bytes());
    head.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    head.extend_from_slice(&4u16.to_le_bytes());
    head.extend_from_slice(&16u16.to_le_bytes());
    head.extend_from_slice(b"data");
    head.extend_from_slice(&data.to_le_bytes());
    w.write_all(&head)?;
    let mut buf = Vec::with_capacity(tile.frames() * 4);
    for t in 0..tiles {
        let g = 10f32.powf(-(6.0 + (t % 7) as f32) / 20.0);
        buf.clear();
        for i in 0..tile.frames() {
            for p in &tile.planes {
                buf.extend_from_slice(&(quantize(p[i] * g, 16) as i16).to_le_bytes());
            }
        }
        w.write_all(&buf)?;
    }
    w.flush()
}
