//! The sending side of the audit log: what a connection thread calls to record an
//! operation. It never writes the file and never waits long: an event goes on a
//! bounded channel, or, if the channel stays full, is dropped and counted.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};
use parking_lot::Mutex;

use super::forward::ForwardCounters;
use super::logger::{Counters, Logger, Message, Sink, open_file};
use super::{AuditEvent, AuditOptions, FILE_NAME};
use crate::error::{Error, Result};

/// The sending side of the audit log, held in `server::Shared`.
pub struct AuditLog {
    sender: Sender<Message>,
    send_timeout: Duration,
    counters: Arc<Counters>,
    /// The log server's counters, when events are forwarded to one.
    forwarding: Option<Arc<ForwardCounters>>,
    /// The logger thread, until [`AuditLog::shutdown`] joins it.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl AuditLog {
    /// Opens (or creates) `audit.csv` in `dir` and starts the logger thread.
    pub fn open(dir: &Path, options: AuditOptions) -> Result<AuditLog> {
        let path = dir.join(FILE_NAME);
        let file = open_file(&path).map_err(|e| Error::io(&path, e))?;
        AuditLog::start(file, options).map_err(|e| Error::io(&path, e))
    }

    /// Starts the logger thread, named `audit`, writing rows to `sink`.
    pub fn start<S: Sink>(sink: S, options: AuditOptions) -> io::Result<AuditLog> {
        let (sender, receiver) = crossbeam_channel::bounded(options.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let logger = Logger::new(receiver, sink, counters.clone(), options.clone());
        let thread = thread::Builder::new()
            .name("audit".into())
            .spawn(move || logger.run())?;
        Ok(AuditLog {
            sender,
            send_timeout: options.send_timeout,
            counters,
            forwarding: options.forward.as_ref().map(|forward| forward.counters()),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands an event to the logger. Waits at most the send timeout for room; after
    /// that the event is dropped, counted and warned about (see the module docs).
    pub fn record(&self, event: AuditEvent) {
        let why = match self
            .sender
            .send_timeout(Message::Event(event), self.send_timeout)
        {
            Ok(()) => return,
            Err(SendTimeoutError::Timeout(_)) => "the audit channel stayed full",
            Err(SendTimeoutError::Disconnected(_)) => "the audit logger has stopped",
        };
        let dropped = self.counters.dropped.fetch_add(1, Ordering::AcqRel) + 1;
        // Warn on the first drop and then now and again: an overloaded disk must not
        // also flood the server log.
        if dropped.is_power_of_two() || dropped.is_multiple_of(1024) {
            log::warn!("audit: {dropped} events dropped so far ({why})");
        }
    }

    /// Events dropped because the channel stayed full (or the logger had stopped).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Acquire)
    }

    /// Rows written to the audit file.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Acquire)
    }

    /// Failed writes or fsyncs of the audit file.
    pub fn failures(&self) -> u64 {
        self.counters.failures.load(Ordering::Acquire)
    }

    /// Events the log server acknowledged (0 without one).
    pub fn log_forwarded(&self) -> u64 {
        self.forwarding.as_ref().map_or(0, |c| c.forwarded())
    }

    /// Events that never reached the log server: it was slow or gone (0 without one).
    pub fn log_dropped(&self) -> u64 {
        self.forwarding.as_ref().map_or(0, |c| c.dropped())
    }

    /// Counts one row withheld by its connection's row budget (`audit_limit`).
    pub fn count_limited(&self) {
        self.counters.limited.fetch_add(1, Ordering::AcqRel);
    }

    /// Rows withheld by the per-connection row budgets since start.
    pub fn limited(&self) -> u64 {
        self.counters.limited.load(Ordering::Acquire)
    }

    /// Stops the logger: every event sent before this call is written and fsynced
    /// when it returns. Later events are dropped and counted. Safe to call twice.
    pub fn shutdown(&self) {
        let Some(thread) = self.thread.lock().take() else {
            return;
        };
        // The logger is draining the channel, so room appears quickly; the bound
        // only matters if the disk has hung, and then we leave the thread behind
        // rather than hang the shutdown too.
        if self
            .sender
            .send_timeout(Message::Stop, Duration::from_secs(10))
            .is_err()
        {
            log::error!("audit: the logger does not answer; its last rows may be lost");
            return;
        }
        if thread.join().is_err() {
            log::error!("audit: the logger thread panicked");
        }
        log::info!(
            "audit: stopped after {} rows ({} events dropped, {} write failures)",
            self.written(),
            self.dropped(),
            self.failures()
        );
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.shutdown();
    }
}
