//! The JSON documents of the front ends: the measurement object shared by
//! `audioproc.analysis/1` and `audioproc.process/1`, and the `audioproc.process/1` document.
//! Their keys are a published contract: add a schema version before changing them.
//!
//! Locations are plain strings (a local path or an `s3://` URL), so every front end writes the
//! same documents.
//!
//! Loudness curves (`audioproc.curve/1`, [`Curve`]) are added only when they were asked for: an
//! analysis entry's `curve`, a process document's `curve: {input, output}`. Without them the
//! documents are exactly those of before (the keys are skipped, not `null`).

use serde::Serialize;

use crate::analyze::Analysis;
use crate::decode::StreamInfo;
use crate::encode::OutputFormat;
use crate::loudness::{Curve, LoudnessReport, MonoMode};
use crate::process::{AlbumLevel, OutputMeasurement, PeakMode, Preset, ProcessReport};

/// The `schema` value of [`ProcessDocument`].
pub const PROCESS_SCHEMA: &str = "audioproc.process/1";

/// One file's measurement, or its error.
#[derive(Debug, Serialize)]
pub struct Measurement {
    /// Where the file is: a local path or an `s3://` URL.
    pub path: String,
    /// Whether the file was measured.
    pub ok: bool,
    /// Why not, when `ok` is false.
    pub error: Option<String>,
    /// Codec name (`pcm_s16le`, `flac`, `mp3`, …).
    pub codec: Option<String>,
    /// Container name (`wav`, `flac`, `ogg`, …).
    pub container: Option<String>,
    /// Sample rate, Hz.
    pub sample_rate: Option<u32>,
    /// Number of channels.
    pub channels: Option<usize>,
    /// Duration, seconds.
    pub duration_s: Option<f64>,
    /// Integrated loudness, LUFS (`None` when −∞).
    pub integrated_lufs: Option<f64>,
    /// Loudness range, LU.
    pub loudness_range_lu: Option<f64>,
    /// True peak, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Sample peak, dBFS.
    pub sample_peak_dbfs: Option<f64>,
    /// Largest momentary loudness, LUFS.
    pub momentary_max_lufs: Option<f64>,
    /// Largest short-term loudness, LUFS.
    pub short_term_max_lufs: Option<f64>,
    /// How a one-channel file was weighted; `None` for other layouts.
    pub mono_mode: Option<MonoMode>,
    /// The loudness curve, when asked for ([`Measurement::with_curve`]); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<Curve>,
}

/// Rounds for presentation: 0.0001 dB is far below any meter's accuracy.
pub fn round4(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 10_000.0).round() / 10_000.0)
}

impl Measurement {
    fn measured(path: &str, info: &StreamInfo, frames: u64, l: &LoudnessReport, mono_mode: Option<MonoMode>) -> Self {
        Measurement {
            path: path.to_owned(),
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
            curve: None,
        }
    }

    /// The same, with `curve` (an analysis entry's curve; `None` leaves the entry as it is).
    pub fn with_curve(self, curve: Option<Curve>) -> Self {
        Measurement { curve, ..self }
    }

    /// An input's analysis.
    pub fn of_analysis(path: &str, a: &Analysis) -> Self {
        Self::measured(path, &a.info, a.frames, &a.loudness, a.mono_mode)
    }

    /// A written output.
    pub fn of_output(path: &str, o: &OutputMeasurement, mono_mode: MonoMode) -> Self {
        Self::measured(path, &o.info, o.frames, &o.loudness, (o.info.channels() == 1).then_some(mono_mode))
    }

    /// A file that could not be measured.
    pub fn failed(path: &str, error: String) -> Self {
        Measurement {
            path: path.to_owned(),
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
            curve: None,
        }
    }
}

/// The `audioproc.process/1` document.
#[derive(Debug, Serialize)]
pub struct ProcessDocument {
    /// Always [`PROCESS_SCHEMA`].
    pub schema: &'static str,
    /// Whether the output was written.
    pub ok: bool,
    /// Why not, when `ok` is false.
    pub error: Option<String>,
    /// The input's measurement.
    pub input: Measurement,
    /// The output's measurement, as written.
    pub output: Option<Measurement>,
    /// The preset the spec started from.
    pub preset: Option<Preset>,
    /// Integrated loudness target, LUFS.
    pub target_lufs: Option<f64>,
    /// True-peak ceiling, dBTP.
    pub true_peak_ceiling_dbtp: Option<f64>,
    /// Peak mode.
    pub mode: Option<PeakMode>,
    /// Output format.
    pub format: Option<OutputFormat>,
    /// Bits per sample of a lossless output.
    pub bits_per_sample: Option<u32>,
    /// Gain applied, dB.
    pub gain_db: Option<f64>,
    /// Largest limiter gain reduction, dB (limit mode).
    pub limiter_max_reduction_db: Option<f64>,
    /// Whether the output is within tolerance of the target.
    pub target_met: bool,
    /// Everything the user should know about the result.
    pub notes: Vec<String>,
    /// Passes over the audio the job did: over the input, and over the encoded output (0 when
    /// it failed).
    pub passes: u32,
    /// How many of those passes decoded a file (the others read pass 1's kept copy of the
    /// decoded input).
    pub decodes: u32,
    /// Wall time of the job, seconds.
    pub elapsed_s: f64,
    /// The loudness curves of the input and of the output as written, when the spec asked for
    /// them ([`crate::ProcessingSpec::curve`]); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<ProcessCurves>,
    /// Album mode: the album's figures (the key is absent in track mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album: Option<AlbumDocument>,
}

/// The curves of a process document.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessCurves {
    /// The input's curve.
    pub input: Curve,
    /// The output's curve, measured as the output figures are (by decoding MP3 and Opus).
    pub output: Curve,
}

impl ProcessCurves {
    /// Both curves of a job's report, when it recorded them.
    pub fn of(report: &ProcessReport) -> Option<Self> {
        let (input, output) = (report.input.loudness.curve.clone()?, report.output.loudness.curve.clone()?);
        Some(ProcessCurves { input, output })
    }
}

/// The album a track was processed with (`--album`): `input` holds the track's own figures.
#[derive(Debug, Serialize)]
pub struct AlbumDocument {
    /// Tracks measured together.
    pub tracks: usize,
    /// The album's integrated loudness (gated over all its tracks' blocks), LUFS.
    pub integrated_lufs: Option<f64>,
    /// The album's true peak (its loudest track's), dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// The gain every track of the album got, dB.
    pub gain_db: Option<f64>,
}

impl AlbumDocument {
    /// The album of a spec's [`AlbumLevel`].
    pub fn of(a: &AlbumLevel) -> Self {
        AlbumDocument {
            tracks: a.tracks,
            integrated_lufs: round4(Some(a.integrated_lufs)),
            true_peak_dbtp: round4(a.true_peak_dbtp),
            gain_db: round4(Some(a.gain_db)),
        }
    }
}

impl ProcessDocument {
    /// The document for one job: `input` and `output` are the locations shown, `result` the
    /// engine's report or the error message.
    pub fn new(input: &str, output: &str, result: &Result<ProcessReport, String>, elapsed_s: f64) -> Self {
        match result {
            Ok(r) => ProcessDocument {
                schema: PROCESS_SCHEMA,
                ok: true,
                error: None,
                input: Measurement::of_analysis(input, &r.input),
                output: Some(Measurement::of_output(output, &r.output, r.spec.mono_mode)),
                preset: Some(r.spec.preset),
                target_lufs: Some(r.spec.target_lufs),
                true_peak_ceiling_dbtp: Some(r.spec.true_peak_dbtp),
                mode: Some(r.spec.mode),
                format: Some(r.spec.format),
                bits_per_sample: r.output.info.bits_per_sample,
                gain_db: round4(Some(r.gain_db)),
                limiter_max_reduction_db: round4(r.limiter_max_reduction_db),
                target_met: r.target_met,
                notes: r.notes.clone(),
                passes: r.passes,
                decodes: r.decodes,
                elapsed_s: round4(Some(elapsed_s)).unwrap_or(0.0),
                curve: ProcessCurves::of(r),
                album: r.spec.album.as_ref().map(AlbumDocument::of),
            },
            Err(e) => ProcessDocument {
                schema: PROCESS_SCHEMA,
                ok: false,
                error: Some(e.clone()),
                input: Measurement::failed(input, e.clone()),
                output: None,
                preset: None,
                target_lufs: None,
                true_peak_ceiling_dbtp: None,
                mode: None,
                format: None,
                bits_per_sample: None,
                gain_db: None,
                limiter_max_reduction_db: None,
                target_met: false,
                notes: Vec::new(),
                passes: 0,
                decodes: 0,
                elapsed_s: round4(Some(elapsed_s)).unwrap_or(0.0),
                curve: None,
                album: None,
            },
        }
    }
}
