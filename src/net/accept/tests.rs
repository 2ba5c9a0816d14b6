//! The accept loop's tests, on a small echo server: a thread per connection, BUSY
//! past the limit, and a stop that ends the loop and every connection.

use super::*;
use std::io::{BufRead, BufReader};

/// Echoes each line back, after the name of its thread; admits `limit` at once.
///
/// The smallest handler that shows what the loop does: the thread's name in each answer
/// shows which thread served it, and the limit shows the refusal.
struct Echo {
    /// How many connections may be served at once.
    limit: usize,
}

impl Handler for Echo {
    /// Nothing to hold: the loop's own count of open sockets is the limit.
    type Place = ();

    /// Refuses once `limit` connections are open, as a Chord node does.
    fn admit(&self, _conn: &Accepted, open: usize) -> Result<(), String> {
        if open >= self.limit {
            return Err(format!("{open} connections open"));
        }
        Ok(())
    }

    /// Answers every line until the client closes, or `close` shuts the socket down.
    fn serve(&self, conn: &Accepted, _place: &mut ()) {
        // `echo-<id>`, given by the loop: the tests read it back.
        let name = thread::current().name().unwrap_or("?").to_string();
        for line in BufReader::new(&*conn.stream).lines() {
            // An error ends the conversation, as in every server of the crate.
            let Ok(line) = line else { return };
            if (&*conn.stream)
                .write_all(format!("{name} {line}\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    }

    /// The store server's shape of refusal.
    fn busy_line(&self, message: &str) -> String {
        format!("ERR BUSY {message}\n")
    }
}

/// An echo server on a free port, its loop on a thread of its own; returns what a test
/// needs to talk to it and to stop it.
fn start(limit: usize) -> (Arc<StopSwitch>, SocketAddr, JoinHandle<LiveConnections>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let accept = AcceptLoop::new(listener, AcceptOptions::new("echo")).unwrap();
    let (switch, addr) = (accept.stop_switch(), accept.local_addr());
    let thread = thread::spawn(move || accept.run(Arc::new(Echo { limit })));
    (switch, addr, thread)
}

/// Sends a line (if any) and reads one back ("" at the end of the stream).
fn call(mut stream: &TcpStream, line: &str) -> String {
    // Bounded, so that a broken loop fails the test rather than hangs it.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A refused connection may be closed before this arrives: that is the point.
    let _ = stream.write_all(line.as_bytes());
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).unwrap();
    answer
}

/// Two connections, two threads: the second is served while the first is idle.
#[test]
fn each_connection_is_served_on_a_named_thread_of_its_own() {
    let (switch, addr, thread) = start(8);
    let first = TcpStream::connect(addr).unwrap();
    let second = TcpStream::connect(addr).unwrap();
    // The second is answered while the first has not said anything yet.
    assert_eq!(call(&second, "two\n"), "echo-2 two\n");
    assert_eq!(call(&first, "one\n"), "echo-1 one\n");
    assert!(switch.stop());
    assert!(!switch.stop(), "a second stop does nothing");
    thread.join().unwrap().close(Shutdown::Both);
}

/// Past the limit, the BUSY line reaches the client even if its request arrived
/// before the refusal (the reset `turn_away` avoids).
#[test]
fn over_the_limit_a_connection_reads_busy_even_if_it_spoke_first() {
    let (switch, addr, thread) = start(1);
    let served = TcpStream::connect(addr).unwrap();
    assert_eq!(call(&served, "hi\n"), "echo-1 hi\n");
    // Its request is sent at once and never read: that must not reset the BUSY line
    // away. (Whether it lands before or after the close is a race, so this checks
    // the outcome.)
    let extra = TcpStream::connect(addr).unwrap();
    assert_eq!(call(&extra, "hello\n"), "ERR BUSY 1 connections open\n");
    assert_eq!(call(&extra, ""), "", "and it is closed");
    // The first one is still served.
    assert_eq!(call(&served, "again\n"), "echo-1 again\n");
    switch.stop();
    thread.join().unwrap().close(Shutdown::Both);
}

/// The stop switch wakes `accept`, and `close` wakes a thread blocked in `read`.
#[test]
fn stop_wakes_a_blocked_accept_and_close_ends_every_connection() {
    let (switch, addr, thread) = start(8);
    let idle = TcpStream::connect(addr).unwrap();
    // Served, and now blocked reading its next line: only `close` ends its thread.
    assert_eq!(call(&idle, "one\n"), "echo-1 one\n");
    switch.stop();
    // Without the wake-up, the loop would stay in `accept`; without the shutdown,
    // the idle thread would stay in `read`: either way this would never end.
    let (done, ended) = std::sync::mpsc::channel();
    thread::spawn(move || {
        thread.join().unwrap().close(Shutdown::Both);
        let _ = done.send(());
    });
    ended
        .recv_timeout(Duration::from_secs(10))
        .expect("the loop and every connection thread end");
    assert_eq!(
        call(&idle, ""),
        "",
        "its thread ended and closed the socket"
    );
    // And nothing listens any more.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// Where the switch connects, for each kind of bound address.
#[test]
fn wakes_unspecified_addresses_through_loopback() {
    let v4: SocketAddr = "0.0.0.0:7000".parse().unwrap();
    assert_eq!(wake_addr(v4), "127.0.0.1:7000".parse().unwrap());
    let v6: SocketAddr = "[::]:7000".parse().unwrap();
    assert_eq!(wake_addr(v6), "[::1]:7000".parse().unwrap());
    let other: SocketAddr = "10.0.0.5:7000".parse().unwrap();
    assert_eq!(wake_addr(other), other);
}
