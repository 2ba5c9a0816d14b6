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

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::journal::{Change, Staged};
use super::line::LineEncoder;
use super::{LockStats, Record, snapshot};
use crate::error::{Error, Result};

/// How many rows a snapshot writes per turn of the table's read lock: a few
/// milliseconds of writing, so writers wait at most that long during a checkpoint.
const SAVE_CHUNK: usize = 4096;

/// The rows of one table, sorted by key, behind their own lock.
pub struct Table<R: Record> {
    rows: RwLock<BTreeMap<R::Key, R>>,
    stats: LockStats,
}

/// Shared, read-only access to a table's rows (many at once).
pub struct TableRead<'a, R: Record> {
    rows: RwLockReadGuard<'a, BTreeMap<R::Key, R>>,
}

/// Exclusive access to a table: read its rows, stage changes for the next commit.
pub struct TableWrite<'a, R: Record> {
    rows: RwLockWriteGuard<'a, BTreeMap<R::Key, R>>,
    staged: Vec<Staging<R>>,
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
        }
    }
}

impl<R: Record> Table<R> {
    /// Loads the table from its snapshot in `dir` (a missing snapshot is an empty table).
    pub fn load(dir: &Path) -> Result<Table<R>> {
        let path = snapshot::path(dir, R::TABLE);
        let mut rows = BTreeMap::new();
        for (line, fields) in snapshot::read(&path, R::COLUMNS)? {
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
        Ok(Table {
            rows: RwLock::new(rows),
            stats: LockStats::default(),
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
        }
    }

    /// Writes the table's snapshot (see [`snapshot::write_atomic`]) while writers go
    /// on: the read lock is taken for [`SAVE_CHUNK`] rows at a time and released in
    /// between, so a writer waits for one chunk, never for the whole table. The snapshot
    /// may hold changes made while it was written; the journal holds them too (see
    /// `Journal::rotate` for why the two together are exact).
    pub fn save(&self, dir: &Path) -> Result<()> {
        snapshot::write_atomic(dir, R::TABLE, R::COLUMNS, |snapshot| {
            let mut last: Option<R::Key> = None;
            loop {
                let rows = self.read();
                let after = match &last {
                    None => rows.range::<R::Key, _>(..),
                    Some(key) => rows.range::<R::Key, _>((Bound::Excluded(key), Bound::Unbounded)),
                };
                let mut written = 0;
                for (key, row) in after.take(SAVE_CHUNK) {
                    snapshot.row(|fields| row.write_fields(fields))?;
                    last = Some(key.clone());
                    written += 1;
                }
                if written < SAVE_CHUNK {
                    return Ok(());
                }
            }
        })
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
                rows.insert(row.key(), row);
            }
            Change::Delete { key, .. } => {
                let key: R::Key = key
                    .parse()
                    .map_err(|_| format!("{}: bad key {key:?}", R::TABLE))?;
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
        for staging in self.staged.drain(..) {
            match staging {
                Staging::Put(row) => {
                    self.rows.insert(row.key(), row);
                }
                Staging::Delete(key) => {
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
