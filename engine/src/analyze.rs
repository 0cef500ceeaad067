//! One-call analysis of a whole input: decode → meter → [`Analysis`].

use std::io::{Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use crate::decode::{Decoder, Limits, StreamInfo};
use crate::error::{Error, Result, Warning, panic_message};
use crate::loudness::histogram::GatingHistogram;
use crate::loudness::{LoudnessReport, MonoMode, ThreadedMeter, channel_weights};
use crate::process::Cancel;
use crate::threads::Threads;

/// How to analyse.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnalyzeOptions {
    /// Decoder caps.
    pub limits: Limits,
    /// How a one-channel input is weighted.
    pub mono_mode: MonoMode,
    /// Record the loudness curve ([`LoudnessReport::curve`]).
    pub curve: bool,
}

/// The measurement of one input.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// What the stream is.
    pub info: StreamInfo,
    /// Frames decoded (after gapless trimming).
    pub frames: u64,
    /// The mono policy applied, for one-channel inputs; `None` otherwise.
    pub mono_mode: Option<MonoMode>,
    /// The loudness figures.
    pub loudness: LoudnessReport,
    /// Non-fatal problems (skipped packets, sanitised samples, truncation).
    pub warnings: Vec<Warning>,
}

impl Analysis {
    /// Decoded duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.info.sample_rate)
    }
}

/// Analyses the file at `path`.
///
/// # Errors
/// Any [`Error`] of opening or decoding; a panic anywhere in decoding or metering becomes
/// [`Error::DecoderPanic`].
pub fn analyze_path(path: &Path, options: &AnalyzeOptions) -> Result<Analysis> {
    analyze_path_with(path, options, Threads::Pipelined, Cancel::NEVER)
}

/// Analyses the file at `path` with a given thread choice (a job's check of its own output),
/// stopping with [`Error::Cancelled`] within one block of `cancel` being set.
///
/// # Errors
/// As [`analyze_path`].
pub(crate) fn analyze_path_with(
    path: &Path,
    options: &AnalyzeOptions,
    threads: Threads,
    cancel: Cancel<'_>,
) -> Result<Analysis> {
    analyze_file(path, options, threads, cancel).map(|(analysis, _)| analysis)
}

/// Analyses any seekable source.
///
/// # Errors
/// As [`analyze_path`].
pub fn analyze_source<S: Read + Seek + Send + Sync + 'static>(source: S, options: &AnalyzeOptions) -> Result<Analysis> {
    analyze_source_with(source, options, Threads::Pipelined, Cancel::NEVER)
}

fn analyze_source_with<S: Read + Seek + Send + Sync + 'static>(
    source: S,
    options: &AnalyzeOptions,
    threads: Threads,
    cancel: Cancel<'_>,
) -> Result<Analysis> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = Decoder::open(source, &options.limits)?;
        meter_decoder(&mut decoder, options, threads, cancel)
    }))
    .unwrap_or_else(|p| Err(Error::DecoderPanic { message: panic_message(&*p) }))
}

/// Runs an opened decoder to the end through a meter (true peak on a helper thread).
///
/// # Errors
/// Any decode error.
pub fn analyze_decoder(decoder: &mut Decoder, mono_mode: MonoMode) -> Result<Analysis> {
    let options = AnalyzeOptions { mono_mode, ..AnalyzeOptions::default() };
    meter_decoder(decoder, &options, Threads::Pipelined, Cancel::NEVER)
}

/// Runs an opened decoder to the end through a meter, checking `cancel` before every block.
/// (`options.limits` were applied when the decoder was opened.)
fn meter_decoder(
    decoder: &mut Decoder,
    options: &AnalyzeOptions,
    threads: Threads,
    cancel: Cancel<'_>,
) -> Result<Analysis> {
    meter_decoder_gated(decoder, options, threads, cancel).map(|(analysis, _)| analysis)
}

/// Analyses the file at `path`, keeping the gating blocks of its integrated loudness (album
/// loudness merges them: [`crate::album`]). [`Threads::Single`] when many files are measured in
/// parallel (no hand-off of blocks to a true-peak thread).
///
/// # Errors
/// As [`analyze_path`].
pub fn analyze_path_gated(
    path: &Path,
    options: &AnalyzeOptions,
    threads: Threads,
) -> Result<(Analysis, GatingHistogram)> {
    analyze_file(path, options, threads, Cancel::NEVER)
}

/// Opens `path` as a file (so that a native FLAC stream can be decoded on two threads) and
/// measures it, with the gating blocks.
fn analyze_file(
    path: &Path,
    options: &AnalyzeOptions,
    threads: Threads,
    cancel: Cancel<'_>,
) -> Result<(Analysis, GatingHistogram)> {
    let file = std::fs::File::open(path)?;
    catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = Decoder::open_file(&file, &options.limits)?;
        meter_decoder_gated(&mut decoder, options, threads, cancel)
    }))
    .unwrap_or_else(|p| Err(Error::DecoderPanic { message: panic_message(&*p) }))
}

/// As [`meter_decoder`], with the gating blocks of the integrated loudness.
fn meter_decoder_gated(
    decoder: &mut Decoder,
    options: &AnalyzeOptions,
    threads: Threads,
    cancel: Cancel<'_>,
) -> Result<(Analysis, GatingHistogram)> {
    let (mono_mode, info) = (options.mono_mode, decoder.info().clone());
    let weights = channel_weights(&info.layout, mono_mode);
    let mut meter = ThreadedMeter::new(info.sample_rate, &weights, threads, options.curve)?;
    if threads == Threads::Pipelined {
        decoder.decode_on_two_threads()?;
    }
    cancel.check()?;
    match threads {
        Threads::Single => {
            while let Some(block) = decoder.next_block()? {
                meter.process(block);
                cancel.check()?;
            }
        }
        Threads::Pipelined => {
            // The decoded blocks go to the meter's threads as they are, without a copy.
            while let Some(block) = decoder.take_block()? {
                meter.process_shared(&Arc::new(block));
                cancel.check()?;
            }
        }
    }
    let (loudness, gating) = meter.finish();
    let analysis = Analysis {
        mono_mode: (info.channels() == 1).then_some(mono_mode),
        frames: decoder.frames(),
        loudness,
        warnings: decoder.warnings(),
        info,
    };
    Ok((analysis, gating))
}
