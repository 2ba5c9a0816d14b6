//! The session's connection: each request and its reply, and reconnecting when the
//! connection is lost.
//!
//! Why a file of its own: a session outlives its connections. The server restarts, or
//! closes a connection that sat idle past its `--idle-timeout`, or answers `ERR BUSY`;
//! each time the session opens a new connection and logs in again with the login it
//! remembers ([`Repl::reconnect`]), announces its file listener again if it shares
//! files, and tells the person what happened to the request that was in flight.

use std::io;

use super::{Flow, Login, Repl};
use crate::cli::render::{self, Money};
use crate::cli::{Exit, connect};
use crate::protocol::{ErrorCode, Reply, token};

impl Repl<'_> {
    /// Sends a request, shows the reply, and keeps track of who is logged in.
    pub(super) fn request(&mut self, words: &[String]) -> Flow {
        match self.exchange(words) {
            Ok(_) => Flow::Continue,
            Err(flow) => flow,
        }
    }

    /// [`Repl::request`], handing the reply back; `Err` when the connection is gone
    /// (with what to do next).
    pub(super) fn exchange(&mut self, words: &[String]) -> Result<Reply, Flow> {
        if self.client.is_none() && !self.reconnect() {
            return Err(self.gone());
        }
        let line = token::join(words);
        let reply = match self.call(&line) {
            Ok(reply) => reply,
            Err(e) => {
                self.trouble(&connect::lost(&self.options.addr, &e));
                self.trouble("your last request may or may not have been carried out");
                return Err(self.after_loss());
            }
        };
        let verb = words[0].to_ascii_uppercase();
        for line in render::reply(&verb, &reply, Money::Reais) {
            self.say(&line);
        }
        if reply.code() == Some(ErrorCode::NotConnected) {
            // The server's `CONNECT <port> first` is a command of this client's own.
            self.say(&format!(
                "(in this client, type {} to share your files and join the connected users)",
                super::peer::connect_hint()
            ));
        }
        if reply.is_ok() {
            match (verb.as_str(), words) {
                ("LOGIN", [_, user, password]) => {
                    self.login = Some(Login {
                        user: user.clone(),
                        password: password.clone(),
                        role: None,
                    });
                }
                ("LOGOUT" | "UNREGISTER", _) => self.login = None,
                _ => {}
            }
        }
        Ok(reply)
    }

    /// One round trip. Handles the replies after which the server closes the
    /// connection: an idle connection is reopened and the request sent again (the
    /// server closed it before reading the request, so it was not carried out).
    pub(super) fn call(&mut self, line: &str) -> io::Result<Reply> {
        let Some(client) = &mut self.client else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        let reply = client.call_line(line)?;
        match reply.code() {
            Some(ErrorCode::Timeout) => {
                self.client = None;
                self.say("(the server had closed the idle connection: reconnecting)");
                if !self.reconnect() {
                    return Err(io::Error::from(io::ErrorKind::NotConnected));
                }
                match &mut self.client {
                    Some(client) => client.call_line(line),
                    None => Err(io::Error::from(io::ErrorKind::NotConnected)),
                }
            }
            Some(ErrorCode::Busy | ErrorCode::LineTooLong) => {
                // The server closes the connection after these; the next request
                // reconnects.
                self.client = None;
                Ok(reply)
            }
            _ => Ok(reply),
        }
    }

    /// Opens a new connection and logs in again if the session was logged in.
    /// Says what went wrong and returns false if it could not.
    pub(super) fn reconnect(&mut self) -> bool {
        self.client = None;
        let options = self.options;
        let addr = &options.addr;
        let mut client = match connect::connect(addr, options.timeout) {
            Ok(client) => client,
            Err(message) => {
                self.trouble(&message);
                return false;
            }
        };
        if let Some(login) = &self.login {
            let line = token::join(&["LOGIN", login.user.as_str(), login.password.as_str()]);
            let refusal = match client.call_line(&line) {
                Ok(reply) => reply.status.err(),
                Err(e) => {
                    self.trouble(&connect::lost(addr, &e));
                    return false;
                }
            };
            match refusal {
                None => {}
                // A full server says so before anything else: still logged in, just
                // not connected.
                Some(refusal) if refusal.code == ErrorCode::Busy => {
                    self.trouble(&format!(
                        "the server at {addr} is at its connection limit (ERR BUSY): \
                         try again later"
                    ));
                    return false;
                }
                // Too many failed logins for this name or from this address (perhaps
                // someone else's): the password was never checked, so it is kept. Not
                // logged in, so not connected either; a later request tries again.
                Some(refusal) if refusal.code == ErrorCode::Throttled => {
                    self.trouble(&format!(
                        "connected, but logging in again as {} was refused for now: {refusal}",
                        login.user
                    ));
                    self.trouble(
                        "your login is kept: type reconnect, or any request, once that time is up",
                    );
                    return false;
                }
                // The account may have been deleted, or its password changed.
                Some(refusal) => {
                    self.trouble(&format!(
                        "connected, but logging in again as {} failed: {refusal}",
                        login.user
                    ));
                    self.login = None;
                }
            }
        }
        if let Some(sharing) = &self.sharing {
            // The server forgot this peer with the old connection: announce it again.
            let _ = client.call_line(&format!("CONNECT {}", sharing.port()));
        }
        self.client = Some(client);
        true
    }

    /// The connection is gone: on a terminal, offer to reconnect; a script stops.
    pub(super) fn after_loss(&mut self) -> Flow {
        self.client = None;
        if self.input.is_terminal() && self.confirm("reconnect? [Y/n] ") {
            if self.reconnect() {
                self.say("(reconnected)");
            } else {
                // Stay: the next request tries again.
                self.say("(not connected: type reconnect to try again, or quit)");
            }
            return Flow::Continue;
        }
        Flow::Stop(Exit::Trouble)
    }

    /// No connection and none to be had.
    pub(super) fn gone(&mut self) -> Flow {
        if self.input.is_terminal() {
            self.say("(not connected: type reconnect to try again, or quit)");
            Flow::Continue
        } else {
            Flow::Stop(Exit::Trouble)
        }
    }

    /// A request made for the header: failures are silent (the header just says less).
    pub(super) fn quiet_call(&mut self, line: &str) -> Option<Reply> {
        let client = self.client.as_mut()?;
        match client.call_line(line) {
            Ok(reply) => Some(reply),
            Err(_) => {
                // The next real request will notice and report it.
                self.client = None;
                None
            }
        }
    }
}
