//! The progress display of `batch`: a bar on a terminal, a JSON line on stderr every 10 s
//! otherwise (unless `--json`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::report::Counts;

/// The display's thread.
#[derive(Debug)]
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `counts`.
    pub fn start(counts: Arc<Counts>, started: Instant, quiet: bool) -> Progress {
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
                let c = &counts;
                let (finished, listed) = (c.finished(), c.listed.load(Ordering::Relaxed));
                let failed = c.failed.load(Ordering::Relaxed);
                let listing_done = c.listing_done.load(Ordering::Relaxed);
                let hours = c.audio_us.load(Ordering::Relaxed) as f64 / 3.6e9;
                let xrt = hours * 3600.0 / started.elapsed().as_secs_f64().max(1e-3);
                if let Some(bar) = &bar {
                    bar.set_length(listed);
                    bar.set_position(finished);
                    let more = if listing_done { "" } else { "+ (listing)" };
                    bar.set_message(format!("{hours:.2} h audio, {xrt:.0}× realtime, {failed} failed {more}"));
                } else if !quiet && last_line.elapsed() >= Duration::from_secs(10) {
                    last_line = Instant::now();
                    eprintln!(
                        "{}",
                        serde_json::json!({"progress": {"done": finished, "listed": listed, "listing_done": listing_done,
                            "failed": failed, "audio_hours": (hours * 1e4).round() / 1e4, "x_realtime": xrt.round(),
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

    /// Stops the display.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
