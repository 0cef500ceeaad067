//! The plan: what the spec and the input's stream parameters decide before any audio is read —
//! output rate, channel count and sample format, the conversion stages, dither.

use crate::channels::{ChannelRole, default_layout};
use crate::decode::StreamInfo;
use crate::dsp::{ChannelMixer, Resampler, Stage};
use crate::encode::{EncodeOptions, OutputFormat, SampleFormat};
use crate::error::Result;

use super::ProcessingSpec;

/// The decisions derived from the spec and the input's stream parameters.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) in_rate: u32,
    pub(super) out_rate: u32,
    pub(super) in_layout: Vec<ChannelRole>,
    pub(super) out_channels: usize,
    pub(super) encode: EncodeOptions,
    /// What the plan converts, and why, for the report.
    pub(super) notes: Vec<String>,
}

impl Plan {
    pub(super) fn new(spec: &ProcessingSpec, info: &StreamInfo) -> Plan {
        let mut notes = Vec::new();
        let in_channels = info.channels();
        let out_channels = match spec.channels {
            Some(c) => c,
            None if in_channels > spec.format.max_channels() => {
                notes.push(format!(
                    "mixed {in_channels} channels down to stereo: {} holds at most 2",
                    spec.format.extension()
                ));
                2
            }
            None => in_channels,
        };
        let wanted = spec.sample_rate.unwrap_or(info.sample_rate);
        let out_rate = spec.format.writable_rate(wanted);
        if out_rate != wanted {
            notes.push(format!(
                "resampled {wanted} Hz to {out_rate} Hz: {} cannot carry {wanted} Hz",
                spec.format.extension()
            ));
        }
        let sample_format = spec.sample_format.unwrap_or(match (info.bits_per_sample, info.float) {
            (_, true) if spec.format == OutputFormat::Wav => SampleFormat::F32,
            (Some(b), false) if b <= 16 => SampleFormat::I16,
            _ => SampleFormat::I24,
        });
        if info.codec == "vorbis" && spec.format == OutputFormat::Opus {
            let what = if info.container == "ogg" { "Ogg Vorbis" } else { "Vorbis" };
            notes.push(format!("input is {what}; written as Ogg Opus (audioproc does not encode Vorbis)"));
        }
        let encode = EncodeOptions {
            format: spec.format,
            sample_format,
            dither: spec.dither,
            mp3: spec.mp3,
            opus_kbps: spec.opus_kbps,
            flac_level: spec.flac_level,
        };
        Plan { in_rate: info.sample_rate, out_rate, in_layout: info.layout.clone(), out_channels, encode, notes }
    }

    /// Whether the channel count or the rate changes.
    pub(super) fn converts(&self) -> bool {
        self.in_rate != self.out_rate || self.in_layout.len() != self.out_channels
    }

    /// Mixer and resampler in pipeline order; none when neither changes anything.
    pub(super) fn conversion_stages(&self) -> Result<Vec<Box<dyn Stage>>> {
        let mut stages: Vec<Box<dyn Stage>> = Vec::new();
        if !self.converts() {
            return Ok(stages);
        }
        stages.push(Box::new(ChannelMixer::new(&self.in_layout, self.out_channels)?));
        if self.in_rate != self.out_rate {
            stages.push(Box::new(Resampler::new(self.in_rate, self.out_rate, self.out_channels)?));
        }
        Ok(stages)
    }

    /// The channel roles of the output.
    pub(super) fn out_layout(&self) -> Vec<ChannelRole> {
        if self.out_channels == self.in_layout.len() {
            self.in_layout.clone()
        } else {
            default_layout(self.out_channels)
        }
    }

    /// Dither only where it does something useful: reducing to 16 bits, and not when the
    /// samples pass through unchanged at their own resolution. Returns the note to report.
    pub(super) fn settle_dither(&mut self, spec: &ProcessingSpec, passthrough: bool) -> Option<String> {
        let unchanged = passthrough && !self.converts();
        let to_16_bits = self.encode.sample_format == SampleFormat::I16 && !unchanged;
        self.encode.dither = spec.dither && to_16_bits;
        (!spec.format.is_lossy() && to_16_bits).then(|| {
            if spec.dither { "quantised to 16 bits with TPDF dither" } else { "quantised to 16 bits without dither" }
                .to_owned()
        })
    }
}
