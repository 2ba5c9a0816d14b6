//! Appending checkpoints: a table that only grew since its last checkpoint gets its
//! new rows added at the end of its snapshot, instead of the whole file rewritten.
//!
//! # The plain version, and what this layer buys
//!
//! The plain checkpoint rewrites every table: a new `<table>.csv.tmp` with every row,
//! fsynced and renamed over the old file ([`write_atomic`](super::write_atomic)). It is
//! obviously right, and its cost grows with the table: the orders and the ledger only
//! ever grow, and a checkpoint that writes a million orders to add a hundred thousand
//! spends most of its time on rows that did not change. Such a table's new rows all
//! have keys above every saved one, so when no saved row has changed since (`Saved`
//! tracks it), a checkpoint appends just the new rows and fsyncs the file: it costs
//! what changed, not the size of the table. What that is worth under load is the
//! `--checkpoint rewrite` row of the ablation table in docs/BENCHMARKS.md ("What each
//! speed layer buys"): its TRANSFERs grow the ledger, which every checkpoint of the
//! row either appends to or rewrites. (docs/bench-notes.md, "Checkpoints inside the
//! measured seconds", times one checkpoint of a million orders both ways.)
//!
//! Switch it off with `feira-server --checkpoint rewrite`: every checkpoint then
//! rewrites every snapshot whole.
//!
//! # Why it is safe
//!
//! An append is not atomic the way a rename is: a crash in the middle leaves a torn
//! last row. Nothing is lost by it: the checkpoint had not finished, so the journal it
//! set aside still holds every row it was appending. At start-up the torn row is
//! dropped ([`read`](super::read)), the journal is replayed, and the table is marked so
//! that its next checkpoint rewrites the file rather than appending after the tear. A
//! write that fails (a full disk) is cut off again, leaving the file as it was.
//!
//! Which rows may be appended is decided under the table's read lock, chunk by chunk
//! (`Table::save`): any change at or below the last key saved marks the file stale, so
//! an append never leaves a saved row out of date. One part stays on with the layer
//! off: dropping a torn last row when a snapshot is read, since a data directory
//! written with appending on may be opened with it off.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::{CsvEncoding, SnapshotWriter, path};
use crate::error::{Error, Result};

/// How far a table's snapshot file is up to date: what lets a checkpoint append.
#[derive(Debug)]
pub(crate) struct Saved<K> {
    /// Every row with a key up to this one is in the file as it is in memory, unless
    /// `stale` says that one of them changed since.
    up_to: Option<K>,
    /// A row at or below `up_to` was put or deleted since it was saved (or the file
    /// ends in a torn row): the next checkpoint rewrites the whole file.
    stale: bool,
}

impl<K: Ord + Clone> Saved<K> {
    /// A file that holds every row up to `up_to` (the last key read from it); `torn`
    /// if it ended in a torn row, which no row may be appended after.
    pub(crate) fn loaded(up_to: Option<K>, torn: bool) -> Saved<K> {
        Saved { up_to, stale: torn }
    }

    /// Notes a change to the row with this key.
    pub(crate) fn changed(&mut self, key: &K) {
        if self.up_to.as_ref().is_some_and(|up_to| key <= up_to) {
            self.stale = true;
        }
    }

    /// A checkpoint starts: may it append to `file`? `Some(after)` if so (every row
    /// with a key after `after`, all of them for `None`); `None` if it must rewrite it.
    pub(crate) fn may_append_after(&self, file: &Path) -> Option<Option<K>> {
        if self.stale || !file.exists() {
            return None;
        }
        Some(self.up_to.clone())
    }

    /// A checkpoint rewrites the file: from here on, only what it writes is known to
    /// be saved.
    pub(crate) fn rewriting(&mut self) {
        *self = Saved::loaded(None, false);
    }

    /// The rows up to `key` are in the file now.
    pub(crate) fn saved_up_to(&mut self, key: Option<K>) {
        self.up_to = key;
    }

    /// A save failed: what the file holds is unknown, so the next one rewrites it.
    pub(crate) fn failed(&mut self) {
        self.stale = true;
    }
}

/// Adds the rows `write_rows` writes at the end of a table's existing snapshot, then
/// fsyncs it. A write that fails (a full disk) is cut off again, leaving the file as it
/// was; a crash leaves a torn last row, which [`read`](super::read) drops.
pub fn append(
    encoding: CsvEncoding,
    dir: &Path,
    table: &str,
    write_rows: impl FnOnce(&mut SnapshotWriter) -> io::Result<()>,
) -> Result<()> {
    let path = path(dir, table);
    let file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let before = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    let write = |file: &File| -> io::Result<()> {
        let mut snapshot = SnapshotWriter::new(file.try_clone()?, encoding);
        write_rows(&mut snapshot)?;
        snapshot.finish()?.sync_data()
    };
    write(&file).map_err(|e| {
        let _ = file.set_len(before);
        Error::io(&path, e)
    })
}
