//! The level a job aims for: the gain the measurement asks for, the ceiling the gain and the
//! limiter aim at, and whether the input is passed through unchanged.

use super::measure::Measured;
use super::{PeakMode, ProcessingSpec, TRUE_PEAK_HEADROOM_DB};

/// The gain and ceiling of the next encode; the phases after `measure` refine them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Level {
    /// Gain before the limiter, dB.
    pub(super) gain_db: f64,
    /// The ceiling the gain and the limiter aim at, dBTP: a little under the promised one.
    pub(super) ceiling_dbtp: f64,
    /// Whether the input is passed through unchanged (nothing to measure a gain from).
    pub(super) passthrough: bool,
    /// Linear mode: the gain never rises past what the ceiling allows before encoding.
    pub(super) gain_cap: Option<f64>,
}

impl Level {
    /// The level the measurement asks for; the reason for a pass-through goes to `notes`.
    pub(super) fn choose(spec: &ProcessingSpec, measured: &Measured, notes: &mut Vec<String>) -> Level {
        let aim = spec.true_peak_dbtp - TRUE_PEAK_HEADROOM_DB;
        let (gain_db, passthrough) = match (measured.pre.integrated_lufs, measured.pre.true_peak_dbtp) {
            (None, _) => {
                notes.push(passthrough_reason(measured).to_owned());
                (0.0, true)
            }
            (Some(i), tp) => {
                let wanted = spec.target_lufs - i;
                let gain = match (spec.mode, tp) {
                    (PeakMode::Linear, Some(tp)) if tp + wanted > aim => aim - tp,
                    _ => wanted,
                };
                (gain, false)
            }
        };
        let gain_cap = match (spec.mode, measured.pre.true_peak_dbtp) {
            (PeakMode::Linear, Some(tp)) => Some(aim - tp),
            _ => None,
        };
        Level { gain_db, ceiling_dbtp: aim, passthrough, gain_cap }
    }
}

fn passthrough_reason(m: &Measured) -> &'static str {
    let secs = m.input.duration_s();
    if m.input.loudness.sample_peak_dbfs.is_none() {
        "passed through unchanged: the input is digital silence"
    } else if secs < 0.4 {
        "passed through unchanged: the input is shorter than 400 ms, too short to measure integrated loudness"
    } else {
        "passed through unchanged: all of the input is below the −70 LUFS absolute gate"
    }
}
