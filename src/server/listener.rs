//! The listener: accept a connection, give it a thread of its own, repeat.
//!
//! Why a thread per connection: it is the simplest model that is correct. Each thread
//! runs straight-line blocking code (read, handle, write), and the operating system
//! interleaves them. Seed 003 had the same shape; what it lacked was a limit, timeouts
//! and a clean shutdown, which are all here.
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

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Config, Counters, Shared, SharedRef, connection};
use crate::accounts::password::HashGate;
use crate::accounts::throttle::Throttle;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::protocol::{ErrorCode, Reply};
use crate::sharing::{AuditLog, ConnectedPeers};
use crate::storage::DirLock;
use crate::wallet::{self, rotation};

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    shared: SharedRef,
    control: Arc<Control>,
}

/// What the listener and the shutdown handle share.
struct Control {
    stop: AtomicBool,
    /// The address to connect to in order to wake `accept()`.
    wake_addr: SocketAddr,
    /// Every open connection's socket, shared with its thread, to shut them down.
    /// Shared (`Arc`), not duplicated (`try_clone`): a duplicate is one more file
    /// descriptor per connection, and descriptors are what runs out first when ten
    /// thousand clients connect (the open-files limit counts them).
    open: Mutex<HashMap<u64, Arc<TcpStream>>>,
}

/// Stops a running server from another thread (a signal handler, a test).
#[derive(Clone)]
pub struct ShutdownHandle {
    control: Arc<Control>,
}

impl ShutdownHandle {
    /// Asks the server to stop. Returns at once; [`Server::run`] returns when done.
    pub fn shutdown(&self) {
        if self.control.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the accept loop. If this fails, the listener is already gone.
        let _ = TcpStream::connect_timeout(&self.control.wake_addr, Duration::from_secs(1));
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
        let lock = DirLock::acquire(&config.data_dir)?;
        let listener = TcpListener::bind(&config.addr)
            .map_err(|e| Error::Other(format!("cannot listen on {}: {e}", config.addr)))?;
        let db = Db::open_locked(lock, config.checkpoint_bytes)?;
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
        let audit = AuditLog::open(&config.data_dir, config.audit.clone())?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("cannot read the listening address: {e}")))?;
        // Connecting to 0.0.0.0 does not work everywhere: wake through loopback.
        let wake_addr = match local {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            other => other,
        };
        let shared = Arc::new(Shared {
            hash_gate: HashGate::new(config.hash_concurrency),
            throttle: Throttle::new(config.throttle),
            counters: Counters::default(),
            peers: ConnectedPeers::default(),
            audit,
            started: Instant::now(),
            db,
            config,
        });
        Ok(Server {
            listener,
            shared,
            control: Arc::new(Control {
                stop: AtomicBool::new(false),
                wake_addr,
                open: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.control.wake_addr
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            control: self.control.clone(),
        }
    }

    /// The shared state (tests use it to reach the database).
    pub fn shared(&self) -> SharedRef {
        self.shared.clone()
    }

    /// Accepts connections until shutdown, then drains them and saves the tables (if
    /// the disk lets it: the journal already holds every acknowledged change).
    pub fn run(self) -> Result<()> {
        log::info!("listening on {}", self.control.wake_addr);
        let rotator =
            rotation::Rotator::spawn(self.shared.clone(), self.shared.config.wallet.key_lifetime)?;
        let next_id = AtomicU64::new(1);
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        for stream in self.listener.incoming() {
            if self.control.stop.load(Ordering::Acquire) {
                break;
            }
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept, ...:
                    // log it and keep serving. Back off a little so that a persistent
                    // error does not spin this loop at full speed.
                    log::warn!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            if let Some(handle) = self.spawn_connection(id, stream) {
                threads.push(handle);
            }
            // Forget threads that have finished, so the list stays small.
            if threads.len() > 2 * self.shared.counters.live() + 64 {
                threads.retain(|t| !t.is_finished());
            }
        }
        log::info!("shutting down: no new connections; finishing the open ones");
        // Wakes the rotation thread and waits for it: a few microseconds, never a sleep.
        rotator.stop();
        for stream in self.control.open.lock().values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        for thread in threads {
            let _ = thread.join();
        }
        // Every connection has ended (and audited its end): write the last rows.
        self.shared.audit.shutdown();
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

    /// Starts the thread for one connection, or refuses it with BUSY.
    fn spawn_connection(&self, id: u64, stream: TcpStream) -> Option<JoinHandle<()>> {
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "unknown".to_string(), |a| a.to_string());
        let peer_log = peer.clone();
        let counters = &self.shared.counters;
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        if counters.live() >= self.shared.config.max_connections {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "conn-{id} {peer}: refused, {} connections open",
                counters.live()
            );
            refuse(
                &stream,
                "the server is at its connection limit; try again later",
            );
            return None;
        }
        // Counted here, before the thread starts, so that a burst of connections
        // cannot overshoot the limit while threads are still starting.
        counters.live.fetch_add(1, Ordering::AcqRel);
        let stream = Arc::new(stream);
        self.control.open.lock().insert(id, stream.clone());
        let shared = self.shared.clone();
        let control = self.control.clone();
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(self.shared.config.thread_stack)
            .spawn(move || {
                connection::serve(&shared, &stream, &peer);
                // Both handles go, so the socket is closed before the count drops.
                drop(stream);
                control.open.lock().remove(&id);
                shared.counters.live.fetch_sub(1, Ordering::AcqRel);
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                // The OS refused a thread (too many, or no memory). The closure and its
                // handle on the stream are gone; answer through the one we kept.
                log::error!("conn-{id} {peer_log}: cannot start a thread: {e}");
                counters.live.fetch_sub(1, Ordering::AcqRel);
                counters.refused.fetch_add(1, Ordering::Relaxed);
                if let Some(stream) = self.control.open.lock().remove(&id) {
                    refuse(&stream, "the server cannot take more connections now");
                }
                None
            }
        }
    }
}

/// Writes `ERR BUSY` to a connection we will not serve, and closes it.
fn refuse(mut stream: &TcpStream, message: &str) {
    // A fresh socket's buffer takes one short line without blocking, but never wait
    // long on a peer that does not read.
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = stream.write_all(Reply::err(ErrorCode::Busy, message).encode().as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Closing a socket with unread input makes the kernel send a reset, which can
    // destroy the BUSY line before the client reads it (a client that sent a request
    // at once, like `echo PING | nc`). Read what has already arrived, without waiting.
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::Release);
    }
}
