//! A helper thread that consumes the blocks of one stream, in order, into a state it owns: the
//! pipelined meter's loudness and true-peak halves each run on one ([`crate::loudness`]).
//!
//! Blocks are shared, not copied: the producer wraps a block once in a [`SharedBlock`] and hands
//! the same allocation to every consumer (the meter's workers and the encoder), which drop their
//! reference when done ([`crate::handoff`] makes those blocks). Each worker's queue is short and
//! bounded, so memory stays constant and a slow consumer holds the producer back instead of
//! piling up audio.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// One block of planar audio shared between threads (one `Vec` per channel).
pub type SharedBlock = Arc<Vec<Vec<f32>>>;

/// Blocks queued for one worker (with [`crate::handoff::HANDOFF_FRAMES`]-sized blocks, about
/// 3 s of audio at 44.1 kHz).
const QUEUE_BLOCKS: usize = 3;

/// A thread feeding every block it is sent to `work(&mut state, planes)`, in order; the state
/// comes back from [`BlockWorker::finish`].
#[derive(Debug)]
pub(crate) struct BlockWorker<S> {
    queue: Option<SyncSender<SharedBlock>>,
    thread: Option<JoinHandle<S>>,
}

impl<S: Send + 'static> BlockWorker<S> {
    /// Starts a thread called `name` that owns `state`.
    ///
    /// # Errors
    /// The operating system's, if the thread cannot be started.
    pub(crate) fn spawn<F>(name: &str, state: S, mut work: F) -> std::io::Result<Self>
    where
        F: FnMut(&mut S, &[Vec<f32>]) + Send + 'static,
    {
        let (queue, blocks) = sync_channel::<SharedBlock>(QUEUE_BLOCKS);
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let mut state = state;
            for block in blocks {
                work(&mut state, &block);
            }
            state
        })?;
        Ok(BlockWorker { queue: Some(queue), thread: Some(thread) })
    }

    /// Queues `block` (waits while the queue is full). A worker that panicked takes no more
    /// blocks; [`BlockWorker::finish`] re-raises its panic.
    pub(crate) fn send(&self, block: &SharedBlock) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(Arc::clone(block));
        }
    }

    /// Waits for the worker to consume every block sent and returns its state; a panic on the
    /// worker is re-raised here.
    pub(crate) fn finish(mut self) -> S {
        self.queue = None;
        let Some(thread) = self.thread.take() else {
            unreachable!("a worker's thread is taken only by finish, which consumes it")
        };
        match thread.join() {
            Ok(state) => state,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<S> Drop for BlockWorker<S> {
    /// A worker dropped before [`BlockWorker::finish`] (a pass that failed or was cancelled)
    /// closes its queue and joins its thread, so no thread outlives the pass.
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_sees_every_block_in_order_and_returns_its_state() {
        let worker = BlockWorker::spawn("test", Vec::new(), |seen: &mut Vec<f32>, planes| {
            seen.extend_from_slice(&planes[0]);
        })
        .expect("thread");
        for i in 0..100 {
            worker.send(&Arc::new(vec![vec![i as f32, i as f32 + 0.5]]));
        }
        let seen = worker.finish();
        let want: Vec<f32> = (0..100).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_panic_on_the_worker_comes_back_on_finish_and_a_dropped_worker_is_joined() {
        let worker = BlockWorker::spawn("test", (), |_, _| panic!("worker failed")).expect("thread");
        worker.send(&Arc::new(vec![vec![0.0]]));
        worker.send(&Arc::new(vec![vec![0.0]]));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.finish()));
        assert!(caught.is_err());

        let dropped = BlockWorker::spawn("test", 0u32, |n, _| *n += 1).expect("thread");
        dropped.send(&Arc::new(vec![vec![0.0]]));
        drop(dropped);
    }
}
