//! Group commit: one fsync covers every line written before it began, and wakes
//! exactly the threads it covered.
//!
//! # The plain version, and what this layer buys
//!
//! Without it, every thread that waits for its journal line runs an fsync of its own
//! (`durability.rs`, `feira-server --group-commit off`). An fsync costs a few hundred
//! microseconds here, the time to write dozens of lines, and it covers every line
//! written before it began: so one fsync can serve every thread waiting at that moment,
//! and fifty clients writing at once share a few fsyncs instead of running fifty. What
//! that is worth in requests per second and p99 is measured, with group commit on and
//! off in the same run, by the ablation table of docs/BENCHMARKS.md ("What each speed
//! layer buys"); `STATS` shows it live (`journal_fsyncs` against `requests`).
//!
//! # How
//!
//! A *round* is: note `target` = the last line written, fsync, publish `synced =
//! target` (`SyncState::fsync`), and then tell only the waiters whose ticket is at most
//! `target`. Who runs it:
//! - a thread that finds no round running and nobody waiting runs it itself, so a lone
//!   client pays no hand-over between threads;
//! - otherwise the thread puts its ticket and thread handle in the queue and parks, and
//!   the *committer thread* runs rounds back to back for as long as the queue is not
//!   empty. Under load it never sleeps, so one fsync follows the last without waiting
//!   for a thread to be woken and scheduled.
//!
//! Each waiter is woken once, by the thread that knows its line is durable: no waiter
//! wakes to find its line not yet covered and sleeps again.
//!
//! A waiter need not be a sleeping thread. [`GroupCommit::when_durable`] queues a
//! piece of work instead (the server's, with `--reply-path committer`: send the reply),
//! which the round runs itself once the fsync covered it
//! (src/server/reply_handover.rs).
//!
//! # Why it stays correct
//!
//! - A waiter hears "durable" only from a round whose fsync *began* after its line was
//!   written: the round reads its target before the fsync, and tells only tickets up
//!   to that target. An fsync covers every write that returned before it began.
//! - No waiter is forgotten: a thread checks `synced` again under the queue's lock
//!   before it queues, and a round publishes `synced` before it takes that lock, so a
//!   waiter either sees the round's fsync or is seen by the round
//!   ([`GroupCommit::decide_or_queue`]).
//! - After a failed fsync every waiter is told "never" (`false`), at once: the journal
//!   is poisoned and no later round can help.
//!
//! The plain way and this one share their counters and their fsync
//! (src/storage/sync_state.rs). Group commit's tests (`group_commit/tests.rs`) run the
//! same rounds with it off, to show what it shares; the journal's tests and the crash
//! test run both ways (src/storage/layers.rs, `every_way`).

use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};

use parking_lot::{Condvar, Mutex};

use super::sync_state::{OnDurable, SyncState};

/// Group commit for one journal: the queue of waiters and the committer thread that
/// runs fsyncs for them.
pub(super) struct GroupCommit {
    /// What the waiting threads and the committer share; the committer holds the other
    /// reference, so it outlives neither.
    shared: Arc<Shared>,
    /// Joined on drop, after telling it to stop.
    committer: Option<JoinHandle<()>>,
}

/// What the waiting threads and the committer share.
struct Shared {
    /// What is written, what is synced, and the file (`sync_state.rs`).
    state: Arc<SyncState>,
    /// The threads waiting for their line to be durable. A `parking_lot` mutex: it is
    /// held only to push or drain a few entries, never across an fsync.
    queue: Mutex<Queue>,
    /// Wakes the committer: somebody waits and no round runs, or the journal is
    /// dropped.
    work: Condvar,
}

/// Who is told that a line is durable.
enum Waiter {
    /// A thread parked in [`GroupCommit::wait`]: it is unparked.
    Parked(Thread),
    /// Work queued by [`GroupCommit::when_durable`]: it is run.
    Then(OnDurable),
}

/// What the queue's lock protects: everything a round and a new waiter must agree on.
#[derive(Default)]
struct Queue {
    /// `true` while a round runs (in the committer or in a waiting thread).
    syncing: bool,
    /// (ticket, who to tell once the ticket is durable), in no particular order.
    waiters: Vec<(u64, Waiter)>,
    /// Set when the journal is dropped: the committer ends.
    stop: bool,
}

impl GroupCommit {
    /// Starts the committer thread for the journal whose counters are `state`.
    pub(super) fn start(state: Arc<SyncState>) -> std::io::Result<GroupCommit> {
        let shared = Arc::new(Shared {
            state,
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
        });
        // The committer gets its own reference to the queue; it sleeps on `work` until
        // somebody queues, so an idle journal costs one parked thread.
        let committer = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("journal-committer".into())
                .spawn(move || shared.run())?
        };
        Ok(GroupCommit {
            shared,
            committer: Some(committer),
        })
    }

    /// Returns once line `ticket` and every line before it is durable; `false` if
    /// the journal is poisoned (an fsync failed) and that may never happen.
    pub(super) fn wait(&self, ticket: u64) -> bool {
        let state = &*self.shared.state;
        // Decided already (durable, poisoned, or synced by this thread): done.
        if let Some(durable) = self.decide_or_queue(ticket, || Waiter::Parked(thread::current())) {
            return durable;
        }
        // Queued: the round that covers the ticket unparks this thread.
        loop {
            // `park` may return early (a stale unpark, or none at all): check again.
            thread::park();
            if state.is_durable(ticket) {
                return true;
            }
            if state.is_poisoned() {
                return false;
            }
        }
    }

    /// What `wait` and `when_durable` share: says at once whether line `ticket` is
    /// durable (`Some`) if that is known or if this thread can find out by running the
    /// fsync itself (nobody else needs one); otherwise queues `waiter` for the round
    /// that will cover the line, and returns `None`.
    fn decide_or_queue(&self, ticket: u64, waiter: impl FnOnce() -> Waiter) -> Option<bool> {
        let shared = &*self.shared;
        let state = &*shared.state;
        // The common case under load: an fsync that began after our write has already
        // covered it. No lock needed to see that.
        if state.is_durable(ticket) {
            return Some(true);
        }
        let mut queue = shared.queue.lock();
        // Checked again under the lock: a round publishes `synced` before it looks at
        // the queue, so either we see its fsync here or it sees us.
        if state.is_durable(ticket) {
            return Some(true);
        }
        // A failed fsync: no round will ever cover the line.
        if state.is_poisoned() {
            return Some(false);
        }
        if !queue.syncing && queue.waiters.is_empty() {
            // Nobody else needs an fsync: run the round here, no hand-over.
            queue.syncing = true;
            drop(queue);
            shared.round();
            return Some(state.is_durable(ticket));
        }
        // Somebody else syncs or waits: join the queue, so one fsync serves us all.
        queue.waiters.push((ticket, waiter()));
        // A round that runs now wakes the committer when it ends; otherwise wake it
        // here, since nobody else will.
        if !queue.syncing {
            shared.work.notify_one();
        }
        None
    }

    /// Runs `then` once line `ticket` and every line before it is durable (with
    /// `true`), or once that is known never to happen (with `false`, the journal is
    /// poisoned). It runs at once, on this thread, if the line is durable already or
    /// if this thread is the only one that needs an fsync (it runs that fsync here,
    /// as [`GroupCommit::wait`] would); otherwise on the thread that runs the fsync
    /// covering it, and this call returns straight away.
    pub(super) fn when_durable(&self, ticket: u64, then: OnDurable) {
        // The closure clones the `Arc` only if the work is queued: a reference count,
        // no allocation.
        if let Some(durable) = self.decide_or_queue(ticket, || Waiter::Then(Arc::clone(&then))) {
            then.durable(durable);
        }
    }
}

impl Drop for GroupCommit {
    /// Stops the committer and waits for it: the journal is dropped, so nobody can be
    /// waiting, and the thread must not outlive the file it syncs.
    fn drop(&mut self) {
        self.shared.queue.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(committer) = self.committer.take() {
            // A committer that panicked has nothing left to do; dropping goes on.
            let _ = committer.join();
        }
    }
}

impl Shared {
    /// The committer's loop: a round whenever somebody waits and no round runs.
    fn run(&self) {
        loop {
            {
                let mut queue = self.queue.lock();
                // Sleep while there is nothing to do, or while a waiting thread runs
                // the round itself (its end wakes us if anybody is left).
                while (queue.waiters.is_empty() || queue.syncing) && !queue.stop {
                    self.work.wait(&mut queue);
                }
                if queue.stop {
                    return; // the journal is dropped, so nobody can be waiting
                }
                // Claimed under the lock, so no waiting thread starts a round too.
                queue.syncing = true;
            }
            // The fsync runs with the queue's lock released: waiters keep queueing.
            self.round();
        }
    }

    /// One fsync that covers every line written so far, then the wake-ups. The
    /// caller has set `syncing`.
    fn round(&self) {
        // The fsync reads its target first, so `synced` covers only lines written
        // before it began.
        self.state.fsync();
        let synced = self.state.synced();
        let poisoned = self.state.is_poisoned();
        let done: Vec<(u64, Waiter)>;
        {
            let mut queue = self.queue.lock();
            queue.syncing = false;
            // Everybody covered leaves the queue (everybody, if the journal is
            // poisoned: they must hear that their line never will be durable).
            let (covered, waiting) = std::mem::take(&mut queue.waiters)
                .into_iter()
                .partition(|(ticket, _)| poisoned || *ticket <= synced);
            done = covered;
            queue.waiters = waiting;
            // Lines written during this fsync: the committer runs the next round
            // (a no-op if the committer is the one running this).
            if !queue.waiters.is_empty() {
                self.work.notify_one();
            }
        }
        // Outside the lock, so a woken thread does not block on it straight away,
        // and queued work never runs under it.
        for (ticket, waiter) in done {
            match waiter {
                // The thread checks `synced` itself when it wakes.
                Waiter::Parked(thread) => thread.unpark(),
                // `false` only when poisoned: the line was never covered.
                Waiter::Then(then) => then.durable(ticket <= synced),
            }
        }
    }
}

#[cfg(test)]
mod tests;
