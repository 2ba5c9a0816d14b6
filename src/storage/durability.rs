//! Waiting until a journal line is on disk: the plain way is one fsync per waiter.
//!
//! A connection thread that has written its journal line must not answer before the
//! line is durable. The plain way to be sure, which this file implements: the thread
//! runs `fsync` (`fdatasync`) itself and waits for it. An fsync covers every line
//! written before it began, so when it returns the thread knows its line is on disk.
//!
//! What that costs: an fsync takes a few hundred microseconds here, and every thread
//! runs its own. Fifty clients writing at once run fifty fsyncs side by side, each of
//! them waiting for the disk. Group commit (`group_commit.rs`) is the speed layer that
//! makes one fsync serve every thread that waits at that moment; it is on by default,
//! and `feira-server --group-commit off` runs the plain way instead. (docs/BENCHMARKS.md,
//! "What each speed layer buys", measures both in the same run.)
//!
//! Both ways share [`SyncState`] (src/storage/sync_state.rs): the sequence number of the
//! last line written, that of the last line known to be durable, whether an fsync
//! failed, and the file to fsync. [`Durability`] is what the journal holds: that state,
//! and group commit when it is on.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::group_commit::GroupCommit;
use super::sync_state::{OnDurable, SyncState};

/// The durability side of the journal: what is written, what is synced, and who runs
/// the fsync that moves the second up to the first.
pub(super) struct Durability {
    /// The counters and the file, shared with group commit's committer thread when it
    /// runs (hence the `Arc`).
    state: Arc<SyncState>,
    /// Group commit, when it is on: waiters share fsyncs, and a committer thread runs
    /// them back to back under load. `None`: each waiter runs its own (the plain way).
    /// (Seen by group commit's tests, which look inside it.)
    pub(super) group: Option<GroupCommit>,
}

impl Durability {
    /// Durability for this journal file: with group commit (and its committer thread)
    /// if `group_commit`, else the plain way.
    pub(super) fn start(file: File, group_commit: bool) -> io::Result<Durability> {
        let state = Arc::new(SyncState::new(file));
        // The speed layer starts a thread; the plain way needs none.
        let group = if group_commit {
            Some(GroupCommit::start(Arc::clone(&state))?)
        } else {
            None
        };
        Ok(Durability { state, group })
    }

    /// Records that one more line was written and returns its sequence number.
    /// The journal calls it under its writer lock, so numbers follow the file's order.
    pub(super) fn wrote_line(&self) -> u64 {
        // Counted after the line's write returned: an fsync that reads this count as
        // its target begins after the write, so it covers the line.
        self.state.written.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The sequence number of the last line written.
    pub(super) fn written(&self) -> u64 {
        self.state.written()
    }

    /// Is line `ticket` (and every line before it) durable already?
    pub(super) fn is_durable(&self, ticket: u64) -> bool {
        self.state.is_durable(ticket)
    }

    /// Returns once line `ticket` and every line before it is durable; `false` if the
    /// journal is poisoned (an fsync failed) and that may never happen.
    pub(super) fn wait(&self, ticket: u64) -> bool {
        match &self.group {
            // The speed layer: share an fsync with every thread waiting now.
            Some(group) => group.wait(ticket),
            // The plain way: an fsync of our own, unless the line is durable already.
            None => self.state.sync_for(ticket),
        }
    }

    /// Runs `then` once line `ticket` and every line before it is durable (with
    /// `true`), or once that is known never to happen (with `false`). The plain way
    /// runs it here, after this thread's own fsync; group commit may run it later, on
    /// the thread whose fsync covers the line, and return at once
    /// ([`GroupCommit::when_durable`]).
    pub(super) fn when_durable(&self, ticket: u64, then: OnDurable) {
        match &self.group {
            // The speed layer: run it now, or queue it for the covering round.
            Some(group) => group.when_durable(ticket, then),
            // The plain way: this thread's own fsync, then the work, here.
            None => then.durable(self.state.sync_for(ticket)),
        }
    }

    /// Declares every line written so far durable without an fsync (a checkpoint has
    /// just fsynced the file it is setting aside). With group commit, waiters are
    /// released by the committer's next round.
    pub(super) fn mark_all_synced(&self) {
        let written = self.written();
        // `fetch_max`: a concurrent fsync may have published a later line already.
        self.state.synced.fetch_max(written, Ordering::AcqRel);
    }

    /// From now on, fsync this file. The caller has made every line written so far
    /// durable (and called [`Durability::mark_all_synced`]) and holds the journal's
    /// writer lock, so no line is written meanwhile. An fsync reads its target before
    /// the file: one that read a target including lines of the new file fsyncs the new
    /// file; one that read an older target was covered already.
    pub(super) fn switch_file(&self, file: File) {
        // An fsync running on the old file keeps its own `Arc` to it until it ends.
        *self.state.file.lock() = Arc::new(file);
    }

    /// Refuses further writes: the disk's state is unknown.
    pub(super) fn poison(&self) {
        self.state.poisoned.store(true, Ordering::Release);
    }

    /// Has an fsync (or a write the journal could not undo) failed?
    pub(super) fn is_poisoned(&self) -> bool {
        self.state.is_poisoned()
    }

    /// How many fsyncs ran, to show group commit at work (or not).
    pub(super) fn fsync_count(&self) -> u64 {
        self.state.fsyncs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sync_state::WhenDurable;
    use parking_lot::Mutex;
    use std::thread;

    fn plain() -> (tempfile::TempDir, Durability) {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("journal.csv")).unwrap();
        (dir, Durability::start(file, false).unwrap())
    }

    #[test]
    fn the_plain_way_runs_one_fsync_per_line_on_the_waiting_thread() {
        let (_dir, durability) = plain();
        assert!(durability.group.is_none(), "no committer thread, no queue");
        for n in 1..=5 {
            let ticket = durability.wrote_line();
            assert!(!durability.is_durable(ticket));
            assert!(durability.wait(ticket));
            assert!(durability.is_durable(ticket));
            assert_eq!(durability.fsync_count(), n, "one fsync per line");
        }
        // Already durable: no second fsync.
        assert!(durability.wait(5));
        assert_eq!(durability.fsync_count(), 5);
    }

    #[test]
    fn the_plain_way_runs_queued_work_on_the_caller_after_its_own_fsync() {
        struct Told(Mutex<Option<(bool, thread::ThreadId)>>);
        impl WhenDurable for Told {
            fn durable(self: Arc<Self>, durable: bool) {
                *self.0.lock() = Some((durable, thread::current().id()));
            }
        }
        let (_dir, durability) = plain();
        let told = Arc::new(Told(Mutex::new(None)));
        let ticket = durability.wrote_line();
        durability.when_durable(ticket, told.clone());
        assert_eq!(*told.0.lock(), Some((true, thread::current().id())));
        assert!(durability.is_durable(ticket));
        assert_eq!(durability.fsync_count(), 1);
        // Poisoned: told at once that the line never will be durable, no fsync tried.
        durability.poison();
        let told = Arc::new(Told(Mutex::new(None)));
        durability.when_durable(durability.wrote_line(), told.clone());
        assert_eq!(*told.0.lock(), Some((false, thread::current().id())));
        assert_eq!(durability.fsync_count(), 1);
    }

    #[test]
    fn without_group_commit_concurrent_waiters_are_each_durable_when_they_return() {
        let (_dir, durability) = plain();
        let durability = Arc::new(durability);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let durability = durability.clone();
                thread::spawn(move || {
                    for _ in 0..50 {
                        let ticket = durability.wrote_line();
                        assert!(durability.wait(ticket));
                        assert!(durability.is_durable(ticket));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let fsyncs = durability.fsync_count();
        assert!((1..=400).contains(&fsyncs), "{fsyncs}");
    }
}
