//! Opening a data directory: load every snapshot, replay the journal on top, bring
//! older data up to date (account ids, canonical names), and checkpoint.
//!
//! Why a file of its own: start-up runs once, and reads best as one story, from the
//! directory's lock to the first request; the database it builds, with its lock order
//! and its checkpoints, is src/db.rs.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::schema::AccountIds;
use super::{Db, canonical_names, identity, migrate};
use crate::error::{Error, Result};
use crate::storage::{Change, DirLock, Journal, Layers, Table};

/// The zero padding a journal file starts with: room for 512 KiB of lines, and since
/// the file grows in whole MiB, a 1 MiB file. Small, so that neither the start nor the
/// first request waits for zeros (a millisecond or two), and a quiet server keeps
/// little of them on disk. It grows with use (src/storage/padding.rs).
const FIRST_JOURNAL_ROOM: u64 = 512 * 1024;

impl Db {
    /// Opens a data directory: locks it for this process ([`DirLock`]), loads every
    /// snapshot, replays the journal on top, and checkpoints so that the snapshots are
    /// current and the journal empty. Fails, changing nothing, if another process (or
    /// another `Db`) has the directory open. Every speed layer of storage is on.
    pub fn open(dir: &Path, checkpoint_bytes: u64) -> Result<Db> {
        Db::open_with(dir, checkpoint_bytes, Layers::default())
    }

    /// [`Db::open`], with these speed layers of storage on (see [`Layers`]).
    pub fn open_with(dir: &Path, checkpoint_bytes: u64, layers: Layers) -> Result<Db> {
        // The lock first: nothing in the directory is read, let alone written, until
        // this process is the only one that may.
        Db::open_locked(DirLock::acquire(dir)?, checkpoint_bytes, layers)
    }

    /// [`Db::open_with`] with the directory already locked (the server locks it before
    /// it binds its socket, and opens the tables after).
    pub fn open_locked(lock: DirLock, checkpoint_bytes: u64, layers: Layers) -> Result<Db> {
        let mut db = Db::load(lock, checkpoint_bytes, layers)?;
        // Names stored before their canonical forms are renamed on disk, and the
        // tables loaded again (src/db/canonical_names.rs).
        if canonical_names::rename(&db)? {
            // The old tables and journal are dropped (closed) before they are loaded again.
            let lock = db.into_lock();
            db = Db::load(lock, checkpoint_bytes, layers)?;
        }
        // Zeros ahead of the first line, so that the first writes are made in place
        // rather than grow the file (src/storage/padding.rs).
        db.journal.keep_room(FIRST_JOURNAL_ROOM);
        Ok(db)
    }

    /// Loads every table and replays the journal on top (see [`Db::open`]).
    fn load(lock: DirLock, checkpoint_bytes: u64, layers: Layers) -> Result<Db> {
        // A copy of the path: the lock moves into the `Db` below.
        let dir = &lock.dir().to_path_buf();
        // The journal's lines are read first, and kept until the tables are loaded:
        // they are applied on top of the snapshots. A torn last line (a crash in the
        // middle of a write) was never acknowledged, and is dropped here.
        let (journal, entries) = Journal::open_with(dir, layers)?;
        // Tables from before account ids are given ids first (src/db/migrate.rs).
        migrate::account_ids(dir, entries.len())?;
        // Each table from its snapshot, `<table>.csv` (an empty table if there is none).
        // `account_ids` is set once the journal has been replayed, below.
        let mut db = Db {
            dir: dir.to_path_buf(),
            users: Table::load(dir)?,
            products: Table::load(dir)?,
            wallets: Table::load(dir)?,
            orders: Table::load(dir)?,
            transfers: Table::load(dir)?,
            files: Table::load(dir)?,
            journal,
            account_ids: AccountIds::after(0),
            checkpoint_bytes,
            snapshot_bytes: AtomicU64::new(0),
            checkpointing: AtomicBool::new(false),
            _lock: lock,
        };
        // What the next checkpoint is measured against ("When to checkpoint").
        db.snapshot_bytes
            .store(db.snapshots_on_disk(), Ordering::Release);
        let replayed = entries.len();
        // In the order they were written: each line is one critical section's changes,
        // and a later line may change a row an earlier one made.
        for entry in entries {
            for change in &entry.changes {
                // A line that does not fit the tables is corruption, not bad input:
                // start-up stops, naming the file and the line, rather than guess.
                db.replay(change).map_err(|message| Error::Corrupt {
                    path: dir.join("journal.csv"),
                    line: entry.line,
                    message,
                })?;
            }
        }
        // Only now: the journal may hold REGISTERs and ledger lines the snapshots miss.
        let highest = identity::highest_recorded(&db.users.read(), &db.transfers.read());
        db.account_ids = AccountIds::after(highest);
        if replayed > 0 {
            // More than zero means the last run did not end with a checkpoint (a crash,
            // a kill): worth a line in the log.
            log::info!("replayed {replayed} transactions from the journal");
            // The replayed lines go into the snapshots, so the next start replays
            // nothing and the journal starts empty.
            db.checkpoint()?;
        }
        Ok(db)
    }

    /// Closes everything but the lock on the directory.
    fn into_lock(self) -> DirLock {
        // Every other field (the tables, the journal's file) is dropped here.
        self._lock
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies one journal change to the table it names.
    fn replay(&self, change: &Change) -> std::result::Result<(), String> {
        // The names are the tables' file names (`Record::TABLE`), as the journal writes
        // them; a name that is none of them means a journal from something else.
        match change.table() {
            "users" => self.users.replay(change),
            "products" => self.products.replay(change),
            "wallets" => self.wallets.replay(change),
            "orders" => self.orders.replay(change),
            "transfers" => self.transfers.replay(change),
            "files" => self.files.replay(change),
            other => Err(format!("unknown table {other:?}")),
        }
    }
}
