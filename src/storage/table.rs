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
//!
//! Why a `BTreeMap`: rows come out sorted by key, so a list reply, a snapshot and a
//! walk from the newest order back all read in key order, and a checkpoint can ask for
//! "every row after the last one saved" (appending checkpoints).
//!
//! Why the lock is private: callers see [`Table::read`] and [`Table::write`], which
//! count contention for STATS, and a write guard that can only stage. Which tables a
//! request may lock, and in what order, is the database's rule (src/db.rs).

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
    /// The rows, sorted by key. The only lock a request takes on this table.
    rows: RwLock<BTreeMap<R::Key, R>>,
    /// How often the lock was contended and for how long, for STATS.
    stats: LockStats,
    /// What the snapshot file holds, so that a checkpoint can append to it instead of
    /// rewriting it (src/storage/snapshot/append.rs). A leaf lock: taken under the
    /// table's lock, for a few instructions.
    saved: Mutex<Saved<R::Key>>,
}

/// Shared, read-only access to a table's rows (many at once).
pub struct TableRead<'a, R: Record> {
    /// Released when the `TableRead` is dropped.
    rows: RwLockReadGuard<'a, BTreeMap<R::Key, R>>,
}

/// Exclusive access to a table: read its rows, stage changes for the next commit.
pub struct TableWrite<'a, R: Record> {
    /// The committed rows, readable while changes are staged.
    rows: RwLockWriteGuard<'a, BTreeMap<R::Key, R>>,
    /// The changes waiting for the journal, in the order they were made.
    staged: Vec<Staging<R>>,
    /// Told about every applied change, so a checkpoint knows whether it may append.
    saved: &'a Mutex<Saved<R::Key>>,
}

/// One staged change: the same two operations as a journal line's `put` and `del`.
enum Staging<R: Record> {
    /// Insert or replace the whole row.
    Put(R),
    /// Delete the row with this key.
    Delete(R::Key),
}

/// An empty table with no snapshot yet (tests, and tables new to a data directory).
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
        // Checks the header; drops a torn last row (an appending checkpoint's crash).
        let snapshot::Rows { rows: lines, torn } = snapshot::read(&path, R::COLUMNS)?;
        for (line, fields) in lines {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            // A bad row stops the start, naming the file and the line: data the
            // server cannot read is never silently dropped.
            let row = R::from_fields(&fields).map_err(|e| Error::Corrupt {
                path: path.clone(),
                line,
                message: e.0,
            })?;
            // Two rows with one key: one of them would be lost without a word.
            if rows.insert(row.key(), row).is_some() {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    line,
                    message: "a second row with the same key".into(),
                });
            }
        }
        // The file holds every row up to the last key read, so the first checkpoint may
        // append after it; a torn last row must not have rows appended after it.
        let saved = Saved::loaded(rows.keys().next_back().cloned(), torn);
        Ok(Table {
            rows: RwLock::new(rows),
            stats: LockStats::default(),
            saved: Mutex::new(saved),
        })
    }

    /// Takes the read lock.
    pub fn read(&self) -> TableRead<'_, R> {
        // Counted for STATS: a `try_read` first, timed only if it had to wait.
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
            // Allocates nothing until the first change is staged.
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
        // `Some(after)`: the speed layer is on and may append the rows after `after`.
        // `None`: rewrite the whole file, the plain way.
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
        // What the file holds after a failure is unknown: the next save rewrites it.
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
            // A new turn of the read lock: writers that waited ran in between.
            let rows = self.read();
            // Picks up after the last key written, wherever the table has changed.
            let range = match &after {
                None => rows.range::<R::Key, _>(..),
                Some(key) => rows.range::<R::Key, _>((Bound::Excluded(key), Bound::Unbounded)),
            };
            let mut written = 0;
            for (key, row) in range.take(SAVE_CHUNK) {
                // The row hands its fields to the snapshot's encoder (`Record::write_fields`).
                snapshot.row(|fields| row.write_fields(fields))?;
                after = Some(key.clone());
                written += 1;
            }
            // Still under the read lock: no change slips in between the rows written
            // and this note, and any later change at or below it marks the file stale.
            self.saved.lock().saved_up_to(after.clone());
            // A short chunk: no row is left after it.
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
        // The last key visited: the next chunk starts just before it.
        let mut before: Option<R::Key> = None;
        loop {
            // One chunk per turn of the read lock.
            let rows = self.read();
            let range = match &before {
                None => rows.range::<R::Key, _>(..),
                // Every key before the last one visited; walked from its end below.
                Some(key) => rows.range::<R::Key, _>((Bound::Unbounded, Bound::Excluded(key))),
            };
            let mut walked = 0;
            for (key, row) in range.rev().take(WALK_CHUNK) {
                visit(row);
                before = Some(key.clone());
                walked += 1;
            }
            // A short chunk: the walk reached the first row.
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
        // No staging: the change is on disk already. Start-up is single-threaded, so
        // the lock is never contended (and not counted).
        let mut rows = self.rows.write();
        match change {
            Change::Put { fields, .. } => {
                // A line with the wrong number of fields is damage, not a row.
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
                // A replayed row may change one the snapshot holds: no append after it.
                self.saved.lock().changed(&row.key());
                // `put` replaces the whole row: replaying it twice is harmless.
                rows.insert(row.key(), row);
            }
            Change::Delete { key, .. } => {
                // The key as the journal wrote it, parsed back to the table's key type.
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

/// A read guard reads like the map itself: `products.get(name)`, `orders.iter()`.
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

/// What the journal needs of a write guard to commit it (see [`Journal::commit`](super::Journal::commit)).
impl<R: Record> Staged for TableWrite<'_, R> {
    /// Each staged change becomes one `put` or `del` in the transaction's line.
    fn encode_staged(&self, line: &mut LineEncoder<'_>) {
        for staging in &self.staged {
            match staging {
                Staging::Put(row) => line.put_row(row),
                Staging::Delete(key) => line.delete(R::TABLE, &key.to_string()),
            }
        }
    }

    /// The line is written: the changes become visible, in the order they were made.
    fn apply_staged(&mut self) {
        // A leaf lock, taken once for the whole transaction.
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

    /// The journal refused the line: the table stays as it was.
    fn discard_staged(&mut self) {
        self.staged.clear();
    }
}

/// Releasing the write lock (the guard's own drop) with changes still staged would
/// lose them silently: debug builds and the tests catch it.
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
