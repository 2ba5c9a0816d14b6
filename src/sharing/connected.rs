//! The connected peers: who is online now, and where their file listener is.
//!
//! Why in memory only: a connection is a fact about *now*. After a restart, nobody
//! knows whether the peers that were connected are still there (seed 002 wiped its
//! `connected_users.txt` at start-up for the same reason), so the set starts empty and
//! is never written to disk.
//!
//! Why a plain `Mutex<HashMap>`: every operation is a lookup or an insert of one small
//! entry, held for well under a microsecond, and LIST_USERS copies the entries out
//! before any reply is written. A reader-writer lock would buy nothing at that size.
//! The lock is a *leaf*: no other lock is ever taken while it is held, so it has no
//! place in the lock order of src/db.rs. (CONNECT and DISCONNECT take it while they
//! hold the `users` read lock, to check the session's account id; taken last, it cannot
//! be part of a deadlock.)
//!
//! # The rules (seed 002, section 1.4)
//!
//! - The set is keyed by user name: a user is connected or not, whatever the
//!   number of sessions they have open.
//! - CONNECT by a user who is already connected is `ALREADY_CONNECTED`, from the same
//!   session or another one (seed 002's USER ALREADY CONNECTED).
//! - Every session of a connected user may PUBLISH, DELETE, LIST and DISCONNECT: those
//!   act on the user, as in the seed, where they named the user.
//! - The entry belongs to the session that made it (its [`Token`]). When that session
//!   ends (QUIT, a dropped connection, a timeout, LOGOUT, a LOGIN as someone else), the
//!   entry is removed; the end of *another* session of the same user leaves it alone.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::db::Db;
use crate::db::identity;
use crate::db::schema::Account;
use crate::protocol::{ErrorCode, Refusal};

/// Which CONNECT made an entry: unique for the life of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(u64);

/// Where a connected user's file listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The address the user's connection to the server came from (never what the
    /// client claims: a client cannot point others at a third party's machine).
    pub ip: IpAddr,
    /// The port the user announced with CONNECT.
    pub port: u16,
    /// When the user connected, by the server's clock.
    pub since: String,
    token: Token,
}

impl Peer {
    /// The peer as a data line of LIST_USERS and PEER: name, address, port.
    pub fn to_row(&self, user: &str) -> Vec<String> {
        vec![user.to_string(), self.ip.to_string(), self.port.to_string()]
    }
}

/// The set of connected users. Lives in `server::Shared`; empty at start-up.
#[derive(Default)]
pub struct ConnectedPeers {
    /// User name to peer. A leaf lock (see the module documentation).
    peers: Mutex<HashMap<String, Peer>>,
    /// The last token handed out.
    last_token: AtomicU64,
}

fn not_connected(message: String) -> Refusal {
    Refusal::new(ErrorCode::NotConnected, message)
}

impl ConnectedPeers {
    /// Records `account` as connected at `ip:port`, if it is still the account of its
    /// name (AUTH_REQUIRED if it was deleted: a session of a deleted account must not
    /// send others to its machine for the files of the next account of that name). The
    /// token names this entry, so that only the session that made it removes it when it
    /// ends.
    pub fn connect(
        &self,
        db: &Db,
        account: &Account,
        ip: IpAddr,
        port: u16,
    ) -> Result<Token, Refusal> {
        let user = account.name.as_str();
        let token = Token(self.last_token.fetch_add(1, Ordering::Relaxed) + 1);
        // The `users` read lock from the check to the insert (this set's lock is a leaf,
        // taken last): an UNREGISTER comes wholly before, or after, and then removes
        // the entry.
        let users = db.users.read();
        identity::own_account(&users, account)?;
        let mut peers = self.peers.lock();
        if let Some(peer) = peers.get(user) {
            return Err(Refusal::new(
                ErrorCode::AlreadyConnected,
                format!(
                    "{user} is already connected at {} port {} (since {}): DISCONNECT first",
                    peer.ip, peer.port, peer.since
                ),
            ));
        }
        peers.insert(
            user.to_string(),
            Peer {
                // An IPv4 client of a dual-stack listener shows up as ::ffff:a.b.c.d;
                // other peers want the plain a.b.c.d.
                ip: ip.to_canonical(),
                port,
                since: crate::clock::now_rfc3339(),
                token,
            },
        );
        Ok(token)
    }

    /// DISCONNECT: removes the entry of `account`, whichever of its sessions made it,
    /// if it is still the account of its name (as [`ConnectedPeers::connect`]).
    pub fn disconnect(&self, db: &Db, account: &Account) -> Result<(), Refusal> {
        let user = account.name.as_str();
        let users = db.users.read();
        identity::own_account(&users, account)?;
        match self.peers.lock().remove(user) {
            Some(_) => Ok(()),
            None => Err(not_connected(format!("{user} is not connected"))),
        }
    }

    /// Removes `user`'s entry only if this token made it (the session that connected
    /// is ending). Returns whether it did.
    pub fn release(&self, user: &str, token: Token) -> bool {
        let mut peers = self.peers.lock();
        if peers.get(user).is_some_and(|p| p.token == token) {
            peers.remove(user);
            return true;
        }
        false
    }

    /// Removes `user`'s entry whoever made it (the account was deleted).
    pub fn forget(&self, user: &str) -> bool {
        self.peers.lock().remove(user).is_some()
    }

    /// `NOT_CONNECTED` unless `user` is connected: the guard of every verb that the
    /// seed allows only after CONNECT.
    pub fn require_connected(&self, user: &str) -> Result<(), Refusal> {
        if self.peers.lock().contains_key(user) {
            Ok(())
        } else {
            Err(not_connected(
                "CONNECT <port> first: this needs you in the list of connected users".into(),
            ))
        }
    }

    /// Where `user` is, if connected.
    pub fn peer(&self, user: &str) -> Option<Peer> {
        self.peers.lock().get(user).cloned()
    }

    /// Every connected user, sorted by name. The entries are copied out, so the lock
    /// is released before anyone formats or sends them.
    pub fn list(&self) -> Vec<(String, Peer)> {
        let mut list: Vec<(String, Peer)> = self
            .peers
            .lock()
            .iter()
            .map(|(name, peer)| (name.clone(), peer.clone()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// How many users are connected.
    pub fn len(&self) -> usize {
        self.peers.lock().len()
    }

    /// Is nobody connected?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Cents;
    use crate::wallet::testing::{account_of, db_with};

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn connect_twice_is_already_connected() {
        let (_dir, db) = db_with(&["alice", "bob"], Cents(0));
        let (alice, bob) = (account_of(&db, "alice"), account_of(&db, "bob"));
        let peers = ConnectedPeers::default();
        peers.connect(&db, &alice, LOOPBACK, 4000).unwrap();
        let again = peers.connect(&db, &alice, LOOPBACK, 4001).unwrap_err();
        assert_eq!(again.code, ErrorCode::AlreadyConnected);
        assert_eq!(peers.peer("alice").unwrap().port, 4000, "unchanged");
        peers.connect(&db, &bob, LOOPBACK, 4000).unwrap();
        let names: Vec<String> = peers.list().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["alice", "bob"]);
    }

    #[test]
    fn only_the_connecting_session_releases_its_entry() {
        let (_dir, db) = db_with(&["alice"], Cents(0));
        let alice = account_of(&db, "alice");
        let peers = ConnectedPeers::default();
        let first = peers.connect(&db, &alice, LOOPBACK, 4000).unwrap();
        peers.disconnect(&db, &alice).unwrap();
        assert_eq!(
            peers.disconnect(&db, &alice).unwrap_err().code,
            ErrorCode::NotConnected
        );
        let second = peers.connect(&db, &alice, LOOPBACK, 4001).unwrap();
        // The first session ends after another one connected again: nothing happens.
        assert!(!peers.release("alice", first));
        assert!(peers.require_connected("alice").is_ok());
        assert!(peers.release("alice", second));
        assert_eq!(
            peers.require_connected("alice").unwrap_err().code,
            ErrorCode::NotConnected
        );
        assert!(peers.is_empty());
    }

    #[test]
    fn ipv4_mapped_addresses_are_shown_as_ipv4() {
        let (_dir, db) = db_with(&["alice"], Cents(0));
        let peers = ConnectedPeers::default();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        peers
            .connect(&db, &account_of(&db, "alice"), mapped, 4000)
            .unwrap();
        assert_eq!(
            peers.peer("alice").unwrap().to_row("alice"),
            ["alice", "192.0.2.7", "4000"]
        );
    }
}
