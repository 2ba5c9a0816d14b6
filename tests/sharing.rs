//! The file-sharing directory over TCP: connect, publish, list, disconnect, the error
//! codes of seed 002's rules, what survives a restart, and the audit log.

mod support;

use std::time::Duration;

use feira::client::Client;
use support::*;

/// A data line for a connected user on loopback.
fn peer_row(user: &str, port: u16) -> Vec<String> {
    vec![user.into(), "127.0.0.1".into(), port.to_string()]
}

/// The names of the users LIST_USERS shows.
fn listed(client: &mut Client) -> Vec<String> {
    ok(client, "LIST_USERS")
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

#[test]
fn connect_publish_list_delete_disconnect() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);

    // CONNECT answers with the address others will see: the socket's, not a claim.
    assert_eq!(ok(&mut alice, "CONNECT 40001"), [peer_row("alice", 40001)]);
    assert_eq!(ok(&mut alice, "LIST_USERS"), [peer_row("alice", 40001)]);
    ok(&mut bob, "CONNECT 40002");
    assert_eq!(
        ok(&mut bob, "LIST_USERS"),
        [peer_row("alice", 40001), peer_row("bob", 40002)]
    );

    let published = ok(
        &mut alice,
        r#"PUBLISH "fotos/Férias, \"praia\" 2026.jpg" "Sol, mar e caju: 3 MiB""#,
    );
    assert_eq!(published[0][0], "fotos/Férias, \"praia\" 2026.jpg");
    ok(&mut alice, "PUBLISH notas.txt \"\"");
    let content = ok(&mut bob, "LIST_CONTENT alice");
    let names: Vec<&str> = content.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["fotos/Férias, \"praia\" 2026.jpg", "notas.txt"]);
    assert_eq!(content[0][1], "Sol, mar e caju: 3 MiB");
    assert_eq!(content[1][1], "");
    // The time is the server's, RFC 3339 in UTC.
    assert!(
        humantime::parse_rfc3339(&content[0][2]).is_ok(),
        "{content:?}"
    );
    assert!(ok(&mut bob, "LIST_CONTENT bob").is_empty());

    // PEER: where GET_FILE must go for alice's files.
    assert_eq!(ok(&mut bob, "PEER alice"), [peer_row("alice", 40001)]);

    ok(&mut alice, "DELETE notas.txt");
    assert_eq!(ok(&mut bob, "LIST_CONTENT alice").len(), 1);

    ok(&mut alice, "DISCONNECT");
    assert_eq!(listed(&mut bob), ["bob"]);
    // Published files outlive the connection.
    assert_eq!(ok(&mut bob, "LIST_CONTENT alice").len(), 1);
    err(&mut bob, "PEER alice", "NOT_FOUND");
    // And alice may come back on another port.
    ok(&mut alice, "CONNECT 40009");
    assert_eq!(ok(&mut bob, "PEER alice"), [peer_row("alice", 40009)]);
}

#[test]
fn refusals_have_clear_codes() {
    let server = start_server();
    // Not logged in: the session layer refuses first.
    let mut anonymous = server.client();
    for line in ["CONNECT 4000", "DISCONNECT", "LIST_USERS", "PUBLISH a b"] {
        err(&mut anonymous, line, "AUTH_REQUIRED");
    }

    let mut alice = server.login(ALICE);
    // Everything but CONNECT needs CONNECT first (seed 002); so does DISCONNECT.
    for line in [
        "PUBLISH a.txt x",
        "DELETE a.txt",
        "LIST_USERS",
        "LIST_CONTENT bob",
        "PEER bob",
        "DISCONNECT",
    ] {
        err(&mut alice, line, "NOT_CONNECTED");
    }
    for port in ["0", "70000", "65536", "abc", "-1", "4000.5", "\"\""] {
        err(&mut alice, &format!("CONNECT {port}"), "BAD_REQUEST");
    }
    err(&mut alice, "CONNECT", "BAD_REQUEST");
    err(&mut alice, "CONNECT 1 2", "BAD_REQUEST");

    ok(&mut alice, "CONNECT 65535");
    err(&mut alice, "CONNECT 4000", "ALREADY_CONNECTED");
    // Another session of the same user: still the same user, still connected.
    let mut alice_again = server.login(ALICE);
    err(&mut alice_again, "CONNECT 4001", "ALREADY_CONNECTED");
    assert_eq!(
        ok(&mut alice_again, "LIST_USERS"),
        [peer_row("alice", 65535)]
    );

    ok(&mut alice, "PUBLISH a.txt first");
    err(&mut alice, "PUBLISH a.txt second", "CONFLICT");
    err(&mut alice_again, "PUBLISH a.txt third", "CONFLICT");
    assert_eq!(ok(&mut alice, "LIST_CONTENT alice")[0][1], "first");
    err(&mut alice, "DELETE missing.txt", "NOT_FOUND");
    err(&mut alice, "LIST_CONTENT nobody", "NOT_FOUND");
    err(&mut alice, "PEER nobody", "NOT_FOUND");
    err(&mut alice, "PEER bob", "NOT_FOUND"); // exists, not connected
    for name in [
        "../etc/passwd",
        "/etc/passwd",
        ".ssh/id",
        "a//b",
        "\"a\\nb\"",
        "\"\"",
    ] {
        err(&mut alice, &format!("PUBLISH {name} x"), "BAD_REQUEST");
    }
    err(&mut alice, "PUBLISH ok.txt \"two\\nlines\"", "BAD_REQUEST");
    err(
        &mut alice,
        &format!("PUBLISH {} x", "n".repeat(256)),
        "BAD_REQUEST",
    );
    err(
        &mut alice,
        &format!("PUBLISH ok.txt {}", "d".repeat(257)),
        "BAD_REQUEST",
    );
    assert_eq!(
        ok(&mut alice, "LIST_CONTENT alice").len(),
        1,
        "nothing added"
    );
}

#[test]
fn a_peer_that_drops_its_connection_is_disconnected() {
    let server = start_server();
    let mut bob = server.login(BOB);
    ok(&mut bob, "CONNECT 5000");

    let mut alice = server.login(ALICE);
    ok(&mut alice, "CONNECT 5001");
    // A second session of alice ending does not disconnect her: it did not connect.
    let mut alice_again = server.login(ALICE);
    ok(&mut alice_again, "LIST_USERS");
    drop(alice_again);
    assert_eq!(listed(&mut bob), ["alice", "bob"]);

    // The session that connected vanishes without a word (no DISCONNECT, no QUIT).
    drop(alice);
    assert!(
        wait_until(Duration::from_secs(10), || listed(&mut bob) == ["bob"]),
        "alice is still listed after her connection closed"
    );

    // LOGOUT, and LOGIN as someone else, end what the session had announced too.
    let mut carla = server.client();
    ok(&mut carla, "LOGIN alice alice-pass");
    ok(&mut carla, "CONNECT 5002");
    ok(&mut carla, "LOGOUT");
    assert_eq!(listed(&mut bob), ["bob"]);
    ok(&mut carla, "LOGIN alice alice-pass");
    ok(&mut carla, "CONNECT 5003");
    ok(&mut carla, "LOGIN admin admin-pass");
    assert_eq!(listed(&mut bob), ["bob"]);
    // ... and the new user may connect on the same connection (seed 002's switch).
    ok(&mut carla, "CONNECT 5004");
    assert_eq!(listed(&mut bob), ["admin", "bob"]);
}

#[test]
fn deleting_an_account_withdraws_its_files_and_its_connection() {
    // New wallets start empty, so the account may be deleted (a wallet with money in it
    // refuses UNREGISTER).
    let server = start_server_with(|c| c.wallet.initial_balance = feira::protocol::Cents(0));
    let mut bob = server.login(BOB);
    ok(&mut bob, "CONNECT 5000");
    let mut dora = server.client();
    ok(&mut dora, "REGISTER dora dora-pass");
    ok(&mut dora, "LOGIN dora dora-pass");
    ok(&mut dora, "CONNECT 5001");
    ok(&mut dora, "PUBLISH mapa.png \"Mapa da feira\"");
    assert_eq!(ok(&mut bob, "LIST_CONTENT dora").len(), 1);
    ok(&mut dora, "UNREGISTER dora-pass");
    assert_eq!(listed(&mut bob), ["bob"]);
    err(&mut bob, "LIST_CONTENT dora", "NOT_FOUND");
    // The account and its files went in one transaction: one journal line holds both,
    // so a crash cannot leave files behind an account that is gone.
    let journal = journal_text(&server.data_dir());
    let deletion = journal
        .lines()
        .find(|line| line.contains("users,del,1,dora"))
        .expect("the deletion is in the journal");
    assert!(deletion.contains("files,del,1,dora/mapa.png"), "{deletion}");
    // A new account with the same name starts with nothing.
    ok(&mut dora, "REGISTER dora dora-pass");
    assert!(ok(&mut bob, "LIST_CONTENT dora").is_empty());
}

#[test]
fn one_name_is_published_once_however_many_sessions_race() {
    let server = start_server();
    let mut first = server.login(ALICE);
    ok(&mut first, "CONNECT 6000");
    let addr = server.addr;
    let sessions = 6;
    let names = 40;
    let oks: Vec<usize> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..sessions)
            .map(|_| {
                scope.spawn(move || {
                    let mut c = login(addr, ALICE);
                    (0..names)
                        .filter(|n| {
                            let reply = call(&mut c, &format!("PUBLISH file-{n}.txt x"));
                            match reply.code() {
                                None => true,
                                Some(code) => {
                                    assert_eq!(code.as_str(), "CONFLICT", "{reply:?}");
                                    false
                                }
                            }
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(
        oks.iter().sum::<usize>(),
        names,
        "each name got one OK: {oks:?}"
    );
    assert_eq!(ok(&mut first, "LIST_CONTENT alice").len(), names);
}

#[test]
fn a_restart_forgets_connections_but_keeps_files() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    ok(&mut alice, "CONNECT 7000");
    let name = "Maçã, \"verde\" e madura.txt";
    let description = "Descrição: vírgulas, \"aspas\" e 李";
    let line = feira::protocol::token::join(&["PUBLISH", name, description]);
    ok(&mut alice, &line);
    let before = ok(&mut alice, "LIST_CONTENT alice");
    drop(alice);

    let server = server.restart();
    let mut alice = server.login(ALICE);
    // Nobody is connected after a restart, alice included.
    err(&mut alice, "LIST_USERS", "NOT_CONNECTED");
    ok(&mut alice, "CONNECT 7001");
    assert_eq!(listed(&mut alice), ["alice"]);
    let after = ok(&mut alice, "LIST_CONTENT alice");
    assert_eq!(after, before);
    assert_eq!(after[0][0], name);
    assert_eq!(after[0][1], description);
    drop(alice);

    // The snapshot written at shutdown holds the row, quoted by the csv writer.
    let dir = server.stop();
    let rows = read_csv(&dir.path().join("files.csv"));
    assert_eq!(
        rows[0],
        ["user", "file_name", "description", "published_at"]
    );
    assert_eq!(&rows[1][..3], ["alice", name, description]);
}

#[test]
fn the_audit_log_has_every_operation_in_order() {
    let server = start_server();
    let (mut alice, local) = login_with_addr(server.addr, ALICE);
    let local = local.to_string();
    let mut steps: Vec<(&str, &str, &str, &str)> = Vec::new();
    let mut run = |client: &mut Client, line: &str, op: &'static str, args: &'static str| {
        let reply = call(client, line);
        let result = reply.code().map_or("OK", |c| c.known_name());
        steps.push(("alice", op, args, result));
    };
    run(&mut alice, "LIST_USERS", "LIST_USERS", "");
    run(&mut alice, "CONNECT abc", "CONNECT", "abc");
    run(&mut alice, "connect 8000", "CONNECT", "8000");
    run(&mut alice, "CONNECT 8001", "CONNECT", "8001");
    run(
        &mut alice,
        r#"PUBLISH "a, b.txt" "com \"aspas\"""#,
        "PUBLISH",
        r#""a, b.txt" "com \"aspas\"""#,
    );
    run(&mut alice, "PUBLISH a.txt x", "PUBLISH", "a.txt x");
    run(&mut alice, "PUBLISH a.txt y", "PUBLISH", "a.txt y");
    run(&mut alice, "LIST_USERS", "LIST_USERS", "");
    run(&mut alice, "LIST_CONTENT alice", "LIST_CONTENT", "alice");
    run(&mut alice, "LIST_CONTENT nobody", "LIST_CONTENT", "nobody");
    run(&mut alice, "PEER alice", "PEER", "alice");
    run(&mut alice, "DELETE a.txt", "DELETE", "a.txt");
    run(&mut alice, "DELETE a.txt", "DELETE", "a.txt");
    run(&mut alice, "DISCONNECT", "DISCONNECT", "");
    run(&mut alice, "DISCONNECT", "DISCONNECT", "");
    run(&mut alice, "CONNECT 8002", "CONNECT", "8002");
    // Store verbs are not audited.
    ok(&mut alice, "PRODUCTS");
    let mut expected: Vec<(&str, &str, &str, &str)> = steps;
    // The connection ends at shutdown: the server disconnects alice itself.
    expected.push(("alice", "DROP", "connection closed", "OK"));

    let dir = server.stop();
    let rows = read_csv(&dir.path().join("audit.csv"));
    assert_eq!(
        rows[0],
        ["time", "user", "peer", "operation", "arguments", "result"]
    );
    let got: Vec<(&str, &str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[1].as_str(), r[3].as_str(), r[4].as_str(), r[5].as_str()))
        .collect();
    let codes: Vec<&str> = expected.iter().map(|e| e.3).collect();
    assert_eq!(
        codes,
        [
            "NOT_CONNECTED",
            "BAD_REQUEST",
            "OK",
            "ALREADY_CONNECTED",
            "OK",
            "OK",
            "CONFLICT",
            "OK",
            "OK",
            "NOT_FOUND",
            "OK",
            "OK",
            "NOT_FOUND",
            "OK",
            "NOT_CONNECTED",
            "OK",
            "OK"
        ]
    );
    assert_eq!(got, expected);
    for row in &rows[1..] {
        assert!(humantime::parse_rfc3339(&row[0]).is_ok(), "{row:?}");
        assert_eq!(row[2], local, "the peer column is the client's address");
    }
}

#[test]
fn an_idle_peer_is_disconnected_by_the_idle_timeout() {
    let server = start_server_with(|config| config.idle_timeout = Duration::from_millis(300));
    let mut alice = server.login(ALICE);
    ok(&mut alice, "CONNECT 9000");
    let mut bob = server.login(BOB);
    ok(&mut bob, "CONNECT 9001");
    // Bob keeps talking (each LIST_USERS resets his idle clock); alice says nothing.
    assert!(
        wait_until(Duration::from_secs(10), || listed(&mut bob) == ["bob"]),
        "alice is still listed after her idle timeout"
    );
}
