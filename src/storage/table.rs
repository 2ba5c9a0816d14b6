//! One table: its rows in memory, behind its own lock, with staged changes.
//!
//! Why a reader-writer lock: most requests only read (PRODUCTS, PRODUCT, ORDERS), and
//! many readers may look at the same table at once; a writer waits for them and then
//! has the table to itself. `parking_lot`'s lock is small, fast, and does not let a
//! steady stream of readers starve a writer.
//!
//! Why staged changes: a write guard does not change rows directly. It *stages* puts
//! and deletes; [`Journal::commit`](super::Journal::commit) writes them to the journal
//! and only then applies them. So memory can never hold a change that the disk refused.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::ops::Deref;
use std::path::Path;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::journal::{Change, Staged};
use super::line::LineEncoder;
use super::snapshot::append::{self, Saved};
use super::{Layers, LockStats, Record, snapshot};
use crate::error::{Error, Result};

/// How many rows a snapshot writes per turn of the table's read lock: a few
/// milliseconds of writing, so writers wait at most that long during a checkpoint.
const SAVE_CHUNK: usize = 4096;

/// How many rows [`Table::walk_back`] visits per turn of the table's read lock.
const WALK_CHUNK: usize = 4096;

/// The rows of one table, sorted by key, behind their own lock.
pub struct Table<R: Record> {
    rows: RwLock<BTreeMap<R::Key, R>>,
    stats: LockStats,
    /// What the snapshot file holds, so that a checkpoint can append to it instead of
    /// rewriting it (src/storage/snapshot/append.rs). A leaf lock: taken under the
    /// table's lock, for a few instructions.
    saved: Mutex<Saved<R::Key>>,
}

/// Shared, read-only access to a table's rows (many at once).
pub struct TableRead<'a, R: Record> {
    rows: RwLockReadGuard<'a, BTreeMap<R::Key, R>>,
}

/// Exclusive access to a table: read its rows, stage changes for the next commit.
pub struct TableWrite<'a, R: Record> {
    rows: RwLockWriteGuard<'a, BTreeMap<R::Key, R>>,
    staged: Vec<Staging<R>>,
    saved: &'a Mutex<Saved<R::Key>>,
}

enum Staging<R: Record> {
    Put(R),
    Delete(R::Key),
}

impl<R: Record> Default for Table<R> {
    fn default() -> Self {
        Table {
            rows: RwLock::new(BTreeMap::new()),
            stats: LockStats::default(),
            saved: Mutex::new(Saved::loaded(None, false)),
        }
    }
}

impl<R: Record> Table<R> {
    /// Loads the table from its snapshot in `dir` (a missing snapshot is an empty table).
    pub fn load(dir: &Path) -> Result<Table<R>> {
        let path = snapshot::path(dir, R::TABLE);
        let mut rows = BTreeMap::new();
        let snapshot::Rows { rows: lines, torn } = snapshot::read(&path, R::COLUMNS)?;
        for (line, fields) in lines {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let row = R::from_fields(&fields).map_err(|e| Error::Corrupt {
                path: path.clone(),
                line,
                message: e.0,
            })?;
            if rows.insert(row.key(), row).is_some() {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    line,
                    message: "a second row with the same key".into(),
                });
            }
        }
        // A torn last row must not have rows appended after it.
        let saved = Saved::loaded(rows.keys().next_back().cloned(), torn);
        Ok(Table {
            rows: RwLock::new(rows),
            stats: LockStats::default(),
            saved: Mutex::new(saved),
        })
    }

    /// Takes the read lock.
    pub fn read(&self) -> TableRead<'_, R> {
        let rows = self
            .stats
            .acquire(|| self.rows.try_read(), || self.rows.read());
        TableRead { rows }
    }

    /// Takes the write lock. Mind the lock order (docs/ARCHITECTURE.md).
    pub fn write(&self) -> TableWrite<'_, R> {
        let rows = self
            .stats
            .acquire(|| self.rows.try_write(), || self.rows.write());
        TableWrite {
            rows,
            staged: Vec::new(),
            saved: &self.saved,
        }
    }

    /// Brings the table's snapshot up to date while writers go on: rewrites the file
    /// with every row (see [`snapshot::write_atomic`]), or, with appending checkpoints
    /// on and no saved row changed since the last save, appends the rows added since
    /// (see [`append`]). Either way the read lock is taken for [`SAVE_CHUNK`] rows at a
    /// time and released in between, so a writer waits for one chunk, never for the
    /// whole table. The snapshot may hold changes made while it was written; the
    /// journal holds them too (see `Journal::rotate` for why the two together are exact).
    pub fn save(&self, dir: &Path, layers: &Layers) -> Result<()> {
        let file = snapshot::path(dir, R::TABLE);
        let append_after = if layers.append_checkpoints {
            self.saved.lock().may_append_after(&file)
        } else {
            None
        };
        let result = match append_after {
            // The plain way: every row, into a new file renamed over the old one.
            None => {
                self.saved.lock().rewriting();
                snapshot::write_atomic_with(layers.csv, dir, R::TABLE, R::COLUMNS, |snapshot| {
                    self.write_rows_after(None, snapshot)
                })
            }
            // The speed layer: only the rows added since, at the end of the file.
            Some(after) => append::append(layers.csv, dir, R::TABLE, |snapshot| {
                self.write_rows_after(after, snapshot)
            }),
        };
        if result.is_err() {
            self.saved.lock().failed();
        }
        result
    }

    /// Writes the rows with keys after `after` (all of them for `None`), a chunk per
    /// turn of the read lock, noting after each chunk how far the file is up to date.
    fn write_rows_after(
        &self,
        mut after: Option<R::Key>,
        snapshot: &mut snapshot::SnapshotWriter,
    ) -> std::io::Result<()> {
        loop {
            let rows = self.read();
            let range = match &after {
                None => rows.range::<R::Key, _>(..),
                Some(key) => rows.range::<R::Key, _>((Bound::Excluded(key), Bound::Unbounded)),
            };
            let mut written = 0;
            for (key, row) in range.take(SAVE_CHUNK) {
                snapshot.row(|fields| row.write_fields(fields))?;
                after = Some(key.clone());
                written += 1;
            }
            // Still under the read lock: no change slips in between the rows written
            // and this note, and any later change at or below it marks the file stale.
            self.saved.lock().saved_up_to(after.clone());
            if written < SAVE_CHUNK {
                return Ok(());
            }
        }
    }

    /// Visits every row, the last key first, holding the read lock for
    /// [`WALK_CHUNK`] rows at a time and releasing it in between, so that a writer
    /// waits for one chunk, never for the whole walk (a million orders take about
    /// 60 ms to walk in a release build).
    ///
    /// Meant for a table that only grows at its end (the orders, the ledger): rows
    /// added during the walk have keys after its first row and are not visited, so the
    /// walk sees the table as it was when it started. (In a table whose rows change, a
    /// row is seen as it was when its chunk was read.)
    pub fn walk_back(&self, mut visit: impl FnMut(&R)) {
        let mut before: Option<R::Key> = None;
        loop {
            let rows = self.read();
            let range = match &before {
                None => rows.range::<R::Key, _>(..),
                Some(key) => rows.range::<R::Key, _>((Bound::Unbounded, Bound::Excluded(key))),
            };
            let mut walked = 0;
            for (key, row) in range.rev().take(WALK_CHUNK) {
                visit(row);
                before = Some(key.clone());
                walked += 1;
            }
            if walked < WALK_CHUNK {
                return;
            }
        }
    }

    /// This table's lock counters.
    pub fn lock_stats(&self) -> &LockStats {
        &self.stats
    }

    /// Applies one change read back from the journal at start-up.
    pub fn replay(&self, change: &Change) -> std::result::Result<(), String> {
        let mut rows = self.rows.write();
        match change {
            Change::Put { fields, .. } => {
                if fields.len() != R::COLUMNS.len() {
                    return Err(format!(
                        "{}: expected {} fields, found {}",
                        R::TABLE,
                        R::COLUMNS.len(),
                        fields.len()
                    ));
                }
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                let row = R::from_fields(&fields).map_err(|e| format!("{}: {e}", R::TABLE))?;
                self.saved.lock().changed(&row.key());
                rows.insert(row.key(), row);
            }
            Change::Delete { key, .. } => {
                let key: R::Key = key
                    .parse()
                    .map_err(|_| format!("{}: bad key {key:?}", R::TABLE))?;
                self.saved.lock().changed(&key);
                rows.remove(&key);
            }
        }
        Ok(())
    }
}

impl<R: Record> Deref for TableRead<'_, R> {
    type Target = BTreeMap<R::Key, R>;
    fn deref(&self) -> &Self::Target {
        &self.rows
    }
}

impl<R: Record> TableRead<'_, R> {}

impl<R: Record> Deref for TableWrite<'_, R> {
    type Target = BTreeMap<R::Key, R>;
    /// The committed rows; staged changes are not visible until the commit.
    fn deref(&self) -> &Self::Target {
        &self.rows
    }
}

impl<R: Record> TableWrite<'_, R> {
    /// Stages an insert or a replacement of `row`.
    pub fn stage_put(&mut self, row: R) {
        self.staged.push(Staging::Put(row));
    }

    /// Stages the deletion of the row with this key.
    pub fn stage_delete(&mut self, key: R::Key) {
        self.staged.push(Staging::Delete(key));
    }
}

impl<R: Record> Staged for TableWrite<'_, R> {
    fn encode_staged(&self, line: &mut LineEncoder<'_>) {
        for staging in &self.staged {
            match staging {
                Staging::Put(row) => line.put_row(row),
                Staging::Delete(key) => line.delete(R::TABLE, &key.to_string()),
            }
        }
    }

    fn apply_staged(&mut self) {
        let mut saved = self.saved.lock();
        for staging in self.staged.drain(..) {
            match staging {
                Staging::Put(row) => {
                    saved.changed(&row.key());
                    self.rows.insert(row.key(), row);
                }
                Staging::Delete(key) => {
                    saved.changed(&key);
                    self.rows.remove(&key);
                }
            }
        }
    }

    fn discard_staged(&mut self) {
        self.staged.clear();
    }
}

impl<R: Record> Drop for TableWrite<'_, R> {
    fn drop(&mut self) {
        // Staging without committing is a bug in the caller, not bad input.
        debug_assert!(
            self.staged.is_empty() || std::thread::panicking(),
            "{}: changes were staged but never committed",
            R::TABLE
        );
    }
}
