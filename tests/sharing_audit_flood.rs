//! The audit log under a flood of file-sharing requests: a connection that never logs in
//! writes nothing to `audit.csv`, a logged-in one writes a bounded number of short rows,
//! and another user's operations are still written whole.
//!
//! The flood is the one that filled a disk: several connections pipelining `PUBLISH`
//! followed by 8,000 `"` characters (one request line just under the 8 KiB limit),
//! bounded here by a count of lines per connection.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use feira::sharing::audit_limit::{MAX_ARGUMENT_CHARS, RowLimit};
use support::*;

/// Flooding connections, and lines each one pipelines.
const CONNECTIONS: usize = 4;
const LINES: usize = 300;

/// A small budget, so that the bound the test checks is far below the flood.
const LIMIT: RowLimit = RowLimit {
    burst: 16,
    per_second: 8,
};

/// Opens a connection, logs in if asked, pipelines [`LINES`] flood lines while a second
/// thread reads every reply, and closes. Returns when the last reply has arrived.
fn flood(addr: SocketAddr, login: Option<(&'static str, &'static str)>) -> JoinHandle<()> {
    thread::spawn(move || {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut replies = BufReader::new(stream.try_clone().unwrap());
        let mut reply = String::new();
        let mut writer = &stream;
        if let Some((user, password)) = login {
            writeln!(writer, "LOGIN {user} {password}").unwrap();
            replies.read_line(&mut reply).unwrap();
            assert!(reply.starts_with("OK "), "{reply}");
        }
        // Reading in another thread, so that neither side waits for the other's buffers.
        let reader = thread::spawn(move || {
            let mut answered = 0;
            let mut line = String::new();
            while answered < LINES {
                line.clear();
                assert!(replies.read_line(&mut line).unwrap() > 0, "closed early");
                assert!(line.starts_with("ERR "), "{line}");
                answered += 1;
            }
        });
        let line = format!("PUBLISH {}\n", "\"".repeat(8000));
        for _ in 0..LINES {
            writer.write_all(line.as_bytes()).unwrap();
        }
        reader.join().unwrap();
    })
}

/// While the flood runs, bob connects and publishes on a connection of his own.
fn bob_works(server: &TestServer) {
    let mut bob = server.login(BOB);
    ok(&mut bob, "CONNECT 9000");
    ok(&mut bob, "PUBLISH \"Maçã.txt\" \"uma maçã\"");
}

/// bob's rows, as the audit log must have them.
fn bob_rows(rows: &[Vec<String>]) -> Vec<(&str, &str, &str)> {
    rows.iter()
        .filter(|r| r[1] == "bob")
        .map(|r| (r[3].as_str(), r[4].as_str(), r[5].as_str()))
        .collect()
}

const BOB_EXPECTED: [(&str, &str, &str); 3] = [
    ("CONNECT", "9000", "OK"),
    ("PUBLISH", "Maçã.txt \"uma maçã\"", "OK"),
    ("DROP", "connection closed", "OK"),
];

#[test]
fn a_flood_from_connections_that_never_log_in_writes_nothing() {
    let server = start_server_with(|config| config.audit.per_connection = LIMIT);
    let audit = server.data_dir().join("audit.csv");
    let size_before = std::fs::metadata(&audit).unwrap().len();
    let floods: Vec<_> = (0..CONNECTIONS).map(|_| flood(server.addr, None)).collect();
    bob_works(&server);
    for flood in floods {
        flood.join().unwrap();
    }
    let shared = server.shared.clone();
    // Stopping writes every row sent so far (bob's DROP included) and fsyncs.
    let dir = server.stop();
    let rows = read_csv(&dir.path().join("audit.csv"));
    let strangers: Vec<String> = rows[1..]
        .iter()
        .filter(|r| r[1] != "bob")
        .map(|r| r.join(",").chars().take(120).collect())
        .collect();
    assert!(
        strangers.is_empty(),
        "{} rows not by bob: {:?}",
        strangers.len(),
        &strangers[..strangers.len().min(3)]
    );
    assert_eq!(rows.len(), 1 + BOB_EXPECTED.len());
    assert_eq!(bob_rows(&rows), BOB_EXPECTED);
    let grown = std::fs::metadata(&audit).unwrap().len() - size_before;
    assert!(grown < 400, "audit.csv grew by {grown} bytes");
    assert_eq!((shared.audit.dropped(), shared.audit.limited()), (0, 0));
}

#[test]
fn a_logged_in_flood_writes_a_bounded_number_of_short_rows_and_says_how_many_it_left_out() {
    let started = Instant::now();
    let server = start_server_with(|config| config.audit.per_connection = LIMIT);
    let logins = [ALICE, ALICE, ADMIN, ADMIN];
    let floods: Vec<_> = logins
        .iter()
        .map(|&login| flood(server.addr, Some(login)))
        .collect();
    bob_works(&server);
    for flood in floods {
        flood.join().unwrap();
    }
    let shared = server.shared.clone();
    let dir = server.stop();
    let elapsed = started.elapsed().as_secs_f64();
    let rows = read_csv(&dir.path().join("audit.csv"));

    // The real user's operations are all there, and nothing was pushed out.
    assert_eq!(bob_rows(&rows), BOB_EXPECTED);
    assert!(
        !rows.iter().any(|r| r[3] == "AUDIT_DROPPED"),
        "rows were lost"
    );
    assert_eq!(shared.audit.dropped(), 0);

    // Each flood row is short, and says how long the arguments really were.
    let flood_rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[3] == "PUBLISH").collect();
    let flood_rows: Vec<_> = flood_rows.into_iter().filter(|r| r[1] != "bob").collect();
    for row in &flood_rows {
        let (head, tail) = row[4].split_once('…').expect("a cut argument");
        assert_eq!(head.chars().count(), MAX_ARGUMENT_CHARS, "{row:?}");
        assert!(
            tail.starts_with('[') && tail.ends_with(" chars]"),
            "{row:?}"
        );
        assert_eq!(row[5], "BAD_REQUEST");
    }
    // At most the burst, then the rate, per connection.
    let bound =
        CONNECTIONS as f64 * (f64::from(LIMIT.burst) + f64::from(LIMIT.per_second) * elapsed);
    assert!(
        (flood_rows.len() as f64) <= bound,
        "{} flood rows in {elapsed:.1} s; the limit allows {bound:.0}",
        flood_rows.len()
    );
    // Every flood line is either written or counted in an AUDIT_LIMITED row: before the
    // connection's next row written, and at its end (each was over its budget to the
    // last line, so each has one).
    let limited: Vec<&Vec<String>> = rows.iter().filter(|r| r[3] == "AUDIT_LIMITED").collect();
    let mut peers: Vec<&str> = limited.iter().map(|r| r[2].as_str()).collect();
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), CONNECTIONS, "{limited:?}");
    let withheld: u64 = limited
        .iter()
        .map(|r| r[4].split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        flood_rows.len() as u64 + withheld,
        (CONNECTIONS * LINES) as u64
    );
    assert_eq!(shared.audit.limited(), withheld);

    // So the file stays small: a few hundred bytes a row.
    let size = std::fs::metadata(dir.path().join("audit.csv"))
        .unwrap()
        .len();
    assert!(
        size < rows.len() as u64 * 300,
        "audit.csv is {size} bytes for {} rows",
        rows.len()
    );
}
