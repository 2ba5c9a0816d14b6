//! Bad input gets a clear error in bounded time, and never takes a node down:
//! malformed ids, peers that answer garbage, trickle or never answer, joins through
//! addresses that are not chord nodes.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use feira::chord::{Config, Error, Node, NodeHandle, Peer, Ring};
use feira::protocol::ErrorCode;
use support::wait_until;

/// A 6-bit node, alone: enough to talk to.
fn small_node() -> NodeHandle {
    let mut config = Config::local();
    config.bits = 6;
    config.stabilize_every = Duration::from_millis(50);
    Node::start(config).expect("a node starts")
}

fn ring6() -> Ring {
    Ring::new(6).unwrap()
}

/// A fake peer on 127.0.0.1 that runs `behave` on each connection, until dropped.
struct Fake {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    fn start(behave: fn(TcpStream)) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                // Keep a handle so that a silent fake keeps its connections open.
                held.push(stream.try_clone().unwrap());
                thread::spawn(move || behave(stream));
            }
        });
        Fake {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads request lines and answers each with something that is not a reply.
fn garbage(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    for line in BufReader::new(stream).lines() {
        if line.is_err() || writer.write_all(b"HTTP/1.1 400 Bad Request\r\n").is_err() {
            return;
        }
    }
}

/// Answers every line like the main feira server answers PING: a valid reply with
/// none of the rows a chord node sends.
fn not_chord(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    for line in BufReader::new(stream).lines() {
        if line.is_err() || writer.write_all(b"OK PONG\n").is_err() {
            return;
        }
    }
}

/// Accepts and never says a word.
fn silent(mut stream: TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// Answers with an endless reply, one byte every 20 ms: each read succeeds quickly,
/// only the whole reply takes forever.
fn trickle(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 64];
    let _ = stream.read(&mut buf);
    loop {
        for &b in b"* next 1 127.0.0.1:1\n" {
            if stream.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn join_through(addr: &str, bits: u8, rpc_timeout: Duration) -> Result<NodeHandle, Error> {
    let mut config = Config::local();
    config.bits = bits;
    config.rpc_timeout = rpc_timeout;
    config.join = Some(addr.to_string());
    Node::start(config)
}

#[test]
fn malformed_requests_get_err_and_the_connection_carries_on() {
    let node = small_node();
    let mut peer = Peer::connect(node.local_addr(), ring6(), Duration::from_secs(5)).unwrap();
    for (line, code, says) in [
        ("NEXT_HOP 64", ErrorCode::BadRequest, "0 to 63"),
        ("NEXT_HOP -3", ErrorCode::BadRequest, "0 to 63"),
        ("FIND_SUCCESSOR abc", ErrorCode::BadRequest, "0 to 63"),
        (
            "NOTIFY 5 nowhere",
            ErrorCode::BadRequest,
            "IP address and port",
        ),
        ("NOTIFY 5", ErrorCode::BadRequest, "missing <addr>"),
        ("GET", ErrorCode::BadRequest, "missing <key>"),
        ("PING now", ErrorCode::BadRequest, "too many arguments"),
        ("LOOKUP \"open", ErrorCode::BadRequest, "never closed"),
        ("FROB 1", ErrorCode::UnknownCommand, "HELP"),
        ("FETCH nothing-here", ErrorCode::NotFound, "nothing-here"),
    ] {
        let reply = peer.call_line(line).unwrap();
        let refusal = reply.status.expect_err(line);
        assert_eq!(refusal.code, code, "{line}: {refusal}");
        assert!(refusal.message.contains(says), "{line}: {refusal}");
    }
    // Bytes that are not UTF-8, on a raw socket.
    let mut raw = TcpStream::connect(node.local_addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"GET \xff\xfe\nPING\n").unwrap();
    let mut reader = BufReader::new(raw);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("ERR BAD_REQUEST"), "{first}");
    // The same connections still work.
    let mut second = String::new();
    reader.read_line(&mut second).unwrap();
    assert!(second.starts_with("* node "), "{second}");
    assert!(peer.ping().is_ok());
    node.shutdown();
}

#[test]
fn a_request_line_that_is_too_long_is_refused_and_closed() {
    let node = small_node();
    let mut raw = TcpStream::connect(node.local_addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = b"PUT k ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 20_000));
    line.push(b'\n');
    raw.write_all(&line).unwrap();
    let mut reply = String::new();
    BufReader::new(raw).read_line(&mut reply).unwrap();
    assert!(reply.starts_with("ERR LINE_TOO_LONG"), "{reply}");
    node.shutdown();
}

#[test]
fn a_peer_answering_garbage_is_a_clear_error() {
    for behave in [garbage as fn(TcpStream), not_chord] {
        let fake = Fake::start(behave);
        let mut peer = Peer::connect(fake.addr, ring6(), Duration::from_secs(2)).unwrap();
        let err = peer.ping().unwrap_err();
        assert!(matches!(err, Error::Garbage { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&fake.addr.to_string()), "{text}");
        assert!(text.contains("not speaking the chord protocol"), "{text}");

        let err = join_through(&fake.addr.to_string(), 6, Duration::from_secs(1))
            .err()
            .expect("joining through a non-node fails");
        assert!(matches!(err, Error::Garbage { .. }), "{err:?}");
    }
}

#[test]
fn a_peer_that_never_answers_times_out_in_bounded_time() {
    let fake = Fake::start(silent);
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = Peer::connect(fake.addr, ring6(), timeout)
        .unwrap()
        .next_hop(ring6().id(5).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("did not answer within 300 ms"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // A join waits at most its own budget (ten calls' worth), then says why.
    let start = Instant::now();
    let err = join_through(&fake.addr.to_string(), 6, Duration::from_millis(100))
        .err()
        .expect("joining through a silent peer fails");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_peer_that_trickles_is_cut_off_at_the_deadline() {
    let fake = Fake::start(trickle);
    let start = Instant::now();
    let err = Peer::connect(fake.addr, ring6(), Duration::from_millis(500))
        .unwrap()
        .next_hop(ring6().id(5).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn joining_through_nothing_or_the_wrong_ring_is_refused() {
    // Nothing listens on a port we just released: connection refused, named.
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = join_through(&free.to_string(), 6, Duration::from_secs(1))
        .err()
        .expect("joining through nothing fails");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&free.to_string()), "{err}");

    // Not an address at all.
    let err = join_through("not an address", 6, Duration::from_secs(1))
        .err()
        .expect("joining through a bad address fails");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");

    // A real node on a ring of another size.
    let node = small_node();
    let err = join_through(&node.local_addr().to_string(), 8, Duration::from_secs(1))
        .err()
        .expect("joining a 6-bit ring with 8 bits fails");
    assert!(err.to_string().contains("ring of 6 bits"), "{err}");

    // An id that is already taken.
    let mut config = Config::local();
    config.bits = 6;
    config.id = Some(node.me().id.value());
    config.join = Some(node.local_addr().to_string());
    let err = Node::start(config)
        .err()
        .expect("a duplicate id cannot join");
    assert!(matches!(err, Error::IdTaken { .. }), "{err:?}");

    // A bad configuration never binds anything.
    let mut config = Config::local();
    config.bits = 0;
    assert!(matches!(Node::start(config), Err(Error::Config(_))));
    let mut config = Config::new("0.0.0.0:0".parse().unwrap());
    config.bits = 6;
    assert!(matches!(Node::start(config), Err(Error::Config(_))));
    node.shutdown();
}

/// The maintenance thread blocks for a whole timeout pinging a silent predecessor;
/// meanwhile the node must keep answering, since no lock is held across that call.
/// Then check_predecessor gives up on the silent node and forgets it.
#[test]
fn a_silent_predecessor_blocks_no_one_and_is_forgotten() {
    let fake = Fake::start(silent);
    let mut config = Config::local();
    config.bits = 6;
    config.stabilize_every = Duration::from_millis(20);
    config.rpc_timeout = Duration::from_secs(2);
    let node = Node::start(config).unwrap();
    let mut peer = Peer::connect(node.local_addr(), ring6(), Duration::from_secs(5)).unwrap();

    // Convince the node that the silent fake precedes it.
    let fake_id = ring6().add(node.me().id, 63);
    let reply = peer
        .call_line(&format!("NOTIFY {fake_id} {}", fake.addr))
        .unwrap();
    assert_eq!(reply.status, Ok("accepted".to_string()));

    // For the next second, the maintenance thread is stuck waiting on the fake; every
    // request must still be answered at once.
    let start = Instant::now();
    let mut answered = 0;
    while start.elapsed() < Duration::from_secs(1) {
        let asked = Instant::now();
        peer.fingers().expect("FINGERS answers");
        peer.lookup("Maçã").expect("LOOKUP answers");
        assert!(
            asked.elapsed() < Duration::from_millis(1500),
            "a request waited {:?} behind the maintenance thread",
            asked.elapsed()
        );
        answered += 1;
    }
    assert!(answered > 1);

    // Within a couple of timeouts, the silent predecessor is dropped.
    let dropped = wait_until(Duration::from_secs(15), || {
        peer.get_predecessor().unwrap().is_none()
    });
    assert!(dropped, "the silent predecessor was never dropped");
    node.shutdown();
}
