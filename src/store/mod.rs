//! The store of seeds 003 and 004: accounts, products, orders.
//!
//! Why it knows nothing of sockets: every rule here (who may log in, when an order
//! is refused, how stock changes) is a function from the database and a request to a
//! result. The server calls these functions; tests call them directly.
//!
//! - [`password`]: argon2id hashing and the gate that bounds its memory;
//! - [`fair_queue`]: the gate's queue: in order, and fair between client addresses;
//! - [`accounts`]: users, registration, login;
//! - [`identity`]: the id every account gets, never reused, and the check that a
//!   session's account still exists;
//! - [`look_alikes`]: one script per user name, and no look-alike of an existing one;
//! - [`throttle`]: who may try a password or register now, and who is refused at once;
//! - [`token_bucket`]: how the throttle counts: a burst, then one more per interval;
//! - [`catalog`]: products, prices, stock;
//! - [`orders`]: the ORDER critical section and order history.

pub mod accounts;
pub mod catalog;
pub mod fair_queue;
pub mod identity;
pub mod look_alikes;
pub mod orders;
pub mod password;
pub mod throttle;
pub mod token_bucket;

use crate::protocol::{ErrorCode, Refusal};

/// Turns a storage failure into the reply the client gets, and logs the details.
///
/// Failures of the journal (I/O, or refused after a failed fsync) were logged by the
/// journal itself, which tells a run of them in a few lines rather than one per write
/// (a full disk refuses them all): here they are only a debug line.
pub(crate) fn internal(error: crate::Error) -> Refusal {
    match error {
        crate::Error::Io { .. } | crate::Error::Poisoned => {
            log::debug!("storage failure: {error}")
        }
        _ => log::error!("storage failure: {error}"),
    }
    Refusal::new(
        ErrorCode::Internal,
        "the server could not save the change; nothing was changed",
    )
}

/// The current time as RFC 3339 UTC, to the second: `2026-11-27T15:00:00Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
