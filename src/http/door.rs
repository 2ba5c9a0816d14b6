//! The web door's listener: the crate's own accept loop, a thread per HTTP
//! connection, and the three bounds (clients, bytes, time).
//!
//! The door runs the same accept loop as every server of the crate
//! ([`crate::net::accept`]): one thread per connection, a limit checked on the accept
//! thread, a clean stop. So its bounds are the loop's, said in HTTP:
//!
//! - at most [`WebLimits::max_clients`] connections at once; the next one gets
//!   `503 Service Unavailable` from the accept thread and no thread of its own, so a
//!   thousand idle HTTP connections cost the server as many threads as the limit, and
//!   the store's socket door (its own listener, its own limit) never notices;
//! - a request head of at most [`HeadLimits::max_bytes`], else `413`;
//! - the whole head within [`HeadLimits::time`] of the connection's start, else `408`.
//!
//! Each connection carries one request and its response, then closes
//! (src/http/response.rs says why).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::access::Token;
use super::head::{HeadError, HeadLimits, read_head};
use super::response::Response;
use super::routes;
use crate::error::{Error, Result};
use crate::net::{AcceptLoop, AcceptOptions, Accepted, Handler, LiveConnections, StopSwitch};
use crate::server::SharedRef;

/// The web door's bounds.
#[derive(Debug, Clone, Copy)]
pub struct WebLimits {
    /// HTTP connections served at once; the next gets `503`.
    pub max_clients: usize,
    /// How big a request head may be, and how long it may take to arrive.
    pub head: HeadLimits,
    /// How long a client has to take a response.
    pub write_timeout: Duration,
}

impl Default for WebLimits {
    /// 32 clients (a class's dashboards and scripts, with room to spare), heads of
    /// 8 KiB (a browser sends under 1 KiB), 5 s for a head and for a response.
    fn default() -> WebLimits {
        WebLimits {
            max_clients: 32,
            head: HeadLimits {
                max_bytes: 8 * 1024,
                time: Duration::from_secs(5),
            },
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// What every HTTP connection thread shares.
struct Web {
    /// The store server's shared state: the same tables and counters STATS reads.
    shared: SharedRef,
    /// The start-up token (src/http/access.rs).
    token: Token,
    /// The bounds.
    limits: WebLimits,
    /// HTTP connections being served now (shared with each connection's [`Place`]).
    live: Arc<AtomicUsize>,
}

/// A bound web door, ready to [`start`](WebDoor::start).
pub struct WebDoor {
    accept: AcceptLoop,
    web: Arc<Web>,
}

impl WebDoor {
    /// Binds `addr` (port 0 picks a free port). Nothing is served until
    /// [`WebDoor::start`].
    pub fn bind(addr: &str, shared: SharedRef, token: Token, limits: WebLimits) -> Result<WebDoor> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::Other(format!("cannot listen for HTTP on {addr}: {e}")))?;
        // Threads named `http-<n>`; a small stack, as the store's connections have: a
        // request is parsed and answered in straight-line code.
        let mut options = AcceptOptions::new("http");
        options.log_prefix = "http: ".into();
        options.stack_size = Some(256 * 1024);
        let accept = AcceptLoop::new(listener, options)
            .map_err(|e| Error::Other(format!("cannot read the HTTP address: {e}")))?;
        let web = Arc::new(Web {
            shared,
            token,
            limits,
            live: Arc::default(),
        });
        Ok(WebDoor { accept, web })
    }

    /// The address the door listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.accept.local_addr()
    }

    /// Serves on a thread of its own (`http-accept`) until [`RunningDoor::stop`].
    pub fn start(self) -> Result<RunningDoor> {
        let switch = self.accept.stop_switch();
        let addr = self.accept.local_addr();
        let thread = std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || self.accept.run(self.web))
            .map_err(|e| Error::Other(format!("cannot start the HTTP thread: {e}")))?;
        Ok(RunningDoor {
            addr,
            switch,
            thread: Some(thread),
        })
    }
}

/// A web door that serves. Stopped (and its threads joined) by [`RunningDoor::stop`] or
/// when dropped.
pub struct RunningDoor {
    /// Where it listens.
    pub addr: SocketAddr,
    switch: Arc<StopSwitch>,
    /// `None` once stopped.
    thread: Option<JoinHandle<LiveConnections>>,
}

impl RunningDoor {
    /// Stops accepting, closes the open connections and joins every thread (the same
    /// as dropping it).
    pub fn stop(self) {}
}

impl Drop for RunningDoor {
    fn drop(&mut self) {
        self.switch.stop();
        match self.thread.take().map(JoinHandle::join) {
            // A connection still waiting for its head wakes at once when its socket
            // is shut down, and its thread ends.
            Some(Ok(open)) => open.close(Shutdown::Both),
            Some(Err(_)) => log::error!("the HTTP accept thread panicked"),
            None => {}
        }
    }
}

/// One HTTP connection's place among `max_clients`; the count drops with it.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Handler for Web {
    type Place = Place;

    /// On the accept thread: a comparison and a counter, never a wait. (Only this
    /// thread adds to `live`, so the check and the increment cannot race past the
    /// limit.)
    fn admit(&self, conn: &Accepted, _open: usize) -> std::result::Result<Place, String> {
        if self.live.load(Ordering::Acquire) >= self.limits.max_clients {
            log::warn!(
                "http {}: refused, at the limit of {} clients",
                conn.peer,
                self.limits.max_clients
            );
            return Err("the web door is at its client limit; try again later".into());
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        Ok(Place(self.live.clone()))
    }

    /// On the connection's thread: one request, one response.
    fn serve(&self, conn: &Accepted, _place: &mut Place) {
        serve(self, &conn.stream, &conn.peer);
    }

    /// `503`, written by the accept thread before it closes the connection.
    fn busy_line(&self, message: &str) -> String {
        let response = Response::error(503, message).with_header("Retry-After", "1");
        String::from_utf8_lossy(&response.encode(true)).into_owned()
    }
}

/// One connection: read the head within its bounds, answer, close.
fn serve(web: &Web, stream: &TcpStream, peer: &str) {
    let started = Instant::now();
    let (response, with_body) = match read_head(stream, started, web.limits.head) {
        Ok(head) => {
            let response = routes::route(&web.shared, &web.token, &head, peer);
            log::debug!(
                "http {peer}: {} {} -> {}",
                head.method,
                head.path,
                response.status
            );
            (response, head.method != "HEAD")
        }
        Err(HeadError::TooLarge) => (
            Response::error(
                413,
                &format!(
                    "a request head is at most {} bytes",
                    web.limits.head.max_bytes
                ),
            ),
            true,
        ),
        Err(HeadError::TooSlow) => (
            Response::error(
                408,
                &format!(
                    "a request head must arrive within {:?}",
                    web.limits.head.time
                ),
            ),
            true,
        ),
        Err(HeadError::Malformed(why)) => (Response::error(400, why), true),
        // Gone: nobody to answer.
        Err(HeadError::Gone(_)) => return,
    };
    let _ = stream.set_write_timeout(Some(web.limits.write_timeout));
    if (&*stream).write_all(&response.encode(with_body)).is_err() {
        return;
    }
    close_gently(stream);
}

/// Closes after the response, so that the client reads it. A socket closed with bytes
/// still unread (the rest of a 1 MiB request line) sends a reset, and a reset can make
/// the client's system throw away the response before the client has read it. So: say
/// we are done writing, then read and discard what the client still sends, a bounded
/// amount for a bounded time, until it closes its side.
fn close_gently(stream: &TcpStream) {
    const DRAIN_BYTES: usize = 4 * 1024 * 1024;
    const DRAIN_TIME: Duration = Duration::from_secs(1);
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + DRAIN_TIME;
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
