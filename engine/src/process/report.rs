//! What a job reports: the measurement of the output as written, and the [`ProcessReport`].

use crate::analyze::Analysis;
use crate::decode::StreamInfo;
use crate::loudness::LoudnessReport;

use super::ProcessingSpec;

/// The measurement of the output, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputMeasurement {
    /// What was written.
    pub info: StreamInfo,
    /// Frames written.
    pub frames: u64,
    /// Loudness of the output: for lossy formats measured by decoding the encoded file, for
    /// lossless ones measured on the samples handed to the encoder.
    pub loudness: LoudnessReport,
    /// Whether the figures come from decoding the written file.
    pub measured_after_decoding: bool,
}

/// What a job did.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessReport {
    /// The input's measurement.
    pub input: Analysis,
    /// The output's measurement.
    pub output: OutputMeasurement,
    /// The spec that was applied.
    pub spec: ProcessingSpec,
    /// Gain applied before the limiter, dB (0 when passed through).
    pub gain_db: f64,
    /// Largest limiter gain reduction, dB (`limit` mode only).
    pub limiter_max_reduction_db: Option<f64>,
    /// Whether the output is within [`super::TARGET_TOLERANCE_LU`] of the target and its true
    /// peak within [`super::CEILING_TOLERANCE_DB`] of the ceiling.
    pub target_met: bool,
    /// Plain-language notes: why the target was missed, what was converted, warnings.
    pub notes: Vec<String>,
    /// Encoding attempts (more than one only for lossy outputs that were corrected).
    pub encode_attempts: u32,
    /// Passes over the audio: over the input (measure, limiter calibrations, encodes) and over
    /// the encoded output (lossy verification). At most [`super::DECODE_BUDGET`]`.max_passes()`.
    pub passes: u32,
    /// How many of those passes decoded a file: the others read the copy of the decoded input
    /// that pass 1 kept (a compressed input is then decoded once, not once per pass).
    pub decodes: u32,
}
