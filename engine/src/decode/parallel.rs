//! The helper thread of [`super::Decoder::decode_on_two_threads`]: a second decoder of the same
//! codec that decodes every other packet, for codecs whose packets are independent of each
//! other (FLAC frames carry everything needed to decode them). The reader stays on the
//! caller's thread and the packets come back in order, so the frames handed out are the same
//! as with one decoder.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::packet::Packet;

use super::packet::{PacketOutcome, decode_packet};
use super::{CODECS, Decoder, guarded, sym_to_error};
use crate::error::{Error, Result};

/// One decoded packet: what the decoder said, and the frames.
type Decoded = (PacketOutcome, Vec<Vec<f32>>);

/// The helper thread, and the second packet of the last pair, decoded but not handed out yet.
#[derive(Debug)]
pub(super) struct PacketHelper {
    to_helper: Option<SyncSender<Packet>>,
    from_helper: Receiver<Result<Decoded>>,
    thread: Option<JoinHandle<()>>,
    pub(super) pending: Option<Decoded>,
}

impl PacketHelper {
    /// Starts a helper decoding packets of a stream with `params`.
    pub(super) fn spawn(params: AudioCodecParameters) -> Result<Self> {
        let (to_helper, packets) = sync_channel::<Packet>(1);
        let (results, from_helper) = sync_channel::<Result<Decoded>>(1);
        let thread = std::thread::Builder::new().name("decode".to_owned()).spawn(move || {
            let make = || {
                guarded(|| CODECS.make_audio_decoder(&params, &AudioDecoderOptions::default()).map_err(sym_to_error))
            };
            let mut decoder = make();
            for packet in packets {
                let result = match &mut decoder {
                    Ok(d) => {
                        let mut planes = Vec::new();
                        decode_packet(&mut **d, &packet, &mut planes).map(|outcome| (outcome, planes))
                    }
                    Err(e) => Err(Error::Malformed { reason: format!("second decoder: {e}") }),
                };
                if matches!(result, Ok((PacketOutcome::ResetRequired, _))) {
                    decoder = make();
                }
                if results.send(result).is_err() {
                    break;
                }
            }
        })?;
        Ok(PacketHelper { to_helper: Some(to_helper), from_helper, thread: Some(thread), pending: None })
    }

    /// Hands `packet` to the helper.
    pub(super) fn send(&self, packet: Packet) -> Result<()> {
        self.to_helper.as_ref().and_then(|q| q.send(packet).ok()).ok_or_else(stopped)
    }

    /// The helper's result for the packet sent last.
    pub(super) fn receive(&self) -> Result<Decoded> {
        self.from_helper.recv().map_err(|_| stopped())?
    }
}

impl Decoder {
    /// Decodes on two threads from here on, when the codec's frames are independent of each
    /// other (FLAC), and whether it does. A native FLAC stream opened as a file
    /// ([`Decoder::open_file`]) with a SEEKTABLE is cut into chunks of a few seconds that two
    /// libFLAC decoders take in turn ([`super::flac_parallel`]); FLAC in a container symphonia
    /// reads goes in pairs of packets, one decoded on a helper thread. The frames handed out
    /// are the same either way. For other codecs (or a native FLAC stream without a usable
    /// SEEKTABLE, or once frames were handed out) this does nothing.
    ///
    /// # Errors
    /// [`Error::Io`] if a thread cannot be started or the file read again; the errors of
    /// opening the stream again.
    pub fn decode_on_two_threads(&mut self) -> Result<bool> {
        if let super::Backend::Flac(flac) = &mut self.backend {
            return flac.decode_on_two_threads();
        }
        if self.helper.is_some() || self.info.codec != "flac" {
            return Ok(false);
        }
        let params = self.codec_params()?;
        self.helper = Some(PacketHelper::spawn(params)?);
        Ok(true)
    }

    pub(super) fn next_decoded_in_pairs(&mut self, helper: &mut PacketHelper) -> Result<Option<PacketOutcome>> {
        if let Some((outcome, planes)) = helper.pending.take() {
            self.planes = planes;
            return Ok(Some(outcome));
        }
        let Some(first) = self.read_packet()? else { return Ok(None) };
        let Some(second) = self.read_packet()? else {
            return decode_packet(self.backend.codec()?, &first, &mut self.planes).map(Some);
        };
        helper.send(first)?;
        let outcome = decode_packet(self.backend.codec()?, &second, &mut self.planes)?;
        let (first_outcome, first_planes) = helper.receive()?;
        helper.pending = Some((outcome, std::mem::replace(&mut self.planes, first_planes)));
        Ok(Some(first_outcome))
    }
}

fn stopped() -> Error {
    Error::DecoderPanic { message: "the second decoder thread stopped".to_owned() }
}

impl Drop for PacketHelper {
    /// Closes the helper's queue and joins it, so it never outlives its decoder.
    fn drop(&mut self) {
        self.to_helper = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
