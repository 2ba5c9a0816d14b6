//! The journal: one CSV file of committed transactions, one line each, made durable
//! before anyone hears of them.
//!
//! A line is one transaction:
//!
//! ```text
//! checksum,table,op,count,field...,table,op,count,field...
//! b5f5731db4bb3646,products,put,3,Caju,2.50,79,orders,put,8,12,alice,2,Caju,1,2.50,2.50,2026-11-27T15:00:00Z
//! ```
//!
//! `op` is `put` (insert or replace the whole row: replaying it twice is harmless) or
//! `del` (its one field is the key). The checksum (FNV-1a, 64 bits) covers every other
//! field, so a line cut short by a crash is recognised even when what is left of it
//! still looks like CSV.
//!
//! # Writing a line, then waiting until it is durable
//!
//! [`Journal::commit`] only *writes* the line (a fast `pwrite`, into the page cache),
//! under the writer lock, while the caller holds its tables' locks. The caller then
//! releases them, and [`Journal::wait_durable`] returns once an `fsync` that began
//! after the line was written has returned (src/storage/durability.rs). So no lock is
//! held across an fsync. [`Journal::when_durable`] is the same wait without a sleeping
//! thread: it runs a piece of work (the server's: send the reply) once the line is
//! durable.
//!
//! That is the plain journal: each line written at the end of the last, each waiter
//! running its own fsync. Two speed layers make it faster, both on by default:
//!
//! - **Group commit** ([`group_commit`]): one fsync covers every line written before
//!   it began and wakes exactly the waiters it covered; under load a committer thread
//!   runs them back to back. Fifty clients paying at the same moment share a few
//!   fsyncs. `--group-commit off` switches it off.
//! - **Zero padding** ([`padding`]): the file is grown ahead of the lines with real
//!   zeros, and each line is written *in place* over them, so that an fsync need not
//!   commit a new file size. So the journal ends at the file's last byte that is not
//!   zero, not at the end of the file. At start-up the file is cut back to its last
//!   good line (padding included); the first commit grows it again. `--prezero off`
//!   switches it off: every line then grows the file, as an append would.
//!
//! # The pieces
//!
//! - this file: the [`Journal`], and writing a transaction's line ([`Journal::commit`])
//!   and waiting until it is durable;
//! - `recovery`: reading the journal back at start-up ([`Journal::open`]);
//! - `rotation`: setting it aside for a checkpoint ([`Journal::rotate`]) and making its
//!   next file ahead ([`Journal::prepare_next`]).
//!
//! [`group_commit`]: super::group_commit
//! [`padding`]: super::padding

// Reading the journal back at start-up (`Journal::open`).
mod recovery;
// Setting it aside for a checkpoint, and making its next file ahead.
mod rotation;

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::csv_field::CsvEncoding;
use super::durability::Durability;
use super::line::LineEncoder;
use super::padding::{Padding, write_zeros};
use super::refused_writes::RefusedWrites;
use super::sync_state::WhenDurable;
use super::{Layers, LockStats};
use crate::error::{Error, Result};

/// The name of a journal set aside by a checkpoint ([`Journal::rotate`]).
const OLD_JOURNAL: &str = "journal.old.csv";

/// The name of the file the next rotation switches to ([`Journal::prepare_next`]).
const NEXT_JOURNAL: &str = "journal.next.csv";

/// The header row of the journal file.
const HEADER: &str = "checksum,table,op,count,fields\n";

/// One change to one row, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert or replace the row with these fields.
    Put { table: String, fields: Vec<String> },
    /// Delete the row with this key.
    Delete { table: String, key: String },
}

impl Change {
    /// The table this change is for.
    pub fn table(&self) -> &str {
        match self {
            Change::Put { table, .. } | Change::Delete { table, .. } => table,
        }
    }
}

/// One committed transaction read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The line it was read from, for error messages.
    pub line: u64,
    /// Every change of the transaction, applied together at replay.
    pub changes: Vec<Change>,
}

/// A table guard with changes waiting to be committed (see [`TableWrite`](super::TableWrite)).
pub trait Staged {
    /// Writes the staged changes into the transaction's journal line.
    fn encode_staged(&self, line: &mut LineEncoder<'_>);
    /// Makes the staged changes visible in memory (after the journal accepted them).
    fn apply_staged(&mut self);
    /// Forgets the staged changes (the journal refused them).
    fn discard_staged(&mut self);
}

/// Proof that a transaction was written; pass it to [`Journal::wait_durable`].
///
/// It holds the line's sequence number: lines become durable in order, so "is ticket
/// 41 durable?" is one comparison with the last line synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// The append-only journal of one data directory.
pub struct Journal {
    /// `journal.csv` in the data directory: named in errors, renamed by a rotation.
    path: PathBuf,
    /// The file as written by commits, its padded size, and the bytes reused to encode
    /// a line. Lock order: always taken *after* the table locks, and held only for one
    /// `write` (and, now and then, the zeros that grow the file).
    writer: Mutex<Writer>,
    /// Sequence numbers of the lines written and synced, and who runs the fsyncs (on a
    /// second handle on the same file): each waiter, or group commit.
    durability: Durability,
    /// Which speed layers are on (`--group-commit`, `--prezero`, `--csv`).
    layers: Layers,
    /// Fault injection for tests: the next N writes fail half-way, as if the disk were
    /// full (see [`Journal::write_at`]).
    failing_writes: AtomicU32,
    /// The journal's length in bytes: where its last line ends and the next one will
    /// be written. The file is bigger (zero padding); this decides when to checkpoint.
    len: AtomicU64,
    /// How many times [`Journal::rotate`] has switched to a new file: each value names
    /// one journal file (the database makes one next file per journal file).
    rotations: AtomicU64,
    /// The file's size, zeros included (the writer's padding, readable without its lock).
    capacity: AtomicU64,
    /// The journal file (its number of rotations) for which the next file was tried, and
    /// for which it is ready ([`Journal::prepare_next`]): one try per file, so that a
    /// full disk is not asked again at every write.
    next_tried_for: AtomicU64,
    next_ready_for: AtomicU64,
    /// How often the writer lock was contended, for STATS.
    stats: LockStats,
}

/// What only the thread holding the writer lock touches: the file as written, and the
/// buffer a line is encoded in.
struct Writer {
    /// Opened for writing, not appending: every write says where it goes.
    file: File,
    /// The line being written, reused from one commit to the next: no allocation per
    /// transaction while the tables' locks are held.
    line: Vec<u8>,
    /// How the line is encoded (`--csv`).
    csv: CsvEncoding,
    /// The zeros after the lines: how far the file reaches (see [`padding`]). `None`
    /// with `--prezero off`: the file ends where the lines end, and each line grows it.
    padding: Option<Padding>,
    /// How much room an emptied journal is given at once (see [`Journal::keep_room`]).
    room: u64,
    /// The writes refused lately, so that a full disk is logged in a few lines.
    refused: RefusedWrites,
}

impl Writer {
    /// Makes sure the file holds zeros up to `end` (see [`Padding::make_room`]). Without
    /// padding there is nothing to do: the line's own write grows the file.
    fn make_room(&mut self, end: u64) -> io::Result<()> {
        match &mut self.padding {
            Some(padding) => padding.make_room(&self.file, end),
            None => Ok(()),
        }
    }

    /// The file's size, zeros included, when the lines end at `len`.
    fn capacity(&self, len: u64) -> u64 {
        self.padding.as_ref().map_or(len, Padding::capacity)
    }

    /// Wipes what a failed write may have left of a line in `range`, so that the next
    /// line, written at the same place, is not followed by the end of this one: zeros
    /// back over it, or, without padding, the file cut back to where the line began.
    fn wipe(&self, range: std::ops::Range<u64>) -> io::Result<()> {
        match self.padding {
            Some(_) => write_zeros(&self.file, range),
            None => self.file.set_len(range.start),
        }
    }

    /// [`Writer::make_room`] ahead of need: if the disk has no room for the zeros now,
    /// nothing is lost, the file grows when a line needs it.
    fn make_room_or_warn(&mut self, end: u64) {
        if let Err(e) = self.make_room(end) {
            log::warn!(
                "cannot zero the journal up to {end} bytes ahead of its lines ({e}); it will grow as they come"
            );
        }
    }
}

impl Journal {
    /// Writes the staged changes of these tables as one line, then applies them in
    /// memory. On failure nothing is applied: memory never runs ahead of the disk.
    ///
    /// The caller holds the tables' write locks (that is how it has `&mut` guards), so
    /// the order of lines in the journal is the order of the changes in memory.
    pub fn commit(&self, tables: &mut [&mut dyn Staged]) -> Result<Ticket> {
        // The disk first: memory changes only once the line is written.
        let result = self.write_line(tables);
        // Every table of the transaction, or none: one line holds all their changes.
        for table in tables.iter_mut() {
            match result {
                Ok(_) => table.apply_staged(),
                Err(_) => table.discard_staged(),
            }
        }
        result
    }

    /// Encodes the tables' staged changes as one line and writes it, under the writer
    /// lock; logs a run of refused writes after releasing it.
    fn write_line(&self, tables: &[&mut dyn Staged]) -> Result<Ticket> {
        // Lock order: the caller holds its table locks; the writer lock comes last.
        let mut writer = self.lock_writer();
        let csv = writer.csv;
        // Encoded under the writer lock, into the one reused buffer.
        let mut line = LineEncoder::start(&mut writer.line, csv);
        for table in tables {
            table.encode_staged(&mut line);
        }
        // Nothing staged (a request that changed nothing): no line, but a ticket for
        // what was written before, which the caller may have read.
        if line.changes() == 0 {
            return Ok(self.latest());
        }
        // The checksum goes in front, over every field (src/storage/line.rs).
        line.finish();
        let written = self.write_encoded(&mut writer);
        // A full disk refuses every write: say so in a few lines, not one each.
        let report = match &written {
            Ok(_) => writer.refused.succeeded(),
            Err(_) => writer.refused.refused(Instant::now()),
        };
        // Logging takes time: not while every writer waits for this lock.
        drop(writer);
        if let Some(report) = report {
            report.log(written.as_ref().err());
        }
        written
    }

    /// Writes the line encoded in `writer` at the journal's end.
    fn write_encoded(&self, writer: &mut Writer) -> Result<Ticket> {
        // After a failed fsync nothing new may be acknowledged: refuse before writing.
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        // The line goes where the last one ended (over zeros, with padding).
        let at = self.len.load(Ordering::Acquire);
        let end = at + writer.line.len() as u64;
        // If growing fails, no byte of the line was written: nothing to undo.
        let grown = writer.make_room(end);
        // The file's size as it stands, grown or not, for readers without the lock.
        self.capacity.store(writer.capacity(at), Ordering::Release);
        grown.map_err(|e| Error::io(&self.path, e))?;
        if let Err(e) = self.write_at(writer, at) {
            // Part of the line may be in the file, and the next line will be written at
            // the same place: if it were shorter, the end of this one would follow it.
            // Wipe it; if even that fails, stop writing.
            if writer.wipe(at..end).is_err() {
                self.durability.poison();
            }
            return Err(Error::io(&self.path, e));
        }
        // The line is whole: the next one goes after it, and the checkpoint policy
        // (`upkeep`) sees the new length without taking this lock.
        self.len.store(end, Ordering::Release);
        self.capacity.store(writer.capacity(end), Ordering::Release);
        // Still under the writer lock, so sequence numbers follow the file's order.
        Ok(Ticket(self.durability.wrote_line()))
    }

    /// Writes the encoded line at `at`. Under fault injection it writes the first half
    /// and then fails, like a disk that fills up in the middle of a write.
    fn write_at(&self, writer: &Writer, at: u64) -> io::Result<()> {
        // Counts down atomically, so each of the N injected failures is used once.
        let injected = self
            .failing_writes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if injected {
            let half = &writer.line[..writer.line.len() / 2];
            writer.file.write_all_at(half, at)?;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected write failure",
            ));
        }
        // `pwrite` at the line's place: with padding, over the zeros there.
        writer.file.write_all_at(&writer.line, at)
    }

    /// Returns once the transaction with this ticket, and every one before it, is on
    /// disk: after an fsync of this thread's own, or, with group commit, one it shares.
    pub fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        // `false`: an fsync failed, and the line may never reach the disk.
        if self.durability.wait(ticket.0) {
            Ok(())
        } else {
            Err(Error::Poisoned)
        }
    }

    /// Runs `then` once the transaction with this ticket, and every one before it, is
    /// on disk (or once it is known that it never will be). It may run at once on this
    /// thread, or, with group commit, later on the thread that runs the fsync (see
    /// [`GroupCommit::when_durable`](super::group_commit::GroupCommit::when_durable)):
    /// it must be quick and must never block.
    pub fn when_durable(&self, ticket: Ticket, then: Arc<dyn WhenDurable>) {
        self.durability.when_durable(ticket.0, then);
    }

    /// Is the transaction with this ticket, and every one before it, on disk already?
    pub fn is_durable(&self, ticket: Ticket) -> bool {
        self.durability.is_durable(ticket.0)
    }

    /// A ticket for everything written so far: waiting on it makes every change that a
    /// reader could have seen durable.
    pub fn latest(&self) -> Ticket {
        Ticket(self.durability.written())
    }

    /// Gives the journal `bytes` of zero padding now, and again each time a checkpoint
    /// starts a new journal file without one made ahead ([`Journal::rotate`]): room for
    /// that many bytes of lines to be written in place before the file has to grow. The
    /// database gives it a small room (512 KiB: a 1 MiB file, a millisecond or two to
    /// write) and makes a busy journal's next file ahead with more
    /// ([`Journal::prepare_next`]). Without padding (`--prezero off`) it does nothing.
    pub fn keep_room(&self, bytes: u64) {
        let mut writer = self.lock_writer();
        // Remembered for the files a rotation makes without one made ahead.
        writer.room = bytes;
        let len = self.len_bytes();
        // Ahead of need: a disk without room now only means the file grows later.
        writer.make_room_or_warn(len + bytes);
        self.capacity.store(writer.capacity(len), Ordering::Release);
    }

    /// The journal file's size, zeros included: how far its lines can go before it has
    /// to grow.
    pub fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Acquire)
    }

    /// The data directory: `journal.csv` and the files a checkpoint sets beside it.
    fn dir(&self) -> &Path {
        // `journal.csv` always has a parent; "." only keeps this free of `unwrap`.
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The journal's length in bytes, up to the end of its last line (the file is
    /// bigger: see the zero padding in the module doc).
    pub fn len_bytes(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// How many lines (transactions) have been written since the journal was opened;
    /// against [`Journal::fsync_count`], how many lines each fsync covered on average.
    pub fn lines_written(&self) -> u64 {
        self.durability.written()
    }

    /// How many fsyncs the journal has run.
    pub fn fsync_count(&self) -> u64 {
        self.durability.fsync_count()
    }

    /// Which speed layers this journal runs with.
    pub fn layers(&self) -> Layers {
        self.layers
    }

    /// Has an fsync failed? Then writes are refused until a restart.
    pub fn is_poisoned(&self) -> bool {
        self.durability.is_poisoned()
    }

    /// Fault injection for tests: the next `n` writes fail as if the disk were full,
    /// each after writing half its line (which the journal must then wipe).
    pub fn fail_next_writes(&self, n: u32) {
        self.failing_writes.store(n, Ordering::Release);
    }

    /// The writer lock's contention counters.
    pub fn lock_stats(&self) -> &LockStats {
        &self.stats
    }

    /// Takes the writer lock, counting whether it had to wait (for STATS).
    fn lock_writer(&self) -> parking_lot::MutexGuard<'_, Writer> {
        // A `try_lock` first: only a lock that was busy is timed as a wait.
        self.stats
            .acquire(|| self.writer.try_lock(), || self.writer.lock())
    }
}

#[cfg(test)]
mod tests;
