//! A fixed sequence of stages with the buffers between them: one block in, the last stage's
//! output out.

use super::Stage;
use crate::error::Result;

/// Stages run in order, each feeding the next; the buffers are allocated once and reused. The
/// chain borrows its stages, so their owner can still ask them for their statistics (e.g.
/// [`crate::dsp::TruePeakLimiter::max_reduction_db`]) once the stream is done.
///
/// Contract as [`Stage`]: [`StageChain::process`] takes one block and returns the frames the
/// last stage has ready; [`StageChain::finish`], called once after the last block, flushes each
/// stage in turn (what stage `i` flushes goes through stages `i + 1 ..`) and returns the rest.
pub struct StageChain<'s> {
    stages: Vec<&'s mut dyn Stage>,
    /// `buffers[i]` holds the output of `stages[i]` for the current call.
    buffers: Vec<Vec<Vec<f32>>>,
}

impl std::fmt::Debug for StageChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageChain").field("stages", &self.stages.len()).finish()
    }
}

impl<'s> StageChain<'s> {
    /// A chain of `stages`, in pipeline order (each stage's input channels are the previous
    /// stage's output channels).
    pub fn new(stages: Vec<&'s mut dyn Stage>) -> Self {
        let buffers = stages.iter().map(|s| vec![Vec::new(); s.output_channels()]).collect();
        StageChain { stages, buffers }
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether the chain has no stages (it then passes blocks through).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs one block through every stage and returns the output that is ready.
    ///
    /// # Errors
    /// The first error of a stage.
    pub fn process<'a>(&'a mut self, block: &'a [Vec<f32>]) -> Result<&'a [Vec<f32>]> {
        for i in 0..self.stages.len() {
            let (done, rest) = self.buffers.split_at_mut(i);
            let input = done.last().map_or(block, Vec::as_slice);
            clear(&mut rest[0]);
            self.stages[i].process(input, &mut rest[0])?;
        }
        Ok(self.buffers.last().map_or(block, Vec::as_slice))
    }

    /// Flushes every stage in order and returns the remaining output (no planes for an empty
    /// chain). The stages are ready for a new stream afterwards.
    ///
    /// # Errors
    /// The first error of a stage.
    pub fn finish(&mut self) -> Result<&[Vec<f32>]> {
        for i in 0..self.stages.len() {
            let (done, rest) = self.buffers.split_at_mut(i);
            clear(&mut rest[0]);
            if let Some(input) = done.last() {
                self.stages[i].process(input, &mut rest[0])?;
            }
            self.stages[i].finish(&mut rest[0])?;
        }
        Ok(self.buffers.last().map_or(&[], Vec::as_slice))
    }
}

fn clear(planes: &mut [Vec<f32>]) {
    for p in planes {
        p.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::{Gain, LimiterOptions, TruePeakLimiter};

    #[test]
    fn a_chain_equals_its_stages_run_by_hand() {
        let x: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.05).sin() * 0.99).collect();
        let options = LimiterOptions { ceiling_dbtp: -6.0, ..LimiterOptions::default() };
        let (mut gain, mut limiter) =
            (Gain::from_db(3.0, 1), TruePeakLimiter::new(48_000, 1, &options).expect("limiter"));
        let mut chain = StageChain::new(vec![&mut gain, &mut limiter]);
        let mut chained = Vec::new();
        for block in x.chunks(700) {
            chained.extend_from_slice(&chain.process(&[block.to_vec()]).expect("block")[0]);
        }
        chained.extend_from_slice(&chain.finish().expect("finish")[0]);
        drop(chain);
        assert!(limiter.max_reduction_db() > 0.0);

        let mut limiter = TruePeakLimiter::new(48_000, 1, &options).expect("limiter");
        let mut gained = vec![Vec::new()];
        Gain::from_db(3.0, 1).process(std::slice::from_ref(&x), &mut gained).expect("gain");
        let mut by_hand = vec![Vec::new()];
        limiter.process(&gained, &mut by_hand).expect("limit");
        limiter.finish(&mut by_hand).expect("flush");
        assert_eq!(chained, by_hand[0]);
        assert_eq!(chained.len(), x.len());
    }

    #[test]
    fn an_empty_chain_passes_blocks_through() {
        let mut chain = StageChain::new(Vec::new());
        let block = vec![vec![1.0, 2.0]];
        assert_eq!(chain.process(&block).expect("block"), block.as_slice());
        assert!(chain.finish().expect("finish").is_empty());
    }
}
