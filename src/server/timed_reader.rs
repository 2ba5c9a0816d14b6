//! A socket reader that enforces the idle timeout and the line timeout.
//!
//! Why two timeouts: a socket read timeout alone is reset by every byte, so a client
//! that sends one byte a second (slowloris) would hold its thread forever. Here,
//! waiting for the *first* byte of a request may take up to the idle timeout, but once
//! a line has started it must be complete within the line timeout.
//!
//! The socket option is changed only when the wanted timeout changes, so a request
//! that arrives in one piece costs no extra system call.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads from a socket with an idle timeout and a per-line deadline.
pub struct TimedReader<'a> {
    stream: &'a TcpStream,
    idle: Duration,
    line: Duration,
    /// When the current line started, if one has.
    line_started: Option<Instant>,
    /// The read timeout currently set on the socket.
    current: Option<Duration>,
}

impl<'a> TimedReader<'a> {
    pub fn new(stream: &'a TcpStream, idle: Duration, line: Duration) -> TimedReader<'a> {
        TimedReader {
            stream,
            idle,
            line,
            line_started: None,
            current: None,
        }
    }

    /// Call before reading each request: the next byte starts a new line.
    pub fn start_line(&mut self) {
        self.line_started = None;
    }

    fn set_timeout(&mut self, wanted: Duration) -> io::Result<()> {
        // A zero timeout means "no timeout" to the OS: never set it.
        let wanted = wanted.max(Duration::from_millis(1));
        if self.current != Some(wanted) {
            self.stream.set_read_timeout(Some(wanted))?;
            self.current = Some(wanted);
        }
        Ok(())
    }
}

impl Read for TimedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = match self.line_started {
            None => self.idle,
            Some(started) => {
                let left = self.line.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request line took too long",
                    ));
                }
                left
            }
        };
        self.set_timeout(timeout)?;
        let mut stream = self.stream;
        let n = stream.read(buf)?;
        if n > 0 && self.line_started.is_none() {
            self.line_started = Some(Instant::now());
        }
        Ok(n)
    }
}
