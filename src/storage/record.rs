//! How one row type maps to the fields of a CSV line.
//!
//! Why a trait: the table, the journal and the snapshot code are written once, for
//! any row type; each domain (users, products, orders, ...) only says what its columns
//! are and how to read them back.

use std::fmt;
use std::str::FromStr;

/// A row that cannot be decoded: which column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError(pub String);

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RowError {}

/// A row of a table.
pub trait Record: Clone + Send + Sync + 'static {
    /// The table's name: the snapshot is `<TABLE>.csv`, and journal lines name it.
    const TABLE: &'static str;
    /// The column names, written as the CSV header.
    const COLUMNS: &'static [&'static str];
    /// The primary key type; rows are kept sorted by it.
    type Key: Ord + Clone + fmt::Display + FromStr + Send + Sync + 'static;

    /// This row's key.
    fn key(&self) -> Self::Key;
    /// Writes the row's fields, one per column, in [`Record::COLUMNS`] order.
    ///
    /// Why a sink rather than returning a `Vec<String>`: rows are written for every
    /// change (into the journal, under the table locks) and a million at a time (into a
    /// snapshot, at a checkpoint). A string per field would be most of the cost of both.
    fn write_fields(&self, out: &mut dyn Fields);
    /// The row's fields as strings: for tests and replies, not for the hot paths.
    fn to_fields(&self) -> Vec<String> {
        let mut fields = Vec::with_capacity(Self::COLUMNS.len());
        self.write_fields(&mut fields);
        fields
    }
    /// The row from its fields. `fields.len()` is checked by the caller.
    fn from_fields(fields: &[&str]) -> Result<Self, RowError>;
}

/// Where a row's fields go, one after the other: a journal line, a snapshot file, or a
/// vector of strings.
pub trait Fields {
    /// The next field.
    fn text(&mut self, field: &str);
    /// The next field, formatted (a number, an amount, a key), without a `String` of
    /// its own where the sink can avoid one.
    fn display(&mut self, field: &dyn fmt::Display);
}

impl Fields for Vec<String> {
    fn text(&mut self, field: &str) {
        self.push(field.to_string());
    }
    fn display(&mut self, field: &dyn fmt::Display) {
        self.push(field.to_string());
    }
}

/// Reads column `index` of a row as any type with `FromStr`, naming it in the error.
pub struct Field;

impl Field {
    pub fn parse<T: FromStr>(
        fields: &[&str],
        columns: &[&str],
        index: usize,
    ) -> Result<T, RowError> {
        let text = fields.get(index).copied().unwrap_or("");
        let name = columns.get(index).copied().unwrap_or("?");
        text.parse()
            .map_err(|_| RowError(format!("column {name}: cannot read {text:?}")))
    }
}
