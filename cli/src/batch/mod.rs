//! `audioproc batch SRC DST`: every audio file under a directory or an S3 prefix, normalised
//! into a mirrored tree, on every core.
//!
//! The stages, joined by bounded queues so that neither memory nor temporary disk grows with
//! the number of inputs:
//!
//! 1. [`listing`] (a thread): walks SRC, or lists the S3 prefix page by page, filtering as it
//!    goes ([`roots::Filter`]: hidden files, `*.json`, `--include`/`--exclude`, `--shard`);
//! 2. the dispatcher (an async task): one [`item`] job per input, at most `jobs + 2` at a time;
//!    each is the one per-object job of `audioproc-s3` (skip check, fetch, compute, publish),
//!    which holds one of `--jobs` compute slots only while the engine runs, so transfers overlap
//!    processing;
//! 3. [`report`] (a thread): one JSON line per input to `--report` as each finishes, the counts
//!    for the [`progress`] display and the final summary.
//!
//! SIGINT/SIGTERM ([`shutdown`]) stop the listing and every job that has not begun computing,
//! let the inputs in flight finish for `--grace` seconds, then abort the rest (multipart uploads
//! aborted), write the report and the summary, and exit. Outputs only ever appear complete
//! (rename, or S3's atomic PUT/complete), and an output is only skipped when it records the
//! same source and spec, so a run killed at any moment can simply be started again.

mod albums;
mod item;
mod listing;
mod progress;
mod report;
pub(crate) mod roots;
mod shutdown;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use audioproc_engine::{OutputFormat, Threads};
use audioproc_s3::S3Client;
use audioproc_s3::job::{Destination, Existing, Policy};
use tokio::sync::Semaphore;

use crate::process::SpecArgs;
use item::Context;
use listing::Item;
use progress::Progress;
use report::{Counts, Event, InFlight, Line, Status, Summary};
use roots::{Filter, Root};
use shutdown::Stop;

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
    /// Files processed at once, each on one thread (default: one per core; at most 256).
    #[arg(long, short = 'j', value_name = "N", value_parser = crate::parse_jobs)]
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
    /// An existing file is refused unless --force; it may not be inside a local SRC.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the final summary as JSON (schema "audioproc.batch/1") on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Process inputs again even when their output records the same source and settings.
    #[arg(long)]
    force: bool,
    /// On SIGINT/SIGTERM, give the files in flight this many seconds to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    grace: f64,
    /// Take only shard K of N (1 ≤ K ≤ N) of the inputs, split by a hash of their path: N
    /// machines running K = 1…N share one prefix with no overlap.
    #[arg(long, value_name = "K/N", value_parser = roots::parse_shard)]
    shard: Option<(u64, u64)>,
    /// Album mode: the inputs are grouped into albums (--album-by), each album is measured as
    /// one programme first, and every track of it gets the album's one gain (their relative
    /// loudness kept). A local SRC only.
    #[arg(long)]
    album: bool,
    /// How inputs are grouped into albums: dir (the files of one directory) or tag (the same
    /// album and albumartist tags; files without an album tag are processed on their own).
    #[arg(long, value_name = "BY", value_enum, default_value = "dir", requires = "album")]
    album_by: crate::album::AlbumBy,
}

/// What the stages share.
#[derive(Debug)]
struct Shared {
    counts: Arc<Counts>,
    in_flight: Arc<InFlight>,
    stop: Arc<Stop>,
}

/// Runs the command: exit 0 when nothing failed, 1 when something did, 130/143 when a signal
/// stopped it.
pub fn run(args: &BatchArgs) -> anyhow::Result<std::process::ExitCode> {
    let started = Instant::now();
    let (src, dst) = (Root::parse(&args.src)?, Root::parse(&args.dst)?);
    let spec = args.spec.spec(args.spec.format.unwrap_or(OutputFormat::Flac));
    spec.validate()?;
    roots::check_roots(&src, &dst)?;
    if let Some(report) = &args.report {
        roots::check_report(report, &src, args.force)?;
    }
    let filter = Filter::new(&args.include, &args.exclude, args.shard)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let client = (src.is_s3() || dst.is_s3()).then(|| runtime.block_on(audioproc_s3::client_from_env()));
    let work = audioproc_s3::work_dir::create("audioproc-batch-").context("creating a temporary directory")?;
    if let Root::Local(d) = &dst
        && !args.dry_run
    {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let stop = Arc::new(Stop::default());
    let grace = Duration::from_secs_f64(args.grace.max(0.0));
    runtime.spawn({
        let stop = Arc::clone(&stop);
        async move { stop.watch(grace).await }
    });
    let albums = match (&src, args.album) {
        (Root::Local(dir), true) => albums::measure(dir, &filter, args.album_by, &spec, jobs, runtime.handle())?,
        (Root::S3 { .. }, true) => return Err(crate::usage::usage("--album: SRC must be a local directory")),
        (_, false) => Default::default(),
    };
    let mut ctx = context(args, &src, &dst, client.as_ref(), spec, jobs, &stop, work.path().to_owned())?;
    ctx.albums = albums;
    let ctx = Arc::new(ctx);
    if let Destination::Mirror { store, .. } = &ctx.dest
        && !args.dry_run
    {
        runtime.block_on(store.check_destination()).with_context(|| format!("destination {}", dst.display()))?;
    }
    let shared = Shared { counts: Arc::default(), in_flight: Arc::default(), stop };

    let report_file = match &args.report {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating the report {}", p.display()))?,
        )),
        None => None,
    };
    let (events, reporter) =
        report::spawn_reporter(Arc::clone(&shared.counts), Arc::clone(&shared.in_flight), report_file);
    let progress = Progress::start(Arc::clone(&shared.counts), started, args.json);
    let (list_tx, list_rx) = tokio::sync::mpsc::channel::<Item>(256);
    let lister = spawn_lister(&shared, src.clone(), filter, client, runtime.handle().clone(), list_tx, events.clone());
    let dispatch = runtime.spawn(dispatch(ctx, list_rx, jobs + 2, events.clone(), Arc::clone(&shared.in_flight)));

    // Wait for the pipeline, or for the end of the grace period.
    let finished = loop {
        if dispatch.is_finished() {
            break true;
        }
        if shared.stop.aborting() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if finished {
        let _ = lister.join();
    } else if dst.is_s3() {
        // Give cancelled uploads a moment to abort their multipart uploads.
        let until = Instant::now() + Duration::from_secs(10);
        while !dispatch.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The reporter writes the rest (on abort: the inputs still in flight, as interrupted).
    let _ = events.send(if finished { Event::Finish } else { Event::Abort });
    match reporter.join() {
        Ok(r) => r.context("writing the report")?,
        Err(_) => bail!("the report writer failed"),
    }
    progress.finish();
    let summary = summary(args, &src, &dst, &shared, started);
    report::print_summary(&summary, args.json)?;
    let code = match (summary.failed, shared.stop.signal()) {
        (f, _) if f > 0 => 1u8,
        (_, Some("SIGINT")) => 130,
        (_, Some(_)) => 143,
        _ => 0,
    };
    if !finished {
        // Threads still blocked in the engine cannot be joined: leave now (the work directory
        // is removed first; a local destination's staging directory is swept by the next run).
        drop(work);
        std::process::exit(i32::from(code));
    }
    Ok(std::process::ExitCode::from(code))
}

/// The jobs' shared context: stores, destination mapping and the batch's policy.
#[allow(clippy::too_many_arguments)] // reason: the one place the batch's settings meet
fn context(
    args: &BatchArgs,
    src: &Root,
    dst: &Root,
    client: Option<&S3Client>,
    spec: audioproc_engine::ProcessingSpec,
    jobs: usize,
    stop: &Stop,
    work_dir: PathBuf,
) -> anyhow::Result<Context> {
    let (source, strip) = src.store(client)?;
    let (dest_store, prefix) = dst.store(client)?;
    let policy = Policy {
        existing: if args.force { Existing::Replace } else { Existing::SkipIfSame },
        cancel: stop.cancel.clone(),
        threads: Threads::Single,
        error_reports: false,
        compute_slots: Some(Arc::new(Semaphore::new(jobs))),
        ..Policy::service(work_dir)
    };
    Ok(Context {
        source,
        dest: Destination::Mirror { store: dest_store, prefix, strip },
        spec,
        policy,
        dry_run: args.dry_run,
        albums: Default::default(),
    })
}

/// Stage 1 on its own thread: lists SRC into `tx` until done or stopped; a listing failure is
/// reported as a failed line (the batch's failure).
fn spawn_lister(
    shared: &Shared,
    src: Root,
    filter: Filter,
    client: Option<S3Client>,
    runtime: tokio::runtime::Handle,
    tx: tokio::sync::mpsc::Sender<Item>,
    events: std::sync::mpsc::Sender<Event>,
) -> std::thread::JoinHandle<()> {
    let (counts, stop) = (Arc::clone(&shared.counts), Arc::clone(&shared.stop));
    std::thread::spawn(move || {
        let send = |item: Item| -> bool {
            if stop.requested() {
                return false;
            }
            counts.listed.fetch_add(1, Ordering::Relaxed);
            tx.blocking_send(item).is_ok()
        };
        let result = listing::list(&src, &filter, client.as_ref(), &runtime, &send);
        counts.listing_done.store(true, Ordering::SeqCst);
        if let Err(e) = result {
            let line = Line::new(src.display(), None, Status::Failed, Some(e.to_string()));
            let _ = events.send(Event::Line(Box::new(line), None));
        }
    })
}

/// Stage 2: one job per listed input, at most `in_flight_max` at a time; returns when every
/// job has reported.
async fn dispatch(
    ctx: Arc<Context>,
    mut items: tokio::sync::mpsc::Receiver<Item>,
    in_flight_max: usize,
    events: std::sync::mpsc::Sender<Event>,
    in_flight: Arc<InFlight>,
) {
    let permits = Arc::new(Semaphore::new(in_flight_max));
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_id = 0u64;
    while let Some(item) = items.recv().await {
        if ctx.policy.cancel.is_stopping() {
            break;
        }
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
        next_id += 1;
        let (ctx, events, in_flight, id) = (Arc::clone(&ctx), events.clone(), Arc::clone(&in_flight), next_id);
        let place = item::reserve(&ctx, &item);
        tasks.spawn(async move {
            if let Some(line) = item::run(&ctx, item, id, &in_flight).await {
                let _ = events.send(Event::Line(Box::new(line), Some(id)));
            }
            drop((place, permit));
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

fn summary(args: &BatchArgs, src: &Root, dst: &Root, shared: &Shared, started: Instant) -> Summary {
    let c = &shared.counts;
    let audio_s = c.audio_us.load(Ordering::Relaxed) as f64 / 1e6;
    let wall_s = (started.elapsed().as_secs_f64() * 1e3).round() / 1e3;
    Summary {
        schema: report::SUMMARY_SCHEMA,
        source: src.display(),
        destination: dst.display(),
        report: args.report.as_ref().map(|p| p.display().to_string()),
        listed: c.listed.load(Ordering::Relaxed),
        ok: c.ok.load(Ordering::Relaxed),
        skipped: c.skipped.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        planned: c.planned.load(Ordering::Relaxed),
        audio_hours: (audio_s / 3600.0 * 1e4).round() / 1e4,
        wall_s,
        x_realtime: (audio_s > 0.0).then(|| (audio_s / wall_s * 10.0).round() / 10.0),
        interrupted: shared.stop.signal().map(str::to_owned),
    }
}
