//! The verdict: whether the output met the target and the ceiling, and if not, why.

use crate::loudness::LoudnessReport;

use super::level::Level;
use super::measure::Measured;
use super::{CEILING_TOLERANCE_DB, PeakMode, ProcessingSpec, TARGET_TOLERANCE_LU};

/// Whether `output` is within [`TARGET_TOLERANCE_LU`] of the target and its true peak within
/// [`CEILING_TOLERANCE_DB`] of the ceiling; a miss is explained in `notes`.
pub(super) fn verdict(
    spec: &ProcessingSpec,
    measured: &Measured,
    level: &Level,
    output: &LoudnessReport,
    notes: &mut Vec<String>,
) -> bool {
    let (out_i, out_tp) = (output.integrated_lufs, output.true_peak_dbtp);
    let target_met = !level.passthrough
        && out_i.is_some_and(|i| (i - spec.target_lufs).abs() <= TARGET_TOLERANCE_LU)
        && out_tp.is_none_or(|tp| tp <= spec.true_peak_dbtp + CEILING_TOLERANCE_DB);
    if !level.passthrough
        && let Some(i) = out_i
    {
        let miss = i - spec.target_lufs;
        if miss.abs() > TARGET_TOLERANCE_LU {
            let gain_db = level.gain_db;
            let why = match spec.mode {
                PeakMode::Linear if gain_db < spec.target_lufs - measured.pre.integrated_lufs.unwrap_or(i) - 0.01 => {
                    format!(
                        "linear gain held to {gain_db:+.2} dB by the {:.1} dBTP ceiling (use --mode limit to reach the target)",
                        spec.true_peak_dbtp
                    )
                }
                PeakMode::Linear => "the encoder changed the loudness".to_owned(),
                PeakMode::Limit => "the limiter could not restore the loudness it removed".to_owned(),
            };
            notes.push(format!(
                "target missed by {:.2} LU: output {i:.2} LUFS against {:.1} LUFS; {why}",
                miss.abs(),
                spec.target_lufs
            ));
        }
    }
    target_met
}
