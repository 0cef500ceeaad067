//! The processing job: bring a file to a loudness target under a true-peak ceiling, at the
//! wanted rate, channel count and format, and report what was done and measured.
//!
//! Two streaming passes over the input, so memory does not grow with its length:
//! 1. **measure** — decode → meter the input as it is; when the channel count or rate changes,
//!    also mix → resample → meter, so the gain is computed on the signal that will be encoded.
//! 2. **apply** — decode → mix → resample → gain → (limiter) → meter → encode.
//!
//! Resampling comes before the gain and the limiter (not after, as a literal reading of
//! "gain → resample" would have it) so that the limiter sees the final sample rate and no
//! resampling filter can add inter-sample overs after the peak control.
//!
//! In `limit` mode a dry run of pass 2 (no encoding) first measures how much loudness the
//! limiter takes away, and the gain is raised by that amount (bounded), so the output lands on
//! the target. Lossy outputs are decoded again after encoding and measured from the decoded
//! audio; an encoder overshoot of the ceiling is reported, and with `strict_peak` the job is
//! re-encoded with a correspondingly lower gain or ceiling.
//!
//! Outputs are written to a temporary file in the destination directory and renamed into place
//! only when complete, so a failure or crash never leaves a partial file under the real name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Serialize;

use crate::analyze::{Analysis, analyze_path};
use crate::channels::ChannelRole;
use crate::decode::{Decoder, Limits, StreamInfo};
use crate::dsp::{ChannelMixer, LimiterOptions, Resampler, Stage, TruePeakLimiter};
use crate::encode::{EncodeOptions, Encoder, Mp3Bitrate, OutputFormat, SampleFormat};
use crate::error::{Error, Result};
use crate::loudness::{LoudnessReport, MonoMode, ThreadedMeter, channel_weights};
use crate::tags::{LoudnessTags, Metadata};

/// How close to the target the output's integrated loudness must be for `target_met`, LU.
pub const TARGET_TOLERANCE_LU: f64 = 0.2;
/// How far above the ceiling the output's true peak may read for `target_met`, dB. The
/// meter's own uncertainty on inter-sample peaks is about this size.
pub const CEILING_TOLERANCE_DB: f64 = 0.05;

/// How far under the true-peak ceiling the gain and the limiter aim, dB. Our meter reads the
/// true peak within ±0.02 dB on the Tech 3341 cases; meters with coarser interpolation filters
/// (libebur128 and its ports read up to 0.3 dB high near fs/4) then still read at or near the
/// ceiling.
pub const TRUE_PEAK_HEADROOM_DB: f64 = 0.1;
/// A lossy output whose decoded loudness is further than this from the target is encoded
/// again with the gain corrected, LU.
pub const LOSSY_CORRECTION_LU: f64 = 0.05;
/// Most dry runs that calibrate the gain in `limit` mode.
pub const LIMIT_CALIBRATION_RUNS: usize = 5;
/// Most encodes of one lossy output (loudness correction and `strict_peak`).
pub const MAX_ENCODE_ATTEMPTS: u32 = 4;

/// Blocks queued between the apply loop and the encoder thread (a few hundred ms of audio).
const ENCODER_QUEUE_BLOCKS: usize = 8;

/// A named loudness target and true-peak ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// EBU R128 broadcast: −23 LUFS, −1 dBTP.
    Ebu,
    /// Music streaming services: −14 LUFS, −1 dBTP.
    Streaming,
    /// Podcasts (AES TD1004 / Apple): −16 LUFS, −1.5 dBTP.
    Podcast,
    /// ATSC A/85 (US broadcast): −24 LKFS, −2 dBTP.
    Atsc,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 4] = [Preset::Ebu, Preset::Streaming, Preset::Podcast, Preset::Atsc];

    /// The preset called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Preset::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Ebu => "ebu",
            Preset::Streaming => "streaming",
            Preset::Podcast => "podcast",
            Preset::Atsc => "atsc",
        }
    }

    /// Integrated loudness target, LUFS.
    pub fn target_lufs(self) -> f64 {
        match self {
            Preset::Ebu => -23.0,
            Preset::Streaming => -14.0,
            Preset::Podcast => -16.0,
            Preset::Atsc => -24.0,
        }
    }

    /// True-peak ceiling, dBTP.
    pub fn true_peak_dbtp(self) -> f64 {
        match self {
            Preset::Ebu | Preset::Streaming => -1.0,
            Preset::Podcast => -1.5,
            Preset::Atsc => -2.0,
        }
    }
}

/// How the true-peak ceiling is held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeakMode {
    /// One constant gain; lowered to meet the ceiling if need be (the target is then missed,
    /// and the report says by how much).
    #[default]
    Linear,
    /// The gain the target needs, and a look-ahead true-peak limiter holding the ceiling.
    Limit,
}

impl PeakMode {
    /// The mode called `name`: `linear` or `limit`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "linear" => Some(PeakMode::Linear),
            "limit" | "limiter" => Some(PeakMode::Limit),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            PeakMode::Linear => "linear",
            PeakMode::Limit => "limit",
        }
    }
}

/// Everything that decides what a job produces. Two jobs with equal specs on the same input
/// produce byte-identical outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessingSpec {
    /// The preset the targets came from (for reports).
    pub preset: Preset,
    /// Integrated loudness target, LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling, dBTP.
    pub true_peak_dbtp: f64,
    /// How the ceiling is held.
    pub mode: PeakMode,
    /// Output sample rate; `None` keeps the input's (or the nearest the format can carry).
    pub sample_rate: Option<u32>,
    /// Output channel count (1 or 2); `None` keeps the input's (MP3: at most 2).
    pub channels: Option<usize>,
    /// Output format.
    pub format: OutputFormat,
    /// PCM sample format for WAV/FLAC; `None` follows the input (16-bit stays 16-bit, float
    /// stays float in WAV, everything else becomes 24-bit).
    pub sample_format: Option<SampleFormat>,
    /// TPDF dither when quantising to 16 bits.
    pub dither: bool,
    /// MP3 rate control.
    pub mp3: Mp3Bitrate,
    /// Opus bit rate, kb/s.
    pub opus_kbps: u32,
    /// Copy title/artist/album/track/date/genre and cover art from the input.
    pub copy_metadata: bool,
    /// Write ReplayGain 2.0 (or Opus R128) tags describing the output.
    pub loudness_tags: bool,
    /// For lossy outputs: when the encoded stream overshoots the ceiling, lower the gain (or
    /// the limiter ceiling) and encode again.
    pub strict_peak: bool,
    /// How a one-channel input is weighted by the meter.
    pub mono_mode: MonoMode,
    /// Decoder caps.
    pub limits: Limits,
}

impl ProcessingSpec {
    /// The spec of a preset, writing `format`, with defaults for everything else.
    pub fn new(preset: Preset, format: OutputFormat) -> Self {
        let encode = EncodeOptions::new(format);
        ProcessingSpec {
            preset,
            target_lufs: preset.target_lufs(),
            true_peak_dbtp: preset.true_peak_dbtp(),
            mode: PeakMode::Linear,
            sample_rate: None,
            channels: None,
            format,
            sample_format: None,
            dither: true,
            mp3: encode.mp3,
            opus_kbps: encode.opus_kbps,
            copy_metadata: true,
            loudness_tags: false,
            strict_peak: false,
            mono_mode: MonoMode::Mono,
            limits: Limits::default(),
        }
    }

    /// Checks every value before any work is done.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the value that is out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidParameter(m));
        if !self.target_lufs.is_finite() || !(-70.0..=0.0).contains(&self.target_lufs) {
            return bad(format!("target {} LUFS is outside −70…0", self.target_lufs));
        }
        if !self.true_peak_dbtp.is_finite() || !(-20.0..=0.0).contains(&self.true_peak_dbtp) {
            return bad(format!("true-peak ceiling {} dBTP is outside −20…0", self.true_peak_dbtp));
        }
        if let Some(rate) = self.sample_rate {
            if !(8_000..=384_000).contains(&rate) {
                return bad(format!("sample rate {rate} Hz is outside 8000…384000"));
            }
            if self.format.writable_rate(rate) != rate {
                return bad(format!(
                    "{} cannot be written at {rate} Hz (nearest: {} Hz)",
                    self.format.extension(),
                    self.format.writable_rate(rate)
                ));
            }
        }
        if let Some(ch) = self.channels
            && !(1..=2).contains(&ch)
        {
            return bad(format!("--channels {ch}: the output can be mixed to 1 or 2 channels"));
        }
        if self.sample_format == Some(SampleFormat::F32) && self.format == OutputFormat::Flac {
            return bad("FLAC holds integer samples: use 16 or 24 bits".to_owned());
        }
        if self.sample_format.is_some() && self.format.is_lossy() {
            return bad(format!("--bits applies to WAV and FLAC, not {}", self.format.extension()));
        }
        if let Mp3Bitrate::Cbr(k) = self.mp3
            && !(32..=320).contains(&k)
        {
            return bad(format!("MP3 bit rate {k} kb/s is outside 32…320"));
        }
        if !(6..=512).contains(&self.opus_kbps) {
            return bad(format!("Opus bit rate {} kb/s is outside 6…512", self.opus_kbps));
        }
        Ok(())
    }

    /// A canonical one-line description of everything that affects the output bytes, for
    /// idempotency checks (two equal strings ⇒ equal outputs for the same input).
    pub fn canonical(&self) -> String {
        format!(
            "v1;target={:.2};tp={:.2};mode={};rate={};ch={};fmt={};bits={};dither={};mp3={:?};opus={};meta={};tags={};strict={};mono={:?}",
            self.target_lufs,
            self.true_peak_dbtp,
            self.mode.name(),
            self.sample_rate.map_or("keep".to_owned(), |r| r.to_string()),
            self.channels.map_or("keep".to_owned(), |c| c.to_string()),
            self.format.extension(),
            self.sample_format.map_or("auto".to_owned(), |s| s.bits().to_string()),
            self.dither,
            self.mp3,
            self.opus_kbps,
            self.copy_metadata,
            self.loudness_tags,
            self.strict_peak,
            self.mono_mode,
        )
    }
}

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
    /// Whether the output is within [`TARGET_TOLERANCE_LU`] of the target and its true peak
    /// within [`CEILING_TOLERANCE_DB`] of the ceiling.
    pub target_met: bool,
    /// Plain-language notes: why the target was missed, what was converted, warnings.
    pub notes: Vec<String>,
    /// Encoding attempts (more than one only for lossy outputs that were corrected).
    pub encode_attempts: u32,
}

/// Progress of a running job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// 1 = measuring, 2 = applying (repeated for limiter calibration and strict-peak re-encodes).
    pub pass: u8,
    /// Input frames processed in this pass.
    pub frames_done: u64,
    /// Input frames in total, when known.
    pub frames_total: Option<u64>,
    /// The input's sample rate (frames per second of audio).
    pub sample_rate: u32,
}

/// Whether an existing output may be replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse when the output exists ([`Error::OutputExists`]).
    #[default]
    Never,
    /// Replace it (atomically, by rename).
    Replace,
}

/// The decisions derived from the spec and the input's stream parameters.
#[derive(Clone, Debug)]
struct Plan {
    in_rate: u32,
    out_rate: u32,
    in_layout: Vec<ChannelRole>,
    out_channels: usize,
    encode: EncodeOptions,
    notes: Vec<String>,
}

impl Plan {
    fn new(spec: &ProcessingSpec, info: &StreamInfo) -> Result<Plan> {
        let mut notes = Vec::new();
        let in_channels = info.channels();
        let out_channels = match spec.channels {
            Some(c) => c,
            None if in_channels > spec.format.max_channels() => {
                notes.push(format!(
                    "mixed {in_channels} channels down to stereo: {} holds at most 2",
                    spec.format.extension()
                ));
                2
            }
            None => in_channels,
        };
        let wanted = spec.sample_rate.unwrap_or(info.sample_rate);
        let out_rate = spec.format.writable_rate(wanted);
        if out_rate != wanted {
            notes.push(format!(
                "resampled {wanted} Hz to {out_rate} Hz: {} cannot carry {wanted} Hz",
                spec.format.extension()
            ));
        }
        let sample_format = spec.sample_format.unwrap_or(match (info.bits_per_sample, info.float) {
            (_, true) if spec.format == OutputFormat::Wav => SampleFormat::F32,
            (Some(b), false) if b <= 16 => SampleFormat::I16,
            _ => SampleFormat::I24,
        });
        let encode = EncodeOptions {
            format: spec.format,
            sample_format,
            dither: spec.dither,
            mp3: spec.mp3,
            opus_kbps: spec.opus_kbps,
        };
        Ok(Plan { in_rate: info.sample_rate, out_rate, in_layout: info.layout.clone(), out_channels, encode, notes })
    }

    fn converts(&self) -> bool {
        self.in_rate != self.out_rate || self.in_layout.len() != self.out_channels
    }

    /// Mixer and resampler in pipeline order, or `None` when neither changes anything.
    fn conversion(&self) -> Result<Option<Conversion>> {
        if !self.converts() {
            return Ok(None);
        }
        let mixer = ChannelMixer::new(&self.in_layout, self.out_channels)?;
        let resampler = (self.in_rate != self.out_rate)
            .then(|| Resampler::new(self.in_rate, self.out_rate, self.out_channels))
            .transpose()?;
        Ok(Some(Conversion {
            mixer,
            resampler,
            mixed: vec![Vec::new(); self.out_channels],
            out: vec![Vec::new(); self.out_channels],
        }))
    }

    fn out_layout(&self) -> Vec<ChannelRole> {
        if self.out_channels == self.in_layout.len() {
            self.in_layout.clone()
        } else {
            crate::channels::default_layout(self.out_channels)
        }
    }
}

/// Mix → resample, with its buffers.
#[derive(Debug)]
struct Conversion {
    mixer: ChannelMixer,
    resampler: Option<Resampler>,
    mixed: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
}

impl Conversion {
    /// Converts one block (or flushes when `block` is `None`); the result is in `self.out`.
    fn run(&mut self, block: Option<&[Vec<f32>]>) -> &[Vec<f32>] {
        clear(&mut self.mixed);
        clear(&mut self.out);
        if let Some(block) = block {
            self.mixer.process(block, &mut self.mixed);
        }
        match &mut self.resampler {
            Some(r) => {
                if block.is_some() {
                    r.process(&self.mixed, &mut self.out);
                } else {
                    r.finish(&mut self.out);
                }
                &self.out
            }
            None => &self.mixed,
        }
    }
}

fn clear(planes: &mut [Vec<f32>]) {
    for p in planes {
        p.clear();
    }
}

/// What pass 1 found.
#[derive(Debug)]
struct Measured {
    input: Analysis,
    /// Loudness of the signal as it will be encoded, before gain.
    pre: LoudnessReport,
}

/// Runs one job from `input` to `output` (a path whose directory exists).
///
/// `progress` is called every few blocks. The output is written to a temporary file beside it
/// and renamed into place when complete; on any error the temporary file is removed and no file
/// appears under `output`. With [`Overwrite::Never`] an existing `output` is refused before any
/// work, and the final rename refuses to replace a file that appeared meanwhile.
///
/// # Errors
/// [`Error::InvalidParameter`] for a bad spec, [`Error::OutputExists`], any decode error of the
/// input, [`Error::Io`] writing the output, [`Error::Encode`].
pub fn process_file(
    input: &Path,
    output: &Path,
    spec: &ProcessingSpec,
    overwrite: Overwrite,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ProcessReport> {
    spec.validate()?;
    if overwrite == Overwrite::Never && output.exists() {
        return Err(Error::OutputExists { path: output.to_path_buf() });
    }
    let temp = TempOutput::create(output)?;
    let report = guarded(|| run_job(input, &temp.path, spec, progress))?;
    temp.persist(output, overwrite)?;
    Ok(report)
}

/// Catches a panic anywhere in the job (decoder, DSP, encoder) as an error for this job only.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(Error::DecoderPanic { message: crate::error::panic_message(&*p) }))
}

fn run_job(
    input: &Path,
    temp: &Path,
    spec: &ProcessingSpec,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ProcessReport> {
    let decoder = Decoder::open_path(input, &spec.limits)?;
    let mut plan = Plan::new(spec, decoder.info())?;
    let measured = measure(decoder, &plan, spec.mono_mode, progress)?;
    let mut notes = std::mem::take(&mut plan.notes);
    for w in &measured.input.warnings {
        notes.push(format!("input: {w}"));
    }
    let frames_total = Some(measured.input.frames);
    // The ceiling the gain and the limiter aim at, a little under the promised one.
    let aim = spec.true_peak_dbtp - TRUE_PEAK_HEADROOM_DB;

    // The gain, and whether the job is a pass-through.
    let (mut gain_db, mut ceiling, passthrough) = match (measured.pre.integrated_lufs, measured.pre.true_peak_dbtp) {
        (None, _) => {
            notes.push(passthrough_reason(&measured).to_owned());
            (0.0, aim, true)
        }
        (Some(i), tp) => {
            let wanted = spec.target_lufs - i;
            let gain = match (spec.mode, tp) {
                (PeakMode::Linear, Some(tp)) if tp + wanted > aim => aim - tp,
                _ => wanted,
            };
            (gain, aim, false)
        }
    };
    // Linear mode never raises the gain past what the ceiling allows before encoding.
    let mut gain_cap = match (spec.mode, measured.pre.true_peak_dbtp) {
        (PeakMode::Linear, Some(tp)) => Some(aim - tp),
        _ => None,
    };

    // Dither only where it does something useful: reducing to 16 bits, and not when the
    // samples pass through unchanged at their own resolution.
    let unchanged = passthrough && !plan.converts();
    plan.encode.dither = spec.dither && plan.encode.sample_format == SampleFormat::I16 && !unchanged;
    if !spec.format.is_lossy() && plan.encode.sample_format == SampleFormat::I16 && !unchanged {
        notes.push(
            if spec.dither { "quantised to 16 bits with TPDF dither" } else { "quantised to 16 bits without dither" }
                .to_owned(),
        );
    }

    // Limit mode: dry runs (no encoding) tell how much loudness the limiter takes away; the
    // gain is raised to make it up, by the secant method on the measured loudness (at most
    // LIMIT_CALIBRATION_RUNS dry runs, and never more than 12 dB above the plain gain).
    if spec.mode == PeakMode::Limit && !passthrough {
        let base = gain_db;
        let mut previous: Option<(f64, f64)> = None;
        for _ in 0..LIMIT_CALIBRATION_RUNS {
            let dry = apply(input, None, &plan, spec, gain_db, ceiling, frames_total, progress)?;
            let Some(i) = dry.measurement.loudness.integrated_lufs else {
                break;
            };
            let miss = spec.target_lufs - i;
            if miss.abs() <= 0.02 {
                break;
            }
            // Loudness rises by less than the gain under limiting: the slope is at most 1.
            let slope = match previous {
                Some((g0, i0)) if (gain_db - g0).abs() > 1e-6 => ((i - i0) / (gain_db - g0)).clamp(0.05, 1.0),
                _ => 1.0,
            };
            previous = Some((gain_db, i));
            let next = (gain_db + miss / slope).clamp(base, base + 12.0);
            if (next - gain_db).abs() < 0.005 {
                break;
            }
            gain_db = next;
        }
    }

    // Encode; lossy outputs are decoded and measured, and encoded again (at most
    // MAX_ENCODE_ATTEMPTS times in all) when the codec moved the loudness off the target or,
    // with `strict_peak`, pushed the true peak over the ceiling.
    let mut attempts = 0;
    let mut loudness_corrected = false;
    let mut peak_corrected = false;
    let (out, limiter_reduction) = loop {
        attempts += 1;
        let written = apply(input, Some(temp), &plan, spec, gain_db, ceiling, frames_total, progress)?;
        let mut measurement = written.measurement;
        if !spec.format.is_lossy() || passthrough {
            break (measurement, written.limiter_reduction);
        }
        let decoded = analyze_path(
            temp,
            &crate::analyze::AnalyzeOptions { limits: spec.limits.clone(), mono_mode: spec.mono_mode },
        )
        .map_err(|e| Error::Encode(format!("the encoded output does not decode: {e}")))?;
        measurement.loudness = decoded.loudness;
        measurement.frames = decoded.frames;
        measurement.measured_after_decoding = true;

        let mut next_gain = gain_db;
        let mut next_ceiling = ceiling;
        if let Some(i) = measurement.loudness.integrated_lufs {
            let miss = spec.target_lufs - i;
            if miss.abs() > LOSSY_CORRECTION_LU {
                next_gain = gain_db + miss;
                if let Some(cap) = gain_cap {
                    next_gain = next_gain.min(cap);
                }
            }
        }
        let overshoot = measurement.loudness.true_peak_dbtp.map_or(0.0, |tp| tp - spec.true_peak_dbtp);
        if spec.strict_peak && overshoot > 0.0 {
            // Lower by the overshoot and the headroom, and encode again.
            let step = overshoot + TRUE_PEAK_HEADROOM_DB;
            match spec.mode {
                PeakMode::Linear => {
                    next_gain = next_gain.min(gain_db - step);
                    gain_cap = Some(next_gain);
                }
                PeakMode::Limit => next_ceiling = ceiling - step,
            }
        }
        let changes = (next_gain - gain_db).abs() >= 0.01 || next_ceiling != ceiling;
        if !changes || attempts >= MAX_ENCODE_ATTEMPTS {
            if overshoot > CEILING_TOLERANCE_DB {
                notes.push(format!(
                    "the {} encoder overshoots the true-peak ceiling by {overshoot:.2} dB{}",
                    spec.format.extension(),
                    if spec.strict_peak {
                        format!(" (after {attempts} attempts)")
                    } else {
                        " (use --strict-peak to re-encode lower)".to_owned()
                    }
                ));
            }
            break (measurement, written.limiter_reduction);
        }
        loudness_corrected |=
            next_gain > gain_db || (next_gain < gain_db && next_ceiling == ceiling && !spec.strict_peak);
        peak_corrected |= spec.strict_peak && overshoot > 0.0;
        gain_db = next_gain;
        ceiling = next_ceiling;
    };
    if attempts > 1 {
        let why = match (loudness_corrected, peak_corrected) {
            (true, true) => "to correct the loudness and hold the true-peak ceiling after encoding",
            (false, true) => "to hold the true-peak ceiling after encoding",
            _ => "to correct the loudness change of the encoder",
        };
        notes.push(format!("encoded {attempts} times {why}"));
    }

    // Verdict.
    let out_i = out.loudness.integrated_lufs;
    let out_tp = out.loudness.true_peak_dbtp;
    let target_met = !passthrough
        && out_i.is_some_and(|i| (i - spec.target_lufs).abs() <= TARGET_TOLERANCE_LU)
        && out_tp.is_none_or(|tp| tp <= spec.true_peak_dbtp + CEILING_TOLERANCE_DB);
    if !passthrough && let Some(i) = out_i {
        let miss = i - spec.target_lufs;
        if miss.abs() > TARGET_TOLERANCE_LU {
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

    // Metadata, on the finished temporary file.
    let mut meta = Metadata::default();
    if spec.copy_metadata {
        match Metadata::read(input) {
            Ok(m) => meta = m,
            Err(e) => notes.push(format!("metadata not copied: {e}")),
        }
    }
    let loudness_tags = match (spec.loudness_tags, out_i, out_tp) {
        (true, Some(integrated_lufs), Some(true_peak_dbtp)) => Some(LoudnessTags { integrated_lufs, true_peak_dbtp }),
        (true, _, _) => {
            notes.push("no loudness tags written: the output has no measurable loudness".to_owned());
            None
        }
        _ => None,
    };
    if let Err(e) = crate::tags::write(temp, spec.format, &meta, loudness_tags) {
        notes.push(format!("metadata not written: {e}"));
    }

    Ok(ProcessReport {
        input: measured.input,
        output: out,
        spec: spec.clone(),
        gain_db,
        limiter_max_reduction_db: (spec.mode == PeakMode::Limit).then_some(limiter_reduction),
        target_met,
        notes,
        encode_attempts: attempts,
    })
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

/// Pass 1.
fn measure(
    mut decoder: Decoder,
    plan: &Plan,
    mono_mode: MonoMode,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Measured> {
    let info = decoder.info().clone();
    let total = info.declared_frames;
    let mut meter_in = ThreadedMeter::new(info.sample_rate, &channel_weights(&info.layout, mono_mode))?;
    let mut conversion = plan.conversion()?;
    let mut meter_pre = match &conversion {
        Some(_) => Some(ThreadedMeter::new(plan.out_rate, &channel_weights(&plan.out_layout(), mono_mode))?),
        None => None,
    };
    let mut blocks = 0u32;
    while let Some(block) = decoder.next_block()? {
        meter_in.process(block);
        if let (Some(c), Some(m)) = (&mut conversion, &mut meter_pre) {
            m.process(c.run(Some(block)));
        }
        blocks += 1;
        if blocks % 64 == 0 {
            progress(Progress {
                pass: 1,
                frames_done: decoder.frames(),
                frames_total: total,
                sample_rate: plan.in_rate,
            });
        }
    }
    if let (Some(c), Some(m)) = (&mut conversion, &mut meter_pre) {
        m.process(c.run(None));
    }
    progress(Progress {
        pass: 1,
        frames_done: decoder.frames(),
        frames_total: Some(decoder.frames()),
        sample_rate: plan.in_rate,
    });
    let input = Analysis {
        mono_mode: (info.channels() == 1).then_some(mono_mode),
        frames: decoder.frames(),
        loudness: meter_in.report(),
        warnings: decoder.warnings(),
        info,
    };
    let pre = meter_pre.map_or_else(|| input.loudness.clone(), |m| m.report());
    Ok(Measured { input, pre })
}

/// What one run of pass 2 produced.
#[derive(Debug)]
struct Applied {
    measurement: OutputMeasurement,
    limiter_reduction: f64,
}

/// Pass 2: decode → convert → gain → limiter → meter → encode into `temp` (or nowhere, for a
/// dry run that only measures).
#[allow(clippy::too_many_arguments)] // one private call site per use; a struct would only rename them
fn apply(
    input: &Path,
    temp: Option<&Path>,
    plan: &Plan,
    spec: &ProcessingSpec,
    gain_db: f64,
    ceiling_dbtp: f64,
    frames_total: Option<u64>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Applied> {
    let mut decoder = Decoder::open_path(input, &spec.limits)?;
    let layout = plan.out_layout();
    let mut conversion = plan.conversion()?;
    let mut limiter = match spec.mode {
        PeakMode::Limit if gain_db != 0.0 || ceiling_dbtp < spec.true_peak_dbtp => Some(TruePeakLimiter::new(
            plan.out_rate,
            plan.out_channels,
            &LimiterOptions { ceiling_dbtp, ..LimiterOptions::default() },
        )?),
        _ => None,
    };
    let mut meter = ThreadedMeter::new(plan.out_rate, &channel_weights(&layout, spec.mono_mode))?;
    let gain = 10f64.powf(gain_db / 20.0) as f32;
    let mut gained: Vec<Vec<f32>> = vec![Vec::new(); plan.out_channels];
    let mut limited: Vec<Vec<f32>> = vec![Vec::new(); plan.out_channels];
    // The encoder (quantisation, dither, compression, file writes) runs on its own thread, fed
    // through a short bounded queue, while this thread decodes, applies and meters: the two
    // halves take about the same time, so a file is written in nearly half the wall time, and
    // memory stays bounded by the queue.
    // Without pipelining (see `set_pipelined`), the encoder runs inline on this thread.
    let (to_encoder, from_main) = mpsc::sync_channel::<Vec<Vec<f32>>>(ENCODER_QUEUE_BLOCKS);
    let mut inline = match temp {
        Some(path) if !pipelined() => Some(open_encoder(path, plan, &layout)?),
        _ => None,
    };
    let frames = std::thread::scope(|scope| -> Result<u64> {
        let writer = temp.filter(|_| inline.is_none()).map(|path| {
            let layout = &layout;
            scope.spawn(move || -> Result<u64> {
                let mut encoder = open_encoder(path, plan, layout)?;
                for block in from_main {
                    encoder.write(&block)?;
                }
                close_encoder(encoder)
            })
        });
        let mut to_encoder = writer.as_ref().map(|_| to_encoder);
        let mut blocks = 0u32;
        let mut finished = false;
        while !finished {
            let block = decoder.next_block()?;
            finished = block.is_none();
            let converted: &[Vec<f32>] = match (&mut conversion, block) {
                (Some(c), b) => c.run(b),
                (None, Some(b)) => b,
                (None, None) => &[],
            };
            clear(&mut gained);
            for (g, c) in gained.iter_mut().zip(converted) {
                g.extend(c.iter().map(|s| s * gain));
            }
            let ready: &[Vec<f32>] = match &mut limiter {
                Some(l) => {
                    clear(&mut limited);
                    l.process(&gained, &mut limited);
                    if finished {
                        l.finish(&mut limited);
                    }
                    &limited
                }
                None => &gained,
            };
            if ready.first().is_some_and(|p| !p.is_empty()) {
                meter.process(ready);
                if let Some(encoder) = inline.as_mut() {
                    encoder.write(ready)?;
                }
                // A closed queue means the encoder stopped on an error: its join below says which.
                if let Some(tx) = &to_encoder
                    && tx.send(ready.to_vec()).is_err()
                {
                    to_encoder = None;
                    break;
                }
            }
            blocks += 1;
            if blocks % 64 == 0 {
                progress(Progress { pass: 2, frames_done: decoder.frames(), frames_total, sample_rate: plan.in_rate });
            }
        }
        drop(to_encoder);
        progress(Progress { pass: 2, frames_done: decoder.frames(), frames_total, sample_rate: plan.in_rate });
        match (writer, inline.take()) {
            (Some(handle), _) => handle.join().map_err(|_| Error::Encode("the encoder thread panicked".to_owned()))?,
            (None, Some(encoder)) => close_encoder(encoder),
            (None, None) => Ok(0),
        }
    })?;
    let info = StreamInfo {
        codec: plan.encode.format.extension().to_owned(),
        container: plan.encode.format.extension().to_owned(),
        sample_rate: plan.out_rate,
        layout,
        declared_frames: Some(frames),
        bits_per_sample: (!plan.encode.format.is_lossy()).then(|| plan.encode.sample_format.bits()),
        float: plan.encode.sample_format == SampleFormat::F32 && !plan.encode.format.is_lossy(),
    };
    Ok(Applied {
        measurement: OutputMeasurement { info, frames, loudness: meter.report(), measured_after_decoding: false },
        limiter_reduction: limiter.map_or(0.0, |l| l.max_reduction_db()),
    })
}

/// An encoder writing to a new file at `path`.
fn open_encoder(path: &Path, plan: &Plan, layout: &[ChannelRole]) -> Result<Encoder<BufWriter<File>>> {
    let file = File::create(path)?;
    Encoder::new(&plan.encode, plan.out_rate, layout, BufWriter::with_capacity(1 << 20, file))
}

/// Finishes an encoder's file, synced to disk; returns the frames written.
fn close_encoder(encoder: Encoder<BufWriter<File>>) -> Result<u64> {
    let frames = encoder.frames();
    let sink = encoder.finish()?;
    let file = sink.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    file.sync_all()?;
    Ok(frames)
}

static PIPELINED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether one job may run its stages on helper threads: the encoder of pass 2 and the
/// true-peak measurement (on by default). This nearly halves one file's wall time on a machine
/// with a free core. Runners that already keep every core busy with separate files (the batch
/// job) turn it off: parallel files need no hand-offs between threads, so the same cores do
/// more. Outputs and figures are identical either way.
pub fn set_pipelined(on: bool) {
    PIPELINED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// See [`set_pipelined`].
pub fn pipelined() -> bool {
    PIPELINED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A temporary output file in the destination's directory, removed on drop unless persisted.
#[derive(Debug)]
struct TempOutput {
    path: PathBuf,
    persisted: bool,
}

impl TempOutput {
    fn create(output: &Path) -> Result<Self> {
        let dir = match output.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("output directory {} does not exist", dir.display()),
            )));
        }
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_owned());
        let ext = output.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        // Unique per process and call; `create_new` refuses to reuse a name.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!(".{name}.audioproc-{}-{n}.partial{ext}", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    return Ok(TempOutput { path, persisted: false });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot write in {}: {e}", dir.display()),
                    )));
                }
            }
        }
        Err(Error::Io(std::io::Error::other("could not find a free temporary file name")))
    }

    /// Moves the finished file to `output`.
    fn persist(mut self, output: &Path, overwrite: Overwrite) -> Result<()> {
        match overwrite {
            Overwrite::Replace => std::fs::rename(&self.path, output)?,
            Overwrite::Never => {
                // A hard link fails if `output` appeared meanwhile: no clobbering, atomically.
                match std::fs::hard_link(&self.path, output) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&self.path);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Err(Error::OutputExists { path: output.to_path_buf() });
                    }
                    // File systems without hard links: check, then rename.
                    Err(_) if !output.exists() => std::fs::rename(&self.path, output)?,
                    Err(_) => {
                        return Err(Error::OutputExists { path: output.to_path_buf() });
                    }
                }
            }
        }
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename durable where the platform allows syncing a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The everyday output name: `dir/stem.normalized.ext` beside the input.
pub fn normalized_name(input: &Path, format: OutputFormat) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_owned());
    input.with_file_name(format!("{stem}.normalized.{}", format.extension()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_targets() {
        assert_eq!((Preset::Ebu.target_lufs(), Preset::Ebu.true_peak_dbtp()), (-23.0, -1.0));
        assert_eq!((Preset::Streaming.target_lufs(), Preset::Streaming.true_peak_dbtp()), (-14.0, -1.0));
        assert_eq!((Preset::Podcast.target_lufs(), Preset::Podcast.true_peak_dbtp()), (-16.0, -1.5));
        assert_eq!((Preset::Atsc.target_lufs(), Preset::Atsc.true_peak_dbtp()), (-24.0, -2.0));
        assert_eq!(Preset::from_name("STREAMING"), Some(Preset::Streaming));
    }

    #[test]
    fn validation_names_the_bad_value() {
        let mut s = ProcessingSpec::new(Preset::Ebu, OutputFormat::Opus);
        s.sample_rate = Some(44_100);
        assert!(s.validate().unwrap_err().to_string().contains("44100"));
        let mut s = ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac);
        s.sample_format = Some(SampleFormat::F32);
        assert!(s.validate().is_err());
        s.sample_format = None;
        s.target_lufs = f64::NAN;
        assert!(s.validate().is_err());
    }
}
