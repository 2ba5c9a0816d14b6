//! A session: who is logged in on one connection, and what the connection remembers
//! between two requests.
//!
//! Why a type of its own: the rules of each request need no socket. The dispatcher
//! (src/server/dispatch.rs) takes a `Session` and a request and gives a reply; the
//! connection thread (src/server/connection.rs) owns one `Session` for its life.

use std::net::IpAddr;
use std::time::Instant;

use crate::accounts::throttle;
use crate::db::Db;
use crate::db::identity;
use crate::db::schema::{Account, AccountId, Role};
use crate::protocol::verbs::Access;
use crate::protocol::{ErrorCode, Refusal};
use crate::sharing::Token;
use crate::sharing::audit_limit::RowBudget;

/// The logged-in user of a session.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub name: String,
    pub role: Role,
    /// The account's identity: the session lives only as long as the account with
    /// this id, whatever account takes the name later (src/db/identity.rs).
    pub id: AccountId,
}

impl LoggedIn {
    /// The account this session acts as.
    pub fn account(&self) -> Account {
        Account::new(self.id, &self.name)
    }

    /// May this user use a verb with this access level? Checked on every request, by
    /// both doors (the socket door's dispatcher and the gRPC door).
    ///
    /// Why every request, and not once at LOGIN: the account may be deleted from another
    /// connection at any moment, and its name taken by a new account. The check is
    /// cheap (one lookup under the `users` read lock), and it is what makes a session
    /// die with its account (docs/RELIABILITY.md, "A session dies with its account"):
    /// AUTH_REQUIRED then, and the caller forgets the session.
    pub fn may_use(&self, db: &Db, access: Access) -> Result<(), Refusal> {
        // The account may have been deleted from another connection, and its name
        // even taken by a new account since: the id tells them apart.
        if !identity::is_live(db, &self.account()) {
            return Err(identity::gone());
        }
        // The role read at LOGIN holds for the session: no verb changes a role (an
        // admin is made by hand, in users.csv).
        if access == Access::Admin && self.role != Role::Admin {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "only an admin may do that",
            ));
        }
        Ok(())
    }
}

/// The entry among the connected peers that a session made with CONNECT: removed when
/// that session ends, and only then (src/server/dispatch/sharing.rs).
pub(super) struct Announced {
    pub(super) user: String,
    pub(super) token: Token,
}

/// The state of one connection.
pub struct Session {
    /// The client's address and port, as seen on the socket.
    pub(super) peer: String,
    /// Who is logged in, if anyone.
    pub(super) user: Option<LoggedIn>,
    /// How many requests this connection has sent.
    pub(super) requests: u64,
    /// The entry among the connected peers that this session made with CONNECT,
    /// removed when the session ends or changes user (see `sharing::connected`).
    pub(super) announced: Option<Announced>,
    /// How many more audit rows this connection may write (made at its first row).
    pub(super) audit_budget: Option<RowBudget>,
    /// After a `THROTTLED` reply, the next request waits until then (see
    /// [`throttle::PAUSE_AFTER_REFUSAL`]).
    pub(super) held_until: Option<Instant>,
}

impl Session {
    /// The session of a connection that has just been accepted from `peer` (`ip:port`):
    /// nobody logged in, nothing remembered. The connection thread makes one and keeps
    /// it for the connection's life (src/server/connection.rs).
    pub fn new(peer: &str) -> Session {
        Session {
            peer: peer.to_string(),
            user: None,
            requests: 0,
            announced: None,
            audit_budget: None,
            held_until: None,
        }
    }

    /// The peer's address, as seen on the socket.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&LoggedIn> {
        self.user.as_ref()
    }

    /// How many requests this session has handled.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The logged-in user's name. Only called after the dispatcher's `check_access`.
    pub(super) fn name(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.name.as_str())
    }

    /// The logged-in account, or AUTH_REQUIRED. Only called after the dispatcher's
    /// `check_access`.
    pub(super) fn account(&self) -> Result<Account, Refusal> {
        self.user
            .as_ref()
            .map(LoggedIn::account)
            .ok_or_else(identity::gone)
    }

    /// The client's address as the throttle counts it (the IP, without the port).
    pub(super) fn address(&self) -> IpAddr {
        throttle::client_address(&self.peer)
    }
}
