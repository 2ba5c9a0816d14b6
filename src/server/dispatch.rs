//! The dispatcher: what each request does to a [`Session`], from the parsed request to
//! the reply.
//!
//! Why it is separate from the connection: this is the part with all the rules, and it
//! needs no socket. The connection thread reads a line and hands it here; what comes
//! back is the reply to send and whether to go on.
//!
//! Each handler is a thin translation: parsed request in, domain function called,
//! [`Reply`] out. Domain refusals (no such product, not enough stock) come back as
//! `Err(Refusal)` and become `ERR` replies; the connection carries on. The file-sharing
//! verbs, which also keep the session's entry among the connected peers and its audit
//! rows, are in `dispatch/sharing.rs`.

mod sharing;

use std::thread;
use std::time::Instant;

use super::Shared;
use super::session::{LoggedIn, Session};
use crate::accounts;
use crate::accounts::throttle;
use crate::db::identity;
use crate::db::schema::Role;
use crate::protocol::listing::{self, DEFAULT_ORDERS_LISTED, DEFAULT_TRANSFERS_LISTED};
use crate::protocol::verbs::{Access, VERBS, VerbSpec, verb_spec};
use crate::protocol::{ErrorCode, Refusal, Reply, Request};
use crate::shop::{catalog, orders};
use crate::wallet::{self, ledger, transfer};

/// Should the connection go on after this reply?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

impl Session {
    /// Called once when the connection ends, however it ends.
    pub fn close(&mut self, shared: &Shared) {
        // A peer whose server connection is gone is no longer listed (seed 002).
        self.end_announcement(shared, "connection closed");
        self.report_withheld_audit_rows(shared);
        self.user = None;
    }

    /// Parses and handles one request line.
    pub fn handle_line(&mut self, shared: &Shared, line: &str) -> (Reply, Flow) {
        self.requests += 1;
        if let Some(until) = self.held_until.take() {
            thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        match Request::parse(line) {
            Ok(request) => self.handle(shared, request),
            Err(refusal) => {
                self.audit_unparsed(shared, line, &refusal);
                (refusal.into(), Flow::Continue)
            }
        }
    }

    /// Handles one parsed request.
    pub fn handle(&mut self, shared: &Shared, request: Request) -> (Reply, Flow) {
        shared.counters.count_verb(request.verb());
        // File-sharing requests of a logged-in user are audited, whatever their outcome.
        let audit = (request.is_file_sharing() && self.user.is_some())
            .then(|| (self.name().to_string(), request.verb(), request.to_tokens()));
        let (reply, flow) = self.handle_checked(shared, request);
        if reply.code() == Some(ErrorCode::Throttled) {
            self.held_until = Some(Instant::now() + throttle::PAUSE_AFTER_REFUSAL);
        }
        if let Some((user, verb, tokens)) = audit {
            self.audit(shared, &user, verb, &tokens[1..], &reply);
        }
        (reply, flow)
    }

    fn handle_checked(&mut self, shared: &Shared, request: Request) -> (Reply, Flow) {
        if let Err(refusal) = self.check_access(shared, request.spec().access) {
            return (refusal.into(), Flow::Continue);
        }
        let flow = if request == Request::Quit {
            Flow::Close
        } else {
            Flow::Continue
        };
        let reply = self.dispatch(shared, request).unwrap_or_else(|refusal| {
            // A money verb found, under its lock, that the account is gone.
            if refusal.code == ErrorCode::AuthRequired {
                self.user = None;
            }
            Reply::from(refusal)
        });
        (reply, flow)
    }

    /// May this session use a verb with this access level?
    fn check_access(&mut self, shared: &Shared, access: Access) -> Result<(), Refusal> {
        if access == Access::Anyone {
            return Ok(());
        }
        let Some(user) = &self.user else {
            return Err(Refusal::new(
                ErrorCode::AuthRequired,
                "log in first: LOGIN <user> <password>",
            ));
        };
        // The account may have been deleted from another connection, and its name
        // even taken by a new account since: the id tells them apart.
        if !identity::is_live(&shared.db, &user.account()) {
            self.user = None;
            return Err(identity::gone());
        }
        if access == Access::Admin && user.role != Role::Admin {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "only an admin may do that",
            ));
        }
        Ok(())
    }

    fn dispatch(&mut self, shared: &Shared, request: Request) -> Result<Reply, Refusal> {
        let db = &shared.db;
        let gate = &shared.hash_gate;
        Ok(match request {
            Request::Ping => Reply::ok("PONG"),
            Request::Help { verb } => help(verb.as_deref())?,
            Request::Quit => Reply::ok("bye"),
            Request::Register { user, password } => {
                let permit = shared.throttle.admit_registration(gate, self.address())?;
                accounts::register(db, gate, &user, &password.0, &shared.config.wallet)?;
                permit.created();
                log::info!("{}: registered {user}", self.peer);
                Reply::ok(format!("registered {user}; now LOGIN"))
            }
            Request::Login { user, password } => self.login(shared, &user, &password.0)?,
            Request::Logout => {
                self.end_announcement(shared, "logged out");
                self.user = None;
                Reply::ok("logged out")
            }
            Request::Whoami => {
                let user = self
                    .user
                    .clone()
                    .map(|u| vec![u.name, u.role.to_string(), u.id.to_string()]);
                Reply::rows(user.into_iter().collect(), "")
            }
            Request::Unregister { password } => {
                let name = self.name().to_string();
                let account = self.account()?;
                // The password is checked again: a guess like any LOGIN's.
                let attempt = shared.throttle.admit_login(gate, &name, self.address())?;
                let result = accounts::unregister(db, gate, &account, &password.0);
                if !matches!(&result, Err(r) if r.code == ErrorCode::AuthFailed) {
                    attempt.succeeded();
                }
                let withdrawn = result?;
                self.forget_account(shared, &name, withdrawn);
                self.user = None;
                log::info!("{}: unregistered {name}", self.peer);
                Reply::ok(format!("account {name} deleted"))
            }
            Request::Stats => super::stats::reply(shared),
            Request::Products { max_price } => {
                let products = catalog::list(db, max_price);
                let count = products.len();
                Reply::rows(
                    products.iter().map(|p| p.to_row()).collect(),
                    format!("{count} products"),
                )
            }
            Request::Product { name } => {
                let product = catalog::get(db, &name)?;
                Reply::rows(vec![product.to_row()], "")
            }
            Request::Order { product, quantity } => {
                let order = orders::place(db, &self.account()?, &product, quantity)?;
                Reply::rows(
                    vec![order.to_row()],
                    format!(
                        "order {}: {} x {} = {}",
                        order.id, order.quantity, order.product, order.total
                    ),
                )
            }
            Request::Orders { count } => {
                let count = listing::count_or(count, DEFAULT_ORDERS_LISTED);
                let page = orders::latest_of(db, self.account()?.id, count);
                Reply::rows(
                    page.rows.iter().map(|o| o.to_row()).collect(),
                    page.summary("orders, newest first"),
                )
            }
            Request::Restock { product, delta } => {
                let (stock, _) = catalog::restock(db, &product, delta)?;
                Reply::ok(format!("stock of {product} is now {stock}"))
            }
            Request::AddProduct { name, price, stock } => {
                catalog::add(db, &name, price, stock)?;
                Reply::ok(format!("added {name} at {price}, stock {stock}"))
            }
            // File sharing: see dispatch/sharing.rs.
            request @ (Request::Connect { .. }
            | Request::Disconnect
            | Request::Publish { .. }
            | Request::Delete { .. }
            | Request::ListUsers
            | Request::ListContent { .. }
            | Request::Peer { .. }) => self.file_sharing(shared, request)?,
            // Wallets.
            Request::Balance => {
                let balance = wallet::balance(db, &self.account()?)?;
                Reply::rows(vec![vec![self.name().to_string(), balance.to_string()]], "")
            }
            Request::Paykey => {
                let (key, expires) = wallet::pay_key(db, &self.account()?)?;
                let left = expires
                    .duration_since(std::time::SystemTime::now())
                    .map_or(0, |d| d.as_secs());
                Reply::rows(
                    vec![vec![
                        key.to_string(),
                        crate::clock::rfc3339(expires),
                        left.to_string(),
                    ]],
                    format!("others pay you with this key for the next {left} s"),
                )
            }
            Request::Transfer { key, amount } => {
                let receipt = transfer::send(db, &self.account()?, &key, amount)?;
                log::debug!(
                    "{}: {} sent {amount} to {}",
                    self.peer,
                    self.name(),
                    receipt.to
                );
                Reply::rows(
                    vec![receipt.to_row()],
                    format!(
                        "sent {amount} to {}; your balance is {}",
                        receipt.to, receipt.balance_after
                    ),
                )
            }
            Request::Transfers { count } => {
                let count = listing::count_or(count, DEFAULT_TRANSFERS_LISTED);
                let id = self.account()?.id;
                let page = ledger::statement(db, id, count);
                Reply::rows(
                    page.rows.iter().map(|entry| entry.row_for(id)).collect(),
                    page.summary("movements, newest first"),
                )
            }
            Request::Deposit { user, amount } => {
                let receipt = transfer::deposit(db, self.name(), &user, amount)?;
                log::info!(
                    "{}: {} deposited {amount} to {user}",
                    self.peer,
                    self.name()
                );
                Reply::rows(
                    vec![receipt.to_row()],
                    format!(
                        "deposited {amount} to {user}; balance {}",
                        receipt.balance_after
                    ),
                )
            }
        })
    }

    fn login(&mut self, shared: &Shared, name: &str, password: &str) -> Result<Reply, Refusal> {
        // Over a limit: refused at once, before any hashing (src/accounts/throttle.rs). The
        // same for every name, whether an account has it or not.
        let attempt = shared
            .throttle
            .admit_login(&shared.hash_gate, name, self.address())
            .inspect_err(|refusal| log::debug!("{}: login for {name}: {refusal}", self.peer))?;
        match accounts::authenticate(&shared.db, &shared.hash_gate, name, password) {
            Ok(user) => {
                attempt.succeeded();
                log::info!("{}: {name} logged in", self.peer);
                // This connection announced another user's files: that user is
                // disconnected (seed 002: connecting as someone else replaces them).
                if self.name() != user.name {
                    self.end_announcement(shared, "logged in as another user");
                }
                self.user = Some(LoggedIn {
                    name: user.name,
                    role: user.role,
                    id: user.id,
                });
                Ok(Reply::ok(format!("welcome, {name} ({})", user.role)))
            }
            Err(refusal) => {
                // Dropping the attempt counts the failure.
                drop(attempt);
                log::warn!("{}: failed login for {name}", self.peer);
                Err(refusal)
            }
        }
    }
}

/// HELP, or HELP <verb>: one data line per verb (name, arguments, who, summary).
fn help(verb: Option<&str>) -> Result<Reply, Refusal> {
    let row = |spec: &VerbSpec| {
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
        None => Ok(Reply::rows(
            VERBS.iter().map(row).collect(),
            format!("{} verbs; HELP <verb> for one", VERBS.len()),
        )),
        Some(name) => {
            let spec = verb_spec(name).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::NotFound,
                    format!("no verb named {name:?}: try HELP"),
                )
            })?;
            Ok(Reply::rows(vec![row(spec)], ""))
        }
    }
}
