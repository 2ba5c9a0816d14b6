//! Writing one journal line: the checksum, then every change's fields, as CSV.
//!
//! A line is written for every transaction, under the tables' write locks, so whatever
//! it costs, every other writer of those tables waits for it. By default the fields go
//! straight into the journal's reused buffer, quoted by hand (`csv_field`, the speed
//! layer that says what it buys), and the checksum is computed on the way. With
//! `--csv crate` ([`CsvEncoding::Crate`]) the line's fields are collected as strings
//! and written by `csv::Writer`: the plain version, and the same bytes (a property test
//! compares the two).

use std::fmt;

use super::csv_field::{self, CsvEncoding};
use super::record::{Fields, Record};

/// FNV-1a's starting value and prime (64 bits).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Separates fields inside the checksum, so that ("ab","c") differs from ("a","bc").
const FIELD_END: u8 = 0x1f;

/// The checksum is written as 16 hexadecimal digits at the start of the line.
const CHECKSUM_DIGITS: usize = 16;

/// FNV-1a over the fields: the checksum at the start of every journal line.
pub(super) fn checksum<'a>(fields: impl IntoIterator<Item = &'a str>) -> u64 {
    fields.into_iter().fold(FNV_OFFSET, add_field)
}

fn add_field(hash: u64, field: &str) -> u64 {
    field.bytes().chain([FIELD_END]).fold(hash, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// One line being written into a buffer; [`LineEncoder::finish`] completes it.
pub struct LineEncoder<'a> {
    out: &'a mut Vec<u8>,
    hash: u64,
    changes: usize,
    /// With [`CsvEncoding::Crate`], the fields so far, for `csv::Writer` to write at
    /// the end; `None` when they go straight into `out`, by hand.
    fields: Option<Vec<String>>,
}

impl<'a> LineEncoder<'a> {
    /// Starts a line in `out` (emptied first): by hand, with room for the checksum,
    /// or collecting the fields for the `csv` crate.
    pub(super) fn start(out: &'a mut Vec<u8>, encoding: CsvEncoding) -> LineEncoder<'a> {
        out.clear();
        let fields = match encoding {
            CsvEncoding::Hand => {
                out.extend_from_slice(&[b'0'; CHECKSUM_DIGITS]);
                None
            }
            CsvEncoding::Crate => Some(Vec::new()),
        };
        LineEncoder {
            out,
            hash: FNV_OFFSET,
            changes: 0,
            fields,
        }
    }

    /// Adds a change that inserts or replaces a whole row: `table,put,<n>,field...`.
    pub fn put<S: AsRef<str>>(&mut self, table: &str, fields: &[S]) {
        self.field(table);
        self.field("put");
        Fields::display(self, &fields.len());
        for field in fields {
            self.field(field.as_ref());
        }
        self.changes += 1;
    }

    /// Adds a change that inserts or replaces a whole row of a table.
    pub fn put_row<R: Record>(&mut self, row: &R) {
        self.field(R::TABLE);
        self.field("put");
        Fields::display(self, &R::COLUMNS.len());
        row.write_fields(self);
        self.changes += 1;
    }

    /// Adds a change that deletes the row with this key: `table,del,1,key`.
    pub fn delete(&mut self, table: &str, key: &str) {
        self.field(table);
        self.field("del");
        self.field("1");
        self.field(key);
        self.changes += 1;
    }

    /// How many changes the line holds so far.
    pub(super) fn changes(&self) -> usize {
        self.changes
    }

    /// Writes the checksum in front and the `\n` at the end.
    pub(super) fn finish(self) {
        let hex = format_hex(self.hash);
        match self.fields {
            None => {
                self.out[..CHECKSUM_DIGITS].copy_from_slice(&hex);
                self.out.push(b'\n');
            }
            Some(fields) => {
                let checksum: &[u8] = &hex;
                let rest = fields.iter().map(String::as_bytes);
                csv_field::write_with_crate(self.out, std::iter::once(checksum).chain(rest));
            }
        }
    }

    fn field(&mut self, text: &str) {
        self.hash = add_field(self.hash, text);
        match &mut self.fields {
            None => {
                self.out.push(b',');
                csv_field::push(self.out, text);
            }
            Some(fields) => fields.push(text.to_string()),
        }
    }
}

impl Fields for LineEncoder<'_> {
    fn text(&mut self, field: &str) {
        self.field(field);
    }

    fn display(&mut self, field: &dyn fmt::Display) {
        if self.fields.is_some() {
            return self.field(&field.to_string());
        }
        self.out.push(b',');
        let mut hash = self.hash;
        csv_field::push_display(self.out, field, |text| hash = add_field(hash, text));
        self.hash = hash;
    }
}

/// `hash` as 16 lowercase hexadecimal digits, as `format!("{:016x}")` writes it.
fn format_hex(hash: u64) -> [u8; CHECKSUM_DIGITS] {
    let mut hex = [0u8; CHECKSUM_DIGITS];
    for (i, digit) in hex.iter_mut().enumerate() {
        let nibble = (hash >> (4 * (CHECKSUM_DIGITS - 1 - i))) & 0xf;
        *digit = b"0123456789abcdef"[nibble as usize];
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same line through `csv::Writer`: the reference for the quoting.
    fn with_csv_crate(changes: &[(&str, Vec<String>)]) -> Vec<u8> {
        let mut fields: Vec<String> = Vec::new();
        for (table, row) in changes {
            fields.extend([table.to_string(), "put".into(), row.len().to_string()]);
            fields.extend(row.iter().cloned());
        }
        let sum = format!("{:016x}", checksum(fields.iter().map(String::as_str)));
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        writer
            .write_record(std::iter::once(&sum).chain(fields.iter()))
            .unwrap();
        writer.into_inner().unwrap()
    }

    fn encoded(changes: &[(&str, Vec<String>)], encoding: CsvEncoding) -> Vec<u8> {
        let mut out = b"left over from the last line".to_vec();
        let mut line = LineEncoder::start(&mut out, encoding);
        for (table, row) in changes {
            line.put(table, row);
        }
        line.finish();
        out
    }

    fn by_hand(changes: &[(&str, Vec<String>)]) -> Vec<u8> {
        encoded(changes, CsvEncoding::Hand)
    }

    #[test]
    fn awkward_fields_are_quoted_as_the_csv_crate_quotes_them() {
        let row: Vec<String> = [
            "plain",
            "",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\r",
            " spaced ",
            "Maçã",
            "\"",
        ]
        .map(String::from)
        .to_vec();
        let changes = [("products", row), ("orders", vec!["1".into()])];
        assert_eq!(
            String::from_utf8(by_hand(&changes)).unwrap(),
            String::from_utf8(with_csv_crate(&changes)).unwrap()
        );
        // And the journal's own plain version (`--csv crate`) writes the same bytes.
        assert_eq!(encoded(&changes, CsvEncoding::Crate), by_hand(&changes));
    }

    #[test]
    fn the_checksum_is_written_as_sixteen_hex_digits() {
        assert_eq!(&format_hex(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&format_hex(0xf), b"000000000000000f");
    }

    #[test]
    fn a_delete_is_a_change_of_one_field() {
        for encoding in [CsvEncoding::Hand, CsvEncoding::Crate] {
            let mut out = Vec::new();
            let mut line = LineEncoder::start(&mut out, encoding);
            line.delete("files", "alice,notes.txt");
            assert_eq!(line.changes(), 1);
            line.finish();
            let sum = checksum(["files", "del", "1", "alice,notes.txt"]);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{sum:016x},files,del,1,\"alice,notes.txt\"\n"),
                "{encoding:?}"
            );
        }
    }

    /// A row with a text field and two formatted ones, one of which needs quotes.
    #[derive(Clone)]
    struct Sample {
        name: String,
        amount: u64,
    }

    struct Awkward;

    impl fmt::Display for Awkward {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("1,5 \"x\"")
        }
    }

    impl Record for Sample {
        const TABLE: &'static str = "samples";
        const COLUMNS: &'static [&'static str] = &["name", "amount", "awkward"];
        type Key = String;
        fn key(&self) -> String {
            self.name.clone()
        }
        fn write_fields(&self, out: &mut dyn Fields) {
            out.text(&self.name);
            out.display(&self.amount);
            out.display(&Awkward);
        }
        fn from_fields(_: &[&str]) -> Result<Sample, crate::storage::RowError> {
            unreachable!("not read back in these tests")
        }
    }

    #[test]
    fn a_row_written_field_by_field_is_the_row_of_its_strings() {
        let row = Sample {
            name: "Maçã, verde".into(),
            amount: 1250,
        };
        let fields = row.to_fields();
        assert_eq!(fields, ["Maçã, verde", "1250", "1,5 \"x\""]);
        for encoding in [CsvEncoding::Hand, CsvEncoding::Crate] {
            let mut direct = Vec::new();
            let mut line = LineEncoder::start(&mut direct, encoding);
            line.put_row(&row);
            line.finish();
            assert_eq!(
                direct,
                by_hand(&[("samples", fields.clone())]),
                "{encoding:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_fields_are_written_as_the_csv_crate_writes_them(
            row in proptest::collection::vec(".{0,12}", 1..8),
            count in 0usize..100_000,
        ) {
            let changes = [("t", row), ("n", vec![count.to_string()])];
            prop_assert_eq!(by_hand(&changes), with_csv_crate(&changes));
            // `--csv crate`, the journal's plain version: byte for byte the same.
            prop_assert_eq!(encoded(&changes, CsvEncoding::Crate), by_hand(&changes));
        }
    }
}
