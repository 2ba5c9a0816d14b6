//! A stand-in server on 127.0.0.1 that answers each request line as the test says: a
//! server newer, older or more hostile than ours, to see what the client does with it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

/// What the stand-in does with one request line.
pub enum Answer {
    /// Writes these bytes (a whole reply, line endings included) and reads on.
    Reply(Vec<u8>),
    /// Writes these bytes, then closes the connection (as QUIT does).
    ReplyAndClose(Vec<u8>),
    /// Closes the connection without a word.
    Close,
}

/// Starts a stand-in that serves `connections` connections, one after the other,
/// answering each line with `answer(line)`, and then stops listening. The line is
/// given without its line ending, lossily decoded if it is not UTF-8.
pub fn fake_server(
    connections: usize,
    mut answer: impl FnMut(&str) -> Answer + Send + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port on loopback");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for _ in 0..connections {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut writer = stream.try_clone().unwrap();
            for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line);
                let (bytes, close) = match answer(line.trim_end_matches('\r')) {
                    Answer::Reply(bytes) => (bytes, false),
                    Answer::ReplyAndClose(bytes) => (bytes, true),
                    Answer::Close => (Vec::new(), true),
                };
                if writer.write_all(&bytes).is_err() || close {
                    break;
                }
            }
        }
    });
    addr
}
