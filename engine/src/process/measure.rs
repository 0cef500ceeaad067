//! Phase `measure` (pass 1): decode → meter the input as it is; when the channel count or rate
//! changes, also mix → resample → meter, so the gain is computed on the signal that will be
//! encoded.

use crate::analyze::Analysis;
use crate::decode::Decoder;
use crate::dsp::{Stage, StageChain};
use crate::error::Result;
use crate::handoff::{Handoff, Ready};
use crate::loudness::histogram::GatingHistogram;
use crate::loudness::{LoudnessReport, ThreadedMeter, channel_weights};
use crate::output::directory_of;

use super::replay::Keeper;
use super::{Job, Progress};

/// What the measure phase found.
#[derive(Debug)]
pub(super) struct Measured {
    /// The input, as it is.
    pub(super) input: Analysis,
    /// Loudness of the signal as it will be encoded, before gain.
    pub(super) pre: LoudnessReport,
    /// The integrated loudness's gating blocks of that signal (album mode merges them).
    pub(super) pre_gating: GatingHistogram,
}

/// Runs pass 1 on the decoder the plan was made from; with `keep`, pass 1 also keeps a copy
/// of the decoded audio for the later passes when it is worth it (`replay.rs`).
pub(super) fn measure(job: &mut Job<'_>, mut decoder: Decoder, keep: bool) -> Result<Measured> {
    job.passes.count();
    let dir = directory_of(job.temp);
    let mut keeper = keep.then(|| Keeper::start(decoder.info(), dir, job.threads)).flatten();
    let (plan, mono_mode) = (&job.plan, job.spec.mono_mode);
    let info = decoder.info().clone();
    let total = info.declared_frames;
    let progress = |frames_done, frames_total| {
        (job.progress)(Progress { pass: 1, frames_done, frames_total, sample_rate: plan.in_rate });
    };
    let weights_in = channel_weights(&info.layout, mono_mode);
    let mut meter_in = ThreadedMeter::new(info.sample_rate, &weights_in, job.threads, job.spec.curve)?;
    let mut conversion = plan.conversion_stages()?;
    let mut chain = StageChain::new(conversion.iter_mut().map(|s| &mut **s as &mut dyn Stage).collect());
    let mut meter_pre = match chain.is_empty() {
        false => Some(ThreadedMeter::new(
            plan.out_rate,
            &channel_weights(&plan.out_layout(), mono_mode),
            job.threads,
            false,
        )?),
        true => None,
    };
    let mut blocks = 0u32;
    // Pipelined, one copy of the blocks goes to every helper thread.
    let mut handoff = Handoff::new(job.threads);
    let mut hand_on = |ready: Ready<'_>| {
        meter_in.process_ready(&ready);
        if let Some(k) = &mut keeper {
            k.keep(&ready);
        }
    };
    job.cancel.check()?;
    while let Some(block) = decoder.next_block()? {
        if let Some(ready) = handoff.offer(block) {
            hand_on(ready);
        }
        if let Some(m) = &mut meter_pre {
            m.process(chain.process(block)?);
        }
        blocks += 1;
        if blocks.is_multiple_of(64) {
            progress(decoder.frames(), total);
        }
        job.cancel.check()?;
    }
    if let Some(ready) = handoff.flush() {
        hand_on(ready);
    }
    if let Some(m) = &mut meter_pre {
        m.process(chain.finish()?);
    }
    progress(decoder.frames(), Some(decoder.frames()));
    job.replay = keeper.and_then(|k| k.finish(decoder.frames()));
    let (loudness, gating_in) = meter_in.finish();
    let input = Analysis {
        mono_mode: (info.channels() == 1).then_some(mono_mode),
        frames: decoder.frames(),
        loudness,
        warnings: decoder.warnings(),
        info,
    };
    let (pre, pre_gating) = match meter_pre {
        Some(m) => m.finish(),
        None => (LoudnessReport { curve: None, ..input.loudness.clone() }, gating_in),
    };
    Ok(Measured { input, pre, pre_gating })
}
