//! A progress bar on stderr for long jobs, only when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use audioproc_engine::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Files shorter than this (seconds of audio) finish too fast for a bar to help.
const MIN_SECONDS: f64 = 5.0;

/// A bar that shows the current pass of one job.
#[derive(Debug)]
pub struct JobBar {
    bar: Option<ProgressBar>,
}

impl JobBar {
    /// A bar for `name`, shown only when stderr is a terminal, `enabled`, and the input is long
    /// enough (declared length unknown counts as long).
    pub fn new(name: &str, enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix} {msg:>11} [{bar:30}] {percent:>3}% {elapsed_precise} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            bar
        });
        JobBar { bar }
    }

    /// Updates from the engine's progress callback.
    pub fn update(&self, p: Progress) {
        let Some(bar) = &self.bar else { return };
        let total = p.frames_total.unwrap_or(0);
        if bar.is_hidden() && (total == 0 || total as f64 / f64::from(p.sample_rate.max(1)) >= MIN_SECONDS) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        let msg = if p.pass == 1 { "measuring" } else { "processing" };
        if bar.message() != msg {
            bar.set_message(msg);
            bar.reset();
        }
        bar.set_length(total.max(p.frames_done));
        bar.set_position(p.frames_done);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
