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
            log_prefix: String::new(),
            thread_prefix: thread_prefix.into(),
            stack_size: None,
            backoff: Duration::from_millis(10),
        }
    }
}

/// Stops an accept loop from any thread: a flag, and a wake-up call.
pub struct StopSwitch {
    stopped: AtomicBool,
    /// Where to connect to reach our own listener.
    wake_addr: SocketAddr,
    log_prefix: String,
}

impl StopSwitch {
    /// Whether [`StopSwitch::stop`] has been called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sets the flag and wakes the loop blocked in `accept`. Returns at once; returns
    /// `false` (and does nothing) if the switch was already set.
    pub fn stop(&self) -> bool {
        // `swap`, so that of two threads stopping at once, only one connects.
        if self.stopped.swap(true, Ordering::SeqCst) {
            return false;
        }
        // The connection is accepted, seen with the flag set, and dropped.
        if let Err(e) = TcpStream::connect_timeout(&self.wake_addr, WAKE_TIMEOUT) {
            warn!(
                "{}could not wake the accept loop at {}: {e}",
                self.log_prefix, self.wake_addr
            );
        }
        true
    }
}

/// A listening socket, ready to [`run`](AcceptLoop::run) its loop.
pub struct AcceptLoop {
    listener: TcpListener,
    options: AcceptOptions,
    switch: Arc<StopSwitch>,
}

impl AcceptLoop {
    /// Wraps a bound listener. Nothing is accepted until [`AcceptLoop::run`].
    pub fn new(listener: TcpListener, options: AcceptOptions) -> io::Result<AcceptLoop> {
        let wake_addr = wake_addr(listener.local_addr()?);
        let switch = Arc::new(StopSwitch {
            stopped: AtomicBool::new(false),
            wake_addr,
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
        self.switch.wake_addr
    }

    /// The switch that stops this loop; keep a clone wherever a stop can come from.
    pub fn stop_switch(&self) -> Arc<StopSwitch> {
        Arc::clone(&self.switch)
    }

    /// Accepts connections until the switch is set, each served on a thread of its
    /// own. Returns the connections still open, for the caller to
    /// [`close`](LiveConnections::close) when it is ready.
    #[must_use = "the open connections must be closed and their threads joined"]
    pub fn run<H: Handler>(&self, handler: Arc<H>) -> LiveConnections {
        let mut live = LiveConnections {
            sockets: Arc::new(Mutex::new(HashMap::new())),
            threads: Vec::new(),
        };
        let mut next_id = 1;
        for incoming in self.listener.incoming() {
            if self.switch.is_stopped() {
                break;
            }
            let stream = match incoming {
                Ok(stream) => stream,
                Err(e) => {
                    warn!("{}accept failed: {e}", self.options.log_prefix);
                    thread::sleep(self.options.backoff);
                    continue;
                }
            };
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "unknown".to_string(), |a| a.to_string());
            let conn = Accepted {
                id: next_id,
                peer,
                stream: Arc::new(stream),
            };
            next_id += 1;
            if let Some(thread) = self.start(conn, &handler, &live.sockets) {
                live.threads.push(thread);
            }
            // Forget the threads that have ended, so that the list stays small.
            if live.threads.len() > 2 * live.sockets.lock().len() + 64 {
                live.threads.retain(|t| !t.is_finished());
            }
        }
        live
    }

    /// Admits one connection and starts its thread, or turns it away.
    fn start<H: Handler>(
        &self,
        conn: Accepted,
        handler: &Arc<H>,
        sockets: &Arc<Mutex<Sockets>>,
    ) -> Option<JoinHandle<()>> {
        let open = sockets.lock().len();
        let mut place = match handler.admit(&conn, open) {
            Ok(place) => place,
            Err(message) => {
                turn_away(&conn.stream, &handler.busy_line(&message));
                return None;
            }
        };
        // Recorded before the thread starts, so that the thread always finds its entry
        // to remove, and the drain at the end never misses a running connection.
        let (id, peer, stream) = (conn.id, conn.peer.clone(), Arc::clone(&conn.stream));
        sockets.lock().insert(id, Arc::clone(&stream));
        let mut builder =
            thread::Builder::new().name(format!("{}-{id}", self.options.thread_prefix));
        if let Some(size) = self.options.stack_size {
            builder = builder.stack_size(size);
        }
        let thread_handler = Arc::clone(handler);
        let thread_sockets = Arc::clone(sockets);
        let spawned = builder.spawn(move || {
            thread_handler.serve(&conn, &mut place);
            // Both handles on the socket go, so it is closed before the place is free.
            drop(conn);
            thread_sockets.lock().remove(&id);
            drop(place);
        });
        match spawned {
            Ok(thread) => Some(thread),
            Err(e) => {
                // The closure is gone, and with it the place and one handle on the
                // socket: answer through the one we kept.
                error!(
                    "{}conn-{id} {peer}: cannot start a thread: {e}",
                    self.options.log_prefix
                );
                sockets.lock().remove(&id);
                handler.no_thread();
                let line = handler.busy_line("the server cannot take more connections now");
                turn_away(&stream, &line);
                None
            }
        }
    }
}

/// The sockets of the connections being served, by id.
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
        for stream in self.sockets.lock().values() {
            // An error means the peer has gone already.
            let _ = stream.shutdown(how);
        }
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
    let _ = stream.set_write_timeout(Some(BUSY_WRITE_TIMEOUT));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
    }
}

/// The address to connect to in order to reach a listener bound to `addr`: a listener
/// on every interface (`0.0.0.0`, `::`) is reached through loopback, because
/// connecting to the unspecified address does not work everywhere.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    /// Echoes each line back, after the name of its thread; admits `limit` at once.
    struct Echo {
        limit: usize,
    }

    impl Handler for Echo {
        type Place = ();

        fn admit(&self, _conn: &Accepted, open: usize) -> Result<(), String> {
            if open >= self.limit {
                return Err(format!("{open} connections open"));
            }
            Ok(())
        }

        fn serve(&self, conn: &Accepted, _place: &mut ()) {
            let name = thread::current().name().unwrap_or("?").to_string();
            for line in BufReader::new(&*conn.stream).lines() {
                let Ok(line) = line else { return };
                if (&*conn.stream)
                    .write_all(format!("{name} {line}\n").as_bytes())
                    .is_err()
                {
                    return;
                }
            }
        }

        fn busy_line(&self, message: &str) -> String {
            format!("ERR BUSY {message}\n")
        }
    }

    fn start(limit: usize) -> (Arc<StopSwitch>, SocketAddr, JoinHandle<LiveConnections>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let accept = AcceptLoop::new(listener, AcceptOptions::new("echo")).unwrap();
        let (switch, addr) = (accept.stop_switch(), accept.local_addr());
        let thread = thread::spawn(move || accept.run(Arc::new(Echo { limit })));
        (switch, addr, thread)
    }

    /// Sends a line (if any) and reads one back ("" at the end of the stream).
    fn call(mut stream: &TcpStream, line: &str) -> String {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // A refused connection may be closed before this arrives: that is the point.
        let _ = stream.write_all(line.as_bytes());
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).unwrap();
        answer
    }

    #[test]
    fn each_connection_is_served_on_a_named_thread_of_its_own() {
        let (switch, addr, thread) = start(8);
        let first = TcpStream::connect(addr).unwrap();
        let second = TcpStream::connect(addr).unwrap();
        // The second is answered while the first has not said anything yet.
        assert_eq!(call(&second, "two\n"), "echo-2 two\n");
        assert_eq!(call(&first, "one\n"), "echo-1 one\n");
        assert!(switch.stop());
        assert!(!switch.stop(), "a second stop does nothing");
        thread.join().unwrap().close(Shutdown::Both);
    }

    #[test]
    fn over_the_limit_a_connection_reads_busy_even_if_it_spoke_first() {
        let (switch, addr, thread) = start(1);
        let served = TcpStream::connect(addr).unwrap();
        assert_eq!(call(&served, "hi\n"), "echo-1 hi\n");
        // Its request is sent at once and never read: that must not reset the BUSY line
        // away. (Whether it lands before or after the close is a race, so this checks
        // the outcome.)
        let extra = TcpStream::connect(addr).unwrap();
        assert_eq!(call(&extra, "hello\n"), "ERR BUSY 1 connections open\n");
        assert_eq!(call(&extra, ""), "", "and it is closed");
        // The first one is still served.
        assert_eq!(call(&served, "again\n"), "echo-1 again\n");
        switch.stop();
        thread.join().unwrap().close(Shutdown::Both);
    }

    #[test]
    fn stop_wakes_a_blocked_accept_and_close_ends_every_connection() {
        let (switch, addr, thread) = start(8);
        let idle = TcpStream::connect(addr).unwrap();
        // Served, and now blocked reading its next line: only `close` ends its thread.
        assert_eq!(call(&idle, "one\n"), "echo-1 one\n");
        switch.stop();
        // Without the wake-up, the loop would stay in `accept`; without the shutdown,
        // the idle thread would stay in `read`: either way this would never end.
        let (done, ended) = std::sync::mpsc::channel();
        thread::spawn(move || {
            thread.join().unwrap().close(Shutdown::Both);
            let _ = done.send(());
        });
        ended
            .recv_timeout(Duration::from_secs(10))
            .expect("the loop and every connection thread end");
        assert_eq!(
            call(&idle, ""),
            "",
            "its thread ended and closed the socket"
        );
        // And nothing listens any more.
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }

    #[test]
    fn wakes_unspecified_addresses_through_loopback() {
        let v4: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        assert_eq!(wake_addr(v4), "127.0.0.1:7000".parse().unwrap());
        let v6: SocketAddr = "[::]:7000".parse().unwrap();
        assert_eq!(wake_addr(v6), "[::1]:7000".parse().unwrap());
        let other: SocketAddr = "10.0.0.5:7000".parse().unwrap();
        assert_eq!(wake_addr(other), other);
    }
}
