//! The serving peer: answers `GET` requests with files from its share directory.
//!
//! Why it looks like this (the tiny-http model, scaled down):
//! - one **accept thread** takes connections and hands each to its own **named thread**
//!   (`feira-peer-conn-<n>`), so a slow downloader never holds up another;
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
//! - the file is **never loaded in memory**: it is hashed in [`CHUNK`]s (or its digest
//!   comes from the [`DigestCache`]), then sent in [`CHUNK`]s; only the bytes counted
//!   in the header are sent, even if the file grows meanwhile.
//!
//! Every socket has a read and a write timeout, so a downloader that stops reading frees
//! its slot after [`PeerOptions::io_timeout`]. Nothing here panics on input: a bad
//! request gets `ERR <CODE> <message>` and only that connection ends.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use super::CHUNK;
use super::admission::{Admission, Admitted};
use super::digest::{DigestCache, DigestError, SETTLE_TIME};
use super::share::{NameError, ShareDir};
use super::timing::DeadlineReader;
use super::wire::{self, Header};
use crate::protocol::{ErrorCode, Refusal};

/// How many file digests the serving peer remembers.
const DIGEST_CACHE_FILES: usize = 4096;

/// How long to wait after a failed `accept` (for example, out of file descriptors)
/// before trying again, so the accept thread does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long to keep draining a refused connection before closing it (see [`refuse`]).
const LINGER: Duration = Duration::from_secs(1);

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
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

/// What the accept thread and the connection threads share.
struct Shared {
    share: ShareDir,
    options: PeerOptions,
    /// Set once, by shutdown; read by the accept loop and between hashed chunks.
    stop: AtomicBool,
    /// The waiting connections, the download slots, and every live socket and thread.
    admission: Arc<Admission>,
    digests: DigestCache,
}

impl PeerServer {
    /// Serves the regular files under `share_dir` on `bind_addr` (port 0 picks a free
    /// port: see [`PeerServer::local_addr`]), at most `max_concurrent` downloads at once.
    pub fn start(
        share_dir: impl AsRef<Path>,
        bind_addr: impl std::net::ToSocketAddrs,
        max_concurrent: usize,
    ) -> io::Result<PeerServer> {
        let options = PeerOptions {
            max_concurrent,
            ..PeerOptions::default()
        };
        PeerServer::start_with(share_dir, bind_addr, options)
    }

    /// [`PeerServer::start`] with every setting.
    pub fn start_with(
        share_dir: impl AsRef<Path>,
        bind_addr: impl std::net::ToSocketAddrs,
        options: PeerOptions,
    ) -> io::Result<PeerServer> {
        if options.max_concurrent == 0 || options.max_waiting == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_concurrent and max_waiting must be at least 1",
            ));
        }
        let share = ShareDir::open(share_dir)?;
        let listener = TcpListener::bind(bind_addr)?;
        let local_addr = listener.local_addr()?;
        info!(
            "peer: serving {} on {local_addr}, {} downloads at once",
            share.root().display(),
            options.max_concurrent
        );
        let admission = Arc::new(Admission::new(options.max_waiting, options.max_concurrent));
        let shared = Arc::new(Shared {
            share,
            options,
            stop: AtomicBool::new(false),
            admission,
            digests: DigestCache::new(DIGEST_CACHE_FILES, SETTLE_TIME),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("feira-peer-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(PeerServer {
            local_addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the peer listens on: what to announce to the directory (`CONNECT`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The canonical share directory.
    pub fn share_dir(&self) -> &Path {
        self.shared.share.root()
    }

    /// Downloads being served right now.
    pub fn active_transfers(&self) -> usize {
        self.shared.admission.downloads()
    }

    /// Connections that have not sent their whole request line yet.
    pub fn waiting_connections(&self) -> usize {
        self.shared.admission.waiting()
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
        self.shared.stop.store(true, Ordering::SeqCst);
        // std retries `accept` when a signal interrupts it, so the flag alone would
        // never be seen: a connection of our own makes `accept` return.
        if let Err(e) = TcpStream::connect_timeout(&wake_addr(self.local_addr), LINGER) {
            warn!("peer: could not wake the accept thread: {e}");
        }
        if accept_thread.join().is_err() {
            error!("peer: the accept thread panicked");
        }
        // The accept thread is gone, so no connection can be added from here on.
        let (streams, threads) = self.shared.admission.take_all();
        for stream in &streams {
            // Wakes a thread blocked reading or writing this socket.
            let _ = stream.shutdown(Shutdown::Both);
        }
        drop(streams);
        for thread in threads {
            if thread.join().is_err() {
                error!("peer: a connection thread panicked");
            }
        }
        info!("peer: {} stopped", self.local_addr);
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The address to connect to in order to reach our own listener: a listener on
/// `0.0.0.0` (every interface) is reached through the loopback address.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match incoming {
            Ok(stream) => admit(&shared, stream),
            Err(e) => {
                warn!("peer: accept failed: {e}");
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
    debug!("peer: accept loop ended");
}

/// Admits a new connection and starts its thread, or turns it away if there are
/// already too many (see src/p2p/admission.rs).
fn admit(shared: &Arc<Shared>, stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let Some(admitted) = shared.admission.admit(&stream) else {
        warn!("peer: {peer}: too many connections, closing at once");
        turn_away(stream);
        return;
    };
    let thread_shared = Arc::clone(shared);
    // The place goes back however the thread ends, or with the closure if it never starts.
    let spawned = thread::Builder::new()
        .name(format!("feira-peer-conn-{}", admitted.id()))
        .spawn(move || {
            let mut admitted = admitted;
            serve(&thread_shared, stream, &peer, &mut admitted);
        });
    match spawned {
        Ok(handle) => shared.admission.keep_thread(handle),
        Err(e) => error!("peer: cannot start a connection thread: {e}"),
    }
}

/// One connection, from the request to the last byte.
fn serve(shared: &Shared, stream: TcpStream, peer: &str, admitted: &mut Admitted) {
    let options = &shared.options;
    let connected = Instant::now();
    let request_deadline = connected + options.request_timeout;
    if let Err(e) = stream
        .set_write_timeout(Some(options.io_timeout))
        // The header is small and the downloader waits for it: send it at once.
        .and_then(|()| stream.set_nodelay(true))
    {
        warn!("peer: {peer}: cannot configure the socket: {e}");
        return;
    }

    // One deadline for the whole line, so that trickling bytes cannot stretch it. A
    // small buffer: it only ever holds the request line.
    let mut timed = DeadlineReader::new(&stream, options.io_timeout);
    timed.set_deadline(request_deadline, "the request line");
    let mut reader = BufReader::with_capacity(wire::MAX_REQUEST_LINE + 2, timed);
    let request = wire::read_request(&mut reader, &mut Vec::new());
    drop(reader);
    // Read or not, the connection no longer waits for a request: its place among the
    // waiting connections is free for the next one. If it had already lost that place
    // (it waited longest when all were taken, see src/p2p/admission.rs), its socket is
    // closed and there is no one left to answer.
    if !admitted.request_read() {
        if !shared.stop.load(Ordering::SeqCst) {
            info!(
                "peer: {peer}: no whole request line after {:.1} s; closed to make room",
                connected.elapsed().as_secs_f64()
            );
        }
        return;
    }
    let name = match request {
        Ok(Some(Ok(name))) => name,
        Ok(Some(Err(refusal))) => return refuse(&stream, peer, refusal),
        Ok(None) => return debug!("peer: {peer}: closed without a request"),
        Err(e) if is_timeout(&e) => {
            let message = format!(
                "no whole request line within {} s",
                options.request_timeout.as_secs_f64()
            );
            return refuse(&stream, peer, Refusal::new(ErrorCode::Timeout, message));
        }
        Err(e) => return debug!("peer: {peer}: reading the request failed: {e}"),
    };

    let path = match shared.share.resolve(&name) {
        Ok(path) => path,
        Err(e) => {
            let refusal = Refusal::new(e.code(), e.to_string());
            return refuse(&stream, peer, refusal);
        }
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) => {
            let e = if e.kind() == io::ErrorKind::NotFound {
                NameError::NotFound
            } else {
                NameError::Io(e)
            };
            return refuse(&stream, peer, Refusal::new(e.code(), e.to_string()));
        }
    };
    // The slot is taken only now, so that refusing a bad name never uses one, and is
    // held until the last byte is sent, hashing included.
    let Some(_slot) = shared.admission.take_slot() else {
        let message = format!(
            "{} downloads already running; try again later",
            shared.options.max_concurrent
        );
        return refuse(&stream, peer, Refusal::new(ErrorCode::Busy, message));
    };
    let (size, sha256) = match shared.digests.size_and_digest(&path, &file, &shared.stop) {
        Ok(found) => found,
        Err(DigestError::Stopped) => return,
        Err(DigestError::Changed) => {
            let message = "the file changed while it was being read; try again";
            return refuse(&stream, peer, Refusal::new(ErrorCode::Busy, message));
        }
        Err(DigestError::Io(e)) => {
            warn!("peer: {peer}: reading {}: {e}", path.display());
            let refusal = Refusal::new(ErrorCode::Internal, "the file cannot be read");
            return refuse(&stream, peer, refusal);
        }
    };

    let started = Instant::now();
    match send_file(&stream, &file, size, sha256) {
        Ok(()) => {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            info!(
                "peer: {peer}: sent {name:?} ({size} bytes, {:.0} MiB/s)",
                size as f64 / (1024.0 * 1024.0) / secs
            );
        }
        Err(e) => warn!("peer: {peer}: sending {name:?} stopped: {e}"),
    }
}

/// Writes the `OK` header and then exactly `size` bytes of `file`.
fn send_file(
    mut stream: &TcpStream,
    mut file: &File,
    size: u64,
    sha256: wire::Sha256Digest,
) -> io::Result<()> {
    stream.write_all(Header::Ok { size, sha256 }.encode().as_bytes())?;
    file.seek(SeekFrom::Start(0))?;
    // A plain read/write loop with a large buffer. Why not `io::copy`: for a `File` to
    // a socket, std no longer uses `sendfile(2)` (a file changed after the call could
    // alter bytes already "sent"), and its fallback copies through an 8 KiB buffer:
    // 32 times the system calls of this loop.
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < size {
        let want = (size - sent).min(CHUNK as u64) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => {
                // The file shrank after it was hashed. Closing now is the only honest
                // thing left to do: the downloader sees a short transfer, keeps nothing.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the file shrank: sent {sent} of {size} bytes"),
                ));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.write_all(&buf[..n])?;
        sent += n as u64;
    }
    Ok(())
}

/// Answers `ERR <CODE> <message>` and closes gracefully.
///
/// Why not just write and close: closing a TCP socket that still has unread input
/// (say, the rest of an over-long request line) makes the kernel send a reset, and a
/// reset can destroy our answer before the downloader reads it. So we send the answer,
/// shut our sending side (the downloader sees the end of the stream), and read and
/// discard what is left for a short while: a "lingering close", as web servers do.
fn refuse(mut stream: &TcpStream, peer: &str, refusal: Refusal) {
    match refusal.code {
        ErrorCode::Busy | ErrorCode::Internal | ErrorCode::Timeout => {
            warn!("peer: {peer}: {refusal}")
        }
        _ => info!("peer: {peer}: refused: {refusal}"),
    }
    if stream
        .write_all(Header::Err(refusal).encode().as_bytes())
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Closes a connection without reading it, from the accept thread, which must never
/// block: a best-effort `ERR BUSY` if the socket can take it right away.
fn turn_away(stream: TcpStream) {
    if stream.set_nonblocking(true).is_ok() {
        let refusal = Refusal::new(ErrorCode::Busy, "too many connections");
        let _ = (&stream).write_all(Header::Err(refusal).encode().as_bytes());
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// Socket timeouts surface as `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_unspecified_addresses_through_loopback() {
        let v4: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        assert_eq!(wake_addr(v4), "127.0.0.1:7000".parse().unwrap());
        let v6: SocketAddr = "[::]:7000".parse().unwrap();
        assert_eq!(wake_addr(v6), "[::1]:7000".parse().unwrap());
        let other: SocketAddr = "10.0.0.5:7000".parse().unwrap();
        assert_eq!(wake_addr(other), other);
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PeerServer::start(dir.path(), "127.0.0.1:0", 0).is_err());
    }
}
