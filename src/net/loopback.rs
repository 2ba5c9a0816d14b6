//! A connected TCP pair on 127.0.0.1, for unit tests of code that writes to a socket.
//!
//! Why a real socket rather than a `Vec<u8>`: the code under test depends on what only
//! a kernel socket does (a send buffer that fills, `MSG_DONTWAIT`, write timeouts), so
//! its tests need one. Compiled for tests only.

use std::net::{TcpListener, TcpStream};

/// A connected pair on loopback: (the server's end, the client's end).
pub fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let client = TcpStream::connect(listener.local_addr().expect("local address"))
        .expect("connect to our own listener");
    let (server, _) = listener.accept().expect("accept our own connection");
    (server, client)
}
