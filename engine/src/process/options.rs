//! How a job runs, as opposed to what it produces: overwriting, threads, progress reports,
//! cancellation. Everything is passed to the job by its caller; nothing is process-wide.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::threads::Threads;

pub use crate::output::Overwrite;

/// Progress of a running job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// 1 = measuring, 2 = applying (repeated for limiter calibration and strict-peak re-encodes).
    pub pass: u8,
    /// Input frames processed in this pass.
    pub frames_done: u64,
    /// Input frames in total, when known.
    pub frames_total: Option<u64>,
    /// The input's sample rate (frames per second of audio).
    pub sample_rate: u32,
}

/// How [`super::process_file_with`] runs a job. None of it changes the output's bytes.
pub struct ProcessOptions<'a> {
    /// Whether an existing output may be replaced.
    pub overwrite: Overwrite,
    /// Whether the job may use helper threads.
    pub threads: Threads,
    /// Called every few blocks of every pass.
    pub progress: &'a (dyn Fn(Progress) + Sync),
    /// Set to `true` (from any thread, or from `progress`) to stop the job: every pass checks it
    /// once per block, the job returns [`Error::Cancelled`], its temporary output is removed
    /// and nothing appears under the output's name. `None`: never cancelled.
    pub cancel: Option<&'a AtomicBool>,
}

/// Whether a job was asked to stop, checked once per block of every pass.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cancel<'a>(pub(crate) Option<&'a AtomicBool>);

impl Cancel<'_> {
    /// Never cancelled.
    pub(crate) const NEVER: Cancel<'static> = Cancel(None);

    /// [`Error::Cancelled`] once the flag is set.
    pub(crate) fn check(self) -> Result<()> {
        match self.0 {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for ProcessOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessOptions")
            .field("overwrite", &self.overwrite)
            .field("threads", &self.threads)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}
