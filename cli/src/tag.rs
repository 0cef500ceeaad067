//! `audioproc tag [--album] PATH...`: ReplayGain 2.0 tags written into the files themselves.
//!
//! Pass 1 measures every file (in parallel, rayon); under `--album` the files of each album are
//! then taken together (the engine's [`AlbumLoudness`]); pass 2 writes each file's tags in
//! place and atomically ([`audioproc_engine::replaygain`]), skipping files whose tags already
//! hold the same figures (unless `--force`). A file that fails is reported and the others go
//! on; a damaged (truncated, corrupt) file is never tagged.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use audioproc_engine::album::measure_file;
use audioproc_engine::replaygain::{ReplayGain, TagFormat, read_fields, write_in_place};
use audioproc_engine::{AlbumLoudness, AnalyzeOptions, Threads, TrackLoudness};
use rayon::prelude::*;
use serde::Serialize;

use crate::walk;

/// The `schema` of `tag --json`.
pub const TAG_SCHEMA: &str = "audioproc.tag/1";

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Files and directories (walked; audio files are found by their content).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// Also write album gain and peak: each directory is one album, and the files given by
    /// name are one album together.
    #[arg(long)]
    album: bool,
    /// Write even when the file already holds the same figures.
    #[arg(long)]
    force: bool,
    /// Measure and print what would be written, without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON document (schema "audioproc.tag/1").
    #[arg(long)]
    pub(crate) json: bool,
    /// Files measured at once (default: one per core; at most 256).
    #[arg(long, short = 'j', value_name = "N", value_parser = crate::parse_jobs)]
    jobs: Option<usize>,
    #[command(flatten)]
    pub(crate) walk: crate::walk::WalkArgs,
}

/// What happened to one file.
#[derive(Debug, Serialize)]
struct FileResult {
    path: String,
    /// `written`, `skipped` (already tagged), `planned` (`--dry-run`) or `failed`.
    status: &'static str,
    error: Option<String>,
    integrated_lufs: Option<f64>,
    true_peak_dbtp: Option<f64>,
    album_lufs: Option<f64>,
    album_true_peak_dbtp: Option<f64>,
    /// The fields written (or that would be, or that are already there).
    tags: BTreeMap<&'static str, String>,
}

impl FileResult {
    fn failed(path: &Path, error: String) -> Self {
        FileResult {
            path: path.display().to_string(),
            status: "failed",
            error: Some(error),
            integrated_lufs: None,
            true_peak_dbtp: None,
            album_lufs: None,
            album_true_peak_dbtp: None,
            tags: BTreeMap::new(),
        }
    }
}

/// A file measured in pass 1.
type Measured = Result<(TagFormat, TrackLoudness), String>;

fn measure(path: &Path, threads: Threads) -> Measured {
    let format = TagFormat::of(path).map_err(|e| e.to_string())?;
    let (analysis, track) = measure_file(path, &AnalyzeOptions::default(), threads).map_err(|e| e.to_string())?;
    if let Some(w) = analysis.warnings.first() {
        return Err(format!("not tagged: the file is damaged ({w})"));
    }
    Ok((format, track))
}

/// Runs the command: `Ok(true)` when every file was tagged or skipped.
pub fn run(args: &TagArgs) -> anyhow::Result<bool> {
    let filter = args.walk.filter()?;
    let (found, unreadable) = walk::expand(&args.paths, &filter);
    let pool = crate::thread_pool(args.jobs)?;
    let bar = bar(found.len() as u64, !args.json);
    // Several files: one per thread, each metering on its own thread (no block hand-offs).
    let threads = if found.len() > 1 { Threads::Single } else { Threads::Pipelined };
    let measured: Vec<Measured> = pool.install(|| {
        found
            .par_iter()
            .map(|f| {
                let m = measure(&f.path, threads);
                bar.inc(1);
                m
            })
            .collect()
    });
    bar.finish_and_clear();
    let albums: BTreeMap<&Path, AlbumLoudness> = if args.album {
        let mut groups: BTreeMap<&Path, Vec<&TrackLoudness>> = BTreeMap::new();
        for (f, m) in found.iter().zip(&measured) {
            if let Ok((_, t)) = m {
                groups.entry(f.album.as_path()).or_default().push(t);
            }
        }
        groups.into_iter().map(|(k, tracks)| (k, AlbumLoudness::of(tracks))).collect()
    } else {
        BTreeMap::new()
    };
    let mut results: Vec<FileResult> = pool.install(|| {
        found
            .par_iter()
            .zip(measured)
            .map(|(f, m)| match m {
                Ok((format, track)) => tag_one(args, &f.path, format, &track, albums.get(f.album.as_path())),
                Err(e) => FileResult::failed(&f.path, e),
            })
            .collect()
    });
    results.extend(unreadable.into_iter().map(|(p, e)| FileResult::failed(&p, e)));
    report(&results, args)?;
    Ok(results.iter().all(|r| r.status != "failed"))
}

fn tag_one(
    args: &TagArgs,
    path: &Path,
    format: TagFormat,
    track: &TrackLoudness,
    album: Option<&AlbumLoudness>,
) -> FileResult {
    let mut result = FileResult::failed(path, String::new());
    result.integrated_lufs = audioproc_engine::report::round4(track.loudness.integrated_lufs);
    result.true_peak_dbtp = audioproc_engine::report::round4(track.loudness.true_peak_dbtp);
    result.album_lufs = audioproc_engine::report::round4(album.and_then(|a| a.integrated_lufs));
    result.album_true_peak_dbtp = audioproc_engine::report::round4(album.and_then(|a| a.true_peak_dbtp));
    let Some(rg) = ReplayGain::new(&track.loudness, album) else {
        result.error = Some("not tagged: the file has no measurable loudness (silence, or under 400 ms)".to_owned());
        return result;
    };
    if args.album && rg.album.is_none() {
        result.error = Some("not tagged: the album has no measurable loudness".to_owned());
        return result;
    }
    let fields = rg.fields(format);
    result.tags = fields.iter().map(|(n, v)| (*n, v.clone())).collect();
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    let same = read_fields(path, format, &names)
        .is_ok_and(|old| old.iter().zip(&fields).all(|(o, (_, v))| o.as_deref() == Some(v.as_str())));
    let outcome = if same && !args.force {
        Ok("skipped")
    } else if args.dry_run {
        Ok("planned")
    } else {
        write_in_place(path, format, &fields).map(|()| "written").map_err(|e| e.to_string())
    };
    match outcome {
        Ok(status) => {
            result.status = status;
            result.error = None;
        }
        Err(e) => result.error = Some(e),
    }
    result
}

fn bar(len: u64, enabled: bool) -> indicatif::ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() || len < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("measuring {pos}/{len} [{bar:30}] ETA {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn report(results: &[FileResult], args: &TagArgs) -> anyhow::Result<()> {
    for r in results.iter().filter(|r| r.status == "failed") {
        eprintln!("audioproc: {}: {}", r.path, r.error.as_deref().unwrap_or("failed"));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({ "schema": TAG_SCHEMA, "files": results });
        serde_json::to_writer_pretty(&mut out, &doc).context("writing JSON")?;
        writeln!(out)?;
        return Ok(());
    }
    for r in results.iter().filter(|r| r.status != "failed") {
        let what = match r.status {
            "written" => "tagged",
            "planned" => "would write",
            _ => "already tagged, skipped (--force rewrites)",
        };
        let tags: Vec<String> = r.tags.iter().map(|(n, v)| format!("{n}={v}")).collect();
        writeln!(out, "{}: {what}: {}", r.path, tags.join(", "))?;
    }
    Ok(())
}
