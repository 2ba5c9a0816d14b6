//! The accept loop: take a connection, give it a thread of its own, repeat; stop cleanly.
//!
//! Every server of the crate (the store server, the serving peer, a Chord node) runs
//! this loop, and only says what differs through a [`Handler`]: who is let in, what
//! is said to a connection that is not, and the conversation itself.
//!
//! # Why a thread per connection
//! It is the simplest model that is correct. Each connection's thread runs
//! straight-line blocking code (read a request, handle it, write the reply), and the
//! operating system interleaves the threads. A slow client blocks only its own thread.
//! The price is a thread (a stack, a kernel task) per connection, which is why each
//! server puts a limit on them.
//!
//! # The loop, step by step
//! 1. `accept()` blocks until a connection arrives.
//! 2. If the [`StopSwitch`] is set, the loop ends: no new connection is served.
//! 3. The handler decides ([`Handler::admit`]): serve it, or refuse it. A refused
//!    connection gets one `ERR BUSY` line in the server's own protocol and is closed,
//!    from this thread, without a thread of its own (so a flood of connections costs
//!    no threads).
//! 4. An admitted connection's socket is recorded in [`LiveConnections`], then a
//!    thread named `<prefix>-<id>` runs [`Handler::serve`]. When it returns, the
//!    thread closes the socket, forgets it, and only then gives its place back
//!    (so the number of places taken never undercounts the open sockets).
//! 5. If `accept()` fails (out of file descriptors, a connection reset before it was
//!    accepted), the loop logs it, waits a little ([`AcceptOptions::backoff`]) so that
//!    a persistent error does not spin it at full speed, and goes on.
//!
//! # Stopping (tiny-http's way)
//! A thread blocked in `accept()` only wakes for a connection: std retries `accept`
//! when a signal interrupts it, so setting a flag is not enough. [`StopSwitch::stop`]
//! sets the flag, then connects to the listener itself; `accept` returns that
//! connection, the loop sees the flag and ends. [`AcceptLoop::run`] then hands back the
//! [`LiveConnections`], and the server closes them ([`LiveConnections::close`]) when
//! it is ready: shutting a socket down wakes the thread blocked reading it, and every
//! thread is joined, so that nothing of the server is left running.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{error, warn};
use parking_lot::Mutex;

/// How long [`StopSwitch::stop`] waits for its own connection to be accepted by the
/// backlog (on loopback, at once; the bound is for a listener that is already gone).
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the accept thread may wait to write a BUSY line. A fresh socket's buffer
/// takes one short line at once; the bound is for a peer that is already gone.
const BUSY_WRITE_TIMEOUT: Duration = Duration::from_millis(200);

/// What a server plugs into the accept loop: who is let in, and what to do with them.
///
/// The handler is shared (`Arc`) by the accept thread and every connection thread, so
/// its methods take `&self`: whatever they change lives behind atomics or locks.
pub trait Handler: Send + Sync + 'static {
    /// What an admitted connection holds while it is served: typically a place counted
    /// against a limit, given back when dropped. `()` when there is nothing to hold.
    /// The loop drops it only after the connection's socket is closed, or when no
    /// thread could be started for it.
    type Place: Send + 'static;

    /// On the accept thread, which must never block: the connection's place, or the
    /// message of its `ERR BUSY` refusal. `open` is how many connections are being
    /// served right now.
    fn admit(&self, conn: &Accepted, open: usize) -> Result<Self::Place, String>;

    /// On the connection's own thread: the whole conversation, until it ends.
    fn serve(&self, conn: &Accepted, place: &mut Self::Place);

    /// A refusal in this server's protocol: one `ERR BUSY <message>` line, with its
    /// line ending, exactly as it goes on the wire.
    fn busy_line(&self, message: &str) -> String;

    /// Called when the operating system would not start a thread for an admitted
    /// connection (too many threads, no memory), after the loop has logged it and
    /// given the place back, before the connection is refused. For counters.
    fn no_thread(&self) {}
}

/// One accepted connection, as its handler sees it.
pub struct Accepted {
    /// A number for this connection, unique in its loop, in arrival order from 1.
    pub id: u64,
    /// The client's address, `ip:port`, or `unknown` if the socket could not say.
    pub peer: String,
    /// The socket. Shared (`Arc`), not duplicated (`try_clone`), with the list of live
    /// connections: a duplicate is one more file descriptor per connection, and
    /// descriptors are what runs out first when ten thousand clients connect.
    pub stream: Arc<TcpStream>,
}

/// The settings of one accept loop: names and timing. Limits are the handler's.
#[derive(Debug, Clone)]
pub struct AcceptOptions {
    /// Put before each log line of the loop: `""`, `"peer: "`, a node's `"5@ip:port: "`.
    pub log_prefix: String,
    /// Each connection thread is named `<thread_prefix>-<id>` (`conn-7`), which is what
    /// a debugger, a panic message and `top -H` show.
    pub thread_prefix: String,
    /// The stack size of each connection thread; `None` for std's default (2 MiB).
    pub stack_size: Option<usize>,
    /// How long to wait after a failed `accept` before the next one.
    pub backoff: Duration,
}

impl AcceptOptions {
    /// Connection threads named `<thread_prefix>-<id>`, std's stack size, a 10 ms
    /// back-off, no log prefix.
    pub fn new(thread_prefix: impl Into<String>) -> AcceptOptions {
        AcceptOptions {
            // The store server has one loop and logs without a prefix; the others say
            // which peer or node a line comes from.
            log_prefix: String::new(),
            thread_prefix: thread_prefix.into(),
            // 2 MiB is far more than a connection needs, but it is only reserved
            // address space: a page is used when it is touched.
            stack_size: None,
            // Long enough not to spin a core on a persistent error, short enough that
            // nobody notices it once the error has passed.
            backoff: Duration::from_millis(10),
        }
    }
}

/// Stops an accept loop from any thread: a flag, and a wake-up call.
///
/// Shared (`Arc`) by the loop and whoever may stop it (a signal handler, a test, a
/// LEAVE request on a Chord node), so it holds nothing that needs a lock.
pub struct StopSwitch {
    /// Set once, never cleared: a stopped loop is not restarted.
    stopped: AtomicBool,
    /// Where to connect to reach our own listener.
    wake_addr: SocketAddr,
    /// The loop's log prefix, for the one warning a stop can give.
    log_prefix: String,
}

impl StopSwitch {
    /// Whether [`StopSwitch::stop`] has been called.
    pub fn is_stopped(&self) -> bool {
        // `SeqCst`, like the `swap` in `stop`: a flag read once per connection costs
        // nothing, and the strongest ordering needs no argument about which is enough.
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sets the flag and wakes the loop blocked in `accept`. Returns at once; returns
    /// `false` (and does nothing) if the switch was already set.
    pub fn stop(&self) -> bool {
        // `swap`, so that of two threads stopping at once, only one connects.
        if self.stopped.swap(true, Ordering::SeqCst) {
            return false;
        }
        // The connection is accepted, seen with the flag set, and dropped. Connecting
        // is enough: the kernel completes the handshake and queues the connection in
        // the listener's backlog by itself, so nothing is sent and nothing is awaited.
        if let Err(e) = TcpStream::connect_timeout(&self.wake_addr, WAKE_TIMEOUT) {
            // The loop may stay blocked in `accept` until the next client: the server
            // still stops, only later. Said, so that a hung shutdown has an explanation.
            warn!(
                "{}could not wake the accept loop at {}: {e}",
                self.log_prefix, self.wake_addr
            );
        }
        true
    }
}

/// A listening socket, ready to [`run`](AcceptLoop::run) its loop.
///
/// Why the caller binds the socket and hands it over: a server binds before it opens
/// its data (a port in use must stop the start before the journal is replayed: see
/// src/server/listener.rs), and reports the bound address before the loop runs.
pub struct AcceptLoop {
    /// The bound socket; `accept` is called on it from `run`'s thread only.
    listener: TcpListener,
    /// Names and timing (the limits are the handler's).
    options: AcceptOptions,
    /// The switch, kept here so that every handle on it stops this very loop.
    switch: Arc<StopSwitch>,
}

impl AcceptLoop {
    /// Wraps a bound listener. Nothing is accepted until [`AcceptLoop::run`].
    pub fn new(listener: TcpListener, options: AcceptOptions) -> io::Result<AcceptLoop> {
        // Read now, with the real port if the socket was bound to port 0: the switch
        // must know where to connect before anyone can ask it to.
        let wake_addr = wake_addr(listener.local_addr()?);
        // Made here, before the loop runs, so that a stop that comes before `run` (a
        // server told to stop as it starts) is seen at the first `accept`.
        let switch = Arc::new(StopSwitch {
            stopped: AtomicBool::new(false),
            wake_addr,
            // A copy of its own: the switch is shared with threads that never see the
            // loop's options.
            log_prefix: options.log_prefix.clone(),
        });
        Ok(AcceptLoop {
            listener,
            options,
            switch,
        })
    }

    /// The address that reaches the listener: its own, with `0.0.0.0` (or `::`) read
    /// as loopback, and the real port when it was bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        // The switch's own address: the one that it can reach is the one a client can.
        self.switch.wake_addr
    }

    /// The switch that stops this loop; keep a clone wherever a stop can come from.
    pub fn stop_switch(&self) -> Arc<StopSwitch> {
        // A handle, not a copy: every clone sets the same flag.
        Arc::clone(&self.switch)
    }

    /// Accepts connections until the switch is set, each served on a thread of its
    /// own. Returns the connections still open, for the caller to
    /// [`close`](LiveConnections::close) when it is ready.
    #[must_use = "the open connections must be closed and their threads joined"]
    pub fn run<H: Handler>(&self, handler: Arc<H>) -> LiveConnections {
        // What the loop hands back when it ends: built first, so that every connection
        // is recorded in it from the moment it is admitted.
        let mut live = LiveConnections {
            sockets: Arc::new(Mutex::new(HashMap::new())),
            threads: Vec::new(),
        };
        // Ids count connections in arrival order, from 1: the `conn-7` of the logs.
        let mut next_id = 1;
        // `incoming()` is `accept()` forever: the loop ends only at the `break`.
        for incoming in self.listener.incoming() {
            // Checked after `accept` returns, since that is the only place the thread
            // wakes: the connection that woke it (the switch's own) is simply dropped.
            if self.switch.is_stopped() {
                break;
            }
            // A failed `accept` concerns no connection of ours (the client may have
            // reset it while it waited in the backlog), so it never ends the loop.
            let stream = match incoming {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of file descriptors, say: `accept` would fail again at once,
                    // so wait a little rather than spin a core on it. The loop goes on,
                    // since the error passes when connections close.
                    warn!("{}accept failed: {e}", self.options.log_prefix);
                    thread::sleep(self.options.backoff);
                    continue;
                }
            };
            // Read once, here: every log line of the connection names it, and the
            // store server records it as where a file-sharing peer listens.
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "unknown".to_string(), |a| a.to_string());
            // One `Arc` around the socket from here on: the connection's thread and the
            // list of live connections share it (see `Accepted::stream`).
            let conn = Accepted {
                id: next_id,
                peer,
                stream: Arc::new(stream),
            };
            // Counted even if the connection is refused, so that an id in the logs
            // names one connection only.
            next_id += 1;
            // `None` when it was turned away: there is no thread to remember.
            if let Some(thread) = self.start(conn, &handler, &live.sockets) {
                live.threads.push(thread);
            }
            // Forget the threads that have ended, so that the list stays small: a server
            // that runs for days accepts millions of connections. Only now and then,
            // when the list has grown well past the live connections, so that the scan
            // costs little per connection.
            if live.threads.len() > 2 * live.sockets.lock().len() + 64 {
                live.threads.retain(|t| !t.is_finished());
            }
        }
        // The caller closes them when it is ready: the store server first stops its
        // key rotation thread; each server chooses how hard to close (`close`'s `how`).
        live
    }

    /// Admits one connection and starts its thread, or turns it away.
    fn start<H: Handler>(
        &self,
        conn: Accepted,
        handler: &Arc<H>,
        sockets: &Arc<Mutex<Sockets>>,
    ) -> Option<JoinHandle<()>> {
        // A Chord node's limit is this count; the store server and the serving peer
        // keep counts of their own, with more to them (src/p2p/admission.rs).
        let open = sockets.lock().len();
        // The handler's place (a slot counted against its limit) travels with the
        // connection into its thread, and is dropped there when the thread ends.
        let mut place = match handler.admit(&conn, open) {
            Ok(place) => place,
            Err(message) => {
                // Refused from this thread, with no thread of its own: a flood of
                // connections costs the server a line each, not a thread each.
                turn_away(&conn.stream, &handler.busy_line(&message));
                return None;
            }
        };
        // Recorded before the thread starts, so that the thread always finds its entry
        // to remove, and the drain at the end never misses a running connection.
        let (id, peer, stream) = (conn.id, conn.peer.clone(), Arc::clone(&conn.stream));
        sockets.lock().insert(id, Arc::clone(&stream));
        // A named thread: the name is what `ps -L`, `top -H` and a panic message show.
        let mut builder =
            thread::Builder::new().name(format!("{}-{id}", self.options.thread_prefix));
        // The store server asks for a small stack (128 KiB), so that thousands of
        // connection threads fit in memory.
        if let Some(size) = self.options.stack_size {
            builder = builder.stack_size(size);
        }
        // The thread's own handles on what it shares with the loop.
        let thread_handler = Arc::clone(handler);
        let thread_sockets = Arc::clone(sockets);
        // `spawn`, not `thread::spawn`: it returns an error instead of panicking when the
        // operating system will not start one more thread, and the loop must go on.
        let spawned = builder.spawn(move || {
            // The whole conversation, on this thread: blocking reads and writes that
            // hold up nobody else.
            thread_handler.serve(&conn, &mut place);
            // Both handles on the socket go, so it is closed before the place is free.
            drop(conn);
            // The socket is closed now (the list's handle was the last), so the count
            // the next `admit` sees is true.
            thread_sockets.lock().remove(&id);
            // Last: a place is never free while its socket is still open.
            drop(place);
        });
        match spawned {
            // Kept, to be joined when the loop's connections are closed.
            Ok(thread) => Some(thread),
            Err(e) => {
                // The closure is gone, and with it the place and one handle on the
                // socket: answer through the one we kept.
                error!(
                    "{}conn-{id} {peer}: cannot start a thread: {e}",
                    self.options.log_prefix
                );
                // No thread will remove it: the loop does, before it answers.
                sockets.lock().remove(&id);
                handler.no_thread();
                // The client hears BUSY, as when over the limit: it may retry later.
                let line = handler.busy_line("the server cannot take more connections now");
                turn_away(&stream, &line);
                None
            }
        }
    }
}

/// The sockets of the connections being served, by id. A map and not a list, so that a
/// thread that ends removes its own socket without a scan.
type Sockets = HashMap<u64, Arc<TcpStream>>;

/// The connections an accept loop left open when it ended, and every thread it started.
#[must_use = "the open connections must be closed and their threads joined"]
pub struct LiveConnections {
    /// Each live connection's socket. The lock is held to insert, remove or shut
    /// down (which never blocks), never across a read or a write.
    sockets: Arc<Mutex<Sockets>>,
    /// Every connection thread not known to have ended.
    threads: Vec<JoinHandle<()>>,
}

impl LiveConnections {
    /// Shuts every open connection down (`how`), then waits for every thread.
    ///
    /// `Shutdown::Read` lets a thread finish the request it is handling and write its
    /// reply, then read end-of-file: a graceful drain. `Shutdown::Both` also cuts a
    /// reply or a file being sent.
    pub fn close(self, how: Shutdown) {
        // Shutting a socket down never blocks, so the lock is held across the loop; a
        // thread that ends meanwhile waits a moment to remove its socket, then ends.
        for stream in self.sockets.lock().values() {
            // An error means the peer has gone already.
            let _ = stream.shutdown(how);
        }
        // Every thread the loop started, not only those of the sockets above: a thread
        // that removed its socket may still be running its last instructions.
        for thread in self.threads {
            if thread.join().is_err() {
                error!("a connection thread panicked");
            }
        }
    }
}

/// Answers `line` (an `ERR BUSY`) to a connection that will not be served, and closes.
///
/// Called on the accept thread, so it never waits long. Closing a socket with unread
/// input makes the kernel send a reset, which can destroy the line before the client
/// reads it (a client that sent a request at once, like `echo PING | nc`): so the
/// sending side is shut first, and what has already arrived is read, without waiting.
fn turn_away(mut stream: &TcpStream, line: &str) {
    // Every error is ignored: the connection is being refused anyway, and the accept
    // thread must get back to `accept`. A client that has gone misses nothing.
    let _ = stream.set_write_timeout(Some(BUSY_WRITE_TIMEOUT));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    // Non-blocking, and at most 64 KiB: only what has already arrived is read, so a
    // client that keeps sending cannot hold the accept thread.
    if stream.set_nonblocking(true).is_ok() {
        // On the stack: a refusal allocates nothing.
        let mut sink = [0u8; 4096];
        // 16 reads of 4 KiB: the bound on what a refusal reads.
        for _ in 0..16 {
            // End of input (0), nothing more yet (`WouldBlock`) or an error: stop.
            if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
    }
    // The socket itself is closed when the caller drops its last handle.
}

/// The address to connect to in order to reach a listener bound to `addr`: a listener
/// on every interface (`0.0.0.0`, `::`) is reached through loopback, because
/// connecting to the unspecified address does not work everywhere.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    // The same family as the listener: a listener on `0.0.0.0` is not reached
    // through `::1`, and one on `::` may refuse IPv4 (`IPV6_V6ONLY`).
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        // A specific address is reached as it is.
        ip => ip,
    };
    // The port is the listener's own, so the wake-up reaches this very loop.
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests;
