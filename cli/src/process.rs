//! `audioproc process IN -o OUT` and the everyday `audioproc FILE...`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use audioproc_engine::encode::Mp3Bitrate;
use audioproc_engine::{
    Limits, MonoMode, OutputFormat, Overwrite, PeakMode, Preset, ProcessReport, ProcessingSpec, SampleFormat,
};
use rayon::prelude::*;

use crate::album;
use crate::everyday::{self, PlanError};
use crate::plot::{self, Plot, PlotArgs};
use crate::progress::JobBar;
use crate::remote::{self, Place};
use crate::usage::usage;
use audioproc_engine::report::ProcessDocument;

use crate::report::fmt;

/// Flags that make up a [`ProcessingSpec`], shared by `process`, the everyday form and (later)
/// `batch`.
#[derive(Debug, Clone, clap::Args)]
pub struct SpecArgs {
    /// Loudness preset: ebu (−23 LUFS, −1 dBTP), streaming (−14, −1), podcast (−16, −1.5),
    /// atsc (−24 LKFS, −2).
    #[arg(long, value_name = "PRESET", default_value = "ebu", value_parser = parse_preset)]
    pub preset: Preset,
    /// Integrated loudness target in LUFS (overrides the preset).
    #[arg(long, value_name = "LUFS", allow_negative_numbers = true)]
    pub target: Option<f64>,
    /// True-peak ceiling in dBTP (overrides the preset).
    #[arg(long, value_name = "DBTP", allow_negative_numbers = true)]
    pub true_peak: Option<f64>,
    /// linear: one constant gain, lowered if the ceiling needs it (the report says by how much
    /// the target was missed). limit: the full gain and a look-ahead true-peak limiter.
    #[arg(long, value_name = "MODE", default_value = "linear", value_parser = parse_mode)]
    pub mode: PeakMode,
    /// Output sample rate in Hz (default: the input's, or the nearest the format can carry).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Output channels: 1 (mono down-mix) or 2 (ITU BS.775 down-mix, or mono → dual mono).
    #[arg(long, value_name = "N")]
    pub channels: Option<usize>,
    /// Output format: wav, flac, mp3, opus (default: from the output file's extension).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<OutputFormat>,
    /// Bits per sample for WAV (16, 24, 32 = float) and FLAC (16, 24). Default: 16-bit inputs
    /// stay 16-bit, float WAV stays float, everything else becomes 24-bit.
    #[arg(long, value_name = "BITS", value_parser = parse_bits)]
    pub bits: Option<SampleFormat>,
    /// Do not dither when reducing to 16 bits.
    #[arg(long)]
    pub no_dither: bool,
    /// MP3 constant bit rate in kb/s (default: VBR quality 2).
    #[arg(long, value_name = "KBPS", conflicts_with = "mp3_vbr")]
    pub mp3_bitrate: Option<u32>,
    /// MP3 VBR quality, 0 (best) to 9.
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u8).range(0..=9))]
    pub mp3_vbr: Option<u8>,
    /// Opus bit rate in kb/s.
    #[arg(long, value_name = "KBPS", default_value_t = 160)]
    pub opus_bitrate: u32,
    /// FLAC compression level, 0 (fastest) to 8 (smallest), as `flac -0` … `flac -8`; the
    /// decoded audio is the same at every level.
    #[arg(long, value_name = "LEVEL", default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=8))]
    pub flac_level: u8,
    /// Write ReplayGain 2.0 tags (R128_TRACK_GAIN for Opus) describing the output.
    #[arg(long)]
    pub tags: bool,
    /// Do not copy title/artist/album/track/date/genre and cover art from the input.
    #[arg(long)]
    pub no_metadata: bool,
    /// MP3/Opus: if the encoded file's true peak overshoots the ceiling, lower the gain and
    /// encode again.
    #[arg(long)]
    pub strict_peak: bool,
    /// Measure mono inputs as dual mono (+3 LU; as heard on two speakers).
    #[arg(long)]
    pub dual_mono: bool,
    /// Refuse inputs longer than this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().max_duration_s)]
    pub max_duration: f64,
}

fn parse_preset(s: &str) -> Result<Preset, String> {
    Preset::from_name(s).ok_or_else(|| "expected one of: ebu, streaming, podcast, atsc".to_owned())
}

fn parse_mode(s: &str) -> Result<PeakMode, String> {
    PeakMode::from_name(s).ok_or_else(|| "expected linear or limit".to_owned())
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    OutputFormat::from_name(s).ok_or_else(|| "expected one of: wav, flac, mp3, opus".to_owned())
}

fn parse_bits(s: &str) -> Result<SampleFormat, String> {
    match s {
        "16" => Ok(SampleFormat::I16),
        "24" => Ok(SampleFormat::I24),
        "32" | "float" => Ok(SampleFormat::F32),
        _ => Err("expected 16, 24 or 32 (float)".to_owned()),
    }
}

impl SpecArgs {
    /// The spec for writing `format`.
    pub fn spec(&self, format: OutputFormat) -> ProcessingSpec {
        let mut spec = ProcessingSpec::new(self.preset, format);
        spec.target_lufs = self.target.unwrap_or(spec.target_lufs);
        spec.true_peak_dbtp = self.true_peak.unwrap_or(spec.true_peak_dbtp);
        spec.mode = self.mode;
        spec.sample_rate = self.rate;
        spec.channels = self.channels;
        spec.sample_format = self.bits;
        spec.dither = !self.no_dither;
        spec.mp3 = match (self.mp3_bitrate, self.mp3_vbr) {
            (Some(k), _) => Mp3Bitrate::Cbr(k),
            (None, Some(q)) => Mp3Bitrate::Vbr(q),
            (None, None) => spec.mp3,
        };
        spec.opus_kbps = self.opus_bitrate;
        spec.flac_level = self.flac_level;
        spec.loudness_tags = self.tags;
        spec.copy_metadata = !self.no_metadata;
        spec.strict_peak = self.strict_peak;
        spec.mono_mode = if self.dual_mono { MonoMode::DualMono } else { MonoMode::Mono };
        spec.limits = Limits { max_duration_s: self.max_duration, ..Limits::default() };
        spec
    }
}

#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Input file (any format `analyze` reads), or an S3 object `s3://bucket/key`.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Output file or `s3://bucket/key`; its extension picks the format unless --format is
    /// given. An S3 → S3 job also writes the JSON report beside the output (OUT.json) and
    /// records the source ETag and the spec in the output's metadata.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    #[command(flatten)]
    spec: SpecArgs,
    /// Album mode: IN is one track of an album whose other tracks are given with --album-with;
    /// the album is measured as one programme and IN gets the album's gain (see `audioproc
    /// --help`). Local files only.
    #[arg(long)]
    album: bool,
    /// Another track of IN's album (repeatable; with --album).
    #[arg(long, value_name = "FILE", requires = "album")]
    album_with: Vec<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print one JSON document (schema "audioproc.process/1") instead of a paragraph.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    plot: PlotArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct EverydayArgs {
    /// Files to normalise; each is written beside itself as STEM.normalized.EXT. A directory is
    /// walked: its audio files (found by content; hidden files and .normalized outputs skipped).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) walk: crate::walk::WalkArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Album mode: the files are the tracks of one album. Their integrated loudness is measured
    /// together (gating over the union of their blocks, as BS.1770 and ReplayGain 2.0 define
    /// album loudness) and every track gets the one gain that brings the album to the target,
    /// so the tracks keep their loudness relative to each other; in linear mode the gain is
    /// lowered until the loudest track's true peak meets the ceiling. The reports give both the
    /// track's and the album's figures. Each directory given is one album; the files given by
    /// name are one album together. Costs one more decode per track.
    #[arg(long)]
    pub album: bool,
    /// Replace each input with its normalised version (same format).
    #[arg(long, conflicts_with = "format")]
    pub in_place: bool,
    /// Replace existing .normalized outputs.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON document per file (schema "audioproc.process/1"), one per line.
    #[arg(long)]
    pub json: bool,
    /// Worker threads for several files (default: one per core; at most 256).
    #[arg(long, short = 'j', value_name = "N", value_parser = crate::parse_jobs)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub plot: PlotArgs,
}

/// How a job's result is printed.
#[derive(Clone, Copy, Debug)]
struct Shown {
    /// A JSON document instead of a paragraph.
    json: bool,
    /// Indented JSON (one document) rather than one line (several).
    pretty: bool,
    /// The loudness curves in the JSON document.
    curve: bool,
}

/// The one-paragraph report.
fn paragraph(input: &Path, output: &Path, r: &ProcessReport) -> String {
    let i = &r.input.loudness;
    let o = &r.output.loudness;
    let mut s = format!(
        "{} → {}: {} at {} LUFS / {:.1} dBTP ({} mode). Input {}, range {}, true peak {}. Gain {:+.2} dB{}. Output {}, range {}, true peak {}; {:.1} s, {} Hz, {} ch{}. Target {}.",
        input.display(),
        output.display(),
        r.spec.preset.name(),
        r.spec.target_lufs,
        r.spec.true_peak_dbtp,
        r.spec.mode.name(),
        fmt(i.integrated_lufs, "LUFS"),
        i.loudness_range_lu.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} LU")),
        fmt(i.true_peak_dbtp, "dBTP"),
        r.gain_db,
        r.limiter_max_reduction_db.map_or_else(String::new, |d| format!(", limiter reduced peaks by up to {d:.2} dB")),
        fmt(o.integrated_lufs, "LUFS"),
        o.loudness_range_lu.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} LU")),
        fmt(o.true_peak_dbtp, "dBTP"),
        r.output.frames as f64 / f64::from(r.output.info.sample_rate.max(1)),
        r.output.info.sample_rate,
        r.output.info.channels(),
        if r.output.measured_after_decoding { ", measured by decoding the encoded file" } else { "" },
        if r.target_met { "met" } else { "NOT met" },
    );
    for n in &r.notes {
        s.push_str("\n  note: ");
        s.push_str(n);
    }
    s
}

/// Runs the one job on local files with a progress bar; the error is rendered as text.
fn run_one(
    input: &Path,
    output: &Path,
    spec: &ProcessingSpec,
    overwrite: Overwrite,
    bar: bool,
) -> (Result<ProcessReport, String>, f64) {
    let start = Instant::now();
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = Arc::new(JobBar::new(&name, bar));
    let progress = Arc::clone(&bar);
    let (from, to) = (Place::Local(input.to_owned()), Place::Local(output.to_owned()));
    let force = overwrite == Overwrite::Replace;
    let result = remote::process(&from, &to, spec, force, Arc::new(move |p| progress.update(p)));
    bar.finish();
    (result, start.elapsed().as_secs_f64())
}

/// `audioproc process`.
pub fn run_process(args: &ProcessArgs) -> anyhow::Result<bool> {
    if args.output.as_os_str() == "-" {
        return Err(usage("-o -: audioproc does not write to stdout; name an output file"));
    }
    let format = match args.spec.format {
        Some(f) => f,
        None => {
            let ext = args.output.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            match OutputFormat::from_name(&ext) {
                Some(f) => f,
                None => {
                    return Err(usage(format!(
                        "cannot tell the output format from {:?}: use a .wav, .flac, .mp3 or .opus name, or --format",
                        args.output.display().to_string()
                    )));
                }
            }
        }
    };
    let mut spec = ProcessingSpec { curve: args.plot.records_curve(), ..args.spec.spec(format) };
    spec.validate()?;
    let plot_to = args.plot.destinations(std::slice::from_ref(&args.input)).map_err(usage)?;
    let (input, output) = (Place::parse(&args.input)?, Place::parse(&args.output)?);
    if args.album {
        let tracks: Vec<&Path> =
            std::iter::once(args.input.as_path()).chain(args.album_with.iter().map(PathBuf::as_path)).collect();
        if tracks.iter().any(|t| Place::parse(t).is_ok_and(|p| p.is_s3())) {
            return Err(usage("--album: the tracks of an album must be local files"));
        }
        let measured = album::measure(&tracks.iter().map(|t| (t.to_path_buf(), spec.clone())).collect::<Vec<_>>());
        if let Some(Err(e)) = measured.first() {
            return Err(anyhow::anyhow!("{}: {e}", args.input.display()));
        }
        for (t, m) in tracks.iter().zip(&measured).skip(1) {
            if let Err(e) = m {
                eprintln!("audioproc: {}: {e} (left out of the album)", t.display());
            }
        }
        let album = album::album(&measured, &spec);
        if !args.json {
            println!("{}", album::summary(&args.input.display().to_string(), &album));
        }
        spec.album = album.level;
    }
    if let (Place::S3(a), Place::S3(b)) = (&input, &output) {
        if a.bucket == b.bucket && a.key == b.key {
            return Err(usage("the output is the input: write the result under another key"));
        }
    } else if same_file(&args.input, &args.output) {
        return Err(usage("the output is the input: use `audioproc --in-place FILE` to replace a file"));
    }
    let start = Instant::now();
    let name = args.input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = Arc::new(JobBar::new(&name, !args.json));
    let progress = Arc::clone(&bar);
    let result = remote::process(&input, &output, &spec, args.force, Arc::new(move |p| progress.update(p)));
    bar.finish();
    let shown = Shown { json: args.json, pretty: true, curve: args.plot.curve };
    report(&args.input, &args.output, &result, start.elapsed().as_secs_f64(), shown)?;
    let plotted = plot_to.is_none_or(|p| plot_process(&args.input, &args.output, &result, &p[0], args.force));
    Ok(result.is_ok() && plotted)
}

/// Draws the plot of a job into `dest`, if it succeeded; a failure is reported on stderr.
fn plot_process(input: &Path, output: &Path, result: &Result<ProcessReport, String>, dest: &Path, force: bool) -> bool {
    let Some(p) = result.as_ref().ok().and_then(|r| Plot::of_process(input, output, r)) else { return true };
    match plot::write(dest, &p, force) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("audioproc: {}: {e}", input.display());
            false
        }
    }
}

/// `audioproc FILE...`.
pub fn run_everyday(args: &EverydayArgs) -> anyhow::Result<bool> {
    let filter = args.walk.filter()?;
    let (found, unreadable) = crate::walk::expand(&args.files, &filter);
    // Outputs of an earlier run in a walked directory are not inputs.
    let found: Vec<_> = found
        .into_iter()
        .filter(|f| f.album.as_os_str().is_empty() || !f.path.to_string_lossy().contains(".normalized."))
        .collect();
    for (dir, e) in &unreadable {
        eprintln!("audioproc: {}: {e}", dir.display());
    }
    let albums: Vec<PathBuf> = found.iter().map(|f| f.album.clone()).collect();
    let args = &EverydayArgs { files: found.into_iter().map(|f| f.path).collect(), ..args.clone() };
    let plans = everyday::plan_all(args);
    if let Some(Err(PlanError::Usage(why))) = plans.iter().find(|p| matches!(p, Err(PlanError::Usage(_)))) {
        return Err(usage(why.clone()));
    }
    let plots = args.plot.destinations(&args.files).map_err(usage)?;
    let pool = crate::thread_pool(args.jobs)?;
    let plans = if args.album { pool.install(|| with_album(&args.files, &albums, plans, args.json)) } else { plans };
    let several = args.files.len() > 1;
    let shown = Shown { json: args.json, pretty: false, curve: args.plot.curve };
    let results: Vec<bool> = pool.install(|| {
        args.files
            .par_iter()
            .zip(plans)
            .enumerate()
            .map(|(i, (input, plan))| {
                let (output, result, elapsed) = match plan {
                    Ok(p) => {
                        let spec = ProcessingSpec { curve: args.plot.records_curve(), ..p.spec };
                        let (r, e) = run_one(input, &p.output, &spec, p.overwrite, !args.json && !several);
                        (p.output, r, e)
                    }
                    Err(e) => (input.clone(), Err(e.to_string()), 0.0),
                };
                // Report as each finishes; a failure never stops the others.
                let _ = report(input, &output, &result, elapsed, shown);
                let plotted = plots.as_ref().is_none_or(|p| plot_process(input, &output, &result, &p[i], args.force));
                result.is_ok() && plotted
            })
            .collect()
    });
    Ok(unreadable.is_empty() && results.iter().all(|ok| *ok))
}

/// Album mode of `audioproc FILE...`: measures every planned file, groups them by `albums`
/// (the directory each was found in), and gives each file its album's level; a file that
/// cannot be measured fails (and is left out of its album).
fn with_album(
    files: &[PathBuf],
    albums: &[PathBuf],
    mut plans: Vec<Result<everyday::FilePlan, PlanError>>,
    json: bool,
) -> Vec<Result<everyday::FilePlan, PlanError>> {
    let planned: Vec<(Option<String>, usize)> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_ok())
        .map(|(i, _)| (Some(albums[i].display().to_string()), i))
        .collect();
    let (groups, _) = album::group(planned);
    for group in groups {
        let tracks: Vec<(PathBuf, ProcessingSpec)> =
            group.iter().filter_map(|&i| plans[i].as_ref().ok().map(|p| (files[i].clone(), p.spec.clone()))).collect();
        let measured = album::measure(&tracks);
        let Some((_, spec)) = tracks.first() else { continue };
        let found = album::album(&measured, spec);
        if !json {
            let name = albums[group[0]].display().to_string();
            let name = if name.is_empty() { format!("of the {} files given", group.len()) } else { name };
            println!("{}", album::summary(&name, &found));
        }
        for (&i, m) in group.iter().zip(measured) {
            match (m, &mut plans[i]) {
                (Err(e), plan) => *plan = Err(PlanError::File(e)),
                (Ok(_), Ok(plan)) => plan.spec.album = found.level,
                (Ok(_), Err(_)) => {}
            }
        }
    }
    plans
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn report(
    input: &Path,
    output: &Path,
    result: &Result<ProcessReport, String>,
    elapsed: f64,
    shown: Shown,
) -> anyhow::Result<()> {
    if let Err(e) = result {
        eprintln!("audioproc: {}: {e}", input.display());
    }
    let mut stdout = std::io::stdout().lock();
    if shown.json {
        let mut doc =
            ProcessDocument::new(&input.display().to_string(), &output.display().to_string(), result, elapsed);
        if !shown.curve {
            // Recorded for a plot only.
            doc.curve = None;
        }
        if shown.pretty {
            serde_json::to_writer_pretty(&mut stdout, &doc).context("writing JSON")?;
        } else {
            serde_json::to_writer(&mut stdout, &doc).context("writing JSON")?;
        }
        writeln!(stdout)?;
    } else if let Ok(r) = result {
        writeln!(stdout, "{}", paragraph(input, output, r))?;
    }
    Ok(())
}
