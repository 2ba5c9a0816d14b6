//! Forwarding the audit log to another process: seed 002's log server.
//!
//! Seed 002's directory server sent each operation to a separate log server over RPC.
//! feira can do the same (`feira-server --log-server ADDR`, the `feira-log` program),
//! but the sending must never slow the store down. So the forwarding is one more step
//! of the `audit` thread, and a step that never waits: after writing an event to
//! `audit.csv`, the thread offers a copy on a second bounded channel ([`Forward::offer`]
//! is a `try_send`). Whoever sends the copies on (the gRPC client in
//! src/grpc/log_forwarder.rs) takes them off the other end, the [`ForwardQueue`].
//!
//! A full channel means the log server is slow or gone: the copy is dropped and
//! counted (STATS `log_dropped`), `audit.csv` still has the row, and no connection
//! thread ever noticed. The forwarder counts what it delivered (`log_forwarded`) and
//! what it gave up on after its retries (`log_dropped` too).
//!
//! This file knows nothing of gRPC: it is the handover between the domain's thread
//! and whatever transport a door provides, which keeps the layers one-way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::AuditEvent;

/// What both ends count, read by STATS. Atomics: counting never waits.
#[derive(Debug, Default)]
pub struct ForwardCounters {
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl ForwardCounters {
    /// Events the log server has acknowledged.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Acquire)
    }

    /// Events that never reached it: the channel was full, or the retries ran out.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }
}

/// The audit thread's end: offers copies of events, never waits.
#[derive(Debug, Clone)]
pub struct Forward {
    sender: Sender<AuditEvent>,
    counters: Arc<ForwardCounters>,
}

/// The forwarder's end: takes the copies off, and says how each one ended.
pub struct ForwardQueue {
    receiver: Receiver<AuditEvent>,
    counters: Arc<ForwardCounters>,
}

/// A handover of `capacity` events: the audit thread's end and the forwarder's.
pub fn channel(capacity: usize) -> (Forward, ForwardQueue) {
    let (sender, receiver) = crossbeam_channel::bounded(capacity.max(1));
    let counters = Arc::new(ForwardCounters::default());
    let forward = Forward {
        sender,
        counters: counters.clone(),
    };
    (forward, ForwardQueue { receiver, counters })
}

impl Forward {
    /// Hands a copy of `event` on if there is room, else drops and counts it. Never
    /// waits: this runs on the audit thread, which must keep up with the clients.
    pub fn offer(&self, event: &AuditEvent) {
        match self.sender.try_send(event.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::AcqRel) + 1;
                if dropped.is_power_of_two() || dropped.is_multiple_of(1024) {
                    log::warn!(
                        "log server: {dropped} events not forwarded so far (it is slow or gone)"
                    );
                }
            }
        }
    }

    /// The counters STATS reads.
    pub fn counters(&self) -> Arc<ForwardCounters> {
        self.counters.clone()
    }
}

/// What [`ForwardQueue::next`] found.
pub enum Next {
    Event(AuditEvent),
    /// Nothing within the wait.
    Quiet,
    /// The audit thread has stopped and everything it offered has been taken.
    Closed,
}

impl ForwardQueue {
    /// The next event, waiting at most `wait` for one.
    pub fn next(&self, wait: Duration) -> Next {
        match self.receiver.recv_timeout(wait) {
            Ok(event) => Next::Event(event),
            Err(RecvTimeoutError::Timeout) => Next::Quiet,
            Err(RecvTimeoutError::Disconnected) => Next::Closed,
        }
    }

    /// One event delivered to the log server.
    pub fn delivered(&self) {
        self.counters.forwarded.fetch_add(1, Ordering::AcqRel);
    }

    /// One event given up on (its retries ran out, or the server is stopping).
    pub fn given_up(&self) {
        self.counters.dropped.fetch_add(1, Ordering::AcqRel);
    }

    /// The counters STATS reads.
    pub fn counters(&self) -> Arc<ForwardCounters> {
        self.counters.clone()
    }
}
