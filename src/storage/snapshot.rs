//! Reading a table's CSV snapshot, and replacing it atomically.
//!
//! Why the temporary file and rename: writing `products.csv` in place and crashing
//! half-way leaves a torn file (seed 003 had exactly this risk, and its readers could
//! see half-written files). Writing `products.csv.tmp`, fsyncing it, renaming it over
//! the old one and fsyncing the directory means a reader, or a restart, sees either
//! the old file or the new one, never a mixture.
//!
//! That is the plain checkpoint: every table rewritten whole ([`write_atomic`]). A
//! table that only grew since its last checkpoint gets its new rows appended instead,
//! a speed layer of its own ([`append`]; `feira-server --checkpoint rewrite` switches it
//! off).

pub mod append;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::csv_field::{self, CsvEncoding};
use super::record::Fields;
use crate::error::{Error, Result};

/// The path of a table's snapshot in a data directory.
pub fn path(dir: &Path, table: &str) -> PathBuf {
    dir.join(format!("{table}.csv"))
}

/// A snapshot as read back.
#[derive(Debug)]
pub struct Rows {
    /// Each row's fields, with its line number for error messages.
    pub rows: Vec<(u64, Vec<String>)>,
    /// Whether a torn last row (no line end) was dropped.
    pub torn: bool,
}

/// Reads a snapshot. A missing file is an empty table. The header must match `columns`
/// exactly. A last row without its line end is dropped, with a warning: only a crash
/// in the middle of an appending checkpoint ([`append::append`]) leaves one, and the
/// journal still holds that row (the checkpoint that appended it had not finished, so
/// it had not dropped the journal).
pub fn read(path: &Path, columns: &[&str]) -> Result<Rows> {
    let mut bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Rows {
                rows: Vec::new(),
                torn: false,
            });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let torn = !bytes.is_empty() && !bytes.ends_with(b"\n");
    if torn {
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        log::warn!(
            "{}: dropping a torn last row ({} bytes) left by a crash during a checkpoint; the journal holds it",
            path.display(),
            bytes.len() - end
        );
        bytes.truncate(end);
    }
    let corrupt = |line: u64, message: String| Error::Corrupt {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .map_err(|e| corrupt(1, e.to_string()))?
        .clone();
    if header.iter().collect::<Vec<_>>() != columns {
        return Err(corrupt(
            1,
            format!(
                "expected the header {:?}, found {:?}",
                columns.join(","),
                header.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            corrupt(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != columns.len() {
            return Err(corrupt(
                line,
                format!("expected {} fields, found {}", columns.len(), record.len()),
            ));
        }
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(Rows { rows, torn })
}

/// Replaces the snapshot with the rows `write_rows` writes: temporary file, fsync,
/// rename, fsync directory. If that fails (a full disk), the temporary file is deleted
/// and the snapshot is as it was. The fields are quoted by hand (`csv_field`).
pub fn write_atomic(
    dir: &Path,
    table: &str,
    columns: &[&str],
    write_rows: impl FnOnce(&mut SnapshotWriter) -> io::Result<()>,
) -> Result<()> {
    write_atomic_with(CsvEncoding::Hand, dir, table, columns, write_rows)
}

/// [`write_atomic`], with the CSV written as `encoding` says (`--csv`).
pub fn write_atomic_with(
    encoding: CsvEncoding,
    dir: &Path,
    table: &str,
    columns: &[&str],
    write_rows: impl FnOnce(&mut SnapshotWriter) -> io::Result<()>,
) -> Result<()> {
    let final_path = path(dir, table);
    let tmp_path = dir.join(format!("{table}.csv.tmp"));
    let write = || -> io::Result<()> {
        let file = File::create(&tmp_path)?;
        let mut snapshot = SnapshotWriter::new(file, encoding);
        // Always a header row: it names the columns for people, and a csv reader
        // would otherwise mistake a first row for the header.
        snapshot.row(|fields| {
            for column in columns {
                fields.text(column);
            }
        })?;
        write_rows(&mut snapshot)?;
        let file = snapshot.finish()?;
        file.sync_all()?;
        fs::rename(&tmp_path, &final_path)?;
        sync_dir(dir)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp_path);
        Error::io(&final_path, e)
    })
}

/// Writes the rows of one snapshot, one CSV line each, through one reused line buffer.
pub struct SnapshotWriter {
    out: BufWriter<File>,
    line: Vec<u8>,
    encoding: CsvEncoding,
}

impl SnapshotWriter {
    fn new(file: File, encoding: CsvEncoding) -> SnapshotWriter {
        SnapshotWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            line: Vec::with_capacity(256),
            encoding,
        }
    }

    /// Flushes what is buffered and hands back the file, for the caller's fsync.
    fn finish(self) -> io::Result<File> {
        self.out.into_inner().map_err(|e| e.into_error())
    }

    /// Writes one row: `write` gives its fields, in column order. (Every table has two
    /// columns or more, so a row is never the lone empty field that CSV would have to
    /// write as `""`.)
    pub fn row(&mut self, write: impl FnOnce(&mut dyn Fields)) -> io::Result<()> {
        self.line.clear();
        match self.encoding {
            CsvEncoding::Hand => {
                write(&mut LineFields {
                    line: &mut self.line,
                    first: true,
                });
                self.line.push(b'\n');
            }
            // The plain way: the fields as strings, written by `csv::Writer`.
            CsvEncoding::Crate => {
                let mut fields: Vec<String> = Vec::new();
                write(&mut fields);
                csv_field::write_with_crate(&mut self.line, &fields);
            }
        }
        self.out.write_all(&self.line)
    }
}

/// The fields of one snapshot line, comma-separated.
struct LineFields<'a> {
    line: &'a mut Vec<u8>,
    first: bool,
}

impl LineFields<'_> {
    fn separator(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.line.push(b',');
        }
    }
}

impl Fields for LineFields<'_> {
    fn text(&mut self, field: &str) {
        self.separator();
        csv_field::push(self.line, field);
    }

    fn display(&mut self, field: &dyn fmt::Display) {
        self.separator();
        csv_field::push_display(self.line, field, |_| {});
    }
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[&str] = &["name", "price"];

    #[test]
    fn writes_and_reads_back_awkward_text() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            vec!["Maçã".to_string(), "2.50".to_string()],
            vec!["Bola, \"oficial\"\nnova".to_string(), "99.90".to_string()],
        ];
        write_atomic(dir.path(), "products", COLUMNS, |snapshot| {
            for row in &rows {
                snapshot.row(|fields| row.iter().for_each(|field| fields.text(field)))?;
            }
            Ok(())
        })
        .unwrap();
        let back: Vec<Vec<String>> = read(&path(dir.path(), "products"), COLUMNS)
            .unwrap()
            .rows
            .into_iter()
            .map(|(_, fields)| fields)
            .collect();
        assert_eq!(back, rows);
        assert!(!dir.path().join("products.csv.tmp").exists());
    }

    #[test]
    fn rows_are_written_as_the_csv_crate_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            ["plain", ""],
            ["a,b", "say \"hi\""],
            ["two\nlines", "cr\r"],
            [" spaced ", "Maçã"],
        ];
        let mut reference = csv::Writer::from_writer(Vec::new());
        reference.write_record(COLUMNS).unwrap();
        for row in &rows {
            reference.write_record(row).unwrap();
        }
        let reference = String::from_utf8(reference.into_inner().unwrap()).unwrap();
        // By hand (the default) and through the crate (`--csv crate`): the same bytes.
        for encoding in [CsvEncoding::Hand, CsvEncoding::Crate] {
            write_atomic_with(encoding, dir.path(), "t", COLUMNS, |snapshot| {
                for row in &rows {
                    snapshot.row(|fields| {
                        fields.text(row[0]);
                        fields.display(&row[1]);
                    })?;
                }
                Ok(())
            })
            .unwrap();
            let written = fs::read_to_string(path(dir.path(), "t")).unwrap();
            assert_eq!(written, reference, "{encoding:?}");
        }
    }

    #[test]
    fn a_failed_rewrite_or_append_leaves_the_snapshot_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "t");
        fs::write(&file, "name,price\nCaju,1.00\n").unwrap();
        let before = fs::read(&file).unwrap();
        // A disk that fills up after a row: the row reached the file (or its buffer).
        let full = |snapshot: &mut SnapshotWriter| -> io::Result<()> {
            snapshot.row(|fields| {
                fields.text("Pera");
                fields.text("2.00");
            })?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        };
        assert!(write_atomic(dir.path(), "t", COLUMNS, full).is_err());
        assert!(!dir.path().join("t.csv.tmp").exists(), "the temporary file");
        assert_eq!(fs::read(&file).unwrap(), before);
        assert!(append::append(CsvEncoding::Hand, dir.path(), "t", full).is_err());
        assert_eq!(
            fs::read(&file).unwrap(),
            before,
            "the appended row is cut off"
        );
    }

    #[test]
    fn a_missing_file_is_an_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read(&path(dir.path(), "nothing"), COLUMNS)
                .unwrap()
                .rows
                .is_empty()
        );
    }

    #[test]
    fn names_the_line_of_a_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "products");
        fs::write(&file, "name,price\nCaju,1.00\nPera\n").unwrap();
        let error = read(&file, COLUMNS).unwrap_err().to_string();
        assert!(error.contains("line 3"), "{error}");
        fs::write(&file, "nome,preco\n").unwrap();
        assert!(
            read(&file, COLUMNS)
                .unwrap_err()
                .to_string()
                .contains("header")
        );
    }
}
