//! The verdict: whether the output met the target and the ceiling, and if not, why; and the
//! note on a lossy encoder's true-peak overshoot.

use crate::encode::OutputFormat;
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
        && out_i.is_some_and(|i| (i - level.target_lufs).abs() <= TARGET_TOLERANCE_LU)
        && out_tp.is_none_or(|tp| tp <= spec.true_peak_dbtp + CEILING_TOLERANCE_DB);
    if !level.passthrough
        && let Some(i) = out_i
    {
        let miss = i - level.target_lufs;
        if miss.abs() > TARGET_TOLERANCE_LU {
            let gain_db = level.gain_db;
            let why = match spec.mode {
                PeakMode::Linear if gain_db < level.target_lufs - measured.pre.integrated_lufs.unwrap_or(i) - 0.01 => {
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
                level.target_lufs
            ));
        }
    }
    target_met
}

/// The note on a lossy output whose decoded true peak `true_peak_dbtp` is over the ceiling by
/// any amount (even one within [`CEILING_TOLERANCE_DB`], which `target_met` forgives), after
/// `attempts` encodes; `None` when it is not over.
pub(super) fn peak_overshoot_note(spec: &ProcessingSpec, true_peak_dbtp: Option<f64>, attempts: u32) -> Option<String> {
    let tp = true_peak_dbtp?;
    let over = tp - spec.true_peak_dbtp;
    if over <= 0.0 {
        return None;
    }
    let by = if over < 0.005 { "less than 0.01".to_owned() } else { format!("{over:.2}") };
    let codec = codec_name(spec.format);
    let advice = if spec.strict_peak {
        format!("still over after {attempts} encodes")
    } else {
        "use --strict-peak to re-encode lower".to_owned()
    };
    Some(format!(
        "output true peak {tp:.2} dBTP is {by} dB over the {:.1} dBTP ceiling after {codec} encoding (the {codec} \
         encoder overshoots); {advice}",
        spec.true_peak_dbtp
    ))
}

fn codec_name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Wav => "WAV",
        OutputFormat::Flac => "FLAC",
        OutputFormat::Mp3 => "MP3",
        OutputFormat::Opus => "Opus",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Preset;

    #[test]
    fn a_true_peak_overshoot_within_the_tolerance_gets_a_note() {
        let spec = ProcessingSpec::new(Preset::Ebu, OutputFormat::Mp3);
        let note = peak_overshoot_note(&spec, Some(-0.97), 1).expect("0.03 dB over");
        assert_eq!(
            note,
            "output true peak -0.97 dBTP is 0.03 dB over the -1.0 dBTP ceiling after MP3 encoding (the MP3 encoder \
             overshoots); use --strict-peak to re-encode lower"
        );
        assert!(peak_overshoot_note(&spec, Some(-0.9999), 1).expect("over").contains("less than 0.01 dB over"));
        assert_eq!(peak_overshoot_note(&spec, Some(-1.0), 1), None, "at the ceiling");
        assert_eq!(peak_overshoot_note(&spec, Some(-1.2), 1), None);
        assert_eq!(peak_overshoot_note(&spec, None, 1), None, "silence");
        let strict = ProcessingSpec { strict_peak: true, ..ProcessingSpec::new(Preset::Podcast, OutputFormat::Opus) };
        let note = peak_overshoot_note(&strict, Some(-1.2), 4).expect("0.3 dB over");
        assert!(note.contains("0.30 dB over the -1.5 dBTP ceiling after Opus encoding"), "{note}");
        assert!(note.ends_with("still over after 4 encodes"), "{note}");
    }
}
