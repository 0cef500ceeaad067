//! What a track asks for (`preset`, `target_lufs`, `format`, …), as the API takes and shows it,
//! and the engine's [`ProcessingSpec`] it stands for.

use audioproc_engine::{OutputFormat, PeakMode, Preset, ProcessingSpec};
use serde::{Deserialize, Serialize};

/// A track's processing request; every field but the preset and format is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSpec {
    /// `ebu`, `streaming`, `podcast` or `atsc`.
    pub preset: String,
    /// Integrated loudness target, LUFS (default: the preset's).
    pub target_lufs: f64,
    /// True-peak ceiling, dBTP (default: the preset's).
    pub true_peak_dbtp: f64,
    /// `linear` or `limit`.
    pub mode: String,
    /// `flac`, `wav`, `mp3` or `opus`.
    pub format: String,
    /// Output sample rate, Hz (default: the input's).
    pub rate: Option<u32>,
    /// Output channel count, 1 or 2 (default: the input's).
    pub channels: Option<usize>,
}

/// The optional fields of a request, before defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpecRequest {
    /// See [`TrackSpec::preset`].
    pub preset: Option<String>,
    /// See [`TrackSpec::target_lufs`].
    pub target_lufs: Option<f64>,
    /// See [`TrackSpec::true_peak_dbtp`].
    pub true_peak_dbtp: Option<f64>,
    /// See [`TrackSpec::mode`].
    pub mode: Option<String>,
    /// See [`TrackSpec::format`].
    pub format: Option<String>,
    /// See [`TrackSpec::rate`].
    pub rate: Option<u32>,
    /// See [`TrackSpec::channels`].
    pub channels: Option<usize>,
}

impl TrackSpec {
    /// The request with its defaults filled in, checked by the engine's own rules.
    ///
    /// # Errors
    /// What is wrong, for people (an unknown preset, a target out of range, …).
    pub fn from_request(r: &SpecRequest) -> Result<TrackSpec, String> {
        let preset_name = r.preset.as_deref().unwrap_or("ebu");
        let preset = Preset::from_name(preset_name)
            .ok_or_else(|| format!("unknown preset {preset_name:?} (ebu, streaming, podcast or atsc)"))?;
        let spec = TrackSpec {
            preset: preset.name().to_owned(),
            target_lufs: r.target_lufs.unwrap_or(preset.target_lufs()),
            true_peak_dbtp: r.true_peak_dbtp.unwrap_or(preset.true_peak_dbtp()),
            mode: r.mode.clone().unwrap_or_else(|| "linear".to_owned()),
            format: r.format.clone().unwrap_or_else(|| "flac".to_owned()),
            rate: r.rate,
            channels: r.channels,
        };
        spec.engine()?;
        Ok(spec)
    }

    /// The engine's spec.
    ///
    /// # Errors
    /// An unknown name or a value the engine refuses.
    pub fn engine(&self) -> Result<ProcessingSpec, String> {
        let preset = Preset::from_name(&self.preset).ok_or_else(|| format!("unknown preset {:?}", self.preset))?;
        let format = OutputFormat::from_name(&self.format)
            .ok_or_else(|| format!("unknown format {:?} (flac, wav, mp3 or opus)", self.format))?;
        let mode =
            PeakMode::from_name(&self.mode).ok_or_else(|| format!("unknown mode {:?} (linear or limit)", self.mode))?;
        let mut spec = ProcessingSpec::new(preset, format);
        spec.target_lufs = self.target_lufs;
        spec.true_peak_dbtp = self.true_peak_dbtp;
        spec.mode = mode;
        spec.sample_rate = self.rate;
        spec.channels = self.channels;
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    /// The output format (FLAC for a name the engine does not know; [`Self::from_request`]
    /// refuses those).
    pub fn output_format(&self) -> OutputFormat {
        OutputFormat::from_name(&self.format).unwrap_or(OutputFormat::Flac)
    }

    /// The output's extension.
    pub fn extension(&self) -> &'static str {
        self.output_format().extension()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_preset_and_bad_values_are_named() {
        let s = TrackSpec::from_request(&SpecRequest { preset: Some("podcast".into()), ..Default::default() }).unwrap();
        assert_eq!((s.target_lufs, s.true_peak_dbtp, s.format.as_str()), (-16.0, -1.5, "flac"));
        let bad = |r: SpecRequest| TrackSpec::from_request(&r).unwrap_err();
        assert!(bad(SpecRequest { preset: Some("loud".into()), ..Default::default() }).contains("loud"));
        assert!(bad(SpecRequest { target_lufs: Some(-200.0), ..Default::default() }).contains("-200"));
        assert!(bad(SpecRequest { format: Some("aac".into()), ..Default::default() }).contains("aac"));
        assert!(bad(SpecRequest { rate: Some(1), ..Default::default() }).contains('1'));
    }
}
