//! Opus decoding for symphonia (which demuxes Ogg Opus but has no Opus codec), over libopus
//! through `opusic-c`.
//!
//! Output is always 48 kHz `f32`. Mapping family 0 (mono, stereo) and family 1 (up to 8
//! channels in the Vorbis order, reordered here to our WAV/SMPTE layout) are decoded; other
//! families are unsupported. A family-1 stream carries several Opus streams per packet (RFC 7845
//! §5.1.1): libopus' multistream decoder is not `Send` in opusic-c 1.6 (symphonia's decoders
//! must be, and this crate forbids `unsafe`), so the packet is split into its streams here
//! ([`super::opus_framing`]) and each goes to a plain one- or two-channel libopus decoder; the
//! channel mapping table then picks each output channel from its stream.
//!
//! Encoder delay (OpusHead's pre-skip) is trimmed here by packet timestamp; end padding from
//! the packet's `trim_end`, which symphonia's Ogg demuxer derives from the last page's granule
//! position.

use std::sync::Mutex;

use symphonia::core::audio::{
    AsGenericAudioBufferRef, AudioBuffer, AudioMut, AudioSpec, Channels, GenericAudioBufferRef,
};
use symphonia::core::codecs::CodecInfo;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions, FinalizeResult};
use symphonia::core::codecs::registry::{RegisterableAudioDecoder, SupportedAudioCodec};
use symphonia::core::errors::{Error as SymError, Result as SymResult};
use symphonia::core::packet::PacketRef;

use super::opus_framing;
use crate::channels::vorbis_to_wav;

/// Longest Opus packet: 120 ms at 48 kHz.
const MAX_FRAMES: usize = 5_760;

static SUPPORTED: [SupportedAudioCodec; 1] = [SupportedAudioCodec {
    id: CODEC_ID_OPUS,
    info: CodecInfo { short_name: "opus", long_name: "Opus (libopus)", profiles: &[] },
}];

/// One libopus decoder (a single Opus stream: mono or stereo).
struct LibDecoder(opusic_c::Decoder);

impl LibDecoder {
    fn decode(&mut self, data: &[u8], out: &mut [f32]) -> Result<usize, opusic_c::ErrorCode> {
        self.0.decode_float_to_slice(data, out, false)
    }

    fn reset(&mut self) {
        let _ = self.0.reset();
    }
}

/// What the decoder needs from an OpusHead.
struct Head {
    channels: usize,
    pre_skip: u16,
    streams: u8,
    coupled: u8,
    mapping: Vec<u8>,
}

fn read_head(extra: &[u8]) -> SymResult<Head> {
    if extra.len() < 19 || &extra[..8] != b"OpusHead" {
        return Err(SymError::DecodeError("opus: missing or short OpusHead"));
    }
    let channels = usize::from(extra[9]);
    let family = extra[18];
    let pre_skip = u16::from_le_bytes([extra[10], extra[11]]);
    if channels == 0 {
        return Err(SymError::DecodeError("opus: zero channels"));
    }
    match family {
        0 if channels <= 2 => Ok(Head {
            channels,
            pre_skip,
            streams: 1,
            coupled: (channels - 1) as u8,
            mapping: (0..channels as u8).collect(),
        }),
        0 => Err(SymError::DecodeError("opus: mapping family 0 with more than 2 channels")),
        1 => {
            if channels > 8 {
                return Err(SymError::DecodeError("opus: mapping family 1 with more than 8 channels"));
            }
            let table =
                extra.get(21..21 + channels).ok_or(SymError::DecodeError("opus: short channel mapping table"))?;
            Ok(Head { channels, pre_skip, streams: extra[19], coupled: extra[20], mapping: table.to_vec() })
        }
        _ => Err(SymError::Unsupported("opus: channel mapping families other than 0 and 1 are not supported")),
    }
}

/// Where an output channel's samples come from: a stream and its channel, or silence (mapping
/// index 255).
#[derive(Debug, Clone, Copy)]
enum Source {
    Stream { stream: usize, channel: usize },
    Silent,
}

/// The source of each output channel (RFC 7845 §5.1.1: indices below 2 × coupled name a channel
/// of a stereo stream, the rest a mono stream).
fn sources(head: &Head) -> SymResult<Vec<Source>> {
    let (streams, coupled) = (usize::from(head.streams), usize::from(head.coupled));
    if streams == 0 || coupled > streams || streams + coupled > 255 {
        return Err(SymError::DecodeError("opus: impossible stream and coupling counts"));
    }
    head.mapping
        .iter()
        .map(|&index| match usize::from(index) {
            255 => Ok(Source::Silent),
            i if i < 2 * coupled => Ok(Source::Stream { stream: i / 2, channel: i % 2 }),
            i if i < streams + coupled => Ok(Source::Stream { stream: i - coupled, channel: 0 }),
            _ => Err(SymError::DecodeError("opus: channel mapping names a stream that is not there")),
        })
        .collect()
}

/// One Opus stream of the packets: its decoder, its channel count and its decoded samples.
struct Stream {
    lib: LibDecoder,
    channels: usize,
    pcm: Vec<f32>,
}

/// symphonia `AudioDecoder` for Opus.
pub struct OpusDecoder {
    params: AudioCodecParameters,
    opts: AudioDecoderOptions,
    /// libopus' decoder is `Send` but not `Sync`; symphonia wants both. The lock is never
    /// contended (one decoder per input, `&mut self` on every call).
    streams: Mutex<Vec<Stream>>,
    channels: usize,
    /// Frames (48 kHz) to drop from the start of the stream: OpusHead's pre-skip.
    pre_skip: u64,
    /// For each output channel (Vorbis order), where its samples come from and its plane in
    /// `buf`.
    routes: Vec<(Source, usize)>,
    buf: AudioBuffer<f32>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").field("channels", &self.channels).finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder for the stream described by `params` (its extra data must hold the OpusHead).
    ///
    /// # Errors
    /// symphonia's `DecodeError` for a missing or invalid OpusHead, `Unsupported` for channel
    /// mapping families other than 0 and 1.
    pub fn try_new(params: &AudioCodecParameters, opts: &AudioDecoderOptions) -> SymResult<Self> {
        let extra = params.extra_data.as_deref().ok_or(SymError::DecodeError("opus: no OpusHead"))?;
        let head = read_head(extra)?;
        let n = head.channels;
        let sources = sources(&head)?;
        let streams = (0..usize::from(head.streams))
            .map(|i| {
                let stereo = i < usize::from(head.coupled);
                let ch = if stereo { opusic_c::Channels::Stereo } else { opusic_c::Channels::Mono };
                let lib = opusic_c::Decoder::new(ch, opusic_c::SampleRate::Hz48000)
                    .map_err(|_| SymError::DecodeError("opus: libopus decoder init failed"))?;
                let channels = if stereo { 2 } else { 1 };
                Ok(Stream { lib: LibDecoder(lib), channels, pcm: vec![0.0; MAX_FRAMES * channels] })
            })
            .collect::<SymResult<Vec<_>>>()?;
        let channels = match &params.channels {
            Some(ch) if ch.count() == n => ch.clone(),
            _ => Channels::Discrete(n as u16),
        };
        let routes = sources.into_iter().zip(vorbis_to_wav(n).iter().copied()).collect();
        Ok(OpusDecoder {
            params: params.clone(),
            opts: *opts,
            streams: Mutex::new(streams),
            channels: n,
            pre_skip: u64::from(head.pre_skip),
            routes,
            buf: AudioBuffer::new(AudioSpec::new(48_000, channels), MAX_FRAMES),
        })
    }

    fn decode_inner(&mut self, packet: &PacketRef<'_>) -> SymResult<()> {
        self.buf.clear();
        let streams = self.streams.get_mut().unwrap_or_else(|p| p.into_inner());
        let parts = opus_framing::split(packet.data, streams.len())
            .ok_or(SymError::DecodeError("opus: malformed multistream packet"))?;
        let mut frames = MAX_FRAMES;
        for (stream, part) in streams.iter_mut().zip(&parts) {
            let n =
                stream.lib.decode(part, &mut stream.pcm).map_err(|_| SymError::DecodeError("opus: invalid packet"))?;
            frames = frames.min(n);
        }
        self.buf.render_uninit(Some(frames));
        for &(source, plane) in &self.routes {
            let Some(out) = self.buf.plane_mut(plane) else { continue };
            match source {
                Source::Silent => out.fill(0.0),
                Source::Stream { stream, channel } => {
                    let s = &streams[stream];
                    for (o, frame) in out.iter_mut().zip(s.pcm.chunks_exact(s.channels)) {
                        *o = frame[channel];
                    }
                }
            }
        }
        if self.opts.gapless {
            // symphonia 0.6.1's Ogg Opus mapping records pre-skip only as the track's delay and
            // starts packet timestamps at 0 with the pre-skip included, so the pre-skip is
            // trimmed here, by timestamp (which stays right after a seek). End padding comes as
            // `trim_end` from the last page's granule position.
            let pre_skip = self.pre_skip.saturating_sub(packet.pts.get().max(0) as u64) as usize;
            let start = (packet.trim_start.get() as usize).saturating_add(pre_skip);
            self.buf.trim(start, packet.trim_end.get() as usize);
        }
        Ok(())
    }
}

impl AudioDecoder for OpusDecoder {
    fn reset(&mut self) {
        for stream in self.streams.get_mut().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            stream.lib.reset();
        }
    }

    fn codec_info(&self) -> &CodecInfo {
        &SUPPORTED[0].info
    }

    fn codec_params(&self) -> &AudioCodecParameters {
        &self.params
    }

    fn decode_ref(&mut self, packet: &PacketRef<'_>) -> SymResult<GenericAudioBufferRef<'_>> {
        match self.decode_inner(packet) {
            Ok(()) => Ok(self.buf.as_generic_audio_buffer_ref()),
            Err(e) => {
                self.buf.clear();
                Err(e)
            }
        }
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> GenericAudioBufferRef<'_> {
        self.buf.as_generic_audio_buffer_ref()
    }
}

impl RegisterableAudioDecoder for OpusDecoder {
    fn try_registry_new(params: &AudioCodecParameters, opts: &AudioDecoderOptions) -> SymResult<Box<dyn AudioDecoder>> {
        Ok(Box::new(OpusDecoder::try_new(params, opts)?))
    }

    fn supported_codecs() -> &'static [SupportedAudioCodec] {
        &SUPPORTED
    }
}
