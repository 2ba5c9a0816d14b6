//! The database: every table of one data directory, the journal, and the lock order.
//!
//! Why one struct: start-up (load snapshots, replay the journal) and checkpoints (save
//! every table, drop the journal lines they hold) concern all tables at once. Each table
//! still has its own lock; this struct only gathers them and writes the lock order down
//! in one place.
//!
//! # Lock order
//!
//! A thread that holds more than one lock takes them in this order, and releases them
//! before any network I/O:
//!
//! 1. `users`
//! 2. `products`
//! 3. `wallets`
//! 4. `orders`
//! 5. `transfers` (the wallets' ledger)
//! 6. `files` (published files: LIST_CONTENT reads `users` then `files`;
//!    PUBLISH and DELETE read `users` then write `files`, to check the session's account)
//! 7. the journal's writer lock (taken inside `Journal::commit`, never by callers)
//! 8. the group commit's queue lock (inside `storage::group_commit`, never by callers)
//!
//! The set of users connected for file sharing (`sharing::ConnectedPeers`) has a
//! mutex of its own that is a leaf: it is never held while any other lock is taken.
//! (CONNECT and DISCONNECT take it last, while they hold the `users` read lock.)
//!
//! Why this order: it is the order of the tables' fields below, so a reader can check a
//! function against it at a glance; and it is the order in which a purchase meets them:
//! *what* is bought (`products`), *who pays* (`wallets`), the *record* of the sale
//! (`orders`), and the *evidence* of the payment (`transfers`). Every multi-table
//! operation follows it: ORDER takes products, wallets, orders, transfers; TRANSFER and
//! DEPOSIT take wallets, transfers; REGISTER and UNREGISTER take users, wallets,
//! transfers. Two threads taking two locks in opposite orders can deadlock
//! (`make demo-deadlock` shows it); one global order makes that impossible.
//!
//! # When to checkpoint
//!
//! Writers do not wait for a checkpoint ([`Db::checkpoint`]), but it takes a core and
//! the disk from them while it runs, and its cost grows with the tables: a table that
//! only grew (orders, the ledger) gets its new rows appended, but one whose saved rows
//! changed (balances, stock) is rewritten whole, however little changed. Checkpointing
//! every 64 MiB of journal whatever the tables' size would make each write pay more as
//! the tables grow (docs/bench-notes.md has the figures, "A million existing orders").
//! So a checkpoint is due once the journal has passed `checkpoint_bytes` *and* twice the
//! size of the snapshots: a checkpoint then writes at most half a byte of snapshot per
//! byte of journal, however big the tables get. (Redis rewrites its append-only file at
//! twice its last size for the same reason.) The price: after a crash, up to twice the
//! tables' size of journal to replay at start-up.
//!
//! A busy journal is also checkpointed early while its files are still small (1, then
//! 9 MiB after a start), to switch to a bigger file zeroed ahead rather than grow the
//! small one under the writers' lock (src/storage/padding.rs). Those two checkpoints
//! write only what changed since the last one, a few MiB of journal's worth.

mod canonical_names;
pub mod identity;
mod migrate;
mod open;
pub mod schema;

pub use canonical_names::BACKUP as NAMES_BACKUP;
pub use migrate::BACKUP as MIGRATION_BACKUP;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Result;
use crate::storage::{DirLock, Journal, LockStatsSnapshot, Record, Table, Upkeep, snapshot};
use schema::{AccountIds, LedgerEntry, Order, Product, SharedFile, User, Wallet};

/// Every table of a data directory. Fields are in lock order.
///
/// The tables are public: a domain function takes the locks it needs itself
/// (`db.products.write()`), in the order above, and the reader sees each lock taken
/// where it is taken. A method here for each operation would hide the critical
/// sections that a class comes to see.
pub struct Db {
    /// The data directory: where the snapshots and the journal live.
    dir: PathBuf,
    /// The accounts (`users.csv`): name, id, password hash, role.
    pub users: Table<User>,
    /// The catalogue (`products.csv`): price and stock of each product.
    pub products: Table<Product>,
    /// One wallet per account: its balance and its current pay key.
    pub wallets: Table<Wallet>,
    /// Every order ever placed (`orders.csv`); it only grows.
    pub orders: Table<Order>,
    /// The append-only ledger of every movement of money (`transfers.csv`).
    pub transfers: Table<LedgerEntry>,
    /// The files users publish for others to fetch (`files.csv`).
    pub files: Table<SharedFile>,
    /// Every change, one line per critical section, durable before its reply: what
    /// makes a write survive a crash between two checkpoints.
    pub journal: Journal,
    /// The next account ids: after the largest the data has ever recorded, so that no
    /// id is given twice (src/db/identity.rs). An atomic counter, not a lock.
    pub account_ids: AccountIds,
    /// Checkpoint when the journal grows past this many bytes (and past twice the
    /// snapshots: see "When to checkpoint").
    checkpoint_bytes: u64,
    /// The size of the snapshots on disk, as of the last checkpoint (or start-up).
    snapshot_bytes: AtomicU64,
    /// Set while a checkpoint runs (or the next journal file is made), so that only
    /// one runs at a time.
    checkpointing: AtomicBool,
    /// This process's lock on the directory (never read: dropping it releases the
    /// directory). Declared last, so it is dropped last.
    _lock: DirLock,
}

/// The default journal size that triggers a checkpoint: 64 MiB. Big enough that a
/// checkpoint is rare under load, small enough that a restart replays it in seconds.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;

/// The most zero padding a journal file is made with ahead of time (the lines it will
/// hold until its checkpoint, `checkpoint_due_at`, up to this).
const MAX_JOURNAL_ROOM: u64 = 64 * 1024 * 1024;

impl Db {
    /// Writes every table's snapshot and then drops the journal lines they hold.
    ///
    /// Writers are not stopped: the journal is set aside (`Journal::rotate`, a few
    /// milliseconds under its writer lock), and each table is written a chunk of rows
    /// at a time under its read lock (`Table::save`), so a writer waits at most for one
    /// chunk. Why that is safe is in `Journal::rotate`.
    ///
    /// Each table is rewritten whole, or, if it only grew since the last checkpoint,
    /// gets its new rows appended (a speed layer: `--checkpoint rewrite` switches it
    /// off, src/storage/snapshot/append.rs).
    pub fn checkpoint(&self) -> Result<()> {
        let layers = &self.journal.layers();
        self.journal.rotate()?;
        self.users.save(&self.dir, layers)?;
        self.products.save(&self.dir, layers)?;
        self.wallets.save(&self.dir, layers)?;
        self.orders.save(&self.dir, layers)?;
        self.transfers.save(&self.dir, layers)?;
        self.files.save(&self.dir, layers)?;
        self.journal.drop_old()?;
        self.snapshot_bytes
            .store(self.snapshots_on_disk(), Ordering::Release);
        Ok(())
    }

    /// Zeroes the file the next checkpoint's journal will be, now, with no lock held.
    /// Without it the rotation starts a small file, which grows as the lines come.
    fn prepare_next_journal(&self, room: u64) {
        let start = std::time::Instant::now();
        match self.journal.prepare_next(room) {
            Ok(()) => log::debug!(
                "made the next journal file, room for {} KiB of lines, in {:?}",
                room >> 10,
                start.elapsed()
            ),
            Err(e) => log::warn!(
                "cannot make the next journal file ahead ({e}); the next checkpoint starts a small one"
            ),
        }
    }

    /// The journal size at which the next checkpoint is due: `checkpoint_bytes`, or
    /// twice the snapshots if that is more (see "When to checkpoint").
    pub fn checkpoint_due_at(&self) -> u64 {
        let twice_the_snapshots = self
            .snapshot_bytes
            .load(Ordering::Acquire)
            .saturating_mul(2);
        self.checkpoint_bytes.max(twice_the_snapshots)
    }

    /// The total size of the tables' snapshot files (a missing one counts as empty).
    fn snapshots_on_disk(&self) -> u64 {
        fn size<R: Record>(dir: &Path) -> u64 {
            std::fs::metadata(snapshot::path(dir, R::TABLE)).map_or(0, |m| m.len())
        }
        let dir = &self.dir;
        size::<User>(dir)
            + size::<Product>(dir)
            + size::<Wallet>(dir)
            + size::<Order>(dir)
            + size::<LedgerEntry>(dir)
            + size::<SharedFile>(dir)
    }

    /// Every lock's contention counters, in lock order (for STATS).
    pub fn lock_stats(&self) -> Vec<(&'static str, LockStatsSnapshot)> {
        // A copy of each lock's counters, taken without the lock: the figures of one
        // table may be a few requests apart from another's, which STATS can afford.
        vec![
            ("users", self.users.lock_stats().snapshot()),
            ("products", self.products.lock_stats().snapshot()),
            ("wallets", self.wallets.lock_stats().snapshot()),
            ("orders", self.orders.lock_stats().snapshot()),
            ("transfers", self.transfers.lock_stats().snapshot()),
            ("files", self.files.lock_stats().snapshot()),
            // The journal's writer lock: where every write of every table meets.
            ("journal", self.journal.lock_stats().snapshot()),
        ]
    }

    /// Checkpoints if the journal has grown past its limit and no checkpoint is running.
    /// Called after a write, outside every lock.
    ///
    /// It also keeps the journal's zero padding ahead of its use, as the journal says
    /// ([`Journal::upkeep`], src/storage/padding.rs): the next journal file is made
    /// ahead once the journal is in use, and a journal that outgrew a small file is
    /// checkpointed early, onto the bigger one. A quiet server does neither.
    pub fn checkpoint_if_due(&self) {
        let upkeep = self
            .journal
            .upkeep(self.checkpoint_due_at(), MAX_JOURNAL_ROOM);
        if upkeep == Upkeep::Nothing || self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        match upkeep {
            Upkeep::MakeNext { room } => self.prepare_next_journal(room),
            _ => {
                let start = std::time::Instant::now();
                match self.checkpoint() {
                    Ok(()) => log::info!("checkpoint done in {:?}", start.elapsed()),
                    Err(e) => {
                        log::error!("checkpoint failed (the journal keeps the data): {e}");
                        self.journal.no_early_checkpoint();
                    }
                }
            }
        }
        self.checkpointing.store(false, Ordering::Release);
    }
}

/// Lets code that only needs the database (the key rotation thread) take whatever
/// owns it: the server's shared state, or a `Db` itself in tests.
impl AsRef<Db> for Db {
    fn as_ref(&self) -> &Db {
        // A `Db` is its own database.
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Cents;
    use crate::shop::{catalog, orders};
    use crate::storage::Layers;
    use crate::wallet::testing::account_of;
    use crate::wallet::transfer;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// A data directory with the demo data, alice and bob rich, and a product with
    /// plenty of stock.
    fn busy_store() -> (tempfile::TempDir, Db) {
        busy_store_with(Layers::default())
    }

    /// [`busy_store`], with these speed layers of storage on.
    fn busy_store_with(layers: Layers) -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        for table in ["users", "products", "orders"] {
            let name = format!("{table}.csv");
            std::fs::copy(data.join(&name), dir.path().join(&name)).unwrap();
        }
        let db = Db::open_with(dir.path(), 1 << 20, layers).unwrap();
        crate::wallet::open_missing(&db, &crate::wallet::WalletPolicy::default()).unwrap();
        catalog::add(&db, "Milho", Cents(1), 1_000_000).unwrap();
        for user in ["alice", "bob"] {
            transfer::deposit(&db, "admin", user, Cents(1_000_000)).unwrap();
        }
        (dir, db)
    }

    /// What a restart must find: every order, the stock, every balance and ledger line.
    fn state(db: &Db) -> (usize, u64, Vec<(String, Cents)>, usize) {
        let stock = db.products.read().get("Milho").map_or(0, |p| p.stock);
        let balances = db
            .wallets
            .read()
            .values()
            .map(|w| (w.user.clone(), w.balance))
            .collect();
        (
            db.orders.read().len(),
            stock,
            balances,
            db.transfers.read().len(),
        )
    }

    #[test]
    /// Every layer on, and every layer off (the plain storage: fsync per waiter,
    /// lines appended, snapshots rewritten, CSV by the crate).
    fn checkpoints_while_orders_go_on_lose_nothing_and_a_restart_agrees() {
        for layers in [Layers::FAST, Layers::PLAIN] {
            let (dir, db) = busy_store_with(layers);
            let db = Arc::new(db);
            let stop = Arc::new(AtomicBool::new(false));
            let buyers: Vec<_> = ["alice", "bob", "alice", "bob"]
                .into_iter()
                .map(|user| {
                    let (db, stop) = (db.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut placed = 0;
                        while !stop.load(Ordering::Relaxed) {
                            orders::place(&db, &account_of(&db, user), "Milho", 1).unwrap();
                            placed += 1;
                        }
                        placed
                    })
                })
                .collect();
            // Checkpoints with the buyers running (each waits for some orders to land).
            for _ in 0..3 {
                let seen = db.orders.read().len();
                while db.orders.read().len() < seen + 200 {
                    std::thread::yield_now();
                }
                db.checkpoint().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            let placed: usize = buyers.into_iter().map(|b| b.join().unwrap()).sum();
            let before = state(&db);
            assert!(placed >= 600, "{placed}");
            drop(db);
            assert!(!dir.path().join("journal.old.csv").exists());
            let db = Db::open_with(dir.path(), 1 << 20, layers).unwrap();
            assert_eq!(state(&db), before);
        }
    }

    /// The inode of a table's snapshot: a rewrite renames a new file over it, an append
    /// keeps it.
    fn inode(dir: &Path, table: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(snapshot::path(dir, table)).unwrap().ino()
    }

    #[test]
    fn a_checkpoint_appends_new_rows_and_rewrites_a_table_whose_saved_rows_changed() {
        let (dir, db) = busy_store();
        for _ in 0..20 {
            orders::place(&db, &account_of(&db, "alice"), "Milho", 1).unwrap();
        }
        db.checkpoint().unwrap();
        let (orders_file, wallets_file) =
            (inode(dir.path(), "orders"), inode(dir.path(), "wallets"));
        for _ in 0..20 {
            orders::place(&db, &account_of(&db, "bob"), "Milho", 1).unwrap();
        }
        db.checkpoint().unwrap();
        // Orders only grew: appended. Balances changed: rewritten.
        assert_eq!(inode(dir.path(), "orders"), orders_file, "orders appended");
        assert_ne!(
            inode(dir.path(), "wallets"),
            wallets_file,
            "wallets rewritten"
        );
        let before = state(&db);
        let orders_in_file = std::fs::read_to_string(snapshot::path(dir.path(), "orders"))
            .unwrap()
            .lines()
            .count()
            - 1;
        assert_eq!(orders_in_file, before.0, "each order once");
        drop(db);
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(state(&db), before);
    }

    /// The same checkpoints with appending off (`--checkpoint rewrite`): every
    /// snapshot is rewritten, the orders too, and a restart agrees.
    #[test]
    fn with_checkpoint_rewrite_a_table_that_only_grew_is_rewritten_too() {
        let layers = Layers {
            append_checkpoints: false,
            ..Layers::FAST
        };
        let (dir, db) = busy_store_with(layers);
        orders::place(&db, &account_of(&db, "alice"), "Milho", 1).unwrap();
        db.checkpoint().unwrap();
        let orders_file = inode(dir.path(), "orders");
        orders::place(&db, &account_of(&db, "bob"), "Milho", 1).unwrap();
        db.checkpoint().unwrap();
        assert_ne!(inode(dir.path(), "orders"), orders_file, "orders rewritten");
        let before = state(&db);
        drop(db);
        let db = Db::open_with(dir.path(), 1 << 20, layers).unwrap();
        assert_eq!(state(&db), before);
    }

    #[test]
    fn a_torn_appended_row_is_dropped_and_the_snapshot_rewritten() {
        let (dir, db) = busy_store();
        db.checkpoint().unwrap();
        orders::place(&db, &account_of(&db, "alice"), "Milho", 3).unwrap();
        let before = state(&db);
        drop(db);
        // A crash in the middle of appending that order: the journal still holds it.
        let path = snapshot::path(dir.path(), "orders");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, b"999,alice,Mil").unwrap();
        let torn_file = inode(dir.path(), "orders");
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(state(&db), before);
        // The start-up checkpoint rewrote the file instead of appending after the tear.
        assert_ne!(inode(dir.path(), "orders"), torn_file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n') && !text.contains("Mil\n"), "{text}");
    }

    #[test]
    fn a_restart_after_a_checkpoint_that_stopped_half_way_agrees() {
        let (dir, db) = busy_store();
        for _ in 0..50 {
            orders::place(&db, &account_of(&db, "alice"), "Milho", 2).unwrap();
        }
        // The checkpoint sets the journal aside and saves two tables of six...
        db.journal.rotate().unwrap();
        db.orders.save(dir.path(), &db.journal.layers()).unwrap();
        // ...while more orders come (in the new journal, partly in that snapshot)...
        for _ in 0..50 {
            orders::place(&db, &account_of(&db, "bob"), "Milho", 1).unwrap();
        }
        db.products.save(dir.path(), &db.journal.layers()).unwrap();
        // ...and then the process dies: no other snapshot, the old journal stays.
        let before = state(&db);
        drop(db);
        assert!(dir.path().join("journal.old.csv").exists());
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(state(&db), before);
        // That start-up's own checkpoint finished the job.
        assert!(!dir.path().join("journal.old.csv").exists());
    }

    #[test]
    fn a_checkpoint_waits_for_the_journal_to_pass_twice_the_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        // 20,000 orders: a snapshot of about a megabyte, far above a 4 KiB minimum.
        let mut orders =
            String::from("id,user,account,product,quantity,unit_price,total,created_at\n");
        for id in 1..=20_000 {
            orders.push_str(&format!(
                "{id},alice,2,Banana,1,0.75,0.75,2026-11-27T12:00:00Z\n"
            ));
        }
        std::fs::write(dir.path().join("orders.csv"), &orders).unwrap();
        let db = Db::open(dir.path(), 4096).unwrap();
        let snapshots = orders.len() as u64;
        assert_eq!(db.checkpoint_due_at(), 2 * snapshots);

        // Small tables: the minimum decides.
        let small = tempfile::tempdir().unwrap();
        let db = Db::open(small.path(), 4096).unwrap();
        assert_eq!(db.checkpoint_due_at(), 4096);
    }
}
