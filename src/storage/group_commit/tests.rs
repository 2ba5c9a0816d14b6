//! Group commit's tests: a lone waiter runs its own fsync, lines written before an fsync
//! share it (and share nothing with group commit off), the committer's rounds, and work
//! queued with `when_durable`.

use super::*;
use crate::storage::durability::Durability;
use crate::storage::sync_state::WhenDurable;
use std::fs::File;
use std::time::Duration;

/// Durability with group commit on, as the journal holds it by default.
fn group_commit() -> (tempfile::TempDir, Durability) {
    let dir = tempfile::tempdir().unwrap();
    let file = File::create(dir.path().join("journal.csv")).unwrap();
    (dir, Durability::start(file, true).unwrap())
}

/// Group commit's queue and committer, to look inside.
fn shared(durability: &Durability) -> &Shared {
    &durability
        .group
        .as_ref()
        .expect("group commit is on")
        .shared
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
                    assert!(commit.is_durable(ticket));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let fsyncs = commit.fsync_count();
    assert!(fsyncs >= 1 && fsyncs <= (WRITERS * LINES_EACH) as u64);
    assert!(shared(&commit).queue.lock().waiters.is_empty());
}

/// Sixteen threads each write a line and only then, once all sixteen are written
/// (a barrier), wait for it; a hundred rounds. Returns how many fsyncs they cost.
fn rounds_of_sixteen(durability: Durability) -> u64 {
    let commit = Arc::new(durability);
    let all_written = Arc::new(std::sync::Barrier::new(WRITERS));
    let threads: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (commit, all_written) = (commit.clone(), all_written.clone());
            thread::spawn(move || {
                for _ in 0..LINES_EACH {
                    let ticket = commit.wrote_line();
                    all_written.wait();
                    assert!(commit.wait(ticket));
                    assert!(commit.is_durable(ticket));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    commit.fsync_count()
}

/// The point of group commit: one fsync covers every line written before it began.
/// In each round of sixteen, whoever waits first runs one fsync that covers all
/// sixteen lines, and the others find their line durable or are woken by that
/// fsync. So a round costs one fsync, however the threads are scheduled (on a
/// loaded machine too, and on a disk where fsync costs nothing).
#[test]
fn lines_written_before_an_fsync_share_it() {
    let (_dir, commit) = group_commit();
    let (commits, fsyncs) = ((WRITERS * LINES_EACH) as u64, rounds_of_sixteen(commit));
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

/// The same rounds with group commit off (`--group-commit off`): every waiter runs
/// its own fsync, nothing is shared, and the check above fails.
#[test]
fn without_group_commit_the_same_rounds_share_nothing() {
    // On a real disk, where an fsync takes long enough for the others to start
    // theirs (a waiter whose line an fsync already covered runs none).
    let dir = crate::storage::layers::tempdir_on_disk();
    let file = File::create(dir.path().join("journal.csv")).unwrap();
    let fsyncs = rounds_of_sixteen(Durability::start(file, false).unwrap());
    let commits = (WRITERS * LINES_EACH) as u64;
    assert!(
        fsyncs > LINES_EACH as u64,
        "{fsyncs} fsyncs for {commits} commits: shared with group commit off"
    );
}

/// The committer's side: lines whose writers queued while a round ran are all
/// covered by the committer's next round, one fsync for all of them.
#[test]
fn waiters_queued_during_a_round_share_the_committers_next_fsync() {
    let (_dir, commit) = group_commit();
    let commit = Arc::new(commit);
    // Pretend a round is running, so that every waiter queues and parks.
    shared(&commit).queue.lock().syncing = true;
    let waiters: Vec<_> = (0..WRITERS)
        .map(|_| {
            let commit = commit.clone();
            thread::spawn(move || commit.wait(commit.wrote_line()))
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while shared(&commit).queue.lock().waiters.len() < WRITERS {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiters never queued: {} of {WRITERS}",
            shared(&commit).queue.lock().waiters.len()
        );
        thread::sleep(Duration::from_millis(1));
    }
    // The pretended round ends without an fsync; the committer takes over.
    shared(&commit).queue.lock().syncing = false;
    shared(&commit).work.notify_one();
    for waiter in waiters {
        assert!(waiter.join().unwrap());
    }
    assert_eq!(commit.fsync_count(), 1, "one fsync for {WRITERS} waiters");
    assert!(shared(&commit).queue.lock().waiters.is_empty());
}

#[test]
fn a_checkpoint_releases_a_parked_waiter() {
    let (_dir, commit) = group_commit();
    let commit = Arc::new(commit);
    // Pretend a round is running, so the waiter parks instead of syncing itself.
    shared(&commit).queue.lock().syncing = true;
    let ticket = commit.wrote_line();
    let waiter = {
        let commit = commit.clone();
        thread::spawn(move || commit.wait(ticket))
    };
    let parked = (0..2000).any(|_| {
        thread::sleep(Duration::from_millis(1));
        !shared(&commit).queue.lock().waiters.is_empty()
    });
    assert!(parked, "the waiter queued itself");
    // The checkpoint made everything durable; the end of the running round wakes it.
    commit.mark_all_synced();
    shared(&commit).round();
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
    shared(&commit).queue.lock().syncing = true;
    let (told, then) = recorder();
    commit.when_durable(commit.wrote_line(), then);
    assert_eq!(*told.lock(), None, "not before the fsync");
    shared(&commit).round();
    assert_eq!(commit.fsync_count(), 1);
    assert!(matches!(*told.lock(), Some((true, _))));
    assert!(shared(&commit).queue.lock().waiters.is_empty(), "run once");
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
