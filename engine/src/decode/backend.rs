//! Where a [`Decoder`]'s frames come from: symphonia's container reader and codec, or libFLAC
//! for native FLAC streams ([`super::flac`]); and the codec rebuilt after a reset.

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::formats::FormatReader;

use super::flac::LibFlac;
use super::{CODECS, Decoder, guarded, sym_to_error};
use crate::error::{Error, Result};

/// Where the frames come from: symphonia's container reader and codec, or libFLAC for native
/// FLAC streams ([`super::flac`]).
pub(super) enum Backend {
    Symphonia { reader: Box<dyn FormatReader>, decoder: Box<dyn AudioDecoder>, track_id: u32 },
    Flac(Box<LibFlac>),
}

impl Backend {
    /// symphonia's codec (there is none for libFLAC's streams: those never reach a caller).
    pub(super) fn codec(&mut self) -> Result<&mut dyn AudioDecoder> {
        match self {
            Backend::Symphonia { decoder, .. } => Ok(&mut **decoder),
            Backend::Flac(_) => Err(Error::Malformed { reason: "no symphonia codec for native FLAC".to_owned() }),
        }
    }
}

impl Decoder {
    /// The audio codec parameters of the track.
    pub(super) fn codec_params(&self) -> Result<AudioCodecParameters> {
        let Backend::Symphonia { reader, track_id, .. } = &self.backend else {
            return Err(Error::Malformed { reason: "no symphonia track for native FLAC".to_owned() });
        };
        reader
            .tracks()
            .iter()
            .find(|t| t.id == *track_id)
            .and_then(|t| t.codec_params.as_ref())
            .and_then(|p| p.audio())
            .cloned()
            .ok_or_else(|| Error::Malformed { reason: "audio track vanished after a reset".to_owned() })
    }

    pub(super) fn rebuild_decoder(&mut self) -> Result<()> {
        self.resets += 1;
        if self.resets > self.limits.max_corrupt_packets {
            return Err(Error::Malformed { reason: "decoder keeps asking for a reset".to_owned() });
        }
        let params = self.codec_params()?;
        let fresh =
            guarded(|| CODECS.make_audio_decoder(&params, &AudioDecoderOptions::default()).map_err(sym_to_error))?;
        if let Backend::Symphonia { decoder, .. } = &mut self.backend {
            *decoder = fresh;
        }
        Ok(())
    }
}
