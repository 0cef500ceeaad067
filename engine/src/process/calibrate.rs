//! Phase `calibrate_limiter` (`limit` mode): dry runs of the apply pass (nothing encoded) tell
//! how much loudness the limiter takes away, and the gain is raised to make it up, so the output
//! lands on the target.

use super::apply::apply;
use super::level::Level;
use super::{Job, LIMIT_CALIBRATION_RUNS};

/// How close to the target a dry run must land to stop calibrating, LU.
const CALIBRATED_LU: f64 = 0.02;
/// The calibrated gain never rises more than this above the plain gain, dB.
const MAX_MAKEUP_DB: f64 = 12.0;

/// The gain that brings the limited output to the target, found by the secant method on the
/// measured loudness (at most [`LIMIT_CALIBRATION_RUNS`] dry runs, never more than
/// [`MAX_MAKEUP_DB`] above the plain gain).
///
/// # Errors
/// Any error of a dry run (decoding the input, a stage).
pub(super) fn calibrate_limiter(job: &mut Job<'_>, level: &Level) -> crate::error::Result<f64> {
    let target = job.spec.target_lufs;
    let base = level.gain_db;
    let mut gain_db = base;
    let mut previous: Option<(f64, f64)> = None;
    for _ in 0..LIMIT_CALIBRATION_RUNS {
        let dry = apply(job, None, gain_db, level.ceiling_dbtp)?;
        let Some(i) = dry.measurement.loudness.integrated_lufs else {
            break;
        };
        let miss = target - i;
        if miss.abs() <= CALIBRATED_LU {
            break;
        }
        // Loudness rises by less than the gain under limiting: the slope is at most 1.
        let slope = match previous {
            Some((g0, i0)) if (gain_db - g0).abs() > 1e-6 => ((i - i0) / (gain_db - g0)).clamp(0.05, 1.0),
            _ => 1.0,
        };
        previous = Some((gain_db, i));
        let next = (gain_db + miss / slope).clamp(base, base + MAX_MAKEUP_DB);
        if (next - gain_db).abs() < 0.005 {
            break;
        }
        gain_db = next;
    }
    Ok(gain_db)
}
