//! The demo data (`data/`, never touched by a test: each works on a copy) and the files
//! of a data directory read back.

use std::path::Path;

use tempfile::TempDir;

/// The demo accounts (see data/users.csv and the README).
pub const ADMIN: (&str, &str) = ("admin", "admin-pass");
pub const ALICE: (&str, &str) = ("alice", "alice-pass");
pub const BOB: (&str, &str) = ("bob", "bob-pass");

/// A fresh temporary directory holding a copy of the demo data.
pub fn demo_data_dir() -> TempDir {
    demo_data_dir_in(&std::env::temp_dir())
}

/// A copy of the demo data on the disk that holds `target/` (the project's own disk),
/// for a test whose figures need an fsync that costs what it costs on a real disk:
/// the system's temporary directory is a tmpfs on many machines, where an fsync is
/// free and group commit has nothing to share.
pub fn demo_data_dir_on_disk() -> TempDir {
    demo_data_dir_in(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// A fresh temporary directory under `parent`, holding a copy of the demo data.
fn demo_data_dir_in(parent: &Path) -> TempDir {
    std::fs::create_dir_all(parent).expect("a folder for temporary directories");
    let dir = tempfile::tempdir_in(parent).expect("a temporary directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for entry in std::fs::read_dir(&source).expect("data/ exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "csv") && !path.ends_with("journal.csv") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// The journal of a data directory as text: its lines, without the zero padding after
/// them (the journal pads its file with zeros ahead and writes lines over them;
/// see src/storage/journal.rs).
pub fn journal_text(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("journal.csv")).expect("the journal is text");
    text.trim_end_matches('\0').to_string()
}

/// Every row of a CSV file, the header first. Every row must have as many fields as
/// the header: a row that does not is a broken file, and fails the test.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .records()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}
