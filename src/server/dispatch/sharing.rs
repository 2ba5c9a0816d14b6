//! A session's file-sharing verbs (seed 002): CONNECT, DISCONNECT, PUBLISH,
//! DELETE, LIST_USERS, LIST_CONTENT and PEER, and the audit of each one made by a
//! logged-in user, within the connection's row budget (`sharing::audit_limit`).
//!
//! Why here and not in `crate::sharing`: two facts belong to the connection, not to
//! the sharing service: the address the client connects from (which CONNECT records, so
//! a client cannot send others to a third party's machine), and which session made an
//! entry among the connected peers (so that the entry goes when *that* connection ends). The rules
//! themselves are in `crate::sharing`; this file translates requests and replies.
//!
//! Which verbs need CONNECT first (seed 002, section 1.4): PUBLISH, DELETE,
//! LIST_USERS, LIST_CONTENT and PEER answer `NOT_CONNECTED` until the user has
//! connected; DISCONNECT answers `NOT_CONNECTED` if there is nothing to disconnect.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::protocol::listing::{self, DEFAULT_FILES_LISTED};
use crate::protocol::verbs::{FILE_SHARING_VERBS, verb_spec};
use crate::protocol::{ErrorCode, Refusal, Reply, Request, token};
use crate::server::Shared;
use crate::server::session::{Announced, Session};
use crate::sharing::audit_limit::{Admit, RowBudget, shorten, withheld_message};
use crate::sharing::{AuditEvent, files};

impl Session {
    /// Handles a file-sharing request of a logged-in session.
    pub(super) fn file_sharing(
        &mut self,
        shared: &Shared,
        request: Request,
    ) -> Result<Reply, Refusal> {
        let db = &shared.db;
        let peers = &shared.peers;
        let user = self.name().to_string();
        Ok(match request {
            Request::Connect { port } => {
                let ip = self.peer_ip()?;
                let token = peers.connect(db, &self.account()?, ip, port)?;
                // An older entry of this session, if any, was already removed by a
                // DISCONNECT from another session: this one replaces it.
                self.announced = Some(Announced {
                    user: user.clone(),
                    token,
                });
                log::info!("{}: {user} connected; files at {ip} port {port}", self.peer);
                let row = peers
                    .peer(&user)
                    .map(|peer| peer.to_row(&user))
                    .into_iter()
                    .collect();
                Reply::rows(
                    row,
                    format!("connected: other users fetch your files from {ip} port {port}"),
                )
            }
            Request::Disconnect => {
                peers.disconnect(db, &self.account()?)?;
                // Disconnected from any session: this one no longer owns an entry.
                if self.announced.as_ref().is_some_and(|a| a.user == user) {
                    self.announced = None;
                }
                log::info!("{}: {user} disconnected", self.peer);
                Reply::ok("disconnected")
            }
            Request::Publish {
                file_name,
                description,
            } => {
                peers.require_connected(&user)?;
                let file = files::publish(db, &self.account()?, &file_name, &description)?;
                Reply::rows(vec![file.to_row()], format!("published {file_name}"))
            }
            Request::Delete { file_name } => {
                peers.require_connected(&user)?;
                files::delete(db, &self.account()?, &file_name)?;
                Reply::ok(format!("deleted {file_name}"))
            }
            Request::ListUsers => {
                peers.require_connected(&user)?;
                let peers = peers.list();
                let count = peers.len();
                Reply::rows(
                    peers.iter().map(|(name, peer)| peer.to_row(name)).collect(),
                    format!("{count} users connected"),
                )
            }
            Request::ListContent { user: owner, count } => {
                peers.require_connected(&user)?;
                let count = listing::count_or(count, DEFAULT_FILES_LISTED);
                let page = files::page_of(db, &owner, count)?;
                Reply::rows(
                    page.rows.iter().map(|f| f.to_row()).collect(),
                    page.summary(&format!("files published by {owner}")),
                )
            }
            Request::Peer { user: owner } => {
                peers.require_connected(&user)?;
                let Some(peer) = peers.peer(&owner) else {
                    let message = if db.users.read().contains_key(&owner) {
                        format!("{owner} is not connected: their files cannot be fetched now")
                    } else {
                        format!("no user named {owner:?}")
                    };
                    return Err(Refusal::new(ErrorCode::NotFound, message));
                };
                Reply::rows(
                    vec![peer.to_row(&owner)],
                    format!("{owner}'s files are at {} port {}", peer.ip, peer.port),
                )
            }
            other => unreachable!("{} is not a file-sharing verb", other.verb()),
        })
    }

    /// The client's IP address on this connection.
    fn peer_ip(&self) -> Result<IpAddr, Refusal> {
        self.peer
            .parse::<SocketAddr>()
            .map(|addr| addr.ip())
            .map_err(|_| {
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
        let Some(announced) = self.announced.take() else {
            return;
        };
        if shared.peers.release(&announced.user, announced.token) {
            log::info!("{}: {} disconnected ({reason})", self.peer, announced.user);
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
        let connected = shared.peers.forget(name);
        if connected || withdrawn > 0 {
            shared.audit.record(AuditEvent::now(
                name,
                &self.peer,
                "DROP",
                format!("account deleted; {withdrawn} files withdrawn"),
                "OK",
            ));
        }
        self.announced = None;
    }

    /// Audits one handled file-sharing request: who, from where, what, and the result.
    pub(super) fn audit(
        &mut self,
        shared: &Shared,
        user: &str,
        verb: &'static str,
        arguments: &[String],
        reply: &Reply,
    ) {
        let result = reply.code().map_or("OK", |code| code.known_name());
        let event = AuditEvent::now(user, &self.peer, verb, token::join(arguments), result);
        self.audit_within_budget(shared, event);
    }

    /// Audits a file-sharing request of a logged-in user that could not be parsed
    /// (`CONNECT abc`). A session that has not logged in is never audited: anybody can
    /// open a connection, so its lines could fill the disk.
    pub(super) fn audit_unparsed(&mut self, shared: &Shared, line: &str, refusal: &Refusal) {
        if self.user.is_none() {
            return;
        }
        let line = line.trim_start_matches([' ', '\t']);
        let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        let Some(spec) = verb_spec(verb).filter(|s| FILE_SHARING_VERBS.contains(&s.name)) else {
            return;
        };
        // Re-quote the arguments as the protocol would, if they split at all.
        let arguments = match token::split(rest) {
            Ok(tokens) => token::join(&tokens),
            Err(_) => rest.to_string(),
        };
        let event = AuditEvent::now(
            self.name(),
            &self.peer,
            spec.name,
            arguments,
            refusal.code.known_name(),
        );
        self.audit_within_budget(shared, event);
    }

    /// Sends a request's audit row, its arguments shortened, if this connection's row
    /// budget allows it (after an `AUDIT_LIMITED` row for the rows it withheld before);
    /// otherwise counts it withheld.
    fn audit_within_budget(&mut self, shared: &Shared, mut event: AuditEvent) {
        event.arguments = shorten(event.arguments);
        let now = Instant::now();
        let limit = shared.config.audit.per_connection;
        let budget = self
            .audit_budget
            .get_or_insert_with(|| RowBudget::new(limit, now));
        match budget.admit(now) {
            Admit::Write { withheld_before } => {
                self.record_withheld(shared, withheld_before);
                shared.audit.record(event);
            }
            Admit::Withhold => shared.audit.count_limited(),
        }
    }

    /// When the connection ends: one `AUDIT_LIMITED` row for rows still withheld.
    pub(super) fn report_withheld_audit_rows(&mut self, shared: &Shared) {
        let withheld = self
            .audit_budget
            .as_mut()
            .map_or(0, RowBudget::take_withheld);
        self.record_withheld(shared, withheld);
    }

    fn record_withheld(&self, shared: &Shared, withheld: u64) {
        let Some(budget) = &self.audit_budget else {
            return;
        };
        if withheld > 0 {
            let message = withheld_message(withheld, budget.limit());
            let row = AuditEvent::now(self.name(), &self.peer, "AUDIT_LIMITED", message, "WARN");
            shared.audit.record(row);
        }
    }
}
