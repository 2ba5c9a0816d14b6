//! Accounts over TCP: REGISTER, LOGIN, LOGOUT and UNREGISTER with their errors,
//! passwords stored hashed; and an identity that is never reused: a session dies with
//! its account, and history belongs to the account, not to its name
//! (docs/RELIABILITY.md, "A session dies with its account" and "History belongs to the
//! account").
//!
//! Every test here talks to a real server over TCP, as a client would: it registers an
//! account, deletes it, lets someone else register the same name, and checks that
//! nothing of the old account (its sessions, its orders, its ledger lines, its id)
//! passes to the new one. Logins under floods of guesses are in tests/logins.rs.

mod support;

use feira::client::Client;
use feira::protocol::ErrorCode;
use support::*;

/// The caller's account id, from WHOAMI (`* <user> <role> <id>`).
fn whoami_id(c: &mut Client) -> Option<String> {
    ok(c, "WHOAMI")[0].get(2).cloned()
}

/// Registers `user` and returns a connection logged in as it.
fn register(server: &TestServer, user: &str, password: &str) -> Client {
    let mut c = server.client();
    ok(&mut c, &format!("REGISTER {user} {password}"));
    ok(&mut c, &format!("LOGIN {user} {password}"));
    c
}

/// Gives everything in the caller's wallet to alice, then deletes the account.
fn empty_and_unregister(server: &TestServer, c: &mut Client, password: &str) {
    let alice_key = pay_key(&mut server.login(ALICE));
    let all = balance(c);
    ok(c, &format!("TRANSFER {alice_key} {all}"));
    ok(c, &format!("UNREGISTER {password}"));
}

#[test]
fn accounts_register_login_logout_unregister() {
    let server = start_server();
    let mut c = server.client();
    ok(&mut c, "REGISTER carla carla-pass");
    err(&mut c, "REGISTER carla other-pass", "CONFLICT");
    err(&mut c, "REGISTER dora short", "BAD_REQUEST");
    err(&mut c, "REGISTER \"d ora\" dora-pass", "BAD_REQUEST");
    err(&mut c, "LOGIN carla wrong-pass", "AUTH_FAILED");
    err(&mut c, "LOGIN nobody whatever1", "AUTH_FAILED");
    ok(&mut c, "LOGIN carla carla-pass");
    assert_eq!(ok(&mut c, "WHOAMI"), [["carla", "customer", "4"]]);
    ok(&mut c, "LOGOUT");
    err(&mut c, "WHOAMI", "AUTH_REQUIRED");
    ok(&mut c, "LOGIN carla carla-pass");
    err(&mut c, "UNREGISTER wrong-pass", "AUTH_FAILED");
    // A wallet holding money cannot be deleted: Carla gives hers away first.
    err(&mut c, "UNREGISTER carla-pass", "CONFLICT");
    let alice_key = pay_key(&mut server.login(ALICE));
    ok(&mut c, &format!("TRANSFER {alice_key} 100.00"));
    ok(&mut c, "UNREGISTER carla-pass");
    err(&mut c, "WHOAMI", "AUTH_REQUIRED");
    err(&mut c, "LOGIN carla carla-pass", "AUTH_FAILED");
}

#[test]
fn a_deleted_account_loses_its_other_sessions() {
    // New wallets start empty here, so that the account can be deleted at once.
    let server = start_server_with(|c| c.wallet.initial_balance = feira::protocol::Cents(0));
    let mut first = server.client();
    ok(&mut first, "REGISTER erik erik-pass");
    ok(&mut first, "LOGIN erik erik-pass");
    let mut second = server.login(("erik", "erik-pass"));
    ok(&mut second, "UNREGISTER erik-pass");
    err(&mut first, "ORDERS", "AUTH_REQUIRED");
}

#[test]
fn passwords_are_stored_hashed() {
    let server = start_server();
    let mut c = server.client();
    ok(&mut c, "REGISTER fabio fabio-secret-99");
    let dir = server.stop();
    let users = std::fs::read_to_string(dir.path().join("users.csv")).unwrap();
    assert!(users.contains("fabio,customer,\"$argon2id$"));
    assert!(!users.contains("fabio-secret-99"));
    assert!(!journal_text(dir.path()).contains("fabio-secret-99"));
}

#[test]
fn a_session_dies_with_its_account_even_when_the_name_is_registered_again() {
    let server = start_server();
    let mut b = register(&server, "carol", "carol-pass");
    // Connection A, silent from here on: one per verb, since the first refusal logs
    // a session out and the others would then be refused for that alone.
    let verbs = [
        "WHOAMI",
        "BALANCE",
        "PAYKEY",
        "TRANSFER {alice} 50.00",
        "ORDER Banana 1",
        "ORDERS",
        "TRANSFERS",
    ];
    let mut stale: Vec<Client> = verbs
        .iter()
        .map(|_| server.login(("carol", "carol-pass")))
        .collect();
    let old_id = whoami_id(&mut b);

    // B empties the wallet and deletes the account.
    let mut alice = server.login(ALICE);
    let alice_key = pay_key(&mut alice);
    empty_and_unregister(&server, &mut b, "carol-pass");
    // Someone else registers carol with another password, and receives a deposit.
    let mut new_carol = register(&server, "carol", "another-pass");
    ok(&mut server.login(ADMIN), "DEPOSIT carol 50.00");
    assert_eq!(balance(&mut new_carol), "150.00");

    // Every old session answers AUTH_REQUIRED, whatever it asks, and stays logged out.
    // (All of them are tried before any assertion, so a failure lists every one.)
    let mut acted = Vec::new();
    for (client, verb) in stale.iter_mut().zip(verbs) {
        let line = verb.replace("{alice}", &alice_key);
        let reply = call(client, &line);
        let refused = reply.code().as_ref().map(ErrorCode::as_str) == Some("AUTH_REQUIRED")
            && format!("{reply:?}").contains("your account no longer exists");
        let after = call(client, "BALANCE");
        if !refused || after.code().as_ref().map(ErrorCode::as_str) != Some("AUTH_REQUIRED") {
            acted.push(format!("{line} -> {reply:?}, then BALANCE -> {after:?}"));
        }
    }
    assert!(
        acted.is_empty(),
        "the old carol's sessions acted as the new carol:\n{}",
        acted.join("\n")
    );

    // The new owner's money is intact; alice has exactly what the old carol gave her.
    assert_eq!(balance(&mut new_carol), "150.00");
    assert_eq!(balance(&mut alice), "200.00");
    assert_eq!(ok(&mut new_carol, "ORDERS"), Vec::<Vec<String>>::new());
    // A new account, a new id; the old session could log in again only with the new
    // password, as the new account.
    assert_ne!(whoami_id(&mut new_carol), old_id);
    err(&mut stale[0], "LOGIN carol carol-pass", "AUTH_FAILED");
    let report = feira::wallet::check::check(&server.shared.db);
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_name_registered_again_does_not_inherit_orders_or_movements() {
    let server = start_server();
    let mut dora = register(&server, "dora", "dora-pass");
    ok(&mut dora, "ORDER \"Maçã\" 4");
    let bob_key = pay_key(&mut server.login(BOB));
    ok(&mut dora, &format!("TRANSFER {bob_key} 5.00"));
    assert_eq!(ok(&mut dora, "ORDERS").len(), 1);
    assert_eq!(ok(&mut dora, "TRANSFERS").len(), 3);
    empty_and_unregister(&server, &mut dora, "dora-pass");

    let mut new_dora = register(&server, "dora", "dora-pass-2");
    let orders = call(&mut new_dora, "ORDERS");
    assert!(orders.data.is_empty(), "the old dora's orders: {orders:?}");
    assert_eq!(orders.status, Ok("0 orders, newest first".into()));
    let movements = ok(&mut new_dora, "TRANSFERS");
    assert_eq!(
        movements
            .iter()
            .map(|row| row[2..].to_vec())
            .collect::<Vec<_>>(),
        [["initial", "in", "", "100.00", "100.00"]],
        "only the new wallet's opening"
    );
    // The old history is still there (the ledger is never shortened), and still adds
    // up: bob and alice still see the old dora's payments to them.
    let bob_lines = ok(&mut server.login(BOB), "TRANSFERS");
    assert!(
        bob_lines
            .iter()
            .any(|row| row[2..5] == ["transfer", "in", "dora"]),
        "{bob_lines:?}"
    );
    let report = feira::wallet::check::check(&server.shared.db);
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn an_id_is_never_reused_after_the_newest_account_is_deleted_and_the_server_restarts() {
    let server = start_server();
    let mut erin = register(&server, "erin", "erin-pass");
    let deleted = whoami_id(&mut erin);
    assert_eq!(deleted.as_deref(), Some("4"), "after the demo's 1, 2 and 3");
    ok(&mut erin, "ORDER Banana 1");
    empty_and_unregister(&server, &mut erin, "erin-pass");
    // erin was the newest account: no row of users.csv holds 4 any more.
    let server = server.restart();
    let mut new_erin = register(&server, "erin", "erin-pass");
    assert_eq!(whoami_id(&mut new_erin).as_deref(), Some("5"));
    assert_eq!(ok(&mut new_erin, "ORDERS"), Vec::<Vec<String>>::new());
    assert_eq!(ok(&mut new_erin, "TRANSFERS").len(), 1);
}

/// What a kill -9 leaves: the files as they are (what the server wrote is in the page
/// cache, so a copy reads it), journal lines that no checkpoint has folded in.
fn crash_image(dir: &std::path::Path) -> tempfile::TempDir {
    let image = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, image.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    image
}

#[test]
fn an_id_is_never_reused_after_a_crash_and_a_journal_replay() {
    let server = start_server();
    let mut erin = register(&server, "erin", "erin-pass");
    assert_eq!(whoami_id(&mut erin).as_deref(), Some("4"));
    empty_and_unregister(&server, &mut erin, "erin-pass");
    let image = crash_image(&server.data_dir());
    drop(server);
    // The account came and went in the journal only: the snapshots never saw it.
    let journal = journal_text(image.path());
    assert!(journal.contains(",users,del,"), "{journal}");
    let users = std::fs::read_to_string(image.path().join("users.csv")).unwrap();
    assert!(!users.contains("erin"), "{users}");

    let config = test_config(image.path());
    let server = start_in(image, config);
    let mut new_erin = register(&server, "erin", "erin-pass");
    assert_eq!(whoami_id(&mut new_erin).as_deref(), Some("5"));
    assert_eq!(ok(&mut new_erin, "TRANSFERS").len(), 1);
}

/// The demo's users.csv as a version from before account ids wrote it (no `id`
/// column), plus `extra` rows.
fn users_without_ids(extra: &[(&str, &str)]) -> String {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/users.csv");
    let text = std::fs::read_to_string(data).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| line.split_once(',').unwrap().1.to_string())
        .collect();
    for (name, like) in extra {
        let row = lines.iter().find(|l| l.starts_with(&format!("{like},")));
        let row = row.unwrap().replacen(like, name, 1);
        lines.push(row);
    }
    lines.join("\n") + "\n"
}

/// A data directory from before account ids, with history: dora ordered, paid alice
/// everything else, was deleted, and registered again (with alice's password); alice
/// ordered too.
fn data_from_before_account_ids() -> tempfile::TempDir {
    let dir = demo_data_dir();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("users.csv", &users_without_ids(&[("dora", "alice")]));
    write(
        "wallets.csv",
        "user,balance,pay_key,key_expires_at\n\
         admin,100.00,29FF-RGXW-HRWG-99C5,2026-11-27T12:03:00Z\n\
         alice,187.50,AA6R-F7EG-QF5Q-XMYQ,2026-11-27T12:03:00Z\n\
         bob,100.00,F0PV-XDEP-TE1B-JG4Z,2026-11-27T12:03:00Z\n\
         dora,100.00,7KQ2-M9XD-4TRW-8BNP,2026-11-27T15:03:00Z\n",
    );
    write(
        "orders.csv",
        "id,user,product,quantity,unit_price,total,created_at\n\
         1,dora,Maçã,4,2.50,10.00,2026-11-27T13:00:00Z\n\
         2,alice,Maçã,1,2.50,2.50,2026-11-27T14:00:00Z\n",
    );
    write(
        "transfers.csv",
        "id,time,kind,from,to,amount,from_balance,to_balance,reference\n\
         1,2026-11-27T12:00:00Z,initial,,admin,100.00,,100.00,\n\
         2,2026-11-27T12:00:00Z,initial,,alice,100.00,,100.00,\n\
         3,2026-11-27T12:00:00Z,initial,,bob,100.00,,100.00,\n\
         4,2026-11-27T13:00:00Z,initial,,dora,100.00,,100.00,\n\
         5,2026-11-27T13:00:00Z,order,dora,,10.00,90.00,,1\n\
         6,2026-11-27T13:00:00Z,transfer,dora,alice,90.00,0.00,190.00,\n\
         7,2026-11-27T13:00:00Z,close,dora,,0.00,0.00,,\n\
         8,2026-11-27T15:00:00Z,initial,,dora,100.00,,100.00,\n\
         9,2026-11-27T14:00:00Z,order,alice,,2.50,187.50,,2\n",
    );
    dir
}

#[test]
fn a_data_directory_from_before_account_ids_is_given_ids_and_keeps_its_history() {
    let dir = data_from_before_account_ids();
    let config = test_config(dir.path());
    let server = start_in(dir, config);
    let data = server.data_dir();
    let users = std::fs::read_to_string(data.join("users.csv")).unwrap();
    assert!(users.starts_with("id,name,role,"), "{users}");
    let kept = data.join(feira::db::MIGRATION_BACKUP);
    let old_users = std::fs::read_to_string(kept.join("users.csv")).unwrap();
    assert!(
        old_users.starts_with("name,role,"),
        "the old files are kept"
    );
    let report = feira::wallet::check::check(&server.shared.db);
    assert!(report.is_ok(), "{report:?}");

    // The live accounts are 1 to 4 in file order; the deleted dora is 5.
    let mut dora = server.login(("dora", "alice-pass"));
    assert_eq!(whoami_id(&mut dora).as_deref(), Some("4"));
    assert_eq!(ok(&mut dora, "ORDERS"), Vec::<Vec<String>>::new());
    assert_eq!(ok(&mut dora, "TRANSFERS").len(), 1, "only her own opening");
    let mut alice = server.login(ALICE);
    assert_eq!(whoami_id(&mut alice).as_deref(), Some("2"));
    assert_eq!(ok(&mut alice, "ORDERS").len(), 1);
    let received = ok(&mut alice, "TRANSFERS");
    assert!(
        received
            .iter()
            .any(|row| row[2..6] == ["transfer", "in", "dora", "90.00"]),
        "{received:?}"
    );
    assert_eq!(balance(&mut alice), "187.50");
    let mut newcomer = register(&server, "gil", "gil-pass-1");
    assert_eq!(whoami_id(&mut newcomer).as_deref(), Some("6"));

    // Once is enough: the next start reads the new format as it is.
    let server = server.restart();
    let mut dora = server.login(("dora", "alice-pass"));
    assert_eq!(whoami_id(&mut dora).as_deref(), Some("4"));
    assert!(feira::wallet::check::check(&server.shared.db).is_ok());
}

#[test]
fn a_data_directory_from_before_account_ids_with_journal_lines_is_refused() {
    // A server killed with changes still in its journal, then given the old tables.
    let server = start_server();
    ok(&mut server.login(ALICE), "ORDER Banana 1");
    let image = crash_image(&server.data_dir());
    drop(server);
    let old_users = users_without_ids(&[]);
    std::fs::write(image.path().join("users.csv"), &old_users).unwrap();

    let error = match feira::server::Server::bind(test_config(image.path())) {
        Ok(_) => panic!("the server started on old tables with journal lines"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("before account ids") && error.contains("make reset-state"),
        "{error}"
    );
    // Nothing was changed.
    let users = std::fs::read_to_string(image.path().join("users.csv")).unwrap();
    assert_eq!(users, old_users);
    assert!(!image.path().join(feira::db::MIGRATION_BACKUP).exists());
}
