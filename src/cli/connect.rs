//! Connecting to the server, with messages that tell a person what to do next.
//!
//! Why a module for a few lines: "Connection refused (os error 111)" is true but
//! unhelpful to a student on day one. The usual causes (the server is not running,
//! the address is mistyped, the server went away) each get a sentence naming the fix.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::client::Client;

/// Connects to `addr`, or explains why not.
pub fn connect(addr: &str, timeout: Duration) -> Result<Client, String> {
    // Resolve first, so a mistyped address is told apart from a server that is down.
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| unresolvable(addr, &e))?
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable(addr, &io::Error::other("no addresses")));
    }
    Client::connect(&addrs[..], timeout).map_err(|e| unreachable(addr, &e, timeout))
}

fn unresolvable(addr: &str, error: &io::Error) -> String {
    format!(
        "cannot understand the address {addr:?} ({error}): write host:port, like 127.0.0.1:7878"
    )
}

/// Why a connection could not be made, for people.
pub fn unreachable(addr: &str, error: &io::Error, timeout: Duration) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => format!(
            "cannot reach the server at {addr}: connection refused — is it running? \
             try `make run-server`"
        ),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "cannot reach the server at {addr}: no answer within {} s — \
             is the address right, and is the server running?",
            timeout.as_secs_f32()
        ),
        _ => format!("cannot reach the server at {addr}: {error}"),
    }
}

/// Why an open connection stopped working, for people.
pub fn lost(addr: &str, error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("the server at {addr} did not answer in time")
        }
        io::ErrorKind::InvalidData => {
            format!("the server at {addr} sent something that is not a feira reply ({error})")
        }
        _ => format!("the connection to the server at {addr} was lost ({error})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_suggests_starting_the_server() {
        let error = io::Error::from(io::ErrorKind::ConnectionRefused);
        let message = unreachable("127.0.0.1:7878", &error, Duration::from_secs(10));
        assert_eq!(
            message,
            "cannot reach the server at 127.0.0.1:7878: connection refused — is it running? \
             try `make run-server`"
        );
    }

    #[test]
    fn a_bad_address_is_not_reported_as_a_server_that_is_down() {
        let Err(message) = connect("no port here", Duration::from_secs(1)) else {
            panic!("an address without a port cannot connect");
        };
        assert!(
            message.starts_with("cannot understand the address"),
            "{message}"
        );
    }
}
