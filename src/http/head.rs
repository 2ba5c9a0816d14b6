//! Reading one HTTP request's head (the request line and the headers), within a size
//! and a time limit.
//!
//! HTTP/1.1 is a line protocol, like the store's: a request line
//! (`GET /api/stats HTTP/1.1`), header lines (`Authorization: Basic ...`), and an empty
//! line. What makes a server safe is the same as for the store's lines: a bound on how
//! many bytes it will hold for one request ([`HeadLimits::max_bytes`], else `413`), and a
//! deadline for the whole head once the connection is open ([`HeadLimits::time`], else
//! `408`), so that a client trickling a byte a second (slowloris) cannot hold a thread.
//!
//! The web door serves only `GET` (and `HEAD`) requests, which carry no body: a request
//! that announces one is refused (`413`) rather than read.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How much of a request head the door reads, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// The most bytes a request head may take, request line and headers together.
    pub max_bytes: usize,
    /// The time the whole head has to arrive in, from the connection's start.
    pub time: Duration,
}

/// A request head, read and split into its parts. Names of headers are kept as sent;
/// [`Head::header`] compares them ignoring case, as HTTP says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `GET`, `HEAD`, `POST`...
    pub method: String,
    /// The path, without the query: `/api/products`.
    pub path: String,
    /// The query's `name=value` pairs, in order (`?max_price=2.50`). Values are taken as
    /// sent: none of the door's parameters needs percent-decoding.
    pub query: Vec<(String, String)>,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header of this name (case-insensitive), its value trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter of this name.
    pub fn param(&self, name: &str) -> Option<&str> {
        (self.query.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request head was read. Each has its answer in [`super::door`].
#[derive(Debug)]
pub enum HeadError {
    /// Over [`HeadLimits::max_bytes`]: `413`.
    TooLarge,
    /// Not all there within [`HeadLimits::time`]: `408`.
    TooSlow,
    /// Not HTTP (no request line, a header without a colon, not UTF-8): `400`.
    Malformed(&'static str),
    /// The client closed the connection, or the socket failed: no answer.
    Gone(io::Error),
}

/// Reads a request head from `stream`, `started` being when the connection was
/// accepted. Bytes after the head (a pipelined request) are ignored: the door answers
/// one request per connection.
pub fn read_head(
    stream: &TcpStream,
    started: Instant,
    limits: HeadLimits,
) -> Result<Head, HeadError> {
    let deadline = started + limits.time;
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = end_of_head(&buffer) {
            return parse(&buffer[..end]);
        }
        if buffer.len() > limits.max_bytes {
            return Err(HeadError::TooLarge);
        }
        // Each read may wait only for what is left of the head's time, so the total is
        // bounded however the bytes are spread out.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::TooSlow);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(HeadError::Gone)?;
        // Never more than the limit allows, plus one byte to see that it is over.
        let room = (limits.max_bytes + 1 - buffer.len()).min(chunk.len());
        match (&*stream).read(&mut chunk[..room]) {
            Ok(0) => return Err(HeadError::Gone(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => return Err(HeadError::TooSlow),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeadError::Gone(e)),
        }
    }
}

/// A read that timed out: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Where the head ends (after its empty line), if it has: `\r\n\r\n`, or `\n\n` from a
/// client that sends bare newlines (HTTP asks servers to accept them).
fn end_of_head(buffer: &[u8]) -> Option<usize> {
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buffer.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some((a + 4).min(b + 2)),
        (Some(a), None) => Some(a + 4),
        (None, Some(b)) => Some(b + 2),
        (None, None) => None,
    }
}

/// Splits a complete head into its request line and headers.
pub fn parse(bytes: &[u8]) -> Result<Head, HeadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| HeadError::Malformed("not UTF-8"))?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "a request line is METHOD TARGET VERSION",
        ));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed("only HTTP/1.x is served"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::Malformed("a method is upper-case letters"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err(HeadError::Malformed("a target starts with /"));
    }
    let query = (query.split('&'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), value.to_string())
        })
        .collect();
    let mut headers = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::Malformed("a header is NAME: VALUE"));
        };
        // No space before the colon (HTTP forbids it: it has been used to smuggle
        // requests past proxies that read it differently).
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return Err(HeadError::Malformed("a header name has no spaces"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
        query,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_splits_into_its_parts() {
        let head = parse(b"GET /api/products?max_price=2.50&x HTTP/1.1\r\nHost: a\r\nAUTHORIZATION:  Bearer t \r\n\r\n")
            .unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/api/products");
        assert_eq!(head.param("max_price"), Some("2.50"));
        assert_eq!(head.param("x"), Some(""));
        assert_eq!(head.header("authorization"), Some("Bearer t"));
        assert_eq!(head.header("cookie"), None);
    }

    #[test]
    fn what_is_not_http_is_refused() {
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HeadError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_head_ends_at_its_first_empty_line() {
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(end_of_head(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
    }
}
