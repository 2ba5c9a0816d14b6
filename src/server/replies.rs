//! A connection's replies, in order, each one sent only once the disk has what it says.
//!
//! A reply may leave only once every change its request made or saw is durable: an
//! `OK` for an order that a crash could still undo would be a promise broken. The plain
//! way, which this file is: after the request was handled and its locks released, the
//! connection thread takes a ticket for everything written so far
//! ([`Journal::latest`]), waits until the journal's fsync covers it
//! ([`Journal::wait_durable`]), and then writes the reply itself. If the journal can no
//! longer make it durable (an fsync failed), the client gets `ERR INTERNAL` instead.
//!
//! One speed layer sits on this path, on by default: the committer path
//! (src/server/reply_handover.rs, `--reply-path committer`). A reply that would wait
//! is handed over to the thread that runs the covering fsync, which sends it, and the
//! connection thread goes back to reading its socket at once. `--reply-path plain`
//! switches it off; the tests of replies (tests/pipelining.rs, the crash test in
//! tests/faults.rs) run both ways.
//!
//! Every write to the client goes through a [`TimedWriter`]: the client must take each
//! reply by the write deadline (`--write-timeout`), or the connection is cut off.

use std::io::{self, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::config::ReplyPath;
use super::reply_handover::Outbox;
use super::timed_writer::TimedWriter;
use crate::protocol::{Refusal, Reply};
use crate::storage::Journal;

/// Writes one connection's replies. Owned by the connection thread.
pub struct Replies<'a> {
    /// This thread's own writes go through a buffer, flushed after every reply, so
    /// nothing of ours is ever buffered while another thread writes; a long reply
    /// leaves a buffer at a time, all of it by the write deadline.
    writer: BufWriter<TimedWriter<'a>>,
    /// On the committer path, where a reply is handed over; `None` on the plain path.
    handover: Option<Arc<Outbox>>,
}

impl<'a> Replies<'a> {
    /// The replies of the connection on `stream`, sent the way `path` says. The client
    /// must take each one within `write_timeout` (`--write-timeout`) or the connection
    /// is cut off.
    pub fn new(
        stream: &'a Arc<TcpStream>,
        write_timeout: Duration,
        path: ReplyPath,
    ) -> Replies<'a> {
        // The plain path needs no outbox: this thread writes every reply itself.
        let handover = match path {
            ReplyPath::Plain => None,
            ReplyPath::Committer => Some(Outbox::new(stream, write_timeout)),
        };
        Replies {
            // One timed writer per connection, on the same socket as the reader: no
            // second file descriptor.
            writer: BufWriter::new(TimedWriter::new(stream, write_timeout)),
            handover,
        }
    }

    /// Writes `reply` from this thread now (after any reply still in flight).
    pub fn send_now(&mut self, reply: &Reply) -> io::Result<()> {
        // Replies leave in the order of their requests: a reply handed over earlier
        // goes first (on the plain path nothing is ever in flight).
        self.finish()?;
        // The client has the write deadline from here to take this whole reply.
        self.writer.get_mut().start_reply();
        // Encoded straight into the buffer, piece by piece: no `String` per reply.
        reply.write_to(&mut self.writer)?;
        // Out now: the client waits for it, and nothing of ours may stay buffered.
        self.writer.flush()
    }

    /// Sends `reply` once every change written to `journal` so far is durable.
    pub fn send_when_durable(&mut self, journal: &Journal, reply: Reply) -> io::Result<()> {
        // Taken before anything else: the changes this request made or saw are in it.
        let ticket = journal.latest();
        // Already durable (a read, or a write another fsync covered): no need to hand
        // it over, it leaves at once below.
        if let Some(outbox) = &self.handover
            && !journal.is_durable(ticket)
        {
            // The committer path: the thread whose fsync covers the ticket sends the
            // reply, and this thread goes back to reading. Only a short reply is
            // handed over; a long one takes the plain path below.
            // One reply in flight at a time per connection: that keeps them in order.
            outbox.settle()?;
            if outbox.hand_over(&reply) {
                // The journal runs the outbox once an fsync covers the ticket.
                journal.when_durable(ticket, outbox.clone());
                return Ok(());
            }
        }
        // The plain path: wait here until the fsync covers the ticket, then write.
        let reply = match journal.wait_durable(ticket) {
            Ok(()) => reply,
            // An fsync failed: what the reply says may not survive a crash, so the
            // client is told the server failed instead (docs/RELIABILITY.md).
            Err(e) => Reply::from(Refusal::internal(e)),
        };
        self.send_now(&reply)
    }

    /// Waits until no reply is in flight (only the committer path has any): called
    /// before the connection closes, so that the last reply is not lost.
    pub fn finish(&self) -> io::Result<()> {
        // An error means the reply in flight could not be sent: the connection is over.
        match &self.handover {
            Some(outbox) => outbox.settle(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::protocol::Cents;
    use crate::shop::catalog;
    use crate::storage::Layers;
    use std::io::{BufRead, BufReader};
    use std::thread;

    /// A connected pair on loopback: (the server's end, shared as the connection
    /// thread shares it, and the client's end).
    fn pair() -> (Arc<TcpStream>, TcpStream) {
        let (server, client) = crate::net::loopback::pair();
        (Arc::new(server), client)
    }

    /// Each reply path, on a journal with and without group commit: once
    /// `send_when_durable` returns on the connection thread, or once the reply has
    /// arrived, the line the request wrote is durable.
    #[test]
    fn every_reply_path_sends_a_write_reply_only_once_its_line_is_durable() {
        for path in [ReplyPath::Plain, ReplyPath::Committer] {
            for group_commit in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let layers = Layers {
                    group_commit,
                    ..Layers::default()
                };
                let db = Db::open_with(dir.path(), 1 << 20, layers).unwrap();
                let (server, client) = pair();
                let mut replies = Replies::new(&server, Duration::from_secs(60), path);
                for n in 0..20 {
                    catalog::add(&db, &format!("Milho {n}"), Cents(1), 10).unwrap();
                    let written = db.journal.latest();
                    replies
                        .send_when_durable(&db.journal, Reply::ok(format!("{n}")))
                        .unwrap();
                    if path == ReplyPath::Plain {
                        assert!(db.journal.is_durable(written), "{path:?} {group_commit}");
                    }
                }
                replies.finish().unwrap();
                assert!(db.journal.is_durable(db.journal.latest()));
                let mut reader = BufReader::new(client);
                for n in 0..20 {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    assert_eq!(line, format!("OK {n}\n"), "{path:?} {group_commit}");
                }
            }
        }
    }

    #[test]
    fn a_reply_written_now_waits_for_the_one_handed_over_before_it() {
        let (server, client) = pair();
        let (outbox_tx, outbox_rx) = std::sync::mpsc::channel();
        // The connection thread: it hands reply 1 over, then writes reply 2 itself.
        let connection = thread::spawn(move || {
            let mut replies = Replies::new(&server, Duration::from_secs(60), ReplyPath::Committer);
            let outbox = replies.handover.clone().expect("the committer path");
            outbox.pretend_in_flight();
            outbox_tx.send(outbox).unwrap();
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
}
