//! Peer-to-peer downloads between real peers on loopback: what arrives is exactly what
//! was shared, refusals leave nothing behind, and failures say why.
//!
//! Each test starts its peers on 127.0.0.1 port 0 with temporary share directories.
//! Misbehaving peers (one that vanishes, one that lies about the checksum) are played by
//! a plain `TcpListener` in the test that speaks just enough of the protocol.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use feira::p2p::wire::{Header, Sha256Digest};
use feira::p2p::{FetchError, FetchOptions, PeerOptions, PeerServer, fetch, fetch_with};
use feira::protocol::ErrorCode;
use support::{Rng, wait_until};

/// Generous: only reached when something is broken.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One peer: a share directory served on loopback, and a directory to download into.
struct Peer {
    _tmp: tempfile::TempDir,
    share: PathBuf,
    downloads: PathBuf,
    server: PeerServer,
}

impl Peer {
    fn start(max_concurrent: usize) -> Peer {
        Peer::start_with(PeerOptions {
            max_concurrent,
            io_timeout: TIMEOUT,
            ..PeerOptions::default()
        })
    }

    fn start_with(options: PeerOptions) -> Peer {
        let tmp = tempfile::tempdir().unwrap();
        let share = tmp.path().join("share");
        let downloads = tmp.path().join("downloads");
        fs::create_dir(&share).unwrap();
        fs::create_dir(&downloads).unwrap();
        let server = PeerServer::start_with(&share, "127.0.0.1:0", options).unwrap();
        Peer {
            _tmp: tmp,
            share,
            downloads,
            server,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Puts a file in the share directory.
    fn share_file(&self, name: &str, bytes: &[u8]) {
        fs::write(self.share.join(name), bytes).unwrap();
    }
}

/// `len` random bytes, the same on every run.
fn random_bytes(len: usize) -> Vec<u8> {
    Rng::new(len as u64).bytes(len)
}

/// Every name in a directory, hidden ones included (so leftover `.part-` files show).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `condition` holds, failing the test after [`TIMEOUT`].
fn eventually(what: &str, condition: impl FnMut() -> bool) {
    assert!(
        wait_until(TIMEOUT, condition),
        "timed out waiting for {what}"
    );
}

/// A fake peer for one connection: reads the request line, then runs `script`.
fn fake_peer(script: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut request = String::new();
        BufReader::new(&stream).read_line(&mut request).unwrap();
        assert!(request.starts_with("GET "), "{request:?}");
        script(stream);
    });
    (addr, handle)
}

#[test]
fn two_peers_exchange_a_20_mib_random_file_byte_for_byte() {
    let alice = Peer::start(4);
    let bob = Peer::start(4);
    let data = random_bytes(20 * 1024 * 1024);
    bob.share_file("big.bin", &data);
    alice.share_file("Maçã verde.txt", "maçãs\n".as_bytes());

    let dest = alice.downloads.join("big.bin");
    let report = fetch(bob.addr(), "big.bin", &dest, TIMEOUT).unwrap();
    assert_eq!(report.size, data.len() as u64);
    assert_eq!(report.sha256, Sha256Digest::of(&data));
    assert_eq!(report.path, dest);
    assert!(fs::read(&dest).unwrap() == data, "the bytes differ");
    assert_eq!(entries(&alice.downloads), ["big.bin"]);

    // And the other way round, with a UTF-8 name that needs quoting.
    let dest = bob.downloads.join("maçã.txt");
    fetch(alice.addr(), "Maçã verde.txt", &dest, TIMEOUT).unwrap();
    assert_eq!(fs::read_to_string(&dest).unwrap(), "maçãs\n");
}

#[test]
fn empty_all_zero_and_nested_files_arrive_intact() {
    let peer = Peer::start(4);
    peer.share_file("empty", b"");
    peer.share_file("zeros", &vec![0u8; 3 * 1024 * 1024 + 1]);
    fs::create_dir(peer.share.join("sub")).unwrap();
    peer.share_file("sub/binary.dat", &[0, 255, b'\n', b'\r', 0, 10, 13]);

    for (name, local) in [
        ("empty", "empty"),
        ("zeros", "zeros"),
        ("sub/binary.dat", "b.dat"),
    ] {
        let dest = peer.downloads.join(local);
        let report = fetch(peer.addr(), name, &dest, TIMEOUT).unwrap();
        let original = fs::read(peer.share.join(name)).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), original, "{name}");
        assert_eq!(report.sha256, Sha256Digest::of(&original));
    }
    assert_eq!(fs::metadata(peer.downloads.join("empty")).unwrap().len(), 0);
}

#[test]
fn a_download_replaces_an_existing_file_whole() {
    let peer = Peer::start(1);
    peer.share_file("f", b"new contents");
    let dest = peer.downloads.join("f");
    fs::write(&dest, b"old contents, longer than the new ones").unwrap();
    fetch(peer.addr(), "f", &dest, TIMEOUT).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"new contents");
}

#[cfg(unix)] // symlinks
#[test]
fn names_that_escape_the_share_are_refused_and_nothing_is_written() {
    let peer = Peer::start(4);
    // Something worth stealing, right next to the share directory.
    let secret = peer.share.parent().unwrap().join("secret.txt");
    fs::write(&secret, b"the crown jewels").unwrap();
    std::os::unix::fs::symlink(&secret, peer.share.join("innocent.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", peer.share.join("etc")).unwrap();
    peer.share_file(".hidden", b"dotfile");
    peer.share_file("a", b"a");

    let cases = [
        ("../secret.txt", ErrorCode::Forbidden),
        ("a/../../secret.txt", ErrorCode::Forbidden),
        ("/etc/passwd", ErrorCode::Forbidden),
        ("innocent.txt", ErrorCode::Forbidden),
        ("etc/passwd", ErrorCode::Forbidden),
        (".hidden", ErrorCode::Forbidden),
        ("a\nb", ErrorCode::BadRequest),
        ("a\0b", ErrorCode::BadRequest),
        ("", ErrorCode::BadRequest),
        ("missing", ErrorCode::NotFound),
    ];
    for (name, code) in cases {
        let dest = peer.downloads.join("out");
        match fetch(peer.addr(), name, &dest, TIMEOUT) {
            Err(e @ FetchError::Refused { .. }) => {
                assert_eq!(e.code(), Some(code), "{name:?}: {e}")
            }
            other => panic!("{name:?} should be refused, got {other:?}"),
        }
        assert!(
            entries(&peer.downloads).is_empty(),
            "{name:?} left files behind"
        );
    }
}

#[test]
fn malformed_requests_get_an_error_line() {
    let peer = Peer::start(1);
    peer.share_file("a", b"a");
    let ask = |request: &[u8]| -> Header {
        let mut stream = TcpStream::connect(peer.addr()).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(request).unwrap();
        Header::read_from(&mut BufReader::new(&stream)).unwrap()
    };
    let code = |request: &[u8]| match ask(request) {
        Header::Err(refusal) => refusal.code,
        ok => panic!("{request:?} was answered {ok:?}"),
    };
    assert_eq!(code(b"PUT a\n"), ErrorCode::UnknownCommand);
    assert_eq!(code(b"GET\n"), ErrorCode::BadRequest);
    assert_eq!(code(b"GET \"a\n"), ErrorCode::BadRequest);
    assert_eq!(code(b"GET a\0b\n"), ErrorCode::BadRequest);
    assert_eq!(code(b"GET \xff\n"), ErrorCode::BadRequest);
    // Far over the limit, and more than the socket buffers hold: the peer stops reading
    // at the limit, yet the client can finish writing and still read the answer (the
    // peer drains the rest before closing: see `refuse` in src/p2p/server.rs).
    let mut long = b"GET ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 16 * 1024 * 1024));
    long.push(b'\n');
    assert_eq!(code(&long), ErrorCode::LineTooLong);
    // The peer is still serving.
    assert!(matches!(ask(b"GET a\r\n"), Header::Ok { size: 1, .. }));
}

#[test]
fn a_peer_that_vanishes_mid_transfer_leaves_no_partial_file() {
    let data = random_bytes(1024 * 1024);
    let announced = Header::Ok {
        size: data.len() as u64,
        sha256: Sha256Digest::of(&data),
    };
    let (addr, fake) = fake_peer(move |mut stream| {
        stream.write_all(announced.encode().as_bytes()).unwrap();
        stream.write_all(&data[..300_000]).unwrap();
        // Dropping the stream closes the connection: the peer "vanishes".
    });
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("file.bin");
    fs::write(&dest, b"an older download, which must survive").unwrap();

    let err = fetch(addr, "file.bin", &dest, TIMEOUT).unwrap_err();
    fake.join().unwrap();
    assert!(
        matches!(
            err,
            FetchError::Truncated {
                received: 300_000,
                expected: 1_048_576,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("after 300000 of 1048576 bytes") && message.contains("nothing was saved"),
        "{message}"
    );
    assert_eq!(entries(tmp.path()), ["file.bin"]);
    assert_eq!(
        fs::read(&dest).unwrap(),
        b"an older download, which must survive"
    );
}

#[test]
fn a_wrong_checksum_leaves_no_file() {
    let data = random_bytes(100_000);
    let lie = Header::Ok {
        size: data.len() as u64,
        sha256: Sha256Digest::of(b"something else"),
    };
    let (addr, fake) = fake_peer(move |mut stream| {
        stream.write_all(lie.encode().as_bytes()).unwrap();
        stream.write_all(&data).unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(addr, "x", tmp.path().join("x"), TIMEOUT).unwrap_err();
    fake.join().unwrap();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn a_peer_that_goes_silent_times_out() {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (addr, fake) = fake_peer(move |mut stream| {
        let header = Header::Ok {
            size: 1000,
            sha256: Sha256Digest::of(&[0; 1000]),
        };
        stream.write_all(header.encode().as_bytes()).unwrap();
        stream.write_all(&[0; 10]).unwrap();
        // Hold the connection open, sending nothing, until the test is done.
        let _ = released.recv();
    });
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(addr, "x", tmp.path().join("x"), Duration::from_millis(200)).unwrap_err();
    release.send(()).unwrap();
    fake.join().unwrap();
    assert!(
        err.to_string().starts_with(&format!(
            "peer {addr} went silent (timed out) after 10 of 1000"
        )),
        "{err}"
    );
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn garbage_instead_of_a_header_is_a_protocol_error() {
    let (addr, fake) = fake_peer(|mut stream| {
        stream.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(addr, "x", tmp.path().join("x"), TIMEOUT).unwrap_err();
    fake.join().unwrap();
    assert!(matches!(err, FetchError::Protocol { .. }), "{err:?}");
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn an_unreachable_peer_is_a_connect_error() {
    // Bind, note the port, close: nothing listens there any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(addr, "x", tmp.path().join("x"), TIMEOUT).unwrap_err();
    assert!(matches!(err, FetchError::Connect { .. }), "{err:?}");
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn several_downloads_run_at_once_from_one_peer() {
    let peer = Peer::start(4);
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("file-{i}.bin"), random_bytes(2 * 1024 * 1024 + i)))
        .collect();
    for (name, data) in &files {
        peer.share_file(name, data);
    }
    let addr = peer.addr();
    let downloads = peer.downloads.clone();
    let threads: Vec<_> = files
        .iter()
        .map(|(name, _)| {
            let (name, dest) = (name.clone(), downloads.join(name));
            thread::spawn(move || fetch(addr, &name, dest, TIMEOUT))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    for (name, data) in &files {
        assert!(
            fs::read(peer.downloads.join(name)).unwrap() == *data,
            "{name}"
        );
    }
    eventually("the slots to be given back", || {
        peer.server.active_transfers() == 0
    });
}

/// Starts a download of `name` and reads only its header, so the serving peer stays
/// blocked sending a file larger than the socket buffers: its slot stays taken.
fn hold_a_download(addr: SocketAddr, name: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
        .write_all(feira::p2p::wire::request_line(name).as_bytes())
        .unwrap();
    // Read the header byte by byte, so that no file byte is consumed with it.
    let mut line = Vec::new();
    let mut byte = [0u8];
    while byte[0] != b'\n' {
        stream.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    assert!(
        line.starts_with(b"OK "),
        "{:?}",
        String::from_utf8_lossy(&line)
    );
    stream
}

/// A sparse file of 64 MiB: more than loopback can buffer, and free to create.
fn share_a_large_file(peer: &Peer, name: &str) {
    let file = fs::File::create(peer.share.join(name)).unwrap();
    file.set_len(64 * 1024 * 1024).unwrap();
}

#[test]
fn past_the_limit_a_peer_answers_busy_and_then_frees_the_slot() {
    let peer = Peer::start(1);
    share_a_large_file(&peer, "large.bin");
    peer.share_file("small.txt", b"small");

    let holder = hold_a_download(peer.addr(), "large.bin");
    assert_eq!(peer.server.active_transfers(), 1);

    let dest = peer.downloads.join("small.txt");
    let err = fetch(peer.addr(), "small.txt", &dest, TIMEOUT).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Busy), "{err}");
    assert!(entries(&peer.downloads).is_empty());

    // The first downloader gives up; its slot comes back.
    drop(holder);
    eventually("the slot to be given back", || {
        peer.server.active_transfers() == 0
    });
    fetch(peer.addr(), "small.txt", &dest, TIMEOUT).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"small");
}

#[test]
fn shutdown_cuts_downloads_in_progress_and_stops_listening() {
    let peer = Peer::start(2);
    share_a_large_file(&peer, "large.bin");
    let addr = peer.addr();
    let mut holder = hold_a_download(addr, "large.bin");

    // Returns only when every thread of the peer has ended.
    peer.server.shutdown();

    let mut received = 0usize;
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        match holder.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(received < 64 * 1024 * 1024, "the download was not cut");
    assert!(
        TcpStream::connect_timeout(&addr, TIMEOUT).is_err(),
        "still listening"
    );
}

/// Connects and sends a request line one byte at a time (`GET aaaa...`, never ending),
/// a byte every 50 ms, until the peer closes the connection. Returns how long the
/// connection lived and what the peer said. Gives up after 30 s. Connects before it
/// returns, so tricklers started one after the other reach the peer in that order.
fn trickle_a_request(addr: SocketAddr) -> JoinHandle<(Duration, String)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    thread::spawn(move || {
        // The read timeout paces the trickle: one byte, then 50 ms listening.
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        for i in 0.. {
            let byte = *b"GET ".get(i).unwrap_or(&b'a');
            if stream.write_all(&[byte]).is_err() || started.elapsed() > TIMEOUT * 3 {
                break;
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
}

/// Shares a small file and downloads it: it must arrive, in well under 5 s.
fn download_promptly(peer: &Peer) {
    peer.share_file("real.txt", b"a real download");
    let started = Instant::now();
    let dest = peer.downloads.join("real.txt");
    fetch(peer.addr(), "real.txt", &dest, TIMEOUT).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"a real download");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn tricklers_never_hold_a_download_slot_and_are_closed_at_the_request_deadline() {
    const TRICKLERS: usize = 16;
    let request_timeout = Duration::from_secs(2);
    let peer = Peer::start_with(PeerOptions {
        max_concurrent: 4,
        io_timeout: TIMEOUT,
        request_timeout,
        ..PeerOptions::default()
    });
    let tricklers: Vec<_> = (0..TRICKLERS)
        .map(|_| trickle_a_request(peer.addr()))
        .collect();
    eventually("every trickler to be waiting for its request", || {
        peer.server.waiting_connections() == TRICKLERS
    });
    assert_eq!(peer.server.active_transfers(), 0, "a trickler holds a slot");

    // A real download, while sixteen connections trickle: served at once.
    download_promptly(&peer);

    // Each trickler is told TIMEOUT at its deadline and closed (after at most a second
    // of lingering close), however steadily its bytes came.
    for trickler in tricklers {
        let (lived, answer) = trickler.join().unwrap();
        assert!(answer.starts_with("ERR TIMEOUT "), "{answer:?}");
        assert!(lived >= request_timeout, "closed after {lived:?}");
        assert!(
            lived < request_timeout + Duration::from_secs(5),
            "{lived:?}"
        );
    }
    eventually("the waiting places to be given back", || {
        peer.server.waiting_connections() == 0
    });
}

#[test]
fn past_the_waiting_limit_the_oldest_trickler_makes_room_and_a_download_gets_through() {
    const MAX_WAITING: usize = 8;
    const TRICKLERS: usize = 3 * MAX_WAITING;
    let peer = Peer::start_with(PeerOptions {
        max_concurrent: 4,
        io_timeout: TIMEOUT,
        // Far beyond the test: no trickler reaches its deadline.
        request_timeout: TIMEOUT * 6,
        max_waiting: MAX_WAITING,
    });
    let mut oldest: Vec<_> = (0..TRICKLERS)
        .map(|_| trickle_a_request(peer.addr()))
        .collect();
    let newest = oldest.split_off(TRICKLERS - MAX_WAITING);
    let finished = || {
        let all = oldest.iter().chain(&newest);
        all.filter(|t| t.is_finished()).count()
    };
    eventually(
        "the peer to count 8 tricklers and close the 16 others",
        || {
            peer.server.waiting_connections() == MAX_WAITING
                && finished() == TRICKLERS - MAX_WAITING
        },
    );

    // Every waiting place is taken by a trickler, yet a real download is served at
    // once: its connection takes the place of the one that has waited longest.
    download_promptly(&peer);

    // Those closed were the oldest, and so is the one that made room for the download.
    assert!(oldest.iter().all(|t| t.is_finished()));
    eventually("the oldest of the newest tricklers to make room", || {
        newest[0].is_finished()
    });
    assert_eq!(finished(), TRICKLERS - MAX_WAITING + 1);
    // They were closed without an answer, long before their deadline.
    for trickler in oldest {
        let (lived, answer) = trickler.join().unwrap();
        assert_eq!(answer, "", "closed to make room, without an answer");
        assert!(lived < TIMEOUT, "closed after {lived:?}");
    }
    // Shutting the peer down closes the rest.
    peer.server.shutdown();
    for trickler in newest {
        trickler.join().unwrap();
    }
}

/// Writes `bytes` one at a time, `pause` apart, until done or the downloader has gone.
fn dribble(stream: &mut TcpStream, bytes: &[u8], pause: Duration) {
    for chunk in bytes.chunks(1) {
        if stream.write_all(chunk).is_err() {
            return;
        }
        thread::sleep(pause);
    }
}

#[test]
fn a_peer_that_trickles_its_header_is_given_up_on_at_the_timeout() {
    let data = vec![7u8; 1000];
    let header = Header::Ok {
        size: data.len() as u64,
        sha256: Sha256Digest::of(&data),
    };
    // A byte every 100 ms: the ~75-byte header would take 7.5 s, and no single read
    // ever waits as long as the 1 s timeout.
    let (addr, fake) = fake_peer(move |mut stream| {
        dribble(
            &mut stream,
            header.encode().as_bytes(),
            Duration::from_millis(100),
        );
        let _ = stream.write_all(&data);
    });
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = fetch(addr, "x", tmp.path().join("x"), Duration::from_secs(1)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, FetchError::HeaderTimeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("peer {addr} did not send its header within 1 s; nothing was saved")
    );
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
    assert!(entries(tmp.path()).is_empty());
    drop(fake);
}

#[test]
fn a_body_below_the_minimum_rate_fails_and_leaves_no_partial_file() {
    let data = random_bytes(1024 * 1024);
    let header = Header::Ok {
        size: data.len() as u64,
        sha256: Sha256Digest::of(&data),
    };
    // The header at once, then a byte every 20 ms (50 bytes/s): each read waits far less
    // than the timeout, so only the minimum rate can stop it. Bounded to 10 s.
    let (addr, fake) = fake_peer(move |mut stream| {
        stream.write_all(header.encode().as_bytes()).unwrap();
        dribble(&mut stream, &data[..500], Duration::from_millis(20));
    });
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("file.bin");
    fs::write(&dest, b"an older download, which must survive").unwrap();
    let options = FetchOptions {
        timeout: Duration::from_millis(500),
        min_rate: 1024,
    };
    let started = Instant::now();
    let err = fetch_with(addr, "file.bin", &dest, &options).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, FetchError::TooSlow { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("peer {addr} is too slow: "))
            && message.contains("under the minimum of 1024 bytes/s")
            && message.ends_with("nothing was saved"),
        "{message}"
    );
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
    assert_eq!(entries(tmp.path()), ["file.bin"]);
    assert_eq!(
        fs::read(&dest).unwrap(),
        b"an older download, which must survive"
    );
    fake.join().unwrap();
}

#[test]
fn a_slow_but_steady_body_arrives_whole_however_long_it_takes() {
    let data = random_bytes(24 * 1024);
    let header = Header::Ok {
        size: data.len() as u64,
        sha256: Sha256Digest::of(&data),
    };
    // 1 KiB every 60 ms (about 16 KiB/s) for 1.5 s: three times the timeout, four times
    // the minimum rate.
    let sent = data.clone();
    let (addr, fake) = fake_peer(move |mut stream| {
        stream.write_all(header.encode().as_bytes()).unwrap();
        for chunk in sent.chunks(1024) {
            stream.write_all(chunk).unwrap();
            thread::sleep(Duration::from_millis(60));
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("slow.bin");
    let options = FetchOptions {
        timeout: Duration::from_millis(500),
        min_rate: 4096,
    };
    let report = fetch_with(addr, "slow.bin", &dest, &options).unwrap();
    fake.join().unwrap();
    assert!(report.elapsed > options.timeout, "{:?}", report.elapsed);
    assert!(fs::read(&dest).unwrap() == data);
}
