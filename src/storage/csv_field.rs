//! One CSV field, written by hand into a byte buffer.
//!
//! Why by hand: journal lines and snapshots are written for every change and a million
//! rows at a time, and `csv::Writer` wanted a `String` per field. This is the quoting
//! rule the `csv` reader expects (RFC 4180): a field that holds a comma, a quote or a
//! line break goes in quotes, with its quotes doubled. The journal's and the snapshots'
//! tests compare the output byte for byte with `csv::Writer`.

use std::fmt;
use std::io::Write;

/// Must this text be quoted?
fn needs_quotes(text: &[u8]) -> bool {
    text.iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends `text` to `out` as one field (without the separator before it).
pub(super) fn push(out: &mut Vec<u8>, text: &str) {
    if !needs_quotes(text.as_bytes()) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for byte in text.bytes() {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
}

/// Appends `value`, formatted, to `out` as one field, and calls `seen` with its text
/// (unquoted). It is formatted straight into `out`: only a value that needs quotes,
/// which numbers and amounts never do, takes a copy.
pub(super) fn push_display(out: &mut Vec<u8>, value: &dyn fmt::Display, seen: impl FnOnce(&str)) {
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{value}");
    if !needs_quotes(&out[start..]) {
        seen(std::str::from_utf8(&out[start..]).unwrap_or_default());
        return;
    }
    let text = String::from_utf8_lossy(&out[start..]).into_owned();
    out.truncate(start);
    seen(&text);
    push(out, &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_awkward_text_is_quoted() {
        let mut out = Vec::new();
        for text in ["plain", "", "a,b", "say \"hi\"", "two\nlines", "Maçã"] {
            push(&mut out, text);
            out.push(b'|');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain||\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|Maçã|"
        );
    }

    #[test]
    fn a_formatted_value_is_quoted_when_it_needs_to_be() {
        let mut out = b"x,".to_vec();
        let mut seen = String::new();
        push_display(&mut out, &12.5, |t| seen.push_str(t));
        push_display(&mut out, &"a,b", |t| seen.push_str(t));
        assert_eq!(String::from_utf8(out).unwrap(), "x,12.5\"a,b\"");
        assert_eq!(seen, "12.5a,b");
    }
}
