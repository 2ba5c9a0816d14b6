//! The dispatcher: what each request does to a [`Session`], from the parsed request to
//! the reply.
//!
//! Why it is separate from the connection: this is the part with all the rules, and it
//! needs no socket. The connection thread reads a line and hands it here; what comes
//! back is the reply to send and whether to go on.
//!
//! Each handler is a thin translation: parsed request in, domain function called,
//! [`Reply`] out. Domain refusals (no such product, not enough stock) come back as
//! `Err(Refusal)` and become `ERR` replies; the connection carries on.
//!
//! This file is the cycle every request goes through (count it, check who may use the
//! verb, route it, pause after a `THROTTLED`), and the verbs that need no domain (PING,
//! HELP, QUIT, STATS). The others are grouped as docs/PROTOCOL.md groups them, one file
//! each, so that a verb's handler sits beside its neighbours:
//! - `dispatch/accounts.rs`: REGISTER, LOGIN, LOGOUT, WHOAMI, UNREGISTER;
//! - `dispatch/shop.rs`: PRODUCTS, PRODUCT, ORDER, ORDERS, RESTOCK, ADD_PRODUCT;
//! - `dispatch/wallet.rs`: BALANCE, PAYKEY, TRANSFER, TRANSFERS, DEPOSIT;
//! - `dispatch/sharing.rs`: the file-sharing verbs, which also keep the session's
//!   entry among the connected peers;
//! - `dispatch/audit.rs`: the audit row of each file-sharing request, within the
//!   connection's row budget.

mod accounts;
mod audit;
mod sharing;
mod shop;
mod wallet;

use std::thread;
use std::time::Instant;

use super::Shared;
use super::session::Session;
use crate::accounts::throttle;
use crate::protocol::verbs::{Access, VERBS, VerbSpec, verb_spec};
use crate::protocol::{ErrorCode, Refusal, Reply, Request};

/// Should the connection go on after this reply?
///
/// Returned beside the reply, not instead of it, because QUIT has a reply too: the
/// connection thread sends it, then closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next request.
    Continue,
    /// Send this reply, then close (QUIT).
    Close,
}

impl Session {
    /// Called once when the connection ends, however it ends (QUIT, end of input, a
    /// timeout, an I/O error, shutdown): what the session leaves behind must go with it.
    pub fn close(&mut self, shared: &Shared) {
        // A peer whose server connection is gone is no longer listed (seed 002): other
        // users must not be sent to a listener that may have gone with it.
        self.end_announcement(shared, "connection closed");
        // Rows the budget held back are summed in one row, so the gap is marked.
        self.report_withheld_audit_rows(shared);
        // Logged out last: the two steps above need to know who the user was.
        self.user = None;
    }

    /// Parses and handles one request line.
    pub fn handle_line(&mut self, shared: &Shared, line: &str) -> (Reply, Flow) {
        // Every line counts, even one that does not parse: the connection's log line
        // at the end says how many it sent.
        self.requests += 1;
        // After a THROTTLED reply the next request is read only after a pause, so a
        // client that retries at once cannot turn its connection into a busy loop of
        // refusals (src/accounts/throttle.rs, "Refused at once, then a pause"). The
        // pause is taken here, on this connection's own thread, holding no lock.
        if let Some(until) = self.held_until.take() {
            thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        // Parsed once, at the edge: from here on a request is a typed `Request`.
        match Request::parse(line) {
            Ok(request) => self.handle(shared, request),
            Err(refusal) => {
                // A line that does not parse is still a file-sharing request if its
                // verb is one, and is audited like one (dispatch/audit.rs).
                self.audit_unparsed(shared, line, &refusal);
                // A bad request is answered, and the connection carries on.
                (refusal.into(), Flow::Continue)
            }
        }
    }

    /// Handles one parsed request.
    pub fn handle(&mut self, shared: &Shared, request: Request) -> (Reply, Flow) {
        // Counted before access is checked: STATS shows what clients ask, refused or not.
        shared.counters.count_verb(request.verb());
        // File-sharing requests of a logged-in user are audited, whatever their
        // outcome. Who and what are noted now: the request may log the user out.
        let audit = (request.is_file_sharing() && self.user.is_some())
            .then(|| (self.name().to_string(), request.verb(), request.to_tokens()));
        let (reply, flow) = self.handle_checked(shared, request);
        // Remembered here, paid before the next request is read (`handle_line`): this
        // reply goes out at once, so the client learns why it waits.
        if reply.code() == Some(ErrorCode::Throttled) {
            self.held_until = Some(Instant::now() + throttle::PAUSE_AFTER_REFUSAL);
        }
        if let Some((user, verb, tokens)) = audit {
            // The verb itself is the row's operation; the arguments follow it.
            self.audit(shared, &user, verb, &tokens[1..], &reply);
        }
        (reply, flow)
    }

    /// Checks who may use the verb, then runs it.
    fn handle_checked(&mut self, shared: &Shared, request: Request) -> (Reply, Flow) {
        // The access level is the verb table's (`protocol::verbs`), the same table HELP
        // prints, so what HELP says and what is checked cannot differ.
        if let Err(refusal) = self.check_access(shared, request.spec().access) {
            return (refusal.into(), Flow::Continue);
        }
        // Decided before the request is consumed by `dispatch`.
        let flow = if request == Request::Quit {
            Flow::Close
        } else {
            Flow::Continue
        };
        let reply = self.dispatch(shared, request).unwrap_or_else(|refusal| {
            // A verb found, under its own lock, that the session's account is gone
            // (deleted from another connection since `check_access`): log out here
            // too, as `check_access` would have.
            if refusal.code == ErrorCode::AuthRequired {
                self.user = None;
            }
            Reply::from(refusal)
        });
        (reply, flow)
    }

    /// May this session use a verb with this access level? Anyone may use some verbs;
    /// the others need a live account ([`LoggedIn::may_use`](super::session::LoggedIn::may_use),
    /// the rule both doors share), and a session whose account is gone is logged out.
    fn check_access(&mut self, shared: &Shared, access: Access) -> Result<(), Refusal> {
        // PING, HELP, REGISTER, LOGIN and the like: no lock at all.
        if access == Access::Anyone {
            return Ok(());
        }
        // The refusal says how to get in, since the client may not know the verb.
        let Some(user) = &self.user else {
            return Err(Refusal::new(
                ErrorCode::AuthRequired,
                "log in first: LOGIN <user> <password>",
            ));
        };
        let allowed = user.may_use(&shared.db, access);
        // Logged out, so that the next request is refused as AUTH_REQUIRED without a
        // lookup: the account cannot come back.
        if matches!(&allowed, Err(refusal) if refusal.code == ErrorCode::AuthRequired) {
            self.user = None;
        }
        allowed
    }

    /// Routes a request to its handler: one arm per verb, in the order of
    /// docs/PROTOCOL.md.
    ///
    /// The `match` has no catch-all arm, so a new `Request` variant does not compile
    /// until it has a handler here (docs/WALKTHROUGH.md, exercise a).
    fn dispatch(&mut self, shared: &Shared, request: Request) -> Result<Reply, Refusal> {
        match request {
            // The session (dispatch/accounts.rs for the accounts).
            // PING touches nothing: it measures the server's bare request cycle, which
            // is what `make bench` compares with Redis's PING.
            Request::Ping => Ok(Reply::ok("PONG")),
            // HELP needs no session either: it reads a static table (below).
            Request::Help { verb } => help(verb.as_deref()),
            // The connection closes after this reply (`Flow::Close`, above).
            Request::Quit => Ok(Reply::ok("bye")),
            // `password.0`: the secret is unwrapped only where it is used, so that a
            // `Request` printed in a log shows no password.
            Request::Register { user, password } => self.register(shared, &user, &password.0),
            Request::Login { user, password } => self.login(shared, &user, &password.0),
            Request::Logout => Ok(self.logout(shared)),
            Request::Whoami => Ok(self.whoami()),
            Request::Unregister { password } => self.unregister(shared, &password.0),
            // Operations: counters read from `Shared`, in src/server/stats.rs.
            Request::Stats => Ok(super::stats::reply(shared)),
            // The store (dispatch/shop.rs). A handler that cannot be refused once access
            // is checked (PRODUCTS) returns a `Reply`; the others a `Result`.
            Request::Products { max_price } => Ok(self.products(shared, max_price)),
            Request::Product { name } => self.product(shared, &name),
            Request::Order { product, quantity } => self.order(shared, &product, quantity),
            Request::Orders { count } => self.orders(shared, count),
            Request::Restock { product, delta } => self.restock(shared, &product, delta),
            Request::AddProduct { name, price, stock } => {
                self.add_product(shared, &name, price, stock)
            }
            // Wallets (dispatch/wallet.rs).
            Request::Balance => self.balance(shared),
            Request::Paykey => self.paykey(shared),
            Request::Transfer { key, amount } => self.transfer(shared, &key, amount),
            Request::Transfers { count } => self.transfers(shared, count),
            Request::Deposit { user, amount } => self.deposit(shared, &user, amount),
            // File sharing (dispatch/sharing.rs): one handler, since every one of these
            // verbs first needs the session's entry among the connected peers.
            request @ (Request::Connect { .. }
            | Request::Disconnect
            | Request::Publish { .. }
            | Request::Delete { .. }
            | Request::ListUsers
            | Request::ListContent { .. }
            | Request::Peer { .. }) => self.file_sharing(shared, request),
        }
    }
}

/// HELP, or HELP <verb>: one data line per verb (name, arguments, who, summary).
///
/// Read straight from the verb table (`protocol::verbs::VERBS`), the same table the
/// parser and the access check use, so HELP cannot disagree with what the server does.
fn help(verb: Option<&str>) -> Result<Reply, Refusal> {
    // One row per verb, in the column order of docs/PROTOCOL.md's verb tables.
    let row = |spec: &VerbSpec| {
        // The access level in the words of docs/PROTOCOL.md's "who" column.
        let who = match spec.access {
            Access::Anyone => "anyone",
            Access::User => "user",
            Access::Admin => "admin",
        };
        vec![
            spec.name.to_string(),
            spec.args.to_string(),
            who.to_string(),
            spec.summary.to_string(),
        ]
    };
    match verb {
        // Every verb, in the table's order (the order of docs/PROTOCOL.md).
        None => Ok(Reply::rows(
            VERBS.iter().map(row).collect(),
            format!("{} verbs; HELP <verb> for one", VERBS.len()),
        )),
        Some(name) => {
            // Looked up as the parser looks verbs up: case does not matter.
            let spec = verb_spec(name).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::NotFound,
                    format!("no verb named {name:?}: try HELP"),
                )
            })?;
            // One row, and an empty summary: the row says it all.
            Ok(Reply::rows(vec![row(spec)], ""))
        }
    }
}
