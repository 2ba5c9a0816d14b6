//! The node's listener: one accept thread, and one named thread per connection.
//!
//! Why thread-per-connection, like the main server: a connection is a conversation
//! that blocks (read a line, maybe call other nodes, write the reply), and a thread
//! per conversation is the simplest model that lets a slow peer block only itself.
//! A node calling another node is just another connection to that node's listener.
//!
//! The accept loop is the crate's one (src/net/accept.rs): a stop switch that wakes a
//! blocked `accept` by connecting to it, `ERR BUSY` past the limit, a named thread per
//! connection. When the node stops, every open connection is shut down, so that its
//! thread, blocked reading, returns, and is joined: a stopped node answers nothing more.
//!
//! # The ring's own traffic first
//! A node that refuses its neighbours' calls is, to them, a dead node: they drop it
//! from the ring and its keys become unreadable. So client connections alone cannot
//! fill a node: past `max_connections` (default [`MAX_CONNECTIONS`]) another
//! [`RING_RESERVE`] connections are admitted *for node verbs only* (PING, NOTIFY,
//! SYNC, ...). On such a connection a user verb is answered `ERR BUSY` and the
//! connection closes, and so does silence longer than [`RESERVE_IDLE`], so idle
//! clients cannot sit in the reserve. (A client that pretends to be a node can still
//! use it: without authentication, nothing tells them apart. docs/CHORD.md says what
//! a class could add.)

use std::io::{self, BufReader, BufWriter, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{debug, info};

use super::context::Context;
use super::handler::{self, After};
use super::message::{Audience, Message};
use super::routing::NodeRef;
use crate::net::{AcceptLoop, AcceptOptions, Accepted, Handler, LiveConnections};
use crate::protocol::frame::{Line, read_line};
use crate::protocol::{DEFAULT_MAX_LINE, ErrorCode, Reply};

/// More simultaneous connections than this are refused with `ERR BUSY`: a node in a
/// ring of 64 needs a handful at a time, so this only bites on a runaway client.
pub const MAX_CONNECTIONS: usize = 512;

/// Connections admitted past the client limit, for other nodes' calls only.
pub const RING_RESERVE: usize = 64;

/// A connection in the reserve silent for this long is closed: a node's call sends
/// its request at once.
pub const RESERVE_IDLE: Duration = Duration::from_secs(2);

/// A connection silent for this long is told `ERR TIMEOUT` and closed, so that a
/// forgotten telnet session does not hold a thread forever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Writing one reply may take at most this long (a peer that stops reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The node's accept loop on a bound listener (src/net/accept.rs); nothing is accepted
/// until [`spawn_accept`].
pub fn accept_loop(listener: TcpListener, me: NodeRef) -> io::Result<AcceptLoop> {
    let mut options = AcceptOptions::new("chord-conn");
    options.log_prefix = format!("{me}: ");
    AcceptLoop::new(listener, options)
}

/// Starts the accept thread. It hands back the connections still open when it ends.
pub fn spawn_accept(
    accept: AcceptLoop,
    ctx: Arc<Context>,
) -> io::Result<JoinHandle<LiveConnections>> {
    let port = accept.local_addr().port();
    thread::Builder::new()
        .name(format!("chord-accept-{port}"))
        .spawn(move || {
            let me = ctx.node.me();
            let open = accept.run(ctx);
            info!("{me}: stopped accepting connections");
            open
        })
}

/// What the accept loop asks of a node: its connection limit, its BUSY line, and the
/// conversation.
impl Handler for Context {
    /// Whether the connection was admitted into the ring's reserve.
    type Place = Reserve;

    fn admit(&self, _conn: &Accepted, open: usize) -> Result<Reserve, String> {
        if open >= self.max_connections + RING_RESERVE {
            return Err("too many connections: try again later".into());
        }
        Ok(Reserve(open >= self.max_connections))
    }

    fn serve(&self, conn: &Accepted, place: &mut Reserve) {
        if let Err(e) = serve(&conn.stream, self, *place) {
            debug!(
                "{}: connection from {} ended: {e}",
                self.node.me(),
                conn.peer
            );
        }
    }

    fn busy_line(&self, message: &str) -> String {
        Reply::err(ErrorCode::Busy, message).encode()
    }
}

/// A connection admitted past the client limit: node verbs only, and briefly idle.
#[derive(Debug, Clone, Copy)]
pub struct Reserve(bool);

/// One connection: read a line, answer it, until the peer leaves or goes quiet.
fn serve(stream: &TcpStream, ctx: &Context, reserve: Reserve) -> io::Result<()> {
    let idle = if reserve.0 {
        RESERVE_IDLE
    } else {
        IDLE_TIMEOUT
    };
    stream.set_read_timeout(Some(idle))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream);
    let mut writer = BufWriter::new(stream);
    let mut buf = Vec::new();
    let ring = ctx.node.ring();
    loop {
        let line = match read_line(&mut reader, DEFAULT_MAX_LINE, &mut buf) {
            Ok(line) => line,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let reply = Reply::err(ErrorCode::Timeout, "idle for too long: closing");
                reply.write_to(&mut writer)?;
                return writer.flush();
            }
            Err(e) => return Err(e),
        };
        let (reply, after) = match line {
            Line::Text(text) => match Message::parse(&text, ring) {
                Ok(message) if reserve.0 && message.audience() == Audience::User => (
                    Reply::err(
                        ErrorCode::Busy,
                        "too many connections: try again later (the rest are kept for other nodes)",
                    ),
                    After::Close,
                ),
                Ok(message) => handler::handle(ctx, message),
                Err(refusal) => (Reply::from(refusal), After::Continue),
            },
            Line::Eof => return Ok(()),
            Line::TooLong => (
                Reply::err(
                    ErrorCode::LineTooLong,
                    format!("a request line is at most {DEFAULT_MAX_LINE} bytes: closing"),
                ),
                After::Close,
            ),
            Line::NotUtf8 => (
                Reply::err(ErrorCode::BadRequest, "the request is not UTF-8"),
                After::Continue,
            ),
        };
        reply.write_to(&mut writer)?;
        writer.flush()?;
        match after {
            After::Continue => {}
            After::Close => return Ok(()),
            After::StopNode => {
                ctx.control.stop();
                return Ok(());
            }
        }
    }
}
