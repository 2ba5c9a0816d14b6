//! One CSV field, written by hand into a byte buffer.
//!
//! # The plain version, and what this layer buys
//!
//! The plain way to write a CSV line is the `csv` crate's `Writer`: collect the fields
//! as strings, then `write_record`. Journal lines are written for every transaction,
//! under the tables' write locks, and snapshots a million rows at a time, so that
//! costs a `String` per field, and a vector of them per row, while every other writer
//! of those tables waits. Here each field goes straight into a reused byte buffer, with
//! the quoting rule the `csv` reader expects (RFC 4180): a field that holds a comma, a
//! quote or a line break goes in quotes, with its quotes doubled. Rows hand their
//! fields over through a sink ([`Fields`](super::Fields)), numbers and amounts
//! formatted in place, so that no string is made for them either. What that is worth
//! is the `--csv crate` row of the ablation table in docs/BENCHMARKS.md ("What each
//! speed layer buys"), measured in the same run as every layer on.
//!
//! Switch it off with `feira-server --csv crate` ([`CsvEncoding::Crate`]): the journal
//! (src/storage/line.rs) and the snapshots (src/storage/snapshot.rs) then collect each
//! line's fields as strings and write them with `csv::Writer` ([`write_with_crate`]).
//!
//! # Why it stays correct
//!
//! The bytes are the same either way: a property test of the journal's lines
//! (src/storage/line.rs) and the snapshots' tests compare the two byte for byte,
//! awkward fields (commas, quotes, line breaks, `Maçã`) and all, so a file written one
//! way reads back the other. Reading is always the `csv` crate's: only writing is a
//! layer. Two parts stay on with the layer off: the sink (it is how a row gives its
//! fields to either encoder), and the journal's checksum, computed over the fields as
//! the sink hands them over.

use std::fmt;
use std::io::Write;

/// How CSV lines are written: by hand (this file) or by the `csv` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// Field by field into a reused buffer, by hand (the default).
    #[default]
    Hand,
    /// The plain way: the fields as strings, then `csv::Writer::write_record`.
    Crate,
}

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

/// The plain way: appends one CSV record of `fields` to `out`, ended by `\n`, through
/// `csv::Writer` (the number of fields may differ from one record to the next).
pub(super) fn write_with_crate<I, F>(out: &mut Vec<u8>, fields: I)
where
    I: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_writer(out);
    // Writing into a Vec cannot fail, and a flexible writer accepts any field count.
    let _ = writer.write_record(fields);
    let _ = writer.flush();
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
