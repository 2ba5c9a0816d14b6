//! The serving peer's side of one transfer: read the request, then refuse it or send the file.
//!
//! Why apart from the server (src/p2p/server.rs): that file is about the listener, the
//! limits and shutdown; this one is what happens on one connection's thread, from the
//! request line to the last byte:
//!
//! 1. the request line, within one deadline however its bytes trickle in
//!    ([`DeadlineReader`]); a connection that was closed meanwhile to make room (see
//!    src/p2p/admission.rs) is not answered;
//! 2. the name, resolved inside the shared folder ([`SharedFolder::resolve`]), and the
//!    file opened, before a download slot is taken, so that refusing a bad name never
//!    uses one;
//! 3. a slot, held to the last byte; the file's size and SHA-256, from the
//!    [`DigestCache`] or hashed in [`CHUNK`]s: the file is **never loaded in memory**;
//! 4. the `OK <size> <sha256>` header, then exactly `size` bytes in [`CHUNK`]s, even if
//!    the file grows meanwhile.
//!
//! Every refusal is `ERR <CODE> <message>` with a lingering close ([`refuse`]). Nothing
//! here panics on input: a bad request ends only its own connection.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::CHUNK;
use super::admission::{Admission, Admitted};
use super::digest::{DigestCache, DigestError};
use super::share::{NameError, SharedFolder};
use super::timing::{DeadlineReader, is_timeout};
use super::wire::{self, Header};
use crate::protocol::{ErrorCode, Refusal};

/// How long to keep draining a refused connection before closing it (see [`refuse`]).
const LINGER: Duration = Duration::from_secs(1);

/// What the accept thread and the connection threads of one serving peer share.
pub struct PeerState {
    /// The folder whose files are served.
    pub folder: SharedFolder,
    /// The waiting connections and the download slots.
    pub admission: Arc<Admission>,
    /// Sizes and digests of the files served recently.
    pub digests: DigestCache,
    /// Set once, by shutdown; read between hashed chunks.
    pub stop: AtomicBool,
    /// Downloads served at once (for the BUSY message).
    pub max_downloads: usize,
    /// The limit on each socket read or write.
    pub io_timeout: Duration,
    /// The whole request line must arrive within this time of connecting.
    pub request_timeout: Duration,
}

/// One connection, from the request to the last byte.
pub fn serve(state: &PeerState, stream: &TcpStream, peer: &str, admitted: &mut Admitted) {
    let connected = Instant::now();
    let request_deadline = connected + state.request_timeout;
    if let Err(e) = stream
        .set_write_timeout(Some(state.io_timeout))
        // The header is small and the downloader waits for it: send it at once.
        .and_then(|()| stream.set_nodelay(true))
    {
        warn!("peer: {peer}: cannot configure the socket: {e}");
        return;
    }

    // One deadline for the whole line, so that trickling bytes cannot stretch it. A
    // small buffer: it only ever holds the request line.
    let mut timed = DeadlineReader::new(stream, state.io_timeout);
    timed.set_deadline(request_deadline, "the request line");
    let mut reader = BufReader::with_capacity(wire::MAX_REQUEST_LINE + 2, timed);
    let request = wire::read_request(&mut reader, &mut Vec::new());
    drop(reader);
    // Read or not, the connection no longer waits for a request: its place among the
    // waiting connections is free for the next one. If it had already lost that place
    // (it waited longest when all were taken, see src/p2p/admission.rs), its socket is
    // closed and there is no one left to answer.
    if !admitted.request_read() {
        if !state.stop.load(Ordering::SeqCst) {
            info!(
                "peer: {peer}: no whole request line after {:.1} s; closed to make room",
                connected.elapsed().as_secs_f64()
            );
        }
        return;
    }
    let name = match request {
        Ok(Some(Ok(name))) => name,
        Ok(Some(Err(refusal))) => return refuse(stream, peer, refusal),
        Ok(None) => return debug!("peer: {peer}: closed without a request"),
        Err(e) if is_timeout(&e) => {
            let message = format!(
                "no whole request line within {} s",
                state.request_timeout.as_secs_f64()
            );
            return refuse(stream, peer, Refusal::new(ErrorCode::Timeout, message));
        }
        Err(e) => return debug!("peer: {peer}: reading the request failed: {e}"),
    };

    let path = match state.folder.resolve(&name) {
        Ok(path) => path,
        Err(e) => {
            let refusal = Refusal::new(e.code(), e.to_string());
            return refuse(stream, peer, refusal);
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
            return refuse(stream, peer, Refusal::new(e.code(), e.to_string()));
        }
    };
    // The slot is taken only now, so that refusing a bad name never uses one, and is
    // held until the last byte is sent, hashing included.
    let Some(_slot) = state.admission.take_slot() else {
        let message = format!(
            "{} downloads already running; try again later",
            state.max_downloads
        );
        return refuse(stream, peer, Refusal::new(ErrorCode::Busy, message));
    };
    let (size, sha256) = match state.digests.size_and_digest(&path, &file, &state.stop) {
        Ok(found) => found,
        Err(DigestError::Stopped) => return,
        Err(DigestError::Changed) => {
            let message = "the file changed while it was being read; try again";
            return refuse(stream, peer, Refusal::new(ErrorCode::Busy, message));
        }
        Err(DigestError::Io(e)) => {
            warn!("peer: {peer}: reading {}: {e}", path.display());
            let refusal = Refusal::new(ErrorCode::Internal, "the file cannot be read");
            return refuse(stream, peer, refusal);
        }
    };

    let started = Instant::now();
    match send_file(stream, &file, size, sha256) {
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
