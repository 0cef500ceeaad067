//! One packet through a symphonia decoder: its frames as planar `f32`, or why there are none.

use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder};
use symphonia::core::errors::Error as SymError;
use symphonia::core::packet::Packet;

use super::layout::layout_of;
use super::{Backend, Decoder, guarded, sym_to_error};
use crate::channels::ChannelRole;
use crate::error::{Error, Result};

impl Decoder {
    /// The next packet of the track, `None` at the end of the stream (or where a packet is cut
    /// short: the file is truncated, and what was decoded before it stands, with a warning).
    pub(super) fn read_packet(&mut self) -> Result<Option<Packet>> {
        let Backend::Symphonia { reader, track_id, .. } = &mut self.backend else { return Ok(None) };
        loop {
            let next = guarded(|| match reader.next_packet() {
                Ok(p) => Ok(Ok(p)),
                Err(SymError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Err(())),
                Err(e) => Err(sym_to_error_keep_reset(e)),
            })?;
            match next {
                Ok(Some(packet)) if packet.track_id != *track_id => continue,
                Ok(other) => return Ok(other),
                Err(()) => {
                    self.truncated = true;
                    return Ok(None);
                }
            }
        }
    }
}

/// A symphonia error of reading a packet; a reset request (a chained stream) is malformed here.
fn sym_to_error_keep_reset(e: SymError) -> Error {
    match e {
        SymError::ResetRequired => Error::Malformed { reason: "container reset required (chained stream)".to_owned() },
        other => sym_to_error(other),
    }
}

/// Decodes one packet with `decoder`, its frames into `planes`.
pub(super) fn decode_packet(
    decoder: &mut dyn AudioDecoder,
    packet: &Packet,
    planes: &mut Vec<Vec<f32>>,
) -> Result<PacketOutcome> {
    guarded(|| match decoder.decode(packet) {
        Ok(buf) => Ok(PacketOutcome::Frames(copy_planes(&buf, planes))),
        Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => Ok(PacketOutcome::Corrupt),
        Err(SymError::ResetRequired) => Ok(PacketOutcome::ResetRequired),
        Err(e) => Err(sym_to_error(e)),
    })
}

/// Interleaved 16-bit little-endian PCM converted straight to planar `f32` (`s / 32768`, as
/// symphonia converts it): the most common input, read twice by a job, is converted in one
/// pass per packet instead of through symphonia's generic sample-by-sample decoder, several
/// times faster. Other PCM widths go through symphonia.
#[derive(Debug)]
pub(super) struct Pcm16 {
    rate: u32,
    layout: Vec<ChannelRole>,
}

impl Pcm16 {
    /// The converter for a stream of `codec` with `params`, when it is plain 16-bit PCM with a
    /// known rate and channels.
    pub(super) fn for_stream(codec: &str, params: &AudioCodecParameters) -> Option<Self> {
        let plain = codec == "pcm_s16le"
            && params.bits_per_sample == Some(16)
            && params.bits_per_coded_sample.is_none_or(|b| b == 16);
        let layout = params.channels.as_ref().map(layout_of).filter(|l| !l.is_empty())?;
        let rate = params.sample_rate?;
        plain.then_some(Pcm16 { rate, layout })
    }

    /// Converts one packet into `planes`; `None` when it does not hold whole frames (then
    /// symphonia decodes it).
    pub(super) fn decode(&self, data: &[u8], planes: &mut Vec<Vec<f32>>) -> Option<PacketOutcome> {
        let channels = self.layout.len();
        let frame_bytes = 2 * channels;
        if !data.len().is_multiple_of(frame_bytes) {
            return None;
        }
        let sample = |b: &[u8]| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0;
        let frames = data.len() / frame_bytes;
        planes.resize_with(channels, Vec::new);
        // Sized first and filled through iterators, so the loops have no bounds checks or
        // capacity checks and vectorise.
        for plane in planes.iter_mut() {
            plane.clear();
            plane.resize(frames, 0.0);
        }
        if let [l, r] = &mut planes[..] {
            for ((f, a), b) in data.chunks_exact(4).zip(l.iter_mut()).zip(r.iter_mut()) {
                (*a, *b) = (sample(&f[..2]), sample(&f[2..]));
            }
        } else {
            for (c, plane) in planes.iter_mut().enumerate() {
                for (f, x) in data.chunks_exact(frame_bytes).zip(plane.iter_mut()) {
                    *x = sample(&f[2 * c..]);
                }
            }
        }
        Some(PacketOutcome::Frames((self.rate, self.layout.clone(), 0)))
    }
}

/// What decoding one packet gave.
#[derive(Debug)]
pub(super) enum PacketOutcome {
    /// Frames were copied to the planes: the buffer's rate, layout and non-finite count.
    Frames((u32, Vec<ChannelRole>, u64)),
    /// The packet could not be decoded; skip it.
    Corrupt,
    /// The decoder must be rebuilt before the next packet.
    ResetRequired,
}

/// Copies a decoded buffer to planar f32, replacing non-finite samples by 0. Returns the
/// buffer's rate, layout and the number of samples replaced.
fn copy_planes(buf: &GenericAudioBufferRef<'_>, planes: &mut Vec<Vec<f32>>) -> (u32, Vec<ChannelRole>, u64) {
    buf.copy_to_vecs_planar::<f32>(planes);
    let spec = buf.spec();
    let mut non_finite = 0u64;
    if matches!(buf, GenericAudioBufferRef::F32(_) | GenericAudioBufferRef::F64(_)) {
        for p in planes.iter_mut() {
            if p.iter().all(|x| x.is_finite()) {
                continue;
            }
            for x in p.iter_mut().filter(|x| !x.is_finite()) {
                *x = 0.0;
                non_finite += 1;
            }
        }
    }
    (spec.rate(), layout_of(spec.channels()), non_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_converts_as_symphonia_does_for_any_channel_count() {
        let values: Vec<i16> = vec![0, 1, -1, i16::MAX, i16::MIN, 12_345, -23_456, 7, -8];
        for channels in [1, 2, 3] {
            let frames = values.len() / channels;
            let data: Vec<u8> = values[..frames * channels].iter().flat_map(|v| v.to_le_bytes()).collect();
            let pcm = Pcm16 { rate: 44_100, layout: crate::channels::default_layout(channels) };
            let mut planes = Vec::new();
            let Some(PacketOutcome::Frames((rate, layout, non_finite))) = pcm.decode(&data, &mut planes) else {
                panic!("whole frames decode")
            };
            assert_eq!((rate, layout.len(), non_finite), (44_100, channels, 0));
            for (c, plane) in planes.iter().enumerate() {
                let want: Vec<f32> = (0..frames).map(|i| values[i * channels + c] as f32 / 32_768.0).collect();
                assert_eq!(plane, &want, "{channels} channels, plane {c}");
            }
            // A packet that does not hold whole frames is left to symphonia.
            if channels > 1 {
                assert!(pcm.decode(&data[..data.len() - 2], &mut planes).is_none());
            }
        }
    }
}
