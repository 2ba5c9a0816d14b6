//! A session's file-sharing verbs (seed 002): CONNECT, DISCONNECT, PUBLISH, DELETE,
//! LIST_USERS, LIST_CONTENT and PEER, and the session's entry among the connected peers.
//!
//! Why here and not in `crate::sharing`: two facts belong to the connection, not to
//! the sharing service: the address the client connects from (which CONNECT records, so
//! a client cannot send others to a third party's machine), and which session made an
//! entry among the connected peers (so that the entry goes when *that* connection
//! ends). The rules themselves are in `crate::sharing`; this file translates requests
//! and replies. The audit row of each request is src/server/dispatch/audit.rs.
//!
//! Which verbs need CONNECT first (seed 002, section 1.4): PUBLISH, DELETE,
//! LIST_USERS, LIST_CONTENT and PEER answer `NOT_CONNECTED` until the user has
//! connected; DISCONNECT answers `NOT_CONNECTED` if there is nothing to disconnect.
//!
//! The locks, verb by verb (the replies are docs/PROTOCOL.md's, "File sharing"):
//!
//! | verb | locks |
//! |---|---|
//! | CONNECT, DISCONNECT | `users`, read (is the session's account still there?), and the connected peers' mutex, taken last |
//! | PUBLISH, DELETE | the connected peers' mutex alone, released; then `users`, read, and `files`, written, held together |
//! | LIST_USERS, PEER | the connected peers' mutex, for a copy of the entries |
//! | LIST_CONTENT | `users`, read, and `files`, read, held together, for one page |
//!
//! The connected peers' mutex is a leaf: nothing else is taken while it is held, so it
//! has no place in the lock order and cannot take part in a deadlock.

use std::net::{IpAddr, SocketAddr};

use crate::protocol::listing::{self, DEFAULT_FILES_LISTED};
use crate::protocol::{ErrorCode, Refusal, Reply, Request};
use crate::server::Shared;
use crate::server::session::{Announced, Session};
use crate::sharing::{AuditEvent, files};

impl Session {
    /// Handles a file-sharing request of a logged-in session.
    ///
    /// One function for the seven verbs, since six of them start the same way: the user
    /// must be connected (`require_connected`) before anything else.
    pub(super) fn file_sharing(
        &mut self,
        shared: &Shared,
        request: Request,
    ) -> Result<Reply, Refusal> {
        // The two pieces of shared state these verbs use: the tables (`users`, `files`)
        // and the set of connected peers, which lives in memory only.
        let db = &shared.db;
        let peers = &shared.peers;
        // The connected set is keyed by user name: a user is connected or not, however
        // many sessions they have open (src/sharing/connected.rs, "The rules").
        let user = self.name().to_string();
        Ok(match request {
            Request::Connect { port } => {
                // The address is the socket's, never one the client names: only the
                // port is the client's to choose.
                let ip = self.peer_ip()?;
                // The account with its id: `connect` refuses it (AUTH_REQUIRED) if it was
                // deleted since this session logged in. ALREADY_CONNECTED if the user
                // is connected from any session.
                let token = peers.connect(db, &self.account()?, ip, port)?;
                // An older entry of this session, if any, was already removed by a
                // DISCONNECT from another session: this one replaces it.
                self.announced = Some(Announced {
                    user: user.clone(),
                    token,
                });
                // At INFO: who is reachable where is what an operator asks first.
                log::info!("{}: {user} connected; files at {ip} port {port}", self.peer);
                // The entry as others will see it, read back from the set.
                let row = peers
                    .peer(&user)
                    .map(|peer| peer.to_row(&user))
                    .into_iter()
                    .collect();
                // The summary says the address the server saw, so a client behind a
                // NAT learns what others will be told.
                Reply::rows(
                    row,
                    format!("connected: other users fetch your files from {ip} port {port}"),
                )
            }
            Request::Disconnect => {
                // Any session of the user may disconnect it, as in seed 002, where
                // DISCONNECT named the user.
                peers.disconnect(db, &self.account()?)?;
                // Disconnected from any session: this one no longer owns an entry.
                if self.announced.as_ref().is_some_and(|a| a.user == user) {
                    self.announced = None;
                }
                // Like the line a session's end writes (`end_announcement`), with no
                // reason in brackets: the user asked.
                log::info!("{}: {user} disconnected", self.peer);
                Reply::ok("disconnected")
            }
            Request::Publish {
                file_name,
                description,
            } => {
                // Checked under the connected set's own lock, which is then released
                // before `publish` takes the `users` and `files` locks: a leaf lock is
                // never held while another is taken. A DISCONNECT in between is
                // harmless: a published file does not depend on being connected.
                peers.require_connected(&user)?;
                // CONFLICT if the name is already published, or the user has published
                // the most files allowed: checked and inserted in one critical section.
                let file = files::publish(db, &self.account()?, &file_name, &description)?;
                // The row as LIST_CONTENT will show it, with the server's time.
                Reply::rows(vec![file.to_row()], format!("published {file_name}"))
            }
            Request::Delete { file_name } => {
                // The same order as PUBLISH: the leaf lock alone, then the tables'.
                peers.require_connected(&user)?;
                // NOT_FOUND if this user has not published that name: a user can only
                // withdraw their own files, since the key is (user, file name).
                files::delete(db, &self.account()?, &file_name)?;
                Reply::ok(format!("deleted {file_name}"))
            }
            Request::ListUsers => {
                peers.require_connected(&user)?;
                // A copy of the set: its lock is released before the reply is built.
                let peers = peers.list();
                let count = peers.len();
                Reply::rows(
                    peers.iter().map(|(name, peer)| peer.to_row(name)).collect(),
                    format!("{count} users connected"),
                )
            }
            Request::ListContent { user: owner, count } => {
                peers.require_connected(&user)?;
                // A page at most, as for ORDERS: a user may publish thousands of files.
                let count = listing::count_or(count, DEFAULT_FILES_LISTED);
                // NOT_FOUND if there is no such user; an owner who is not connected
                // still has a list, since published files outlive connections.
                let page = files::page_of(db, &owner, count)?;
                // When the list was cut, the summary says how many there are in all
                // (`100 of 2345 files ...`).
                Reply::rows(
                    page.rows.iter().map(|f| f.to_row()).collect(),
                    page.summary(&format!("files published by {owner}")),
                )
            }
            Request::Peer { user: owner } => {
                peers.require_connected(&user)?;
                // A copy of the owner's entry: the set's lock is released at once.
                let Some(peer) = peers.peer(&owner) else {
                    // Two different answers a person can act on: wait for the owner to
                    // connect, or check the name.
                    let message = if db.users.read().contains_key(&owner) {
                        format!("{owner} is not connected: their files cannot be fetched now")
                    } else {
                        format!("no user named {owner:?}")
                    };
                    return Err(Refusal::new(ErrorCode::NotFound, message));
                };
                // What the client needs to fetch a file itself, from the owner's
                // machine (src/p2p/): the server never carries a file.
                Reply::rows(
                    vec![peer.to_row(&owner)],
                    format!("{owner}'s files are at {} port {}", peer.ip, peer.port),
                )
            }
            // `Session::dispatch` sends only the verbs above here: another one is a bug
            // in the dispatcher, not bad input.
            other => unreachable!("{} is not a file-sharing verb", other.verb()),
        })
    }

    /// The client's IP address on this connection: what CONNECT records as where the
    /// user's files are, together with the port the client names.
    fn peer_ip(&self) -> Result<IpAddr, Refusal> {
        // The connection thread wrote `peer` from the socket's own address, so this
        // cannot fail unless the socket could not say (`unknown`): then the client is
        // told to try again, and the server carries on.
        self.peer
            .parse::<SocketAddr>()
            .map(|addr| addr.ip())
            .map_err(|_| {
                // At ERROR: a socket that cannot say its peer's address is unusual.
                log::error!("{}: cannot read an address from the peer", self.peer);
                Refusal::new(
                    ErrorCode::Internal,
                    "the server could not read your address; try connecting again",
                )
            })
    }

    /// Removes the entry this session made among the connected peers, if it is still
    /// there, and audits it as a `DROP` with the reason.
    pub(super) fn end_announcement(&mut self, shared: &Shared, reason: &str) {
        // `take`: whatever happens below, this session owns no entry afterwards.
        let Some(announced) = self.announced.take() else {
            return;
        };
        // Only if the entry is still the one this session made (its token): after a
        // DISCONNECT from another session and a CONNECT from a third, the entry is the
        // third's, and the end of this session must leave it alone.
        if shared.peers.release(&announced.user, announced.token) {
            log::info!("{}: {} disconnected ({reason})", self.peer, announced.user);
            // Written to the audit log like a request, so the log says why the user
            // left the list.
            shared.audit.record(AuditEvent::now(
                &announced.user,
                &self.peer,
                "DROP",
                reason.to_string(),
                "OK",
            ));
        }
    }

    /// After UNREGISTER: the user leaves the list of connected peers (memory only), and
    /// the audit log records it with the number of files withdrawn. The files themselves
    /// were withdrawn in the same journal line as the account (`accounts::unregister`).
    pub(super) fn forget_account(&mut self, shared: &Shared, name: &str, withdrawn: usize) {
        // Whichever session made the entry: the account it was made for is gone.
        let connected = shared.peers.forget(name);
        // A row only when something of the account went: an account that never shared
        // anything leaves the audit log alone.
        if connected || withdrawn > 0 {
            shared.audit.record(AuditEvent::now(
                name,
                &self.peer,
                "DROP",
                format!("account deleted; {withdrawn} files withdrawn"),
                "OK",
            ));
        }
        // Already gone from the set (`forget`): nothing left to release at the end.
        self.announced = None;
    }
}
