//! Durable tables: CSV snapshots plus one append-only journal.
//!
//! Why this design (docs/ARCHITECTURE.md, "Storage", tells the whole story):
//! - Every table lives in memory, so reads never touch the disk.
//! - Every change is first appended to `journal.csv` and made durable with `fsync`
//!   before the client hears "OK". Appending costs the same whether a table holds
//!   a thousand rows or a million: no whole-file rewrite per order (seed 003's flaw).
//! - One journal line holds a whole transaction (an ORDER changes a product *and*
//!   adds an order), so a crash applies all of it or none of it.
//! - Each line carries a checksum. A crash can tear only the last line; on start-up
//!   a torn last line is dropped (it was never acknowledged), while damage anywhere
//!   else stops the server with the file and line, rather than losing data silently.
//! - From time to time (and at start-up) a checkpoint sets the journal aside, writes
//!   every table to its CSV snapshot (`users.csv`, ...) through a temporary file and an
//!   atomic rename, a chunk of rows at a time so that writers go on, then deletes the
//!   journal it set aside (`Journal::rotate`). Snapshots are what people read; the
//!   journal is what survives.
//!
//! That is the plain version. Four speed layers sit on top of it, each in its own
//! file and each one flag away from off ([`Layers`] lists them): group commit, the
//! pre-zeroed journal, appending checkpoints and the hand-written CSV.
//!
//! The pieces:
//! - [`Record`]: how a row type maps to CSV fields;
//! - [`Table`]: the rows of one table behind their own instrumented lock;
//! - [`Journal`]: the append-only log (writing a line, reading it back at start-up,
//!   setting it aside for a checkpoint);
//! - `sync_state`: what every way of waiting shares: lines written and synced, the fsync;
//! - `durability`: waiting until a journal line is on disk: the plain way, an fsync
//!   per waiter;
//! - `group_commit` (a speed layer): one fsync for every thread that waits at once;
//! - `padding` (a speed layer): the zeros a journal file keeps ahead of its lines, and
//!   how much;
//! - [`DirLock`]: one process per data directory (`feira-server.pid`);
//! - [`LineEncoder`]: one journal line, written as CSV with its checksum;
//! - `csv_field` (a speed layer): a CSV field written by hand, or by the `csv` crate;
//! - `refused_writes`: a full disk refuses every write; the journal logs the first
//!   refusal, then a count every few seconds, then the recovery;
//! - [`snapshot`]: reading and atomically writing a CSV snapshot, and (a speed layer)
//!   appending to it;
//! - [`Layers`]: which speed layers are on.

mod csv_field;
mod dir_lock;
mod durability;
mod group_commit;
mod journal;
mod layers;
mod line;
mod lock_stats;
mod padding;
mod record;
mod refused_writes;
pub mod snapshot;
mod sync_state;
mod table;

pub use csv_field::CsvEncoding;
pub use dir_lock::{DirLock, LOCK_FILE};
pub use journal::{Change, Journal, JournalEntry, Staged, Ticket};
pub use layers::Layers;
pub use line::LineEncoder;
pub use lock_stats::{LockStats, LockStatsSnapshot};
pub use padding::Upkeep;
pub use record::{Field, Fields, Record, RowError};
pub use sync_state::WhenDurable;
pub use table::{Table, TableRead, TableWrite};
