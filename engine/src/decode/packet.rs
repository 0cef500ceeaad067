//! One packet through a symphonia decoder: its frames as planar `f32`, or why there are none.

use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::AudioDecoder;
use symphonia::core::errors::Error as SymError;
use symphonia::core::packet::Packet;

use super::layout::layout_of;
use super::{Decoder, guarded, sym_to_error, sym_to_error_keep_reset};
use crate::channels::ChannelRole;
use crate::error::Result;

impl Decoder {
    /// The next packet of the track, `None` at the end of the stream (or where a packet is cut
    /// short: the file is truncated, and what was decoded before it stands, with a warning).
    pub(super) fn read_packet(&mut self) -> Result<Option<Packet>> {
        loop {
            let next = guarded(|| match self.reader.next_packet() {
                Ok(p) => Ok(p),
                Err(SymError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.truncated = true;
                    Ok(None)
                }
                Err(e) => Err(sym_to_error_keep_reset(e)),
            })?;
            match next {
                Some(packet) if packet.track_id != self.track_id => continue,
                other => return Ok(other),
            }
        }
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
