//! `audioproc batch SRC DST`: every audio file under a directory or an S3 prefix, normalised
//! into a mirrored tree, on every core.
//!
//! Four stages joined by bounded queues, so neither memory nor temporary disk grows with the
//! number of inputs:
//!
//! 1. **list** (a thread): walks SRC, or lists the S3 prefix page by page, filtering (hidden
//!    files, `*.json`, `--include`/`--exclude`, `--shard`) as it goes;
//! 2. **prepare** (async tasks): skips inputs whose output already records the same source and
//!    spec, and streams S3 inputs into temporary files — at most `jobs + 2` inputs are held at a
//!    time (a semaphore whose permit travels with the input until it is done);
//! 3. **process** (a rayon pool of `--jobs` threads): [`process_file`] into a temporary file;
//! 4. **publish**: a local output is renamed into place and its report sidecar (`OUT.json`)
//!    written after it; an S3 output is uploaded by async tasks (report, then output; multipart
//!    above 8 MiB, aborted on failure or shutdown) while the pool goes on with the next input.
//!
//! A reporter thread writes one JSON line per input to `--report` as each finishes, and keeps
//! the counts for the progress display and the final summary. SIGINT/SIGTERM stop the listing,
//! let the inputs in flight finish for `--grace` seconds, then abort the rest (multipart
//! uploads aborted, temporary files removed), write the report and the summary, and exit.
//! Outputs only ever appear complete (rename, or S3's atomic PUT/complete), and an output is
//! only skipped when its report says it is done, so a run killed at any moment can simply be
//! started again.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, bail};
use audioproc_engine::report::{ProcessDocument, round4};
use audioproc_engine::{OutputFormat, Overwrite, ProcessReport, ProcessingSpec, process_file};
use audioproc_s3::job::{self, Location, S3ProcessDocument, SourceRecord};
use audioproc_s3::object::{self, ObjectInfo, PutOptions};
use audioproc_s3::{ObjectRef, S3Client, S3Url, output_key};
use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::process::SpecArgs;
use crate::remote::Place;

/// Schema of each line of `--report`.
pub const LINE_SCHEMA: &str = "audioproc.batch-item/1";
/// Schema of the summary (`--json`).
pub const SUMMARY_SCHEMA: &str = "audioproc.batch/1";

#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// Where the inputs are: a directory, or `s3://bucket/prefix/`.
    #[arg(value_name = "SRC")]
    src: String,
    /// Where the outputs go (the input tree mirrored, extensions changed): a directory, or
    /// `s3://bucket/prefix/`.
    #[arg(value_name = "DST")]
    dst: String,
    #[command(flatten)]
    spec: SpecArgs,
    /// Files processed at once, each on one thread (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Only inputs whose path under SRC matches this glob (repeatable), e.g. '**/*.wav'.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out inputs whose path under SRC matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// List what would be processed or skipped, without processing anything.
    #[arg(long)]
    dry_run: bool,
    /// Write one JSON line per input here (schema "audioproc.batch-item/1"), as each finishes.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the final summary as JSON (schema "audioproc.batch/1") on stdout.
    #[arg(long)]
    json: bool,
    /// Process inputs again even when their output records the same source and settings.
    #[arg(long)]
    force: bool,
    /// On SIGINT/SIGTERM, give the files in flight this many seconds to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    grace: f64,
    /// Take only shard K of N (1 ≤ K ≤ N) of the inputs, split by a hash of their path: N
    /// machines running K = 1…N share one prefix with no overlap.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 2/4")?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| "K is not a number")?, n.parse().map_err(|_| "N is not a number")?);
    if n == 0 || k == 0 || k > n {
        return Err("expected 1 ≤ K ≤ N".to_owned());
    }
    Ok((k, n))
}

/// A batch root.
#[derive(Clone, Debug)]
enum Root {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Root {
    fn parse(s: &str) -> anyhow::Result<Root> {
        match S3Url::parse(s) {
            None => Ok(Root::Local(PathBuf::from(s))),
            Some(url) => {
                let url = url?;
                let mut prefix = url.key;
                if !prefix.is_empty() && !prefix.ends_with('/') {
                    prefix.push('/');
                }
                Ok(Root::S3 { bucket: url.bucket, prefix })
            }
        }
    }

    fn display(&self) -> String {
        match self {
            Root::Local(p) => p.display().to_string(),
            Root::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// One input found by the listing.
#[derive(Clone, Debug)]
struct Item {
    /// Path under SRC, `/`-separated.
    rel: String,
    source: Place,
    /// What identifies this version of the input: the ETag on S3, size and mtime locally.
    identity: String,
}

/// The source as recorded in output metadata and reports (bucket empty for local files).
fn source_object(source: &Place, rel: &str) -> ObjectRef {
    match source {
        Place::Local(_) => ObjectRef::new("", rel),
        Place::S3(o) => o.clone(),
    }
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Line {
    schema: &'static str,
    source: String,
    output: Option<String>,
    /// `ok`, `skipped`, `failed` (or `planned` in a dry run).
    status: &'static str,
    error: Option<String>,
    duration_s: Option<f64>,
    input_lufs: Option<f64>,
    output_lufs: Option<f64>,
    output_true_peak_dbtp: Option<f64>,
    gain_db: Option<f64>,
    target_met: Option<bool>,
    fetch_s: Option<f64>,
    process_s: Option<f64>,
    publish_s: Option<f64>,
}

impl Line {
    fn new(item: &Item, dest: Option<&Place>, status: &'static str, error: Option<String>) -> Line {
        Line::bare(item.source.display(), dest.map(Place::display), status, error)
    }

    /// A line with no measurements.
    fn bare(source: String, output: Option<String>, status: &'static str, error: Option<String>) -> Line {
        Line {
            schema: LINE_SCHEMA,
            source,
            output,
            status,
            error,
            duration_s: None,
            input_lufs: None,
            output_lufs: None,
            output_true_peak_dbtp: None,
            gain_db: None,
            target_met: None,
            fetch_s: None,
            process_s: None,
            publish_s: None,
        }
    }

    fn ok(item: &Item, dest: &Place, r: &ProcessReport, t: [f64; 3]) -> Line {
        let secs = r.input.frames as f64 / f64::from(r.input.info.sample_rate.max(1));
        Line {
            duration_s: round4(Some(secs)),
            input_lufs: round4(r.input.loudness.integrated_lufs),
            output_lufs: round4(r.output.loudness.integrated_lufs),
            output_true_peak_dbtp: round4(r.output.loudness.true_peak_dbtp),
            gain_db: round4(Some(r.gain_db)),
            target_met: Some(r.target_met),
            fetch_s: round4(Some(t[0])),
            process_s: round4(Some(t[1])),
            publish_s: round4(Some(t[2])),
            ..Line::new(item, Some(dest), "ok", None)
        }
    }
}

/// The final summary.
#[derive(Debug, Default, Serialize)]
struct Summary {
    schema: &'static str,
    source: String,
    destination: String,
    listed: u64,
    ok: u64,
    skipped: u64,
    failed: u64,
    planned: u64,
    /// Set when a signal stopped the batch before everything was listed and processed.
    interrupted: Option<String>,
    audio_hours: f64,
    wall_s: f64,
    x_realtime: Option<f64>,
    report: Option<String>,
}

/// Counters shared by the stages, the reporter and the progress display.
#[derive(Debug, Default)]
struct Counts {
    listed: AtomicU64,
    listing_done: AtomicBool,
    ok: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    planned: AtomicU64,
    /// Microseconds of audio processed.
    audio_us: AtomicU64,
}

/// Shutdown state: set by the signal task.
#[derive(Debug, Default)]
struct Stop {
    requested: AtomicBool,
    /// Past the grace period: abort what is still running.
    aborting: AtomicBool,
    signal: Mutex<Option<&'static str>>,
}

impl Stop {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// Everything the stages share.
#[derive(Debug)]
struct Shared {
    src: Root,
    dst: Root,
    spec: ProcessingSpec,
    spec_id: String,
    force: bool,
    dry_run: bool,
    /// Temporary files: downloads, S3-bound outputs.
    work: PathBuf,
    /// Local destination only: outputs are written here first, then renamed into place.
    dst_tmp: Option<PathBuf>,
    counts: Counts,
    stop: Stop,
    /// Inputs being worked on (id → line to write if the batch is aborted).
    in_flight: Mutex<HashMap<u64, (String, String)>>,
    client: Option<S3Client>,
}

/// A prepared input, ready for the pool.
struct Work {
    id: u64,
    item: Item,
    dest: Place,
    input: PathBuf,
    /// Keeps a downloaded input alive until it is processed.
    _download: Option<tempfile::NamedTempFile>,
    fetch_s: f64,
    permit: OwnedSemaphorePermit,
}

/// A processed input on its way to S3.
struct Upload {
    id: u64,
    item: Item,
    dest: ObjectRef,
    output: tempfile::TempPath,
    report: ProcessReport,
    times: [f64; 2],
    _permit: OwnedSemaphorePermit,
}

/// What the reporter receives.
enum Event {
    /// One input's line, and its in-flight id.
    Line(Box<Line>, Option<u64>),
    /// Everything has been reported.
    Finish,
    /// The grace period is over: report what is still in flight as interrupted, and stop.
    Abort,
}

/// Runs the command; `Ok(true)` when nothing failed.
pub fn run(args: &BatchArgs) -> anyhow::Result<std::process::ExitCode> {
    let started = Instant::now();
    let src = Root::parse(&args.src)?;
    let dst = Root::parse(&args.dst)?;
    let format = args.spec.format.unwrap_or(OutputFormat::Flac);
    let spec = args.spec.spec(format);
    spec.validate()?;
    check_roots(&src, &dst)?;
    let include = globs(&args.include)?;
    let exclude = globs(&args.exclude)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let client = if matches!(src, Root::S3 { .. }) || matches!(dst, Root::S3 { .. }) {
        Some(runtime.block_on(audioproc_s3::client_from_env()))
    } else {
        None
    };
    let work =
        tempfile::Builder::new().prefix("audioproc-batch-").tempdir().context("creating a temporary directory")?;
    let dst_tmp = match &dst {
        Root::Local(d) if !args.dry_run => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            remove_stale_tmp_dirs(d);
            let t = d.join(format!(".audioproc-tmp-{}", std::process::id()));
            std::fs::create_dir_all(&t).with_context(|| format!("creating {}", t.display()))?;
            Some(t)
        }
        _ => None,
    };
    let shared = Arc::new(Shared {
        src: src.clone(),
        dst: dst.clone(),
        spec_id: spec.canonical(),
        spec,
        force: args.force,
        dry_run: args.dry_run,
        work: work.path().to_owned(),
        dst_tmp,
        counts: Counts::default(),
        stop: Stop::default(),
        in_flight: Mutex::new(HashMap::new()),
        client,
    });

    // Signals: stop taking work, then abort after the grace period.
    {
        let shared = Arc::clone(&shared);
        let grace = Duration::from_secs_f64(args.grace.max(0.0));
        runtime.spawn(async move {
            let name = wait_for_signal().await;
            *shared.stop.signal.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
            shared.stop.requested.store(true, Ordering::SeqCst);
            eprintln!(
                "audioproc: {name}: finishing the files in flight (up to {:.0} s), then stopping",
                grace.as_secs_f64()
            );
            tokio::time::sleep(grace).await;
            shared.stop.aborting.store(true, Ordering::SeqCst);
        });
    }

    // The reporter.
    let mut report_file = match &args.report {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating the report {}", p.display()))?,
        )),
        None => None,
    };
    let (event_tx, event_rx) = mpsc::channel::<Event>();
    let reporter = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || -> std::io::Result<()> {
            for event in event_rx {
                let (line, id) = match event {
                    Event::Line(line, id) => (line, id),
                    Event::Finish => break,
                    Event::Abort => {
                        // Everything reported before this point is in; what is still in flight
                        // did not finish within the grace period.
                        let leftovers: Vec<_> = shared
                            .in_flight
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .drain()
                            .map(|(_, v)| v)
                            .collect();
                        for (source, output) in leftovers {
                            shared.counts.failed.fetch_add(1, Ordering::Relaxed);
                            let line = Line::bare(
                                source,
                                Some(output),
                                "failed",
                                Some(
                                    "interrupted: not finished within the grace period (the next run redoes it)"
                                        .to_owned(),
                                ),
                            );
                            if let Some(f) = report_file.as_mut() {
                                serde_json::to_writer(&mut *f, &line)?;
                                f.write_all(b"\n")?;
                            }
                        }
                        if let Some(f) = report_file.as_mut() {
                            f.flush()?;
                        }
                        break;
                    }
                };
                if let Some(id) = id {
                    shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                }
                let c = &shared.counts;
                match line.status {
                    "ok" => {
                        c.ok.fetch_add(1, Ordering::Relaxed);
                        c.audio_us.fetch_add((line.duration_s.unwrap_or(0.0) * 1e6) as u64, Ordering::Relaxed);
                    }
                    "skipped" => {
                        c.skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    "planned" => {
                        c.planned.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        c.failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("audioproc: {}: {}", line.source, line.error.as_deref().unwrap_or("failed"));
                    }
                }
                if let Some(f) = report_file.as_mut() {
                    serde_json::to_writer(&mut *f, &line)?;
                    f.write_all(b"\n")?;
                    f.flush()?;
                }
            }
            Ok(())
        })
    };
    let progress = Progress::start(Arc::clone(&shared), started, args.json);

    // Stage 1: listing.
    let (list_tx, list_rx) = tokio::sync::mpsc::channel::<Item>(256);
    let lister = {
        let shared = Arc::clone(&shared);
        let events = event_tx.clone();
        let shard = args.shard;
        let handle = runtime.handle().clone();
        std::thread::spawn(move || {
            let accept = |rel: &str| -> bool {
                let name = rel.rsplit('/').next().unwrap_or(rel);
                !name.starts_with('.')
                    && !name.ends_with(".json")
                    && (include.is_empty() || include.is_match(rel))
                    && !exclude.is_match(rel)
                    && shard.is_none_or(|(k, n)| fnv1a(rel.as_bytes()) % n == k - 1)
            };
            let send = |item: Item| -> bool {
                if shared.stop.requested() {
                    return false;
                }
                shared.counts.listed.fetch_add(1, Ordering::Relaxed);
                list_tx.blocking_send(item).is_ok()
            };
            let result = match &shared.src {
                Root::Local(dir) => list_local(dir, &accept, &send),
                Root::S3 { bucket, prefix } => {
                    let client = shared.client.clone().expect("S3 client for an S3 source");
                    // One page at a time: the next page is fetched only when this one is queued.
                    let mut token = None;
                    loop {
                        match handle.block_on(object::list_page(&client, bucket, prefix, token.take())) {
                            Err(e) => break Err(e.to_string()),
                            Ok((page, next)) => {
                                let go_on = page.into_iter().filter(|o| accept(&o.key[prefix.len()..])).all(|o| {
                                    send(Item {
                                        rel: o.key[prefix.len()..].to_owned(),
                                        source: Place::S3(ObjectRef::new(bucket, &o.key)),
                                        identity: o.etag,
                                    })
                                });
                                match next {
                                    Some(t) if go_on => token = Some(t),
                                    _ => break Ok(()),
                                }
                            }
                        }
                    }
                }
            };
            shared.counts.listing_done.store(true, Ordering::SeqCst);
            if let Err(e) = result {
                // A listing failure is the batch's failure: report it as such.
                let line = Line::bare(
                    shared.src.display(),
                    None,
                    "failed",
                    Some(format!("listing {}: {e}", shared.src.display())),
                );
                let _ = events.send(Event::Line(Box::new(line), None));
            }
        })
    };

    // Stage 2: prepare (skip check, download), at most jobs + 2 inputs held.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Work>(jobs);
    let permits = Arc::new(Semaphore::new(jobs + 2));
    {
        let shared = Arc::clone(&shared);
        let events = event_tx.clone();
        runtime.spawn(async move {
            let mut list_rx = list_rx;
            let mut next_id = 0u64;
            while let Some(item) = list_rx.recv().await {
                if shared.stop.requested() {
                    break;
                }
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
                next_id += 1;
                let (shared, events, ready_tx) = (Arc::clone(&shared), events.clone(), ready_tx.clone());
                tokio::spawn(async move {
                    let id = next_id;
                    match prepare(&shared, item, id, permit).await {
                        Ok(Some(work)) => {
                            let _ = ready_tx.send(work).await;
                        }
                        Ok(None) => {}
                        Err(line) => {
                            let _ = events.send(Event::Line(line, Some(id)));
                        }
                    }
                });
            }
        });
    }

    // Stage 4 (S3 destinations): uploads, up to `jobs` at a time.
    let (upload_tx, mut upload_rx) = tokio::sync::mpsc::channel::<Upload>(jobs);
    let uploads_done = {
        let shared = Arc::clone(&shared);
        let events = event_tx.clone();
        let limit = Arc::new(Semaphore::new(jobs));
        runtime.spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Some(up) = upload_rx.recv().await {
                let Ok(slot) = Arc::clone(&limit).acquire_owned().await else { break };
                let (shared, events) = (Arc::clone(&shared), events.clone());
                tasks.spawn(async move {
                    let line = publish_s3(&shared, &up).await;
                    let _ = events.send(Event::Line(Box::new(line), Some(up.id)));
                    drop(slot);
                });
            }
            while tasks.join_next().await.is_some() {}
        })
    };

    // Stage 3: the pool.
    let pool = crate::thread_pool(Some(jobs))?;
    let compute = {
        let shared = Arc::clone(&shared);
        let events = event_tx.clone();
        std::thread::spawn(move || {
            pool.install(|| {
                std::iter::from_fn(|| ready_rx.blocking_recv()).par_bridge().for_each(|work| {
                    if shared.stop.requested() {
                        // Not started: the next run will do it.
                        shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&work.id);
                        return;
                    }
                    if let Some(line) = process_one(&shared, work, &upload_tx) {
                        let _ = events.send(line);
                    }
                });
            });
            drop(upload_tx);
        })
    };
    let main_events = event_tx;

    // Wait for the pipeline, or for the end of the grace period.
    let finished = loop {
        if compute.is_finished() && uploads_done.is_finished() {
            break true;
        }
        if shared.stop.aborting.load(Ordering::SeqCst) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if finished {
        let _ = lister.join();
        let _ = compute.join();
    } else {
        // Give cancelled uploads a moment to abort their multipart uploads.
        let until = Instant::now() + Duration::from_secs(10);
        while !uploads_done.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The reporter writes the rest (on abort: the inputs still in flight, as interrupted).
    let _ = main_events.send(if finished { Event::Finish } else { Event::Abort });
    match reporter.join() {
        Ok(r) => r.context("writing the report")?,
        Err(_) => bail!("the report writer failed"),
    }
    progress.finish();
    let mut summary = Summary {
        schema: SUMMARY_SCHEMA,
        source: src.display(),
        destination: dst.display(),
        report: args.report.as_ref().map(|p| p.display().to_string()),
        ..Summary::default()
    };
    let c = &shared.counts;
    summary.listed = c.listed.load(Ordering::Relaxed);
    summary.ok = c.ok.load(Ordering::Relaxed);
    summary.skipped = c.skipped.load(Ordering::Relaxed);
    summary.failed = c.failed.load(Ordering::Relaxed);
    summary.planned = c.planned.load(Ordering::Relaxed);
    let audio_s = c.audio_us.load(Ordering::Relaxed) as f64 / 1e6;
    summary.audio_hours = (audio_s / 3600.0 * 1e4).round() / 1e4;
    summary.wall_s = (started.elapsed().as_secs_f64() * 1e3).round() / 1e3;
    summary.x_realtime = (audio_s > 0.0).then(|| (audio_s / summary.wall_s * 10.0).round() / 10.0);
    let signal = *shared.stop.signal.lock().unwrap_or_else(|e| e.into_inner());
    summary.interrupted = signal.map(str::to_owned);

    if let Some(t) = &shared.dst_tmp {
        let _ = std::fs::remove_dir_all(t);
    }
    print_summary(&summary, args.json)?;
    let code = match (summary.failed, signal) {
        (f, _) if f > 0 => 1u8,
        (_, Some("SIGINT")) => 130,
        (_, Some(_)) => 143,
        _ => 0,
    };
    if !finished {
        // Threads still blocked in the engine cannot be joined: leave now (temporary files in
        // the work directory are removed by the drop below, before exiting).
        drop(work);
        std::process::exit(i32::from(code));
    }
    Ok(std::process::ExitCode::from(code))
}

fn print_summary(s: &Summary, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, s)?;
        writeln!(out)?;
    } else {
        let planned = if s.planned > 0 { format!(", {} to process (dry run)", s.planned) } else { String::new() };
        writeln!(
            out,
            "{} → {}: {} inputs: {} processed, {} skipped, {} failed{planned}. {:.3} h of audio in {:.1} s{}.{}",
            s.source,
            s.destination,
            s.listed,
            s.ok,
            s.skipped,
            s.failed,
            s.audio_hours,
            s.wall_s,
            s.x_realtime.map_or_else(String::new, |x| format!(" ({x:.0}× realtime)")),
            s.interrupted.as_ref().map_or_else(String::new, |sig| format!(" Stopped by {sig}: run again to finish.")),
        )?;
    }
    Ok(())
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn globs(patterns: &[String]) -> anyhow::Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).with_context(|| format!("bad glob {p:?}"))?);
    }
    Ok(b.build()?)
}

/// Refuses a destination inside the source (its outputs would become inputs).
fn check_roots(src: &Root, dst: &Root) -> anyhow::Result<()> {
    match (src, dst) {
        (Root::Local(s), Root::Local(d)) => {
            if !s.is_dir() {
                bail!("{}: not a directory", s.display());
            }
            let s = s.canonicalize()?;
            let d_abs = if d.exists() { d.canonicalize()? } else { std::path::absolute(d)? };
            if d_abs.starts_with(&s) || s.starts_with(&d_abs) {
                bail!("the destination must not be inside the source, nor the source inside it");
            }
        }
        (Root::Local(s), _) if !s.is_dir() => bail!("{}: not a directory", s.display()),
        (Root::S3 { bucket: b1, prefix: p1 }, Root::S3 { bucket: b2, prefix: p2 })
            if b1 == b2 && (p1.starts_with(p2.as_str()) || p2.starts_with(p1.as_str())) =>
        {
            bail!("the destination prefix must not overlap the source prefix");
        }
        _ => {}
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable hash for `--shard`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Walks `dir` depth-first in name order without collecting it, handing each accepted file to
/// `send` (which returns `false` to stop). Symbolic links to directories are not followed.
fn list_local(dir: &Path, accept: &dyn Fn(&str) -> bool, send: &dyn Fn(Item) -> bool) -> Result<(), String> {
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let mut entries: Vec<_> =
            std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        let mut files = Vec::new();
        for e in entries {
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                eprintln!("audioproc: {}: name is not UTF-8, left out", e.path().display());
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push((e.path(), child_rel)),
                Ok(_) => files.push((e.path(), child_rel)),
                Err(_) => {}
            }
        }
        // Files of this directory in name order, before its subdirectories.
        for (p, r) in files.into_iter().rev() {
            if !accept(&r) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&p) else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime =
                meta.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            let item = Item { rel: r, source: Place::Local(p), identity: format!("size={};mtime={mtime}", meta.len()) };
            if !send(item) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Where `rel`'s output goes, refusing any path that could leave a local destination.
fn destination(dst: &Root, rel: &str, format: OutputFormat) -> Result<Place, String> {
    match dst {
        Root::S3 { bucket, prefix } => {
            output_key(prefix, rel, format).map(|k| Place::S3(ObjectRef::new(bucket, k))).map_err(|e| e.to_string())
        }
        Root::Local(dir) => {
            let key = output_key("", rel, format).map_err(|e| e.to_string())?;
            let unsafe_part = key.split('/').any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
                || key.chars().any(|c| c.is_control());
            let rel_path = Path::new(&key);
            if unsafe_part || !rel_path.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(format!(
                    "{rel:?} cannot be a path under the destination (empty, '.', '..' or control characters): left out"
                ));
            }
            Ok(Place::Local(dir.join(rel_path)))
        }
    }
}

fn sidecar_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(audioproc_s3::location::REPORT_SUFFIX);
    PathBuf::from(s)
}

/// Whether `dest` already holds this input's output for this spec.
async fn already_done(shared: &Shared, item: &Item, dest: &Place) -> Result<bool, String> {
    match dest {
        Place::Local(out) => {
            if !out.is_file() {
                return Ok(false);
            }
            let Ok(bytes) = std::fs::read(sidecar_path(out)) else { return Ok(false) };
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Ok(false) };
            Ok(doc["ok"] == true
                && doc["source"]["etag"].as_str() == Some(item.identity.as_str())
                && doc["source"]["key"].as_str() == Some(source_object(&item.source, &item.rel).key.as_str())
                && doc["spec"].as_str() == Some(shared.spec_id.as_str()))
        }
        Place::S3(obj) => {
            let client = shared.client.as_ref().ok_or("no S3 client")?;
            let existing = object::head(client, obj).await.map_err(|e| e.to_string())?;
            let info = ObjectInfo { etag: item.identity.clone(), ..ObjectInfo::default() };
            Ok(existing.is_some_and(|e| {
                job::records_same_job(&e, &source_object(&item.source, &item.rel), &info, &shared.spec_id)
            }))
        }
    }
}

/// Stage 2 for one input: `Ok(Some)` to process, `Ok(None)` when reported already (skipped,
/// planned), `Err(line)` when it failed.
async fn prepare(
    shared: &Shared,
    item: Item,
    id: u64,
    permit: OwnedSemaphorePermit,
) -> Result<Option<Work>, Box<Line>> {
    let started = Instant::now();
    let dest = destination(&shared.dst, &item.rel, shared.spec.format)
        .map_err(|e| Box::new(Line::new(&item, None, "failed", Some(e))))?;
    if !shared.force {
        match already_done(shared, &item, &dest).await {
            Ok(true) => return Err(Box::new(Line::new(&item, Some(&dest), "skipped", None))),
            Ok(false) => {}
            Err(e) => return Err(Box::new(Line::new(&item, Some(&dest), "failed", Some(e)))),
        }
    }
    if shared.dry_run {
        return Err(Box::new(Line::new(&item, Some(&dest), "planned", None)));
    }
    let (input, download) = match &item.source {
        Place::Local(p) => (p.clone(), None),
        Place::S3(obj) => {
            let client = shared.client.as_ref().expect("S3 client for an S3 source");
            match object::download(client, obj, Some(&item.identity), u64::MAX, &shared.work).await {
                Ok(t) => (t.path().to_owned(), Some(t)),
                Err(e) => return Err(Box::new(Line::new(&item, Some(&dest), "failed", Some(e.to_string())))),
            }
        }
    };
    Ok(Some(Work { id, item, dest, input, _download: download, fetch_s: started.elapsed().as_secs_f64(), permit }))
}

/// Stage 3 for one input: process, then publish a local output here or hand an S3 one to the
/// uploaders. Returns the report line, unless the uploaders will.
fn process_one(shared: &Shared, work: Work, uploads: &tokio::sync::mpsc::Sender<Upload>) -> Option<Event> {
    let Work { id, item, dest, input, _download, fetch_s, permit } = work;
    let started = Instant::now();
    shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (item.source.display(), dest.display()));
    let tmp_dir = shared.dst_tmp.as_deref().unwrap_or(&shared.work);
    let output = match tempfile::Builder::new()
        .prefix(".audioproc-out-")
        .suffix(&format!(".{}", shared.spec.format.extension()))
        .tempfile_in(tmp_dir)
    {
        Ok(t) => t.into_temp_path(),
        Err(e) => {
            return Some(Event::Line(
                Box::new(Line::new(&item, Some(&dest), "failed", Some(format!("temporary file: {e}")))),
                Some(id),
            ));
        }
    };
    let report = match process_file(&input, &output, &shared.spec, Overwrite::Replace, &|_| {}) {
        Ok(r) => r,
        Err(e) => {
            return Some(Event::Line(Box::new(Line::new(&item, Some(&dest), "failed", Some(e.to_string()))), Some(id)));
        }
    };
    drop(_download);
    let process_s = started.elapsed().as_secs_f64();
    match dest {
        Place::S3(obj) => {
            let up = Upload { id, item, dest: obj, output, report, times: [fetch_s, process_s], _permit: permit };
            // Blocks while the uploaders are busy: back-pressure on the pool.
            if let Err(e) = uploads.blocking_send(up) {
                let up = e.0;
                return Some(Event::Line(
                    Box::new(Line::new(&up.item, None, "failed", Some("stopped before upload".to_owned()))),
                    Some(up.id),
                ));
            }
            None
        }
        Place::Local(path) => {
            let publish = Instant::now();
            let line = match publish_local(shared, &item, &path, output, &report, fetch_s) {
                Ok(()) => Line::ok(
                    &item,
                    &Place::Local(path.clone()),
                    &report,
                    [fetch_s, process_s, publish.elapsed().as_secs_f64()],
                ),
                Err(e) => Line::new(&item, Some(&Place::Local(path)), "failed", Some(e)),
            };
            drop(permit);
            Some(Event::Line(Box::new(line), Some(id)))
        }
    }
}

fn sidecar(shared: &Shared, item: &Item, dest: &Place, report: &ProcessReport, elapsed: f64) -> S3ProcessDocument {
    let source = source_object(&item.source, &item.rel);
    S3ProcessDocument {
        process: ProcessDocument::new(&item.source.display(), &dest.display(), &Ok(report.clone()), elapsed),
        source: SourceRecord {
            bucket: source.bucket,
            key: source.key,
            etag: Some(item.identity.clone()),
            version_id: None,
            size: None,
        },
        destination: match dest {
            Place::S3(o) => Some(Location::from(o)),
            Place::Local(p) => Some(Location { bucket: String::new(), key: p.display().to_string() }),
        },
        failure: None,
        spec: Some(shared.spec_id.clone()),
    }
}

/// Renames the output into place, then writes its sidecar (the mark that it is done).
fn publish_local(
    shared: &Shared,
    item: &Item,
    path: &Path,
    output: tempfile::TempPath,
    report: &ProcessReport,
    fetch_s: f64,
) -> Result<(), String> {
    let dest = Place::Local(path.to_owned());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    output.persist(path).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let doc = sidecar(shared, item, &dest, report, fetch_s);
    let json = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    let tmp_dir = shared.dst_tmp.as_deref().unwrap_or(&shared.work);
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(|e| e.to_string())?;
    tmp.write_all(&json).map_err(|e| e.to_string())?;
    tmp.persist(sidecar_path(path)).map_err(|e| format!("writing the report beside {}: {e}", path.display()))?;
    Ok(())
}

/// Uploads the report then the output (the output last: it exists only when complete).
async fn publish_s3(shared: &Shared, up: &Upload) -> Line {
    let started = Instant::now();
    let dest = Place::S3(up.dest.clone());
    let Some(client) = shared.client.as_ref() else {
        return Line::new(&up.item, Some(&dest), "failed", Some("no S3 client".to_owned()));
    };
    let doc = sidecar(shared, &up.item, &dest, &up.report, up.times[0] + up.times[1]);
    let report_ref =
        ObjectRef::new(&up.dest.bucket, format!("{}{}", up.dest.key, audioproc_s3::location::REPORT_SUFFIX));
    let result = async {
        let json = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
        object::put_bytes(client, &report_ref, json, "application/json").await.map_err(|e| e.to_string())?;
        let info = ObjectInfo { etag: up.item.identity.clone(), ..ObjectInfo::default() };
        let options = PutOptions {
            content_type: shared.spec.format.mime_type().to_owned(),
            metadata: job::output_metadata(
                &source_object(&up.item.source, &up.item.rel),
                &info,
                &shared.spec_id,
                &up.report,
            ),
        };
        let cancelled = || shared.stop.aborting.load(Ordering::SeqCst);
        if let Err(e) = object::upload_file_cancellable(client, &up.output, &up.dest, &options, &cancelled).await {
            object::delete_quietly(client, &report_ref).await;
            return Err(e.to_string());
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Line::ok(&up.item, &dest, &up.report, [up.times[0], up.times[1], started.elapsed().as_secs_f64()]),
        Err(e) => Line::new(&up.item, Some(&dest), "failed", Some(e)),
    }
}

/// Removes `.audioproc-tmp-<pid>` directories of batches that are no longer running.
fn remove_stale_tmp_dirs(dst: &Path) {
    let Ok(entries) = std::fs::read_dir(dst) else { return };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(".audioproc-tmp-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The progress display: a bar on a terminal, a JSON line every 10 s otherwise.
struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(shared: Arc<Shared>, started: Instant, quiet: bool) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let tty = std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let bar = tty.then(|| {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{pos}/{len} files [{bar:30}] {msg} ETA {eta}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar
            });
            let mut last_line = Instant::now();
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let c = &shared.counts;
                let finished = c.ok.load(Ordering::Relaxed)
                    + c.skipped.load(Ordering::Relaxed)
                    + c.failed.load(Ordering::Relaxed)
                    + c.planned.load(Ordering::Relaxed);
                let listed = c.listed.load(Ordering::Relaxed);
                let hours = c.audio_us.load(Ordering::Relaxed) as f64 / 3.6e9;
                let xrt = hours * 3600.0 / started.elapsed().as_secs_f64().max(1e-3);
                if let Some(bar) = &bar {
                    bar.set_length(listed);
                    bar.set_position(finished);
                    let more = if c.listing_done.load(Ordering::Relaxed) { "" } else { "+ (listing)" };
                    bar.set_message(format!(
                        "{hours:.2} h audio, {xrt:.0}× realtime, {} failed {more}",
                        c.failed.load(Ordering::Relaxed)
                    ));
                } else if !quiet && last_line.elapsed() >= Duration::from_secs(10) {
                    last_line = Instant::now();
                    eprintln!(
                        "{}",
                        serde_json::json!({"progress": {"done": finished, "listed": listed, "listing_done": c.listing_done.load(Ordering::Relaxed),
                            "failed": c.failed.load(Ordering::Relaxed), "audio_hours": (hours * 1e4).round() / 1e4, "x_realtime": xrt.round(),
                            "elapsed_s": started.elapsed().as_secs()}})
                    );
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Progress { done, thread: Some(thread) }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
