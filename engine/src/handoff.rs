//! How a pass hands its blocks on to the threads that consume them: [`Ready`], a block as a pass
//! hands it on, and [`Handoff`], which gathers the pass's blocks into larger shared ones.
//!
//! With [`Threads::Pipelined`] every block is copied once into a [`SharedBlock`] that the
//! helper threads (the meter's halves, the encoder, the copy kept for later passes) all read.
//! Two costs come with that copy when it is made block by block: each fresh allocation is new
//! memory the kernel must fault in and zero (glibc hands large freed blocks back to it), and
//! each block sent wakes every consumer, which on a virtual machine is a system call and an
//! interrupt to another core. So [`Handoff`] gathers [`HANDOFF_FRAMES`] frames per shared block
//! (a quarter of the wake-ups) and reuses the allocation of a block once every consumer has
//! dropped it (no page faults after the first few). The consumers see the same samples in the
//! same order; only where the stream is cut changes, which none of them depends on.

use std::sync::Arc;

use crate::block_worker::SharedBlock;
use crate::decode::BLOCK_FRAMES;
use crate::threads::Threads;

/// Frames gathered per shared block (at 44.1 kHz, 0.74 s of audio).
pub(crate) const HANDOFF_FRAMES: usize = 4 * BLOCK_FRAMES;

/// Shared blocks kept for reuse at most (more are in flight only if a consumer holds on to
/// blocks, and then they are simply dropped when done).
const MAX_POOL: usize = 8;

/// A block as a pass hands it on: lent on one thread ([`Threads::Single`]: nothing else holds
/// it), or copied once into a [`SharedBlock`] every helper thread takes a reference to.
#[derive(Debug)]
pub(crate) enum Ready<'a> {
    /// The producer's own planes.
    Borrowed(&'a [Vec<f32>]),
    /// One copy shared by every consumer.
    Shared(SharedBlock),
}

impl Ready<'_> {
    /// The planes.
    pub(crate) fn planes(&self) -> &[Vec<f32>] {
        match self {
            Ready::Borrowed(planes) => planes,
            Ready::Shared(block) => block,
        }
    }

    /// A reference to the shared block (a copy only if it was lent).
    pub(crate) fn shared(&self) -> SharedBlock {
        match self {
            Ready::Borrowed(planes) => Arc::new(planes.to_vec()),
            Ready::Shared(block) => Arc::clone(block),
        }
    }
}

/// Turns the blocks of one pass into what its consumers take: the blocks themselves
/// ([`Threads::Single`]), or shared blocks of at least [`HANDOFF_FRAMES`] frames (but the last),
/// gathered in reused allocations ([`Threads::Pipelined`]).
#[derive(Debug)]
pub(crate) struct Handoff {
    threads: Threads,
    /// The block being gathered; only this handoff holds it.
    filling: Option<SharedBlock>,
    /// Blocks handed out; one whose consumers have all dropped it is filled again.
    handed_out: Vec<SharedBlock>,
}

impl Handoff {
    /// A handoff for a pass that runs with `threads`.
    pub(crate) fn new(threads: Threads) -> Self {
        Handoff { threads, filling: None, handed_out: Vec::new() }
    }

    /// Takes the next block of the pass (one plane per channel, all the same length); returns
    /// what is ready to hand on, if anything (never an empty block).
    pub(crate) fn offer<'a>(&mut self, planes: &'a [Vec<f32>]) -> Option<Ready<'a>> {
        match self.threads {
            Threads::Single if planes.first().is_none_or(Vec::is_empty) => None,
            Threads::Single => Some(Ready::Borrowed(planes)),
            Threads::Pipelined => self.gather(planes).map(Ready::Shared),
        }
    }

    /// What is still gathered, at the end of the pass.
    pub(crate) fn flush(&mut self) -> Option<Ready<'static>> {
        self.take_filled(0).map(Ready::Shared)
    }

    /// Copies `planes` into the block being gathered; returns it once it holds
    /// [`HANDOFF_FRAMES`] frames.
    pub(crate) fn gather<P: AsRef<[f32]>>(&mut self, planes: &[P]) -> Option<SharedBlock> {
        if planes.first().is_none_or(|p| p.as_ref().is_empty()) {
            return None;
        }
        let block = match &mut self.filling {
            Some(block) => block,
            None => self.filling.insert(Self::reuse(&mut self.handed_out, planes.len())),
        };
        let Some(gathered) = Arc::get_mut(block) else {
            unreachable!("the block being gathered is held by the handoff alone")
        };
        for (into, plane) in gathered.iter_mut().zip(planes) {
            // Exactly what is needed when a block runs over (no doubling of a large buffer).
            into.reserve_exact(plane.as_ref().len());
            into.extend_from_slice(plane.as_ref());
        }
        self.take_filled(HANDOFF_FRAMES)
    }

    /// The block being gathered, if it holds at least `frames` frames (and any at all).
    fn take_filled(&mut self, frames: usize) -> Option<SharedBlock> {
        let held = self.filling.as_ref().and_then(|b| b.first()).map_or(0, Vec::len);
        if held == 0 || held < frames {
            return None;
        }
        let block = self.filling.take()?;
        if self.handed_out.len() < MAX_POOL {
            self.handed_out.push(Arc::clone(&block));
        }
        Some(block)
    }

    /// An empty block of `channels` planes: one handed out before that no consumer holds any
    /// more, emptied, or a new one.
    fn reuse(handed_out: &mut Vec<SharedBlock>, channels: usize) -> SharedBlock {
        if let Some(i) = handed_out.iter().position(|b| Arc::strong_count(b) == 1) {
            let mut block = handed_out.swap_remove(i);
            if let Some(planes) = Arc::get_mut(&mut block) {
                planes.resize_with(channels, Vec::new);
                planes.iter_mut().for_each(Vec::clear);
                return block;
            }
        }
        Arc::new(vec![Vec::with_capacity(HANDOFF_FRAMES + BLOCK_FRAMES); channels])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(start: usize, frames: usize) -> Vec<Vec<f32>> {
        let ramp: Vec<f32> = (start..start + frames).map(|i| i as f32).collect();
        vec![ramp.clone(), ramp.iter().map(|v| -v).collect()]
    }

    #[test]
    fn pipelined_blocks_are_gathered_in_order_and_nothing_is_lost_at_the_end() {
        let mut handoff = Handoff::new(Threads::Pipelined);
        let mut seen: Vec<Vec<f32>> = vec![Vec::new(), Vec::new()];
        let mut sizes = Vec::new();
        let mut start = 0;
        for frames in [1000, 5000, 8192, 20_000, 3, 8192, 8192, 4096] {
            let b = block(start, frames);
            start += frames;
            if let Some(ready) = handoff.offer(&b) {
                sizes.push(ready.planes()[0].len());
                seen.iter_mut().zip(ready.planes()).for_each(|(s, p)| s.extend_from_slice(p));
            }
        }
        let last = handoff.flush().expect("the rest");
        sizes.push(last.planes()[0].len());
        seen.iter_mut().zip(last.planes()).for_each(|(s, p)| s.extend_from_slice(p));
        assert_eq!(seen, block(0, start));
        assert!(sizes[..sizes.len() - 1].iter().all(|&n| n >= HANDOFF_FRAMES), "{sizes:?}");
        assert!(handoff.flush().is_none());
    }

    #[test]
    fn a_block_no_consumer_holds_is_filled_again_and_one_still_held_is_not() {
        let mut handoff = Handoff::new(Threads::Pipelined);
        let first = handoff.gather(&block(0, HANDOFF_FRAMES)).expect("full");
        let held = Arc::as_ptr(&first);
        let second = handoff.gather(&block(1, HANDOFF_FRAMES)).expect("full");
        assert_ne!(Arc::as_ptr(&second), held, "the first block is still held");
        assert_eq!(first[0][0], 0.0, "a held block is never written");
        drop(first);
        let third = handoff.gather(&block(2, HANDOFF_FRAMES)).expect("full");
        assert_eq!(Arc::as_ptr(&third), held, "the dropped block is reused");
        assert_eq!(*third, block(2, HANDOFF_FRAMES));
    }

    #[test]
    fn single_threaded_blocks_are_lent_as_they_come() {
        let mut handoff = Handoff::new(Threads::Single);
        let b = block(0, 10);
        assert!(matches!(handoff.offer(&b), Some(Ready::Borrowed(p)) if p.as_ptr() == b.as_ptr()));
        assert!(handoff.flush().is_none());
        assert!(handoff.offer(&[Vec::new(), Vec::new()]).is_none());
    }
}
