//! Reading a journal back at start-up: its committed lines, without the zero padding,
//! a torn end cut off, and damage anywhere else refused.
//!
//! Why a torn end is dropped and not an error: a crash can cut short only the lines
//! written since the last fsync, and none of those was acknowledged. A damaged line
//! before the last good one is another matter: an acknowledged change would be lost,
//! so the server refuses to start and names the file and the line.
//!
//! # Start-up, step by step ([`Journal::open_with`])
//!
//! 1. Read `journal.old.csv`, if a checkpoint left one unfinished: its lines come first.
//! 2. Delete `journal.next.csv`, if an earlier run made one ahead: it holds no lines.
//! 3. Read `journal.csv`: strip the zero padding ([`without_padding`]), parse and check
//!    each line ([`parse`], [`decode`]), and find where the last good line ends.
//! 4. Cut the file back to that end and fsync it: the torn line and the padding go, so
//!    the first commit writes right after the last good line.
//! 5. Start the durability side (and, with group commit on, its committer thread).
//!
//! The entries go back to the database, which replays them over the snapshots and
//! checkpoints (src/db/open.rs). Recovery reads the same with every speed layer on or
//! off: a journal without padding has no zeros to strip, and reading is always the
//! `csv` crate's.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64};

use parking_lot::Mutex;

use super::{Change, HEADER, Journal, JournalEntry, NEXT_JOURNAL, OLD_JOURNAL, Writer};
use crate::error::{Error, Result};
use crate::storage::durability::Durability;
use crate::storage::line::checksum;
use crate::storage::padding::{self, Padding};
use crate::storage::refused_writes::RefusedWrites;
use crate::storage::snapshot;
use crate::storage::{Layers, LockStats};

impl Journal {
    /// Opens (or creates) the journal and reads back its committed transactions.
    ///
    /// The zero padding at the end is not read. A torn end (the crash happened before
    /// the lines there were fsynced, so none of them was acknowledged) is cut off the
    /// file, with a warning. Damage anywhere else is an error: the server must not
    /// start on data it cannot trust. Every speed layer is on.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<JournalEntry>)> {
        Journal::open_with(dir, Layers::default())
    }

    /// [`Journal::open`], with these speed layers on (see [`Layers`]).
    pub fn open_with(dir: &Path, layers: Layers) -> Result<(Journal, Vec<JournalEntry>)> {
        let path = dir.join("journal.csv");
        // The order matters: the old journal's lines are older than the current one's.
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
        // Said loudly, though nothing acknowledged is lost: an operator should know
        // the last run ended in a crash.
        if torn > 0 {
            log::warn!(
                "{}: dropping the torn end ({torn} bytes after the last good line) left by a crash; it was never acknowledged",
                path.display()
            );
        }
        let io_err = |e| Error::io(&path, e);
        // Not `append`: lines are written at their place (into the padding, with it).
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
            // A new journal, or one whose header a crash cut short: a fresh header.
            file.set_len(0).map_err(io_err)?;
            file.write_all_at(HEADER.as_bytes(), 0).map_err(io_err)?;
            len = HEADER.len() as u64;
        } else {
            file.set_len(good_len).map_err(io_err)?;
        }
        // The repaired file, and its name in the directory, are durable before any new
        // line is written after them: the lines read back are where counting starts.
        file.sync_all().map_err(io_err)?;
        snapshot::sync_dir(dir).map_err(io_err)?;
        // A second handle, used only to fsync, so an fsync never waits for the writer
        // lock (src/storage/durability.rs).
        let fsync_handle = file.try_clone().map_err(io_err)?;
        // Group commit's committer thread starts here, if that layer is on.
        let durability = Durability::start(fsync_handle, layers.group_commit).map_err(io_err)?;
        let journal = Journal {
            path,
            writer: Mutex::new(Writer {
                file,
                line: Vec::with_capacity(512),
                csv: layers.csv,
                // With pre-zeroing on, padding starts at the cut-back file's end; the
                // database gives it room at once (`keep_room`).
                padding: layers.prezero.then(|| Padding::new(len)),
                room: 0,
                refused: RefusedWrites::default(),
            }),
            durability,
            layers,
            // No injected failures: only tests ask for them.
            failing_writes: AtomicU32::new(0),
            // The next line goes right after the last good one.
            len: AtomicU64::new(len),
            // The first journal file of this run.
            rotations: AtomicU64::new(0),
            capacity: AtomicU64::new(len),
            // No journal file has had a next file made for it yet (`u64::MAX` names
            // none).
            next_tried_for: AtomicU64::new(u64::MAX),
            next_ready_for: AtomicU64::new(u64::MAX),
            stats: LockStats::default(),
        };
        Ok((journal, entries))
    }
}

/// What [`read`] found in a journal file.
pub(super) struct Contents {
    /// The committed transactions, in the order they were written.
    pub(super) entries: Vec<JournalEntry>,
    /// Where the last good line ends (0 if not even the header is whole).
    pub(super) good_len: u64,
    /// The length of the torn line after it, if there is one (padding does not count).
    pub(super) torn: u64,
}

/// Reads a journal file (none yet reads as empty): the committed lines, where they
/// end, and whether a torn line follows them.
pub(super) fn read(path: &Path) -> Result<Contents> {
    // Read whole: a journal holds at most a checkpoint's worth of lines (64 MiB by
    // default), read once at start-up.
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        // No journal yet (a new data directory, or no unfinished checkpoint).
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    // The zeros after the last line are room, not data: they are not parsed.
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
pub(super) fn without_padding(bytes: &[u8]) -> &[u8] {
    // Searched from the end: the padding may be megabytes, the lines are before it.
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    &bytes[..end]
}

/// Reads every committed line (of a journal without its padding). Returns the entries
/// and the length of the good prefix.
fn parse(path: &Path, bytes: &[u8]) -> Result<(Vec<JournalEntry>, u64)> {
    // Lines differ in their number of fields (a transaction changes any number of
    // rows): a flexible reader. Reading is the `csv` crate's job on either layer.
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
    // One record reused for every line.
    let mut record = csv::StringRecord::new();
    // Where the last line known good ends: the header, to begin with.
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
        // Where this record ends, in bytes: the good length if it decodes.
        let end = reader.position().byte();
        // Its line number, to name it in an error.
        let line = record.position().map_or(0, |p| p.line());
        let decoded = match read {
            // The end of the journal: every line was good.
            Ok(false) => return Ok((entries, good_len)),
            // A last line without its `\n` was cut short, however whole it looks.
            Ok(true) if bytes.get(end as usize - 1) != Some(&b'\n') => {
                Err("the line does not end with a newline".to_string())
            }
            Ok(true) => decode(&record),
            // Not even CSV (an unclosed quote, say): bad in the same way.
            Err(e) => Err(e.to_string()),
        };
        match decoded {
            // Good: it counts, and the good prefix reaches its end.
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
    // Only called on a bad line, so the record read here is never needed again.
    let mut rest = csv::StringRecord::new();
    !matches!(reader.read_record(&mut rest), Ok(true))
}

/// Decodes one line's fields into its changes, after checking its checksum. An error
/// says what is wrong, for the message that names the line.
fn decode(record: &csv::StringRecord) -> std::result::Result<Vec<Change>, String> {
    let fields: Vec<&str> = record.iter().collect();
    let (sum, body) = fields.split_first().ok_or("an empty line")?;
    // The checksum first: a torn line can still be valid CSV with the right counts.
    if format!("{:016x}", checksum(body.iter().copied())) != *sum {
        return Err("the checksum does not match: the line is damaged".into());
    }
    let mut changes = Vec::new();
    let mut rest = body;
    // One change at a time: `table,op,count`, then `count` fields.
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
        // Whether the table exists and the fields fit its columns is checked at
        // replay, by the database and the table (`Table::replay`).
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
