//! Streaming decode: any supported file in, planar `f32` blocks out.
//!
//! The container is found by probing the content (never the file name). Each call to
//! [`Decoder::next_block`] decodes packets until it holds at least [`BLOCK_FRAMES`] frames (or
//! the stream ends) and yields them as one plane per channel; the planes are reused, so memory
//! stays the same for any input length. Blocks of a few thousand frames rather than one packet
//! (1152 frames of WAV or MP3) keep the per-block costs of the stages and of the hand-offs
//! between threads small. Encoder delay and padding
//! are trimmed where the container records them (MP3 LAME/Xing tags and Ogg granules through
//! symphonia, MP4 edit lists here in [`mp4`]).
//!
//! Native FLAC streams are decoded by libFLAC ([`flac`]: the same samples as symphonia's FLAC
//! decoder, at less CPU); everything else by symphonia and, for Opus, libopus ([`opus`]).
//!
//! Every call into symphonia runs under `catch_unwind`, so a panic on a malformed input becomes
//! [`Error::DecoderPanic`] for this input only. Caps in [`Limits`] bound channels, sample rate,
//! packet size and decoded duration before anything is allocated from them.

mod backend;
mod flac;
mod flac_parallel;
mod id3v2;
mod layout;
mod limits;
pub mod mp4;
pub mod opus;
mod opus_framing;
mod packet;
mod parallel;
mod source;

pub use id3v2::MAX_LEADING_TAG_BYTES;
pub use limits::Limits;
pub(crate) use source::FileSource;
use source::SeekableSource;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::LazyLock;

use symphonia::core::audio::sample::SampleFormat;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::channels::ChannelRole;
use crate::error::{Error, Result, Warning, panic_message};
use backend::Backend;
use flac::LibFlac;
use layout::layout_of;
use limits::{check_channels, check_rate};
use packet::{PacketOutcome, Pcm16, decode_packet};
use parallel::PacketHelper;

/// symphonia's codecs plus ours (Opus, which symphonia demuxes but cannot decode).
static CODECS: LazyLock<CodecRegistry> = LazyLock::new(|| {
    let mut registry = CodecRegistry::new();
    symphonia::default::register_enabled_codecs(&mut registry);
    registry.register_audio_decoder::<opus::OpusDecoder>();
    registry
});

/// Frames a [`Decoder::next_block`] gathers at least before handing a block out (about 0.2 s at
/// 44.1 kHz; 64 KiB of stereo `f32`).
pub const BLOCK_FRAMES: usize = 8192;

/// What the stream is, as far as it is known before decoding the audio.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// Codec short name as symphonia names it (`"pcm_s16le"`, `"flac"`, `"mp3"`, `"aac"` …).
    pub codec: String,
    /// Container short name (`"wave"`, `"flac"`, `"isomp4"`, `"ogg"` …).
    pub container: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Role of each channel, in plane order.
    pub layout: Vec<ChannelRole>,
    /// Frame count the container declares, if any (not trusted for allocation).
    pub declared_frames: Option<u64>,
    /// Bits per sample of the source, for PCM and lossless codecs; `None` for lossy ones.
    pub bits_per_sample: Option<u32>,
    /// Whether the source samples are floating point (e.g. 32-bit float WAV).
    pub float: bool,
}

impl StreamInfo {
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.layout.len()
    }
}

/// Frames to drop from the start and the total to keep, from container gapless information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trim {
    /// Frames to drop from the start of the decoded stream (encoder priming).
    pub skip: u64,
    /// Frames to keep after the skip, if known (drops encoder padding).
    pub keep: Option<u64>,
}

/// A streaming decoder over one input.
pub struct Decoder {
    backend: Backend,
    info: StreamInfo,
    limits: Limits,
    trim: Trim,
    /// Decoded frames seen so far, before trimming.
    decoded_raw: u64,
    /// Frames handed out so far.
    frames_out: u64,
    /// The last decoded packet.
    planes: Vec<Vec<f32>>,
    /// The block handed out: whole packets gathered up to [`BLOCK_FRAMES`].
    block: Vec<Vec<f32>>,
    skipped_packets: u64,
    non_finite: u64,
    resets: u64,
    truncated: bool,
    finished: bool,
    /// The planes hold a block decoded ahead (to learn the layout) not yet handed out.
    pending_primed: bool,
    /// The thread decoding every other packet, when asked for ([`Decoder::decode_on_two_threads`]).
    helper: Option<PacketHelper>,
    /// 16-bit PCM is converted here, without symphonia's decoder.
    pcm16: Option<Pcm16>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("info", &self.info)
            .field("trim", &self.trim)
            .field("frames_out", &self.frames_out)
            .finish_non_exhaustive()
    }
}

/// Runs `f`, turning a panic into [`Error::DecoderPanic`].
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(Error::DecoderPanic { message: panic_message(&*p) }))
}

fn sym_to_error(e: SymError) -> Error {
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::Malformed { reason: "unexpected end of file".to_owned() }
        }
        SymError::IoError(io) => Error::Io(io),
        SymError::DecodeError(m) => Error::Malformed { reason: m.to_owned() },
        SymError::Unsupported(m) => Error::Unsupported { reason: m.to_owned() },
        SymError::LimitError(m) => Error::Malformed { reason: format!("limit reached: {m}") },
        other => Error::Malformed { reason: other.to_string() },
    }
}

/// Codecs whose decoded bit depth says nothing about the source's resolution.
fn is_lossy(codec: &str) -> bool {
    matches!(codec, "mp1" | "mp2" | "mp3" | "aac" | "vorbis" | "opus")
}

impl Decoder {
    /// Opens a file by path.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be opened, [`Error::Empty`] for a zero-length file, and any
    /// error of [`Decoder::open`].
    pub fn open_path(path: &Path, limits: &Limits) -> Result<Self> {
        let file = File::open(path)?;
        Self::open(file, limits)
    }

    /// Decodes an open file from its start, through a handle of its own (positioned reads:
    /// `file`'s own position is neither used nor moved), so that several decoders made from one
    /// open file read the same file even if its name is taken over meanwhile.
    ///
    /// # Errors
    /// [`Error::Io`] if the handle cannot be duplicated, and any error of [`Decoder::open`].
    pub fn open_file(file: &File, limits: &Limits) -> Result<Self> {
        let mut me = Self::open(FileSource::new(file)?, limits)?;
        if let Backend::Flac(flac) = &mut me.backend {
            // A native FLAC stream may then be decoded on two threads, each with its handle.
            flac.can_reopen(file.try_clone()?);
        }
        Ok(me)
    }

    /// Opens any seekable byte source. The container is found by probing its content.
    ///
    /// # Errors
    /// [`Error::Empty`] for no bytes; [`Error::Unsupported`] when no format or codec matches or
    /// there is no audio track; [`Error::LimitExceeded`] / [`Error::BelowMinimum`] when the
    /// stream's parameters are outside `limits`; [`Error::DecoderPanic`] if symphonia panics.
    pub fn open<S: Read + Seek + Send + Sync + 'static>(mut source: S, limits: &Limits) -> Result<Self> {
        let len = source.seek(SeekFrom::End(0))?;
        if len == 0 {
            return Err(Error::Empty);
        }
        // Leading ID3v2 tags are skipped by their declared size: the probe gives up after 1 MiB.
        let start = id3v2::leading_tags_len(&mut source, len)?;
        let mut view = SeekableSource { inner: source, start, len: len - start };
        view.seek(SeekFrom::Start(0))?;
        if flac::is_native_flac(&mut view)? {
            let span = (view.start, view.len);
            return guarded(|| {
                let (flac, info) = LibFlac::open(Box::new(view), span, limits)?;
                Ok(Self::new(Backend::Flac(Box::new(flac)), info, limits, Trim::default(), None))
            });
        }
        let trim = mp4::gapless_trim(&mut view).unwrap_or_default();
        view.seek(SeekFrom::Start(0))?;
        Self::open_media(Box::new(view), limits, trim)
    }

    fn open_media(media: Box<dyn MediaSource>, limits: &Limits, trim: Trim) -> Result<Self> {
        guarded(|| {
            let mss = MediaSourceStream::new(media, Default::default());
            let reader = symphonia::default::get_probe()
                .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
                .map_err(|e| match e {
                    SymError::Unsupported(_) => {
                        Error::Unsupported { reason: "not a recognised audio format".to_owned() }
                    }
                    SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                        Error::Unsupported { reason: "not a recognised audio format (too short)".to_owned() }
                    }
                    other => sym_to_error(other),
                })?;
            Self::from_reader(reader, limits, trim)
        })
    }

    fn from_reader(reader: Box<dyn FormatReader>, limits: &Limits, trim: Trim) -> Result<Self> {
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| Error::Unsupported { reason: "no audio track".to_owned() })?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| Error::Unsupported { reason: "no audio codec parameters".to_owned() })?
            .clone();
        let sample_rate = params.sample_rate.ok_or_else(|| Error::Malformed { reason: "no sample rate".to_owned() })?;
        check_rate(sample_rate, limits)?;
        if let Some(ch) = &params.channels {
            check_channels(ch.count(), limits)?;
        }
        if let Some(max) = params.max_frames_per_packet
            && max > limits.max_frames_per_packet
        {
            return Err(Error::LimitExceeded {
                what: "frames per packet",
                value: max,
                limit: limits.max_frames_per_packet,
            });
        }
        let track_id = track.id;
        let declared_frames = track.num_frames;
        let decoder = CODECS.make_audio_decoder(&params, &AudioDecoderOptions::default()).map_err(|e| match e {
            SymError::Unsupported(_) => Error::Unsupported { reason: "unsupported codec".to_owned() },
            other => sym_to_error(other),
        })?;
        let codec = decoder.codec_info().short_name.to_owned();
        let container = reader.format_info().short_name.to_owned();
        let layout = params.channels.as_ref().map(layout_of).unwrap_or_default();
        let float =
            matches!(params.sample_format, Some(SampleFormat::F32 | SampleFormat::F64)) || codec.starts_with("pcm_f");
        let bits_per_sample = params.bits_per_sample.filter(|_| !is_lossy(&codec));
        let pcm16 = Pcm16::for_stream(&codec, &params);
        let info = StreamInfo { codec, container, sample_rate, layout, declared_frames, bits_per_sample, float };
        let mut me = Self::new(Backend::Symphonia { reader, decoder, track_id }, info, limits, trim, pcm16);
        if me.info.layout.is_empty() {
            // The container did not say; the first decoded packet will.
            me.prime_layout()?;
        }
        Ok(me)
    }

    fn new(backend: Backend, info: StreamInfo, limits: &Limits, trim: Trim, pcm16: Option<Pcm16>) -> Self {
        Decoder {
            backend,
            info,
            limits: limits.clone(),
            trim,
            decoded_raw: 0,
            frames_out: 0,
            planes: Vec::new(),
            block: Vec::new(),
            skipped_packets: 0,
            non_finite: 0,
            resets: 0,
            truncated: false,
            finished: false,
            pending_primed: false,
            helper: None,
            pcm16,
        }
    }

    /// Decodes ahead until the first packet to learn the channel layout from the decoder.
    fn prime_layout(&mut self) -> Result<()> {
        // Decode one packet without handing it out: rewind is impossible, so keep its frames.
        let got = self.decode_next()?;
        if !got {
            return Err(Error::Malformed { reason: "no audio frames".to_owned() });
        }
        self.pending_primed = true;
        Ok(())
    }

    /// What the stream is.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Decoded frames handed out so far.
    pub fn frames(&self) -> u64 {
        self.frames_out
    }

    /// Non-fatal problems met so far.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut w = Vec::new();
        if self.skipped_packets > 0 {
            w.push(Warning::SkippedPackets(self.skipped_packets));
        }
        if self.non_finite > 0 {
            w.push(Warning::NonFiniteSamples(self.non_finite));
        }
        if self.resets > 0 {
            w.push(Warning::DecoderReset(self.resets));
        }
        if self.truncated {
            w.push(Warning::Truncated);
        }
        w
    }

    /// The next block of decoded audio: one plane per channel, all the same length, at least
    /// [`BLOCK_FRAMES`] frames except at the end of the stream (and at least one). `Ok(None)` at
    /// the end of the stream.
    ///
    /// # Errors
    /// [`Error::Malformed`] on unrecoverable corruption, [`Error::TooManyCorruptPackets`],
    /// [`Error::DurationExceeded`] when the decoded duration passes the cap,
    /// [`Error::DecoderPanic`].
    pub fn next_block(&mut self) -> Result<Option<&[Vec<f32>]>> {
        self.block.iter_mut().for_each(Vec::clear);
        let mut held = 0;
        while held < BLOCK_FRAMES {
            let decoded =
                if std::mem::take(&mut self.pending_primed) { true } else { !self.finished && self.decode_next()? };
            if !decoded {
                break;
            }
            let n = self.planes.first().map_or(0, Vec::len);
            if held == 0 && n >= BLOCK_FRAMES {
                // A packet as large as a block is handed out without a copy.
                std::mem::swap(&mut self.block, &mut self.planes);
            } else {
                self.block.resize_with(self.planes.len(), Vec::new);
                for (b, p) in self.block.iter_mut().zip(&self.planes) {
                    b.extend_from_slice(p);
                }
            }
            held += n;
        }
        Ok((held > 0).then_some(&self.block[..]))
    }

    /// As [`Decoder::next_block`], but the block is handed over rather than lent: for callers
    /// that pass it to other threads, it saves a copy (the decoder starts its next block in new
    /// buffers).
    ///
    /// # Errors
    /// As [`Decoder::next_block`].
    pub fn take_block(&mut self) -> Result<Option<Vec<Vec<f32>>>> {
        Ok(self.next_block()?.is_some().then(|| std::mem::take(&mut self.block)))
    }

    /// Decodes packets until one yields frames (after trimming) into `self.planes`. Returns
    /// `false` at the end of the stream.
    fn decode_next(&mut self) -> Result<bool> {
        loop {
            let Some(decoded) = self.next_decoded()? else {
                self.finished = true;
                return Ok(false);
            };
            let (spec_rate, spec_layout, non_finite) = match decoded {
                PacketOutcome::Frames(x) => x,
                PacketOutcome::Corrupt => {
                    self.skipped_packets += 1;
                    if self.skipped_packets > self.limits.max_corrupt_packets {
                        return Err(Error::TooManyCorruptPackets {
                            skipped: self.skipped_packets,
                            limit: self.limits.max_corrupt_packets,
                        });
                    }
                    continue;
                }
                PacketOutcome::ResetRequired => {
                    self.rebuild_decoder()?;
                    continue;
                }
            };
            self.non_finite += non_finite;
            self.check_decoded_spec(spec_rate, spec_layout)?;
            let n = self.planes.first().map_or(0, Vec::len) as u64;
            if n > self.limits.max_frames_per_packet {
                return Err(Error::LimitExceeded {
                    what: "frames per packet",
                    value: n,
                    limit: self.limits.max_frames_per_packet,
                });
            }
            // Gapless trim from the container (MP4 edit lists).
            let start = self.decoded_raw;
            self.decoded_raw += n;
            let drop_front = self.trim.skip.saturating_sub(start).min(n);
            let mut keep = n - drop_front;
            if let Some(total) = self.trim.keep {
                keep = keep.min(total.saturating_sub(self.frames_out));
            }
            if drop_front > 0 || keep < n - drop_front {
                for p in &mut self.planes {
                    p.drain(..drop_front as usize);
                    p.truncate(keep as usize);
                }
            }
            if keep == 0 {
                if self.trim.keep.is_some_and(|t| self.frames_out >= t) {
                    self.finished = true;
                    return Ok(false);
                }
                continue;
            }
            self.frames_out += keep;
            let rate = f64::from(self.info.sample_rate);
            if self.frames_out as f64 > self.limits.max_duration_s * rate {
                // Decoding stops here: the whole duration is known only if the container says.
                let declared = self.info.declared_frames.filter(|&d| d > self.frames_out);
                return Err(Error::DurationExceeded {
                    duration_s: declared.unwrap_or(self.frames_out) as f64 / rate,
                    limit_s: self.limits.max_duration_s,
                    at_least: declared.is_none(),
                });
            }
            return Ok(true);
        }
    }

    /// Decodes the next packet (frames into `self.planes`), `None` at the end of the stream.
    /// With a helper thread ([`Decoder::decode_on_two_threads`]) packets are decoded in pairs,
    /// the first on the helper and the second here, and handed out in order.
    fn next_decoded(&mut self) -> Result<Option<PacketOutcome>> {
        if let Backend::Flac(flac) = &mut self.backend {
            let outcome = guarded(|| flac.decode(&mut self.planes))?;
            self.truncated |= outcome.is_none() && flac.cut_short();
            return Ok(outcome);
        }
        let Some(mut helper) = self.helper.take() else {
            let Some(packet) = self.read_packet()? else { return Ok(None) };
            if let Some(outcome) = self.pcm16.as_ref().and_then(|p| p.decode(&packet.data, &mut self.planes)) {
                return Ok(Some(outcome));
            }
            return decode_packet(self.backend.codec()?, &packet, &mut self.planes).map(Some);
        };
        let result = self.next_decoded_in_pairs(&mut helper);
        self.helper = Some(helper);
        result
    }

    /// The decoded spec is authoritative; it must agree with what the stream declared (the
    /// first packet fills in a layout the container did not give).
    fn check_decoded_spec(&mut self, rate: u32, layout: Vec<ChannelRole>) -> Result<()> {
        if rate != self.info.sample_rate {
            return Err(Error::Malformed {
                reason: format!("sample rate changed mid-stream ({} -> {rate} Hz)", self.info.sample_rate),
            });
        }
        check_channels(layout.len(), &self.limits)?;
        if self.info.layout.is_empty() {
            self.info.layout = layout;
        } else if layout.len() != self.info.layout.len() {
            return Err(Error::Malformed {
                reason: format!("channel count changed mid-stream ({} -> {})", self.info.layout.len(), layout.len()),
            });
        }
        Ok(())
    }
}
