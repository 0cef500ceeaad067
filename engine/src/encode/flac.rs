//! Streaming FLAC writer (16/24-bit) over `flacenc`'s per-frame encoder.
//!
//! Samples are quantised into fixed blocks of [`BLOCK_SIZE`] frames; every `batch` blocks are
//! encoded in parallel with rayon and written in order, so memory is bounded by one batch
//! whatever the stream's length. STREAMINFO is written first with the sizes unknown and patched
//! by [`FlacWriter::finish`] (an 8 KiB PADDING block follows it, for tags) with the minimum/maximum frame size, the total sample count and the
//! MD5 of the quantised samples. The minimum block size is written as [`BLOCK_SIZE`] (the spec
//! excludes the last block; flacenc's own stream writer gets this wrong, flacenc-rs #242, which
//! symphonia rejects).

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use flacenc::component::{BitRepr, StreamInfo};
use flacenc::error::{Verified, Verify};
use flacenc::source::{Fill, FrameBuf};
use md5::{Digest, Md5};
use rayon::prelude::*;

use super::dither::Quantizer;
use super::{EncodeOptions, SampleFormat, unbuffer};
use crate::error::{Error, Result, panic_message};

/// Frames per FLAC block.
pub const BLOCK_SIZE: usize = 4096;

/// Bytes of the PADDING metadata block.
const PADDING: usize = 8192;

/// Largest total sample count STREAMINFO can hold (36 bits).
const MAX_TOTAL_SAMPLES: u64 = (1 << 36) - 1;

/// Blocks encoded together (in parallel) before they are written.
fn batch() -> usize {
    (rayon::current_num_threads() * 2).clamp(2, 32)
}

/// Streaming FLAC writer.
pub struct FlacWriter<W: Write + Seek> {
    out: BufWriter<W>,
    config: Verified<flacenc::config::Encoder>,
    info: StreamInfo,
    quantizer: Quantizer,
    channels: usize,
    sample_rate: u32,
    bits: u32,
    /// Position of `fLaC` in the sink.
    start: u64,
    /// The block being filled (interleaved, quantised).
    pending: Vec<i32>,
    /// Complete blocks waiting to be encoded.
    queue: Vec<Vec<i32>>,
    /// Spare block buffers.
    spare: Vec<Vec<i32>>,
    next_frame_number: usize,
    total_frames: u64,
    min_frame_bytes: u32,
    max_frame_bytes: u32,
    md5: Md5,
    md5_bytes: Vec<u8>,
    scratch: Vec<i32>,
}

impl<W: Write + Seek> std::fmt::Debug for FlacWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacWriter")
            .field("channels", &self.channels)
            .field("sample_rate", &self.sample_rate)
            .field("bits", &self.bits)
            .field("total_frames", &self.total_frames)
            .finish_non_exhaustive()
    }
}

fn encode_error(e: impl std::fmt::Debug) -> Error {
    Error::Encode(format!("flac: {e:?}"))
}

/// The STREAMINFO metadata block (header included); a PADDING block follows it.
fn streaminfo_block(
    sample_rate: u32,
    channels: usize,
    bits: u32,
    total: u64,
    frame_bytes: (u32, u32),
    md5: [u8; 16],
) -> [u8; 38] {
    let mut b = [0u8; 38];
    b[0] = 0x00; // type 0 (STREAMINFO), not the last block: PADDING follows
    b[3] = 34;
    b[4..6].copy_from_slice(&(BLOCK_SIZE as u16).to_be_bytes());
    b[6..8].copy_from_slice(&(BLOCK_SIZE as u16).to_be_bytes());
    b[8..11].copy_from_slice(&frame_bytes.0.to_be_bytes()[1..]);
    b[11..14].copy_from_slice(&frame_bytes.1.to_be_bytes()[1..]);
    let packed = (u64::from(sample_rate) << 44)
        | (((channels as u64) - 1) << 41)
        | (u64::from(bits - 1) << 36)
        | (total & MAX_TOTAL_SAMPLES);
    b[14..22].copy_from_slice(&packed.to_be_bytes());
    b[22..38].copy_from_slice(&md5);
    b
}

/// Encodes one block of interleaved samples to the bytes of one FLAC frame.
fn encode_block(
    config: &Verified<flacenc::config::Encoder>,
    info: &StreamInfo,
    channels: usize,
    samples: &[i32],
    frame_number: usize,
) -> Result<Vec<u8>> {
    let run = || -> Result<Vec<u8>> {
        let mut fb = FrameBuf::with_size(channels, BLOCK_SIZE).map_err(encode_error)?;
        fb.fill_interleaved(samples).map_err(encode_error)?;
        let frame = flacenc::encode_fixed_size_frame(config, &fb, frame_number, info).map_err(encode_error)?;
        let mut sink = flacenc::bitsink::ByteSink::with_capacity(frame.count_bits());
        frame.write(&mut sink).map_err(encode_error)?;
        Ok(sink.into_inner())
    };
    catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|p| Err(Error::Encode(format!("flac encoder panicked: {}", panic_message(&*p)))))
}

impl<W: Write + Seek> FlacWriter<W> {
    /// Writes `fLaC` and a provisional STREAMINFO.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for F32 or a rate FLAC cannot carry; [`Error::Io`].
    pub fn new(options: &EncodeOptions, sample_rate: u32, channels: usize, mut sink: W) -> Result<Self> {
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
        let mut config = flacenc::config::Encoder::default();
        config.block_size = BLOCK_SIZE;
        // Frames are encoded in parallel here, batch by batch.
        config.multithread = false;
        let config = config.into_verified().map_err(|(_, e)| encode_error(e))?;
        let info = StreamInfo::new(sample_rate as usize, channels, bits as usize).map_err(encode_error)?;
        let start = sink.stream_position()?;
        let mut out = BufWriter::with_capacity(1 << 16, sink);
        out.write_all(b"fLaC")?;
        out.write_all(&streaminfo_block(sample_rate, channels, bits, 0, (0, 0), [0; 16]))?;
        // Last metadata block: PADDING, room for tags added later without rewriting the file
        // (the reference encoder leaves 8 KiB too).
        out.write_all(&[0x81, 0x00, 0x20, 0x00])?;
        out.write_all(&[0u8; PADDING])?;
        Ok(FlacWriter {
            out,
            config,
            info,
            quantizer: Quantizer::new(bits, options.dither),
            channels,
            sample_rate,
            bits,
            start,
            pending: Vec::with_capacity(BLOCK_SIZE * channels),
            queue: Vec::new(),
            spare: Vec::new(),
            next_frame_number: 0,
            total_frames: 0,
            min_frame_bytes: u32::MAX,
            max_frame_bytes: 0,
            md5: Md5::new(),
            md5_bytes: Vec::new(),
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
        self.update_md5();
        let full = BLOCK_SIZE * self.channels;
        let mut rest = &self.scratch[..];
        while !rest.is_empty() {
            let take = (full - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == full {
                let next = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(full));
                let done = std::mem::replace(&mut self.pending, next);
                self.queue.push(done);
            }
        }
        if self.queue.len() >= batch() {
            self.flush_queue()?;
        }
        Ok(())
    }

    /// MD5 of the samples as little-endian bytes of the sample width, as FLAC defines it.
    fn update_md5(&mut self) {
        let width = (self.bits / 8) as usize;
        self.md5_bytes.clear();
        self.md5_bytes.reserve(self.scratch.len() * width);
        for &v in &self.scratch {
            self.md5_bytes.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        self.md5.update(&self.md5_bytes);
    }

    /// Encodes the queued blocks (in parallel) and writes them in order.
    fn flush_queue(&mut self) -> Result<()> {
        if self.queue.is_empty() {
            return Ok(());
        }
        let first = self.next_frame_number;
        let (config, info, channels) = (&self.config, &self.info, self.channels);
        let encoded: Vec<Result<Vec<u8>>> = self
            .queue
            .par_iter()
            .enumerate()
            .map(|(i, samples)| encode_block(config, info, channels, samples, first + i))
            .collect();
        for frame in encoded {
            let frame = frame?;
            let len = frame.len() as u32;
            self.min_frame_bytes = self.min_frame_bytes.min(len);
            self.max_frame_bytes = self.max_frame_bytes.max(len);
            self.out.write_all(&frame)?;
        }
        self.next_frame_number += self.queue.len();
        for mut b in self.queue.drain(..) {
            b.clear();
            self.spare.push(b);
        }
        Ok(())
    }

    /// Encodes what is left, patches STREAMINFO and returns the sink.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`].
    pub fn finish(mut self) -> Result<W> {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.queue.push(last);
        }
        self.flush_queue()?;
        let end = self.out.stream_position()?;
        let frame_bytes = if self.max_frame_bytes == 0 { (0, 0) } else { (self.min_frame_bytes, self.max_frame_bytes) };
        let md5: [u8; 16] = self.md5.clone().finalize().into();
        let block = streaminfo_block(self.sample_rate, self.channels, self.bits, self.total_frames, frame_bytes, md5);
        self.out.seek(SeekFrom::Start(self.start + 4))?;
        self.out.write_all(&block)?;
        self.out.seek(SeekFrom::Start(end))?;
        unbuffer(self.out)
    }
}
