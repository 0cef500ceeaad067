//! `audioproc`: measure, normalise and convert audio files.
//!
//! This binary is a thin front end: argument parsing, parallelism and reporting. All decoding,
//! measurement and processing is in `audioproc-engine`.
// Unit tests may unwrap: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod album;
mod analyze;
mod batch;
mod everyday;
mod interrupt;
mod naming;
mod plot;
mod process;
mod progress;
mod remote;
mod report;
mod serve;
mod tag;
mod usage;
mod walk;
mod worker;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Loudness normalisation and measurement (EBU R128 / ITU-R BS.1770-4) for audio files.
///
/// `audioproc FILE...` normalises each file to the EBU R128 target (−23 LUFS, −1 dBTP true-peak
/// ceiling) and writes FILE's stem + ".normalized" + its extension beside it, never touching the
/// input (unless --in-place). Choose another target with --preset streaming|podcast|atsc or
/// --target/--true-peak, convert with --rate/--channels/--format/--bits.
///
/// Examples:
///   audioproc song.wav                          # → song.normalized.wav at −23 LUFS
///   audioproc --preset streaming *.flac         # −14 LUFS, several files in parallel
///   audioproc process in.wav -o out.mp3 --preset podcast --mode limit
///   audioproc --album --preset streaming album/*.flac   # one gain for the whole album
///   audioproc analyze --json *.wav
///
/// Exit status: 0 when every file succeeded, 1 when any failed, 2 on usage errors.
#[derive(Debug, Parser)]
#[command(
    name = "audioproc",
    version,
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    everyday: process::EverydayArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure loudness: integrated (LUFS), loudness range (LU), true peak (dBTP), sample peak,
    /// maximum momentary and short-term loudness.
    ///
    /// The format is detected from the content (WAV, AIFF, CAF, FLAC, MP3/MP2/MP1, AAC and ALAC
    /// in MP4/M4A, Vorbis and Opus in Ogg, Matroska/WebM). Several files are measured in
    /// parallel; a file that fails is reported and the others go on.
    ///
    /// --curve adds each file's loudness over time (schema "audioproc.curve/1": momentary and
    /// short-term loudness and true peak, at most 2000 points) to the JSON; --plot draws it into
    /// an .svg or .png file (a folder, one plot per file, for several files).
    ///
    /// Exit status: 0 when every file was measured, 1 when any failed, 2 on usage errors.
    ///
    /// Examples:
    ///   audioproc analyze song.flac
    ///   audioproc analyze --json *.wav > loudness.json
    ///   audioproc analyze song.flac --plot song.png
    ///   audioproc analyze --csv ~/music/ > loudness.csv    # a folder, for a spreadsheet
    ///   audioproc analyze s3://bucket/music/track.flac
    #[command(verbatim_doc_comment)]
    Analyze(analyze::AnalyzeArgs),
    /// Write ReplayGain 2.0 tags into audio files, in place, without touching their audio.
    ///
    /// REPLAYGAIN_TRACK_GAIN/PEAK (and with --album REPLAYGAIN_ALBUM_GAIN/PEAK) in FLAC, MP3
    /// (ID3v2 TXXX), Ogg Vorbis and MP4; R128_TRACK_GAIN/R128_ALBUM_GAIN (Q7.8, to −23 LUFS) in
    /// Opus. Gains are to the ReplayGain 2.0 reference, −18 LUFS; peaks are true peaks as a
    /// linear ratio (as loudgain writes them). Only the tags change: each file is rewritten into
    /// a copy beside it, flushed and renamed over it, so a crash never leaves a half-written
    /// file. Directories are walked (audio found by content; hidden files skipped). Files whose
    /// tags already hold the same figures are skipped unless --force; a damaged file is not
    /// tagged; a file that fails is reported and the others go on.
    ///
    /// Exit status: 0 when every file was tagged or skipped, 1 when any failed, 2 on usage
    /// errors.
    ///
    /// Examples:
    ///   audioproc tag song.flac
    ///   audioproc tag --album music/album1/ music/album2/
    ///   audioproc tag --album --dry-run --json ~/music/
    #[command(verbatim_doc_comment)]
    Tag(tag::TagArgs),
    /// Normalise and convert one file: IN → OUT.
    ///
    /// Two passes: the first measures, the second applies one gain (linear mode) or the gain
    /// and a look-ahead true-peak limiter (limit mode), after any channel mix and resampling,
    /// then encodes. The output is written under a temporary name and renamed when complete;
    /// an existing OUT is refused unless --force. MP3 and Opus outputs are decoded again and
    /// measured, so the report's output figures are those of the file as written.
    ///
    /// --curve adds the input's and the output's loudness over time to the JSON document;
    /// --plot draws both on one chart (.svg or .png) with the target and the ceiling.
    ///
    /// Exit status: 0 when the output was written, 1 on failure, 2 on usage errors. Whether
    /// the loudness target was met is in the report ("target_met" with --json).
    ///
    /// Examples:
    ///   audioproc process in.wav -o out.flac
    ///   audioproc process in.wav -o out.flac --plot in.svg
    ///   audioproc process in.flac -o out.mp3 --preset streaming --mode limit --tags
    ///   audioproc process in.wav -o out.wav --rate 48000 --channels 2 --bits 16 --json
    ///   audioproc process s3://in-bucket/a.wav -o s3://out-bucket/a.flac
    ///
    /// S3 locations use the standard AWS configuration (environment, profile, instance role);
    /// AWS_ENDPOINT_URL points them at an S3-compatible server.
    #[command(verbatim_doc_comment)]
    Process(process::ProcessArgs),
    /// Normalise every audio file under SRC into DST, on every core.
    ///
    /// SRC and DST are each a directory or s3://bucket/prefix/ (all four combinations). The
    /// input tree is mirrored, extensions changed to the output format (default flac). Hidden
    /// files and *.json are left out; --include/--exclude filter further. Each output gets a
    /// report beside it (OUT.json; on S3 also metadata) recording the source's ETag (or size and
    /// mtime) and the settings: an input whose output records the same is skipped, so a batch
    /// that was stopped or killed is finished by running it again (--force redoes everything).
    /// A bad file is reported and the batch goes on.
    ///
    /// SIGINT/SIGTERM: no new files; those in flight get --grace seconds to finish, the rest
    /// are aborted (no partial outputs, multipart uploads aborted); the report and summary are
    /// written either way.
    ///
    /// Exit status: 0 when every input was processed or skipped, 1 when any failed, 130/143
    /// when stopped by SIGINT/SIGTERM with no failures, 2 on usage errors.
    ///
    /// Examples:
    ///   audioproc batch music/ out/ --preset streaming --report run.jsonl
    ///   audioproc batch s3://in-bucket/library/ s3://out-bucket/library/ --format mp3 -j 8
    ///   audioproc batch s3://in-bucket/library/ out/ --include '**/*.wav' --shard 2/4
    ///   audioproc batch music/ out/ --dry-run
    #[command(verbatim_doc_comment)]
    Batch(batch::BatchArgs),
    /// Process the S3 objects named by the S3 event notifications of an SQS queue, until
    /// SIGTERM (one member of a worker fleet: see "Run a worker fleet" in README.md).
    ///
    /// Each object becomes OUTPUT_PREFIX + its key with the format's extension (default flac),
    /// with metadata and a JSON report beside it, exactly as `audioproc process s3://… -o s3://…`
    /// and the Lambda function write it; an output that already records the same source ETag and
    /// settings is left alone, so a message delivered twice does no harm. A message is deleted
    /// when all its objects are done or failed permanently (recorded in KEY.error.json); a
    /// retryable failure makes it reappear shortly; a message that is not an S3 notification is
    /// left to the queue's redrive policy. JSON log lines on stderr (RUST_LOG sets the level).
    ///
    /// Examples:
    ///   audioproc worker --queue https://sqs.eu-west-1.amazonaws.com/123456789012/audio \
    ///       --output s3://music-out/processed/ --preset streaming --health-port 8080
    #[command(verbatim_doc_comment)]
    Worker(worker::WorkerArgs),
    /// Serve the upload app (a page at /) and its REST API (/api/v1, see web/API.md).
    ///
    /// People sign up, upload music, and get it back normalised with its report, a player and
    /// a download link. With no flags it listens on 127.0.0.1:8080, keeps its database (SQLite)
    /// and files in ./audioproc-data, and processes uploads itself, one per core; stopping it
    /// at any moment loses nothing. --database-url postgres://… shares one database between the
    /// instances of a fleet. Every flag also reads an AUDIOPROC_* variable. SIGTERM turns
    /// /readyz to 503 and stops claiming tracks; in-flight requests finish, tracks being
    /// processed get --drain-grace seconds, then go back to the queue. Log lines on stderr
    /// (RUST_LOG sets the level).
    ///
    /// Examples:
    ///   audioproc serve
    ///   audioproc serve --listen 0.0.0.0:8080 --database-url postgres://app@db.internal/audioproc
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
}

/// Most files or messages processed at once (`--jobs`): more threads than this only thrash.
pub(crate) const MAX_JOBS: usize = 256;

/// `--jobs N`, 1 ≤ N ≤ [`MAX_JOBS`].
pub(crate) fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of jobs from 1 to {MAX_JOBS}")),
    }
}

/// A rayon pool with `jobs` threads (default: one per core).
pub(crate) fn thread_pool(jobs: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        pool = pool.num_threads(n.max(1));
    }
    pool.build().context("starting worker threads")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = match &cli.command {
        Some(Command::Analyze(a)) => a.json,
        Some(Command::Process(a)) => a.json,
        Some(Command::Batch(a)) => a.json,
        Some(Command::Tag(a)) => a.json,
        Some(Command::Worker(_) | Command::Serve(_)) => false,
        None => cli.everyday.json,
    };
    if matches!(cli.command, None | Some(Command::Process(_))) {
        interrupt::install();
    }
    let outcome = match &cli.command {
        Some(Command::Batch(args)) => batch::run(args),
        Some(Command::Analyze(args)) => analyze::run(args).map(status),
        Some(Command::Tag(args)) => tag::run(args).map(status),
        Some(Command::Process(args)) => process::run_process(args).map(status),
        Some(Command::Worker(args)) => worker::run(args).map(status),
        Some(Command::Serve(args)) => serve::run(args).map(status),
        None if cli.everyday.files.is_empty() => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return ExitCode::from(usage::EXIT_USAGE);
        }
        None => process::run_everyday(&cli.everyday).map(status),
    };
    let code = outcome.unwrap_or_else(|e| failed(&e, json));
    interrupt::exit_code().map_or(code, ExitCode::from)
}

/// Exit status 0 when everything succeeded, 1 when something failed.
fn status(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Reports a command that could not run: 2 for usage errors, 1 otherwise; one JSON document on
/// stdout under `--json`.
fn failed(e: &anyhow::Error, json: bool) -> ExitCode {
    // Broken pipes (e.g. `| head`) are not worth a message.
    if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
        return ExitCode::from(1);
    }
    eprintln!("audioproc: {e:#}");
    if json {
        println!("{}", usage::error_document(e));
    }
    ExitCode::from(if usage::is_usage(e) { usage::EXIT_USAGE } else { 1 })
}
