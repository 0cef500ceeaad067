//! The meter on helper threads: [`ThreadedMeter`].
//!
//! A [`LoudnessMeter`] does two independent things to every block: K-weighting and gating
//! (loudness), and oversampling (true peak), which costs about as much again. With
//! [`Threads::Pipelined`] each half runs on its own [`BlockWorker`], fed the same shared blocks,
//! so the thread that decodes (and, in the apply pass, the encoder) is left free: metering then
//! costs almost no wall time on a machine with a free core. With [`Threads::Single`] the plain
//! meter runs on the caller's thread. The figures are identical either way (and for any block
//! sizes): each half sees the whole stream, in order.

use super::curve::PeakSteps;
use super::histogram::GatingHistogram;
use super::meter::{LoudnessMeter, LoudnessReport, MeterOptions, sub_block_frames};
use super::true_peak::TruePeak;
use crate::block_worker::{BlockWorker, SharedBlock};
use crate::error::Result;
use crate::handoff::{Handoff, Ready};
use crate::threads::Threads;

/// What the true-peak worker measures: one detector per channel, and the true peak per step
/// when the curve is recorded.
type TruePeakWork = (Vec<TruePeak>, Option<PeakSteps>);

/// A [`LoudnessMeter`] whose loudness and true-peak halves run on two helper threads (or on the
/// caller's, with [`Threads::Single`]).
#[derive(Debug)]
pub struct ThreadedMeter {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Single(Box<LoudnessMeter>),
    Pipelined {
        loudness: BlockWorker<LoudnessMeter>,
        true_peak: BlockWorker<TruePeakWork>,
        /// Gathers the blocks given to [`ThreadedMeter::process`].
        handoff: Handoff,
    },
}

impl ThreadedMeter {
    /// A meter for `sample_rate` Hz with one weight per channel, true peak included, on helper
    /// threads when `threads` is [`Threads::Pipelined`]; `curve` records the loudness curve too
    /// ([`MeterOptions::curve`]).
    ///
    /// # Errors
    /// As [`LoudnessMeter::new`], and [`crate::Error::Io`] if a thread cannot be started.
    pub fn new(sample_rate: u32, weights: &[f64], threads: Threads, curve: bool) -> Result<Self> {
        if threads == Threads::Single {
            let meter = LoudnessMeter::new(sample_rate, weights, MeterOptions { true_peak: true, curve })?;
            return Ok(ThreadedMeter { inner: Inner::Single(Box::new(meter)) });
        }
        let meter = LoudnessMeter::new(sample_rate, weights, MeterOptions { true_peak: false, curve })?;
        let loudness =
            BlockWorker::spawn("loudness", meter, |meter: &mut LoudnessMeter, planes| meter.process(planes))?;
        let peaks = (
            vec![TruePeak::new(sample_rate); weights.len()],
            curve.then(|| PeakSteps::new(sub_block_frames(sample_rate))),
        );
        let true_peak =
            BlockWorker::spawn("true-peak", peaks, |(peaks, steps): &mut TruePeakWork, planes| match steps {
                Some(steps) => steps.process(peaks, planes),
                None => peaks.iter_mut().zip(planes).for_each(|(tp, plane)| tp.process(plane)),
            })?;
        Ok(ThreadedMeter { inner: Inner::Pipelined { loudness, true_peak, handoff: Handoff::new(threads) } })
    }

    /// Feeds one block: one plane per channel, all the same length. Pipelined, the blocks are
    /// copied once for the two workers, gathered into larger ones (the job shares its blocks
    /// with them without a copy: [`ThreadedMeter::process_shared`]).
    ///
    /// # Panics
    /// As [`LoudnessMeter::process`] (pipelined: on [`ThreadedMeter::report`]).
    pub fn process<P: AsRef<[f32]>>(&mut self, planes: &[P]) {
        match &mut self.inner {
            Inner::Single(meter) => meter.process(planes),
            Inner::Pipelined { handoff, .. } => {
                if let Some(block) = handoff.gather(planes) {
                    self.process_shared(&block);
                }
            }
        }
    }

    /// Feeds one block already shared with other consumers (the encoder): no copy.
    ///
    /// # Panics
    /// As [`ThreadedMeter::process`].
    pub(crate) fn process_shared(&mut self, block: &SharedBlock) {
        match &mut self.inner {
            Inner::Single(meter) => meter.process(block),
            Inner::Pipelined { loudness, true_peak, .. } => {
                loudness.send(block);
                true_peak.send(block);
            }
        }
    }

    /// Feeds one block as the pass hands it on: lent, or shared with other consumers.
    ///
    /// # Panics
    /// As [`ThreadedMeter::process`].
    pub(crate) fn process_ready(&mut self, ready: &Ready<'_>) {
        match ready {
            Ready::Borrowed(planes) => self.process(planes),
            Ready::Shared(block) => self.process_shared(block),
        }
    }

    /// The finished measurement and the gating blocks of its integrated loudness (see
    /// [`LoudnessMeter::gating`]). Waits for the helper threads; a panic there is re-raised here.
    pub fn finish(mut self) -> (LoudnessReport, GatingHistogram) {
        if let Inner::Pipelined { handoff, .. } = &mut self.inner
            && let Some(rest) = handoff.flush()
        {
            self.process_ready(&rest);
        }
        let meter = match self.inner {
            Inner::Single(meter) => *meter,
            Inner::Pipelined { loudness, true_peak, .. } => {
                let (peaks, steps) = true_peak.finish();
                let mut meter = loudness.finish();
                meter.adopt_true_peaks(peaks, steps);
                meter
            }
        };
        (meter.report(), meter.gating().clone())
    }

    /// The finished measurement (see [`ThreadedMeter::finish`]).
    pub fn report(self) -> LoudnessReport {
        self.finish().0
    }
}
