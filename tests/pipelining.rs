//! Replies leave in the order of the requests, each once the disk has what it says,
//! also when a client sends many requests before reading any reply and other clients
//! keep the journal's committer busy (so that, on the committer path, most replies are
//! sent by the committer, not by the connection's own thread:
//! src/server/reply_handover.rs).
//!
//! Every test runs on both reply paths, and with the storage's speed layers on and off
//! ([`ways`]): the promise holds whichever is switched on.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use feira::server::{Config, ReplyPath};
use feira::storage::Layers;
use support::*;

/// Changes a test server's config before it starts.
type Adjust = fn(&mut Config);

/// The ways the server runs for these tests, by name: every speed layer on (the
/// committer path sends most replies), the plain reply path, the committer path
/// without group commit (each connection thread runs its own fsync, then the work it
/// handed over), and every layer off (`feira-server --plain`).
fn ways() -> [(&'static str, Adjust); 4] {
    [
        ("every layer on", |_| {}),
        ("--reply-path plain", |config| {
            config.reply_path = ReplyPath::Plain
        }),
        ("--group-commit off", |config| {
            config.storage.group_commit = false
        }),
        ("--plain", |config| {
            config.reply_path = ReplyPath::Plain;
            config.storage = Layers::PLAIN;
        }),
    ]
}

/// Clients that write (an admin topping up bob) until told to stop, so that fsyncs run
/// back to back.
fn busy_clients(server: &TestServer, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<()>> {
    (0..4)
        .map(|_| {
            let mut client = server.login(ADMIN);
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = client
                        .call_line("DEPOSIT bob 0.01")
                        .expect("the server answers");
                    assert!(reply.code().is_none(), "{reply:?}");
                }
            })
        })
        .collect()
}

/// A raw connection logged in as alice, and its reader.
fn raw_alice(server: &TestServer) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    (&stream).write_all(b"LOGIN alice alice-pass\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("OK"), "{line}");
    (stream, reader)
}

/// Reads one reply's final line (`OK ...` or `ERR ...`), returning the data lines too.
fn read_reply(reader: &mut BufReader<TcpStream>) -> (Vec<String>, String) {
    let mut data = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .expect("a reply before the timeout");
        assert!(n > 0, "the connection closed before every reply came");
        let line = line.trim_end().to_string();
        if line.starts_with("OK") || line.starts_with("ERR") {
            return (data, line);
        }
        data.push(line);
    }
}

#[test]
fn pipelined_orders_and_reads_are_answered_in_order() {
    for (way, adjust) in ways() {
        eprintln!("{way}");
        pipelined_orders_and_reads_are_answered_in_order_with(adjust);
    }
}

fn pipelined_orders_and_reads_are_answered_in_order_with(adjust: Adjust) {
    let server = start_server_with(adjust);
    let stop = Arc::new(AtomicBool::new(false));
    let busy = busy_clients(&server, &stop);
    let (stream, mut reader) = raw_alice(&server);
    let stock_before: u64 = ok(&mut server.login(ALICE), "PRODUCT Banana")[0][2]
        .parse()
        .unwrap();

    // 100 x (ORDER, PRODUCT), all sent before a single reply is read.
    const ROUNDS: u64 = 100;
    let mut requests = String::new();
    for _ in 0..ROUNDS {
        requests.push_str("ORDER Banana 1\nPRODUCT Banana\n");
    }
    (&stream).write_all(requests.as_bytes()).unwrap();

    let mut last_order_id = 0u64;
    for round in 1..=ROUNDS {
        let (_, end) = read_reply(&mut reader);
        // "OK order 17: 1 x Banana = 0.75"
        let id: u64 = end
            .strip_prefix("OK order ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("ORDER in round {round}: {end}"));
        assert!(
            id > last_order_id,
            "order ids grow: {id} after {last_order_id}"
        );
        last_order_id = id;
        // The PRODUCT sent right after this ORDER sees it, and no later one of ours:
        // had a reply overtaken another, the stock would not match the round.
        let (product, end) = read_reply(&mut reader);
        assert!(end.starts_with("OK"), "PRODUCT in round {round}: {end}");
        // "* Banana 0.75 497"
        let stock: u64 = product[0].split(' ').nth(3).unwrap().parse().unwrap();
        assert_eq!(stock, stock_before - round, "stock after {round} orders");
    }
    stop.store(true, Ordering::Relaxed);
    for client in busy {
        client.join().unwrap();
    }
}

#[test]
fn replies_still_waiting_for_the_disk_are_sent_before_the_connection_closes() {
    for (way, adjust) in ways() {
        eprintln!("{way}");
        replies_still_waiting_for_the_disk_are_sent_before_the_connection_closes_with(adjust);
    }
}

fn replies_still_waiting_for_the_disk_are_sent_before_the_connection_closes_with(
    adjust: fn(&mut Config),
) {
    let server = start_server_with(adjust);
    let stop = Arc::new(AtomicBool::new(false));
    let busy = busy_clients(&server, &stop);
    let (stream, mut reader) = raw_alice(&server);
    // Send, then close our sending side at once: the server reads end of input while
    // the last replies may still wait for their fsync.
    let orders = 20;
    (&stream)
        .write_all("ORDER Banana 1\n".repeat(orders).as_bytes())
        .unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    for n in 1..=orders {
        let (_, end) = read_reply(&mut reader);
        assert!(end.starts_with("OK order "), "reply {n}: {end}");
    }
    let mut rest = String::new();
    assert_eq!(reader.read_line(&mut rest).unwrap(), 0, "then end of file");
    stop.store(true, Ordering::Relaxed);
    for client in busy {
        client.join().unwrap();
    }
    // Every acknowledged order is in the table.
    let alice_orders = server
        .shared
        .db
        .orders
        .read()
        .values()
        .filter(|o| o.user == "alice")
        .count();
    assert_eq!(alice_orders, orders);
}
