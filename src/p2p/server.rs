//! The serving peer: answers `GET` requests with files from its shared folder.
//!
//! Why it looks like this (the tiny-http model, scaled down):
//! - one **accept thread** (`feira-peer-accept`) takes connections and hands each to its
//!   own **named thread** (`feira-peer-conn-<n>`), so a slow downloader never holds up
//!   another. The loop is the crate's one accept loop (src/net/accept.rs);
//! - at most `max_concurrent` downloads run at once; one more is answered `ERR BUSY`
//!   rather than queued, so a popular peer stays responsive and the downloader learns at
//!   once that it should try later (or another peer). Connections that have not sent
//!   their request yet are counted apart, against a larger limit (when it is reached,
//!   the one that has waited longest is closed to make room), and the request line has
//!   one deadline however its bytes trickle in, so dawdlers can never take a download's
//!   place, nor keep a real downloader out (src/p2p/admission.rs);
//! - **shutdown** sets a stop flag, connects to its own listener to wake the blocked
//!   `accept()`, cuts the live connections and joins every thread, so that when
//!   [`PeerServer::shutdown`] returns nothing of the peer is left running;
//! - what one connection's thread does, from the request to the last byte, is
//!   src/p2p/send.rs.
//!
//! Every socket has a read and a write timeout, so a downloader that stops reading frees
//! its slot after [`PeerOptions::io_timeout`].

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use log::{debug, error, info, warn};

use super::admission::{Admission, Admitted};
use super::digest::{DigestCache, SETTLE_TIME};
use super::send::{self, PeerState};
use super::share::SharedFolder;
use super::wire::Header;
use crate::net::{AcceptLoop, AcceptOptions, Accepted, Handler, LiveConnections, StopSwitch};
use crate::protocol::{ErrorCode, Refusal};

/// How many file digests the serving peer remembers.
const DIGEST_CACHE_FILES: usize = 4096;

/// How long to wait after a failed `accept` (for example, out of file descriptors)
/// before trying again, so the accept thread does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Settings of a serving peer.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Downloads served at once; one more is answered `ERR BUSY`.
    pub max_concurrent: usize,
    /// How long one socket read or write may wait before the download is abandoned.
    /// A timeout per operation, not per file: a 10 GiB file can take as long as it needs
    /// while bytes keep moving.
    pub io_timeout: Duration,
    /// The whole request line must arrive within this time of connecting, however its
    /// bytes trickle in; then `ERR TIMEOUT` and close.
    pub request_timeout: Duration,
    /// Connections that have not sent their whole request line yet, at most; one more
    /// takes the place of the one that has waited longest, which is closed. Counted
    /// apart from (and larger than) `max_concurrent`.
    pub max_waiting: usize,
}

impl Default for PeerOptions {
    fn default() -> PeerOptions {
        PeerOptions {
            max_concurrent: 4,
            io_timeout: Duration::from_secs(30),
            // A downloader sends its request as soon as it connects: 10 s is plenty
            // even on a bad link, and bounds how long a dawdler holds its place.
            request_timeout: Duration::from_secs(10),
            max_waiting: 64,
        }
    }
}

/// A running serving peer. Dropping it shuts it down (as [`PeerServer::shutdown`]).
pub struct PeerServer {
    local_addr: SocketAddr,
    state: Arc<PeerState>,
    /// Stops the accept loop (and wakes it).
    switch: Arc<StopSwitch>,
    /// The accept thread; it hands back the connections still open when it ends.
    accept_thread: Option<JoinHandle<LiveConnections>>,
}

impl PeerServer {
    /// Serves the regular files under `shared_folder` on `bind_addr` (port 0 picks a free
    /// port: see [`PeerServer::local_addr`]), at most `max_concurrent` downloads at once.
    pub fn start(
        shared_folder: impl AsRef<Path>,
        bind_addr: impl std::net::ToSocketAddrs,
        max_concurrent: usize,
    ) -> io::Result<PeerServer> {
        let options = PeerOptions {
            max_concurrent,
            ..PeerOptions::default()
        };
        PeerServer::start_with(shared_folder, bind_addr, options)
    }

    /// [`PeerServer::start`] with every setting.
    pub fn start_with(
        shared_folder: impl AsRef<Path>,
        bind_addr: impl std::net::ToSocketAddrs,
        options: PeerOptions,
    ) -> io::Result<PeerServer> {
        if options.max_concurrent == 0 || options.max_waiting == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_concurrent and max_waiting must be at least 1",
            ));
        }
        let folder = SharedFolder::open(shared_folder)?;
        let listener = TcpListener::bind(bind_addr)?;
        let local_addr = listener.local_addr()?;
        info!(
            "peer: serving {} on {local_addr}, {} downloads at once",
            folder.root().display(),
            options.max_concurrent
        );
        let state = Arc::new(PeerState {
            folder,
            admission: Arc::new(Admission::new(options.max_waiting, options.max_concurrent)),
            digests: DigestCache::new(DIGEST_CACHE_FILES, SETTLE_TIME),
            stop: AtomicBool::new(false),
            max_downloads: options.max_concurrent,
            io_timeout: options.io_timeout,
            request_timeout: options.request_timeout,
        });
        let accept = AcceptLoop::new(
            listener,
            AcceptOptions {
                log_prefix: "peer: ".into(),
                thread_prefix: "feira-peer-conn".into(),
                stack_size: None,
                backoff: ACCEPT_BACKOFF,
            },
        )?;
        let switch = accept.stop_switch();
        let handler = Arc::clone(&state);
        let accept_thread = thread::Builder::new()
            .name("feira-peer-accept".into())
            .spawn(move || {
                let open = accept.run(handler);
                debug!("peer: accept loop ended");
                open
            })?;
        Ok(PeerServer {
            local_addr,
            state,
            switch,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the peer listens on: what to announce to the server (`CONNECT`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The canonical path of the shared folder.
    pub fn shared_folder(&self) -> &Path {
        self.state.folder.root()
    }

    /// Downloads being served right now.
    pub fn active_transfers(&self) -> usize {
        self.state.admission.downloads()
    }

    /// Connections that have not sent their whole request line yet.
    pub fn waiting_connections(&self) -> usize {
        self.state.admission.waiting()
    }

    /// Stops accepting, cuts the downloads in progress (their downloaders get an error
    /// and keep no partial file) and waits for every thread of the peer to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        // First the transfers' flag (a file being hashed stops between chunks), then
        // the accept loop's (std retries `accept` when a signal interrupts it, so the
        // switch also connects to our own listener to make `accept` return).
        self.state.stop.store(true, Ordering::SeqCst);
        self.switch.stop();
        match accept_thread.join() {
            // The accept thread is gone, so no connection can be added from here on.
            // Shutting a socket down wakes a thread blocked reading or writing it.
            Ok(open) => open.close(Shutdown::Both),
            Err(_) => error!("peer: the accept thread panicked"),
        }
        info!("peer: {} stopped", self.local_addr);
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What the accept loop asks of a serving peer: its two limits (src/p2p/admission.rs),
/// its BUSY line, and the transfer (src/p2p/send.rs).
impl Handler for PeerState {
    /// The connection's place: waiting for its request, then served.
    type Place = Admitted;

    fn admit(&self, conn: &Accepted, _open: usize) -> Result<Admitted, String> {
        match self.admission.admit(conn.id, &conn.stream) {
            Some(admitted) => Ok(admitted),
            None => {
                warn!("peer: {}: too many connections, closing at once", conn.peer);
                Err("too many connections".into())
            }
        }
    }

    fn serve(&self, conn: &Accepted, admitted: &mut Admitted) {
        send::serve(self, &conn.stream, &conn.peer, admitted);
    }

    fn busy_line(&self, message: &str) -> String {
        Header::Err(Refusal::new(ErrorCode::Busy, message)).encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_concurrency_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PeerServer::start(dir.path(), "127.0.0.1:0", 0).is_err());
    }
}
