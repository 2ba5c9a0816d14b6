//! The `audit` thread: it takes events off the channel in batches, writes them to
//! `audit.csv` (the only code that touches the file), flushes each batch, fsyncs at
//! most once a second, and marks every gap with an `AUDIT_DROPPED` row. With a log
//! server, it also offers each event to the forwarder (`forward`).

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{AuditEvent, AuditOptions, COLUMNS};
use crate::protocol::escape;

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

/// What the senders put on the channel.
pub(super) enum Message {
    Event(AuditEvent),
    /// Write what is left, fsync, and end the thread.
    Stop,
}

/// Counters shared by the senders and the logger; atomics, so counting never waits.
#[derive(Default)]
pub(super) struct Counters {
    /// Events that never reached the logger (the channel stayed full, or was closed).
    pub(super) dropped: AtomicU64,
    /// Rows the logger has written (and flushed, unless a write failed).
    pub(super) written: AtomicU64,
    /// Writes or fsyncs of the audit file that failed.
    pub(super) failures: AtomicU64,
    /// Rows withheld because their connection was over its row budget.
    pub(super) limited: AtomicU64,
}

/// Opens the audit file for appending, with a header if it is new. A last row cut
/// short by a crash is ended with a newline, so the next row starts on its own line.
/// A new file whose header cannot be written (a full disk) is deleted again: an empty
/// `audit.csv` is never left behind to be read as a table without its columns.
pub(super) fn open_file(path: &Path) -> io::Result<File> {
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
pub(super) struct Logger<S: Sink> {
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
    /// The logger of the channel `receiver`, writing to `sink`.
    pub(super) fn new(
        receiver: Receiver<Message>,
        sink: S,
        counters: Arc<Counters>,
        options: AuditOptions,
    ) -> Logger<S> {
        Logger {
            receiver,
            sink,
            pending: Vec::with_capacity(64 * 1024),
            counters,
            options,
            reported_drops: 0,
        }
    }

    /// Writes events as they come, until [`Message::Stop`] (see the module doc of
    /// `audit`: batches, flushes, fsyncs at most once a second).
    pub(super) fn run(mut self) {
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

    /// Encodes one row into the batch (the csv crate quotes commas, quotes, newlines),
    /// and offers a copy to the log server, if there is one (never waiting: `forward`).
    fn write(&mut self, event: &AuditEvent) {
        if let Some(forward) = &self.options.forward {
            forward.offer(event);
        }
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
