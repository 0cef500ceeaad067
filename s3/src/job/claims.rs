//! Outputs claimed by the jobs in flight, so that two inputs whose outputs would have the same
//! name (`x.wav` and `x.mp3` → `x.flac`) are never processed at once.
//!
//! Each output has a queue: jobs take it in turn, in the order they asked (or reserved a place,
//! see [`Claims::reserve`]), so the one job that decides what to do about the output (write it,
//! skip it, or refuse because it belongs to another input) sees it settled by the one before.
//! A batch reserves places in listing order, which makes "the first listed input owns the
//! output" hold however its jobs are scheduled.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The outputs being written by the jobs of one front end, and the queue of sources for each.
#[derive(Debug, Default)]
pub struct Claims {
    queues: Mutex<HashMap<String, VecDeque<Entry>>>,
    released: Notify,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    source: String,
    /// Whether its job holds the output (it is then the queue's front).
    active: bool,
}

/// Why an output could not be claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// The same source is being processed by another job (a message delivered twice).
    BySame,
}

/// A place in an output's queue, or the output itself once claimed; given up when dropped.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<Claims>,
    dest: String,
    id: u64,
}

impl Claims {
    /// Reserves a place for `source` in the queue of `dest`, without waiting. A later
    /// [`claim`](Self::claim) of the same pair takes this place rather than the end of the queue.
    pub fn reserve(self: &Arc<Self>, dest: &str, source: &str) -> Claim {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut queues = self.lock();
        let entry = Entry { id, source: source.to_owned(), active: false };
        queues.entry(dest.to_owned()).or_default().push_back(entry);
        Claim { claims: Arc::clone(self), dest: dest.to_owned(), id }
    }

    /// Claims `dest` for `source`, waiting for the jobs ahead of it in the queue to end.
    ///
    /// # Errors
    /// [`Held::BySame`] when a job of the same source holds the output now.
    pub async fn claim(self: &Arc<Self>, dest: &str, source: &str) -> Result<Claim, Held> {
        // Our place, given up if this future is dropped while it waits.
        let place = {
            let mut queues = self.lock();
            let queue = queues.entry(dest.to_owned()).or_default();
            if queue.iter().any(|e| e.active && e.source == source) {
                return Err(Held::BySame);
            }
            let id = match queue.iter().find(|e| !e.active && e.source == source) {
                Some(reserved) => reserved.id,
                None => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    queue.push_back(Entry { id, source: source.to_owned(), active: false });
                    id
                }
            };
            Claim { claims: Arc::clone(self), dest: dest.to_owned(), id }
        };
        let id = place.id;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut queues = self.lock();
                let queue = queues.entry(dest.to_owned()).or_default();
                if queue.front().is_some_and(|front| front.id == id) {
                    if let Some(front) = queue.front_mut() {
                        front.active = true;
                    }
                    return Ok(place);
                }
                if !queue.iter().any(|e| e.id == id) {
                    // Our place was given up (its reservation dropped): queue again.
                    queue.push_back(Entry { id, source: source.to_owned(), active: false });
                }
            }
            released.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Entry>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut queues = self.claims.lock();
        if let Some(queue) = queues.get_mut(&self.dest) {
            queue.retain(|e| e.id != self.id);
            if queue.is_empty() {
                queues.remove(&self.dest);
            }
        }
        drop(queues);
        self.claims.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn not_yet<F: std::future::Future>(f: &mut std::pin::Pin<&mut F>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), f.as_mut()).await.is_err()
    }

    #[tokio::test]
    async fn an_output_is_taken_in_turn_and_a_duplicate_is_told() {
        let claims = Arc::new(Claims::default());
        let first = claims.claim("out/x.flac", "in/x.wav").await.unwrap();
        assert_eq!(claims.claim("out/x.flac", "in/x.wav").await.unwrap_err(), Held::BySame);
        assert!(claims.claim("out/y.flac", "in/y.mp3").await.is_ok(), "other outputs are free");
        let second = claims.claim("out/x.flac", "in/x.mp3");
        tokio::pin!(second);
        assert!(not_yet(&mut second).await, "waits while the first holds it");
        drop(first);
        assert!(second.await.is_ok());
        assert!(claims.lock().is_empty(), "nothing left behind");
        // A claim abandoned while it waits leaves no place that would block the queue.
        let held = claims.claim("o", "a").await.unwrap();
        let mut abandoned = Box::pin(claims.claim("o", "b"));
        assert!(not_yet(&mut abandoned.as_mut()).await);
        drop((abandoned, held));
        assert!(claims.lock().is_empty(), "the abandoned place is gone");
        let next = claims.claim("o", "c");
        tokio::pin!(next);
        assert!(!not_yet(&mut next).await, "the next claim is not blocked");
    }

    #[tokio::test]
    async fn reservations_decide_the_order_whoever_asks_first() {
        let claims = Arc::new(Claims::default());
        let (a, b) = (claims.reserve("o", "a"), claims.reserve("o", "b"));
        let late = claims.claim("o", "b");
        tokio::pin!(late);
        assert!(not_yet(&mut late).await, "b waits for a, reserved before it");
        let held = claims.claim("o", "a").await.unwrap();
        drop((held, a));
        let got = late.await.unwrap();
        drop((got, b));
        // A reservation given up without claiming lets the next one through.
        let (c, d) = (claims.reserve("o", "c"), claims.reserve("o", "d"));
        drop(c);
        assert!(claims.claim("o", "d").await.is_ok());
        drop(d);
    }
}
