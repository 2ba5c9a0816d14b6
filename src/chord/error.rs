//! What can go wrong when a node talks to another node, or starts.
//!
//! Why one type with the peer's address in every variant: in a ring of 32 nodes,
//! "connection refused" is useless, "node 127.0.0.1:7012 refused the connection" is a
//! lead. Each variant maps to one `ERR` code when it has to be told to a user.

use std::fmt;
use std::io;
use std::time::Duration;

use super::id::Id;
use crate::protocol::{ErrorCode, Refusal};

/// A failed call to another node, or a node that could not start.
#[derive(Debug)]
pub enum Error {
    /// The peer did not answer within the timeout (connect, read or write).
    Timeout { peer: String, after: Duration },
    /// The connection failed: refused, reset, closed before the reply.
    Unreachable { peer: String, source: io::Error },
    /// The peer answered, but not in the chord protocol (or not as this verb expects).
    Garbage { peer: String, detail: String },
    /// The peer answered `ERR`: it understood, and refused.
    Refused { peer: String, refusal: Refusal },
    /// A lookup could not make progress: every candidate next hop failed.
    NoRoute { target: Id, detail: String },
    /// The joining node's identifier is already taken in the ring.
    IdTaken { id: Id, holder: String },
    /// The configuration cannot work (bits out of range, an unusable address, ...).
    Config(String),
    /// The node's own listener failed (bind, local address).
    Listen(io::Error),
}

impl Error {
    /// Classifies an I/O error from a call to `peer`: timeouts are told apart, since
    /// "the node is slow or hung" and "the node is gone" call for different fixes.
    pub fn from_io(peer: &str, timeout: Duration, source: io::Error) -> Error {
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                peer: peer.to_string(),
                after: timeout,
            },
            // The reply reader reports malformed lines as InvalidData.
            io::ErrorKind::InvalidData => Error::Garbage {
                peer: peer.to_string(),
                detail: source.to_string(),
            },
            _ => Error::Unreachable {
                peer: peer.to_string(),
                source,
            },
        }
    }

    /// The error as a protocol refusal, to answer a user whose request failed here.
    pub fn to_refusal(&self) -> Refusal {
        let code = match self {
            Error::Timeout { .. } => ErrorCode::Timeout,
            Error::Refused { refusal, .. } => refusal.code.clone(),
            Error::IdTaken { .. } => ErrorCode::Conflict,
            Error::Config(_) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        };
        Refusal::new(code, self.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout { peer, after } => {
                write!(f, "{peer} did not answer within {} ms", after.as_millis())
            }
            Error::Unreachable { peer, source } => write!(f, "cannot talk to {peer}: {source}"),
            Error::Garbage { peer, detail } => {
                write!(f, "{peer} is not speaking the chord protocol: {detail}")
            }
            Error::Refused { peer, refusal } => write!(f, "{peer} answered {refusal}"),
            Error::NoRoute { target, detail } => {
                write!(f, "no route towards id {target}: {detail}")
            }
            Error::IdTaken { id, holder } => write!(
                f,
                "id {id} is already taken by {holder}: choose another address or id, or more bits"
            ),
            Error::Config(message) => f.write_str(message),
            Error::Listen(source) => write!(f, "cannot listen: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreachable { source, .. } | Error::Listen(source) => Some(source),
            _ => None,
        }
    }
}
