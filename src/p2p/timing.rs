//! Time limits on a peer connection: a deadline for a whole line, a floor under a body's rate.
//!
//! Why a socket's read timeout is not enough: it bounds one `read`, and every byte that
//! arrives starts it again. A peer that sends one byte every 5 s never trips a 30 s
//! timeout, so it can take minutes over a request line of 40 bytes (and hold a thread
//! and a place on the serving peer meanwhile), or hold a downloader waiting for a header
//! that never ends. Two limits close that:
//!
//! - [`DeadlineReader`]: reads from a socket until a fixed instant, however the bytes
//!   trickle in. Before each `read` it sets the socket's timeout to the time left (never
//!   more than the usual per-read timeout), and once the instant has passed it fails with
//!   `TimedOut`. The serving peer reads the request line through it, the downloader the
//!   header; then the deadline is lifted and the per-read timeout alone applies.
//! - [`RateFloor`]: a body may be large and slow, so it gets no deadline; instead it must
//!   keep up a minimum rate. The time spent waiting on the peer and the bytes received
//!   are added up, and after each `window` of waiting the bytes must be at least
//!   `min_rate` times that time (curl's `--speed-limit`/`--speed-time`). Only time spent
//!   in `read` counts, so a slow local disk is never blamed on the peer.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads a socket with a per-read timeout, and optionally an overall deadline.
pub struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    /// The longest one `read` may wait (the socket's usual timeout).
    per_read: Duration,
    /// When reading must have finished, if there is such an instant.
    deadline: Option<Instant>,
    /// What the deadline is for, for the error message ("the request line").
    what: &'static str,
    /// The read timeout currently set on the socket, to skip a system call when the
    /// wanted one is the same.
    current: Option<Duration>,
}

impl<'a> DeadlineReader<'a> {
    /// A reader whose reads wait at most `per_read` each, with no deadline yet.
    pub fn new(stream: &'a TcpStream, per_read: Duration) -> DeadlineReader<'a> {
        DeadlineReader {
            stream,
            per_read,
            deadline: None,
            what: "",
            current: None,
        }
    }

    /// From now on, reads fail once `deadline` has passed; `what` names what had to
    /// arrive by then, for the error.
    pub fn set_deadline(&mut self, deadline: Instant, what: &'static str) {
        self.deadline = Some(deadline);
        self.what = what;
    }

    /// Lifts the deadline: only the per-read timeout applies from now on.
    pub fn clear_deadline(&mut self) {
        self.deadline = None;
    }
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = match self.deadline {
            None => self.per_read,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{} did not arrive in time", self.what),
                    ));
                }
                left.min(self.per_read)
            }
        };
        // A zero timeout means "wait forever" to the OS: never set one.
        let wait = wait.max(Duration::from_millis(1));
        if self.current != Some(wait) {
            self.stream.set_read_timeout(Some(wait))?;
            self.current = Some(wait);
        }
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// The minimum rate of a body, checked over windows of waiting time.
#[derive(Debug, Clone)]
pub struct RateFloor {
    /// Bytes a second the peer must keep up; 0 turns the check off.
    min_rate: u64,
    /// How much waiting time each check covers.
    window: Duration,
    /// Time spent waiting on the peer in the current window.
    waited: Duration,
    /// Bytes received in the current window.
    received: u64,
}

/// A window in which the peer sent less than the minimum rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSlow {
    /// Bytes received in the window.
    pub received: u64,
    /// How long the window lasted.
    pub waited: Duration,
    /// The minimum, in bytes a second.
    pub min_rate: u64,
}

impl RateFloor {
    /// At least `min_rate` bytes a second (0: no minimum), checked every `window`.
    pub fn new(min_rate: u64, window: Duration) -> RateFloor {
        RateFloor {
            min_rate,
            window: window.max(Duration::from_millis(1)),
            waited: Duration::ZERO,
            received: 0,
        }
    }

    /// Records one read: `bytes` arrived after waiting `waited`. At the end of each
    /// window, fails if the window's bytes fell short of the rate.
    pub fn record(&mut self, bytes: u64, waited: Duration) -> Result<(), TooSlow> {
        if self.min_rate == 0 {
            return Ok(());
        }
        self.waited += waited;
        self.received += bytes;
        if self.waited < self.window {
            return Ok(());
        }
        let needed = self.min_rate as f64 * self.waited.as_secs_f64();
        let window = TooSlow {
            received: self.received,
            waited: self.waited,
            min_rate: self.min_rate,
        };
        self.waited = Duration::ZERO;
        self.received = 0;
        if (window.received as f64) < needed {
            return Err(window);
        }
        Ok(())
    }
}

/// Socket timeouts surface as `WouldBlock` on Unix and `TimedOut` on Windows.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_steady_rate_passes_and_a_trickle_fails_at_the_end_of_its_window() {
        let second = Duration::from_secs(1);
        let mut floor = RateFloor::new(1000, second);
        // 1,000 bytes a second, read in tenths: exactly the minimum, window after window.
        for _ in 0..50 {
            floor.record(100, second / 10).unwrap();
        }
        // A trickle: fine until the window ends, then refused with what it managed.
        let mut floor = RateFloor::new(1000, second);
        for _ in 0..9 {
            floor.record(1, second / 10).unwrap();
        }
        let err = floor.record(1, second / 10).unwrap_err();
        assert_eq!((err.received, err.min_rate), (10, 1000));
        assert!(err.waited >= second);
        // Zero turns the floor off.
        let mut off = RateFloor::new(0, second);
        assert!(off.record(0, 10 * second).is_ok());
    }

    #[test]
    fn a_deadline_stops_a_trickle_that_the_per_read_timeout_would_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut reader = DeadlineReader::new(&server, Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_millis(300);
        reader.set_deadline(deadline, "the request line");
        // Each read gets a byte at once, so only the deadline can end this loop.
        let mut buf = [0u8; 16];
        let err = loop {
            std::io::Write::write_all(&mut client, b"x").unwrap();
            if let Err(e) = reader.read(&mut buf) {
                break e;
            }
            assert!(Instant::now() < deadline + Duration::from_secs(5));
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "the request line did not arrive in time");
        assert!(Instant::now() >= deadline);
        // Without the deadline, reads go on.
        reader.clear_deadline();
        // The loop's last "x" may still be unread: read until the "y" arrives.
        std::io::Write::write_all(&mut client, b"y").unwrap();
        let mut seen = Vec::new();
        while !seen.ends_with(b"y") {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0, "the connection ended early");
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(seen == b"y" || seen == b"xy", "{seen:?}");
    }
}
