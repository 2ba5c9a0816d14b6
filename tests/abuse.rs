//! Bad input and abuse over TCP: a clear ERR, nothing lost, the server stays up.
//!
//! Each test starts its own server on port 0 and speaks raw bytes where the typed
//! client would refuse to send them (invalid UTF-8, overlong lines, half a line).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use feira::client::Client;
use feira::protocol::DEFAULT_MAX_LINE;
use support::raw::Raw;
use support::*;

fn pong(server: &TestServer) {
    let mut client = server.client();
    assert_eq!(call(&mut client, "PING").status, Ok("PONG".into()));
}

#[test]
fn a_line_at_the_limit_is_read_and_one_byte_more_is_too_long_then_closed() {
    let server = start_server();
    let mut raw = Raw::connect(server.addr);
    // Exactly the limit: read and answered (the verb is nonsense), connection open.
    let mut line = vec![b'A'; DEFAULT_MAX_LINE];
    line.push(b'\n');
    raw.send(&line);
    assert!(raw.line().starts_with("ERR UNKNOWN_COMMAND"));
    raw.send(b"PING\n");
    assert_eq!(raw.line(), "OK PONG\n");
    // One byte over: LINE_TOO_LONG, then the server closes.
    let mut line = vec![b'A'; DEFAULT_MAX_LINE + 1];
    line.push(b'\n');
    raw.send(&line);
    assert!(raw.line().starts_with("ERR LINE_TOO_LONG"));
    assert!(raw.closed());
    pong(&server);
}

#[test]
fn invalid_utf8_is_a_bad_request_and_the_connection_carries_on() {
    let server = start_server();
    let mut raw = Raw::connect(server.addr);
    raw.send(b"\xff\xfe\xfd\n");
    assert!(raw.line().starts_with("ERR BAD_REQUEST"));
    raw.send(b"PRODUCT \xc3\x28\r\n");
    assert!(raw.line().starts_with("ERR BAD_REQUEST"));
    raw.send(b"PING\r\n");
    assert_eq!(raw.line(), "OK PONG\n");
}

#[test]
fn malformed_requests_get_a_clear_error_and_change_nothing() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let cases = [
        ("FLY me to the moon", "UNKNOWN_COMMAND"),
        ("", "BAD_REQUEST"),
        ("ORDER", "BAD_REQUEST"),
        ("ORDER Banana", "BAD_REQUEST"),
        ("ORDER Banana 1 2", "BAD_REQUEST"),
        ("PING extra", "BAD_REQUEST"),
        ("ORDER Banana x", "BAD_REQUEST"),
        ("ORDER Banana -1", "BAD_REQUEST"),
        ("ORDER Banana 0", "BAD_REQUEST"),
        ("ORDER Banana 1.5", "BAD_REQUEST"),
        ("ORDER Banana 99999999999999999999", "BAD_REQUEST"),
        ("ORDER Banana 18446744073709551616", "BAD_REQUEST"),
        ("ORDER Banana 1e3", "BAD_REQUEST"),
        ("PRODUCTS -1", "BAD_REQUEST"),
        ("PRODUCTS 1.234", "BAD_REQUEST"),
        ("PRODUCTS NaN", "BAD_REQUEST"),
        ("PRODUCTS 99999999999999999999", "BAD_REQUEST"),
        ("ORDER \"Banana 1", "BAD_REQUEST"),
        ("PRODUCT \"Ban\\qana\"", "BAD_REQUEST"),
        ("PRODUCT \"Banana\"x", "BAD_REQUEST"),
        ("RESTOCK Banana 5", "FORBIDDEN"),
        ("ORDER Jaca 1", "NOT_FOUND"),
    ];
    for (line, code) in cases {
        err(&mut alice, line, code);
    }
    assert_eq!(ok(&mut alice, "PRODUCT Banana")[0][2], "500");
    assert!(ok(&mut alice, "ORDERS").is_empty());
}

#[test]
fn a_silent_client_is_closed_by_the_idle_timeout_and_its_thread_freed() {
    let server = start_server_with(|c| c.idle_timeout = Duration::from_millis(300));
    let mut raw = Raw::connect(server.addr);
    assert!(wait_until(Duration::from_secs(5), || server
        .shared
        .counters
        .live()
        == 1));
    let started = Instant::now();
    assert!(raw.line().starts_with("ERR TIMEOUT"));
    assert!(raw.closed());
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(
        wait_until(Duration::from_secs(5), || server.shared.counters.live()
            == 0),
        "the connection's thread ended"
    );
    pong(&server);
}

#[test]
fn a_client_that_leaves_in_the_middle_of_a_line_is_forgotten() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    {
        let mut raw = Raw::connect(server.addr);
        raw.send(b"LOGIN alice alice-pass\nORDER Banana 5");
        assert!(raw.line().starts_with("OK"));
        // Gone without the newline: the half request must not be executed.
    }
    assert!(wait_until(Duration::from_secs(5), || server
        .shared
        .counters
        .live()
        == 1));
    assert_eq!(ok(&mut alice, "PRODUCT Banana")[0][2], "500");
    pong(&server);
}

#[test]
fn connections_beyond_the_limit_get_busy_and_the_others_are_unaffected() {
    let server = start_server_with(|c| c.max_connections = 3);
    let mut clients: Vec<Client> = (0..3).map(|_| server.client()).collect();
    for client in &mut clients {
        assert_eq!(call(client, "PING").status, Ok("PONG".into()));
    }
    for _ in 0..5 {
        let mut raw = Raw::connect(server.addr);
        assert!(raw.line().starts_with("ERR BUSY"));
        assert!(raw.closed());
    }
    // A client that sends its request at once (`echo PING | nc`) still reads BUSY. (The
    // server reads what arrived before it closes, so that no reset destroys the line;
    // whether the request lands before or after the close depends on timing, so this
    // checks the outcome, not the race itself.)
    for _ in 0..5 {
        let mut raw = Raw::connect(server.addr);
        raw.send(b"PING\n");
        assert!(raw.line().starts_with("ERR BUSY"));
    }
    for client in &mut clients {
        assert_eq!(call(client, "PING").status, Ok("PONG".into()));
    }
    assert_eq!(server.shared.counters.live(), 3);
    // A place frees up: the next connection is served.
    drop(clients.pop());
    assert!(wait_until(Duration::from_secs(5), || server
        .shared
        .counters
        .live()
        == 2));
    pong(&server);
}

#[test]
fn awkward_product_names_keep_the_csv_valid_across_a_restart() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    // Control characters (a newline, a tab) are refused at the door: see tests/names.rs.
    let names = [
        "Bola, \"oficial\" nova",
        "Maçã, verde",
        "a\"b",
        "a,b;c",
        "\"quoted\"",
        "back\\slash",
        "李子",
        "'apostrophe",
    ];
    for (i, name) in names.iter().enumerate() {
        let line = feira::protocol::token::join(&["ADD_PRODUCT", name, "1.50", &i.to_string()]);
        ok(&mut admin, &line);
    }
    let server = server.restart();
    let mut admin = server.login(ADMIN);
    for (i, name) in names.iter().enumerate() {
        let line = feira::protocol::token::join(&["PRODUCT", name]);
        assert_eq!(
            ok(&mut admin, &line),
            [[name.to_string(), "1.50".into(), i.to_string()]],
            "{name:?}"
        );
    }
    // The file itself is valid CSV with one record per product.
    let dir = server.stop();
    let mut reader = csv::Reader::from_path(dir.path().join("products.csv")).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 8 + names.len());
    assert!(records.iter().all(|r| r.len() == 3));
}

#[test]
fn wrong_passwords_are_refused_after_three_without_slowing_other_users() {
    let server = start_server();
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut attacker = server.client();
    // Three failures cost a hash each; the fourth attempt is refused before any
    // hashing, right password or not, and says when to retry.
    for _ in 0..3 {
        err(&mut attacker, "LOGIN alice wrong-pass", "AUTH_FAILED");
    }
    let reply = call(&mut attacker, "LOGIN alice alice-pass");
    let refusal = reply.status.expect_err("refused");
    assert_eq!(refusal.code.as_str(), "THROTTLED");
    assert!(refusal.message.ends_with("retry in 8 s"), "{refusal}");
    let wait = server.shared.throttle.login_wait("alice", localhost);
    assert!(wait > Duration::from_secs(7), "{wait:?}");
    // Other names from the same address are not slowed.
    let mut bob = server.client();
    bob.login(BOB.0, BOB.1).unwrap();
    assert_eq!(
        server.shared.throttle.login_wait("bob", localhost),
        Duration::ZERO
    );
}

#[test]
fn slowloris_connections_do_not_delay_a_normal_client_and_are_closed() {
    const TRICKLERS: usize = 200;
    let server = start_server_with(|c| {
        c.line_timeout = Duration::from_secs(1);
        c.max_connections = TRICKLERS + 10;
    });
    let mut slow: Vec<TcpStream> = (0..TRICKLERS)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let mut normal = server.login(ALICE);
    let stop = Arc::new(AtomicBool::new(false));
    // One thread trickles a byte to every slow connection every 100 ms.
    let trickler = {
        let stop = stop.clone();
        let mut streams: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &mut streams {
                    let _ = s.write_all(b"P");
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        let sent = Instant::now();
        assert_eq!(call(&mut normal, "PING").status, Ok("PONG".into()));
        ok(&mut normal, "PRODUCT Banana");
        slowest = slowest.max(sent.elapsed());
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    trickler.join().unwrap();
    // A generous bound for a debug build on a busy two-core machine; make bench
    // measures the release build against 1,000 tricklers (target: 100 ms).
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    // The line timeout closed every trickler; only the normal client is left.
    assert!(
        wait_until(Duration::from_secs(10), || server.shared.counters.live()
            == 1),
        "{} connections still open",
        server.shared.counters.live()
    );
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = String::new();
        let _ = BufReader::new(&*s).read_line(&mut reply);
        assert!(reply.starts_with("ERR TIMEOUT"), "{reply:?}");
    }
}

#[test]
fn hundreds_of_logged_in_connections_held_at_once_are_all_served() {
    // The bounded version of make bench's 10,000 (see docs/BENCHMARKS.md).
    const HELD: usize = 300;
    const HELPERS: usize = 8;
    let server = start_server_with(|c| c.max_connections = HELD + 10);
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(HELPERS));
    let served: usize = (0..HELPERS)
        .map(|t| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut clients = Vec::new();
                for i in (t..HELD).step_by(HELPERS) {
                    let (user, password) = if i % 2 == 0 { ALICE } else { BOB };
                    clients.push(login(addr, (user, password)));
                }
                // Everyone is connected before anyone asks.
                barrier.wait();
                let mut served = 0;
                for client in &mut clients {
                    if client.call_line("WHOAMI").is_ok_and(|r| r.is_ok()) {
                        served += 1;
                    }
                }
                served
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(served, HELD);
}
