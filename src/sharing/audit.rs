//! The audit log: the file-sharing operations of logged-in users, written by one thread
//! of its own. What one connection may put in it is bounded (short arguments, a row
//! budget): see [`audit_limit`](super::audit_limit).
//!
//! Seed 002 sent each operation to an RPC log server. feira keeps the idea (the
//! threads that serve clients never write the log themselves) with a channel instead
//! of RPC: a connection thread puts an [`AuditEvent`] on a bounded
//! `crossbeam-channel`, and the `audit` thread, the only one that touches
//! `audit.csv`, takes events off and appends them. This is message passing, the
//! counterpart to the locks elsewhere in feira: no file lock, no shared buffer, and a
//! slow disk slows down the logger, not the clients.
//!
//! # When the channel is full
//!
//! The channel holds [`AuditOptions::capacity`] events. If the logger falls that far
//! behind (a stalled disk), a connection thread waits at most
//! [`AuditOptions::send_timeout`] for room, then gives up on that one event: it is
//! counted in [`AuditLog::dropped`], a warning goes to the server log (on the first
//! drop, then at every power of two and every 1,024), and the logger writes an
//! `AUDIT_DROPPED` row with the number lost as soon as it catches up. So the client's
//! request is never held hostage by the audit disk, and a gap in the log is never
//! silent: it is counted, logged and marked in the file itself.
//!
//! # Durability
//!
//! The logger takes every event waiting in the channel (up to
//! [`AuditOptions::max_batch`]) and writes them as one batch, then flushes: once
//! flushed, a row survives the server process crashing. It fsyncs the first batch after
//! a quiet spell at once, and later batches at most every [`AuditOptions::sync_every`]
//! (one second), so a power cut loses at most about a second of audit rows while a
//! busy server does not fsync per request. At shutdown it flushes and fsyncs whatever
//! is left before the server returns.
//!
//! # Order
//!
//! Rows are in the order events entered the channel. One session's operations are
//! therefore in the order they happened. Two sessions' operations that finish within
//! microseconds of each other may be written in either order (the event is sent after
//! the operation, outside its locks, so that a full channel never holds a lock).
//!
//! # The pieces
//!
//! - this file: the [`AuditEvent`] (one row) and the [`AuditOptions`];
//! - `sender`: the [`AuditLog`], what connection threads hold and send events to;
//! - `logger`: the `audit` thread, the only one that writes `audit.csv`, and the file;
//! - [`forward`]: copies of the events for a log server in another process (seed 002's),
//!   handed over without ever waiting.

pub mod forward;
mod logger;
mod sender;

pub use forward::Forward;
pub use logger::Sink;
pub use sender::AuditLog;

use std::time::Duration;

use super::audit_limit::RowLimit;

/// The header row of `audit.csv`.
pub const COLUMNS: &[&str] = &["time", "user", "peer", "operation", "arguments", "result"];

/// The name of the audit file in the data directory.
pub const FILE_NAME: &str = "audit.csv";

/// One operation, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When, by the server's clock (RFC 3339 UTC; replaces seed 002's time service).
    pub time: String,
    /// The logged-in user, or empty if the session had not logged in.
    pub user: String,
    /// The client's address on its connection to the server (`ip:port`).
    pub peer: String,
    /// The verb (`PUBLISH`, ...), `DROP` for a disconnection the server made itself
    /// (the connection ended, LOGOUT, ...), or `AUDIT_DROPPED` for a gap in the log.
    pub operation: &'static str,
    /// The arguments as the protocol writes them (quoted where needed), or the reason
    /// for a `DROP`. A request's arguments are cut to
    /// [`MAX_ARGUMENT_CHARS`](super::audit_limit::MAX_ARGUMENT_CHARS) characters
    /// followed by their full length (see [`shorten`](super::audit_limit::shorten)).
    pub arguments: String,
    /// `OK`, or the error code of the reply (`NOT_CONNECTED`, ...).
    pub result: &'static str,
}

impl AuditEvent {
    /// An event stamped with the current time.
    pub fn now(
        user: &str,
        peer: &str,
        operation: &'static str,
        arguments: String,
        result: &'static str,
    ) -> AuditEvent {
        AuditEvent {
            time: crate::clock::now_rfc3339(),
            user: user.to_string(),
            peer: peer.to_string(),
            operation,
            arguments,
            result,
        }
    }

    fn fields(&self) -> [&str; 6] {
        [
            &self.time,
            &self.user,
            &self.peer,
            self.operation,
            &self.arguments,
            self.result,
        ]
    }
}

/// How big the channel is, how long a sender waits, how often the logger fsyncs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Events the channel holds before senders have to wait.
    pub capacity: usize,
    /// How long a sender waits for room before the event is dropped (and counted).
    pub send_timeout: Duration,
    /// The longest time a flushed row waits for its fsync.
    pub sync_every: Duration,
    /// The most events written between two flushes.
    pub max_batch: usize,
    /// How many rows one connection's requests may write (see `audit_limit`).
    pub per_connection: RowLimit,
    /// Where copies of the events go besides `audit.csv` (`--log-server`), if anywhere.
    pub forward: Option<Forward>,
}

impl Default for AuditOptions {
    fn default() -> AuditOptions {
        AuditOptions {
            // At 10,000 audited requests a second, 4,096 events cover 0.4 s of a
            // stalled disk; a longer stall is what the drop policy is for.
            capacity: 4096,
            send_timeout: Duration::from_millis(100),
            sync_every: Duration::from_secs(1),
            max_batch: 1024,
            per_connection: RowLimit::default(),
            forward: None,
        }
    }
}

#[cfg(test)]
mod tests;
