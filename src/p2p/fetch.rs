//! The downloading peer: fetch one file from another peer, all or nothing.
//!
//! Why "all or nothing" takes some care: a peer can vanish mid-transfer, send fewer
//! bytes than it announced, or send the wrong ones. Seed 002 wrote straight into the
//! final file, so any of those left a damaged file that looked like a good one. Here:
//!
//! 1. the bytes go to a **temporary file** in the destination's directory, named
//!    `.<name>.part-<random>` (hidden, and never served by a peer: see
//!    [`share`](super::share));
//! 2. they are **hashed as they arrive**, in [`CHUNK`]s, so memory use does not depend on
//!    the file's size;
//! 3. only if exactly the announced number of bytes arrived **and** their SHA-256 is the
//!    announced one is the file flushed to disk (`fsync`) and **renamed** over the final
//!    name. A rename within one directory is atomic: a reader sees the old file or the
//!    new one, never half of either. The directory is then synced too, so the rename
//!    itself survives a power cut;
//! 4. on any failure the temporary file is removed (by [`PartFile`]'s `Drop`, so no
//!    early return can forget it), and the error says what happened. An existing file
//!    under the final name is left untouched.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::CHUNK;
use super::wire::{self, Header, HeaderError, Sha256Digest};
use crate::protocol::{ErrorCode, Refusal};

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
    /// From connecting to the rename.
    pub elapsed: Duration,
}

/// Why a download failed. In every case, nothing was left under the final name (and a
/// file that was already there is unchanged).
#[derive(Debug)]
pub enum FetchError {
    /// The destination cannot receive a file.
    Destination {
        path: PathBuf,
        problem: &'static str,
    },
    /// The peer could not be reached.
    Connect { peer: SocketAddr, source: io::Error },
    /// The peer answered `ERR`: it will not send this file.
    Refused {
        peer: SocketAddr,
        file_name: String,
        refusal: Refusal,
    },
    /// The peer answered something that is not the peer protocol.
    Protocol { peer: SocketAddr, problem: String },
    /// The connection failed (a timeout, a reset) before the transfer was complete.
    Network {
        peer: SocketAddr,
        /// Bytes of the file received before the failure.
        received: u64,
        /// The announced size, if the header had arrived.
        expected: Option<u64>,
        source: io::Error,
    },
    /// The peer closed the connection before sending every byte it announced.
    Truncated {
        peer: SocketAddr,
        received: u64,
        expected: u64,
    },
    /// Every byte arrived, but they are not the bytes the peer announced.
    ChecksumMismatch {
        peer: SocketAddr,
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    /// A local file operation failed (creating, writing, syncing or renaming).
    Local {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl FetchError {
    /// The peer's error code, if the peer refused the request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            FetchError::Refused { refusal, .. } => Some(refusal.code),
            _ => None,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Destination { path, problem } => {
                write!(f, "cannot save to {}: {problem}", path.display())
            }
            FetchError::Connect { peer, source } => {
                write!(f, "cannot connect to peer {peer}: {source}")
            }
            FetchError::Refused {
                peer,
                file_name,
                refusal,
            } => write!(
                f,
                "peer {peer} refused {file_name:?}: {} ({})",
                refusal.message, refusal.code
            ),
            FetchError::Protocol { peer, problem } => {
                write!(f, "peer {peer} broke the peer protocol: {problem}")
            }
            FetchError::Network {
                peer,
                received,
                expected,
                source,
            } => {
                let during = match expected {
                    None => "before sending the header".to_string(),
                    Some(size) => format!("after {received} of {size} bytes"),
                };
                if is_timeout(source) {
                    write!(f, "peer {peer} went silent (timed out) {during}")?;
                } else {
                    write!(f, "the connection to peer {peer} failed {during}: {source}")?;
                }
                write!(f, "; nothing was saved")
            }
            FetchError::Truncated {
                peer,
                received,
                expected,
            } => write!(
                f,
                "peer {peer} closed the connection after {received} of {expected} bytes; \
                 nothing was saved"
            ),
            FetchError::ChecksumMismatch {
                peer,
                expected,
                actual,
            } => write!(
                f,
                "the file from peer {peer} is damaged: its SHA-256 is {actual} but the peer \
                 announced {expected}; nothing was saved"
            ),
            FetchError::Local {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Connect { source, .. }
            | FetchError::Network { source, .. }
            | FetchError::Local { source, .. } => Some(source),
            FetchError::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}

/// Downloads `file_name` from the peer at `peer` into the file `dest`.
///
/// `timeout` bounds connecting and every single read and write, not the whole
/// download: a large file may take as long as it needs while bytes keep arriving.
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
    let started = Instant::now();
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
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(network(0, None))?;
    (&stream)
        .write_all(wire::request_line(file_name).as_bytes())
        .map_err(network(0, None))?;

    // Large reads bypass this buffer (see `receive`); it only needs to hold the header
    // and whatever file bytes arrived in the same segments.
    let mut reader = BufReader::with_capacity(64 * 1024, &stream);
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
        Err(HeaderError::Io(source)) => return Err(network(0, None)(source)),
    };

    // Only now, with a file on its way, is anything created on disk.
    let mut part = PartFile::create(dir, final_name)?;
    let actual = receive(&mut reader, &mut part, size, peer)?;
    if actual != expected {
        return Err(FetchError::ChecksumMismatch {
            peer,
            expected,
            actual,
        });
    }
    part.commit(dest)?;
    Ok(FetchReport {
        peer,
        path: dest.to_path_buf(),
        size,
        sha256: actual,
        elapsed: started.elapsed(),
    })
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

/// Copies exactly `size` bytes from the peer into `part`, returning their SHA-256.
fn receive(
    reader: &mut impl Read,
    part: &mut PartFile,
    size: u64,
    peer: SocketAddr,
) -> Result<Sha256Digest, FetchError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0u64;
    while received < size {
        let want = (size - received).min(CHUNK as u64) as usize;
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(FetchError::Truncated {
                    peer,
                    received,
                    expected: size,
                });
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(FetchError::Network {
                    peer,
                    received,
                    expected: Some(size),
                    source,
                });
            }
        };
        hasher.update(&buf[..n]);
        part.write_all(&buf[..n])?;
        received += n as u64;
    }
    Ok(Sha256Digest::from_hasher(hasher))
}

/// A download in progress: a hidden temporary file, removed unless committed.
struct PartFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl PartFile {
    /// Creates `.<name>.part-<16 hex digits>` in `dir`, never reusing an existing file.
    fn create(dir: &Path, final_name: &OsStr) -> Result<PartFile, FetchError> {
        // Keep the temporary name under the usual 255-byte limit on a file name.
        let mut stem = final_name.to_string_lossy().into_owned();
        let mut cut = stem.len().min(200);
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
        let mut last_error = None;
        for _ in 0..4 {
            let path = dir.join(format!(".{stem}.part-{}", random_hex()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(PartFile {
                        path,
                        file,
                        committed: false,
                    });
                }
                // A name clash (64 random bits: practically never): draw another.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(source) => {
                    return Err(FetchError::Local {
                        action: "create",
                        path,
                        source,
                    });
                }
            }
        }
        Err(FetchError::Local {
            action: "create a temporary file in",
            path: dir.to_path_buf(),
            source: last_error.unwrap_or_else(|| io::Error::other("no free name")),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.file
            .write_all(bytes)
            .map_err(|source| FetchError::Local {
                action: "write",
                path: self.path.clone(),
                source,
            })
    }

    /// Flushes the file to disk and renames it to `dest`.
    fn commit(mut self, dest: &Path) -> Result<(), FetchError> {
        let local = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| FetchError::Local {
                action,
                path,
                source,
            }
        };
        // Without this, a crash shortly after the rename could leave `dest` empty: the
        // rename may reach the disk before the data does.
        self.file.sync_all().map_err(local("sync", &self.path))?;
        fs::rename(&self.path, dest).map_err(local("rename the download to", dest))?;
        self.committed = true;
        sync_parent(dest);
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename durable by syncing the directory that holds the name.
/// Best effort: the file is complete and in place either way.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            log::warn!("cannot sync directory {}: {e}", dir.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// 16 random hex digits from the operating system (falling back to the clock, which
/// is good enough for a temporary name: `create_new` catches any clash).
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_complete_matching_stream_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let data: Vec<u8> = (0..(CHUNK * 2 + 5)).map(|i| i as u8).collect();
        let mut part = PartFile::create(dir.path(), OsStr::new("out.bin")).unwrap();
        let digest = receive(&mut &data[..], &mut part, data.len() as u64, peer()).unwrap();
        assert_eq!(digest, Sha256Digest::of(&data));
        part.commit(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), data);
        assert_eq!(entries(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_short_stream_is_truncated_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("out.bin")).unwrap();
        assert!(entries(dir.path())[0].starts_with(".out.bin.part-"));
        let err = receive(&mut &[1u8, 2, 3][..], &mut part, 10, peer()).unwrap_err();
        assert!(matches!(
            err,
            FetchError::Truncated {
                received: 3,
                expected: 10,
                ..
            }
        ));
        drop(part);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn only_the_announced_bytes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartFile::create(dir.path(), OsStr::new("x")).unwrap();
        let mut input = &b"abcdef"[..];
        let digest = receive(&mut input, &mut part, 4, peer()).unwrap();
        assert_eq!(digest, Sha256Digest::of(b"abcd"));
        assert_eq!(input, b"ef");
    }

    #[test]
    fn temporary_names_stay_short_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let long = "é".repeat(120); // 240 bytes, a legal name on Linux
        let a = PartFile::create(dir.path(), OsStr::new(&long)).unwrap();
        let b = PartFile::create(dir.path(), OsStr::new(&long)).unwrap();
        assert_ne!(a.path, b.path);
        assert!(a.path.file_name().unwrap().len() <= 255);
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
    fn errors_read_well() {
        let err = FetchError::Truncated {
            peer: peer(),
            received: 5,
            expected: 9,
        };
        assert_eq!(
            err.to_string(),
            "peer 127.0.0.1:9 closed the connection after 5 of 9 bytes; nothing was saved"
        );
        let err = FetchError::Network {
            peer: peer(),
            received: 0,
            expected: Some(9),
            source: io::ErrorKind::WouldBlock.into(),
        };
        assert_eq!(
            err.to_string(),
            "peer 127.0.0.1:9 went silent (timed out) after 0 of 9 bytes; nothing was saved"
        );
        let err = FetchError::Refused {
            peer: peer(),
            file_name: "a b".into(),
            refusal: Refusal::new(ErrorCode::Busy, "4 downloads already running"),
        };
        assert_eq!(err.code(), Some(ErrorCode::Busy));
        assert_eq!(
            err.to_string(),
            "peer 127.0.0.1:9 refused \"a b\": 4 downloads already running (BUSY)"
        );
    }
}
