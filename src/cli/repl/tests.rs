//! A session against stand-in servers: reconnecting, logging in again, giving up.

use super::*;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

fn options(addr: SocketAddr) -> Options {
    Options {
        addr: addr.to_string(),
        user: None,
        timeout: Duration::from_secs(5),
        raw: false,
        sharing: Default::default(),
    }
}

/// A stand-in server for one connection: it answers LOGIN with `login_reply`, and
/// anything else with `OK`.
fn fake_server(login_reply: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut writer = stream.try_clone().unwrap();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let reply = if line.starts_with("LOGIN ") {
                login_reply
            } else {
                "OK"
            };
            if writeln!(writer, "{reply}").is_err() {
                return;
            }
        }
    });
    addr
}

/// A session logged in as alice reconnects to a server that answers her LOGIN with
/// `login_reply`. Returns whether it reconnected, whether it still has her login,
/// and what it said on stderr.
fn reconnect_as_alice(login_reply: &'static str) -> (bool, bool, String) {
    let options = options(fake_server(login_reply));
    let mut input = Script::new(&b""[..]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut repl = Repl::new(&options, &mut input, &mut out, &mut err);
    repl.login = Some(Login {
        user: "alice".into(),
        password: "alice-pass".into(),
        role: None,
    });
    let reconnected = repl.reconnect();
    let kept = repl.login.is_some();
    drop(repl);
    (reconnected, kept, String::from_utf8(err).unwrap())
}

/// THROTTLED is not a wrong password: the password was never checked.
#[test]
fn a_throttled_login_after_a_reconnect_keeps_the_saved_login() {
    let (reconnected, kept, err) =
        reconnect_as_alice("ERR THROTTLED too many failed logins for this name; retry in 8 s");
    assert!(kept, "the login was forgotten: {err}");
    assert!(!reconnected, "connected but not logged in: {err}");
    assert!(err.contains("retry in 8 s"), "{err}");
    assert!(err.contains("your login is kept"), "{err}");
}

#[test]
fn a_wrong_password_after_a_reconnect_forgets_the_saved_login() {
    let (reconnected, kept, err) =
        reconnect_as_alice("ERR AUTH_FAILED wrong user name or password");
    assert!(!kept, "{err}");
    assert!(reconnected, "connected, logged out: {err}");
    assert!(err.contains("AUTH_FAILED"), "{err}");
}

/// A session whose server is not there: a script stops with exit 2 and says why.
#[test]
fn a_script_stops_when_the_server_is_unreachable() {
    // Bind and drop a listener, so the port is (almost certainly) closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let options = options(addr);
    let mut input = Script::new("products\n".as_bytes());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = run(&options, &mut input, &mut out, &mut err);
    assert_eq!(exit, Exit::Trouble);
    assert!(out.is_empty());
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("connection refused — is it running?"), "{err}");
}
