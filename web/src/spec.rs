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

    /// The settings of an external processor, from the variables the Lambda function reads
    /// (`AUDIOPROC_PRESET`, `AUDIOPROC_TARGET_LUFS`, `AUDIOPROC_TRUE_PEAK_DBTP`,
    /// `AUDIOPROC_MODE`, `AUDIOPROC_FORMAT`, `AUDIOPROC_SAMPLE_RATE`) through `var`.
    ///
    /// # Errors
    /// A value that does not parse or that the engine refuses, naming the variable.
    pub fn from_processor_env(var: impl Fn(&str) -> Option<String>) -> Result<TrackSpec, String> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let number = |name: &str| -> Result<Option<f64>, String> {
            get(name).map(|v| v.parse().map_err(|_| format!("{name}={v:?} is not a number"))).transpose()
        };
        let rate = get("AUDIOPROC_SAMPLE_RATE")
            .map(|v| v.parse().map_err(|_| format!("AUDIOPROC_SAMPLE_RATE={v:?} is not a rate in Hz")))
            .transpose()?;
        let request = SpecRequest {
            preset: get("AUDIOPROC_PRESET"),
            target_lufs: number("AUDIOPROC_TARGET_LUFS")?,
            true_peak_dbtp: number("AUDIOPROC_TRUE_PEAK_DBTP")?,
            mode: get("AUDIOPROC_MODE"),
            format: get("AUDIOPROC_FORMAT"),
            rate,
            channels: None,
        };
        TrackSpec::from_request(&request).map_err(|e| format!("the processor's settings (AUDIOPROC_*): {e}"))
    }

    /// `Ok` when every field `r` sets is this spec's (so a client may send nothing, or exactly
    /// these settings); why not, for people.
    ///
    /// # Errors
    /// As above.
    pub fn refuse_others(&self, r: &SpecRequest) -> Result<(), String> {
        let close = |a: Option<f64>, b: f64| a.is_none_or(|a| (a - b).abs() < 1e-9);
        let same = r.preset.as_deref().is_none_or(|p| p.eq_ignore_ascii_case(&self.preset))
            && close(r.target_lufs, self.target_lufs)
            && close(r.true_peak_dbtp, self.true_peak_dbtp)
            && r.mode.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&self.mode))
            && r.format.as_deref().is_none_or(|f| f.eq_ignore_ascii_case(&self.format))
            && r.rate.is_none_or(|x| Some(x) == self.rate)
            && r.channels.is_none_or(|x| Some(x) == self.channels);
        if same {
            return Ok(());
        }
        Err(format!(
            "this server's tracks are processed by its Lambda function or workers with fixed settings \
             (preset {}, {} LUFS, {} dBTP, {}, {}): leave the settings out, or send exactly these",
            self.preset, self.target_lufs, self.true_peak_dbtp, self.mode, self.format
        ))
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

    #[test]
    fn an_external_processors_settings_come_from_its_variables_and_refuse_others() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let fixed =
            TrackSpec::from_processor_env(vars(&[("AUDIOPROC_PRESET", "streaming"), ("AUDIOPROC_FORMAT", "mp3")]))
                .unwrap();
        assert_eq!((fixed.target_lufs, fixed.format.as_str()), (-14.0, "mp3"));
        assert!(fixed.refuse_others(&SpecRequest::default()).is_ok());
        let same = SpecRequest { preset: Some("streaming".into()), format: Some("mp3".into()), ..Default::default() };
        assert!(fixed.refuse_others(&same).is_ok());
        let other = SpecRequest { format: Some("flac".into()), ..Default::default() };
        assert!(fixed.refuse_others(&other).unwrap_err().contains("mp3"));
        assert!(
            TrackSpec::from_processor_env(vars(&[("AUDIOPROC_TARGET_LUFS", "loud")])).unwrap_err().contains("loud")
        );
    }
}
