//! Talking to a server as a client does: one way to log in, and requests that fail the
//! test, naming the request, when the answer is not the one expected.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use feira::client::Client;
use feira::protocol::{ErrorCode, Reply};

/// How long a test client waits for any one reply before it fails (a loaded debug
/// build answers in milliseconds: only a stuck server takes this long).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A new connection to `addr`, logged in as `user` (`ALICE`, or `("carla", "pw")`).
/// `TestServer::login` and `ServerProcess::login` are this, with their address.
pub fn login(addr: SocketAddr, user: (&str, &str)) -> Client {
    login_with_addr(addr, user).0
}

/// The same, and the address the connection comes from, as the server sees it (the
/// `peer` column of the audit log).
pub fn login_with_addr(addr: SocketAddr, (user, password): (&str, &str)) -> (Client, SocketAddr) {
    let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let local = stream
        .local_addr()
        .expect("a connected socket has an address");
    let mut client =
        Client::from_stream(stream, Some(REPLY_TIMEOUT)).expect("a client on the stream");
    client
        .login(user, password)
        .unwrap_or_else(|e| panic!("login as {user}: {e}"));
    (client, local)
}

/// Sends a line and returns the reply, panicking on I/O errors (tests only).
pub fn call(client: &mut Client, line: &str) -> Reply {
    client
        .call_line(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Asserts an OK reply and returns its data lines.
pub fn ok(client: &mut Client, line: &str) -> Vec<Vec<String>> {
    let reply = call(client, line);
    assert!(reply.is_ok(), "{line} -> {reply:?}");
    reply.data
}

/// Asserts an ERR reply with this code.
pub fn err(client: &mut Client, line: &str, code: &str) {
    let reply = call(client, line);
    assert_eq!(
        reply.code().as_ref().map(ErrorCode::as_str),
        Some(code),
        "{line} -> {reply:?}"
    );
}

/// The caller's balance, from BALANCE (`* <user> <balance>`).
pub fn balance(client: &mut Client) -> String {
    ok(client, "BALANCE")[0][1].clone()
}

/// The caller's pay key, from PAYKEY.
pub fn pay_key(client: &mut Client) -> String {
    ok(client, "PAYKEY")[0][0].clone()
}
