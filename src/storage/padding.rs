//! Zero padding: why a journal file is bigger than the journal, and how big it gets.
//!
//! # The plain version, and what the padding buys
//!
//! The plain journal appends each line at the end of its file. The journal here grows
//! its file ahead of the lines, with real zeros, and writes each line *in place*
//! (`pwrite`, at the end of the line before it) over those zeros. Why: the fsync is
//! `fdatasync`, which skips the inode's metadata unless it is needed to read the data
//! back, and a new file size is. If every line grew the file, every fsync would flush
//! the data *and* commit the new size through the ext4 journal, a second write and
//! cache flush. While lines fit in the padding the size does not change, and an fsync
//! is one flush. (PostgreSQL zero-fills its WAL segments for the same reason.) What
//! that is worth is the `--prezero off` row of the ablation table in docs/BENCHMARKS.md
//! ("What each speed layer buys"): TRANSFER at 50 connections with and without it, in
//! the same run.
//!
//! Switch it off with `feira-server --prezero off`: the journal then keeps no padding
//! (its writer holds no [`Padding`]), each line's write grows the file as an append
//! would, a rotation starts an empty file, and no next file is made ahead
//! (src/storage/journal/rotation.rs).
//!
//! # Why it is safe
//!
//! No line holds a zero byte (names and stored text refuse control characters:
//! src/protocol/names.rs), and every whole line ends in `\n`, so the zeros after the
//! last line can never be mistaken for part of it. A crash can leave a line cut short
//! and followed by zeros, or zeros (padding a power cut kept unwritten) before a later
//! line: both are past the last fsync, so nothing there was acknowledged, and recovery
//! drops them as a torn end (src/storage/journal/recovery.rs). One part stays on with
//! the layer off: recovery strips trailing zeros whatever the flag, since a data
//! directory written with the layer on may be opened with it off, and a file without
//! zeros simply has none to strip.
//!
//! So the journal ends at the file's last byte that is not zero, not at the end of the
//! file: a whole line ends in `\n`, and the zeros after it are room for the next lines.
//! `cat journal.csv` ends in NUL bytes; `tr -d '\0' < journal.csv` shows just the lines.
//!
//! # How much: as much as the journal uses
//!
//! Zeros cost disk space and the time to write them, so the padding follows the use
//! ([`plan`], which `Db::checkpoint_if_due` follows after every write):
//! - a journal file starts small ([`CHUNK`], 1 MiB: a millisecond or two to write, so
//!   neither the start-up nor the first request waits for it);
//! - once its lines fill half of it, the journal is in use: its *next* file, the one a
//!   checkpoint switches to, is made ahead with no lock held, [`GROWTH`] times as big,
//!   up to the lines the journal holds between two checkpoints (at most 64 MiB);
//! - when the lines fill three quarters of a file that started small, and the bigger
//!   one is ready, a checkpoint switches to it early. That checkpoint is cheap (it
//!   writes what changed since the last one), and it saves growing this file under
//!   the writers' lock. So a busy server's journal files go 1, 9, then 65 MiB, each
//!   zeroed while nobody waits, and a quiet server keeps its 1 MiB;
//! - if a line does not fit all the same (the next file could not be made, or a
//!   journal that holds more than 64 MiB between checkpoints), the file grows by
//!   doubling (a step at most [`MAX_STEP`]), each step fsynced at once, under the
//!   writer lock.
//!
//! What it costs: the zeros are written when the journal is in use, not before the
//! server listens. A fresh server writes its 9 and 65 MiB files while its first clients
//! write, so its first seconds are a little slower than its steady state (`make bench`
//! runs a warm-up first; docs/bench-notes.md has the figures).
//!
//! # When the disk is full
//!
//! A step of zeros that the disk cannot hold is cut off the file again (`set_len`), so
//! a full disk is never left fuller by half a step; from then on, until the file is
//! replaced, it grows only by what each line needs, a page at a time. A file of zeros
//! made ahead is written under a temporary name and renamed once whole, so a half-made
//! one is never used, and it is deleted if it fails.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The size of a new journal file, and the smallest growth step: 1 MiB.
///
/// A step writes the zeros and fsyncs them (with the new size) at once: the writers
/// wait for that once, instead of every waiter of the next group commit waiting for an
/// fsync that has a few MiB of zeros to flush.
pub(super) const CHUNK: u64 = 1024 * 1024;

/// The largest growth step: 64 MiB, the default checkpoint size, after which the
/// journal is emptied anyway.
pub(super) const MAX_STEP: u64 = 64 * CHUNK;

/// The unit of growth once the disk has been found short of room: one page.
const PAGE: u64 = 4096;

/// The zeros that padding is written from, shared so that growing the file allocates
/// nothing. (A static of zeros takes no room in the binary: it lives in `.bss`.)
pub(super) static ZEROS: [u8; CHUNK as usize] = [0; CHUNK as usize];

/// The zeros at the end of one journal file: how far they reach, and whether the disk
/// has been found too full for a whole step.
#[derive(Debug)]
pub(super) struct Padding {
    /// The file's size. Bytes from the journal's length up to here are zeros: room for
    /// the next lines to be written without changing the size.
    capacity: u64,
    /// A step failed (a full disk): grow by a page at a time from now on.
    short_of_space: bool,
}

impl Padding {
    /// The padding of a file of this size (its end is zeros or lines, nothing else).
    pub(super) fn new(capacity: u64) -> Padding {
        Padding {
            capacity,
            short_of_space: false,
        }
    }

    /// The file's size, zeros included.
    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Makes sure `file` holds zeros up to `end`: doubles the file (a whole number of
    /// [`CHUNK`]s), or, once the disk has been found short of room, adds just the pages
    /// that `end` needs. On failure the file is as it was.
    pub(super) fn make_room(&mut self, file: &File, end: u64) -> io::Result<()> {
        if end <= self.capacity {
            return Ok(());
        }
        // Real zeros, not `set_len`: that would leave a sparse hole, and the fsync after
        // each line written into it would have to allocate its blocks, which is the
        // metadata work the padding is there to avoid. (`fallocate` is no better: its
        // blocks are marked unwritten, and the first write to each changes that mark.)
        if !self.short_of_space {
            let doubled = (self.capacity * 2).clamp(CHUNK, self.capacity + MAX_STEP);
            let target = doubled.max(end).next_multiple_of(CHUNK);
            match extend(file, self.capacity, target) {
                Ok(()) => {
                    self.capacity = target;
                    return Ok(());
                }
                Err(e) => {
                    log::warn!(
                        "the journal cannot grow by {} KiB of zeros ({e}); it grows by what each line needs from now on",
                        (target - self.capacity) / 1024
                    );
                    self.short_of_space = true;
                }
            }
        }
        let target = end.next_multiple_of(PAGE);
        extend(file, self.capacity, target)?;
        self.capacity = target;
        Ok(())
    }
}

/// How much bigger the next journal file is made than this one, until it holds a
/// checkpoint's lines: eight times, so that a busy journal goes from 1 MiB to 65 MiB
/// after two early checkpoints (doubling would take six).
pub(super) const GROWTH: u64 = 8;

/// What a journal needs after a write, by [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upkeep {
    /// Nothing.
    Nothing,
    /// Make the next journal file ahead, with room for this many bytes of lines.
    MakeNext { room: u64 },
    /// Checkpoint: the journal is due, or it has outgrown a file that started small
    /// and a bigger one is ready.
    Checkpoint,
}

/// Where a journal stands after a write, for [`plan`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Standing {
    /// The journal's length: where its last line ends.
    pub len: u64,
    /// Its file's size, zeros included.
    pub size: u64,
    /// The length at which a checkpoint is due.
    pub due: u64,
    /// The most room a file is made with ahead of time.
    pub max_room: u64,
    /// Has the next file been made (or tried) for this journal file?
    pub next_tried: bool,
    /// Is it ready?
    pub next_ready: bool,
}

/// The padding's policy (see the module doc): when to make the next file, how big,
/// and when to switch to it early.
pub(super) fn plan(now: &Standing) -> Upkeep {
    if now.len >= now.due {
        return Upkeep::Checkpoint;
    }
    // What a journal file should hold: every line until its checkpoint.
    let full = now.due.min(now.max_room);
    let started_small = now.size <= full;
    if now.next_ready && started_small && now.len >= now.size / 4 * 3 {
        return Upkeep::Checkpoint;
    }
    if !now.next_tried && now.len >= now.size.min(full) / 2 {
        return Upkeep::MakeNext {
            room: (GROWTH * now.size).min(full),
        };
    }
    Upkeep::Nothing
}

/// Writes zeros from `from` (the end of the file) up to `to` and fsyncs them. If that
/// fails, cuts the file back to `from`: a half-written step is never left behind.
fn extend(file: &File, from: u64, to: u64) -> io::Result<()> {
    let result = write_zeros(file, from..to).and_then(|()| file.sync_data());
    if result.is_err() {
        // Shrinking needs no free space. Should it fail anyway, what is left is zeros
        // past the capacity, which the next step writes over.
        let _ = file.set_len(from);
    }
    result
}

/// Writes zeros over this range of the file, from the shared [`ZEROS`].
pub(super) fn write_zeros(file: &File, range: std::ops::Range<u64>) -> io::Result<()> {
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(CHUNK);
        file.write_all_at(&ZEROS[..n as usize], at)?;
        at += n;
    }
    Ok(())
}

/// Makes `dir/name`: `header`, then zeros up to `room` bytes after it (a whole number
/// of [`CHUNK`]s), fsynced. It is written as `name.tmp` and renamed once whole; on
/// failure the temporary file is deleted, and nothing is left behind.
pub(super) fn zeroed_file(dir: &Path, name: &str, header: &[u8], room: u64) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let make = || -> io::Result<()> {
        let file = File::create(&tmp)?;
        file.write_all_at(header, 0)?;
        let start = header.len() as u64;
        write_zeros(&file, start..(start + room).next_multiple_of(CHUNK))?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        super::snapshot::sync_dir(dir)
    };
    let result = make();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Deletes what [`zeroed_file`] may have left as `dir/name` (made ahead by an earlier
/// run: it holds no lines) and its temporary file (a crash while making it).
pub(super) fn remove_zeroed_file(dir: &Path, name: &str) -> io::Result<()> {
    for path in [dir.join(name), dir.join(format!("{name}.tmp"))] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_fails_is_cut_off_and_the_next_grows_by_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        fs::write(&path, b"header\n").unwrap();
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut padding = Padding::new(7);
        padding.make_room(&file, 100).unwrap();
        assert_eq!(padding.capacity(), CHUNK);
        assert_eq!(fs::metadata(&path).unwrap().len(), CHUNK);
        // A read-only handle makes every step fail, as a full disk would: the file must
        // stay as it was. (tests/disk_space.rs fills a real disk.)
        let read_only = File::open(&path).unwrap();
        assert!(padding.make_room(&read_only, CHUNK + 10).is_err());
        assert!(padding.short_of_space);
        assert_eq!(fs::metadata(&path).unwrap().len(), CHUNK);
        assert_eq!(padding.capacity(), CHUNK);
        // Short of space: the next growth is the pages the line needs, not a doubling.
        padding.make_room(&file, CHUNK + 10).unwrap();
        assert_eq!(padding.capacity(), CHUNK + PAGE);
        assert_eq!(fs::metadata(&path).unwrap().len(), CHUNK + PAGE);
    }

    #[test]
    fn the_plan_makes_bigger_files_and_switches_early_until_they_hold_a_checkpoint() {
        const MIB: u64 = CHUNK;
        let at = |len, size| Standing {
            len,
            size,
            due: 64 * MIB,
            max_room: 64 * MIB,
            next_tried: false,
            next_ready: false,
        };
        // A quiet journal: nothing to do.
        assert_eq!(plan(&at(MIB / 4, MIB)), Upkeep::Nothing);
        // Half of a 1 MiB file: make the next one, eight times as big.
        assert_eq!(plan(&at(MIB / 2, MIB)), Upkeep::MakeNext { room: 8 * MIB });
        // Only once per file.
        let tried = Standing {
            next_tried: true,
            ..at(MIB / 2, MIB)
        };
        assert_eq!(plan(&tried), Upkeep::Nothing);
        // Three quarters, with the next one ready: switch early.
        let ready = Standing {
            next_tried: true,
            next_ready: true,
            ..at(3 * MIB / 4, MIB)
        };
        assert_eq!(plan(&ready), Upkeep::Checkpoint);
        // A file that holds a whole checkpoint's lines: no early switch, the next one
        // as big, and the checkpoint when due.
        let full = at(40 * MIB, 65 * MIB);
        assert_eq!(plan(&full), Upkeep::MakeNext { room: 64 * MIB });
        let full_ready = Standing {
            next_tried: true,
            next_ready: true,
            ..full
        };
        assert_eq!(plan(&full_ready), Upkeep::Nothing);
        assert_eq!(plan(&at(64 * MIB, 65 * MIB)), Upkeep::Checkpoint);
        // Room is capped by the checkpoint size, and by the most made ahead.
        let small_due = Standing {
            due: 3 * MIB,
            ..at(MIB / 2, MIB)
        };
        assert_eq!(plan(&small_due), Upkeep::MakeNext { room: 3 * MIB });
        let big_due = Standing {
            due: 200 * MIB,
            ..at(48 * MIB, 96 * MIB)
        };
        assert_eq!(plan(&big_due), Upkeep::MakeNext { room: 64 * MIB });
    }

    #[test]
    fn a_zeroed_file_that_cannot_be_made_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        zeroed_file(dir.path(), "next", b"h\n", 10).unwrap();
        let bytes = fs::read(dir.path().join("next")).unwrap();
        assert_eq!(bytes.len() as u64, CHUNK);
        assert!(bytes.starts_with(b"h\n") && bytes[2..].iter().all(|&b| b == 0));
        assert!(!dir.path().join("next.tmp").exists());
        // A directory in the way of the rename: the temporary file goes.
        fs::create_dir(dir.path().join("blocked")).unwrap();
        fs::write(dir.path().join("blocked/x"), b"x").unwrap();
        assert!(zeroed_file(dir.path(), "blocked", b"h\n", 10).is_err());
        assert!(!dir.path().join("blocked.tmp").exists());
        remove_zeroed_file(dir.path(), "next").unwrap();
        assert!(!dir.path().join("next").exists());
    }
}
