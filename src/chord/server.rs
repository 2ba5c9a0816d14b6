//! The node's listener: one accept thread, and one named thread per connection.
//!
//! Why thread-per-connection, like the main server: a connection is a conversation
//! that blocks (read a line, maybe call other nodes, write the reply), and a thread
//! per conversation is the simplest model that lets a slow peer block only itself.
//! A node calling another node is just another connection to that node's listener.
//!
//! Shutdown: the accept thread checks a stop flag after each `accept`; to wake it, the
//! stopper connects to the listener once (std retries `accept` on EINTR, so a signal
//! alone would not). Then every open connection is shut down, so that its thread,
//! blocked reading, returns, and is joined: a stopped node answers nothing more.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, ErrorKind, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{debug, info, warn};
use parking_lot::Mutex;

use super::handler::{self, After, Context};
use super::message::Message;
use crate::protocol::frame::{Line, read_line};
use crate::protocol::{DEFAULT_MAX_LINE, ErrorCode, Reply};

/// More simultaneous connections than this are refused with `ERR BUSY`: a node in a
/// ring of 64 needs a handful at a time, so this only bites on a runaway client.
pub const MAX_CONNECTIONS: usize = 512;

/// A connection silent for this long is told `ERR TIMEOUT` and closed, so that a
/// forgotten telnet session does not hold a thread forever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Writing one reply may take at most this long (a peer that stops reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One open connection: a handle on its socket, and its thread once spawned.
type Open = (TcpStream, Option<JoinHandle<()>>);

/// The open connections, so that shutdown can close them and wait for their threads.
#[derive(Default)]
pub struct Connections {
    next_id: AtomicU64,
    /// The lock is held only to add, remove or take entries, never across I/O.
    open: Mutex<HashMap<u64, Open>>,
}

impl Connections {
    /// Shuts every open connection down and waits for their threads to finish.
    pub fn close_all(&self) {
        let open: Vec<_> = self.open.lock().drain().collect();
        for (_, (stream, thread)) in open {
            // Wakes a thread blocked in read; errors mean it is already closed.
            let _ = stream.shutdown(Shutdown::Both);
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }
}

/// Starts the accept thread.
pub fn spawn_accept(
    listener: TcpListener,
    ctx: Arc<Context>,
    connections: Arc<Connections>,
) -> io::Result<JoinHandle<()>> {
    let port = listener.local_addr()?.port();
    thread::Builder::new()
        .name(format!("chord-accept-{port}"))
        .spawn(move || accept_loop(listener, ctx, connections))
}

fn accept_loop(listener: TcpListener, ctx: Arc<Context>, connections: Arc<Connections>) {
    let me = ctx.node.me();
    for stream in listener.incoming() {
        if ctx.control.is_stopping() {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors, a connection reset before accept: log it
                // and keep serving the others.
                warn!("{me}: accept failed: {e}");
                continue;
            }
        };
        if let Err(e) = start_connection(stream, &ctx, &connections) {
            warn!("{me}: cannot start a connection thread: {e}");
        }
    }
    info!("{me}: stopped accepting connections");
}

fn start_connection(
    stream: TcpStream,
    ctx: &Arc<Context>,
    connections: &Arc<Connections>,
) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    if connections.open.lock().len() >= MAX_CONNECTIONS {
        let mut stream = stream;
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let reply = Reply::err(ErrorCode::Busy, "too many connections: try again later");
        let _ = reply.write_to(&mut stream);
        return Ok(());
    }
    let id = connections.next_id.fetch_add(1, Ordering::Relaxed);
    // Registered before the thread starts, so that it can always remove itself.
    connections
        .open
        .lock()
        .insert(id, (stream.try_clone()?, None));
    let thread = {
        let ctx = Arc::clone(ctx);
        let connections = Arc::clone(connections);
        thread::Builder::new()
            .name(format!("chord-conn-{peer}"))
            .spawn(move || {
                if let Err(e) = serve(stream, &ctx) {
                    debug!("{}: connection from {peer} ended: {e}", ctx.node.me());
                }
                connections.open.lock().remove(&id);
            })
    };
    match thread {
        Ok(thread) => {
            if let Some(entry) = connections.open.lock().get_mut(&id) {
                entry.1 = Some(thread);
            }
            Ok(())
        }
        Err(e) => {
            connections.open.lock().remove(&id);
            Err(e)
        }
    }
}

/// One connection: read a line, answer it, until the peer leaves or goes quiet.
fn serve(stream: TcpStream, ctx: &Context) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
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
