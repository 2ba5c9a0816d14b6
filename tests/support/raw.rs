//! A raw connection: bytes in, lines or replies out. For the tests that send what the
//! typed client would refuse to send (invalid UTF-8, overlong lines, half a line) and
//! look at exactly what comes back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use feira::protocol::Reply;

/// A connection to the server with a read timeout of 10 s (reached only when the
/// server says nothing, which fails the test).
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Sends these bytes as they are (with no line ending added).
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next line from the server; empty at end-of-file.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    /// Sends `bytes` and a newline, and reads one reply; `None` if the connection was
    /// closed (before the request went out, or instead of a reply). A reply that is not
    /// well-formed fails the test.
    pub fn ask(&mut self, bytes: &[u8]) -> Option<Reply> {
        let line = [bytes, b"\n"].concat();
        self.writer.write_all(&line).ok()?;
        Reply::read_from(&mut self.reader, 1 << 20).unwrap_or_else(|e| {
            panic!(
                "a malformed reply to {:?}: {e}",
                String::from_utf8_lossy(bytes)
            )
        })
    }

    /// Is the connection closed by the server (end-of-file or reset)?
    pub fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}
