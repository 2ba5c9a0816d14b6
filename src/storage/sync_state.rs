//! What every way of waiting for the journal's fsync shares: which lines are written,
//! which are durable, the file to fsync, and the fsync itself.
//!
//! Why a file of its own: the plain way (src/storage/durability.rs, an fsync per
//! waiter) and group commit (src/storage/group_commit.rs, one fsync shared) both run
//! [`SyncState::fsync`] and read the same counters; neither needs the other.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Work to run once a line is durable (see `Durability::when_durable`).
///
/// A trait object behind an `Arc` rather than a boxed closure: the server's one
/// implementation lives as long as its connection, so handing it over for a request
/// is a reference count, not an allocation per request.
pub trait WhenDurable: Send + Sync {
    /// Called once per hand-over: with `true` once the line is durable, with `false`
    /// if it never will be (the journal is poisoned). It runs on whichever thread ran
    /// the fsync, usually group commit's committer, so it must be quick and must never
    /// block.
    fn durable(self: Arc<Self>, durable: bool);
}

/// What `when_durable` is given.
pub(super) type OnDurable = Arc<dyn WhenDurable>;

/// What every way of waiting shares: the counters and the file.
pub(super) struct SyncState {
    /// A handle on the journal file, used only to fsync. Replaced when the journal
    /// moves to a new file (a checkpoint): see `Durability::switch_file`.
    pub(super) file: Mutex<Arc<File>>,
    /// The sequence number of the last line written (not necessarily durable).
    pub(super) written: AtomicU64,
    /// The sequence number of the last line known to be durable.
    pub(super) synced: AtomicU64,
    /// Set when an fsync failed: the disk's state is unknown, so writes stop.
    pub(super) poisoned: AtomicBool,
    /// How many fsyncs ran.
    pub(super) fsyncs: AtomicU64,
}

impl SyncState {
    /// The state of a journal file that has no line written since it was opened: every
    /// line read back at start-up was made durable by `Journal::open`, so counting starts
    /// at zero on both sides.
    pub(super) fn new(file: File) -> SyncState {
        SyncState {
            file: Mutex::new(Arc::new(file)),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            fsyncs: AtomicU64::new(0),
        }
    }

    /// The sequence number of the last line written. The journal counts a line only
    /// once its write has returned, so an fsync that begins after reading a count
    /// covers every line counted.
    pub(super) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The sequence number of the last line known to be durable.
    pub(super) fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// Is line `ticket` durable? Lines become durable in order (an fsync covers every
    /// line before its target), so one number answers for all of them.
    pub(super) fn is_durable(&self, ticket: u64) -> bool {
        self.synced() >= ticket
    }

    /// Has an fsync failed? Then no line written after the last good one may be called
    /// durable, ever.
    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The plain wait: if line `ticket` is not durable yet, run an fsync here. Returns
    /// whether the line is durable (`false` only once the journal is poisoned).
    pub(super) fn sync_for(&self, ticket: u64) -> bool {
        // Another thread's fsync, begun after our line was written, may have covered it.
        if self.is_durable(ticket) {
            return true;
        }
        // After a failed fsync, trying again would not tell us what is on disk.
        if self.is_poisoned() {
            return false;
        }
        // Our own fsync covers our line: it was written before this call.
        self.fsync();
        // `false` here only if that fsync failed (and poisoned the journal).
        self.is_durable(ticket)
    }

    /// One fsync that covers every line written so far, then publishes it as synced.
    /// Several threads may run one at once (the plain way does): each publishes the
    /// target it read before its own fsync began, so `synced` only ever grows, and only
    /// to a line an fsync has covered.
    pub(super) fn fsync(&self) {
        // The target is read *before* the fsync starts: a line counted later may not
        // be covered by it, so it must not be published as synced.
        let target = self.written();
        // Nothing new since the last fsync: an fsync would cost the disk for nothing.
        if target <= self.synced() {
            return;
        }
        // The handle is cloned out and the lock released before the fsync: a rotation
        // that switches files never waits for a slow disk.
        let file = Arc::clone(&self.file.lock());
        // `fdatasync`: the lines, and the file's size only if it changed (the
        // pre-zeroed journal keeps it unchanged: src/storage/padding.rs).
        match file.sync_data() {
            Ok(()) => {
                // Counted for STATS and for the tests that show fsyncs being shared.
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                // `fetch_max`: fsyncs run side by side may finish in any order, and
                // `synced` must never go back.
                self.synced.fetch_max(target, Ordering::AcqRel);
            }
            // After a failed fsync the kernel may have dropped the dirty pages: we
            // cannot know what is on disk, so we refuse further writes (see
            // docs/RELIABILITY.md). Reads carry on.
            Err(e) => {
                log::error!("journal fsync failed, refusing further writes: {e}");
                self.poisoned.store(true, Ordering::Release);
            }
        }
    }
}
