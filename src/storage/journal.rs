//! The journal: one CSV file of committed transactions, written line after line into
//! zero padding, with group commit.
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
//! # Zero padding: why the file is bigger than the journal
//!
//! The file is grown ahead of the lines with real zeros, and each line is written *in
//! place* over them, so that an fsync need not commit a new file size (see
//! [`padding`], which also says how much room a file gets). So the journal ends at the
//! file's last byte that is not zero, not at the end of the file. At start-up the file
//! is cut back to its last good line (padding included); the first commit grows it
//! again.
//!
//! # Group commit
//!
//! [`Journal::commit`] only *writes* the line (a fast `pwrite`), under
//! the writer lock. [`Journal::wait_durable`] then waits until it is durable: each
//! `fsync` covers every line written before it began and wakes exactly the waiters it
//! covered; under load a committer thread runs them back to back (see
//! [`group_commit`]). Fifty clients paying at the same moment share a few fsyncs.
//! [`Journal::when_durable`] is the same wait without a sleeping thread: it runs a
//! piece of work (the server's: send the reply) once the line is durable.
//!
//! [`group_commit`]: super::group_commit
//! [`padding`]: super::padding

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::LockStats;
use super::group_commit::{GroupCommit, WhenDurable};
use super::line::{LineEncoder, checksum};
use super::padding::{self, Padding, Standing, Upkeep, write_zeros};
use super::refused_writes::RefusedWrites;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// The append-only journal of one data directory.
pub struct Journal {
    path: PathBuf,
    /// The file as written by commits, its padded size, and the bytes reused to encode
    /// a line. Lock order: always taken *after* the table locks, and held only for one
    /// `write` (and, now and then, the zeros that grow the file).
    writer: Mutex<Writer>,
    /// Sequence numbers of the lines written and synced, and who runs the next
    /// fsync (on a second handle on the same file) while the others wait.
    durability: GroupCommit,
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
    stats: LockStats,
}

struct Writer {
    /// Opened for writing, not appending: every write says where it goes.
    file: File,
    line: Vec<u8>,
    /// The zeros after the lines: how far the file reaches (see [`padding`]).
    padding: Padding,
    /// How much room an emptied journal is given at once (see [`Journal::keep_room`]).
    room: u64,
    /// The writes refused lately, so that a full disk is logged in a few lines.
    refused: RefusedWrites,
}

impl Writer {
    /// Makes sure the file holds zeros up to `end` (see [`Padding::make_room`]).
    fn make_room(&mut self, end: u64) -> io::Result<()> {
        self.padding.make_room(&self.file, end)
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
    /// Opens (or creates) the journal and reads back its committed transactions.
    ///
    /// The zero padding at the end is not read. A torn end (the crash happened before
    /// the lines there were fsynced, so none of them was acknowledged) is cut off the
    /// file, with a warning. Damage anywhere else is an error: the server must not
    /// start on data it cannot trust.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<JournalEntry>)> {
        let path = dir.join("journal.csv");
        // A checkpoint that did not finish leaves the journal it set aside: its lines
        // come first (see `Journal::rotate`).
        let old = read(&dir.join(OLD_JOURNAL))?;
        // A next file left by an earlier run holds no lines (and one it was making when
        // it crashed, not all its zeros): start without one.
        padding::remove_zeroed_file(dir, NEXT_JOURNAL)
            .map_err(|e| Error::io(dir.join(NEXT_JOURNAL), e))?;
        let Contents {
            entries,
            good_len,
            torn,
        } = read(&path)?;
        let entries = old.entries.into_iter().chain(entries).collect();
        if torn > 0 {
            log::warn!(
                "{}: dropping the torn end ({torn} bytes after the last good line) left by a crash; it was never acknowledged",
                path.display()
            );
        }
        let io_err = |e| Error::io(&path, e);
        // Not `append`: lines are written at their place, into the padding.
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        // Cut the file back to its good lines: the torn line goes, and so does the
        // padding (the first commit grows the file again).
        let mut len = good_len;
        if good_len == 0 {
            file.set_len(0).map_err(io_err)?;
            file.write_all_at(HEADER.as_bytes(), 0).map_err(io_err)?;
            len = HEADER.len() as u64;
        } else {
            file.set_len(good_len).map_err(io_err)?;
        }
        file.sync_all().map_err(io_err)?;
        super::snapshot::sync_dir(dir).map_err(io_err)?;
        let durability = GroupCommit::start(file.try_clone().map_err(io_err)?).map_err(io_err)?;
        let journal = Journal {
            path,
            writer: Mutex::new(Writer {
                file,
                line: Vec::with_capacity(512),
                padding: Padding::new(len),
                room: 0,
                refused: RefusedWrites::default(),
            }),
            durability,
            failing_writes: AtomicU32::new(0),
            len: AtomicU64::new(len),
            rotations: AtomicU64::new(0),
            capacity: AtomicU64::new(len),
            next_tried_for: AtomicU64::new(u64::MAX),
            next_ready_for: AtomicU64::new(u64::MAX),
            stats: LockStats::default(),
        };
        Ok((journal, entries))
    }

    /// Writes the staged changes of these tables as one line, then applies them in
    /// memory. On failure nothing is applied: memory never runs ahead of the disk.
    ///
    /// The caller holds the tables' write locks (that is how it has `&mut` guards), so
    /// the order of lines in the journal is the order of the changes in memory.
    pub fn commit(&self, tables: &mut [&mut dyn Staged]) -> Result<Ticket> {
        let result = self.write_line(tables);
        for table in tables.iter_mut() {
            match result {
                Ok(_) => table.apply_staged(),
                Err(_) => table.discard_staged(),
            }
        }
        result
    }

    fn write_line(&self, tables: &[&mut dyn Staged]) -> Result<Ticket> {
        let mut writer = self.lock_writer();
        let mut line = LineEncoder::start(&mut writer.line);
        for table in tables {
            table.encode_staged(&mut line);
        }
        if line.changes() == 0 {
            return Ok(self.latest());
        }
        line.finish();
        let written = self.write_encoded(&mut writer);
        // A full disk refuses every write: say so in a few lines, not one each.
        let report = match &written {
            Ok(_) => writer.refused.succeeded(),
            Err(_) => writer.refused.refused(Instant::now()),
        };
        drop(writer);
        if let Some(report) = report {
            report.log(written.as_ref().err());
        }
        written
    }

    /// Writes the line encoded in `writer` at the journal's end.
    fn write_encoded(&self, writer: &mut Writer) -> Result<Ticket> {
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        // The line goes where the last one ended, over zeros.
        let at = self.len.load(Ordering::Acquire);
        let end = at + writer.line.len() as u64;
        // If growing fails, no byte of the line was written: nothing to undo.
        let grown = writer.make_room(end);
        self.capacity
            .store(writer.padding.capacity(), Ordering::Release);
        grown.map_err(|e| Error::io(&self.path, e))?;
        if let Err(e) = self.write_at(writer, at) {
            // Part of the line may be in the file, and the next line will be written at
            // the same place: if it were shorter, the end of this one would follow it.
            // Put the zeros back; if even that fails, stop writing.
            if write_zeros(&writer.file, at..end).is_err() {
                self.durability.poison();
            }
            return Err(Error::io(&self.path, e));
        }
        self.len.store(end, Ordering::Release);
        // Still under the writer lock, so sequence numbers follow the file's order.
        Ok(Ticket(self.durability.wrote_line()))
    }

    /// Writes the encoded line at `at`. Under fault injection it writes the first half
    /// and then fails, like a disk that fills up in the middle of a write.
    fn write_at(&self, writer: &Writer, at: u64) -> io::Result<()> {
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
        writer.file.write_all_at(&writer.line, at)
    }

    /// Returns once the transaction with this ticket, and every one before it, is on disk.
    pub fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        if self.durability.wait(ticket.0) {
            Ok(())
        } else {
            Err(Error::Poisoned)
        }
    }

    /// Runs `then` once the transaction with this ticket, and every one before it, is
    /// on disk (or once it is known that it never will be). It may run at once on this
    /// thread, or later on the thread that runs the fsync (see
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

    /// Sets the journal's lines aside for a checkpoint: they are fsynced, the file is
    /// renamed `journal.old.csv`, and new lines go to a new, empty `journal.csv`. Takes
    /// only the writer lock, for a few milliseconds: writers carry on right after.
    ///
    /// Why a checkpoint needs this: it writes each table's snapshot while writers go on
    /// changing the tables, so a snapshot holds every change up to the rotation and
    /// perhaps some after it. Every change after it is in the new journal, and a change
    /// is a whole row put or deleted, so replaying the new journal over such a snapshot
    /// gives exactly the tables' state (replaying a change the snapshot already holds
    /// writes the same row again). Once every snapshot is durable, [`Journal::drop_old`]
    /// deletes the old journal; until then a restart replays the old journal, then the
    /// new one, over whatever snapshots it finds, with the same result.
    ///
    /// If a journal set aside by an earlier checkpoint is still there (that checkpoint
    /// failed), it is kept and the current journal is not rotated: this checkpoint's
    /// snapshots will cover the old lines, and the current ones stay in the journal.
    pub fn rotate(&self) -> Result<()> {
        let dir = self.dir();
        let old = dir.join(OLD_JOURNAL);
        let mut writer = self.lock_writer();
        if old.exists() {
            log::warn!(
                "{}: set aside by an unfinished checkpoint; keeping it",
                old.display()
            );
            return Ok(());
        }
        let io_err = |e| Error::io(&self.path, e);
        // Everything written so far becomes durable, and every waiter hears so.
        if let Err(e) = writer.file.sync_data() {
            self.durability.poison();
            return Err(io_err(e));
        }
        self.durability.mark_all_synced();
        fs::rename(&self.path, &old).map_err(io_err)?;
        // The next file, zeroed ahead by `prepare_next` while nobody waited, becomes the
        // journal; without one, a new file is made here.
        let next = dir.join(NEXT_JOURNAL);
        let file = fs::rename(&next, &self.path)
            .and_then(|()| OpenOptions::new().write(true).open(&self.path))
            .or_else(|_| {
                let file = OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(&self.path)?;
                file.write_all_at(HEADER.as_bytes(), 0)?;
                file.sync_all()?;
                Ok(file)
            })
            .and_then(|file| {
                super::snapshot::sync_dir(dir)?;
                let size = file.metadata()?.len();
                Ok((file, size))
            });
        let (file, size) = match file {
            Ok(file) => file,
            Err(e) => {
                // Without a journal file to write to, nothing can be made durable.
                self.durability.poison();
                return Err(io_err(e));
            }
        };
        self.durability
            .switch_file(file.try_clone().map_err(io_err)?);
        writer.file = file;
        writer.padding = Padding::new(size.max(HEADER.len() as u64));
        self.len.store(HEADER.len() as u64, Ordering::Release);
        self.rotations.fetch_add(1, Ordering::AcqRel);
        // The journal's small room, if no next file was made ahead.
        let end = HEADER.len() as u64 + writer.room;
        writer.make_room_or_warn(end);
        self.capacity
            .store(writer.padding.capacity(), Ordering::Release);
        Ok(())
    }

    /// Makes the file the next [`Journal::rotate`] will switch to: the header, then
    /// `room` bytes of zeros, fsynced. It takes no lock while it writes (about 50 ms for
    /// 64 MiB), so the rotation itself is two renames, not a pause while the zeros are
    /// written with every writer waiting. The file is renamed into place only once
    /// whole; if the disk cannot hold it, nothing is left behind (see [`padding`]).
    pub fn prepare_next(&self, room: u64) -> Result<()> {
        let dir = self.dir();
        let file = self.rotations();
        self.next_tried_for.store(file, Ordering::Release);
        padding::zeroed_file(dir, NEXT_JOURNAL, HEADER.as_bytes(), room)
            .map_err(|e| Error::io(dir.join(NEXT_JOURNAL), e))?;
        self.next_ready_for.store(file, Ordering::Release);
        Ok(())
    }

    /// What the journal needs now that a write is done: nothing, its next file made
    /// ahead, or a checkpoint (see [`padding`]). `due` is the length at which a
    /// checkpoint is due; a file is made ahead with at most `max_room` bytes of room.
    /// Reads a few atomics: cheap enough to ask after every write.
    pub fn upkeep(&self, due: u64, max_room: u64) -> Upkeep {
        let file = self.rotations();
        padding::plan(&Standing {
            len: self.len_bytes(),
            size: self.capacity(),
            due,
            max_room,
            next_tried: self.next_tried_for.load(Ordering::Acquire) == file,
            next_ready: self.next_ready_for.load(Ordering::Acquire) == file,
        })
    }

    /// Stops [`Journal::upkeep`] from asking for an early checkpoint on this journal
    /// file (the last one failed: asking again at every write would not help).
    pub fn no_early_checkpoint(&self) {
        self.next_ready_for.store(u64::MAX, Ordering::Release);
    }

    /// How many times [`Journal::rotate`] has switched to a new file since the journal
    /// was opened.
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Acquire)
    }

    /// Deletes the journal set aside by [`Journal::rotate`]: every snapshot written
    /// since is durable, so its lines are no longer needed.
    pub fn drop_old(&self) -> Result<()> {
        let dir = self.dir();
        let old = dir.join(OLD_JOURNAL);
        match fs::remove_file(&old) {
            Ok(()) => super::snapshot::sync_dir(dir).map_err(|e| Error::io(&old, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&old, e)),
        }
    }

    /// Gives the journal `bytes` of zero padding now, and again each time a checkpoint
    /// starts a new journal file without one made ahead ([`Journal::rotate`]): room for
    /// that many bytes of lines to be written in place before the file has to grow. The
    /// database gives it a small room (512 KiB: a 1 MiB file, a millisecond or two to
    /// write) and makes a busy journal's next file ahead with more
    /// ([`Journal::prepare_next`]).
    pub fn keep_room(&self, bytes: u64) {
        let mut writer = self.lock_writer();
        writer.room = bytes;
        writer.make_room_or_warn(self.len_bytes() + bytes);
        self.capacity
            .store(writer.padding.capacity(), Ordering::Release);
    }

    /// The journal file's size, zeros included: how far its lines can go before it has
    /// to grow.
    pub fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Acquire)
    }

    /// The data directory: `journal.csv` and the files a checkpoint sets beside it.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The journal's length in bytes, up to the end of its last line (the file is
    /// bigger: see the zero padding in the module doc).
    pub fn len_bytes(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// How many fsyncs the journal has run.
    pub fn fsync_count(&self) -> u64 {
        self.durability.fsync_count()
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

    fn lock_writer(&self) -> parking_lot::MutexGuard<'_, Writer> {
        self.stats
            .acquire(|| self.writer.try_lock(), || self.writer.lock())
    }
}

/// What [`read`] found in a journal file.
struct Contents {
    entries: Vec<JournalEntry>,
    /// Where the last good line ends (0 if not even the header is whole).
    good_len: u64,
    /// The length of the torn line after it, if there is one (padding does not count).
    torn: u64,
}

/// Reads a journal file (none yet reads as empty): the committed lines, where they
/// end, and whether a torn line follows them.
fn read(path: &Path) -> Result<Contents> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let content = without_padding(&bytes);
    let (entries, good_len) = parse(path, content)?;
    Ok(Contents {
        entries,
        good_len,
        torn: content.len() as u64 - good_len,
    })
}

/// The journal without its zero padding: everything up to the last byte that is not
/// zero. A whole line ends in `\n`, so the zeros after the last one are room for the
/// next lines, never part of a line. A crash in the middle of a write can leave the start
/// of a line followed by zeros: it ends here too, and [`parse`] drops it as torn.
fn without_padding(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    &bytes[..end]
}

/// Reads every committed line (of a journal without its padding). Returns the entries
/// and the length of the good prefix.
fn parse(path: &Path, bytes: &[u8]) -> Result<(Vec<JournalEntry>, u64)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let corrupt = |line: u64, message: String| Error::Corrupt {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut entries = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut good_len = HEADER.len() as u64;
    if !bytes.starts_with(HEADER.as_bytes()) {
        // An empty file (a crash right after creating it) is simply empty.
        if HEADER.as_bytes().starts_with(bytes) {
            return Ok((entries, 0));
        }
        return Err(corrupt(
            1,
            "the journal does not start with its header".into(),
        ));
    }
    loop {
        let read = reader.read_record(&mut record);
        let end = reader.position().byte();
        let line = record.position().map_or(0, |p| p.line());
        let decoded = match read {
            Ok(false) => return Ok((entries, good_len)),
            Ok(true) if bytes.get(end as usize - 1) != Some(&b'\n') => {
                Err("the line does not end with a newline".to_string())
            }
            Ok(true) => decode(&record),
            Err(e) => Err(e.to_string()),
        };
        match decoded {
            Ok(changes) => {
                entries.push(JournalEntry { line, changes });
                good_len = end;
            }
            // Only the end can be torn by a crash: drop it. That is the last line, or a
            // line with zeros in it: a part of the padding that a power cut kept unwritten
            // while a later page of lines reached the disk (a disk may keep the pages
            // written since the last fsync in any order). Nothing from there on was
            // acknowledged, since an fsync covers every line before the one it was for.
            Err(_) if is_last(&mut reader) => return Ok((entries, good_len)),
            Err(_) if bytes[good_len as usize..end as usize].contains(&0) => {
                return Ok((entries, good_len));
            }
            Err(message) => return Err(corrupt(line, message)),
        }
    }
}

/// Is there nothing after the record just read?
fn is_last(reader: &mut csv::Reader<&[u8]>) -> bool {
    let mut rest = csv::StringRecord::new();
    !matches!(reader.read_record(&mut rest), Ok(true))
}

fn decode(record: &csv::StringRecord) -> std::result::Result<Vec<Change>, String> {
    let fields: Vec<&str> = record.iter().collect();
    let (sum, body) = fields.split_first().ok_or("an empty line")?;
    if format!("{:016x}", checksum(body.iter().copied())) != *sum {
        return Err("the checksum does not match: the line is damaged".into());
    }
    let mut changes = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let [table, op, count, tail @ ..] = rest else {
            return Err("a change is cut short".into());
        };
        let count: usize = count
            .parse()
            .map_err(|_| format!("bad field count {count:?}"))?;
        if tail.len() < count {
            return Err("a change has fewer fields than it announces".into());
        }
        let (row, tail) = tail.split_at(count);
        let table = table.to_string();
        changes.push(match (*op, row) {
            ("put", _) => Change::Put {
                table,
                fields: row.iter().map(|f| f.to_string()).collect(),
            },
            ("del", [key]) => Change::Delete {
                table,
                key: key.to_string(),
            },
            _ => return Err(format!("unknown operation {op:?}")),
        });
        rest = tail;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::padding::{CHUNK, ZEROS};
    use std::io::Write;

    /// A stand-in for a table guard: it stages changes and records what was applied.
    #[derive(Default)]
    struct FakeTable {
        staged: Vec<Change>,
        applied: Vec<Change>,
    }

    impl Staged for FakeTable {
        fn encode_staged(&self, line: &mut LineEncoder<'_>) {
            for change in &self.staged {
                match change {
                    Change::Put { table, fields } => line.put(table, fields),
                    Change::Delete { table, key } => line.delete(table, key),
                }
            }
        }
        fn apply_staged(&mut self) {
            self.applied.append(&mut self.staged);
        }
        fn discard_staged(&mut self) {
            self.staged.clear();
        }
    }

    fn put(table: &str, fields: &[&str]) -> Change {
        Change::Put {
            table: table.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn commit(journal: &Journal, changes: Vec<Change>) -> Result<Ticket> {
        let mut table = FakeTable {
            staged: changes,
            ..FakeTable::default()
        };
        journal.commit(&mut [&mut table])
    }

    #[test]
    fn committed_lines_are_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, entries) = Journal::open(dir.path()).unwrap();
        assert!(entries.is_empty());
        let awkward = put("products", &["Bola, \"oficial\"\nnova", "9.90", "3"]);
        let delete = Change::Delete {
            table: "users".into(),
            key: "bob".into(),
        };
        let t1 = commit(
            &journal,
            vec![awkward.clone(), put("orders", &["1", "alice"])],
        )
        .unwrap();
        let t2 = commit(&journal, vec![delete.clone()]).unwrap();
        assert!(t2 > t1);
        // Longer than the CSV writer's buffer, with quotes to escape across its end.
        let long = put("files", &["x", &"ab\"c,".repeat(400)]);
        let t3 = commit(&journal, vec![long.clone()]).unwrap();
        journal.wait_durable(t3).unwrap();
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(
            changes,
            [
                vec![awkward, put("orders", &["1", "alice"])],
                vec![delete],
                vec![long]
            ]
        );
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_the_file_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        commit(&journal, vec![put("t", &["1", "one"])]).unwrap();
        commit(&journal, vec![put("t", &["2", "two"])]).unwrap();
        drop(journal);
        let path = dir.path().join("journal.csv");
        let full = without_padding(&fs::read(&path).unwrap()).to_vec();
        // Cut the last line at every possible point: each must recover to one entry.
        // A crash during the `pwrite` leaves the start of the line followed by the
        // padding's zeros; a file cut short has nothing after it: try both.
        let last_start = full[..full.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap()
            + 1;
        for padding in [0, 4096] {
            for cut in last_start..full.len() {
                fs::write(&path, [&full[..cut], &ZEROS[..padding]].concat()).unwrap();
                // Only the torn line is dropped (and warned about), not the zeros.
                assert_eq!(read(&path).unwrap().torn, (cut - last_start) as u64);
                let (journal, entries) = Journal::open(dir.path()).unwrap();
                assert_eq!(entries.len(), 1, "cut at {cut}, {padding} zeros");
                assert_eq!(file_size(dir.path()), last_start as u64, "cut back");
                // The file was repaired: a new commit starts on a fresh line.
                commit(&journal, vec![put("t", &["3", "three"])]).unwrap();
                drop(journal);
                let (_, entries) = Journal::open(dir.path()).unwrap();
                assert_eq!(entries.len(), 2, "cut at {cut}, {padding} zeros");
            }
        }
    }

    #[test]
    fn zeros_inside_the_lines_end_the_journal_there() {
        // After a power cut: lines 1 and 2 synced; of the unsynced pages after them,
        // the first never reached the disk (zeros) but a later one did (a whole line).
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        for i in 1..=4 {
            commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
        }
        let kept = journal.len_bytes();
        drop(journal);
        let path = dir.path().join("journal.csv");
        let mut bytes = fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let line3 = text.match_indices('\n').nth(2).unwrap().0 + 1;
        let line4 = text.match_indices('\n').nth(3).unwrap().0 + 1;
        bytes[line3..line4 - 3].fill(0);
        fs::write(&path, &bytes).unwrap();

        let contents = read(&path).unwrap();
        assert_eq!(contents.entries.len(), 2, "the lines before the gap");
        assert_eq!(contents.good_len as usize, line3);
        assert!(contents.torn > 0 && contents.good_len + contents.torn <= kept);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            file_size(dir.path()),
            line3 as u64,
            "cut back to the good lines"
        );
    }

    #[test]
    fn damage_before_the_last_line_refuses_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        commit(&journal, vec![put("t", &["1", "one"])]).unwrap();
        commit(&journal, vec![put("t", &["2", "two"])]).unwrap();
        drop(journal);
        let path = dir.path().join("journal.csv");
        let text = fs::read_to_string(&path).unwrap().replace("one", "uno");
        // The damaged line is followed by a good one, then by the padding's zeros.
        assert!(text.ends_with('\0'), "the file is padded");
        fs::write(&path, text).unwrap();
        let error = Journal::open(dir.path()).err().unwrap().to_string();
        assert!(
            error.contains("line 2") && error.contains("checksum"),
            "{error}"
        );
    }

    #[test]
    fn a_failed_write_applies_nothing_and_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.csv");
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let first = put("t", &["1", "one"]);
        commit(&journal, vec![first.clone()]).unwrap();
        let before = journal.len_bytes();
        // The injected failure writes half the line first, as a full disk might.
        journal.fail_next_writes(1);
        let mut table = FakeTable {
            staged: vec![put("t", &["2", &"long ".repeat(100)])],
            ..FakeTable::default()
        };
        assert!(journal.commit(&mut [&mut table]).is_err());
        assert!(table.applied.is_empty() && table.staged.is_empty());
        assert_eq!(journal.len_bytes(), before);
        // Where the half line was, there are zeros again.
        let bytes = fs::read(&path).unwrap();
        assert!(
            bytes.len() as u64 > before + 250,
            "the half line was written"
        );
        assert!(bytes[before as usize..].iter().all(|&b| b == 0));
        // The next (shorter) lines take its place, with nothing of it after them.
        let (second, third) = (put("t", &["3", "three"]), put("t", &["4", "four"]));
        commit(&journal, vec![second.clone()]).unwrap();
        commit(&journal, vec![third.clone()]).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(without_padding(&bytes).len() as u64, journal.len_bytes());
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(changes, [vec![first], vec![second], vec![third]]);
    }

    #[test]
    fn refused_writes_are_counted_for_the_log_until_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.fail_next_writes(500);
        for i in 0..500 {
            assert!(commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).is_err());
        }
        assert_eq!(journal.lock_writer().refused.in_a_row(), 500);
        commit(&journal, vec![put("t", &["ok", "x"])]).unwrap();
        assert_eq!(journal.lock_writer().refused.in_a_row(), 0);
    }

    /// The size of the journal file, padding included.
    fn file_size(dir: &Path) -> u64 {
        fs::metadata(dir.join("journal.csv")).unwrap().len()
    }

    #[test]
    fn lines_are_written_in_place_into_zero_padding() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        assert_eq!(file_size(dir.path()), HEADER.len() as u64, "no padding yet");
        commit(&journal, vec![put("t", &["0", "zero"])]).unwrap();
        assert_eq!(
            file_size(dir.path()),
            CHUNK,
            "the first line grew one chunk"
        );
        // While lines fit, the size never changes: they are written over the zeros.
        for i in 1..200 {
            commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
            assert_eq!(file_size(dir.path()), CHUNK, "line {i} changed the size");
        }
        let bytes = fs::read(dir.path().join("journal.csv")).unwrap();
        let len = journal.len_bytes() as usize;
        assert_eq!(bytes[len - 1], b'\n');
        assert!(bytes[len..].iter().all(|&b| b == 0), "only zeros after it");
        // A line that does not fit (here, longer than a chunk) grows the file to a
        // whole number of chunks, with room after it.
        let long = put("t", &["big", &"z".repeat(CHUNK as usize)]);
        commit(&journal, vec![long.clone()]).unwrap();
        let size = file_size(dir.path());
        assert_eq!(size % CHUNK, 0, "{size}");
        assert!(size > journal.len_bytes() && size - journal.len_bytes() < CHUNK);
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 201);
        assert_eq!(entries[200].changes, [long]);
    }

    #[test]
    fn kept_room_is_zeroed_at_once_and_again_after_each_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.keep_room(3 * CHUNK);
        let size = file_size(dir.path());
        assert!(size >= HEADER.len() as u64 + 3 * CHUNK, "{size}");
        for i in 0..100 {
            commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
        }
        assert_eq!(file_size(dir.path()), size, "the lines went into the room");
        journal.rotate().unwrap();
        journal.drop_old().unwrap();
        assert_eq!(journal.len_bytes(), HEADER.len() as u64);
        assert!(file_size(dir.path()) >= HEADER.len() as u64 + 3 * CHUNK);
        let bytes = fs::read(dir.path().join("journal.csv")).unwrap();
        assert!(bytes[HEADER.len()..].iter().all(|&b| b == 0), "zeros only");
    }

    #[test]
    fn the_padding_doubles_as_the_journal_grows() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let mut sizes = Vec::new();
        // 20 lines of 300 KiB: 6 MiB of journal.
        for i in 0..20 {
            let line = put("t", &[&i.to_string(), &"d".repeat(300 * 1024)]);
            commit(&journal, vec![line]).unwrap();
            let size = file_size(dir.path());
            if sizes.last() != Some(&size) {
                sizes.push(size);
            }
        }
        assert_eq!(sizes, [1, 2, 4, 8].map(|mib| mib * CHUNK));
    }

    #[test]
    fn a_padded_journal_is_read_back_whole_and_reopened_without_padding() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let lines: Vec<Vec<Change>> = (0..3)
            .map(|i| vec![put("t", &[&i.to_string(), "Maçã"])])
            .collect();
        for line in &lines {
            commit(&journal, line.clone()).unwrap();
        }
        let len = journal.len_bytes();
        drop(journal);
        // More padding than one chunk is padding too.
        fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal.csv"))
            .unwrap()
            .write_all(&ZEROS)
            .unwrap();
        assert_eq!(file_size(dir.path()), 2 * CHUNK);
        let contents = read(&dir.path().join("journal.csv")).unwrap();
        assert_eq!(
            (contents.good_len, contents.torn),
            (len, 0),
            "nothing is torn"
        );
        let (journal, entries) = Journal::open(dir.path()).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(changes, lines);
        // Opened cut back to its last line; the next commit goes right after it.
        assert_eq!((file_size(dir.path()), journal.len_bytes()), (len, len));
        commit(&journal, vec![put("t", &["3", "three"])]).unwrap();
        drop(journal);
        assert_eq!(Journal::open(dir.path()).unwrap().1.len(), 4);
    }

    #[test]
    fn a_rotation_switches_to_the_file_prepared_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.prepare_next(2 * CHUNK).unwrap();
        let next = dir.path().join(NEXT_JOURNAL);
        let prepared = fs::metadata(&next).unwrap().len();
        assert!(prepared >= HEADER.len() as u64 + 2 * CHUNK, "{prepared}");
        commit(&journal, vec![put("t", &["1", "one"])]).unwrap();
        journal.rotate().unwrap();
        assert!(!next.exists(), "the prepared file became the journal");
        assert_eq!(
            file_size(dir.path()),
            prepared,
            "no zeros written at the rotation"
        );
        let after = put("t", &["2", "two"]);
        let ticket = commit(&journal, vec![after.clone()]).unwrap();
        journal.wait_durable(ticket).unwrap();
        assert_eq!(file_size(dir.path()), prepared, "written in place");
        journal.drop_old().unwrap();
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].changes, [after]);
    }

    #[test]
    fn a_rotation_sets_the_lines_aside_and_new_ones_go_to_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let before = put("t", &["1", "one"]);
        commit(&journal, vec![before.clone()]).unwrap();
        journal.rotate().unwrap();
        let header = HEADER.len() as u64;
        assert_eq!(journal.len_bytes(), header);
        assert_eq!(file_size(dir.path()), header, "no room kept: no padding");
        let after = put("t", &["2", "two"]);
        let ticket = commit(&journal, vec![after.clone()]).unwrap();
        // Durable in the new file: the group commit fsyncs the file now written to.
        journal.wait_durable(ticket).unwrap();
        assert_eq!(journal.fsync_count(), 1);
        drop(journal);

        // A restart before the checkpoint finished: the old lines, then the new.
        assert!(dir.path().join(OLD_JOURNAL).exists());
        let (journal, entries) = Journal::open(dir.path()).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(changes, [vec![before], vec![after.clone()]]);

        // A second rotation keeps the unfinished one's lines rather than lose them.
        journal.rotate().unwrap();
        drop(journal);
        assert_eq!(Journal::open(dir.path()).unwrap().1.len(), 2);

        // Once the snapshots are written, the old journal goes.
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.drop_old().unwrap();
        assert!(!dir.path().join(OLD_JOURNAL).exists());
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].changes, [after]);
    }

    #[test]
    fn concurrent_commits_are_all_durable_with_at_most_one_fsync_each() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let journal = std::sync::Arc::new(journal);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let journal = journal.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let ticket =
                            commit(&journal, vec![put("t", &[&format!("{t}-{i}"), "x"])]).unwrap();
                        journal.wait_durable(ticket).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(journal.fsync_count() <= 400);
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 400);
    }
}
