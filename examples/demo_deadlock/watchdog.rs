//! A deadlock watchdog: it listens to what every thread does with the locks and, when
//! nothing has happened for a while, looks for a cycle of threads waiting on each other.
//!
//! Why hand-written: parking_lot can detect deadlocks itself (its `deadlock_detection`
//! feature), but that feature changes parking_lot for the whole crate, the server
//! included, and pulls in more dependencies. More importantly for a class, this watchdog
//! is about a hundred lines a student can read: it is the *wait-for graph* from the
//! textbook, the same idea databases use to find and break deadlocks.
//!
//! How it works:
//! - every thread has a [`Worker`] handle and reports [`Event`]s over a crossbeam channel:
//!   "I am waiting for lock L", "I got L", "I released L", "I gave up on L";
//! - the watchdog thread keeps the picture up to date: who holds each lock, who waits
//!   for which lock;
//! - when no event arrives for [`STALL`], it follows the arrows "thread waits for lock,
//!   lock is held by thread, that thread waits for ..." and, if it comes back to where it
//!   started, that is a deadlock: no thread in the cycle can ever move again;
//! - it prints who holds what and waits for what, and, like a database, breaks the cycle
//!   by aborting one thread (the victim), which lets go of its locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// How long without any lock event before the watchdog looks for a cycle. Long enough
/// that a busy machine does not make it look every few milliseconds, short enough that
/// the class is not kept waiting. A stall alone proves nothing (threads may just be
/// slow); only a cycle in the wait-for graph is a deadlock.
pub const STALL: Duration = Duration::from_millis(300);

/// What a thread tells the watchdog. Each thread sends its events in the order they
/// happen, and the channel keeps that order, so the watchdog's picture is never ahead of
/// reality; `Released` is sent *before* the lock is really released, so no other thread
/// can report `Acquired` for that lock before the watchdog hears of the release.
pub enum Event {
    /// A new thread with its abort flag, so the watchdog can ask it to give up.
    Started {
        thread: &'static str,
        abort: Arc<AtomicBool>,
    },
    Waiting {
        thread: &'static str,
        lock: &'static str,
    },
    Acquired {
        thread: &'static str,
        lock: &'static str,
    },
    /// The lock is about to be released (by its holder: the watchdog knows who).
    Released { lock: &'static str },
    /// The thread stopped waiting for its lock (aborted or timed out).
    GaveUp { thread: &'static str },
}

/// A thread's side of the watchdog: its name, where to send events, and the flag the
/// watchdog raises when it picks this thread as the victim of a deadlock.
pub struct Worker {
    pub name: &'static str,
    events: Sender<Event>,
    abort: Arc<AtomicBool>,
    /// Print each lock step (for the short run a class reads, not for 10,000 rounds).
    pub verbose: bool,
}

impl Worker {
    pub fn report(&self, event: Event) {
        // The watchdog only stops after every worker is gone, so this cannot fail; if it
        // ever did, the demo would merely lose its commentary.
        let _ = self.events.send(event);
    }

    /// True if the watchdog has chosen this thread to break a deadlock. Taking the
    /// request clears it, so that if the thread tries again and deadlocks again, the
    /// watchdog sees a new deadlock rather than one it already dealt with.
    pub fn take_abort(&self) -> bool {
        self.abort.swap(false, Ordering::SeqCst)
    }

    pub fn say(&self, what: std::fmt::Arguments) {
        if self.verbose {
            println!("  [{:<8}] {what}", self.name);
        }
    }
}

/// One thread in a deadlock cycle.
pub struct Link {
    pub thread: &'static str,
    /// The locks it holds, comma-separated.
    pub holds: String,
    pub waits_for: &'static str,
}

/// One deadlock the watchdog found.
pub struct Deadlock {
    /// The cycle: each thread waits for a lock the next one holds; the last waits for
    /// one the first holds.
    pub cycle: Vec<Link>,
    /// The thread aborted to break it.
    pub victim: &'static str,
}

/// The running watchdog. Create workers with [`Watchdog::worker`], then call
/// [`Watchdog::finish`] once every worker is dropped to get what it found.
pub struct Watchdog {
    events: Sender<Event>,
    thread: JoinHandle<Vec<Deadlock>>,
}

impl Watchdog {
    pub fn start() -> Watchdog {
        let (events, inbox) = crossbeam_channel::unbounded();
        let thread = thread::spawn(move || watch(inbox));
        Watchdog { events, thread }
    }

    /// A handle for a new thread called `name`.
    pub fn worker(&self, name: &'static str, verbose: bool) -> Worker {
        let abort = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            name,
            events: self.events.clone(),
            abort: Arc::clone(&abort),
            verbose,
        };
        worker.report(Event::Started {
            thread: name,
            abort,
        });
        worker
    }

    /// Stops the watchdog and returns the deadlocks it found. Call it after every
    /// worker has been dropped: the watchdog stops when the last sender is gone.
    pub fn finish(self) -> Vec<Deadlock> {
        drop(self.events);
        // The watchdog thread has no reason to panic; if it did, show it.
        self.thread.join().unwrap()
    }
}

/// The watchdog thread: update the picture on each event, look for a cycle on silence.
fn watch(inbox: Receiver<Event>) -> Vec<Deadlock> {
    // Threads in the order they started, with their abort flags.
    let mut threads: Vec<(&'static str, Arc<AtomicBool>)> = Vec::new();
    // lock -> the thread holding it.
    let mut holder: HashMap<&'static str, &'static str> = HashMap::new();
    // thread -> the lock it is waiting for.
    let mut waits_for: HashMap<&'static str, &'static str> = HashMap::new();
    let mut found = Vec::new();

    loop {
        match inbox.recv_timeout(STALL) {
            Ok(Event::Started { thread, abort }) => threads.push((thread, abort)),
            Ok(Event::Waiting { thread, lock }) => {
                waits_for.insert(thread, lock);
            }
            Ok(Event::Acquired { thread, lock }) => {
                waits_for.remove(thread);
                holder.insert(lock, thread);
            }
            Ok(Event::Released { lock }) => {
                holder.remove(lock);
            }
            Ok(Event::GaveUp { thread }) => {
                waits_for.remove(thread);
            }
            Err(RecvTimeoutError::Timeout) => {
                let Some(cycle) = find_cycle(&holder, &waits_for) else {
                    continue; // quiet, but nobody is stuck for good
                };
                // A victim that has not yet seen its abort request is on its way out:
                // this is the deadlock already reported, not a new one.
                let aborted = |name: &str| {
                    threads
                        .iter()
                        .any(|(t, flag)| *t == name && flag.load(Ordering::SeqCst))
                };
                if cycle.iter().any(|link| aborted(link.thread)) {
                    continue;
                }
                // Like a database, abort the youngest: the thread that started last.
                let victim = threads
                    .iter()
                    .rev()
                    .find(|(t, _)| cycle.iter().any(|link| link.thread == *t));
                let Some((victim, flag)) = victim else {
                    continue; // a thread we were never told about: nothing to abort
                };
                announce(&cycle, victim);
                flag.store(true, Ordering::SeqCst);
                found.push(Deadlock { cycle, victim });
            }
            Err(RecvTimeoutError::Disconnected) => return found,
        }
    }
}

/// Follows "waits for lock -> held by thread -> waits for lock ..." from every waiting
/// thread; returns the first cycle found.
fn find_cycle(
    holder: &HashMap<&'static str, &'static str>,
    waits_for: &HashMap<&'static str, &'static str>,
) -> Option<Vec<Link>> {
    // Sorted, so that the report lists the threads in the same order on every run.
    let mut starts: Vec<_> = waits_for.keys().copied().collect();
    starts.sort();
    for start in starts {
        let mut path: Vec<&'static str> = vec![start];
        let mut current = start;
        while let Some(holding) = waits_for.get(current).and_then(|lock| holder.get(lock)) {
            if *holding == start {
                // Back where we started: every thread on the path waits for the next.
                let held_by = |t: &str| {
                    let mut locks: Vec<_> = (holder.iter())
                        .filter(|(_, h)| **h == t)
                        .map(|(l, _)| *l)
                        .collect();
                    locks.sort();
                    locks.join(", ")
                };
                let links = path.iter().map(|t| Link {
                    thread: t,
                    holds: held_by(t),
                    waits_for: waits_for[t],
                });
                return Some(links.collect());
            }
            if path.contains(holding) {
                break; // a cycle that does not include `start`; found from another start
            }
            path.push(holding);
            current = holding;
        }
    }
    None
}

fn announce(cycle: &[Link], victim: &str) {
    println!(
        "  [watchdog] no lock event for {} ms. Who waits for whom:",
        STALL.as_millis()
    );
    for link in cycle {
        println!(
            "  [watchdog]   thread '{}' holds {} and waits for {}",
            link.thread, link.holds, link.waits_for
        );
    }
    println!("  [watchdog] DEADLOCK: a cycle. Each waits for a lock the next will never release.");
    println!("  [watchdog] Breaking it like a database would: aborting '{victim}' (the youngest).");
}
