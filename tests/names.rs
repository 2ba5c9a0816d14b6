//! Input hygiene: names that look alike are one name or refused, control and bidi
//! characters never get in (and never come out raw), and nothing a spreadsheet would
//! run as a formula reaches the CSV files people open.
//!
//! The rules are in src/protocol/names.rs (the door), src/accounts/look_alikes.rs and
//! src/protocol/escape.rs; docs/PROTOCOL.md ("Names") is the contract.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;

use feira::protocol::{ErrorCode, token};
use support::fake_server::{Answer, fake_server};
use support::feira_cli;
use support::*;

/// `Maçã` as the demo data writes it (NFC: `ç` and `ã` are one character each) and
/// with combining accents (NFD), which looks the same.
const COMPOSED: &str = "Ma\u{e7}\u{e3}";
const DECOMPOSED: &str = "Mac\u{327}a\u{303}";

/// Full-width `ａｄｍｉｎ` (U+FF41...), and `alice` with a Cyrillic `а` (U+0430).
const FULL_WIDTH_ADMIN: &str = "\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}";
const CYRILLIC_A_LICE: &str = "\u{430}lice";

/// A character that must never be stored nor printed raw: a control character (C0,
/// DEL, C1) or a bidirectional control. Written out here rather than imported, so the
/// test does not take the server's word for the rule.
fn is_refused(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// A request line with its arguments quoted by the protocol's rules.
fn line(words: &[&str]) -> String {
    token::join(words)
}

#[test]
fn user_names_are_one_account_whatever_their_case_or_width() {
    let server = start_server();
    let mut c = server.client();
    for name in ["Alice", "ALICE", "aLiCe", FULL_WIDTH_ADMIN, "ADMIN"] {
        err(
            &mut c,
            &line(&["REGISTER", name, "another-pass"]),
            "CONFLICT",
        );
    }
    // LOGIN folds the name the same way: `Alice` is the account `alice`, and the
    // password is still checked byte for byte.
    let welcome = call(&mut c, "LOGIN Alice alice-pass");
    assert_eq!(welcome.status, Ok("welcome, alice (customer)".into()));
    assert_eq!(ok(&mut c, "WHOAMI")[0][..2], ["alice", "customer"]);
    err(&mut c, "LOGIN ALICE ALICE-PASS", "AUTH_FAILED");
    // A new name is stored in its canonical form, and found by any of its forms.
    let reply = call(&mut c, "REGISTER Carla carla-pass");
    assert_eq!(reply.status, Ok("registered carla; now LOGIN".into()));
    ok(&mut c, "LOGIN CARLA carla-pass");
    assert_eq!(ok(&mut c, "WHOAMI")[0][..2], ["carla", "customer"]);
    let users = server.shared.db.users.read();
    assert!(users.values().any(|u| u.name == "carla"));
    assert!(!users.values().any(|u| u.name == "Carla"));
}

#[test]
fn look_alikes_and_mixed_scripts_are_refused_single_scripts_are_not() {
    let server = start_server();
    let mut c = server.client();
    // Latin with one Cyrillic letter: two scripts in one name.
    err(
        &mut c,
        &line(&["REGISTER", CYRILLIC_A_LICE, "mallory-pass"]),
        "BAD_REQUEST",
    );
    err(
        &mut c,
        &line(&["REGISTER", "b\u{43e}b", "mallory-pass"]),
        "BAD_REQUEST",
    );
    // Wholly Cyrillic, or Latin letters that read alike: the skeleton of an existing name.
    for look_alike in ["\u{430}\u{4cf}\u{456}\u{441}\u{435}", "adrnin"] {
        err(
            &mut c,
            &line(&["REGISTER", look_alike, "mallory-pass"]),
            "CONFLICT",
        );
    }
    // Names in one script other than Latin are welcome.
    for name in ["joão", "李", "дмитрий"] {
        ok(&mut c, &line(&["REGISTER", name, "a-good-pass"]));
        ok(&mut c, &line(&["LOGIN", name, "a-good-pass"]));
    }
    // Nothing that was refused got in.
    let users = server.shared.db.users.read();
    let names: Vec<&str> = users.values().map(|u| u.name.as_str()).collect();
    assert_eq!(names.len(), 6, "{names:?}");
}

#[test]
fn composed_and_decomposed_names_are_one_product() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    err(
        &mut admin,
        &line(&["ADD_PRODUCT", DECOMPOSED, "9.99", "1"]),
        "CONFLICT",
    );
    for name in [COMPOSED, DECOMPOSED] {
        assert_eq!(
            ok(&mut admin, &line(&["PRODUCT", name])),
            [[COMPOSED, "2.50", "300"]],
            "{name:?}"
        );
    }
    ok(&mut admin, &line(&["RESTOCK", DECOMPOSED, "10"]));
    let mut alice = server.login(ALICE);
    ok(&mut alice, &line(&["ORDER", DECOMPOSED, "1"]));
    ok(&mut alice, &line(&["ORDER", COMPOSED, "1"]));
    assert_eq!(
        ok(&mut alice, &line(&["PRODUCT", DECOMPOSED])),
        [[COMPOSED, "2.50", "308"]]
    );
    let orders = ok(&mut alice, "ORDERS");
    assert!(orders.iter().all(|o| o[1] == COMPOSED), "{orders:?}");
    let products = ok(&mut alice, "PRODUCTS");
    assert_eq!(
        products.iter().filter(|p| p[0].starts_with("Ma")).count(),
        1
    );
    // And a new product is stored composed, whichever form it came in.
    ok(
        &mut admin,
        &line(&["ADD_PRODUCT", "Ac\u{327}ai\u{301}", "5.00", "3"]),
    );
    assert_eq!(
        ok(&mut alice, &line(&["PRODUCT", "A\u{e7}a\u{ed}"])),
        [["A\u{e7}a\u{ed}", "5.00", "3"]]
    );
}

/// Names with a character that could drive a terminal or disguise text.
const HOSTILE: &[&str] = &[
    "a\u{1b}[2Jb",        // ESC: clears the screen
    "bell\u{7}",          // BEL
    "nul\0x",             // NUL
    "del\u{7f}x",         // DEL
    "c1\u{9b}31mx",       // C1 CSI
    "tab\tx",             // a tab
    "gpj.\u{202e}exe",    // RIGHT-TO-LEFT OVERRIDE: shows as `exe.jpg`
    "x\u{2066}y\u{2069}", // bidi isolates
    "mark\u{200f}",       // RIGHT-TO-LEFT MARK
];

#[test]
fn control_and_bidi_characters_are_refused_in_names() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    let mut alice = server.login(ALICE);
    ok(&mut alice, "CONNECT 40001");
    for name in HOSTILE {
        // Sent as raw bytes inside the quotes, the way a hostile client would.
        let raw = name.replace('\t', "\\t");
        for (is_admin, request) in [
            (true, format!("ADD_PRODUCT \"{raw}\" 1.00 1")),
            (false, format!("PUBLISH \"{raw}.txt\" x")),
            (false, format!("PUBLISH ok.txt \"{raw}\"")),
            (false, format!("REGISTER \"{raw}\" a-good-pass")),
        ] {
            let client = if is_admin { &mut admin } else { &mut alice };
            let reply = call(client, &request);
            assert_eq!(
                reply.code().as_ref().map(ErrorCode::as_str),
                Some("BAD_REQUEST"),
                "{request:?} -> {reply:?}"
            );
            let Err(refusal) = reply.status else {
                unreachable!()
            };
            assert!(
                !refusal.message.chars().any(is_refused),
                "the refusal must not echo the character: {refusal:?}"
            );
        }
    }
    // Nothing got in: the demo data's 8 products, no file, 3 accounts.
    assert_eq!(ok(&mut admin, "PRODUCTS").len(), 8);
    assert!(ok(&mut alice, "LIST_CONTENT alice").is_empty());
    assert_eq!(server.shared.db.users.read().len(), 3);
}

#[test]
fn formula_like_values_never_reach_files_csv_or_audit_csv() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    let refused = call(&mut admin, "ADD_PRODUCT -1+1 1.00 1");
    assert_eq!(
        refused.code().as_ref().map(ErrorCode::as_str),
        Some("BAD_REQUEST")
    );
    let message = refused.status.unwrap_err().message;
    assert!(
        message.contains("formula"),
        "the message says why: {message}"
    );
    err(&mut admin, "ADD_PRODUCT =1+2 1.00 1", "BAD_REQUEST");
    let mut c = server.client();
    err(&mut c, "REGISTER -eve eve-password", "BAD_REQUEST");

    let mut alice = server.login(ALICE);
    ok(&mut alice, "CONNECT 40001");
    for request in [
        "PUBLISH =1+2 x",
        "PUBLISH +x x",
        "PUBLISH -1+1 x",
        "PUBLISH @SUM(A1) x",
        "PUBLISH notas.txt =HYPERLINK(\"http://x\")",
        "PUBLISH notas.txt -1+1",
        "PUBLISH notas.txt @x",
    ] {
        err(&mut alice, request, "BAD_REQUEST");
    }
    // A formula can still reach the audit log as the argument of a request that did
    // not store it: it must arrive there neutralised.
    err(&mut alice, "DELETE =1+2", "NOT_FOUND");
    err(&mut alice, "LIST_CONTENT -1", "NOT_FOUND");
    // Ordinary text with these characters inside is fine.
    ok(&mut alice, "PUBLISH notas.txt \"1 - 2 = -1, @ a aula\"");

    let dir = server.stop();
    let files = read_csv(&dir.path().join("files.csv"));
    assert_eq!(files.len(), 2, "the header and notas.txt: {files:?}");
    let audit = read_csv(&dir.path().join("audit.csv"));
    for (file, rows) in [("files.csv", &files), ("audit.csv", &audit)] {
        for cell in rows.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{file}: {cell:?} would run as a formula"
            );
            assert!(!cell.chars().any(is_refused), "{file}: {cell:?}");
        }
    }
    let arguments: Vec<&str> = audit.iter().map(|row| row[4].as_str()).collect();
    for neutralised in ["'=1+2 x", "'=1+2", "'-1", "'-1+1 x", "'@SUM(A1) x"] {
        assert!(
            arguments.contains(&neutralised),
            "{neutralised:?} is in audit.csv, neutralised: {arguments:?}"
        );
    }
}

/// A server that answers every request with text full of terminal escapes and bidi
/// controls, raw on the wire, as an older or hostile server could.
fn hostile_server() -> SocketAddr {
    fake_server(3, |request| {
        let reply: &[u8] = if request.starts_with("QUIT") {
            b"OK bye\n"
        } else if request.starts_with("PRODUCT ") {
            b"ERR NOT_FOUND \x1b[2J\x1b]0;owned\x07 no \xe2\x80\xaeproduct\n"
        } else {
            b"* \x1b[31mred \"\xe2\x80\xaegpj.exe\" 1.00\nOK \x1b[2Jdone\x07\n"
        };
        Answer::Reply(reply.to_vec())
    })
}

#[test]
fn the_client_never_prints_control_characters_from_the_server() {
    let addr = hostile_server();
    for args in [&["products"][..], &["--raw", "products"], &["product", "x"]] {
        let mut command = feira_cli::command(addr);
        command.args(args);
        let run = feira_cli::run(command, "");
        let shown = run.stdout + &run.stderr;
        assert!(shown.contains(r"\u{1b}"), "{args:?}: {shown:?}");
        assert!(shown.contains(r"\u{202e}"), "{args:?}: {shown:?}");
        assert!(
            !shown.chars().any(|c| is_refused(c) && c != '\n'),
            "{args:?} printed a raw control character: {shown:?}"
        );
    }
}

#[test]
fn a_peer_serves_names_in_any_normal_form_and_refuses_bidi_controls() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir(&share).unwrap();
    // On disk with combining accents (as a copy from another system may be), and a
    // name that a right-to-left override shows as `exe.jpg`.
    std::fs::write(share.join(format!("{DECOMPOSED}.txt")), b"fruta").unwrap();
    std::fs::write(share.join("gpj.\u{202e}exe"), b"MZ").unwrap();
    let peer = feira::p2p::PeerServer::start(&share, "127.0.0.1:0", 2).unwrap();
    let ask = |name: &str| {
        let mut stream = std::net::TcpStream::connect(peer.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        writeln!(stream, "GET {}", token::quote(name)).unwrap();
        let mut header = String::new();
        BufReader::new(stream).read_line(&mut header).unwrap();
        header
    };
    // The directory lists the composed form: that is what a downloader asks for.
    assert!(ask(&format!("{COMPOSED}.txt")).starts_with("OK 5 "));
    let refused = ask("gpj.\u{202e}exe");
    assert!(refused.starts_with("ERR BAD_REQUEST"), "{refused:?}");
    peer.shutdown();
}
