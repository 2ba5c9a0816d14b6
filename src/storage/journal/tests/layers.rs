//! Each speed layer of the journal, on and off: group commit (one fsync for every
//! line written before it) and pre-zeroing (lines written over zeros, so that the
//! file's size does not change). The hand-written CSV is compared with the `csv`
//! crate byte for byte in src/storage/line.rs; here a journal written either way reads
//! back the same.

use super::*;

// # Group commit

/// Eight threads commit, and wait only once all eight lines are written (a barrier),
/// fifty rounds: 400 commits. Returns how many fsyncs they cost. With group commit, one
/// fsync covers each round of eight (see `group_commit`'s
/// `lines_written_before_an_fsync_share_it`); without it, each commit runs its own.
fn rounds_of_eight_commits(layers: Layers) -> u64 {
    // On a real disk: without group commit, a waiter whose line another's fsync has
    // covered already runs none, and on a tmpfs every fsync ends at once.
    let dir = crate::storage::layers::tempdir_on_disk();
    let (journal, _) = open(dir.path(), layers).unwrap();
    let journal = std::sync::Arc::new(journal);
    let all_written = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (journal, all_written) = (journal.clone(), all_written.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let ticket =
                        commit(&journal, vec![put("t", &[&format!("{t}-{i}"), "x"])]).unwrap();
                    all_written.wait();
                    journal.wait_durable(ticket).unwrap();
                    assert!(journal.is_durable(ticket));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let fsyncs = journal.fsync_count();
    drop(journal);
    let (_, entries) = open(dir.path(), layers).unwrap();
    assert_eq!(entries.len(), 400);
    fsyncs
}

#[test]
fn commits_written_before_an_fsync_share_it() {
    let fsyncs = rounds_of_eight_commits(Layers::FAST);
    assert!(fsyncs <= 50, "{fsyncs} fsyncs for 50 rounds of 8 commits");
}

/// The check above fails with group commit off: every commit runs its own fsync.
#[test]
fn without_group_commit_each_commit_runs_its_own_fsync() {
    let layers = Layers {
        group_commit: false,
        ..Layers::FAST
    };
    let fsyncs = rounds_of_eight_commits(layers);
    assert!(
        fsyncs > 50,
        "{fsyncs} fsyncs: shared, with group commit off"
    );
    assert!(fsyncs <= 400, "{fsyncs} fsyncs: more than one per commit");
}

// # Pre-zeroing

#[test]
fn lines_are_written_in_place_into_zero_padding() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), Layers::FAST).unwrap();
    assert_eq!(file_size(dir.path()), HEADER.len() as u64, "no padding yet");
    commit(&journal, vec![put("t", &["0", "zero"])]).unwrap();
    assert_eq!(
        file_size(dir.path()),
        CHUNK,
        "the first line grew one chunk"
    );
    // While lines fit, the size never changes: they are written over the zeros.
    for i in 1..200 {
        commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
        assert_eq!(file_size(dir.path()), CHUNK, "line {i} changed the size");
    }
    let bytes = fs::read(dir.path().join("journal.csv")).unwrap();
    let len = journal.len_bytes() as usize;
    assert_eq!(bytes[len - 1], b'\n');
    assert!(bytes[len..].iter().all(|&b| b == 0), "only zeros after it");
    // A line that does not fit (here, longer than a chunk) grows the file to a
    // whole number of chunks, with room after it.
    let long = put("t", &["big", &"z".repeat(CHUNK as usize)]);
    commit(&journal, vec![long.clone()]).unwrap();
    let size = file_size(dir.path());
    assert_eq!(size % CHUNK, 0, "{size}");
    assert!(size > journal.len_bytes() && size - journal.len_bytes() < CHUNK);
    drop(journal);
    let (_, entries) = open(dir.path(), Layers::FAST).unwrap();
    assert_eq!(entries.len(), 201);
    assert_eq!(entries[200].changes, [long]);
}

#[test]
fn kept_room_is_zeroed_at_once_and_again_after_each_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), Layers::FAST).unwrap();
    journal.keep_room(3 * CHUNK);
    let size = file_size(dir.path());
    assert!(size >= HEADER.len() as u64 + 3 * CHUNK, "{size}");
    for i in 0..100 {
        commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
    }
    assert_eq!(file_size(dir.path()), size, "the lines went into the room");
    journal.rotate().unwrap();
    journal.drop_old().unwrap();
    assert_eq!(journal.len_bytes(), HEADER.len() as u64);
    assert!(file_size(dir.path()) >= HEADER.len() as u64 + 3 * CHUNK);
    let bytes = fs::read(dir.path().join("journal.csv")).unwrap();
    assert!(bytes[HEADER.len()..].iter().all(|&b| b == 0), "zeros only");
}

#[test]
fn the_padding_doubles_as_the_journal_grows() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), Layers::FAST).unwrap();
    let mut sizes = Vec::new();
    // 20 lines of 300 KiB: 6 MiB of journal.
    for i in 0..20 {
        let line = put("t", &[&i.to_string(), &"d".repeat(300 * 1024)]);
        commit(&journal, vec![line]).unwrap();
        let size = file_size(dir.path());
        if sizes.last() != Some(&size) {
            sizes.push(size);
        }
    }
    assert_eq!(sizes, [1, 2, 4, 8].map(|mib| mib * CHUNK));
}

#[test]
fn a_padded_journal_is_read_back_whole_and_reopened_without_padding() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), Layers::FAST).unwrap();
    let lines: Vec<Vec<Change>> = (0..3)
        .map(|i| vec![put("t", &[&i.to_string(), "Maçã"])])
        .collect();
    for line in &lines {
        commit(&journal, line.clone()).unwrap();
    }
    let len = journal.len_bytes();
    drop(journal);
    // More padding than one chunk is padding too.
    fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("journal.csv"))
        .unwrap()
        .write_all(&ZEROS)
        .unwrap();
    assert_eq!(file_size(dir.path()), 2 * CHUNK);
    let contents = read(&dir.path().join("journal.csv")).unwrap();
    assert_eq!(
        (contents.good_len, contents.torn),
        (len, 0),
        "nothing is torn"
    );
    let (journal, entries) = open(dir.path(), Layers::FAST).unwrap();
    let changes: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
    assert_eq!(changes, lines);
    // Opened cut back to its last line; the next commit goes right after it.
    assert_eq!((file_size(dir.path()), journal.len_bytes()), (len, len));
    commit(&journal, vec![put("t", &["3", "three"])]).unwrap();
    drop(journal);
    assert_eq!(open(dir.path(), Layers::FAST).unwrap().1.len(), 4);
}

#[test]
fn a_rotation_switches_to_the_file_prepared_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), Layers::FAST).unwrap();
    journal.prepare_next(2 * CHUNK).unwrap();
    let next = dir.path().join(NEXT_JOURNAL);
    let prepared = fs::metadata(&next).unwrap().len();
    assert!(prepared >= HEADER.len() as u64 + 2 * CHUNK, "{prepared}");
    commit(&journal, vec![put("t", &["1", "one"])]).unwrap();
    journal.rotate().unwrap();
    assert!(!next.exists(), "the prepared file became the journal");
    assert_eq!(
        file_size(dir.path()),
        prepared,
        "no zeros written at the rotation"
    );
    let after = put("t", &["2", "two"]);
    let ticket = commit(&journal, vec![after.clone()]).unwrap();
    journal.wait_durable(ticket).unwrap();
    assert_eq!(file_size(dir.path()), prepared, "written in place");
    journal.drop_old().unwrap();
    drop(journal);
    let (_, entries) = open(dir.path(), Layers::FAST).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].changes, [after]);
}

/// Without padding, each line grows the file by exactly its length: the file ends
/// where the lines end, as an append would leave it.
#[test]
fn without_prezeroing_each_line_grows_the_file_by_its_length() {
    let layers = Layers {
        prezero: false,
        ..Layers::FAST
    };
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), layers).unwrap();
    // The room a server keeps, and a next file made ahead: neither happens.
    journal.keep_room(3 * CHUNK);
    journal.prepare_next(2 * CHUNK).unwrap();
    assert!(!dir.path().join(NEXT_JOURNAL).exists(), "no next file made");
    assert_eq!(file_size(dir.path()), HEADER.len() as u64, "no zeros");
    for i in 0..200 {
        commit(&journal, vec![put("t", &[&i.to_string(), "x"])]).unwrap();
        assert_eq!(file_size(dir.path()), journal.len_bytes(), "line {i}");
        assert_eq!(journal.capacity(), journal.len_bytes(), "line {i}");
    }
    // A rotation starts an empty file, and new lines grow it.
    journal.rotate().unwrap();
    journal.drop_old().unwrap();
    assert_eq!(file_size(dir.path()), HEADER.len() as u64);
    let ticket = commit(&journal, vec![put("t", &["after", "y"])]).unwrap();
    journal.wait_durable(ticket).unwrap();
    assert_eq!(file_size(dir.path()), journal.len_bytes());
    drop(journal);
    let (_, entries) = open(dir.path(), layers).unwrap();
    assert_eq!(entries.len(), 1);
}

/// A journal written with padding opens without it (cut back to its lines), and one
/// written without opens with it: the file format is the same either way.
#[test]
fn a_journal_reopens_with_the_padding_switched_either_way() {
    let without = Layers {
        prezero: false,
        ..Layers::FAST
    };
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for (i, layers) in [Layers::FAST, without, Layers::FAST, without]
        .into_iter()
        .enumerate()
    {
        let (journal, entries) = open(dir.path(), layers).unwrap();
        let read: Vec<Vec<Change>> = entries.into_iter().map(|e| e.changes).collect();
        assert_eq!(read, expected, "opened the {i}th time");
        assert_eq!(file_size(dir.path()), journal.len_bytes(), "cut back");
        let line = vec![put("t", &[&i.to_string(), "Maçã"])];
        commit(&journal, line.clone()).unwrap();
        expected.push(line);
        assert_eq!(file_size(dir.path()) > journal.len_bytes(), layers.prezero);
    }
}

// # The hand-written CSV

/// The same awkward changes, written by hand and by the `csv` crate, read back alike;
/// and a journal written one way opens the other way.
#[test]
fn a_journal_written_with_either_csv_encoding_reads_back_the_same() {
    let awkward = vec![
        put("products", &["Bola, \"oficial\"\nnova", "9.90", "3"]),
        Change::Delete {
            table: "users".into(),
            key: "a,b".into(),
        },
    ];
    let mut files = Vec::new();
    for csv in [CsvEncoding::Hand, CsvEncoding::Crate] {
        let layers = Layers {
            csv,
            prezero: false,
            ..Layers::FAST
        };
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), layers).unwrap();
        commit(&journal, awkward.clone()).unwrap();
        drop(journal);
        files.push(fs::read(dir.path().join("journal.csv")).unwrap());
        let other = match csv {
            CsvEncoding::Hand => CsvEncoding::Crate,
            CsvEncoding::Crate => CsvEncoding::Hand,
        };
        let (_, entries) = open(
            dir.path(),
            Layers {
                csv: other,
                ..layers
            },
        )
        .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].changes, awkward, "{csv:?}");
    }
    assert_eq!(files[0], files[1], "the same bytes");
}
