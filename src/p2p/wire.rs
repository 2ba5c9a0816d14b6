//! The peer protocol: one request line, one header line, then raw bytes.
//!
//! Why a header with a size and a digest: seed 002 sent the file in 1 KiB chunks and
//! took "the other side closed" to mean "done", so a peer that crashed halfway produced
//! a truncated file that looked complete. Announcing the size first tells the receiver
//! how many bytes to expect; announcing the SHA-256 lets it prove that the bytes it got
//! are the bytes the peer meant to send. Only then is the download renamed into place.
//!
//! ```text
//! downloader -> serving peer   GET <file_name>\n
//! serving peer -> downloader   OK <size> <sha256-hex>\n      then exactly <size> bytes
//!                          or  ERR <CODE> <message>\n        then the connection closes
//! ```
//!
//! - `<file_name>` is one token in the syntax of [`crate::protocol::token`]: quoted when
//!   it holds spaces, quotes or control characters, so `"Maçã verde.jpg"` travels whole.
//! - `<size>` is decimal; `<sha256-hex>` is 64 lower-case hex digits.
//! - `<CODE>` is one of [`ErrorCode`]: `BAD_REQUEST`, `UNKNOWN_COMMAND`, `LINE_TOO_LONG`,
//!   `FORBIDDEN`, `NOT_FOUND`, `BUSY`, `TIMEOUT`, `INTERNAL`.
//! - One request per connection: the bytes end where the size says, and then the
//!   serving peer closes. There is no trailer.
//!
//! Everything here is pure (it reads from a `BufRead` at most), so it is tested without
//! sockets.

use std::fmt;
use std::io::{self, BufRead};
use std::str::FromStr;

use crate::protocol::frame::{Line, read_line};
use crate::protocol::token;
use crate::protocol::{ErrorCode, Refusal};

/// The only verb of the peer protocol.
pub const VERB: &str = "GET";

/// The longest request line a serving peer reads, in bytes: a quoted name of
/// [`MAX_NAME_LEN`](super::share::MAX_NAME_LEN) bytes with every character escaped, plus
/// the verb, fits.
pub const MAX_REQUEST_LINE: usize = 4 * 1024;

/// The longest header line a downloader reads, in bytes. An `OK` header is under 100
/// bytes; the rest leaves room for an error message.
pub const MAX_HEADER_LINE: usize = 1024;

/// A SHA-256 digest, written on the wire as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of everything a hasher has seen.
    pub fn from_hasher(hasher: sha2::Sha256) -> Sha256Digest {
        use sha2::Digest;
        Sha256Digest(hasher.finalize().into())
    }

    /// The digest of a byte slice (handy in tests and examples).
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        use sha2::Digest;
        Sha256Digest(sha2::Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

impl FromStr for Sha256Digest {
    type Err = &'static str;

    /// Parses 64 hex digits (either case).
    fn from_str(hex: &str) -> Result<Sha256Digest, Self::Err> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a SHA-256 digest has 64 hex digits");
        }
        let nibble = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        Ok(Sha256Digest(out))
    }
}

/// The request line for a file, with its `\n`.
///
/// ```
/// use feira::p2p::wire::request_line;
/// assert_eq!(request_line("Maçã verde.jpg"), "GET \"Maçã verde.jpg\"\n");
/// ```
pub fn request_line(file_name: &str) -> String {
    format!("{VERB} {}\n", token::quote(file_name))
}

/// The file name from a request line, or the refusal to answer with.
pub fn parse_request(line: &str) -> Result<String, Refusal> {
    let tokens = token::split(line)
        .map_err(|e| Refusal::new(ErrorCode::BadRequest, format!("bad request: {e}")))?;
    match tokens.as_slice() {
        [verb, name] if verb == VERB => Ok(name.clone()),
        [verb, ..] if verb == VERB => Err(Refusal::new(
            ErrorCode::BadRequest,
            "usage: GET <file_name> (quote names with spaces)",
        )),
        [] => Err(Refusal::new(ErrorCode::BadRequest, "empty request")),
        [verb, ..] => Err(Refusal::new(
            ErrorCode::UnknownCommand,
            format!(
                "unknown verb {}: a peer only answers GET",
                token::quote(verb)
            ),
        )),
    }
}

/// Reads one request from a downloader.
///
/// `Ok(None)`: the downloader closed without asking anything. `Ok(Some(Err(_)))`: a
/// request that deserves an `ERR` answer. `Err(_)`: an I/O error, such as a timeout.
pub fn read_request(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Result<String, Refusal>>> {
    Ok(match read_line(input, MAX_REQUEST_LINE, buf)? {
        Line::Text(line) => Some(parse_request(&line)),
        Line::Eof => None,
        Line::TooLong => Some(Err(Refusal::new(
            ErrorCode::LineTooLong,
            format!("a request line is at most {MAX_REQUEST_LINE} bytes"),
        ))),
        Line::NotUtf8 => Some(Err(Refusal::new(
            ErrorCode::BadRequest,
            "the request is not UTF-8",
        ))),
    })
}

/// The serving peer's answer, before any file byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// The file follows: exactly `size` bytes whose SHA-256 is `sha256`.
    Ok { size: u64, sha256: Sha256Digest },
    /// No file follows.
    Err(Refusal),
}

impl Header {
    /// The header in its wire form, with its `\n`.
    pub fn encode(&self) -> String {
        match self {
            Header::Ok { size, sha256 } => format!("OK {size} {sha256}\n"),
            Header::Err(refusal) => {
                // The message is free text on one line: keep it on that line, and short.
                let mut message: String = refusal
                    .message
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let room = MAX_HEADER_LINE - "ERR  \n".len() - refusal.code.as_str().len();
                if message.len() > room {
                    let mut cut = room;
                    while !message.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    message.truncate(cut);
                }
                format!("ERR {} {message}\n", refusal.code)
            }
        }
    }

    /// Parses a header line (without its `\n`).
    pub fn parse(line: &str) -> Result<Header, MalformedHeader> {
        let bad = |reason: &'static str| MalformedHeader {
            line: line.chars().take(80).collect(),
            reason,
        };
        if let Some(rest) = line.strip_prefix("OK ") {
            let (size, digest) = rest
                .split_once(' ')
                .ok_or_else(|| bad("expected OK <size> <sha256>"))?;
            // `u64::from_str` accepts a leading `+`; the protocol does not.
            if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("the size is not a decimal number"));
            }
            let size = size.parse().map_err(|_| bad("the size is too large"))?;
            let sha256 = digest.parse().map_err(bad)?;
            return Ok(Header::Ok { size, sha256 });
        }
        if let Some(rest) = line.strip_prefix("ERR ") {
            let (name, message) = rest.split_once(' ').unwrap_or((rest, ""));
            let code = ErrorCode::parse(name).ok_or_else(|| bad("unknown error code"))?;
            return Ok(Header::Err(Refusal::new(code, message)));
        }
        Err(bad("expected OK or ERR"))
    }

    /// Reads one header from a serving peer.
    pub fn read_from(input: &mut impl BufRead) -> Result<Header, HeaderError> {
        let mut buf = Vec::new();
        match read_line(input, MAX_HEADER_LINE, &mut buf).map_err(HeaderError::Io)? {
            Line::Text(line) => Header::parse(&line).map_err(HeaderError::Malformed),
            Line::Eof => Err(HeaderError::Closed),
            Line::TooLong => Err(HeaderError::Malformed(MalformedHeader {
                line: String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned(),
                reason: "the header line is too long",
            })),
            Line::NotUtf8 => Err(HeaderError::Malformed(MalformedHeader {
                line: String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned(),
                reason: "the header line is not UTF-8",
            })),
        }
    }
}

/// A header line that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedHeader {
    /// The start of the offending line, for the error message.
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for MalformedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (got {:?})", self.reason, self.line)
    }
}

/// Why no header could be read.
#[derive(Debug)]
pub enum HeaderError {
    /// The peer closed the connection without a header.
    Closed,
    /// The peer sent a line that is not a header.
    Malformed(MalformedHeader),
    /// Reading failed (a timeout, a reset).
    Io(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digest() -> Sha256Digest {
        Sha256Digest::of(b"abc")
    }

    #[test]
    fn digests_print_as_lower_case_hex_and_parse_back() {
        // The FIPS 180-2 test vector for "abc".
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest().to_string(), hex);
        assert_eq!(hex.parse::<Sha256Digest>(), Ok(digest()));
        assert_eq!(hex.to_uppercase().parse::<Sha256Digest>(), Ok(digest()));
        assert!("abc".parse::<Sha256Digest>().is_err());
        assert!("zz".repeat(32).parse::<Sha256Digest>().is_err());
        // `u8::from_str_radix` would accept "+f"; the protocol does not.
        assert!("+f".repeat(32).parse::<Sha256Digest>().is_err());
        // 64 bytes but not 64 characters: must not panic on a char boundary.
        assert!("é".repeat(32).parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn requests_quote_names_that_need_it() {
        assert_eq!(request_line("a.txt"), "GET a.txt\n");
        assert_eq!(request_line("a b"), "GET \"a b\"\n");
        assert_eq!(request_line("a\nb"), "GET \"a\\nb\"\n");
        assert_eq!(parse_request("GET \"a\\nb\""), Ok("a\nb".to_string()));
        assert_eq!(parse_request("GET Maçã"), Ok("Maçã".to_string()));
    }

    #[test]
    fn bad_requests_are_refused_with_a_code() {
        let code = |line: &str| parse_request(line).unwrap_err().code;
        assert_eq!(code(""), ErrorCode::BadRequest);
        assert_eq!(code("GET"), ErrorCode::BadRequest);
        assert_eq!(code("GET a b"), ErrorCode::BadRequest);
        assert_eq!(code("GET \"a"), ErrorCode::BadRequest);
        assert_eq!(code("PUT a"), ErrorCode::UnknownCommand);
        assert_eq!(code("get a"), ErrorCode::UnknownCommand);
    }

    #[test]
    fn read_request_bounds_the_line() {
        let mut buf = Vec::new();
        let long = format!("GET {}\n", "a".repeat(MAX_REQUEST_LINE));
        let got = read_request(&mut long.as_bytes(), &mut buf).unwrap();
        assert_eq!(got.unwrap().unwrap_err().code, ErrorCode::LineTooLong);
        let got = read_request(&mut &b"GET \xff\n"[..], &mut buf).unwrap();
        assert_eq!(got.unwrap().unwrap_err().code, ErrorCode::BadRequest);
        assert!(read_request(&mut &b""[..], &mut buf).unwrap().is_none());
    }

    #[test]
    fn headers_round_trip() {
        let headers = [
            Header::Ok {
                size: 0,
                sha256: Sha256Digest::of(b""),
            },
            Header::Ok {
                size: u64::MAX,
                sha256: digest(),
            },
            Header::Err(Refusal::new(ErrorCode::Busy, "2 downloads already running")),
            Header::Err(Refusal::new(ErrorCode::NotFound, "")),
        ];
        for header in headers {
            let wire = header.encode();
            assert_eq!(Header::read_from(&mut wire.as_bytes()).unwrap(), header);
        }
    }

    #[test]
    fn error_headers_stay_on_one_bounded_line() {
        let header = Header::Err(Refusal::new(ErrorCode::Internal, "a\nb".repeat(1000)));
        let wire = header.encode();
        assert!(wire.len() <= MAX_HEADER_LINE + 1);
        assert_eq!(wire.matches('\n').count(), 1);
        assert!(matches!(
            Header::read_from(&mut wire.as_bytes()),
            Ok(Header::Err(r)) if r.code == ErrorCode::Internal
        ));
    }

    #[test]
    fn malformed_headers_are_errors() {
        let hex = digest().to_string();
        for line in [
            "HELLO".to_string(),
            "OK".to_string(),
            "OK 12".to_string(),
            format!("OK +12 {hex}"),
            format!("OK -1 {hex}"),
            format!("OK 99999999999999999999999 {hex}"),
            "OK 12 abcd".to_string(),
            format!("OK 12 {hex} extra"),
            "ERR nope x".to_string(),
        ] {
            assert!(Header::parse(&line).is_err(), "{line:?} should not parse");
        }
        assert!(matches!(
            Header::read_from(&mut &b""[..]),
            Err(HeaderError::Closed)
        ));
        // A well-formed code this program does not know (a newer peer's) is a refusal.
        assert!(matches!(
            Header::parse("ERR NOPE x"),
            Ok(Header::Err(r)) if r.code == ErrorCode::Other("NOPE".into()) && r.message == "x"
        ));
    }

    proptest! {
        /// Any name survives the trip through a request line.
        #[test]
        fn any_name_round_trips(name in any::<String>()) {
            let line = request_line(&name);
            prop_assert!(line.ends_with('\n'));
            prop_assert_eq!(line.matches('\n').count(), 1);
            prop_assert_eq!(parse_request(line.trim_end_matches('\n')), Ok(name));
        }

        /// No header line makes the parser panic.
        #[test]
        fn header_parse_never_panics(line in any::<String>()) {
            let _ = Header::parse(&line);
        }
    }
}
