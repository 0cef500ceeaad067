//! Opus decoding for symphonia (which demuxes Ogg Opus but has no Opus codec), over libopus
//! through `opusic-c`.
//!
//! Output is always 48 kHz `f32`. Mono and stereo streams (mapping family 0, or family 1 with a
//! single Opus stream) are decoded. Multichannel streams (family 1 with several Opus streams)
//! are refused as unsupported for now: they need libopus' multistream decoder, which opusic-c
//! 1.6 does not mark `Send` (symphonia's decoders must be), and this crate forbids `unsafe`.
//! Other mapping families are unsupported too.
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

/// symphonia `AudioDecoder` for Opus.
pub struct OpusDecoder {
    params: AudioCodecParameters,
    opts: AudioDecoderOptions,
    /// libopus' decoder is `Send` but not `Sync`; symphonia wants both. The lock is never
    /// contended (one decoder per input, `&mut self` on every call).
    lib: Mutex<LibDecoder>,
    channels: usize,
    /// Frames (48 kHz) to drop from the start of the stream: OpusHead's pre-skip.
    pre_skip: u64,
    /// For each decoded channel, its plane in `buf`.
    plane_of: Vec<usize>,
    interleaved: Vec<f32>,
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
        // Family 1 with one stream is plain mono/stereo; with several streams it needs libopus'
        // multistream decoder, which opusic-c 1.6 does not mark `Send` (symphonia needs it).
        let single =
            head.streams == 1 && usize::from(head.coupled) + 1 == n && head.mapping.iter().copied().eq(0..n as u8);
        if !single {
            return Err(SymError::Unsupported(
                "opus: multichannel streams (several Opus streams, mapping family 1) cannot be decoded yet",
            ));
        }
        let ch = if n == 1 { opusic_c::Channels::Mono } else { opusic_c::Channels::Stereo };
        let lib = LibDecoder(
            opusic_c::Decoder::new(ch, opusic_c::SampleRate::Hz48000)
                .map_err(|_| SymError::DecodeError("opus: libopus decoder init failed"))?,
        );
        let channels = match &params.channels {
            Some(ch) if ch.count() == n => ch.clone(),
            _ => Channels::Discrete(n as u16),
        };
        let plane_of = vorbis_to_wav(n).to_vec();
        Ok(OpusDecoder {
            params: params.clone(),
            opts: *opts,
            lib: Mutex::new(lib),
            channels: n,
            pre_skip: u64::from(head.pre_skip),
            plane_of,
            interleaved: vec![0.0; MAX_FRAMES * n],
            buf: AudioBuffer::new(AudioSpec::new(48_000, channels), MAX_FRAMES),
        })
    }

    fn decode_inner(&mut self, packet: &PacketRef<'_>) -> SymResult<()> {
        self.buf.clear();
        let lib = self.lib.get_mut().unwrap_or_else(|p| p.into_inner());
        let frames = lib
            .decode(packet.data, &mut self.interleaved)
            .map_err(|_| SymError::DecodeError("opus: invalid packet"))?
            .min(MAX_FRAMES);
        self.buf.render_uninit(Some(frames));
        let ch = self.channels;
        for (k, &plane) in self.plane_of.iter().enumerate() {
            if let Some(out) = self.buf.plane_mut(plane) {
                for (o, frame) in out.iter_mut().zip(self.interleaved.chunks_exact(ch)) {
                    *o = frame[k];
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
        self.lib.get_mut().unwrap_or_else(|p| p.into_inner()).reset();
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
