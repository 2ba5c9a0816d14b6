//! Reading a journal back at start-up: its committed lines, without the zero padding,
//! a torn end cut off, and damage anywhere else refused.
//!
//! Why a torn end is dropped and not an error: a crash can cut short only the lines
//! written since the last fsync, and none of those was acknowledged. A damaged line
//! before the last good one is another matter: an acknowledged change would be lost,
//! so the server refuses to start and names the file and the line.

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
            file.set_len(0).map_err(io_err)?;
            file.write_all_at(HEADER.as_bytes(), 0).map_err(io_err)?;
            len = HEADER.len() as u64;
        } else {
            file.set_len(good_len).map_err(io_err)?;
        }
        file.sync_all().map_err(io_err)?;
        snapshot::sync_dir(dir).map_err(io_err)?;
        let fsync_handle = file.try_clone().map_err(io_err)?;
        let durability = Durability::start(fsync_handle, layers.group_commit).map_err(io_err)?;
        let journal = Journal {
            path,
            writer: Mutex::new(Writer {
                file,
                line: Vec::with_capacity(512),
                csv: layers.csv,
                padding: layers.prezero.then(|| Padding::new(len)),
                room: 0,
                refused: RefusedWrites::default(),
            }),
            durability,
            layers,
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
}

/// What [`read`] found in a journal file.
pub(super) struct Contents {
    pub(super) entries: Vec<JournalEntry>,
    /// Where the last good line ends (0 if not even the header is whole).
    pub(super) good_len: u64,
    /// The length of the torn line after it, if there is one (padding does not count).
    pub(super) torn: u64,
}

/// Reads a journal file (none yet reads as empty): the committed lines, where they
/// end, and whether a torn line follows them.
pub(super) fn read(path: &Path) -> Result<Contents> {
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
pub(super) fn without_padding(bytes: &[u8]) -> &[u8] {
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
