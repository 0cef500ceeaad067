//! The processing job: bring a file to a loudness target under a true-peak ceiling, at the
//! wanted rate, channel count and format, and report what was done and measured.
//!
//! A job is a short sequence of named phases (`run_job`), each in its own file:
//! 1. `measure` (`measure.rs`) — pass 1: decode → meter the input (and, when the channel count
//!    or rate changes, mix → resample → meter the signal that will be encoded);
//! 2. the `Level` the measurement asks for (`level.rs`: gain, ceiling, pass-through);
//! 3. `calibrate_limiter` (`calibrate.rs`) — `limit` mode: dry runs of the apply pass measure
//!    how much loudness the limiter takes away, and the gain makes it up;
//! 4. `encode_and_verify` (`encode_and_verify.rs`) — the apply pass (`apply.rs`: decode → mix →
//!    resample → gain → limiter → meter → encode); a lossy output is decoded and measured again
//!    and, if the codec moved it off the target (or, with `strict_peak`, over the ceiling),
//!    encoded again;
//! 5. the `verdict` (`verdict.rs`), then `tag` (`tag.rs`) the finished file.
//!
//! Every pass reads a whole file; how many a job may do is [`DECODE_BUDGET`], and how many it
//! did is [`ProcessReport::passes`]. A compressed input is decoded by pass 1 only when its
//! decoded audio fits beside the output (`replay.rs`): the later passes read that copy, and
//! [`ProcessReport::decodes`] counts the passes that decoded. Memory does not grow with the
//! input's length.
//!
//! Outputs are written to a temporary file in the destination directory and placed under the
//! real name only when complete (`temp_output.rs`, [`crate::output`]), so a failure or crash
//! never leaves a partial file under the real name.

mod apply;
mod budget;
mod calibrate;
mod encode_and_verify;
mod input;
mod level;
mod measure;
mod options;
mod plan;
mod replay;
mod report;
mod spec;
mod tag;
mod temp_output;
mod verdict;

use std::path::Path;

pub use budget::{DECODE_BUDGET, DecodeBudget, LIMIT_CALIBRATION_RUNS, MAX_ENCODE_ATTEMPTS};
pub(crate) use options::Cancel;
pub use options::{Overwrite, ProcessOptions, Progress};
pub use report::{OutputMeasurement, ProcessReport};
pub use spec::{
    AlbumLevel, CEILING_TOLERANCE_DB, LOSSY_CORRECTION_LU, MIN_TARGET_LUFS, PeakMode, Preset, ProcessingSpec,
    TARGET_TOLERANCE_LU, TRUE_PEAK_HEADROOM_DB,
};

use crate::decode::Decoder;
use crate::error::{Error, Result};
pub use crate::threads::Threads;

use budget::Passes;
use input::Input;
use plan::Plan;
use temp_output::TempOutput;

/// Runs one job from `input` to `output` (a path whose directory exists), with helper threads
/// ([`Threads::Pipelined`]). See [`process_file_with`].
///
/// # Errors
/// As [`process_file_with`].
pub fn process_file(
    input: &Path,
    output: &Path,
    spec: &ProcessingSpec,
    overwrite: Overwrite,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ProcessReport> {
    process_file_with(
        input,
        output,
        spec,
        &ProcessOptions { overwrite, threads: Threads::Pipelined, progress, cancel: None },
    )
}

/// Runs one job from `input` to `output` (a path whose directory exists).
///
/// `options.progress` is called every few blocks; setting `options.cancel` stops the job within
/// one block with [`Error::Cancelled`]. The output is written to a temporary file beside it and
/// placed under `output` when complete ([`crate::output::place`]); on any error the temporary
/// file is removed and no file appears under `output`. Before any work, `output` is checked
/// ([`crate::output::check_target`]): with [`Overwrite::Never`] anything there is refused (and
/// the final link refuses a file that appeared meanwhile); with [`Overwrite::Replace`] only a
/// regular file may be replaced, and the new one takes over its owner and permission bits. The
/// output's bytes and the report do not depend on `options.threads`.
///
/// # Errors
/// [`Error::InvalidParameter`] for a bad spec, [`Error::OutputExists`],
/// [`Error::NotARegularFile`], [`Error::Cancelled`], any decode error of the input,
/// [`Error::Io`] writing the output, [`Error::Encode`], a stage's error
/// ([`Error::ResamplerRefused`], [`Error::ChannelMismatch`]).
pub fn process_file_with(
    input: &Path,
    output: &Path,
    spec: &ProcessingSpec,
    options: &ProcessOptions<'_>,
) -> Result<ProcessReport> {
    spec.validate()?;
    crate::output::check_target(output, options.overwrite)?;
    let temp = TempOutput::create(output)?;
    let report = guarded(|| run_job(input, &temp.path, spec, options))?;
    Cancel(options.cancel).check()?;
    temp.persist(output, options.overwrite)?;
    Ok(report)
}

/// Pass 1 of the job alone, for album mode: the loudness of `input` as `spec` would encode it
/// (after any channel mix and resampling, before gain), with its gating blocks, to be merged
/// with the other tracks' by [`crate::album::AlbumLoudness::of`]. One decode of the input.
///
/// # Errors
/// [`Error::InvalidParameter`] for a bad spec, [`Error::Cancelled`], any decode error of the
/// input, a stage's error.
pub fn measure_for_album(
    input: &Path,
    spec: &ProcessingSpec,
    options: &ProcessOptions<'_>,
) -> Result<crate::album::TrackLoudness> {
    spec.validate()?;
    guarded(|| {
        let input = &Input::open(input)?;
        let decoder = input.decoder(&spec.limits, options.threads)?;
        let mut job = Job::new(input, Path::new(""), spec, &decoder, options);
        let measured = measure::measure(&mut job, decoder, false)?;
        Ok(crate::album::TrackLoudness { loudness: measured.pre, gating: measured.pre_gating })
    })
}

/// Catches a panic anywhere in the job (decoder, DSP, encoder) as an error for this job only.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(Error::DecoderPanic { message: crate::error::panic_message(&*p) }))
}

/// One running job: what every phase reads, and the decodes done so far.
struct Job<'a> {
    /// The input, opened once: every pass reads this open file.
    input: &'a Input,
    /// The temporary output the job writes.
    temp: &'a Path,
    spec: &'a ProcessingSpec,
    plan: Plan,
    threads: Threads,
    progress: &'a (dyn Fn(Progress) + Sync),
    /// Checked once per block of every pass.
    cancel: Cancel<'a>,
    /// The input's length, once measured.
    frames_total: Option<u64>,
    passes: Passes,
    /// Pass 1's decoded audio, when it was kept for the later passes.
    replay: Option<replay::Replay>,
}

impl<'a> Job<'a> {
    /// A job on `input`, planned from its first decoder, writing `temp`.
    fn new(
        input: &'a Input,
        temp: &'a Path,
        spec: &'a ProcessingSpec,
        decoder: &Decoder,
        options: &ProcessOptions<'a>,
    ) -> Self {
        Job {
            input,
            temp,
            spec,
            plan: Plan::new(spec, decoder.info()),
            threads: options.threads,
            progress: options.progress,
            cancel: Cancel(options.cancel),
            frames_total: None,
            passes: Passes::default(),
            replay: None,
        }
    }
}

/// The phases of a job, in order.
fn run_job(input: &Path, temp: &Path, spec: &ProcessingSpec, options: &ProcessOptions<'_>) -> Result<ProcessReport> {
    let input = &Input::open(input)?;
    let decoder = input.decoder(&spec.limits, options.threads)?;
    let mut job = Job::new(input, temp, spec, &decoder, options);

    let measured = measure::measure(&mut job, decoder, true)?;
    job.frames_total = Some(measured.input.frames);
    let mut notes = std::mem::take(&mut job.plan.notes);
    notes.extend(measured.input.warnings.iter().map(|w| format!("input: {w}")));
    let mut level = level::Level::choose(spec, &measured, &mut notes);
    notes.extend(job.plan.settle_dither(spec, level.passthrough));

    if spec.mode == PeakMode::Limit && !level.passthrough && spec.album.is_none() {
        level.gain_db = calibrate::calibrate_limiter(&mut job, &level)?;
    }
    let encoded = encode_and_verify::encode_and_verify(&mut job, &mut level, &mut notes)?;
    let target_met = verdict::verdict(spec, &measured, &level, &encoded.measurement.loudness, &mut notes);
    tag::tag(&job, &encoded.measurement.loudness, &mut notes)?;
    input.check_unchanged()?;

    Ok(ProcessReport {
        input: measured.input,
        output: encoded.measurement,
        spec: spec.clone(),
        gain_db: level.gain_db,
        limiter_max_reduction_db: (spec.mode == PeakMode::Limit).then_some(encoded.limiter_reduction),
        target_met,
        notes,
        encode_attempts: encoded.attempts,
        passes: job.passes.done(),
        decodes: job.passes.decodes(),
    })
}
