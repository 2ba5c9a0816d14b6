//! The crate's error type for start-up and storage failures.
//!
//! Why one type with context: "corrupt file" is useless to an operator; "data/orders.csv
//! line 17: column quantity: cannot read \"x\"" is what they need. Refusals of requests
//! (unknown product, no stock) are *not* errors: they are [`Refusal`](crate::protocol::Refusal)
//! values sent back to the client.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Something went wrong outside a request: loading, saving, binding, configuring.
#[derive(Debug)]
pub enum Error {
    /// An I/O operation on a path failed.
    Io { path: PathBuf, source: io::Error },
    /// A file is damaged: which one, which line, and what is wrong.
    Corrupt {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// The storage refused a write earlier (an fsync failed); the server must restart.
    Poisoned,
    /// Anything else, with a message for people.
    Other(String),
}

/// The crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Corrupt {
                path,
                line,
                message,
            } => write!(f, "{} line {line}: {message}", path.display()),
            Error::Poisoned => write!(
                f,
                "the journal could not be made durable earlier; writes are refused until a restart"
            ),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
