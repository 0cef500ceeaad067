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
    /// The integrated loudness this track aims at, LUFS: the target, or in album mode the
    /// track's loudness moved by the gain that brings the album to the target.
    pub(super) target_lufs: f64,
}

impl Level {
    /// The level the measurement asks for; the reason for a pass-through goes to `notes`.
    pub(super) fn choose(spec: &ProcessingSpec, measured: &Measured, notes: &mut Vec<String>) -> Level {
        let aim = spec.true_peak_dbtp - TRUE_PEAK_HEADROOM_DB;
        let mut target_lufs = spec.target_lufs;
        let (gain_db, passthrough) = match (measured.pre.integrated_lufs, measured.pre.true_peak_dbtp, spec.album) {
            (None, _, _) => {
                notes.push(passthrough_reason(measured).to_owned());
                (0.0, true)
            }
            (Some(i), _, Some(album)) => {
                target_lufs = i + spec.target_lufs - album.integrated_lufs;
                notes.push(album_note(spec, album, i));
                (album.gain_db, false)
            }
            (Some(i), tp, None) => {
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
        Level { gain_db, ceiling_dbtp: aim, passthrough, gain_cap, target_lufs }
    }
}

fn album_note(spec: &ProcessingSpec, album: super::AlbumLevel, track_lufs: f64) -> String {
    let tp = album.true_peak_dbtp.map_or_else(|| "none".to_owned(), |t| format!("{t:.2} dBTP"));
    let limit = match spec.mode {
        PeakMode::Limit => {
            "; the limiter holds each track's peaks, with no calibration (it would change the tracks' relative loudness)"
        }
        PeakMode::Linear => "",
    };
    format!(
        "album mode: album of {} tracks at {:.2} LUFS (loudest true peak {tp}), one gain of {:+.2} dB for every track; \
         this track ({track_lufs:.2} LUFS) aims at {:.2} LUFS{limit}",
        album.tracks,
        album.integrated_lufs,
        album.gain_db,
        track_lufs + spec.target_lufs - album.integrated_lufs,
    )
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
