//! Phase `encode_and_verify`: encode into the temporary output; a lossy output is decoded and
//! measured from the decoded audio, and encoded again (at most [`MAX_ENCODE_ATTEMPTS`] times in
//! all) when the codec moved the loudness off the target or, with `strict_peak`, pushed the true
//! peak over the ceiling.

use crate::analyze::{AnalyzeOptions, analyze_path_with};
use crate::error::{Error, Result};

use super::apply::apply;
use super::level::Level;
use super::verdict;
use super::{
    Job, LOSSY_CORRECTION_LU, MAX_ENCODE_ATTEMPTS, OutputMeasurement, PeakMode, ProcessingSpec, TRUE_PEAK_HEADROOM_DB,
};

/// The output as finally written.
#[derive(Debug)]
pub(super) struct Encoded {
    /// Its measurement (from decoding it, for lossy formats).
    pub(super) measurement: OutputMeasurement,
    /// Largest limiter gain reduction of the last encode, dB.
    pub(super) limiter_reduction: f64,
    /// Encodes done.
    pub(super) attempts: u32,
}

/// Encodes at `level`, correcting it (and `level`) as long as the codec needs it.
///
/// # Errors
/// Any error of an apply pass; [`Error::Encode`] when the encoded output does not decode.
pub(super) fn encode_and_verify(job: &mut Job<'_>, level: &mut Level, notes: &mut Vec<String>) -> Result<Encoded> {
    let (spec, temp) = (job.spec, job.temp);
    let mut attempts = 0;
    let (mut loudness_corrected, mut peak_corrected) = (false, false);
    let (measurement, limiter_reduction) = loop {
        attempts += 1;
        let written = apply(job, Some(temp), level.gain_db, level.ceiling_dbtp)?;
        let mut measurement = written.measurement;
        if !spec.format.is_lossy() || level.passthrough {
            break (measurement, written.limiter_reduction);
        }
        measure_written(job, &mut measurement)?;
        let next = correction(spec, level, &measurement);
        let changes = (next.gain_db - level.gain_db).abs() >= 0.01 || next.ceiling_dbtp != level.ceiling_dbtp;
        if !changes || attempts >= MAX_ENCODE_ATTEMPTS {
            notes.extend(verdict::peak_overshoot_note(spec, measurement.loudness.true_peak_dbtp, attempts));
            break (measurement, written.limiter_reduction);
        }
        loudness_corrected |= next.gain_db > level.gain_db
            || (next.gain_db < level.gain_db && next.ceiling_dbtp == level.ceiling_dbtp && !spec.strict_peak);
        peak_corrected |= spec.strict_peak && next.overshoot > 0.0;
        *level = Level { gain_db: next.gain_db, ceiling_dbtp: next.ceiling_dbtp, gain_cap: next.gain_cap, ..*level };
    };
    if attempts > 1 {
        let why = match (loudness_corrected, peak_corrected) {
            (true, true) => "to correct the loudness and hold the true-peak ceiling after encoding",
            (false, true) => "to hold the true-peak ceiling after encoding",
            _ => "to correct the loudness change of the encoder",
        };
        notes.push(format!("encoded {attempts} times {why}"));
    }
    Ok(Encoded { measurement, limiter_reduction, attempts })
}

/// Replaces the figures of a lossy output by those of its decoded audio.
fn measure_written(job: &mut Job<'_>, measurement: &mut OutputMeasurement) -> Result<()> {
    job.passes.count();
    let options =
        AnalyzeOptions { limits: job.spec.limits.clone(), mono_mode: job.spec.mono_mode, curve: job.spec.curve };
    let decoded = analyze_path_with(job.temp, &options, job.threads, job.cancel).map_err(|e| match e {
        Error::Cancelled => Error::Cancelled,
        e => Error::Encode(format!("the encoded output does not decode: {e}")),
    })?;
    measurement.loudness = decoded.loudness;
    measurement.frames = decoded.frames;
    measurement.measured_after_decoding = true;
    Ok(())
}

/// The settings of the next encode, from what the last one measured.
#[derive(Clone, Copy, Debug)]
struct Correction {
    gain_db: f64,
    ceiling_dbtp: f64,
    gain_cap: Option<f64>,
    /// How far the written true peak is over the promised ceiling, dB (negative: under).
    overshoot: f64,
}

fn correction(spec: &ProcessingSpec, level: &Level, written: &OutputMeasurement) -> Correction {
    let mut next = Correction {
        gain_db: level.gain_db,
        ceiling_dbtp: level.ceiling_dbtp,
        gain_cap: level.gain_cap,
        overshoot: written.loudness.true_peak_dbtp.map_or(0.0, |tp| tp - spec.true_peak_dbtp),
    };
    if let Some(i) = written.loudness.integrated_lufs {
        let miss = level.target_lufs - i;
        if miss.abs() > LOSSY_CORRECTION_LU {
            next.gain_db = level.gain_db + miss;
            if let Some(cap) = level.gain_cap {
                next.gain_db = next.gain_db.min(cap);
            }
        }
    }
    if spec.strict_peak && next.overshoot > 0.0 {
        // Lower by the overshoot and the headroom, and encode again.
        let step = next.overshoot + TRUE_PEAK_HEADROOM_DB;
        match spec.mode {
            PeakMode::Linear => {
                next.gain_db = next.gain_db.min(level.gain_db - step);
                next.gain_cap = Some(next.gain_db);
            }
            PeakMode::Limit => next.ceiling_dbtp = level.ceiling_dbtp - step,
        }
    }
    next
}
