//! Group commit: one fsync covers every line written before it began, and wakes
//! exactly the threads it covered.
//!
//! Why: a connection thread that has written its journal line must not answer before
//! the line is on disk, and an fsync costs about 200 µs here, the time to write dozens
//! of lines. So one fsync should cover every line written meanwhile; the question is
//! who runs it and who wakes whom.
//!
//! A first version slept every waiter on one condition variable, and `notify_all` woke
//! them *all* when an fsync ended. Those it had covered returned; the rest (their lines
//! came in while it ran) went back to sleep, one of them ran the next fsync, and every
//! wake-up went through the condition variable's mutex one thread at a time. On two
//! cores, fifty threads doing that spent more time in the scheduler than in the server
//! (docs/bench-notes.md).
//!
//! Here a *round* is: note `target` = the last line written, fsync, publish `synced =
//! target`, and unpark only the waiters whose ticket is at most `target`. Who runs it:
//! - a thread that finds no round running and nobody waiting runs it itself, so a lone
//!   client pays no hand-over between threads;
//! - otherwise the thread puts its ticket and thread handle in the queue and parks, and
//!   the *committer thread* runs rounds back to back for as long as the queue is not
//!   empty. Under load it never sleeps, so one fsync follows the last without waiting
//!   for a thread to be woken and scheduled.
//!
//! Each waiter is woken once, by the thread that knows its line is durable.
//!
//! A waiter need not be a sleeping thread. [`GroupCommit::when_durable`] queues a
//! piece of work instead (the server's: send the reply), which the round runs itself
//! once the fsync covered it. The connection thread then goes straight back to reading
//! its socket instead of sleeping until the fsync and being woken: one thread switch
//! less per request, and the reply leaves as soon as the disk has the line
//! (src/server/durable_reply.rs).
//! (Measured with `feira-bench -c 50 -d 3s -t transfer,order`, docs/bench-notes.md.)

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle, Thread};

use parking_lot::{Condvar, Mutex};

/// The durability side of the journal: what is written, what is synced, and the
/// committer thread that moves the second up to the first.
pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    /// Joined on drop, after telling it to stop.
    committer: Option<JoinHandle<()>>,
}

/// What the connection threads and the committer share.
struct Shared {
    /// A handle on the journal file, used only to fsync. Replaced when the journal
    /// moves to a new file (a checkpoint): see [`GroupCommit::switch_file`].
    file: Mutex<Arc<File>>,
    /// The sequence number of the last line written (not necessarily durable).
    written: AtomicU64,
    /// The sequence number of the last line known to be durable.
    synced: AtomicU64,
    /// Set when an fsync failed: the disk's state is unknown, so writes stop.
    poisoned: AtomicBool,
    /// How many fsyncs ran, to show group commit at work.
    fsyncs: AtomicU64,
    /// The threads waiting for their line to be durable. A `parking_lot` mutex: it is
    /// held only to push or drain a few entries, never across an fsync.
    queue: Mutex<Queue>,
    /// Wakes the committer: somebody waits and no round runs, or the journal is
    /// dropped.
    work: Condvar,
}

/// Work to run once a line is durable (see [`GroupCommit::when_durable`]).
///
/// A trait object behind an `Arc` rather than a boxed closure: the server's one
/// implementation lives as long as its connection, so handing it over for a request
/// is a reference count, not an allocation per request.
pub trait WhenDurable: Send + Sync {
    /// Called once per hand-over: with `true` once the line is durable, with `false`
    /// if it never will be (the journal is poisoned). It runs on whichever thread ran
    /// the fsync, usually the committer, so it must be quick and must never block.
    fn durable(self: Arc<Self>, durable: bool);
}

/// What `when_durable` is given.
pub(super) type OnDurable = Arc<dyn WhenDurable>;

/// Who is told that a line is durable.
enum Waiter {
    /// A thread parked in [`GroupCommit::wait`]: it is unparked.
    Parked(Thread),
    /// Work queued by [`GroupCommit::when_durable`]: it is run.
    Then(OnDurable),
}

#[derive(Default)]
struct Queue {
    /// `true` while a round runs (in the committer or in a connection thread).
    syncing: bool,
    /// (ticket, who to tell once the ticket is durable), in no particular order.
    waiters: Vec<(u64, Waiter)>,
    /// Set when the journal is dropped: the committer ends.
    stop: bool,
}

impl GroupCommit {
    /// Starts the committer thread for this file.
    pub(super) fn start(file: File) -> std::io::Result<GroupCommit> {
        let shared = Arc::new(Shared {
            file: Mutex::new(Arc::new(file)),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            fsyncs: AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
        });
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

    /// Records that one more line was written and returns its sequence number.
    /// The journal calls it under its writer lock, so numbers follow the file's order.
    pub(super) fn wrote_line(&self) -> u64 {
        self.shared.written.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The sequence number of the last line written.
    pub(super) fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// Declares every line written so far durable without an fsync (a checkpoint
    /// has just put them in fsynced snapshots). Waiters are released by the
    /// committer's next round.
    pub(super) fn mark_all_synced(&self) {
        let written = self.written();
        self.shared.synced.fetch_max(written, Ordering::AcqRel);
    }

    /// Returns once line `ticket` and every line before it is durable; `false` if
    /// the journal is poisoned (an fsync failed) and that may never happen.
    pub(super) fn wait(&self, ticket: u64) -> bool {
        let shared = &*self.shared;
        if let Some(durable) = self.decide_or_queue(ticket, || Waiter::Parked(thread::current())) {
            return durable;
        }
        loop {
            // `park` may return early (a stale unpark, or none at all): check again.
            thread::park();
            if shared.synced.load(Ordering::Acquire) >= ticket {
                return true;
            }
            if shared.poisoned.load(Ordering::Acquire) {
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
        if shared.synced.load(Ordering::Acquire) >= ticket {
            return Some(true);
        }
        let mut queue = shared.queue.lock();
        // Checked again under the lock: a round publishes `synced` before it looks at
        // the queue, so either we see its fsync here or it sees us.
        if shared.synced.load(Ordering::Acquire) >= ticket {
            return Some(true);
        }
        if shared.poisoned.load(Ordering::Acquire) {
            return Some(false);
        }
        if !queue.syncing && queue.waiters.is_empty() {
            // Nobody else needs an fsync: run the round here, no hand-over.
            queue.syncing = true;
            drop(queue);
            shared.round();
            return Some(shared.synced.load(Ordering::Acquire) >= ticket);
        }
        queue.waiters.push((ticket, waiter()));
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
        if let Some(durable) = self.decide_or_queue(ticket, || Waiter::Then(Arc::clone(&then))) {
            then.durable(durable);
        }
    }

    /// Is line `ticket` (and every line before it) durable already?
    pub(super) fn is_durable(&self, ticket: u64) -> bool {
        self.shared.synced.load(Ordering::Acquire) >= ticket
    }

    /// From now on, fsync this file. The caller has made every line written so far
    /// durable (and called [`GroupCommit::mark_all_synced`]) and holds the journal's
    /// writer lock, so no line is written meanwhile. A round reads its target before the
    /// file: one that read a target including lines of the new file fsyncs the new file;
    /// one that read an older target was covered already.
    pub(super) fn switch_file(&self, file: File) {
        *self.shared.file.lock() = Arc::new(file);
    }

    /// Refuses further writes: the disk's state is unknown.
    pub(super) fn poison(&self) {
        self.shared.poisoned.store(true, Ordering::Release);
    }

    pub(super) fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    pub(super) fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.queue.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(committer) = self.committer.take() {
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
                while (queue.waiters.is_empty() || queue.syncing) && !queue.stop {
                    self.work.wait(&mut queue);
                }
                if queue.stop {
                    return; // the journal is dropped, so nobody can be waiting
                }
                queue.syncing = true;
            }
            self.round();
        }
    }

    /// One fsync that covers every line written so far, then the wake-ups. The
    /// caller has set `syncing`.
    fn round(&self) {
        let target = self.written.load(Ordering::Acquire);
        if target > self.synced.load(Ordering::Acquire) {
            let file = Arc::clone(&self.file.lock());
            match file.sync_data() {
                Ok(()) => {
                    self.fsyncs.fetch_add(1, Ordering::Relaxed);
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
        let synced = self.synced.load(Ordering::Acquire);
        let poisoned = self.poisoned.load(Ordering::Acquire);
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
                Waiter::Parked(thread) => thread.unpark(),
                Waiter::Then(then) => then.durable(ticket <= synced),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn group_commit() -> (tempfile::TempDir, GroupCommit) {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("journal.csv")).unwrap();
        (dir, GroupCommit::start(file).unwrap())
    }

    #[test]
    fn a_lone_waiter_runs_its_own_fsync() {
        let (_dir, commit) = group_commit();
        let ticket = commit.wrote_line();
        assert!(commit.wait(ticket));
        assert_eq!(commit.fsync_count(), 1);
        // Already durable: no second fsync.
        assert!(commit.wait(ticket));
        assert_eq!(commit.fsync_count(), 1);
    }

    /// How many threads write at once in the tests below, and how many lines each.
    const WRITERS: usize = 16;
    const LINES_EACH: usize = 100;

    #[test]
    fn many_waiters_all_return_with_at_most_one_fsync_each() {
        let (_dir, commit) = group_commit();
        let commit = Arc::new(commit);
        let threads: Vec<_> = (0..WRITERS)
            .map(|_| {
                let commit = commit.clone();
                thread::spawn(move || {
                    for _ in 0..LINES_EACH {
                        let ticket = commit.wrote_line();
                        assert!(commit.wait(ticket));
                        assert!(commit.shared.synced.load(Ordering::Acquire) >= ticket);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let fsyncs = commit.fsync_count();
        assert!(fsyncs >= 1 && fsyncs <= (WRITERS * LINES_EACH) as u64);
        assert!(commit.shared.queue.lock().waiters.is_empty());
    }

    /// The point of group commit: one fsync covers every line written before it began.
    /// Sixteen threads each write a line and only then, once all sixteen are written
    /// (a barrier), wait for it: whoever comes first runs one fsync that covers all
    /// sixteen, and the others find their line durable or are woken by that fsync. So a
    /// round of sixteen commits costs one fsync, however the threads are scheduled (on
    /// a loaded machine too, and on a disk where fsync costs nothing). Without group
    /// commit (every waiter running its own fsync) it would cost sixteen.
    #[test]
    fn lines_written_before_an_fsync_share_it() {
        let (_dir, commit) = group_commit();
        let commit = Arc::new(commit);
        let all_written = Arc::new(std::sync::Barrier::new(WRITERS));
        let threads: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (commit, all_written) = (commit.clone(), all_written.clone());
                thread::spawn(move || {
                    for _ in 0..LINES_EACH {
                        let ticket = commit.wrote_line();
                        all_written.wait();
                        assert!(commit.wait(ticket));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (commits, fsyncs) = ((WRITERS * LINES_EACH) as u64, commit.fsync_count());
        assert!(
            fsyncs <= LINES_EACH as u64,
            "{fsyncs} fsyncs for {commits} commits in {LINES_EACH} rounds of {WRITERS}: \
             more than one a round"
        );
        assert!(
            fsyncs * 2 < commits,
            "{fsyncs} fsyncs for {commits} commits"
        );
    }

    /// The committer's side: lines whose writers queued while a round ran are all
    /// covered by the committer's next round, one fsync for all of them.
    #[test]
    fn waiters_queued_during_a_round_share_the_committers_next_fsync() {
        let (_dir, commit) = group_commit();
        let commit = Arc::new(commit);
        // Pretend a round is running, so that every waiter queues and parks.
        commit.shared.queue.lock().syncing = true;
        let waiters: Vec<_> = (0..WRITERS)
            .map(|_| {
                let commit = commit.clone();
                thread::spawn(move || commit.wait(commit.wrote_line()))
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while commit.shared.queue.lock().waiters.len() < WRITERS {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiters never queued: {} of {WRITERS}",
                commit.shared.queue.lock().waiters.len()
            );
            thread::sleep(Duration::from_millis(1));
        }
        // The pretended round ends without an fsync; the committer takes over.
        commit.shared.queue.lock().syncing = false;
        commit.shared.work.notify_one();
        for waiter in waiters {
            assert!(waiter.join().unwrap());
        }
        assert_eq!(commit.fsync_count(), 1, "one fsync for {WRITERS} waiters");
        assert!(commit.shared.queue.lock().waiters.is_empty());
    }

    #[test]
    fn a_checkpoint_releases_a_parked_waiter() {
        let (_dir, commit) = group_commit();
        let commit = Arc::new(commit);
        // Pretend a round is running, so the waiter parks instead of syncing itself.
        commit.shared.queue.lock().syncing = true;
        let ticket = commit.wrote_line();
        let waiter = {
            let commit = commit.clone();
            thread::spawn(move || commit.wait(ticket))
        };
        let parked = (0..2000).any(|_| {
            thread::sleep(Duration::from_millis(1));
            !commit.shared.queue.lock().waiters.is_empty()
        });
        assert!(parked, "the waiter queued itself");
        // The checkpoint made everything durable; the end of the running round wakes it.
        commit.mark_all_synced();
        commit.shared.round();
        assert!(waiter.join().unwrap());
        assert_eq!(
            commit.fsync_count(),
            0,
            "nothing left to fsync after the checkpoint"
        );
    }

    /// What a `when_durable` callback was told, and on which thread.
    type Told = Arc<Mutex<Option<(bool, thread::ThreadId)>>>;

    struct Recorder(Told);

    impl WhenDurable for Recorder {
        fn durable(self: Arc<Self>, durable: bool) {
            *self.0.lock() = Some((durable, thread::current().id()));
        }
    }

    /// A `when_durable` callback that records what it was told.
    fn recorder() -> (Told, OnDurable) {
        let told = Told::default();
        (told.clone(), Arc::new(Recorder(told)))
    }

    #[test]
    fn a_lone_caller_runs_the_fsync_and_its_work_itself() {
        let (_dir, commit) = group_commit();
        let (told, then) = recorder();
        commit.when_durable(commit.wrote_line(), then);
        assert_eq!(*told.lock(), Some((true, thread::current().id())));
        assert_eq!(commit.fsync_count(), 1);
    }

    #[test]
    fn queued_work_runs_once_after_the_fsync_that_covers_it() {
        let (_dir, commit) = group_commit();
        // Pretend a round is running, so the work is queued instead of run here.
        commit.shared.queue.lock().syncing = true;
        let (told, then) = recorder();
        commit.when_durable(commit.wrote_line(), then);
        assert_eq!(*told.lock(), None, "not before the fsync");
        commit.shared.round();
        assert_eq!(commit.fsync_count(), 1);
        assert!(matches!(*told.lock(), Some((true, _))));
        assert!(commit.shared.queue.lock().waiters.is_empty(), "run once");
    }

    #[test]
    fn once_poisoned_a_caller_hears_at_once_that_its_line_never_will_be_durable() {
        let (_dir, commit) = group_commit();
        // As after a failed fsync: the disk's state is unknown, nothing more is synced.
        commit.poison();
        let (told, then) = recorder();
        commit.when_durable(commit.wrote_line(), then);
        assert_eq!(*told.lock(), Some((false, thread::current().id())));
        assert_eq!(commit.fsync_count(), 0);
    }
}
