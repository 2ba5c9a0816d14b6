//! Writing to a client with one deadline for the whole reply (`--write-timeout`).
//!
//! Why not the socket's write timeout: `SO_SNDTIMEO` bounds each `send` call, not a
//! reply. A client that stops reading would hold its connection for one timeout per
//! call, and one that reads a byte now and then would hold it for as long as it
//! liked, with the thread, the reply and its buffers kept alive all that time. Thirty
//! such clients asking for long lists took gigabytes. So every path that writes to a
//! client (the connection thread, the journal committer, a `slow-reply` thread)
//! writes through this file: the socket must take the whole reply by the deadline, or
//! the connection is cut off ([`cut_off`]) and its memory freed.
//!
//! How: `send` with `MSG_DONTWAIT` takes what the socket buffer has room for now, and
//! when it has none, `poll` waits for room, but only until the deadline. Nothing is set
//! on the socket itself, so the committer's sends, a `slow-reply` thread's and the
//! connection thread's reads never change each other's settings.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Writes one reply at a time to a socket, each by its own deadline. The connection
/// thread's replies go through a `BufWriter` around it, so they reach the socket in
/// chunks of the buffer's size.
pub struct TimedWriter<'a> {
    stream: &'a TcpStream,
    timeout: Duration,
    deadline: Instant,
}

impl<'a> TimedWriter<'a> {
    pub fn new(stream: &'a TcpStream, timeout: Duration) -> TimedWriter<'a> {
        TimedWriter {
            stream,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    /// Call before writing each reply: the client has `timeout` from now to take it.
    pub fn start_reply(&mut self) {
        self.deadline = Instant::now() + self.timeout;
    }
}

impl Write for TimedWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        send_by(self.stream, bytes, self.deadline)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing is held here: `send` hands every byte to the kernel.
        Ok(())
    }
}

/// Writes all of `bytes` by `deadline`, or cuts the connection off.
pub fn write_all_by(stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let sent = send_by(stream, bytes, deadline)?;
        bytes = &bytes[sent..];
    }
    Ok(())
}

/// Sends some of `bytes` (at least one byte when there are any), waiting for room in
/// the socket buffer until `deadline`. Past it, the connection is cut off and the
/// error is `TimedOut`.
fn send_by(stream: &TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<usize> {
    loop {
        match send_without_waiting(stream, bytes) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return result,
        }
        if let Err(e) = wait_for_room(stream, deadline) {
            cut_off(stream);
            return Err(e);
        }
    }
}

/// `send(2)` with `MSG_DONTWAIT`: as many bytes as the socket buffer takes now, or
/// `WouldBlock`. Std has no such call: `set_nonblocking` would change the socket for
/// the connection thread's reads as well.
pub fn send_without_waiting(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the descriptor belongs to `stream`, which outlives the call, and the
        // pointer and length describe the live slice `bytes`. `send` only reads them.
        let sent = unsafe {
            libc::send(
                stream.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if let Ok(sent) = usize::try_from(sent) {
            return Ok(sent);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Waits until the socket can take more bytes (or has failed, which the next `send`
/// reports), or until `deadline`: then `TimedOut`.
fn wait_for_room(stream: &TcpStream, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not take its reply within the write timeout",
            ));
        }
        // Rounded up to whole milliseconds, so that a wait never spins at 0 ms.
        let millis = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        let mut poll = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `poll` reads and writes the one live `pollfd` it is given, whose
        // descriptor belongs to `stream`.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready > 0 {
            return Ok(());
        }
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        // Timed out or interrupted: the loop checks the deadline again.
    }
}

/// Ends a connection whose client stopped taking its replies: whatever the kernel still
/// holds for it is thrown away (a reset instead of a polite close, which would keep the
/// unsent bytes queued for minutes), and a thread blocked reading its next request
/// wakes up to end of input.
pub fn cut_off(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor belongs to `stream`; `setsockopt` reads `size_of::<linger>`
    // bytes from the live `linger` value. A failure only leaves the polite close.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    use crate::net::loopback::pair;

    #[test]
    fn a_reply_the_client_reads_arrives_whole() {
        let (server, mut client) = pair();
        // Far more than the socket buffers hold, so the writer must wait for room.
        let reply = vec![b'x'; 16 << 20];
        let reader = std::thread::spawn(move || {
            let mut received = Vec::new();
            client.read_to_end(&mut received).unwrap();
            received.len()
        });
        let mut writer = TimedWriter::new(&server, Duration::from_secs(60));
        writer.start_reply();
        writer.write_all(&reply).unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), reply.len());
    }

    #[test]
    fn a_client_that_stops_reading_is_cut_off_at_the_deadline() {
        let (server, mut client) = pair();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        // In a thread of its own, so that a writer that never gives up fails the test
        // instead of hanging it.
        let (done, result) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            let _ = done.send(write_all_by(&server, &vec![b'x'; 64 << 20], deadline));
            server
        });
        let error = result
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer gave up within 10 s")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300),
            "gave up after {waited:?}, before the 300 ms deadline"
        );
        let server = writer.join().unwrap();
        // The connection is gone: the client reads what arrived, then the reset or the
        // end of the stream, never a block.
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut sink = vec![0; 1 << 20];
        loop {
            match client.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_ne!(e.kind(), io::ErrorKind::WouldBlock, "the client blocked");
                    break;
                }
            }
        }
    }
}
