//! A reply: zero or more data lines, then exactly one `OK` or `ERR` line.
//!
//! Why this shape: a client can frame any reply without knowing which verb it asked
//! (read lines until one does not start with `* `), which is what seed 003's
//! "end-of-data flag" was trying to do, and what `time.sleep` in the originals was
//! standing in for.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, Write};

use super::frame::{Line, read_line};
use super::token;

/// The error codes of the protocol. The wire name is the upper-case identifier.
///
/// Adding a code: add a variant, its name in [`ErrorCode::as_str`] and
/// [`ErrorCode::ALL`], and a row in docs/PROTOCOL.md.
///
/// A program may meet a code newer than itself (a client built before the server added
/// `THROTTLED`, say): that is [`ErrorCode::Other`], still a refusal with a message,
/// never a broken reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed: wrong number of arguments, a bad number, a bad quote.
    BadRequest,
    /// The verb is not one the server knows.
    UnknownCommand,
    /// The verb needs a logged-in session.
    AuthRequired,
    /// Unknown user or wrong password (the same code for both, on purpose).
    AuthFailed,
    /// Logged in, but not allowed (an admin verb from a customer).
    Forbidden,
    /// The thing named does not exist.
    NotFound,
    /// The request clashes with the current state (a name already taken, ...).
    Conflict,
    /// Not enough stock for the order.
    InsufficientStock,
    /// Not enough money in the wallet.
    InsufficientFunds,
    /// The request line is longer than the server accepts; the connection is closed.
    LineTooLong,
    /// The server is at its connection limit; the connection is closed.
    Busy,
    /// The connection was idle for too long; the connection is closed.
    Timeout,
    /// The server failed (for example, the disk refused a write). Nothing was changed.
    Internal,
    /// A file-sharing verb that needs `CONNECT` first (seed 002's USER NOT CONNECTED).
    NotConnected,
    /// `CONNECT` from a user who is already connected (seed 002's USER ALREADY CONNECTED).
    AlreadyConnected,
    /// Over a limit of failed logins or of registrations: refused before any password
    /// was checked; the message says when to retry.
    Throttled,
    /// A well-formed code this program does not know, as it came over the wire: a newer
    /// server's. The server itself only ever sends the codes above.
    Other(String),
}

impl ErrorCode {
    /// Every code this program knows, for documentation and tests.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownCommand,
        ErrorCode::AuthRequired,
        ErrorCode::AuthFailed,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::InsufficientStock,
        ErrorCode::InsufficientFunds,
        ErrorCode::LineTooLong,
        ErrorCode::Busy,
        ErrorCode::Timeout,
        ErrorCode::Internal,
        ErrorCode::NotConnected,
        ErrorCode::AlreadyConnected,
        ErrorCode::Throttled,
    ];

    /// The code as it travels on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(name) => name,
            known => known.known_name(),
        }
    }

    /// The wire name of a code this program knows, as a `'static` string, for records
    /// that keep only such names (the audit log's result column); `OTHER` for an
    /// [`ErrorCode::Other`], which only a reader of replies ever holds.
    pub fn known_name(&self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::UnknownCommand => "UNKNOWN_COMMAND",
            ErrorCode::AuthRequired => "AUTH_REQUIRED",
            ErrorCode::AuthFailed => "AUTH_FAILED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InsufficientStock => "INSUFFICIENT_STOCK",
            ErrorCode::InsufficientFunds => "INSUFFICIENT_FUNDS",
            ErrorCode::LineTooLong => "LINE_TOO_LONG",
            ErrorCode::Busy => "BUSY",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::NotConnected => "NOT_CONNECTED",
            ErrorCode::AlreadyConnected => "ALREADY_CONNECTED",
            ErrorCode::Throttled => "THROTTLED",
            ErrorCode::Other(_) => "OTHER",
        }
    }

    /// The code from its wire name: a known code, or [`ErrorCode::Other`] for any
    /// other well-formed one (an upper-case letter, then upper-case letters, digits
    /// and `_`, at most [`MAX_CODE_LEN`] bytes). `None` if the name is not a code.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        if let Some(known) = ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
        {
            return Some(known);
        }
        let well_formed = name.len() <= MAX_CODE_LEN
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        well_formed.then(|| ErrorCode::Other(name.to_string()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest error code a reader accepts. The longest known one,
/// `INSUFFICIENT_STOCK`, is 18 bytes.
pub const MAX_CODE_LEN: usize = 32;

/// A refusal: a code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// Turns a storage failure into the reply the client gets (`ERR INTERNAL`), and
    /// logs the details, which the client never sees. (The one log line of this module:
    /// every domain turns its failed commits into replies this way.)
    ///
    /// Failures of the journal (I/O, or refused after a failed fsync) were logged by the
    /// journal itself, which tells a run of them in a few lines rather than one per write
    /// (a full disk refuses them all): here they are only a debug line.
    pub fn internal(error: crate::Error) -> Refusal {
        match error {
            crate::Error::Io { .. } | crate::Error::Poisoned => {
                log::debug!("storage failure: {error}")
            }
            _ => log::error!("storage failure: {error}"),
        }
        Refusal::new(
            ErrorCode::Internal,
            "the server could not save the change; nothing was changed",
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

/// One whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The data lines, each already split into tokens.
    pub data: Vec<Vec<String>>,
    /// The final line: `Ok(text)` for `OK text`, `Err(refusal)` for `ERR CODE message`.
    pub status: Result<String, Refusal>,
}

impl Reply {
    /// `OK` with a short text and no data lines.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply {
            data: Vec::new(),
            status: Ok(text.into()),
        }
    }

    /// `OK` after the given data lines.
    pub fn rows(data: Vec<Vec<String>>, text: impl Into<String>) -> Reply {
        Reply {
            data,
            status: Ok(text.into()),
        }
    }

    /// `ERR CODE message`.
    pub fn err(code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply::from(Refusal::new(code, message))
    }

    /// Is this an `OK` reply?
    pub fn is_ok(&self) -> bool {
        self.status.is_ok()
    }

    /// The error code, if this is an `ERR` reply.
    pub fn code(&self) -> Option<ErrorCode> {
        self.status.as_ref().err().map(|r| r.code.clone())
    }

    /// Writes the reply in its wire form, piece by piece (nothing is allocated for a
    /// plain reply). The caller flushes.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        for row in &self.data {
            out.write_all(b"* ")?;
            for (i, field) in row.iter().enumerate() {
                if i > 0 {
                    out.write_all(b" ")?;
                }
                out.write_all(token::quote(field).as_bytes())?;
            }
            out.write_all(b"\n")?;
        }
        match &self.status {
            Ok(t) if t.is_empty() => out.write_all(b"OK")?,
            Ok(t) => {
                out.write_all(b"OK ")?;
                out.write_all(one_line(t).as_bytes())?;
            }
            Err(refusal) => {
                out.write_all(b"ERR ")?;
                out.write_all(refusal.code.as_str().as_bytes())?;
                out.write_all(b" ")?;
                out.write_all(one_line(&refusal.message).as_bytes())?;
            }
        }
        out.write_all(b"\n")
    }

    /// The reply in its wire form, every line ending in `\n`.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail, and every piece written is a `str`.
        let _ = self.write_to(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Reads one reply from a stream. `Ok(None)` means the peer closed before a reply.
    pub fn read_from(input: &mut impl BufRead, max_line: usize) -> io::Result<Option<Reply>> {
        let mut data = Vec::new();
        let mut buf = Vec::new();
        loop {
            let line = match read_line(input, max_line, &mut buf)? {
                Line::Text(line) => line,
                Line::Eof => return Ok(None),
                Line::TooLong => return Err(invalid("a reply line is longer than allowed")),
                Line::NotUtf8 => return Err(invalid("a reply line is not UTF-8")),
            };
            if let Some(rest) = line.strip_prefix("* ") {
                let row = token::split(rest).map_err(|e| invalid(&e.to_string()))?;
                data.push(row);
            } else if line == "*" {
                data.push(Vec::new());
            } else {
                let status = parse_final_line(&line)?;
                return Ok(Some(Reply { data, status }));
            }
        }
    }
}

impl From<Refusal> for Reply {
    fn from(refusal: Refusal) -> Reply {
        Reply {
            data: Vec::new(),
            status: Err(refusal),
        }
    }
}

/// Messages are free text on the final line: keep them on that one line.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// `OK [text]` or `ERR CODE message`.
fn parse_final_line(line: &str) -> io::Result<Result<String, Refusal>> {
    if line == "OK" {
        return Ok(Ok(String::new()));
    }
    if let Some(text) = line.strip_prefix("OK ") {
        return Ok(Ok(text.to_string()));
    }
    if let Some(rest) = line.strip_prefix("ERR ") {
        let (name, message) = rest.split_once(' ').unwrap_or((rest, ""));
        let code = ErrorCode::parse(name)
            .ok_or_else(|| invalid(&format!("unknown error code {name:?}")))?;
        return Ok(Err(Refusal::new(code, message)));
    }
    Err(invalid(&format!("not a reply line: {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_data_lines_then_the_final_line() {
        let reply = Reply::rows(
            vec![
                vec!["Maçã".into(), "2.50".into()],
                vec!["Bola oficial".into()],
            ],
            "2 products",
        );
        assert_eq!(
            reply.encode(),
            "* Maçã 2.50\n* \"Bola oficial\"\nOK 2 products\n"
        );
        assert_eq!(
            Reply::err(ErrorCode::NotFound, "no such\nproduct").encode(),
            "ERR NOT_FOUND no such product\n"
        );
    }

    #[test]
    fn reads_back_what_it_writes() {
        let replies = [
            Reply::ok(""),
            Reply::ok("pong"),
            Reply::rows(vec![vec!["a b".into(), "".into()], vec![]], "done"),
            Reply::err(ErrorCode::InsufficientStock, "only 3 left"),
        ];
        for reply in replies {
            let wire = reply.encode();
            let back = Reply::read_from(&mut wire.as_bytes(), 1024)
                .unwrap()
                .unwrap();
            assert_eq!(back, reply, "wire form: {wire:?}");
        }
    }

    #[test]
    fn every_code_round_trips() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn rejects_garbage() {
        for line in ["HELLO", "ERR nope x", "ERR  x", "ERR 1X x", "ERR NO-PE x"] {
            let wire = format!("{line}\n");
            assert!(
                Reply::read_from(&mut wire.as_bytes(), 64).is_err(),
                "{line:?}"
            );
        }
        let too_long = format!("ERR {} x\n", "X".repeat(MAX_CODE_LEN + 1));
        assert!(Reply::read_from(&mut too_long.as_bytes(), 1024).is_err());
        assert!(Reply::read_from(&mut "".as_bytes(), 64).unwrap().is_none());
    }

    #[test]
    fn a_code_this_program_does_not_know_is_still_a_refusal() {
        let back = Reply::read_from(&mut "ERR SLOW_DOWN2 come back later\n".as_bytes(), 64)
            .unwrap()
            .unwrap();
        let other = ErrorCode::Other("SLOW_DOWN2".into());
        assert_eq!(back, Reply::err(other.clone(), "come back later"));
        assert_eq!(back.code(), Some(other));
        assert_eq!(back.encode(), "ERR SLOW_DOWN2 come back later\n");
        // A known code is never read as Other.
        assert_eq!(ErrorCode::parse("THROTTLED"), Some(ErrorCode::Throttled));
    }
}
