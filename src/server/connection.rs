//! One connection's thread: read a request line, handle it, write the reply, repeat.
//!
//! Why the order "handle, release locks, wait for the disk, reply": the handler takes
//! and releases the table locks; only then does this thread wait for the journal's
//! fsync and write to the socket. So no lock is ever held across network I/O or an
//! fsync, and a slow client can only slow itself down.

use std::io::{self, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

use super::Shared;
use super::session::{Flow, Session};
use super::timed_reader::TimedReader;
use crate::protocol::frame::{Line, read_line};
use crate::protocol::{ErrorCode, Reply};

/// Serves one connection until QUIT, end-of-file, a timeout or an I/O error.
/// Never panics on anything the peer sends.
pub fn serve(shared: &Shared, stream: &TcpStream, peer: &str) {
    log::info!("{peer}: connection opened");
    let mut session = Session::new(peer);
    let outcome = serve_requests(shared, stream, &mut session);
    session.close(shared);
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
) -> io::Result<&'static str> {
    let config = &shared.config;
    stream.set_nodelay(true)?;
    // A peer that stops reading must not block this thread forever on a write.
    stream.set_write_timeout(Some(config.idle_timeout))?;
    // Reader and writer share the one socket (`&TcpStream` reads and writes): no
    // duplicate file descriptor per connection.
    let reader = TimedReader::new(stream, config.idle_timeout, config.line_timeout);
    let mut reader = BufReader::new(reader);
    let mut writer = BufWriter::new(stream);
    let mut line = Vec::new();
    loop {
        reader.get_mut().start_line();
        let request = match read_line(&mut reader, config.max_line, &mut line) {
            Ok(Line::Text(text)) => text,
            Ok(Line::Eof) => return Ok("end of input"),
            Ok(Line::TooLong) => {
                // The rest of the line is still unread and could be anything: close.
                let message = format!("a request line is at most {} bytes", config.max_line);
                send(&mut writer, &Reply::err(ErrorCode::LineTooLong, message))?;
                return Ok("line too long");
            }
            Ok(Line::NotUtf8) => {
                send(
                    &mut writer,
                    &Reply::err(ErrorCode::BadRequest, "the request is not UTF-8"),
                )?;
                continue;
            }
            Err(e) if is_timeout(&e) => {
                let _ = send(
                    &mut writer,
                    &Reply::err(ErrorCode::Timeout, "idle for too long; closing"),
                );
                return Ok("timeout");
            }
            Err(e) => return Err(e),
        };
        shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (mut reply, flow) = session.handle_line(shared, &request);
        // Every change this request made or saw must be durable before we answer.
        let journal = &shared.db.journal;
        if let Err(e) = journal.wait_durable(journal.latest()) {
            reply = crate::store::internal(e).into();
        }
        shared.db.checkpoint_if_due();
        send(&mut writer, &reply)?;
        if flow == Flow::Close {
            return Ok("quit");
        }
    }
}

fn send(writer: &mut BufWriter<&TcpStream>, reply: &Reply) -> io::Result<()> {
    reply.write_to(writer)?;
    writer.flush()
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
