//! File sharing through feira-cli: two real client processes (a 20 MiB file), one serving its share
//! directory, the other downloading from it directly; the server only says where.

mod support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::feira_cli;
use support::*;

/// `feira-cli` for a session that shares `dir/share` and downloads into
/// `dir/downloads`, fed from a pipe that the test keeps open.
fn session_command(server: &TestServer, dir: &std::path::Path) -> Command {
    let mut command = feira_cli::command(server.addr);
    command
        .arg("--share-dir")
        .arg(dir.join("share"))
        .arg("--download-dir")
        .arg(dir.join("downloads"))
        .stdin(Stdio::piped());
    command
}

/// The same, started.
fn session(server: &TestServer, dir: &std::path::Path) -> Child {
    session_command(server, dir)
        .spawn()
        .expect("feira-cli starts")
}

#[test]
fn a_file_travels_from_one_client_to_another_and_quit_leaves_the_directory() {
    let server = start_server();
    let bob_dir = tempfile::tempdir().unwrap();
    let alice_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bob_dir.path().join("share")).unwrap();
    let content = Rng::new(2026).bytes(20 * 1024 * 1024 + 7);
    std::fs::write(bob_dir.path().join("share/feira 2026.bin"), &content).unwrap();

    // Bob connects, shares and publishes, and stays (his input stays open).
    let mut bob = session(&server, bob_dir.path());
    let mut bob_input = bob.stdin.take().unwrap();
    bob_input
        .write_all(b"login bob bob-pass\nconnect\npublish \"feira 2026.bin\" \"fotos da feira\"\n")
        .unwrap();
    bob_input.flush().unwrap();

    // An observer sees Bob's file listed once his commands have run.
    let mut observer = server.login(ADMIN);
    ok(&mut observer, "CONNECT 9");
    let listed = wait_until(Duration::from_secs(20), || {
        call(&mut observer, "LIST_CONTENT bob").data.len() == 1
    });
    assert!(listed, "bob's file never appeared in the directory");

    // Alice downloads it: the bytes come from Bob's process, not from the server.
    let alice = session(&server, alice_dir.path());
    let mut alice_input = alice.stdin.as_ref().unwrap();
    alice_input
        .write_all(b"login alice alice-pass\nconnect\nget_file bob \"feira 2026.bin\"\nquit\n")
        .unwrap();
    let run = feira_cli::finish(alice);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("downloaded feira 2026.bin from bob"),
        "{}",
        run.stdout
    );
    let downloaded = std::fs::read(alice_dir.path().join("downloads/feira 2026.bin")).unwrap();
    assert!(
        downloaded == content,
        "the downloaded bytes differ from the shared file"
    );

    // Alice quit: she left the directory. Then Bob's input ends: he leaves too.
    let users = |observer: &mut feira::client::Client| -> Vec<String> {
        call(observer, "LIST_USERS")
            .data
            .into_iter()
            .map(|row| row[0].clone())
            .collect()
    };
    assert!(!users(&mut observer).contains(&"alice".to_string()));
    assert!(users(&mut observer).contains(&"bob".to_string()));
    drop(bob_input);
    assert!(feira_cli::finish(bob).status.success());
    assert!(
        !users(&mut observer).contains(&"bob".to_string()),
        "quit disconnects"
    );
}

#[test]
fn get_file_from_a_peer_that_is_not_connected_says_why() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let alice = session(&server, dir.path());
    alice
        .stdin
        .as_ref()
        .unwrap()
        .write_all(b"login alice alice-pass\nconnect\nget_file bob nothing.txt\nquit\n")
        .unwrap();
    let run = feira_cli::finish(alice);
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("NOT_FOUND"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(!dir.path().join("downloads/nothing.txt").exists());
}

#[test]
fn get_file_from_a_peer_that_trickles_its_header_fails_at_the_timeout() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::time::Instant;

    // A fake peer: reads the request, then sends a header a byte every 200 ms (15 s for
    // the whole line), so that no single read waits as long as the 2 s timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = String::new();
        BufReader::new(&stream).read_line(&mut request).unwrap();
        let header = format!("OK 1000 {}\n", "ab".repeat(32));
        for byte in header.as_bytes() {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // Bob announces the fake peer's port to the directory.
    let server = start_server();
    let mut bob = server.login(BOB);
    ok(&mut bob, &format!("CONNECT {port}"));

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let alice = session_command(&server, dir.path())
        .args(["--timeout", "2"])
        .spawn()
        .expect("feira-cli starts");
    alice
        .stdin
        .as_ref()
        .unwrap()
        .write_all(b"login alice alice-pass\nconnect\nget_file bob big.bin\nquit\n")
        .unwrap();
    let run = feira_cli::finish(alice);
    let took = started.elapsed();
    assert!(
        run.stdout.contains(&format!(
            "download failed: peer 127.0.0.1:{port} did not send its header within 2 s; \
             nothing was saved"
        )),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    // About the timeout (plus starting the client and logging in), not the header's 15 s.
    assert!(took < Duration::from_secs(8), "get_file took {took:?}");
    let downloads = dir.path().join("downloads");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .map(|entries| entries.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    fake.join().unwrap();
}
