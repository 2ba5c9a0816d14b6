//! A table behind its own lock, like feira's tables, that tells the watchdog what each
//! thread does with the lock.
//!
//! Why the lock is taken in slices with `try_lock_for` and not with `lock()`: a thread
//! blocked in `lock()` cannot be woken, interrupted or killed by anybody; if the lock is
//! never released, it waits until the process dies. So a program that wants to *recover*
//! from a deadlock (as databases do, by aborting one transaction) must wait in a way it can
//! stop: here, in slices of [`SLICE`], checking between slices whether the watchdog has
//! asked this thread to give up. feira's server does not need this: it never deadlocks,
//! because it always takes its locks in one fixed order (docs/ARCHITECTURE.md).

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::watchdog::{Event, Worker};

/// How long one `try_lock_for` waits before checking the abort flag again.
const SLICE: Duration = Duration::from_millis(10);

/// A safety net, in case the watchdog itself were broken: no thread in this demo waits
/// longer than this for a lock, so the demo always ends by itself.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(5);

/// Rows of type `T` behind a lock, with the table's name (the lock's name in reports).
pub struct Table<T> {
    pub name: &'static str,
    rows: Mutex<T>,
}

/// Why a thread did not get a lock.
#[derive(Debug)]
pub enum NotLocked {
    /// The watchdog chose this thread to break a deadlock.
    Aborted,
    /// [`GIVE_UP_AFTER`] passed.
    TimedOut,
}

impl<T> Table<T> {
    pub fn new(name: &'static str, rows: T) -> Table<T> {
        Table {
            name,
            rows: Mutex::new(rows),
        }
    }

    /// Waits for the lock on behalf of `worker`, reporting each step to the watchdog.
    pub fn lock<'a>(&'a self, worker: &'a Worker) -> Result<Held<'a, T>, NotLocked> {
        let (thread, lock) = (worker.name, self.name);
        worker.report(Event::Waiting { thread, lock });
        let deadline = Instant::now() + GIVE_UP_AFTER;
        let mut guard = self.rows.try_lock();
        if guard.is_none() {
            worker.say(format_args!("waiting for {lock} ..."));
        }
        loop {
            if let Some(guard) = guard.take().or_else(|| self.rows.try_lock_for(SLICE)) {
                worker.report(Event::Acquired { thread, lock });
                worker.say(format_args!("locked {lock}"));
                return Ok(Held {
                    guard,
                    worker,
                    lock,
                });
            }
            let why = if worker.take_abort() {
                NotLocked::Aborted
            } else if Instant::now() >= deadline {
                NotLocked::TimedOut
            } else {
                continue;
            };
            worker.report(Event::GaveUp { thread });
            return Err(why);
        }
    }

    /// The rows, once every thread is done (no lock needed: we own the table).
    pub fn into_rows(self) -> T {
        self.rows.into_inner()
    }
}

/// A held lock. Reading and writing the rows goes through it; dropping it releases the
/// lock and tells the watchdog.
pub struct Held<'a, T> {
    guard: MutexGuard<'a, T>,
    worker: &'a Worker,
    lock: &'static str,
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        // Sent before the guard (a field) is dropped, so before the lock is free: the
        // watchdog always hears "released" before another thread's "acquired".
        let lock = self.lock;
        self.worker.report(Event::Released { lock });
        self.worker.say(format_args!("released {lock}"));
    }
}

impl<T> Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}
