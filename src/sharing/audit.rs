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

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use parking_lot::Mutex;

use super::audit_limit::RowLimit;
use crate::error::{Error, Result};
use crate::protocol::escape;

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
        }
    }
}

/// Where the logger writes: a file, or memory in tests.
pub trait Sink: Write + Send + 'static {
    /// Makes everything written so far durable (`fsync` for a file).
    fn sync(&mut self) -> io::Result<()>;
}

impl Sink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

enum Message {
    Event(AuditEvent),
    /// Write what is left, fsync, and end the thread.
    Stop,
}

/// Counters shared by the senders and the logger; atomics, so counting never waits.
#[derive(Default)]
struct Counters {
    /// Events that never reached the logger (the channel stayed full, or was closed).
    dropped: AtomicU64,
    /// Rows the logger has written (and flushed, unless a write failed).
    written: AtomicU64,
    /// Writes or fsyncs of the audit file that failed.
    failures: AtomicU64,
    /// Rows withheld because their connection was over its row budget.
    limited: AtomicU64,
}

/// The sending side of the audit log, held in `server::Shared`.
pub struct AuditLog {
    sender: Sender<Message>,
    send_timeout: Duration,
    counters: Arc<Counters>,
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
        let logger = Logger {
            receiver,
            sink,
            pending: Vec::with_capacity(64 * 1024),
            counters: counters.clone(),
            options: options.clone(),
            reported_drops: 0,
        };
        let thread = thread::Builder::new()
            .name("audit".into())
            .spawn(move || logger.run())?;
        Ok(AuditLog {
            sender,
            send_timeout: options.send_timeout,
            counters,
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

/// Opens the audit file for appending, with a header if it is new. A last row cut
/// short by a crash is ended with a newline, so the next row starts on its own line.
/// A new file whose header cannot be written (a full disk) is deleted again: an empty
/// `audit.csv` is never left behind to be read as a table without its columns.
fn open_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let empty = file.metadata()?.len() == 0;
    prepare_file(path, file, empty).inspect_err(|_| {
        if empty {
            let _ = std::fs::remove_file(path);
        }
    })
}

/// Writes the header of an empty audit file, or closes a row cut short, and syncs.
fn prepare_file(path: &Path, mut file: File, empty: bool) -> io::Result<File> {
    if empty {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(COLUMNS)?;
        let header = header
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        file.write_all(&header)?;
    } else {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            log::warn!(
                "{}: the last row was cut short (a crash?); closing it",
                path.display()
            );
            // In append mode, writes go to the end whatever the read position.
            file.write_all(b"\n")?;
        }
    }
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        crate::storage::snapshot::sync_dir(dir)?;
    }
    Ok(file)
}

/// An event's cells as `audit.csv` holds them. The file is opened in spreadsheets and
/// terminals, and its arguments are whatever a client sent (even a request refused for
/// what it held), so each cell is escaped for both: control and bidirectional
/// characters as `\u{1b}`, and `'` before a cell that would start a formula (`=1+2`
/// becomes `'=1+2`; see `protocol::escape::for_spreadsheet`).
fn cells(event: &AuditEvent) -> [Cow<'_, str>; 6] {
    event.fields().map(escape::for_spreadsheet)
}

/// The logger thread's state.
struct Logger<S: Sink> {
    receiver: Receiver<Message>,
    sink: S,
    /// The rows of the current batch, encoded as CSV, written to the sink in one go.
    pending: Vec<u8>,
    counters: Arc<Counters>,
    options: AuditOptions,
    /// How many drops the file already has an `AUDIT_DROPPED` row for.
    reported_drops: u64,
}

impl<S: Sink> Logger<S> {
    fn run(mut self) {
        // Rows flushed but not yet fsynced, and when the last fsync ran.
        let mut unsynced = false;
        let mut last_sync: Option<Instant> = None;
        let mut stopping = false;
        while !stopping {
            // Wait for the next event; with rows awaiting their fsync, wake in time for it.
            let first = if unsynced {
                let waited = last_sync.map_or(Duration::MAX, |t| t.elapsed());
                match self
                    .receiver
                    .recv_timeout(self.options.sync_every.saturating_sub(waited))
                {
                    Ok(message) => Some(message),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        stopping = true;
                        None
                    }
                }
            } else {
                match self.receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => {
                        stopping = true;
                        None
                    }
                }
            };
            // Take everything already waiting as one batch.
            let mut batch = 0;
            let mut next = first;
            while let Some(message) = next {
                match message {
                    Message::Event(event) => {
                        self.write(&event);
                        batch += 1;
                    }
                    Message::Stop => stopping = true,
                }
                if stopping || batch >= self.options.max_batch {
                    break;
                }
                next = self.receiver.try_recv().ok();
            }
            if stopping {
                // Anything sent after Stop (a straggler) is still written.
                while let Ok(Message::Event(event)) = self.receiver.try_recv() {
                    self.write(&event);
                    batch += 1;
                }
            }
            if self.report_drops() {
                batch += 1;
            }
            if batch > 0 {
                self.flush(batch as u64);
                unsynced = true;
            }
            let due = last_sync.is_none_or(|t| t.elapsed() >= self.options.sync_every);
            if unsynced && (due || stopping) {
                match self.sink.sync() {
                    Ok(()) => unsynced = false,
                    Err(e) => self.failed("fsync", &e),
                }
                last_sync = Some(Instant::now());
            }
        }
    }

    /// Encodes one row into the batch (the csv crate quotes commas, quotes, newlines).
    fn write(&mut self, event: &AuditEvent) {
        let mut row = csv::WriterBuilder::new()
            .has_headers(false)
            .buffer_capacity(512)
            .from_writer(&mut self.pending);
        // Writing into a Vec cannot fail.
        let _ = row.write_record(cells(event).iter().map(|cell| cell.as_bytes()));
    }

    /// Writes the batch's rows to the file with one `write`, so that they are out of
    /// this process (and safe from its crash) before the next batch starts.
    fn flush(&mut self, rows: u64) {
        let result = self
            .sink
            .write_all(&self.pending)
            .and_then(|()| self.sink.flush());
        self.pending.clear();
        match result {
            Ok(()) => {
                self.counters.written.fetch_add(rows, Ordering::AcqRel);
            }
            // The rows are lost (a retry could duplicate a partial write); say so.
            Err(e) => self.failed(&format!("writing {rows} rows"), &e),
        }
    }

    /// Writes an `AUDIT_DROPPED` row if events were dropped since the last one.
    fn report_drops(&mut self) -> bool {
        let dropped = self.counters.dropped.load(Ordering::Acquire);
        if dropped <= self.reported_drops {
            return false;
        }
        let lost = dropped - self.reported_drops;
        self.reported_drops = dropped;
        self.write(&AuditEvent::now(
            "",
            "",
            "AUDIT_DROPPED",
            format!("{lost} events lost: the audit channel was full"),
            "WARN",
        ));
        true
    }

    fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        let failures = self.counters.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures.is_power_of_two() {
            log::error!("audit: {what} failed ({failures} failures so far): {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink in memory that records which thread wrote, and can be held shut.
    #[derive(Clone, Default)]
    struct Memory {
        bytes: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Mutex<()>>,
        syncs: Arc<AtomicU64>,
        writers: Arc<Mutex<Vec<String>>>,
    }

    impl Write for Memory {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _open = self.gate.lock();
            let name = thread::current().name().unwrap_or("?").to_string();
            self.writers.lock().push(name);
            self.bytes.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Memory {
        fn sync(&mut self) -> io::Result<()> {
            self.syncs.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }
    }

    impl Memory {
        fn rows(&self) -> Vec<Vec<String>> {
            let bytes = self.bytes.lock().clone();
            csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(bytes.as_slice())
                .records()
                .map(|r| r.unwrap().iter().map(str::to_string).collect())
                .collect()
        }
    }

    fn event(n: usize) -> AuditEvent {
        AuditEvent::now(
            "alice",
            "127.0.0.1:5000",
            "PUBLISH",
            format!("\"file {n}, ç.txt\" \"a description\""),
            "OK",
        )
    }

    #[test]
    fn every_event_is_written_in_order_by_the_audit_thread() {
        let sink = Memory::default();
        let log = AuditLog::start(sink.clone(), AuditOptions::default()).unwrap();
        for n in 0..500 {
            log.record(event(n));
        }
        log.shutdown();
        let rows = sink.rows();
        assert_eq!(rows.len(), 500);
        for (n, row) in rows.iter().enumerate() {
            assert_eq!(row[4], format!("\"file {n}, ç.txt\" \"a description\""));
            assert_eq!(&row[1..4], ["alice", "127.0.0.1:5000", "PUBLISH"]);
        }
        assert!(sink.writers.lock().iter().all(|name| name == "audit"));
        assert!(sink.syncs.load(Ordering::Acquire) >= 1, "fsync at shutdown");
        assert_eq!((log.written(), log.dropped()), (500, 0));
    }

    #[test]
    fn a_full_channel_drops_counts_and_marks_the_gap() {
        let sink = Memory::default();
        let options = AuditOptions {
            capacity: 2,
            send_timeout: Duration::from_millis(1),
            max_batch: 16,
            ..AuditOptions::default()
        };
        let log = AuditLog::start(sink.clone(), options).unwrap();
        // Hold the disk shut: the logger can take at most one batch and block on it,
        // and the channel holds two more; every other event must be dropped.
        let shut = sink.gate.lock();
        for n in 0..100 {
            log.record(event(n));
        }
        drop(shut);
        log.shutdown();
        let dropped = log.dropped();
        assert!(dropped >= 100 - 16 - 2, "dropped {dropped}");
        let rows = sink.rows();
        let events = rows.iter().filter(|r| r[3] == "PUBLISH").count() as u64;
        assert_eq!(events + dropped, 100, "every event is written or counted");
        let gaps: u64 = rows
            .iter()
            .filter(|r| r[3] == "AUDIT_DROPPED")
            .map(|r| r[4].split(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(gaps, dropped, "the file says how many were lost");
    }

    #[test]
    fn cells_are_written_so_that_a_spreadsheet_runs_no_formula() {
        let sink = Memory::default();
        let log = AuditLog::start(sink.clone(), AuditOptions::default()).unwrap();
        for arguments in [
            "=1+2 x",
            "+x",
            "-1+1",
            "@SUM(A1)",
            "\u{1b}[2J\u{202e}",
            "ok.txt x",
        ] {
            log.record(AuditEvent::now(
                "alice",
                "127.0.0.1:5000",
                "PUBLISH",
                arguments.into(),
                "OK",
            ));
        }
        log.shutdown();
        let written: Vec<String> = sink.rows().into_iter().map(|row| row[4].clone()).collect();
        assert_eq!(
            written,
            [
                "'=1+2 x",
                "'+x",
                "'-1+1",
                "'@SUM(A1)",
                r"\u{1b}[2J\u{202e}",
                "ok.txt x"
            ]
        );
    }

    #[test]
    fn events_after_shutdown_are_counted_not_lost_silently() {
        let sink = Memory::default();
        let log = AuditLog::start(sink.clone(), AuditOptions::default()).unwrap();
        log.shutdown();
        log.shutdown();
        log.record(event(1));
        assert_eq!(log.dropped(), 1);
        assert!(sink.rows().is_empty());
    }

    #[test]
    fn the_file_gets_a_header_once_and_a_torn_row_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), AuditOptions::default()).unwrap();
        log.record(event(1));
        drop(log);
        let path = dir.path().join(FILE_NAME);
        // A crash in the middle of a row.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2026-11-27T15:00:00Z,ali").unwrap();
        drop(file);
        let log = AuditLog::open(dir.path(), AuditOptions::default()).unwrap();
        log.record(event(2));
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[2], "2026-11-27T15:00:00Z,ali");
        assert!(lines[3].ends_with(",PUBLISH,\"\"\"file 2, ç.txt\"\" \"\"a description\"\"\",OK"));
    }
}
