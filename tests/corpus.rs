//! The corpus of nasty inputs (tests/corpus/): the parser never panics, the server
//! answers each with one well-formed reply, and it still answers PING afterwards.

mod support;

use std::path::Path;

use feira::protocol::{ErrorCode, Request};
use support::raw::Raw;
use support::*;

/// Every corpus input as raw bytes (without the line ending), with a name for messages.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_to_string(dir.join("lines.txt"))
        .expect("tests/corpus/lines.txt")
        .lines()
        .enumerate()
        .map(|(i, line)| (format!("lines.txt:{}", i + 1), line.as_bytes().to_vec()))
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("raw"))
        .expect("tests/corpus/raw")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.contains(&b'\n'),
            "{}: one line per file",
            path.display()
        );
        inputs.push((path.display().to_string(), bytes));
    }
    assert!(inputs.len() > 100, "the corpus is there");
    inputs
}

#[test]
fn the_parser_refuses_or_accepts_every_corpus_input_without_panicking() {
    for (name, bytes) in corpus() {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue; // The framing layer answers BAD_REQUEST before parsing.
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        // A parsed request encodes back to a line that parses to the same request.
        if let Ok(request) = Request::parse(text) {
            assert_eq!(
                Request::parse(&request.to_line()).as_ref(),
                Ok(&request),
                "{name}"
            );
        }
    }
}

/// A raw connection, logged in as alice.
fn alice_session(server: &TestServer) -> Raw {
    let mut raw = Raw::connect(server.addr);
    let reply = raw.ask(b"LOGIN alice alice-pass").unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    raw
}

#[test]
fn the_server_answers_every_corpus_input_with_a_well_formed_reply() {
    let server = start_server();
    let mut session = alice_session(&server);
    let mut answered = 0;
    for (name, bytes) in corpus() {
        let reply = session
            .ask(&bytes)
            .unwrap_or_else(|| panic!("{name}: the server closed without a reply"));
        answered += 1;
        // A reply is framed (read_from checked that): OK, or ERR with a code of the
        // protocol's table. A reader would take any well-formed code; the server sends
        // only its own.
        assert!(
            !matches!(reply.code(), Some(ErrorCode::Other(_))),
            "{name}: {reply:?}"
        );
        let closes =
            reply.code() == Some(ErrorCode::LineTooLong) || reply.status == Ok("bye".into());
        if bytes.len() > feira::protocol::DEFAULT_MAX_LINE {
            assert_eq!(reply.code(), Some(ErrorCode::LineTooLong), "{name}");
        }
        if closes {
            session = alice_session(&server);
        }
    }
    assert!(answered > 100);
    let mut client = server.client();
    assert_eq!(call(&mut client, "PING").status, Ok("PONG".into()));
    // The inputs ordered things and registered a user: the books still balance.
    let mut admin = server.login(ADMIN);
    let stock: u64 = ok(&mut admin, "PRODUCT Banana")[0][2].parse().unwrap();
    let mut alice = server.login(ALICE);
    let bought: u64 = ok(&mut alice, "ORDERS")
        .iter()
        .filter(|o| o[1] == "Banana")
        .map(|o| o[2].parse::<u64>().unwrap())
        .sum();
    assert_eq!(stock + bought, 500);
}
