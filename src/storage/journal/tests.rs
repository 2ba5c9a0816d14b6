//! The journal's tests: lines written and read back, torn ends, padding, rotation.
//! The tests that hold every way run with each of [`every_way`]; each speed layer's own
//! tests, on and off, are in `tests/layers.rs`.

mod layers;

use super::recovery::{read, without_padding};
use super::*;
use crate::storage::layers::every_way;
use crate::storage::padding::{CHUNK, ZEROS};
use std::fs;
use std::io::Write;

/// A stand-in for a table guard: it stages changes and records what was applied.
#[derive(Default)]
struct FakeTable {
    staged: Vec<Change>,
    applied: Vec<Change>,
}

impl Staged for FakeTable {
    fn encode_staged(&self, line: &mut LineEncoder<'_>) {
        for change in &self.staged {
            match change {
                Change::Put { table, fields } => line.put(table, fields),
                Change::Delete { table, key } => line.delete(table, key),
            }
        }
    }
    fn apply_staged(&mut self) {
        self.applied.append(&mut self.staged);
    }
    fn discard_staged(&mut self) {
        self.staged.clear();
    }
}

pub(super) fn put(table: &str, fields: &[&str]) -> Change {
    Change::Put {
        table: table.into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
    }
}

/// Opens the journal in `dir` with these speed layers (the tests that hold every way
/// run with each of [`every_way`]).
pub(super) fn open(dir: &Path, layers: Layers) -> Result<(Journal, Vec<JournalEntry>)> {
    Journal::open_with(dir, layers)
}

pub(super) fn commit(journal: &Journal, changes: Vec<Change>) -> Result<Ticket> {
    let mut table = FakeTable {
        staged: changes,
        ..FakeTable::default()
    };
    journal.commit(&mut [&mut table])
}

#[test]
fn committed_lines_are_read_back_in_order() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, entries) = open(dir.path(), layers).unwrap();
        assert!(entries.is_empty());
        let awkward = put("products", &["Bola, \"oficial\"\nnova", "9.90", "3"]);
        let delete = Change::Delete {
            table: "users".into(),
            key: "bob".into(),
        };
        let t1 = commit(
            &journal,
            vec![awkward.clone(), put("orders", &["1", "alice"])],
        )
        .unwrap();
        let t2 = commit(&journal, vec![delete.clone()]).unwrap();
        assert!(t2 > t1);
        // Longer than the CSV writer's buffer, with quotes to escape across its end.
        let long = put("files", &["x", &"ab\"c,".repeat(400)]);
        let t3 = commit(&journal, vec![long.clone()]).unwrap();
        journal.wait_durable(t3).unwrap();
        drop(journal);
        let (_, entries) = open(dir.path(), layers).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(
            changes,
            [
                vec![awkward, put("orders", &["1", "alice"])],
                vec![delete],
                vec![long]
            ]
        );
    }
}

#[test]
fn a_torn_last_line_is_dropped_and_the_file_repaired() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        commit(&journal, vec![put("t", &["1", "one"])]).unwrap();
        commit(&journal, vec![put("t", &["2", "two"])]).unwrap();
        drop(journal);
        let path = dir.path().join("journal.csv");
        let full = without_padding(&fs::read(&path).unwrap()).to_vec();
        // Cut the last line at every possible point: each must recover to one entry.
        // A crash during the `pwrite` leaves the start of the line followed by the
        // padding's zeros; a file cut short has nothing after it: try both.
        let last_start = full[..full.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap()
            + 1;
        for padding in [0, 4096] {
            for cut in last_start..full.len() {
                fs::write(&path, [&full[..cut], &ZEROS[..padding]].concat()).unwrap();
                // Only the torn line is dropped (and warned about), not the zeros.
                assert_eq!(read(&path).unwrap().torn, (cut - last_start) as u64);
                let (journal, entries) = open(dir.path(), layers).unwrap();
                assert_eq!(entries.len(), 1, "cut at {cut}, {padding} zeros");
                assert_eq!(file_size(dir.path()), last_start as u64, "cut back");
                // The file was repaired: a new commit starts on a fresh line.
                commit(&journal, vec![put("t", &["3", "three"])]).unwrap();
                drop(journal);
                let (_, entries) = open(dir.path(), layers).unwrap();
                assert_eq!(entries.len(), 2, "cut at {cut}, {padding} zeros");
            }
        }
    }
}

#[test]
fn zeros_inside_the_lines_end_the_journal_there() {
    for layers in every_way() {
        // After a power cut: lines 1 and 2 synced; of the unsynced pages after them,
        // the first never reached the disk (zeros) but a later one did (a whole line).
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        for i in 1..=4 {
            commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
        }
        let kept = journal.len_bytes();
        drop(journal);
        let path = dir.path().join("journal.csv");
        let mut bytes = fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let line3 = text.match_indices('\n').nth(2).unwrap().0 + 1;
        let line4 = text.match_indices('\n').nth(3).unwrap().0 + 1;
        bytes[line3..line4 - 3].fill(0);
        fs::write(&path, &bytes).unwrap();

        let contents = read(&path).unwrap();
        assert_eq!(contents.entries.len(), 2, "the lines before the gap");
        assert_eq!(contents.good_len as usize, line3);
        assert!(contents.torn > 0 && contents.good_len + contents.torn <= kept);
        let (_, entries) = open(dir.path(), layers).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            file_size(dir.path()),
            line3 as u64,
            "cut back to the good lines"
        );
    }
}

#[test]
fn damage_before_the_last_line_refuses_to_load() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        commit(&journal, vec![put("t", &["1", "one"])]).unwrap();
        commit(&journal, vec![put("t", &["2", "two"])]).unwrap();
        drop(journal);
        let path = dir.path().join("journal.csv");
        let text = fs::read_to_string(&path).unwrap().replace("one", "uno");
        // The damaged line is followed by a good one (then, with padding, by zeros).
        assert_eq!(
            text.ends_with('\0'),
            layers.prezero,
            "padded only with padding"
        );
        fs::write(&path, text).unwrap();
        let error = open(dir.path(), layers).err().unwrap().to_string();
        assert!(
            error.contains("line 2") && error.contains("checksum"),
            "{error}"
        );
    }
}

#[test]
fn a_failed_write_applies_nothing_and_leaves_no_trace() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.csv");
        let (journal, _) = open(dir.path(), layers).unwrap();
        let first = put("t", &["1", "one"]);
        commit(&journal, vec![first.clone()]).unwrap();
        let before = journal.len_bytes();
        // The injected failure writes half the line first, as a full disk might.
        journal.fail_next_writes(1);
        let mut table = FakeTable {
            staged: vec![put("t", &["2", &"long ".repeat(100)])],
            ..FakeTable::default()
        };
        assert!(journal.commit(&mut [&mut table]).is_err());
        assert!(table.applied.is_empty() && table.staged.is_empty());
        assert_eq!(journal.len_bytes(), before);
        // Where the half line was, there are zeros again; without padding, the file
        // is cut back to where the line began.
        let bytes = fs::read(&path).unwrap();
        if layers.prezero {
            assert!(
                bytes.len() as u64 > before + 250,
                "the half line was written"
            );
            assert!(bytes[before as usize..].iter().all(|&b| b == 0));
        } else {
            assert_eq!(bytes.len() as u64, before, "the half line was cut off");
        }
        // The next (shorter) lines take its place, with nothing of it after them.
        let (second, third) = (put("t", &["3", "three"]), put("t", &["4", "four"]));
        commit(&journal, vec![second.clone()]).unwrap();
        commit(&journal, vec![third.clone()]).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(without_padding(&bytes).len() as u64, journal.len_bytes());
        drop(journal);
        let (_, entries) = open(dir.path(), layers).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(changes, [vec![first], vec![second], vec![third]]);
    }
}

#[test]
fn refused_writes_are_counted_for_the_log_until_one_succeeds() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        journal.fail_next_writes(500);
        for i in 0..500 {
            assert!(commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).is_err());
        }
        assert_eq!(journal.lock_writer().refused.in_a_row(), 500);
        commit(&journal, vec![put("t", &["ok", "x"])]).unwrap();
        assert_eq!(journal.lock_writer().refused.in_a_row(), 0);
    }
}

/// The size of the journal file, padding included.
pub(super) fn file_size(dir: &Path) -> u64 {
    fs::metadata(dir.join("journal.csv")).unwrap().len()
}

#[test]
fn a_rotation_sets_the_lines_aside_and_new_ones_go_to_a_new_file() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        let before = put("t", &["1", "one"]);
        commit(&journal, vec![before.clone()]).unwrap();
        journal.rotate().unwrap();
        let header = HEADER.len() as u64;
        assert_eq!(journal.len_bytes(), header);
        assert_eq!(file_size(dir.path()), header, "no room kept: no padding");
        let after = put("t", &["2", "two"]);
        let ticket = commit(&journal, vec![after.clone()]).unwrap();
        // Durable in the new file: the group commit fsyncs the file now written to.
        journal.wait_durable(ticket).unwrap();
        assert_eq!(journal.fsync_count(), 1);
        drop(journal);

        // A restart before the checkpoint finished: the old lines, then the new.
        assert!(dir.path().join(OLD_JOURNAL).exists());
        let (journal, entries) = open(dir.path(), layers).unwrap();
        let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(changes, [vec![before], vec![after.clone()]]);

        // A second rotation keeps the unfinished one's lines rather than lose them.
        journal.rotate().unwrap();
        drop(journal);
        assert_eq!(open(dir.path(), layers).unwrap().1.len(), 2);

        // Once the snapshots are written, the old journal goes.
        let (journal, _) = open(dir.path(), layers).unwrap();
        journal.drop_old().unwrap();
        assert!(!dir.path().join(OLD_JOURNAL).exists());
        drop(journal);
        let (_, entries) = open(dir.path(), layers).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].changes, [after]);
    }
}

#[test]
fn concurrent_commits_are_all_durable_with_at_most_one_fsync_each() {
    for layers in every_way() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        let journal = std::sync::Arc::new(journal);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let journal = journal.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let ticket =
                            commit(&journal, vec![put("t", &[&format!("{t}-{i}"), "x"])]).unwrap();
                        journal.wait_durable(ticket).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(journal.fsync_count() <= 400);
        drop(journal);
        let (_, entries) = open(dir.path(), layers).unwrap();
        assert_eq!(entries.len(), 400);
    }
}
