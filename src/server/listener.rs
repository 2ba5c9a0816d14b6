//! The listener: accept a connection, give it a thread of its own, repeat.
//!
//! Why a thread per connection: it is the simplest model that is correct. Each thread
//! runs straight-line blocking code (read, handle, write), and the operating system
//! interleaves them. Seed 003 had the same shape; what it lacked was a limit, timeouts
//! and a clean shutdown, which are all here.
//!
//! The loop itself (the stop flag and the wake-up, `ERR BUSY` from the accept thread, a
//! named thread per connection, the drain) is [`crate::net::accept`], shared with the
//! serving peer and the Chord node. This file says what is the store server's own: the
//! order of start-up, the `--max-connections` limit and its counters (`Clients`),
//! and what happens after the last connection.
//!
//! Shutdown, step by step (tiny-http's way):
//! 1. [`ShutdownHandle::shutdown`] sets the stop flag and connects to our own
//!    listener, because a thread blocked in `accept()` only wakes for a connection.
//! 2. The accept loop sees the flag and stops accepting.
//! 3. Every connection's read side is shut down: a thread waiting for a request reads
//!    end-of-file and exits; a thread in the middle of a request finishes it, writes the
//!    reply, then reads end-of-file.
//! 4. [`Server::run`] joins the threads, stops the audit logger (which writes and
//!    fsyncs its last rows), checkpoints the tables, and returns. A checkpoint that
//!    fails (a full disk) is logged, not returned: the journal holds every change.
//!
//! The key rotation thread (`wallet::rotation`) lives exactly as long as `run`: it is
//! started when `run` starts and stopped (woken at once, then joined) as soon as the
//! accept loop ends, so no key changes while the tables are saved.

use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Config, Counters, Shared, SharedRef, connection};
use crate::accounts::password::HashGate;
use crate::accounts::throttle::Throttle;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::net::{AcceptLoop, AcceptOptions, Accepted, Handler, StopSwitch};
use crate::protocol::{ErrorCode, Reply};
use crate::sharing::{AuditLog, ConnectedPeers};
use crate::storage::DirLock;
use crate::wallet::{self, rotation};

/// A bound server, ready to [`run`](Server::run).
///
/// Why two steps, `bind` then `run`: between them the caller learns the real address
/// (a test binds port 0 and reads the port back), takes a [`ShutdownHandle`] for its
/// signal handler, and checks the data it opened, all before the first connection is
/// served.
pub struct Server {
    /// The listening socket and its loop (src/net/accept.rs).
    accept: AcceptLoop,
    /// What every connection thread shares: the database, the counters, the hash gate,
    /// the throttle, the connected peers, the audit log (src/server/mod.rs).
    shared: SharedRef,
}

/// Stops a running server from another thread (a signal handler, a test).
///
/// A handle, and not a method on [`Server`], because `run` takes the server by value
/// and blocks: whoever stops it must hold something else.
#[derive(Clone)]
pub struct ShutdownHandle {
    /// The accept loop's switch: a flag, and the address to connect to to wake it.
    switch: Arc<StopSwitch>,
}

impl ShutdownHandle {
    /// Asks the server to stop. Returns at once; [`Server::run`] returns when done.
    pub fn shutdown(&self) {
        // Sets the stop flag, and connects to our own listener to wake `accept()`.
        self.switch.stop();
    }
}

impl Server {
    /// Locks the data directory, binds the listening socket, then opens the data.
    ///
    /// In that order, so that a second server changes nothing: if another process has
    /// the directory, nothing in it has been read; if the address is taken, nothing has
    /// been read either. (Opening the data replays and checkpoints the journal, which
    /// would pull the files from under a server already running on them.) Connections
    /// that arrive meanwhile wait in the socket's backlog until [`Server::run`].
    pub fn bind(config: Config) -> Result<Server> {
        // 1. The directory's lock (src/storage/dir_lock.rs): a second server on the same
        //    directory stops here, naming the process that holds it.
        let lock = DirLock::acquire(&config.data_dir)?;
        // 2. The socket: a port in use stops the start here, before the journal is
        //    replayed and checkpointed.
        let listener = TcpListener::bind(&config.addr)
            .map_err(|e| Error::Other(format!("cannot listen on {}: {e}", config.addr)))?;
        // 3. The data: snapshots loaded, the journal replayed on top, older data brought
        //    up to date (src/db/open.rs). Damaged data stops the start here, naming the
        //    file and the line: better no server than one that has lost data.
        let db = Db::open_locked(lock, config.checkpoint_bytes, config.storage)?;
        // Before anyone can connect: every account gets its wallet, and keys that
        // expired while the server was down are replaced (they must never work again).
        let opened = wallet::open_missing(&db, &config.wallet)?;
        if opened > 0 {
            log::info!("opened {opened} missing wallets");
        }
        let pass = rotation::rotate_due(&db, config.wallet.key_lifetime)?;
        if pass.rotated > 0 {
            log::info!(
                "replaced {} pay keys that expired while stopped",
                pass.rotated
            );
        }
        // The audit thread starts now, so that the first request can be audited.
        let audit = AuditLog::open(&config.data_dir, config.audit.clone())?;
        // Each part has its own synchronisation (src/server/mod.rs): there is no lock
        // around the whole.
        let counters = Counters::default();
        counters
            .key_rotations
            .fetch_add(pass.rotated as u64, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            hash_gate: HashGate::new(config.hash_concurrency),
            throttle: Throttle::new(config.throttle),
            counters,
            peers: ConnectedPeers::default(),
            audit,
            started: Instant::now(),
            db,
            config,
        });
        // Threads named `conn-<n>`, which `ps -L` and a panic message show, with a small
        // stack (`Config::thread_stack`, 128 KiB): a connection's thread runs straight-line
        // code with no deep recursion, and thousands of them must fit in memory.
        let mut options = AcceptOptions::new("conn");
        options.stack_size = Some(shared.config.thread_stack);
        let accept = AcceptLoop::new(listener, options)
            .map_err(|e| Error::Other(format!("cannot read the listening address: {e}")))?;
        Ok(Server { accept, shared })
    }

    /// The address the server listens on (with the real port when bound to port 0,
    /// which is how every test finds its server).
    pub fn local_addr(&self) -> SocketAddr {
        self.accept.local_addr()
    }

    /// A handle that stops the server. Take it before [`Server::run`], which keeps the
    /// server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            switch: self.accept.stop_switch(),
        }
    }

    /// The shared state: `feira-server` reads the accounts through it at start-up (to
    /// warn about the demo passwords), and tests reach the database.
    pub fn shared(&self) -> SharedRef {
        self.shared.clone()
    }

    /// Accepts connections until shutdown, then drains them and saves the tables (if
    /// the disk lets it: the journal already holds every acknowledged change).
    pub fn run(self) -> Result<()> {
        log::info!("listening on {}", self.accept.local_addr());
        // The rotation thread lives exactly as long as the server serves: keys due while
        // it was stopped were replaced in `bind`, and no key may change while the tables
        // are saved at the end.
        let rotator = rotation::Rotator::spawn(
            self.shared.clone(),
            self.shared.config.wallet.key_lifetime,
            self.shared.counters.key_rotations.clone(),
        )?;
        // Every connection on a thread of its own, until shutdown (src/net/accept.rs).
        let clients = Arc::new(Clients {
            shared: self.shared.clone(),
        });
        // Blocks here, on this thread, until a `ShutdownHandle` stops the loop.
        let open = self.accept.run(clients);
        log::info!("shutting down: no new connections; finishing the open ones");
        // Wakes the rotation thread and waits for it: a few microseconds, never a sleep.
        rotator.stop();
        // Shutting down the read side lets each thread finish the request it is on,
        // write its reply, then read end-of-file and end.
        open.close(Shutdown::Read);
        // Every connection has ended (and audited its end): write the last rows.
        self.shared.audit.shutdown();
        // Nothing writes any more: the snapshots take every change, and the next start
        // has no journal to replay.
        match self.shared.db.checkpoint() {
            Ok(()) => log::info!("shutdown complete; tables saved"),
            // A full disk, say. Nothing is lost: every acknowledged change is in the
            // journal, fsynced, and a failed checkpoint leaves no half-written file.
            Err(e) => log::warn!(
                "shutdown complete, but the tables could not be saved ({e}); \
                 every acknowledged change is in the journal, and the next start replays it"
            ),
        }
        Ok(())
    }
}

/// What the accept loop asks of the store server: the connection limit, the BUSY line,
/// and the conversation (src/server/connection.rs).
///
/// Why the limit is the server's and not the loop's: the serving peer and a Chord node
/// count their connections differently (src/p2p/admission.rs keeps two limits), so the
/// loop only asks, through [`Handler::admit`].
struct Clients {
    /// Shared with every connection thread: the limit and the counters are in it.
    shared: SharedRef,
}

impl Handler for Clients {
    /// The connection's place among `--max-connections`.
    type Place = LivePlace;

    /// On the accept thread, which must never block: counters and a comparison only.
    fn admit(&self, conn: &Accepted, _open: usize) -> std::result::Result<LivePlace, String> {
        let counters = &self.shared.counters;
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        if counters.live() >= self.shared.config.max_connections {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "conn-{} {}: refused, {} connections open",
                conn.id,
                conn.peer,
                counters.live()
            );
            // The loop answers `ERR BUSY` with this message and closes, with no thread:
            // a flood of connections costs the server no threads.
            return Err("the server is at its connection limit; try again later".into());
        }
        // Counted here, before the thread starts, so that a burst of connections
        // cannot overshoot the limit while threads are still starting.
        counters.live.fetch_add(1, Ordering::AcqRel);
        Ok(LivePlace(self.shared.clone()))
    }

    /// On the connection's own thread: the whole conversation, until QUIT, end of
    /// input, a timeout or an error. The place is held, not used: dropping it after
    /// the socket is closed is what frees it.
    fn serve(&self, conn: &Accepted, _place: &mut LivePlace) {
        connection::serve(&self.shared, &conn.stream, &conn.peer);
    }

    /// The store protocol's refusal, so a client reads it like any other reply
    /// (`feira-cli` exits 2 on `ERR BUSY`: no answer from the server).
    fn busy_line(&self, message: &str) -> String {
        Reply::err(ErrorCode::Busy, message).encode()
    }

    /// The operating system would not start a thread: the connection is refused, and
    /// counted as refused in STATS.
    fn no_thread(&self) {
        self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// One connection counted in `counters.live`; the count drops with it (after the
/// connection's socket is closed: see src/net/accept.rs).
struct LivePlace(SharedRef);

impl Drop for LivePlace {
    fn drop(&mut self) {
        self.0.counters.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A server that is dropped without running (a test that only binds, a start that
/// fails after `bind`) sets its switch, so that a `ShutdownHandle` used later does
/// nothing, rather than connect to an address that another server may have taken
/// since. (`run` consumes the server, so this also runs once `run` returns, when the
/// switch is already set and `stop` does nothing.)
impl Drop for Server {
    fn drop(&mut self) {
        self.accept.stop_switch().stop();
    }
}
