//! The report of `batch`: one JSON line per input (`--report`, schema
//! `audioproc.batch-item/1`) written by a reporter thread as each finishes, the counts behind
//! the progress display, and the final summary (schema `audioproc.batch/1`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use audioproc_engine::ProcessReport;
use audioproc_engine::report::round4;
use audioproc_s3::job::Timings;
use serde::Serialize;

/// Schema of each line of `--report`.
pub const LINE_SCHEMA: &str = "audioproc.batch-item/1";
/// Schema of the summary (`--json`).
pub const SUMMARY_SCHEMA: &str = "audioproc.batch/1";

/// What happened to one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Processed and published.
    Ok,
    /// Its output already records this source and spec.
    Skipped,
    /// It failed (or could not finish before the batch stopped).
    Failed,
    /// A dry run would process it.
    Planned,
}

/// One line of the report.
#[derive(Debug, Serialize)]
pub struct Line {
    schema: &'static str,
    /// The input, as shown.
    pub source: String,
    /// The output, as shown.
    pub output: Option<String>,
    /// What happened.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
    /// Seconds of audio.
    pub duration_s: Option<f64>,
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
    /// A line with no measurements.
    pub fn new(source: String, output: Option<String>, status: Status, error: Option<String>) -> Line {
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

    /// The line of an input that was processed.
    pub fn ok(source: String, output: String, r: &ProcessReport, t: &Timings) -> Line {
        let secs = r.input.frames as f64 / f64::from(r.input.info.sample_rate.max(1));
        Line {
            duration_s: round4(Some(secs)),
            input_lufs: round4(r.input.loudness.integrated_lufs),
            output_lufs: round4(r.output.loudness.integrated_lufs),
            output_true_peak_dbtp: round4(r.output.loudness.true_peak_dbtp),
            gain_db: round4(Some(r.gain_db)),
            target_met: Some(r.target_met),
            fetch_s: round4(Some(t.download_s)),
            process_s: round4(Some(t.process_s)),
            publish_s: round4(Some(t.upload_s)),
            ..Line::new(source, Some(output), Status::Ok, None)
        }
    }
}

/// The final summary.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Always [`SUMMARY_SCHEMA`].
    pub schema: &'static str,
    /// SRC.
    pub source: String,
    /// DST.
    pub destination: String,
    /// Inputs found.
    pub listed: u64,
    /// Processed.
    pub ok: u64,
    /// Already done.
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
    /// To process (dry run).
    pub planned: u64,
    /// Set when a signal stopped the batch before everything was listed and processed.
    pub interrupted: Option<String>,
    /// Hours of audio processed.
    pub audio_hours: f64,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Audio time over wall time.
    pub x_realtime: Option<f64>,
    /// The `--report` file.
    pub report: Option<String>,
}

/// Counters shared by the stages, the reporter and the progress display.
#[derive(Debug, Default)]
pub struct Counts {
    /// Inputs found so far.
    pub listed: AtomicU64,
    /// The listing is over.
    pub listing_done: AtomicBool,
    /// Per status.
    pub ok: AtomicU64,
    /// Per status.
    pub skipped: AtomicU64,
    /// Per status.
    pub failed: AtomicU64,
    /// Per status.
    pub planned: AtomicU64,
    /// Microseconds of audio processed.
    pub audio_us: AtomicU64,
}

impl Counts {
    /// Inputs reported so far.
    pub fn finished(&self) -> u64 {
        [&self.ok, &self.skipped, &self.failed, &self.planned].iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Inputs being worked on: id → (source, output) shown if the batch is aborted.
pub type InFlight = Mutex<HashMap<u64, (String, String)>>;

/// What the reporter receives.
#[derive(Debug)]
pub enum Event {
    /// One input's line, and its in-flight id.
    Line(Box<Line>, Option<u64>),
    /// Everything has been reported.
    Finish,
    /// The grace period is over: report what is still in flight as interrupted, and stop.
    Abort,
}

/// The reporter thread: counts each line, writes it to `file`, and on [`Event::Abort`] writes
/// the inputs still in flight as interrupted.
pub fn spawn_reporter(
    counts: Arc<Counts>,
    in_flight: Arc<InFlight>,
    mut file: Option<std::io::BufWriter<std::fs::File>>,
) -> (mpsc::Sender<Event>, std::thread::JoinHandle<std::io::Result<()>>) {
    let (tx, rx) = mpsc::channel::<Event>();
    let thread = std::thread::spawn(move || -> std::io::Result<()> {
        let mut write = |line: &Line| -> std::io::Result<()> {
            if let Some(f) = file.as_mut() {
                serde_json::to_writer(&mut *f, line)?;
                f.write_all(b"\n")?;
                f.flush()?;
            }
            Ok(())
        };
        for event in rx {
            match event {
                Event::Line(line, id) => {
                    if let Some(id) = id {
                        in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    }
                    count(&counts, &line);
                    write(&line)?;
                }
                Event::Finish => break,
                Event::Abort => {
                    // Everything reported before this point is in; what is still in flight did
                    // not finish within the grace period.
                    let leftovers: Vec<_> =
                        in_flight.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, v)| v).collect();
                    for (source, output) in leftovers {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        let why = "interrupted: not finished within the grace period (the next run redoes it)";
                        write(&Line::new(source, Some(output), Status::Failed, Some(why.to_owned())))?;
                    }
                    break;
                }
            }
        }
        Ok(())
    });
    (tx, thread)
}

fn count(c: &Counts, line: &Line) {
    match line.status {
        Status::Ok => {
            c.ok.fetch_add(1, Ordering::Relaxed);
            c.audio_us.fetch_add((line.duration_s.unwrap_or(0.0) * 1e6) as u64, Ordering::Relaxed);
        }
        Status::Skipped => {
            c.skipped.fetch_add(1, Ordering::Relaxed);
        }
        Status::Planned => {
            c.planned.fetch_add(1, Ordering::Relaxed);
        }
        Status::Failed => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!("audioproc: {}: {}", line.source, line.error.as_deref().unwrap_or("failed"));
        }
    }
}

/// Prints the summary: a sentence, or JSON.
pub fn print_summary(s: &Summary, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, s)?;
        return writeln!(out);
    }
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
    )
}
