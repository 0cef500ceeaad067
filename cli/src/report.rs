//! The measurement object shared by `audioproc.analysis/1` and `audioproc.process/1`. Its
//! keys are a published contract: add a schema version before changing them.

use std::path::Path;

use audioproc_engine::process::OutputMeasurement;
use audioproc_engine::{Analysis, LoudnessReport, MonoMode, StreamInfo};
use serde::Serialize;

/// One file's measurement, or its error.
#[derive(Debug, Serialize)]
pub struct Measurement {
    pub path: String,
    pub ok: bool,
    pub error: Option<String>,
    pub codec: Option<String>,
    pub container: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    pub duration_s: Option<f64>,
    pub integrated_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    pub sample_peak_dbfs: Option<f64>,
    pub momentary_max_lufs: Option<f64>,
    pub short_term_max_lufs: Option<f64>,
    pub mono_mode: Option<MonoMode>,
}

/// Rounds for presentation: 0.0001 dB is far below any meter's accuracy.
pub fn round4(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 10_000.0).round() / 10_000.0)
}

impl Measurement {
    fn measured(
        path: &Path,
        info: &StreamInfo,
        frames: u64,
        l: &LoudnessReport,
        mono_mode: Option<MonoMode>,
    ) -> Self {
        Measurement {
            path: path.display().to_string(),
            ok: true,
            error: None,
            codec: Some(info.codec.clone()),
            container: Some(info.container.clone()),
            sample_rate: Some(info.sample_rate),
            channels: Some(info.channels()),
            duration_s: round4(Some(frames as f64 / f64::from(info.sample_rate.max(1)))),
            integrated_lufs: round4(l.integrated_lufs),
            loudness_range_lu: round4(l.loudness_range_lu),
            true_peak_dbtp: round4(l.true_peak_dbtp),
            sample_peak_dbfs: round4(l.sample_peak_dbfs),
            momentary_max_lufs: round4(l.momentary_max_lufs),
            short_term_max_lufs: round4(l.short_term_max_lufs),
            mono_mode,
        }
    }

    /// An input's analysis.
    pub fn of_analysis(path: &Path, a: &Analysis) -> Self {
        Self::measured(path, &a.info, a.frames, &a.loudness, a.mono_mode)
    }

    /// A written output.
    pub fn of_output(path: &Path, o: &OutputMeasurement, mono_mode: MonoMode) -> Self {
        Self::measured(
            path,
            &o.info,
            o.frames,
            &o.loudness,
            (o.info.channels() == 1).then_some(mono_mode),
        )
    }

    /// A file that could not be measured.
    pub fn failed(path: &Path, error: String) -> Self {
        Measurement {
            path: path.display().to_string(),
            ok: false,
            error: Some(error),
            codec: None,
            container: None,
            sample_rate: None,
            channels: None,
            duration_s: None,
            integrated_lufs: None,
            loudness_range_lu: None,
            true_peak_dbtp: None,
            sample_peak_dbfs: None,
            momentary_max_lufs: None,
            short_term_max_lufs: None,
            mono_mode: None,
        }
    }
}

/// `-23.0 LUFS`, or `-∞` for no value.
pub fn fmt(x: Option<f64>, unit: &str) -> String {
    x.map_or_else(|| "-∞".to_owned(), |v| format!("{v:.1} {unit}"))
}
