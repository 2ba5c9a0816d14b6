//! One connection's thread: read a request line, handle it, write the reply, repeat.
//!
//! The order is "handle, release the locks, wait until the disk has it, reply": the
//! handler takes and releases the table locks; then the thread waits until the
//! journal's fsync covers what the request changed or saw, and writes the reply
//! ([`Replies::send_when_durable`], src/server/replies.rs). So no lock is ever held
//! across network I/O or an fsync, and a slow client can only slow itself down.
//!
//! By default one speed layer changes who writes a reply that waits for the disk: the
//! committer path hands it over to the thread that runs the fsync, and this thread
//! goes straight back to reading (src/server/reply_handover.rs; `--reply-path plain`
//! switches it off). This file reads the same either way.

use std::io::{self, BufReader};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::dispatch::Flow;
use super::replies::Replies;
use super::session::Session;
use super::timed_reader::TimedReader;
use crate::protocol::frame::{Line, read_line};
use crate::protocol::{ErrorCode, Reply};

/// Serves one connection until QUIT, end-of-file, a timeout or an I/O error.
/// Never panics on anything the peer sends.
pub fn serve(shared: &Shared, stream: &Arc<TcpStream>, peer: &str) {
    log::info!("{peer}: connection opened");
    // Who is logged in on this connection, and how many requests it sent.
    let mut session = Session::new(peer);
    // Where replies go: written by this thread (the plain path) or, on the committer
    // path, sometimes by the thread whose fsync made them true.
    let mut replies = Replies::new(
        stream,
        shared.config.write_timeout,
        shared.config.reply_path,
    );
    // The loop: one request at a time until the peer leaves or something fails.
    let mut outcome = serve_requests(shared, stream, &mut session, &mut replies);
    // The last reply may still be waiting for the disk: it goes out before we close.
    if let (Ok(_), Err(e)) = (&outcome, replies.finish()) {
        outcome = Err(e);
    }
    // A peer whose connection is gone is no longer listed as sharing; its login ends.
    session.close(shared);
    // One log line per connection: why it ended, and after how much work.
    match outcome {
        Ok(reason) => log::info!(
            "{peer}: connection closed ({reason}) after {} requests",
            session.requests()
        ),
        Err(e) => log::warn!(
            "{peer}: connection dropped after {} requests: {e}",
            session.requests()
        ),
    }
}

fn serve_requests(
    shared: &Shared,
    stream: &TcpStream,
    session: &mut Session,
    replies: &mut Replies,
) -> io::Result<&'static str> {
    let config = &shared.config;
    // Replies are small and each one is waited for: send them at once, no Nagle delay.
    stream.set_nodelay(true)?;
    // A peer that stops reading cannot block this thread on a write: every reply must
    // leave by the write deadline (`Replies`, `timed_writer`), or the connection ends.
    // Reader and writer share the one socket (`&TcpStream` reads and writes): no
    // duplicate file descriptor per connection.
    let reader = TimedReader::new(stream, config.idle_timeout, config.line_timeout);
    let mut reader = BufReader::new(reader);
    // One buffer for every request line of this connection, reused.
    let mut line = Vec::new();
    loop {
        // A new line starts: the line timeout counts from here (a slow trickle of
        // bytes cannot hold the thread longer than that).
        reader.get_mut().start_line();
        let request = match read_line(&mut reader, config.max_line, &mut line) {
            Ok(Line::Text(text)) => text,
            Ok(Line::Eof) => return Ok("end of input"),
            Ok(Line::TooLong) => {
                // The rest of the line is still unread and could be anything: close.
                let message = format!("a request line is at most {} bytes", config.max_line);
                replies.send_now(&Reply::err(ErrorCode::LineTooLong, message))?;
                return Ok("line too long");
            }
            Ok(Line::NotUtf8) => {
                replies.send_now(&Reply::err(
                    ErrorCode::BadRequest,
                    "the request is not UTF-8",
                ))?;
                continue;
            }
            Err(e) if is_timeout(&e) => {
                let _ = replies.send_now(&Reply::err(
                    ErrorCode::Timeout,
                    "idle for too long; closing",
                ));
                return Ok("timeout");
            }
            Err(e) => return Err(e),
        };
        // Counted for STATS.
        shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        // Parse and run the request: it takes the table locks it needs, changes the
        // tables, writes the journal line, and releases the locks before it returns.
        let (reply, flow) = session.handle_line(shared, &request);
        // Every change this request made or saw must be durable before we answer:
        // wait for the journal's fsync, then write the reply.
        replies.send_when_durable(&shared.db.journal, reply)?;
        // With no lock held: write the snapshots if the journal has grown enough.
        shared.db.checkpoint_if_due();
        if flow == Flow::Close {
            return Ok("quit");
        }
    }
}

/// Did a read end because a timeout passed (idle, or a line too slow)? The socket's
/// read timeout reports either kind, depending on the platform.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
