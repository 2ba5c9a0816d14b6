//! The journal: one append-only CSV file of committed transactions, with group commit.
//!
//! A line is one transaction:
//!
//! ```text
//! checksum,table,op,count,field...,table,op,count,field...
//! 5f1c0e7a9b2d4c31,products,put,3,Caju,2.50,79,orders,put,7,12,alice,Caju,1,2.50,2.50,2026-11-27T15:00:00Z
//! ```
//!
//! `op` is `put` (insert or replace the whole row: replaying it twice is harmless) or
//! `del` (its one field is the key). The checksum (FNV-1a, 64 bits) covers every other
//! field, so a line cut short by a crash is recognised even when what is left of it
//! still looks like CSV.
//!
//! Group commit: [`Journal::commit`] only *writes* the line (a fast `write`), under
//! the writer lock. [`Journal::wait_durable`] then waits until it is durable: each
//! `fsync` covers every line written before it began and wakes exactly the waiters it
//! covered; under load a committer thread runs them back to back (see
//! [`group_commit`]). Fifty clients paying at the same moment share a few fsyncs.
//! [`Journal::when_durable`] is the same wait without a sleeping thread: it runs a
//! piece of work (the server's: send the reply) once the line is durable.
//!
//! [`group_commit`]: super::group_commit

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::LockStats;
use super::group_commit::GroupCommit;
use crate::error::{Error, Result};

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
    /// Appends the staged changes, as text, to `out`.
    fn staged_changes(&self, out: &mut Vec<Change>);
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
    /// The file as written by commits, and the bytes reused to encode a line.
    /// Lock order: always taken *after* the table locks, and held only for one `write`.
    writer: Mutex<Writer>,
    /// Sequence numbers of the lines written and synced, and who runs the next
    /// fsync (on a second handle on the same file) while the others wait.
    durability: GroupCommit,
    /// Fault injection for tests: the next N writes fail as if the disk were full.
    failing_writes: AtomicU32,
    /// The journal's current size in bytes, to decide when to checkpoint.
    len: AtomicU64,
    stats: LockStats,
}

struct Writer {
    file: File,
    line: Vec<u8>,
}

impl Journal {
    /// Opens (or creates) the journal and reads back its committed transactions.
    ///
    /// A torn last line (the crash happened during its write, so it was never
    /// acknowledged) is cut off the file, with a warning. Damage anywhere else is an
    /// error: the server must not start on data it cannot trust.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<JournalEntry>)> {
        let path = dir.join("journal.csv");
        let (entries, good_len) = match fs::read(&path) {
            Ok(bytes) => {
                let (entries, good_len) = parse(&path, &bytes)?;
                if good_len < bytes.len() as u64 {
                    log::warn!(
                        "{}: dropping a torn last line ({} bytes) left by a crash; it was never acknowledged",
                        path.display(),
                        bytes.len() as u64 - good_len
                    );
                }
                (entries, good_len)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), 0),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let io_err = |e| Error::io(&path, e);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io_err)?;
        let mut len = good_len;
        if good_len == 0 {
            file.set_len(0).map_err(io_err)?;
            file.write_all(HEADER.as_bytes()).map_err(io_err)?;
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
            }),
            durability,
            failing_writes: AtomicU32::new(0),
            len: AtomicU64::new(len),
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
        let mut changes = Vec::new();
        for table in tables.iter() {
            table.staged_changes(&mut changes);
        }
        let result = if changes.is_empty() {
            Ok(self.latest())
        } else {
            self.write_line(&changes)
        };
        for table in tables.iter_mut() {
            match result {
                Ok(_) => table.apply_staged(),
                Err(_) => table.discard_staged(),
            }
        }
        result
    }

    fn write_line(&self, changes: &[Change]) -> Result<Ticket> {
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        let mut writer = self.lock_writer();
        let Writer { file, line } = &mut *writer;
        encode(changes, line);
        let injected = self
            .failing_writes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        let outcome = if injected {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected write failure",
            ))
        } else {
            file.write_all(line)
        };
        if let Err(e) = outcome {
            // A partial write would leave half a line that the next line is appended
            // to. Cut the file back to where it was; if even that fails, stop writing.
            let before = self.len.load(Ordering::Acquire);
            if file.set_len(before).is_err() {
                self.durability.poison();
            }
            return Err(Error::io(&self.path, e));
        }
        self.len.fetch_add(line.len() as u64, Ordering::AcqRel);
        // Still under the writer lock, so sequence numbers follow the file's order.
        Ok(Ticket(self.durability.wrote_line()))
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
    /// on disk (with `Ok`), or once it is known that it never will be (with `Err`).
    /// It may run at once on this thread, or later on the thread that runs the fsync
    /// (see [`GroupCommit::when_durable`](super::group_commit::GroupCommit::when_durable)):
    /// it must be quick and must never block.
    pub fn when_durable(&self, ticket: Ticket, then: impl FnOnce(Result<()>) + Send + 'static) {
        self.durability.when_durable(
            ticket.0,
            Box::new(move |durable| {
                then(if durable {
                    Ok(())
                } else {
                    Err(Error::Poisoned)
                })
            }),
        );
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

    /// Runs `save` (which writes every table's snapshot) and then empties the journal.
    ///
    /// The caller holds every table's read lock, so no commit can run meanwhile; this
    /// takes the writer lock too, so the journal cannot grow under our feet.
    pub fn checkpoint(&self, save: impl FnOnce() -> Result<()>) -> Result<()> {
        let writer = self.lock_writer();
        save()?;
        let io_err = |e| Error::io(&self.path, e);
        writer.file.set_len(0).map_err(io_err)?;
        (&writer.file)
            .write_all(HEADER.as_bytes())
            .map_err(io_err)?;
        writer.file.sync_data().map_err(io_err)?;
        self.len.store(HEADER.len() as u64, Ordering::Release);
        // Every line written so far is now in the snapshots.
        self.durability.mark_all_synced();
        Ok(())
    }

    /// The journal's size in bytes.
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

    /// Fault injection for tests: the next `n` writes fail as if the disk were full.
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

/// FNV-1a over the fields, with a separator so that ("ab","c") differs from ("a","bc").
fn checksum<'a>(fields: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for field in fields {
        for byte in field.bytes().chain([0x1f]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The fields of a line after the checksum.
fn body_fields(changes: &[Change]) -> Vec<Cow<'_, str>> {
    let mut fields = Vec::new();
    for change in changes {
        match change {
            Change::Put { table, fields: row } => {
                fields.extend([Cow::from(table.as_str()), Cow::from("put")]);
                fields.push(Cow::from(row.len().to_string()));
                fields.extend(row.iter().map(|f| Cow::from(f.as_str())));
            }
            Change::Delete { table, key } => {
                fields.extend([table.as_str(), "del", "1", key.as_str()].map(Cow::from));
            }
        }
    }
    fields
}

/// Encodes one transaction as a CSV line (with its `\n`) into `out`.
fn encode(changes: &[Change], out: &mut Vec<u8>) {
    out.clear();
    let fields = body_fields(changes);
    let sum = format!("{:016x}", checksum(fields.iter().map(|f| f.as_ref())));
    // The writer's own buffer (8 KiB by default) would be allocated and freed for
    // every line, under the table locks; it only feeds `out`, so a small one will do.
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .buffer_capacity(256)
        .from_writer(std::mem::take(out));
    // Writing to a Vec cannot fail.
    let _ =
        writer.write_record(std::iter::once(sum.as_str()).chain(fields.iter().map(|f| f.as_ref())));
    *out = writer.into_inner().unwrap_or_default();
}

/// Reads every committed line. Returns the entries and the length of the good prefix.
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
            // Only the last line can be torn by a crash: drop it.
            Err(_) if is_last(&mut reader) => return Ok((entries, good_len)),
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

    /// A stand-in for a table guard: it stages changes and records what was applied.
    #[derive(Default)]
    struct FakeTable {
        staged: Vec<Change>,
        applied: Vec<Change>,
    }

    impl Staged for FakeTable {
        fn staged_changes(&self, out: &mut Vec<Change>) {
            out.extend(self.staged.iter().cloned());
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
        let full = fs::read(&path).unwrap();
        // Cut the last line at every possible point: each must recover to one entry.
        let last_start = full[..full.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap()
            + 1;
        for cut in last_start..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let (journal, entries) = Journal::open(dir.path()).unwrap();
            assert_eq!(entries.len(), 1, "cut at {cut}");
            // The file was repaired: a new commit starts on a fresh line.
            commit(&journal, vec![put("t", &["3", "three"])]).unwrap();
            drop(journal);
            let (_, entries) = Journal::open(dir.path()).unwrap();
            assert_eq!(entries.len(), 2, "cut at {cut}");
        }
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
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.fail_next_writes(1);
        let mut table = FakeTable {
            staged: vec![put("t", &["1", "one"])],
            ..FakeTable::default()
        };
        assert!(journal.commit(&mut [&mut table]).is_err());
        assert!(table.applied.is_empty() && table.staged.is_empty());
        commit(&journal, vec![put("t", &["2", "two"])]).unwrap();
        drop(journal);
        let (_, entries) = Journal::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
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
