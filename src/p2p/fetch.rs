//! The downloading peer: fetch one file from another peer, all or nothing.
//!
//! Why "all or nothing" takes some care: a peer can vanish mid-transfer, send fewer
//! bytes than it announced, or send the wrong ones. Seed 002 wrote straight into the
//! final file, so any of those left a damaged file that looked like a good one. Here:
//!
//! 1. the bytes go to a **temporary file** in the destination's directory, named
//!    `.<name>.part-<random>` (src/p2p/part.rs);
//! 2. they are **hashed as they arrive**, through a small pipeline of threads with a
//!    fixed number of buffers, so memory use does not depend on the file's size
//!    (src/p2p/receive.rs);
//! 3. only if exactly the announced number of bytes arrived **and** their SHA-256 is the
//!    announced one is the file flushed to disk (`fsync`) and **renamed** over the final
//!    name. A rename within one directory is atomic: a reader sees the old file or the
//!    new one, never half of either. The directory is then synced too, so the rename
//!    itself survives a power cut;
//! 4. on any failure the temporary file is removed (by `PartFile`'s `Drop`, so no
//!    early return can forget it), and the error says what happened. An existing file
//!    under the final name is left untouched.
//!
//! Time limits ([`FetchOptions`]): the header has one deadline, and the body a minimum
//! rate, so a peer that trickles a byte now and then cannot hold a download open for as
//! long as it likes (src/p2p/timing.rs says why a per-read timeout is not enough).

use std::ffi::OsStr;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::fetch_error::FetchError;
use super::part::PartFile;
use super::receive::receive;
use super::share::{NameError, check_name};
use super::timing::{DeadlineReader, RateFloor, is_timeout};
use super::wire::{self, Header, HeaderError, Sha256Digest};

/// What a successful download produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The peer the file came from.
    pub peer: SocketAddr,
    /// Where the file now is (the `dest` given to [`fetch`]).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, as announced by the peer and checked here.
    pub sha256: Sha256Digest,
    /// From connecting to the end of the rename.
    pub elapsed: Duration,
    /// The part of `elapsed` spent making the file durable: the final `fsync`, the
    /// rename and the directory's `fsync`. Reported apart because it depends on the
    /// disk, not on the network.
    pub synced_in: Duration,
}

/// The time limits of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// Connecting, sending the request and receiving the whole header must together
    /// take at most this long, however slowly the header's bytes trickle in. It also
    /// bounds every single read and write of the body (a peer silent that long is gone),
    /// and is the window over which the body's rate is measured.
    pub timeout: Duration,
    /// The body must arrive at this many bytes a second at least, averaged over each
    /// `timeout` of waiting for the peer (0: no minimum). A large file over a slow but
    /// steady link takes as long as it needs; a peer that trickles is cut off.
    pub min_rate: u64,
}

/// The default minimum rate of a body: 1 KiB/s, far below any real link (a 64 kbit/s
/// line moves 8 KiB/s), and far above a peer trickling a byte every few seconds.
pub const DEFAULT_MIN_RATE: u64 = 1024;

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions {
            timeout: Duration::from_secs(10),
            min_rate: DEFAULT_MIN_RATE,
        }
    }
}

/// Downloads `file_name` from the peer at `peer` into the file `dest`, with the
/// default minimum rate ([`fetch_with`] sets every limit).
///
/// `timeout` bounds connecting and the header together, and every single read and
/// write of the body, not the whole download: a large file may take as long as it
/// needs while bytes keep arriving at the minimum rate ([`DEFAULT_MIN_RATE`]).
/// On success, `dest` holds exactly the bytes the peer announced (replacing any file
/// that was there); on failure, `dest` is as it was and no temporary file is left.
///
/// ```no_run
/// use std::time::Duration;
/// let peer = "127.0.0.1:7000".parse().unwrap();
/// match feira::p2p::fetch(peer, "Maçã verde.jpg", "downloads/maca.jpg", Duration::from_secs(10)) {
///     Ok(report) => println!("{} bytes, sha256 {}", report.size, report.sha256),
///     Err(e) => eprintln!("download failed: {e}"),
/// }
/// ```
pub fn fetch(
    peer: SocketAddr,
    file_name: &str,
    dest: impl AsRef<Path>,
    timeout: Duration,
) -> Result<FetchReport, FetchError> {
    let options = FetchOptions {
        timeout,
        ..FetchOptions::default()
    };
    fetch_with(peer, file_name, dest, &options)
}

/// [`fetch`] with every time limit given: see [`FetchOptions`].
pub fn fetch_with(
    peer: SocketAddr,
    file_name: &str,
    dest: impl AsRef<Path>,
    options: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    let started = Instant::now();
    let timeout = options.timeout;
    let dest = dest.as_ref();
    let (dir, final_name) = split_destination(dest)?;

    let stream = TcpStream::connect_timeout(&peer, timeout)
        .map_err(|source| FetchError::Connect { peer, source })?;
    let network = |received, expected| {
        move |source| FetchError::Network {
            peer,
            received,
            expected,
            source,
        }
    };
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(network(0, None))?;
    (&stream)
        .write_all(wire::request_line(file_name).as_bytes())
        .map_err(network(0, None))?;

    // Large reads bypass this buffer (see `receive`); it only needs to hold the header
    // and whatever file bytes arrived in the same segments. The header has one deadline,
    // counted from the start, however its bytes trickle in.
    let mut timed = DeadlineReader::new(&stream, timeout);
    timed.set_deadline(started + timeout, "the header");
    let mut reader = BufReader::with_capacity(64 * 1024, timed);
    let (size, expected) = match Header::read_from(&mut reader) {
        Ok(Header::Ok { size, sha256 }) => (size, sha256),
        Ok(Header::Err(refusal)) => {
            return Err(FetchError::Refused {
                peer,
                file_name: file_name.to_string(),
                refusal,
            });
        }
        Err(HeaderError::Closed) => {
            return Err(FetchError::Protocol {
                peer,
                problem: "it closed the connection without answering".into(),
            });
        }
        Err(HeaderError::Malformed(m)) => {
            return Err(FetchError::Protocol {
                peer,
                problem: format!("bad header: {m}"),
            });
        }
        Err(HeaderError::Io(source)) if is_timeout(&source) => {
            return Err(FetchError::HeaderTimeout { peer, timeout });
        }
        Err(HeaderError::Io(source)) => return Err(network(0, None)(source)),
    };

    // Only now, with a file on its way, is anything created on disk.
    let mut part = PartFile::create(dir, final_name)?;
    let header_at = started.elapsed();
    // The body has no deadline, only the per-read timeout and the minimum rate.
    reader.get_mut().clear_deadline();
    let floor = RateFloor::new(options.min_rate, timeout);
    let actual = receive(&mut reader, &mut part, size, peer, floor)?;
    let received_at = started.elapsed();
    if actual != expected {
        return Err(FetchError::ChecksumMismatch {
            peer,
            expected,
            actual,
        });
    }
    part.commit(dest)?;
    let elapsed = started.elapsed();
    // Where the time went, for whoever tunes this: waiting for the header (the serving
    // peer hashing a file it has not hashed before), the transfer, the final fsync.
    log::debug!(
        "fetched {file_name:?} from {peer}: {size} bytes; header after {header_at:?}, \
         bytes after {received_at:?}, synced and renamed after {elapsed:?}"
    );
    Ok(FetchReport {
        peer,
        path: dest.to_path_buf(),
        size,
        sha256: actual,
        elapsed,
        synced_in: elapsed.saturating_sub(received_at),
    })
}

/// Where to save `file_name` in `dir` when the user gave no local path.
///
/// Why this exists: the name comes from another user (through the server's
/// `LIST_CONTENT`), so using it as a local path as it is would let a peer publish
/// `../../.bashrc` and have downloaders overwrite their own files. The name must pass
/// the same checks a serving peer applies ([`check_name`]), and only its last component
/// is kept: `photos/beach.png` is saved as `dir/beach.png`.
///
/// ```
/// use std::path::Path;
/// use feira::p2p::fetch::local_path_for;
/// assert_eq!(local_path_for(Path::new("dl"), "fotos/praia.png").unwrap(), Path::new("dl/praia.png"));
/// assert!(local_path_for(Path::new("dl"), "../../.bashrc").is_err());
/// ```
pub fn local_path_for(dir: &Path, file_name: &str) -> Result<PathBuf, NameError> {
    check_name(file_name)?;
    // `check_name` refused empty components, so the last one is a real name.
    let last = file_name.rsplit('/').next().unwrap_or(file_name);
    Ok(dir.join(last))
}

/// The directory a download goes to, and the final file name in it.
fn split_destination(dest: &Path) -> Result<(&Path, &OsStr), FetchError> {
    let problem = |problem| FetchError::Destination {
        path: dest.to_path_buf(),
        problem,
    };
    let name = dest
        .file_name()
        .ok_or_else(|| problem("it has no file name"))?;
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Checked before connecting, so a typo costs no transfer.
    if !dir.is_dir() {
        return Err(problem("its directory does not exist"));
    }
    if dest.is_dir() {
        return Err(problem("it is a directory"));
    }
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    #[test]
    fn bad_destinations_are_caught_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let timeout = Duration::from_secs(1);
        // Port 9 on loopback is closed; a Destination error proves we never tried.
        for dest in [
            dir.path().to_path_buf(),
            dir.path().join("missing/x"),
            PathBuf::from("/"),
        ] {
            let err = fetch(peer(), "x", &dest, timeout).unwrap_err();
            assert!(
                matches!(err, FetchError::Destination { .. }),
                "{dest:?}: {err}"
            );
        }
    }

    #[test]
    fn local_paths_keep_only_a_checked_last_component() {
        let dir = Path::new("downloads");
        assert_eq!(
            local_path_for(dir, "Maçã verde.jpg").unwrap(),
            dir.join("Maçã verde.jpg")
        );
        assert_eq!(local_path_for(dir, "a/b/c.txt").unwrap(), dir.join("c.txt"));
        for bad in ["", "..", "../x", "/etc/passwd", ".bashrc", "a\nb", "a/"] {
            assert!(local_path_for(dir, bad).is_err(), "{bad:?}");
        }
    }
}
