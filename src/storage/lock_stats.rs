//! Counters for one lock: how often it was taken and how long callers waited.
//!
//! Why: a class watching `STATS` under load sees contention grow on the lock that is
//! really contended. The counters are atomics, so measuring costs a few nanoseconds and
//! never takes a lock of its own. Waits are only timed when the lock was not free at
//! once, so the uncontended path costs one `try_lock` more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Acquisition and wait counters for one lock.
#[derive(Debug, Default)]
pub struct LockStats {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    total_wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockStatsSnapshot {
    pub acquisitions: u64,
    /// How many acquisitions had to wait.
    pub contended: u64,
    pub total_wait: Duration,
    pub max_wait: Duration,
}

impl LockStats {
    /// Counts one acquisition that did not have to wait.
    pub fn record_free(&self) {
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one acquisition that waited `wait`.
    pub fn record_wait(&self, wait: Duration) {
        let ns = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
        self.contended.fetch_add(1, Ordering::Relaxed);
        self.total_wait_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_wait_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Takes a lock through `try_lock` if it is free (counted as free), else through
    /// `lock`, timing the wait. Every instrumented lock in feira goes through here.
    pub fn acquire<G>(&self, try_lock: impl FnOnce() -> Option<G>, lock: impl FnOnce() -> G) -> G {
        if let Some(guard) = try_lock() {
            self.record_free();
            return guard;
        }
        let start = Instant::now();
        let guard = lock();
        self.record_wait(start.elapsed());
        guard
    }

    /// The counters now.
    pub fn snapshot(&self) -> LockStatsSnapshot {
        LockStatsSnapshot {
            acquisitions: self.acquisitions.load(Ordering::Relaxed),
            contended: self.contended.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(self.total_wait_ns.load(Ordering::Relaxed)),
            max_wait: Duration::from_nanos(self.max_wait_ns.load(Ordering::Relaxed)),
        }
    }
}
