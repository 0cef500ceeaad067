//! `audioproc`: measure (and, in later versions, normalise and convert) audio files.
//!
//! This binary is a thin front end: argument parsing, parallelism and reporting. All decoding
//! and measurement is in `audioproc-engine`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use audioproc_engine::{Analysis, AnalyzeOptions, Limits, MonoMode, analyze_path};
use clap::{Parser, Subcommand};
use rayon::prelude::*;
use serde::Serialize;

/// Loudness measurement (EBU R128 / ITU-R BS.1770-4) for audio files.
#[derive(Debug, Parser)]
#[command(name = "audioproc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure loudness: integrated (LUFS), loudness range (LU), true peak (dBTP), sample peak,
    /// maximum momentary and short-term loudness.
    ///
    /// The format is detected from the content (WAV, AIFF, CAF, FLAC, MP3/MP2/MP1, AAC and ALAC
    /// in MP4/M4A, Vorbis in Ogg, Matroska/WebM). Several files are measured in parallel; a
    /// file that fails is reported and the others go on.
    ///
    /// Exit status: 0 when every file was measured, 1 when any failed, 2 on usage errors.
    ///
    /// Examples:
    ///   audioproc analyze song.flac
    ///   audioproc analyze --json *.wav > loudness.json
    #[command(verbatim_doc_comment)]
    Analyze(AnalyzeArgs),
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// Files to measure.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print one JSON document (schema "audioproc.analysis/1") instead of a table.
    #[arg(long)]
    json: bool,
    /// Measure a mono file as two identical channels (+3 LU against plain BS.1770 mono), as it
    /// sounds played on both speakers.
    #[arg(long)]
    dual_mono: bool,
    /// Refuse files with more channels than this.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_channels)]
    max_channels: usize,
    /// Refuse files whose decoded audio runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().max_duration_s)]
    max_duration: f64,
    /// Refuse sample rates above this (Hz).
    #[arg(long, value_name = "HZ", default_value_t = Limits::default().max_sample_rate)]
    max_sample_rate: u32,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

/// One entry of the `audioproc.analysis/1` JSON document. Its keys are a published contract:
/// add a schema version before changing them.
#[derive(Debug, Serialize)]
struct FileEntry {
    path: String,
    ok: bool,
    error: Option<String>,
    codec: Option<String>,
    container: Option<String>,
    sample_rate: Option<u32>,
    channels: Option<usize>,
    duration_s: Option<f64>,
    integrated_lufs: Option<f64>,
    loudness_range_lu: Option<f64>,
    true_peak_dbtp: Option<f64>,
    sample_peak_dbfs: Option<f64>,
    momentary_max_lufs: Option<f64>,
    short_term_max_lufs: Option<f64>,
    mono_mode: Option<MonoMode>,
}

#[derive(Debug, Serialize)]
struct AnalysisDocument<'a> {
    schema: &'static str,
    files: &'a [FileEntry],
}

/// Rounds for presentation: 0.0001 dB is far below any meter's accuracy.
fn round4(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 10_000.0).round() / 10_000.0)
}

impl FileEntry {
    fn new(path: &std::path::Path, result: &audioproc_engine::Result<Analysis>) -> Self {
        let path = path.display().to_string();
        match result {
            Ok(a) => FileEntry {
                path,
                ok: true,
                error: None,
                codec: Some(a.info.codec.clone()),
                container: Some(a.info.container.clone()),
                sample_rate: Some(a.info.sample_rate),
                channels: Some(a.info.channels()),
                duration_s: round4(Some(a.duration_s())),
                integrated_lufs: round4(a.loudness.integrated_lufs),
                loudness_range_lu: round4(a.loudness.loudness_range_lu),
                true_peak_dbtp: round4(a.loudness.true_peak_dbtp),
                sample_peak_dbfs: round4(a.loudness.sample_peak_dbfs),
                momentary_max_lufs: round4(a.loudness.momentary_max_lufs),
                short_term_max_lufs: round4(a.loudness.short_term_max_lufs),
                mono_mode: a.mono_mode,
            },
            Err(e) => FileEntry {
                path,
                ok: false,
                error: Some(e.to_string()),
                codec: None,
                container: None,
                sample_rate: None,
                channels: None,
                duration_s: None,
                integrated_lufs: None,
                loudness_range_lu: None,
                true_peak_dbtp: None,
                sample_peak_dbfs: None,
                momentary_max_lufs: None,
                short_term_max_lufs: None,
                mono_mode: None,
            },
        }
    }
}

fn fmt(x: Option<f64>, unit: &str) -> String {
    x.map_or_else(|| "-∞".to_owned(), |v| format!("{v:.1} {unit}"))
}

fn print_table(entries: &[FileEntry], out: &mut impl Write) -> std::io::Result<()> {
    for e in entries.iter().filter(|e| e.ok) {
        let mono = match e.mono_mode {
            Some(MonoMode::Mono) => ", measured as mono",
            Some(MonoMode::DualMono) => ", measured as dual mono",
            None => "",
        };
        writeln!(
            out,
            "{}\n  integrated {}  range {}  true peak {}  sample peak {}\n  momentary max {}  short-term max {}\n  {:.2} s, {} Hz, {} ch, {} in {}{}",
            e.path,
            fmt(e.integrated_lufs, "LUFS"),
            e.loudness_range_lu.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} LU")),
            fmt(e.true_peak_dbtp, "dBTP"),
            fmt(e.sample_peak_dbfs, "dBFS"),
            fmt(e.momentary_max_lufs, "LUFS"),
            fmt(e.short_term_max_lufs, "LUFS"),
            e.duration_s.unwrap_or(0.0),
            e.sample_rate.unwrap_or(0),
            e.channels.unwrap_or(0),
            e.codec.as_deref().unwrap_or("?"),
            e.container.as_deref().unwrap_or("?"),
            mono,
        )?;
    }
    Ok(())
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<bool> {
    let options = AnalyzeOptions {
        limits: Limits {
            max_channels: args.max_channels,
            max_duration_s: args.max_duration,
            max_sample_rate: args.max_sample_rate,
            ..Limits::default()
        },
        mono_mode: if args.dual_mono { MonoMode::DualMono } else { MonoMode::Mono },
    };
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = args.jobs {
        pool = pool.num_threads(n.max(1));
    }
    let pool = pool.build().context("starting worker threads")?;
    let results: Vec<_> =
        pool.install(|| args.files.par_iter().map(|p| (p, analyze_path(p, &options))).collect());

    let mut stderr = std::io::stderr().lock();
    for (path, result) in &results {
        match result {
            Err(e) => writeln!(stderr, "audioproc: {}: {e}", path.display())?,
            Ok(a) => {
                for w in &a.warnings {
                    writeln!(stderr, "audioproc: {}: warning: {w}", path.display())?;
                }
            }
        }
    }
    let entries: Vec<FileEntry> = results.iter().map(|(p, r)| FileEntry::new(p, r)).collect();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let doc = AnalysisDocument { schema: "audioproc.analysis/1", files: &entries };
        serde_json::to_writer_pretty(&mut stdout, &doc)?;
        writeln!(stdout)?;
    } else {
        print_table(&entries, &mut stdout)?;
    }
    Ok(entries.iter().all(|e| e.ok))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Analyze(args) => analyze(args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // Broken pipes (e.g. `| head`) are not worth a message.
            if e.downcast_ref::<std::io::Error>().is_none_or(|io| io.kind() != std::io::ErrorKind::BrokenPipe) {
                eprintln!("audioproc: {e:#}");
            }
            ExitCode::from(1)
        }
    }
}
