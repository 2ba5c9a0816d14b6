//! Why a download failed, in words a person can act on.
//!
//! Why a file of its own: the downloading peer (src/p2p/fetch.rs), the temporary file
//! (src/p2p/part.rs) and the receiving pipeline (src/p2p/receive.rs) all fail in these
//! terms, so the type sits below the three of them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::timing::is_timeout;
use super::wire::Sha256Digest;
use crate::protocol::{ErrorCode, Refusal};

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
    /// The header did not arrive whole within the timeout.
    HeaderTimeout { peer: SocketAddr, timeout: Duration },
    /// The body arrived more slowly than the minimum rate.
    TooSlow {
        peer: SocketAddr,
        /// Bytes of the file received before giving up.
        received: u64,
        expected: u64,
        /// Bytes received in the last window, and how long it lasted.
        in_window: u64,
        window: Duration,
        min_rate: u64,
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
            FetchError::Refused { refusal, .. } => Some(refusal.code.clone()),
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
            FetchError::HeaderTimeout { peer, timeout } => write!(
                f,
                "peer {peer} did not send its header within {} s; nothing was saved",
                timeout.as_secs_f64()
            ),
            FetchError::TooSlow {
                peer,
                received,
                expected,
                in_window,
                window,
                min_rate,
            } => write!(
                f,
                "peer {peer} is too slow: {in_window} bytes in the last {:.1} s, under the \
                 minimum of {min_rate} bytes/s (after {received} of {expected} bytes); \
                 nothing was saved",
                window.as_secs_f64()
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
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
