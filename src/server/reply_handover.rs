//! The committer path: a reply that waits for the disk is sent by the thread that runs
//! the covering fsync, while the connection thread goes back to reading its socket.
//!
//! # The plain version, and what this layer buys
//!
//! The plain reply path (src/server/replies.rs, `feira-server --reply-path plain`):
//! the connection thread waits until the journal's fsync covers its request, is woken,
//! and writes the reply. Under load that is a second sleep and wake-up per request,
//! beside the one in `recv`: with fifty connections on two cores, the scheduler's work
//! grows larger than the server's. Here the connection thread *hands the reply over*:
//! the thread that runs the covering fsync (usually group commit's committer) sends it
//! right after, and the connection thread sleeps only in `recv`. What that buys, in
//! requests per second and p99, is the `--reply-path plain` row of the ablation table
//! in docs/BENCHMARKS.md ("What each speed layer buys"), measured in the same run as
//! every layer on. It is the default; `--reply-path plain` switches it off, and the
//! tests of replies (tests/pipelining.rs, the crash test in tests/faults.rs) run both
//! ways.
//!
//! # What keeps it safe
//!
//! - **Order.** Before a connection sends or hands over its next reply, it waits until
//!   the previous one has left ([`Outbox::settle`]). A client that waits for each
//!   reply never makes it wait: its next request only arrives once that reply did.
//! - **The committer never blocks on a client.** It sends with `MSG_DONTWAIT`. If the
//!   client has stopped reading and its socket buffer is full, the rest of the reply
//!   goes to a short-lived thread that writes it by the write deadline
//!   ([`timed_writer`](super::timed_writer)), and the committer moves on to the next
//!   reply. One slow client slows itself only.
//! - **Memory stays bounded.** Only a short reply (at most [`HANDOVER_LIMIT`] bytes
//!   encoded, which is almost every reply) is handed over. A long one (a page of a list)
//!   is never encoded whole: it takes the plain path, the connection thread waiting for
//!   the fsync itself and writing it a buffer at a time, by the same deadline.
//! - **Durable first.** The outbox is queued with the journal's `when_durable`, which
//!   runs it only after an fsync that covers the request's ticket, exactly the wait the
//!   plain path does; a poisoned journal turns the reply into `ERR INTERNAL`.
//!
//! Not a part of this layer, so on either path: the write deadline on every reply
//! (src/server/timed_writer.rs), which is what protects the server from a client that
//! stops reading, whoever writes.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::timed_writer::{send_without_waiting, write_all_by};
use crate::error::Error;
use crate::protocol::{Refusal, Reply};
use crate::storage::WhenDurable;

/// The longest reply, encoded, that is handed over to the thread that runs the fsync.
/// Longer ones take the plain path (see the module's doc).
pub const HANDOVER_LIMIT: usize = 16 * 1024;

/// The part of a connection that other threads may write to: where its connection
/// thread hands a reply over, and how the sending thread reports back.
pub struct Outbox {
    /// The connection's socket, shared with its thread: the sending thread writes the
    /// reply to it directly.
    stream: Arc<TcpStream>,
    /// The connection thread, unparked when its reply has left.
    owner: Thread,
    /// How long the client has to take a reply once it starts to leave.
    write_timeout: Duration,
    /// A leaf lock, held for a few instructions at a time and never across a send.
    state: Mutex<State>,
}

/// What the connection thread and the sending thread exchange, under the outbox's lock.
struct State {
    /// Whether a handed-over reply is still on its way, and how it ended.
    in_flight: InFlight,
    /// The reply handed over, encoded: at most [`HANDOVER_LIMIT`] bytes. The buffer
    /// goes to the sending thread and comes back, so that it is reused from one reply
    /// to the next.
    bytes: Vec<u8>,
}

/// Is a handed-over reply still on its way?
enum InFlight {
    /// Nothing handed over, or it has left: the connection may write again.
    No,
    /// Handed over: the connection thread must wait before its next reply.
    Yes,
    /// It could not be sent: the connection is broken.
    Failed(io::Error),
}

impl Outbox {
    /// The outbox of the connection on `stream`, owned by the calling thread (the
    /// connection's own, woken when a reply it handed over has left).
    pub fn new(stream: &Arc<TcpStream>, write_timeout: Duration) -> Arc<Outbox> {
        Arc::new(Outbox {
            stream: Arc::clone(stream),
            owner: thread::current(),
            write_timeout,
            state: Mutex::new(State {
                in_flight: InFlight::No,
                bytes: Vec::new(),
            }),
        })
    }

    /// Returns once no reply of this connection is in flight; an error if the last one
    /// could not be sent (the connection is broken).
    pub fn settle(&self) -> io::Result<()> {
        loop {
            {
                let mut state = self.state.lock();
                // Taken out to return a failure by value; put back if still in flight.
                match std::mem::replace(&mut state.in_flight, InFlight::No) {
                    InFlight::No => return Ok(()),
                    // Reported once: the connection thread ends the connection.
                    InFlight::Failed(e) => return Err(e),
                    InFlight::Yes => state.in_flight = InFlight::Yes,
                }
            }
            // The lock is released before parking, so `done` can take it.
            // Woken by `done`; `park` may also return early, so look again.
            thread::park();
        }
    }

    /// Encodes `reply` for the hand-over, into the buffer the last hand-over left
    /// behind (so the thread that sends it allocates and frees nothing), and marks it
    /// in flight. Returns `false`, with nothing in flight, if it is longer than
    /// [`HANDOVER_LIMIT`]. The caller then queues the outbox with
    /// [`Journal::when_durable`](crate::storage::Journal::when_durable).
    pub fn hand_over(&self, reply: &Reply) -> bool {
        let mut state = self.state.lock();
        // The buffer keeps its capacity from the last reply: no allocation here.
        state.bytes.clear();
        // Encoding stops with an error at the limit: a long reply is never held whole.
        let mut capped = Capped {
            bytes: &mut state.bytes,
            limit: HANDOVER_LIMIT,
        };
        if reply.write_to(&mut capped).is_err() {
            return false;
        }
        // From here the connection thread settles before writing anything else.
        state.in_flight = InFlight::Yes;
        true
    }

    /// Sends a handed-over reply without waiting; whatever the socket does not take at
    /// once is written by a thread that may wait, until the write deadline.
    pub(super) fn deliver(self: Arc<Self>, bytes: Vec<u8>) {
        // `MSG_DONTWAIT`: the committer must never sleep on one client's socket.
        let sent = match send_without_waiting(&self.stream, &bytes) {
            Ok(sent) => sent,
            // A full socket buffer: nothing sent yet; the rest below sends it all.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            // A broken connection: its thread hears of it at its next `settle`.
            Err(e) => return self.done(Err(e), bytes),
        };
        // The usual case: a short reply fits in the socket's buffer at once.
        if sent == bytes.len() {
            return self.done(Ok(()), bytes);
        }
        // The deadline starts now, when the reply starts to leave.
        let deadline = Instant::now() + self.write_timeout;
        if thread::current().id() == self.owner.id() {
            // The connection thread ran the fsync itself: waiting is its own business.
            let result = write_all_by(&self.stream, &bytes[sent..], deadline);
            return self.done(result, bytes);
        }
        // The client is not reading. Its own thread waits for it (until the deadline;
        // then the connection is cut off), not the committer.
        let outbox = Arc::clone(&self);
        let spawned = thread::Builder::new()
            .name("slow-reply".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let result = write_all_by(&outbox.stream, &bytes[sent..], deadline);
                outbox.done(result, bytes);
            });
        // No thread to spare: the reply is lost, so the connection must end rather
        // than go on with a reply missing.
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for a slow client's reply: {e}");
            self.done(Err(e), Vec::new());
        }
    }

    /// Records how the reply in flight ended, gives its buffer back, and wakes the
    /// connection thread.
    fn done(&self, result: io::Result<()>, bytes: Vec<u8>) {
        {
            let mut state = self.state.lock();
            // The buffer comes home, to be reused by the next hand-over.
            state.bytes = bytes;
            state.in_flight = match result {
                Ok(()) => InFlight::No,
                Err(e) => InFlight::Failed(e),
            };
        }
        // After the lock is released: the woken thread takes it at once in `settle`.
        self.owner.unpark();
    }

    /// Marks a reply in flight, as [`Outbox::hand_over`] does, for tests that then
    /// deliver it by hand.
    #[cfg(test)]
    pub(super) fn pretend_in_flight(&self) {
        self.state.lock().in_flight = InFlight::Yes;
    }
}

/// What the journal runs once the request's line is durable (or never will be): send
/// the reply handed over. It runs on the thread whose fsync covered the line, usually
/// group commit's committer, so it sends without waiting.
impl WhenDurable for Outbox {
    fn durable(self: Arc<Self>, durable: bool) {
        // Taken out of the lock: the send runs with no lock held.
        let mut bytes = std::mem::take(&mut self.state.lock().bytes);
        // The journal cannot make it durable: the promised reply would be a lie, so
        // the client hears `ERR INTERNAL`, as on the plain path.
        if !durable {
            bytes.clear();
            let refusal = Refusal::internal(Error::Poisoned);
            // Writing to a Vec cannot fail.
            let _ = Reply::from(refusal).write_to(&mut bytes);
        }
        self.deliver(bytes);
    }
}

/// A writer into a buffer that refuses to grow it past `limit` bytes: the hand-over's
/// encoding stops as soon as a reply turns out to be long, and the buffer kept for the
/// next reply never holds more than `limit` bytes of room.
struct Capped<'a> {
    bytes: &'a mut Vec<u8>,
    limit: usize,
}

impl Write for Capped<'_> {
    fn write(&mut self, more: &[u8]) -> io::Result<usize> {
        let needed = self.bytes.len() + more.len();
        // Too long: the caller takes the plain path, and nothing more is encoded.
        if needed > self.limit {
            return Err(io::Error::other("too long to hand over"));
        }
        if needed > self.bytes.capacity() {
            // Doubling, as a Vec would, but never past the limit.
            let room = needed.max(2 * self.bytes.capacity()).min(self.limit);
            self.bytes.reserve_exact(room - self.bytes.len());
        }
        self.bytes.extend_from_slice(more);
        Ok(more.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::time::{Duration, Instant};

    /// A connected pair on loopback: (the server's end, shared as the connection
    /// thread shares it, and the client's end).
    fn pair() -> (Arc<TcpStream>, TcpStream) {
        let (server, client) = crate::net::loopback::pair();
        (Arc::new(server), client)
    }

    /// Fills the server end's send buffer (the client reads nothing meanwhile);
    /// returns how many bytes went in.
    fn fill_send_buffer(server: &TcpStream) -> usize {
        let chunk = [b'x'; 4096];
        let mut total = 0;
        loop {
            match send_without_waiting(server, &chunk) {
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_reply_delivered_by_another_thread_arrives_and_settles_the_owner() {
        let (server, client) = pair();
        let outbox = Outbox::new(&server, Duration::from_secs(60));
        outbox.state.lock().in_flight = InFlight::Yes;
        let delivering = Arc::clone(&outbox);
        thread::spawn(move || delivering.deliver(b"OK 1\n".to_vec()))
            .join()
            .unwrap();
        outbox.settle().unwrap();
        let mut line = String::new();
        BufReader::new(client).read_line(&mut line).unwrap();
        assert_eq!(line, "OK 1\n");
    }

    #[test]
    fn a_client_that_does_not_read_gets_its_reply_later_without_blocking_the_sender() {
        let (server, mut client) = pair();
        let filled = fill_send_buffer(&server);
        let outbox = Outbox::new(&server, Duration::from_secs(60));
        outbox.state.lock().in_flight = InFlight::Yes;
        // The "committer" must return although the client reads nothing yet; had it
        // waited for the socket, it would still be waiting at the deadline.
        let (returned, deliver_returned) = std::sync::mpsc::channel();
        let delivering = Arc::clone(&outbox);
        thread::spawn(move || {
            delivering.deliver(b"OK late\n".to_vec());
            let _ = returned.send(());
        });
        deliver_returned
            .recv_timeout(Duration::from_secs(60))
            .expect("deliver waited for a client that does not read");
        // Now the client reads: the filler first, then the reply, whole.
        let mut received = vec![0; filled];
        client.read_exact(&mut received).unwrap();
        let mut line = String::new();
        BufReader::new(client).read_line(&mut line).unwrap();
        assert_eq!(line, "OK late\n");
        outbox.settle().unwrap();
    }

    #[test]
    fn a_slow_reply_past_the_write_deadline_cuts_the_connection_off() {
        let (server, client) = pair();
        fill_send_buffer(&server);
        let outbox = Outbox::new(&server, Duration::from_millis(300));
        outbox.state.lock().in_flight = InFlight::Yes;
        let started = Instant::now();
        // Delivered by another thread (the committer): the rest goes to a slow-reply
        // thread, which gives up at the deadline and reports it to the owner.
        let delivering = Arc::clone(&outbox);
        thread::spawn(move || delivering.deliver(b"OK late\n".to_vec()))
            .join()
            .unwrap();
        // Watched from here rather than by blocking in `settle`, so that a slow-reply
        // that never gives up fails the test instead of hanging it.
        let in_flight = || matches!(outbox.state.lock().in_flight, InFlight::Yes);
        while in_flight() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the deadline was 300 ms; the reply is still in flight"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let error = outbox.settle().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        // The socket was shut down both ways: a read on the server's end (where the
        // connection thread waits for its next request) ends at once.
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert_eq!((&*server).read(&mut byte).unwrap(), 0);
        drop(client);
    }

    #[test]
    fn only_a_short_reply_is_handed_over_and_its_buffer_stays_small() {
        let (server, _client) = pair();
        let outbox = Outbox::new(&server, Duration::from_secs(60));
        let row = vec!["x".repeat(100)];
        let long = Reply::rows(vec![row; 1000], "1000 rows");
        assert!(long.encode().len() > HANDOVER_LIMIT);
        assert!(!outbox.hand_over(&long), "a 100 KB reply was handed over");
        assert!(matches!(outbox.state.lock().in_flight, InFlight::No));
        assert!(outbox.state.lock().bytes.capacity() <= HANDOVER_LIMIT);
        assert!(outbox.hand_over(&Reply::ok("short")));
        assert!(matches!(outbox.state.lock().in_flight, InFlight::Yes));
        assert_eq!(outbox.state.lock().bytes, b"OK short\n");
    }

    #[test]
    fn a_failed_delivery_is_reported_to_the_owner_once() {
        let (server, client) = pair();
        drop(client);
        let outbox = Outbox::new(&server, Duration::from_secs(60));
        // Writes to a closed peer fail once the reset has come back; keep writing.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            outbox.state.lock().in_flight = InFlight::Yes;
            Arc::clone(&outbox).deliver(b"OK\n".to_vec());
            if outbox.settle().is_err() {
                break;
            }
            assert!(Instant::now() < deadline, "the send never failed");
        }
        outbox.settle().unwrap();
    }
}
