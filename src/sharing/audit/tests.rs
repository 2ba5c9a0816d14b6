//! The audit log's tests: order, drops, spreadsheet-safe cells, shutdown, the file.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use parking_lot::Mutex;

use super::*;

/// A sink in memory that records which thread wrote, and can be held shut.
#[derive(Clone, Default)]
struct Memory {
    bytes: Arc<Mutex<Vec<u8>>>,
    gate: Arc<Mutex<()>>,
    syncs: Arc<AtomicU64>,
    writers: Arc<Mutex<Vec<String>>>,
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _open = self.gate.lock();
        let name = thread::current().name().unwrap_or("?").to_string();
        self.writers.lock().push(name);
        self.bytes.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Memory {
    fn sync(&mut self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

impl Memory {
    fn rows(&self) -> Vec<Vec<String>> {
        let bytes = self.bytes.lock().clone();
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::now(
        "alice",
        "127.0.0.1:5000",
        "PUBLISH",
        format!("\"file {n}, ç.txt\" \"a description\""),
        "OK",
    )
}

#[test]
fn every_event_is_written_in_order_by_the_audit_thread() {
    let sink = Memory::default();
    let log = AuditLog::start(sink.clone(), AuditOptions::default()).unwrap();
    for n in 0..500 {
        log.record(event(n));
    }
    log.shutdown();
    let rows = sink.rows();
    assert_eq!(rows.len(), 500);
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row[4], format!("\"file {n}, ç.txt\" \"a description\""));
        assert_eq!(&row[1..4], ["alice", "127.0.0.1:5000", "PUBLISH"]);
    }
    assert!(sink.writers.lock().iter().all(|name| name == "audit"));
    assert!(sink.syncs.load(Ordering::Acquire) >= 1, "fsync at shutdown");
    assert_eq!((log.written(), log.dropped()), (500, 0));
}

#[test]
fn a_full_channel_drops_counts_and_marks_the_gap() {
    let sink = Memory::default();
    let options = AuditOptions {
        capacity: 2,
        send_timeout: Duration::from_millis(1),
        max_batch: 16,
        ..AuditOptions::default()
    };
    let log = AuditLog::start(sink.clone(), options).unwrap();
    // Hold the disk shut: the logger can take at most one batch and block on it,
    // and the channel holds two more; every other event must be dropped.
    let shut = sink.gate.lock();
    for n in 0..100 {
        log.record(event(n));
    }
    drop(shut);
    log.shutdown();
    let dropped = log.dropped();
    assert!(dropped >= 100 - 16 - 2, "dropped {dropped}");
    let rows = sink.rows();
    let events = rows.iter().filter(|r| r[3] == "PUBLISH").count() as u64;
    assert_eq!(events + dropped, 100, "every event is written or counted");
    let gaps: u64 = rows
        .iter()
        .filter(|r| r[3] == "AUDIT_DROPPED")
        .map(|r| r[4].split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(gaps, dropped, "the file says how many were lost");
}

#[test]
fn cells_are_written_so_that_a_spreadsheet_runs_no_formula() {
    let sink = Memory::default();
    let log = AuditLog::start(sink.clone(), AuditOptions::default()).unwrap();
    for arguments in [
        "=1+2 x",
        "+x",
        "-1+1",
        "@SUM(A1)",
        "\u{1b}[2J\u{202e}",
        "ok.txt x",
    ] {
        log.record(AuditEvent::now(
            "alice",
            "127.0.0.1:5000",
            "PUBLISH",
            arguments.into(),
            "OK",
        ));
    }
    log.shutdown();
    let written: Vec<String> = sink.rows().into_iter().map(|row| row[4].clone()).collect();
    assert_eq!(
        written,
        [
            "'=1+2 x",
            "'+x",
            "'-1+1",
            "'@SUM(A1)",
            r"\u{1b}[2J\u{202e}",
            "ok.txt x"
        ]
    );
}

#[test]
fn events_after_shutdown_are_counted_not_lost_silently() {
    let sink = Memory::default();
    let log = AuditLog::start(sink.clone(), AuditOptions::default()).unwrap();
    log.shutdown();
    log.shutdown();
    log.record(event(1));
    assert_eq!(log.dropped(), 1);
    assert!(sink.rows().is_empty());
}

#[test]
fn the_file_gets_a_header_once_and_a_torn_row_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), AuditOptions::default()).unwrap();
    log.record(event(1));
    drop(log);
    let path = dir.path().join(FILE_NAME);
    // A crash in the middle of a row.
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"2026-11-27T15:00:00Z,ali").unwrap();
    drop(file);
    let log = AuditLog::open(dir.path(), AuditOptions::default()).unwrap();
    log.record(event(2));
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], COLUMNS.join(","));
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[2], "2026-11-27T15:00:00Z,ali");
    assert!(lines[3].ends_with(",PUBLISH,\"\"\"file 2, ç.txt\"\" \"\"a description\"\"\",OK"));
}
