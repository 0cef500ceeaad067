//! The apply pass (pass 2): decode → mix → resample → gain → (limiter) → meter → encode into
//! the temporary output, or nowhere for a dry run that only measures.
//!
//! Resampling comes before the gain and the limiter (not after, as a literal reading of
//! "gain → resample" would have it) so that the limiter sees the final sample rate and no
//! resampling filter can add inter-sample overs after the peak control.
//!
//! With [`Threads::Pipelined`] this thread only decodes and applies the stages: each block out
//! of the chain is copied once and shared by the encoder (quantisation, dither, compression,
//! file writes) and the output meter's two halves (loudness, true peak), each on its own thread
//! behind a short bounded queue. Measuring the output then costs almost no wall time beside the
//! encoder, and memory stays bounded by the queues. With [`Threads::Single`] everything runs
//! inline.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::mpsc;

use crate::block_worker::SharedBlock;
use crate::channels::ChannelRole;
use crate::decode::StreamInfo;
use crate::dsp::{Gain, LimiterOptions, Stage, StageChain, TruePeakLimiter};
use crate::encode::{Encoder, SampleFormat};
use crate::error::{Error, Result};
use crate::handoff::{Handoff, Ready};
use crate::loudness::{ThreadedMeter, channel_weights};
use crate::threads::Threads;

use super::plan::Plan;
use super::replay::Source;
use super::{Job, OutputMeasurement, PeakMode, Progress};

/// Blocks queued between the apply loop and the encoder thread (a few hundred ms of audio).
const ENCODER_QUEUE_BLOCKS: usize = 3;

/// What one apply pass produced.
#[derive(Debug)]
pub(super) struct Applied {
    /// The output, measured on the samples handed to the encoder.
    pub(super) measurement: OutputMeasurement,
    /// Largest limiter gain reduction, dB (0 without a limiter).
    pub(super) limiter_reduction: f64,
}

/// Runs one apply pass at `gain_db` with the limiter (in `limit` mode) aiming at
/// `ceiling_dbtp`, encoding into `target` (`None`: a dry run).
pub(super) fn apply(job: &mut Job<'_>, target: Option<&Path>, gain_db: f64, ceiling_dbtp: f64) -> Result<Applied> {
    let source = match &job.replay {
        Some(replay) => {
            job.input.check_unchanged()?;
            job.passes.count_replay();
            Source::Replay(replay.reader()?)
        }
        None => {
            job.passes.count();
            Source::Decoder(Box::new(job.input.decoder(&job.spec.limits, job.threads)?))
        }
    };
    let job = &*job;
    let (plan, spec) = (&job.plan, job.spec);
    let layout = plan.out_layout();
    let mut conversion = plan.conversion_stages()?;
    let mut gain = Gain::from_db(gain_db, plan.out_channels);
    let mut limiter = match spec.mode {
        PeakMode::Limit if gain_db != 0.0 || ceiling_dbtp < spec.true_peak_dbtp => Some(TruePeakLimiter::new(
            plan.out_rate,
            plan.out_channels,
            &LimiterOptions { ceiling_dbtp, ..LimiterOptions::default() },
        )?),
        _ => None,
    };
    let mut stages: Vec<&mut dyn Stage> = conversion.iter_mut().map(|s| &mut **s as &mut dyn Stage).collect();
    stages.push(&mut gain);
    if let Some(l) = &mut limiter {
        stages.push(l);
    }
    let mut pass = Pass {
        job,
        source,
        chain: StageChain::new(stages),
        // The curve describes the output as written: dry runs do not record one.
        meter: ThreadedMeter::new(
            plan.out_rate,
            &channel_weights(&layout, spec.mono_mode),
            job.threads,
            spec.curve && target.is_some(),
        )?,
    };
    let frames = match target {
        None => pass.run(|_| Ok(true)).map(|()| 0)?,
        Some(path) => pass.encode_into(path, &layout)?,
    };
    let loudness = pass.meter.report();
    let info = StreamInfo {
        codec: plan.encode.format.extension().to_owned(),
        container: plan.encode.format.extension().to_owned(),
        sample_rate: plan.out_rate,
        layout,
        declared_frames: Some(frames),
        bits_per_sample: (!plan.encode.format.is_lossy()).then(|| plan.encode.sample_format.bits()),
        float: plan.encode.sample_format == SampleFormat::F32 && !plan.encode.format.is_lossy(),
    };
    Ok(Applied {
        measurement: OutputMeasurement { info, frames, loudness, measured_after_decoding: false },
        limiter_reduction: limiter.map_or(0.0, |l| l.max_reduction_db()),
    })
}

/// One pass in progress: the source, the stage chain and the output meter.
struct Pass<'j, 's> {
    job: &'j Job<'j>,
    source: Source<'j>,
    chain: StageChain<'s>,
    meter: ThreadedMeter,
}

impl Pass<'_, '_> {
    /// Encodes the pass into a new file at `path`; returns the frames written.
    fn encode_into(&mut self, path: &Path, layout: &[ChannelRole]) -> Result<u64> {
        let plan = &self.job.plan;
        match self.job.threads {
            Threads::Single => {
                let mut encoder = open_encoder(path, plan, layout, Threads::Single)?;
                self.run(|ready| encoder.write(ready.planes()).map(|()| true).map_err(|e| writing(path, e)))?;
                close_encoder(path, encoder)
            }
            Threads::Pipelined => {
                let (to_encoder, from_pass) = mpsc::sync_channel::<SharedBlock>(ENCODER_QUEUE_BLOCKS);
                let cancel = self.job.cancel;
                std::thread::scope(|scope| {
                    let writer = scope.spawn(move || -> Result<u64> {
                        let mut encoder = open_encoder(path, plan, layout, Threads::Pipelined)?;
                        for block in from_pass {
                            encoder.write(&block).map_err(|e| writing(path, e))?;
                        }
                        // A cancelled pass closes the queue early: the file is thrown away, so
                        // it is not finished (nor synced).
                        cancel.check()?;
                        close_encoder(path, encoder)
                    });
                    // A closed queue means the encoder stopped on an error: its join says which.
                    // The scope joins the writer on every path, so it never outlives the pass.
                    let fed = self.run(|ready| Ok(to_encoder.send(ready.shared()).is_ok()));
                    drop(to_encoder);
                    let written = writer.join();
                    fed?;
                    written.map_err(|_| Error::Encode("the encoder thread panicked".to_owned()))?
                })
            }
        }
    }

    /// Runs every block through the chain and the meter and hands it to `deliver`, which
    /// returns `false` to stop early. Pipelined, the blocks out of the chain are copied once,
    /// gathered into larger ones ([`Handoff`]), and shared by the meter's threads and the
    /// encoder.
    fn run(&mut self, mut deliver: impl FnMut(Ready<'_>) -> Result<bool>) -> Result<()> {
        let (job, decoder, chain, meter) = (self.job, &mut self.source, &mut self.chain, &mut self.meter);
        let progress = |frames_done| {
            (job.progress)(Progress {
                pass: 2,
                frames_done,
                frames_total: job.frames_total,
                sample_rate: job.plan.in_rate,
            });
        };
        let mut blocks = 0u32;
        let mut finished = false;
        let mut handoff = Handoff::new(job.threads);
        let mut hand_on = |ready: Ready<'_>| {
            meter.process_ready(&ready);
            deliver(ready)
        };
        while !finished {
            job.cancel.check()?;
            let processed = match decoder.next_block()? {
                Some(block) => chain.process(block)?,
                None => {
                    finished = true;
                    chain.finish()?
                }
            };
            if let Some(ready) = handoff.offer(processed)
                && !hand_on(ready)?
            {
                break;
            }
            if finished
                && let Some(rest) = handoff.flush()
                && !hand_on(rest)?
            {
                break;
            }
            blocks += 1;
            if blocks.is_multiple_of(64) {
                progress(decoder.frames());
            }
        }
        progress(decoder.frames());
        Ok(())
    }
}

/// An I/O error of the encoder's file is a write error of `path`.
fn writing(path: &Path, e: Error) -> Error {
    match e {
        Error::Io(source) => Error::Write { path: path.to_path_buf(), source },
        other => other,
    }
}

/// An encoder writing to a new file at `path`.
fn open_encoder(
    path: &Path,
    plan: &Plan,
    layout: &[ChannelRole],
    threads: Threads,
) -> Result<Encoder<BufWriter<File>>> {
    let file = File::create(path).map_err(|e| writing(path, e.into()))?;
    Encoder::with_threads(&plan.encode, plan.out_rate, layout, BufWriter::with_capacity(1 << 20, file), threads)
        .map_err(|e| writing(path, e))
}

/// Finishes an encoder's file, synced to disk; returns the frames written.
fn close_encoder(path: &Path, encoder: Encoder<BufWriter<File>>) -> Result<u64> {
    let frames = encoder.frames();
    let sink = encoder.finish().map_err(|e| writing(path, e))?;
    let file = sink.into_inner().map_err(|e| writing(path, Error::Io(e.into_error())))?;
    file.sync_all().map_err(|e| writing(path, e.into()))?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_of_the_output_says_write_error_not_read_error() {
        let e = writing(Path::new("/out/a.flac"), Error::Io(std::io::Error::other("No space left on device")));
        assert_eq!(e.to_string(), "write error: /out/a.flac: No space left on device");
        assert!(matches!(writing(Path::new("x"), Error::Cancelled), Error::Cancelled));
    }
}
