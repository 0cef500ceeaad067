//! Native FLAC streams (`fLaC` …) decoded by libFLAC, the reference decoder
//! ([`audioproc_libflac::FlacDecoder`]), instead of symphonia's: the same samples (both give
//! `sample / 2^(bits-1)` as `f32`), at a fraction of the CPU time; on two threads where the
//! file allows it ([`super::flac_parallel`]).
//!
//! Damage is met as libFLAC meets it: a frame that fails its CRC or cannot be parsed is
//! dropped and counted (each becomes one skipped packet, so [`super::Limits`]'
//! `max_corrupt_packets` applies), and the gap it leaves before the next good frame is filled
//! with silence (at most 5 s), so the timing of what follows is kept. A stream that ends before
//! the frame count STREAMINFO declares is reported truncated.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use audioproc_libflac::{Error as FlacError, FlacDecoder};
use symphonia::core::audio::{Channels, Position};
use symphonia::core::io::MediaSource;

use super::flac_parallel::{self, ParallelFlac};
use super::layout::layout_of;
use super::limits::{check_channels, check_rate};
use super::packet::PacketOutcome;
use super::source::{FileSource, SeekableSource};
use super::{BLOCK_FRAMES, Limits, StreamInfo};
use crate::channels::ChannelRole;
use crate::error::{Error, Result};

/// Whether `source` holds a native FLAC stream from its current position (which is kept).
pub(super) fn is_native_flac<S: Read + Seek>(source: &mut S) -> Result<bool> {
    let at = source.stream_position()?;
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match source.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    source.seek(SeekFrom::Start(at))?;
    Ok(got == magic.len() && &magic == b"fLaC")
}

/// A FLAC stream being decoded by libFLAC.
pub(super) struct LibFlac {
    decoder: FlacDecoder<Box<dyn MediaSource>>,
    rate: u32,
    layout: Vec<ChannelRole>,
    /// The single decoder's errors counted so far.
    reported: u64,
    /// Frames waiting in the planes while the errors met before them go out as
    /// [`PacketOutcome::Corrupt`] (a skipped packet leaves the planes alone), and how many.
    held: Option<usize>,
    corrupt: u64,
    /// Frames decoded so far, and the count STREAMINFO declares.
    decoded: u64,
    declared: Option<u64>,
    /// Where the stream lies in its source: its first byte (after leading ID3v2 tags) and its
    /// length.
    span: (u64, u64),
    /// The stream's file, read again through a handle of its own by each decoder thread (where
    /// it is known); and whether the caps allow the blocks those threads hand out (a frame short
    /// of two blocks).
    file: Option<File>,
    blocks_allowed: bool,
    /// The decoder threads, once [`LibFlac::decode_on_two_threads`] started them.
    parallel: Option<ParallelFlac>,
}

impl std::fmt::Debug for LibFlac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibFlac").field("decoded", &self.decoded).finish_non_exhaustive()
    }
}

impl LibFlac {
    /// Opens the stream at `source`'s current position, and what it is (within `limits`);
    /// `span` is where the stream lies in its file: its first byte and its length.
    pub(super) fn open(source: Box<dyn MediaSource>, span: (u64, u64), limits: &Limits) -> Result<(Self, StreamInfo)> {
        let decoder = FlacDecoder::new(source).map_err(flac_error)?;
        let info = decoder.info();
        check_rate(info.sample_rate, limits)?;
        check_channels(info.channels as usize, limits)?;
        if u64::from(info.max_block_frames) > limits.max_frames_per_packet {
            return Err(Error::LimitExceeded {
                what: "frames per packet",
                value: u64::from(info.max_block_frames),
                limit: limits.max_frames_per_packet,
            });
        }
        let layout = layout_of(&flac_channels(info.channels));
        let stream = StreamInfo {
            codec: "flac".to_owned(),
            container: "flac".to_owned(),
            sample_rate: info.sample_rate,
            layout: layout.clone(),
            declared_frames: info.total_frames,
            bits_per_sample: Some(info.bits_per_sample),
            float: false,
        };
        let me = LibFlac {
            decoder,
            rate: info.sample_rate,
            layout,
            reported: 0,
            held: None,
            corrupt: 0,
            decoded: 0,
            declared: info.total_frames,
            span,
            file: None,
            blocks_allowed: limits.max_frames_per_packet >= (BLOCK_FRAMES as u64) + u64::from(info.max_block_frames),
            parallel: None,
        };
        Ok((me, stream))
    }

    /// Lets [`LibFlac::decode_on_two_threads`] read the stream again from `file`, which holds
    /// it where the span given to [`LibFlac::open`] says.
    pub(super) fn can_reopen(&mut self, file: File) {
        self.file = Some(file);
    }

    /// Decodes on two threads from here on, where the stream allows it (see
    /// [`super::flac_parallel`]: the file can be read again, nothing is decoded yet, and the
    /// SEEKTABLE cuts it into checked chunks); whether it does.
    pub(super) fn decode_on_two_threads(&mut self) -> Result<bool> {
        let Some(file) =
            self.file.as_ref().filter(|_| self.blocks_allowed && self.decoded == 0 && self.parallel.is_none())
        else {
            return Ok(false);
        };
        let (start, len) = self.span;
        let reopen = || -> Result<Box<dyn MediaSource>> {
            Ok(Box::new(SeekableSource { inner: FileSource::new(file)?, start, len }))
        };
        let info = self.decoder.info();
        let chunks = flac_parallel::plan(self.decoder.seek_points(), &info, self.decoder.first_frame_offset(), len);
        let mut probe = reopen()?;
        let Some(chunks) = chunks.filter(|c| flac_parallel::chunks_check_out(c, &info, &mut *probe)) else {
            return Ok(false);
        };
        let open = || FlacDecoder::new(reopen()?).map_err(flac_error);
        self.parallel = Some(ParallelFlac::spawn([open()?, open()?], &chunks)?);
        Ok(true)
    }

    /// The next frames into `planes` (or one skipped frame), `None` at the end of the stream.
    pub(super) fn decode(&mut self, planes: &mut Vec<Vec<f32>>) -> Result<Option<PacketOutcome>> {
        let frames = match self.held.take() {
            Some(n) => n,
            None => {
                let (n, errors) = self.next_frames(planes)?;
                self.corrupt = errors;
                n
            }
        };
        if self.corrupt > 0 {
            self.corrupt -= 1;
            self.held = Some(frames);
            return Ok(Some(PacketOutcome::Corrupt));
        }
        if frames == 0 {
            return Ok(None);
        }
        self.decoded += frames as u64;
        Ok(Some(PacketOutcome::Frames((self.rate, self.layout.clone(), 0))))
    }

    /// The next frames into `planes` (0 at the end of the stream), from the decoder threads or
    /// the single decoder, and the frames libFLAC could not decode before them.
    fn next_frames(&mut self, planes: &mut Vec<Vec<f32>>) -> Result<(usize, u64)> {
        if let Some(parallel) = &mut self.parallel {
            return parallel.next(planes);
        }
        let frames = self.decoder.next_frame(planes).map_err(flac_error)?;
        let errors = self.decoder.errors();
        // What libFLAC met after the last frame is the cut itself (reported as truncation) or
        // bytes after the stream (an ID3v1 or APE tag), not a damaged frame.
        let new = if frames == 0 { 0 } else { errors - self.reported };
        self.reported = errors;
        Ok((frames, new))
    }

    /// Whether the stream ended before the frame count STREAMINFO declares.
    pub(super) fn cut_short(&self) -> bool {
        self.declared.is_some_and(|d| self.decoded < d)
    }
}

/// The speakers of a FLAC stream of `count` channels (the FLAC format's fixed assignment).
fn flac_channels(count: u32) -> Channels {
    let p = |list: &[Position]| Channels::Positioned(list.iter().fold(Position::empty(), |a, &b| a | b));
    use Position as P;
    match count {
        1 => p(&[P::FRONT_LEFT]),
        2 => p(&[P::FRONT_LEFT, P::FRONT_RIGHT]),
        3 => p(&[P::FRONT_LEFT, P::FRONT_RIGHT, P::FRONT_CENTER]),
        4 => p(&[P::FRONT_LEFT, P::FRONT_RIGHT, P::REAR_LEFT, P::REAR_RIGHT]),
        5 => p(&[P::FRONT_LEFT, P::FRONT_RIGHT, P::FRONT_CENTER, P::REAR_LEFT, P::REAR_RIGHT]),
        6 => p(&[P::FRONT_LEFT, P::FRONT_RIGHT, P::FRONT_CENTER, P::LFE1, P::REAR_LEFT, P::REAR_RIGHT]),
        7 => p(&[P::FRONT_LEFT, P::FRONT_RIGHT, P::FRONT_CENTER, P::LFE1, P::REAR_CENTER, P::SIDE_LEFT, P::SIDE_RIGHT]),
        8 => p(&[
            P::FRONT_LEFT,
            P::FRONT_RIGHT,
            P::FRONT_CENTER,
            P::LFE1,
            P::REAR_LEFT,
            P::REAR_RIGHT,
            P::SIDE_LEFT,
            P::SIDE_RIGHT,
        ]),
        n => Channels::Discrete(n as u16),
    }
}

/// The engine's error for one of libFLAC's.
pub(super) fn flac_error(e: FlacError) -> Error {
    match e {
        FlacError::Io(io) => Error::Io(io),
        FlacError::NotFlac => {
            Error::Unsupported { reason: "not a recognised audio format (FLAC without STREAMINFO)".to_owned() }
        }
        other => Error::Malformed { reason: other.to_string() },
    }
}
