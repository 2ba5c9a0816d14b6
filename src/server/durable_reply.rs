//! A connection's replies: in order, and each only once the disk has what it says.
//!
//! Why: a reply may only leave once every change its request made or saw is durable
//! (the journal's fsync, shared by group commit). The obvious way is for the
//! connection thread to sleep until the fsync ends, be woken, and write. Under load
//! that costs a second sleep and wake-up per request, beside the one in `recv`; with
//! fifty connections on two cores the scheduler's work outgrew the server's
//! (docs/bench-notes.md).
//!
//! So a connection thread whose reply must wait *hands it over*: the thread that runs
//! the covering fsync (usually the journal's committer) sends it right after, and the
//! connection thread goes straight back to reading its socket. Two rules keep that
//! safe:
//!
//! - **Order.** Before a connection sends or hands over its next reply, it waits until
//!   the previous one has left ([`Outbox::settle`]). A client that waits for each
//!   reply never makes it wait: its next request only arrives once that reply did.
//! - **The committer never blocks on a client.** It sends with `MSG_DONTWAIT`. If the
//!   client has stopped reading and its socket buffer is full, the rest of the reply
//!   goes to a short-lived thread that writes it with the connection's write timeout,
//!   and the committer moves on to the next reply. One slow client slows itself only.

use std::io::{self, BufWriter, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::{self, Thread};

use parking_lot::Mutex;

use crate::error::Error;
use crate::protocol::Reply;
use crate::storage::{Journal, WhenDurable};

/// Writes one connection's replies. Owned by the connection thread.
pub struct Replies<'a> {
    /// This thread's own writes go through a buffer, flushed after every reply, so
    /// nothing of ours is ever buffered while another thread writes.
    writer: BufWriter<&'a TcpStream>,
    outbox: Arc<Outbox>,
}

impl<'a> Replies<'a> {
    pub fn new(stream: &'a Arc<TcpStream>) -> Replies<'a> {
        Replies {
            writer: BufWriter::new(stream),
            outbox: Arc::new(Outbox {
                stream: Arc::clone(stream),
                owner: thread::current(),
                state: Mutex::new(State {
                    in_flight: InFlight::No,
                    bytes: Vec::new(),
                }),
            }),
        }
    }

    /// Writes `reply` from this thread, after any reply still in flight.
    pub fn send_now(&mut self, reply: &Reply) -> io::Result<()> {
        self.outbox.settle()?;
        reply.write_to(&mut self.writer)?;
        self.writer.flush()
    }

    /// Sends `reply` once every change written to `journal` so far is durable: from
    /// this thread if that is so already, else from the thread whose fsync covers it.
    /// If the journal can no longer make it durable, the client gets `ERR INTERNAL`
    /// instead.
    pub fn send_when_durable(&mut self, journal: &Journal, reply: Reply) -> io::Result<()> {
        // Taken before anything else: the changes this request made or saw are in it.
        let ticket = journal.latest();
        if journal.is_durable(ticket) {
            return self.send_now(&reply);
        }
        self.outbox.settle()?;
        {
            // Encoded here, into the buffer the last hand-over left behind: the thread
            // that sends it allocates and frees nothing.
            let mut state = self.outbox.state.lock();
            state.bytes.clear();
            reply.write_to(&mut state.bytes)?;
            state.in_flight = InFlight::Yes;
        }
        journal.when_durable(ticket, self.outbox.clone());
        Ok(())
    }

    /// Waits until no reply is in flight: called before the connection closes, so
    /// that the last reply is not lost.
    pub fn finish(&self) -> io::Result<()> {
        self.outbox.settle()
    }
}

/// The part of a connection that other threads may write to.
struct Outbox {
    stream: Arc<TcpStream>,
    /// The connection thread, unparked when its reply has left.
    owner: Thread,
    /// A leaf lock, held for a few instructions at a time and never across a send.
    state: Mutex<State>,
}

struct State {
    in_flight: InFlight,
    /// The reply handed over, encoded. The buffer goes to the sending thread and comes
    /// back, so that it is reused from one reply to the next.
    bytes: Vec<u8>,
}

/// Is a handed-over reply still on its way?
enum InFlight {
    No,
    Yes,
    /// It could not be sent: the connection is broken.
    Failed(io::Error),
}

impl Outbox {
    /// Returns once no reply of this connection is in flight.
    fn settle(&self) -> io::Result<()> {
        loop {
            {
                let mut state = self.state.lock();
                match std::mem::replace(&mut state.in_flight, InFlight::No) {
                    InFlight::No => return Ok(()),
                    InFlight::Failed(e) => return Err(e),
                    InFlight::Yes => state.in_flight = InFlight::Yes,
                }
            }
            // Woken by `done`; `park` may also return early, so look again.
            thread::park();
        }
    }

    /// Sends a handed-over reply without waiting; whatever the socket does not take at
    /// once is written by a thread that may wait.
    fn deliver(self: Arc<Self>, bytes: Vec<u8>) {
        let sent = match send_without_waiting(&self.stream, &bytes) {
            Ok(sent) => sent,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return self.done(Err(e), bytes),
        };
        if sent == bytes.len() {
            return self.done(Ok(()), bytes);
        }
        if thread::current().id() == self.owner.id() {
            // The connection thread ran the fsync itself: waiting is its own business.
            let result = (&*self.stream).write_all(&bytes[sent..]);
            return self.done(result, bytes);
        }
        // The client is not reading. Its own thread waits for it (up to the write
        // timeout), not the committer.
        let outbox = Arc::clone(&self);
        let spawned = thread::Builder::new()
            .name("slow-reply".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let result = (&*outbox.stream).write_all(&bytes[sent..]);
                outbox.done(result, bytes);
            });
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
            state.bytes = bytes;
            state.in_flight = match result {
                Ok(()) => InFlight::No,
                Err(e) => InFlight::Failed(e),
            };
        }
        self.owner.unpark();
    }
}

impl WhenDurable for Outbox {
    fn durable(self: Arc<Self>, durable: bool) {
        let mut bytes = std::mem::take(&mut self.state.lock().bytes);
        if !durable {
            bytes.clear();
            let refusal = crate::store::internal(Error::Poisoned);
            // Writing to a Vec cannot fail.
            let _ = Reply::from(refusal).write_to(&mut bytes);
        }
        self.deliver(bytes);
    }
}

/// `send(2)` with `MSG_DONTWAIT`: as many bytes as the socket buffer takes now, or
/// `WouldBlock`. Std has no such call: `set_nonblocking` would change the socket for
/// the connection thread's reads as well.
fn send_without_waiting(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    /// A connected pair on loopback: (the server's end, the client's end).
    fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
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
        let outbox = Replies::new(&server).outbox;
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
    fn a_reply_written_now_waits_for_the_one_handed_over_before_it() {
        let (server, client) = pair();
        let (outbox_tx, outbox_rx) = std::sync::mpsc::channel();
        // The connection thread: it hands reply 1 over, then writes reply 2 itself.
        let connection = thread::spawn(move || {
            let mut replies = Replies::new(&server);
            replies.outbox.state.lock().in_flight = InFlight::Yes;
            outbox_tx.send(Arc::clone(&replies.outbox)).unwrap();
            replies.send_now(&Reply::ok("2")).unwrap();
        });
        let outbox = outbox_rx.recv().unwrap();
        // Reply 2 must not overtake reply 1: nothing arrives until 1 is delivered.
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut reader = BufReader::new(client);
        let mut line = String::new();
        let early = reader.read_line(&mut line);
        assert!(
            early.is_err(),
            "a reply overtook the one in flight: {line:?}"
        );
        outbox.deliver(b"OK 1\n".to_vec());
        connection.join().unwrap();
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut lines = String::new();
        reader.read_line(&mut lines).unwrap();
        reader.read_line(&mut lines).unwrap();
        assert_eq!(lines, "OK 1\nOK 2\n");
    }

    #[test]
    fn a_client_that_does_not_read_gets_its_reply_later_without_blocking_the_sender() {
        let (server, mut client) = pair();
        server
            .set_write_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let filled = fill_send_buffer(&server);
        let outbox = Replies::new(&server).outbox;
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
    fn a_failed_delivery_is_reported_to_the_owner_once() {
        let (server, client) = pair();
        drop(client);
        let outbox = Replies::new(&server).outbox;
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
