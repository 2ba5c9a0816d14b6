//! File sharing (seed 002): the server keeps track of who shares what: who is
//! connected, where, what each user publishes, and the audit log of every operation.
//!
//! Why the server only keeps track: files travel directly between peers (see the
//! peer-to-peer library, `crate::p2p`); the server knows *who* is online, *where* their
//! file listener is and *what* they offer, and never carries a byte of a file.
//! Like the shop, this module knows nothing of sockets: the dispatcher calls these
//! functions with an account and an address, and tests call them directly.
//!
//! - [`connected`]: the [`ConnectedPeers`], in memory only;
//! - [`files`]: the `files` table (published files, persistent) and its operations;
//! - [`names`]: what a published file name and description may contain;
//! - [`audit`]: the [`AuditLog`], a bounded channel to one logger thread;
//! - [`audit_limit`]: what one connection may put in it (short arguments, a row budget).
//!
//! Locks: the `files` table's lock comes after `orders` in the lock order of
//! src/db.rs; the connected peers' own mutex is a leaf, never held with another lock; the
//! audit log takes no lock at all on the sending side.

pub mod audit;
pub mod audit_limit;
pub mod connected;
pub mod files;
pub mod names;

pub use audit::{AuditEvent, AuditLog, AuditOptions};
pub use connected::{ConnectedPeers, Peer, Token};
