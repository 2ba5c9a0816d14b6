//! The demo accounts shipped in `data/`, so the server can warn that they are active.
//!
//! Why warn: a classroom server with well-known passwords is fine; a real one is not.
//! At start-up the server checks whether these passwords still open these accounts,
//! and says so loudly in the log if they do.

use crate::accounts::password;
use crate::db::Db;

/// The demo users and their passwords, as the README states them.
pub const DEMO_USERS: &[(&str, &str)] = &[
    ("admin", "admin-pass"),
    ("alice", "alice-pass"),
    ("bob", "bob-pass"),
];

/// The demo users whose demo password still works in this database.
pub fn active_demo_users(db: &Db) -> Vec<&'static str> {
    DEMO_USERS
        .iter()
        .filter(|(name, pass)| {
            let hash = db.users.read().get(*name).map(|u| u.password_hash.clone());
            hash.is_some_and(|h| password::verify(pass, &h))
        })
        .map(|(name, _)| *name)
        .collect()
}
