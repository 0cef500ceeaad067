//! `audioproc analyze`: measure files, in parallel.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use audioproc_engine::{Analysis, AnalyzeOptions, Limits, MonoMode, analyze_path};
use rayon::prelude::*;
use serde::Serialize;

use audioproc_engine::report::Measurement;

use crate::plot::{self, Plot, PlotArgs};
use crate::remote::{Place, S3Session};
use crate::report::fmt;
use crate::usage::usage;

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Files to measure, directories (walked: audio files found by their content, hidden files
    /// skipped), or S3 objects `s3://bucket/key` (downloaded to a temporary file first).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print one JSON document (schema "audioproc.analysis/1") instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub(crate) json: bool,
    /// Print CSV for spreadsheets: a header of the JSON entry's keys, then one row per file
    /// (empty cells for null).
    #[arg(long)]
    csv: bool,
    #[command(flatten)]
    pub(crate) walk: crate::walk::WalkArgs,
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
    /// Worker threads (default: one per core; at most 256).
    #[arg(long, short = 'j', value_name = "N", value_parser = crate::parse_jobs)]
    jobs: Option<usize>,
    #[command(flatten)]
    plot: PlotArgs,
    /// Replace existing plot files (--plot).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Serialize)]
struct AnalysisDocument<'a> {
    schema: &'static str,
    files: &'a [Measurement],
}

fn print_table(entries: &[Measurement], out: &mut impl Write) -> std::io::Result<()> {
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

/// Runs the command; `Ok(true)` when every file was measured.
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<bool> {
    let options = AnalyzeOptions {
        limits: Limits {
            max_channels: args.max_channels,
            max_duration_s: args.max_duration,
            max_sample_rate: args.max_sample_rate,
            ..Limits::default()
        },
        mono_mode: if args.dual_mono { MonoMode::DualMono } else { MonoMode::Mono },
        curve: args.plot.records_curve(),
    };
    let plots = args.plot.destinations(&args.files).map_err(usage)?;
    let pool = crate::thread_pool(args.jobs)?;
    let filter = args.walk.filter()?;
    let (found, unreadable) = crate::walk::expand(&args.files, &filter);
    let files: Vec<PathBuf> = found.into_iter().map(|f| f.path).collect();
    let inputs = fetch_s3_inputs(&files)?;
    let results: Vec<_> = pool.install(|| {
        inputs
            .par_iter()
            .enumerate()
            .map(|(i, (p, local))| {
                let result = match local {
                    Ok(Some(temp)) => analyze_path(temp.path(), &options).map_err(|e| e.to_string()),
                    Ok(None) => analyze_path(p, &options).map_err(|e| e.to_string()),
                    Err(e) => Err(e.clone()),
                };
                let plotted = match (&result, &plots) {
                    (Ok(a), Some(plots)) => plot_analysis(p, a, &plots[i], args.force),
                    _ => Ok(()),
                };
                (p, result, plotted)
            })
            .collect()
    });

    let mut stderr = std::io::stderr().lock();
    for (path, result, plotted) in &results {
        match result {
            Err(e) => writeln!(stderr, "audioproc: {}: {e}", path.display())?,
            Ok(a) => {
                for w in &a.warnings {
                    writeln!(stderr, "audioproc: {}: warning: {w}", path.display())?;
                }
            }
        }
        if let Err(e) = plotted {
            writeln!(stderr, "audioproc: {}: {e}", path.display())?;
        }
    }
    let mut entries: Vec<Measurement> = results
        .iter()
        .map(|(p, r, _)| match r {
            Ok(a) => Measurement::of_analysis(&p.display().to_string(), a)
                .with_curve(a.loudness.curve.clone().filter(|_| args.plot.curve)),
            Err(e) => Measurement::failed(&p.display().to_string(), e.clone()),
        })
        .collect();
    for (dir, e) in unreadable {
        writeln!(stderr, "audioproc: {}: {e}", dir.display())?;
        entries.push(Measurement::failed(&dir.display().to_string(), e));
    }
    let mut stdout = std::io::stdout().lock();
    if args.csv {
        write_csv(&entries, &mut stdout)?;
    } else if args.json {
        let doc = AnalysisDocument { schema: "audioproc.analysis/1", files: &entries };
        serde_json::to_writer_pretty(&mut stdout, &doc).context("writing JSON")?;
        writeln!(stdout)?;
    } else {
        print_table(&entries, &mut stdout)?;
    }
    Ok(entries.iter().all(|e| e.ok) && results.iter().all(|(_, _, plotted)| plotted.is_ok()))
}

/// Draws the plot of one analysed file into `dest`.
fn plot_analysis(path: &Path, a: &Analysis, dest: &Path, force: bool) -> Result<(), plot::PlotError> {
    match Plot::of_analysis(path, a) {
        Some(p) => plot::write(dest, &p, force),
        None => Ok(()),
    }
}

/// The CSV columns: the keys of an `audioproc.analysis/1` file entry, in order.
const CSV_COLUMNS: [&str; 15] = [
    "path",
    "ok",
    "error",
    "codec",
    "container",
    "sample_rate",
    "channels",
    "duration_s",
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "momentary_max_lufs",
    "short_term_max_lufs",
    "mono_mode",
];

/// RFC 4180 CSV: a header row of [`CSV_COLUMNS`], one row per entry; null is an empty cell,
/// text is quoted when it holds a comma, a quote or a line break.
fn write_csv(entries: &[Measurement], out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "{}", CSV_COLUMNS.join(","))?;
    for e in entries {
        let value = serde_json::to_value(e).context("writing CSV")?;
        let cells: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|k| match &value[*k] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) if s.contains([',', '"', '\n', '\r']) => {
                    format!("\"{}\"", s.replace('"', "\"\""))
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

/// Each argument with, for an `s3://` one, the temporary file it was downloaded to (or why it
/// could not be). Local arguments map to `Ok(None)`. No S3 client is made without S3 arguments.
type Fetched = Result<Option<tempfile::NamedTempFile>, String>;

fn fetch_s3_inputs(files: &[PathBuf]) -> anyhow::Result<Vec<(&PathBuf, Fetched)>> {
    let places: Vec<_> = files.iter().map(|f| (f, Place::parse(f))).collect();
    let session =
        if places.iter().any(|(_, p)| !matches!(p, Ok(Place::Local(_)))) { Some(S3Session::new()?) } else { None };
    Ok(places
        .into_iter()
        .map(|(f, place)| {
            let fetched = match (place, &session) {
                (Ok(Place::S3(obj)), Some(s)) => s.download(&obj).map(Some).map_err(|e| format!("{e:#}")),
                (Ok(_), _) => Ok(None),
                (Err(e), _) => Err(format!("{e:#}")),
            };
            (f, fetched)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_columns_are_the_json_keys_in_order() {
        let json = serde_json::to_string(&Measurement::failed("a", "b".to_owned())).unwrap();
        let keys: Vec<&str> = json.split('"').skip(1).step_by(2).filter(|k| CSV_COLUMNS.contains(k)).collect();
        assert_eq!(keys.first(), Some(&"path"));
        let positions: Vec<usize> = CSV_COLUMNS.iter().map(|k| json.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert_eq!(json.matches("\":").count(), CSV_COLUMNS.len(), "every key is a column: {json}");
    }

    #[test]
    fn csv_quotes_text_that_needs_it_and_leaves_nulls_empty() {
        let mut out = Vec::new();
        write_csv(&[Measurement::failed("a,b.wav", "bad \"x\"".to_owned())], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row, "\"a,b.wav\",false,\"bad \"\"x\"\"\",,,,,,,,,,,,");
    }
}
