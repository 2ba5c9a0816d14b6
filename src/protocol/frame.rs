//! Reading one line from a byte stream without trusting its length or its encoding.
//!
//! Why not `BufRead::read_line`: it grows its buffer until it finds `\n`, so a client
//! that never sends one makes the server allocate without bound, and it fails on
//! invalid UTF-8 only after reading everything. This reader stops at a limit and tells
//! the caller precisely what went wrong, so the server can answer `ERR LINE_TOO_LONG`.

use std::io::{self, BufRead};

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` (and without a `\r` before it).
    Text(String),
    /// The stream ended. A partial line before the end is dropped: a client that
    /// disconnects in the middle of a request has not made a request.
    Eof,
    /// The line is longer than the limit. The rest of it is left unread.
    TooLong,
    /// The line is complete but is not UTF-8.
    NotUtf8,
}

/// Reads up to `max` bytes (the line ending not counted) until `\n`.
///
/// `buf` is scratch space that the caller reuses between calls to avoid allocating.
/// I/O errors, including read timeouts, are returned as they are.
pub fn read_line(input: &mut impl BufRead, max: usize, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(end) => {
                buf.extend_from_slice(&available[..end]);
                input.consume(end + 1);
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                if buf.len() > max {
                    return Ok(Line::TooLong);
                }
                return Ok(match std::str::from_utf8(buf) {
                    Ok(text) => Line::Text(text.to_string()),
                    Err(_) => Line::NotUtf8,
                });
            }
            None => {
                let taken = available.len();
                buf.extend_from_slice(available);
                input.consume(taken);
                // +1: the last byte may be the `\r` of a `\r\n` split across reads.
                if buf.len() > max + 1 {
                    return Ok(Line::TooLong);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny buffer so that lines straddle reads.
        let mut reader = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut reader, max, &mut buf).unwrap();
            let done = matches!(line, Line::Eof | Line::TooLong);
            out.push(line);
            if done {
                return out;
            }
        }
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        assert_eq!(
            lines(b"PING\r\nHELP x\n", 100),
            [
                Line::Text("PING".into()),
                Line::Text("HELP x".into()),
                Line::Eof
            ]
        );
    }

    #[test]
    fn a_partial_last_line_is_dropped() {
        assert_eq!(
            lines(b"PING\nORD", 100),
            [Line::Text("PING".into()), Line::Eof]
        );
    }

    #[test]
    fn stops_at_the_limit() {
        assert_eq!(
            lines(b"12345\n", 5),
            [Line::Text("12345".into()), Line::Eof]
        );
        assert_eq!(
            lines(b"12345\r\n", 5),
            [Line::Text("12345".into()), Line::Eof]
        );
        assert_eq!(lines(b"123456\n", 5), [Line::TooLong]);
        assert_eq!(lines(&[b'x'; 1000], 5), [Line::TooLong]);
    }

    #[test]
    fn reports_invalid_utf8_and_carries_on() {
        assert_eq!(
            lines(b"\xff\xfe\nPING\n", 100),
            [Line::NotUtf8, Line::Text("PING".into()), Line::Eof]
        );
    }
}
