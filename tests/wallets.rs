//! Wallets over TCP: every wallet verb's success and error paths, orders paid
//! from the wallet, key rotation, restart, and `feira-server check`.
//!
//! The concurrent workloads (the Jepsen bank test and the deadlock test) are in
//! tests/wallet_concurrency.rs.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use feira::db::schema::Wallet;
use feira::protocol::Cents;
use feira::server::SharedRef;
use support::server_process::run_to_end;
use support::*;

/// Everything a refused request must leave alone: the wallets and the ledger's length.
fn money_state(shared: &SharedRef) -> (BTreeMap<String, Wallet>, usize) {
    let wallets = shared.db.wallets.read().clone();
    (wallets, shared.db.transfers.read().len())
}

#[test]
fn every_wallet_verb_needs_a_login_and_deposit_an_admin() {
    let server = start_server();
    let mut c = server.client();
    for line in [
        "BALANCE",
        "PAYKEY",
        "TRANSFER 7KQ2-M9XD-4TRW-8BNP 1.00",
        "TRANSFERS",
        "TRANSFERS 3",
        "DEPOSIT alice 1.00",
    ] {
        err(&mut c, line, "AUTH_REQUIRED");
    }
    let mut alice = server.login(ALICE);
    err(&mut alice, "DEPOSIT alice 1.00", "FORBIDDEN");
    assert_eq!(balance(&mut alice), "100.00");
    let help: Vec<String> = ok(&mut alice, "HELP")
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    for verb in ["BALANCE", "PAYKEY", "TRANSFER", "TRANSFERS", "DEPOSIT"] {
        assert!(help.iter().any(|v| v == verb), "HELP lists {verb}");
    }
}

#[test]
fn a_transfer_moves_money_and_both_sides_see_it() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);
    let paykey = ok(&mut bob, "PAYKEY");
    let (key, expires, left) = (&paykey[0][0], &paykey[0][1], &paykey[0][2]);
    assert_eq!(key.len(), 19, "XXXX-XXXX-XXXX-XXXX: {key}");
    assert!(expires.ends_with('Z'), "{expires}");
    let left: u64 = left.parse().unwrap();
    assert!((1..=181).contains(&left), "{left}");

    let receipt = ok(&mut alice, &format!("TRANSFER {key} 12.5"));
    assert_eq!(receipt[0][1..], ["bob", "12.50", "87.50"]);
    assert_eq!(balance(&mut alice), "87.50");
    assert_eq!(balance(&mut bob), "112.50");
    // The key may be typed in lower case: it is the same key.
    ok(&mut alice, &format!("TRANSFER {} 0.50", key.to_lowercase()));

    // Newest first: the second transfer, then the first, then the opening balance.
    let alices = ok(&mut alice, "TRANSFERS");
    let shape = |row: &Vec<String>| row[2..].to_vec();
    assert_eq!(
        alices.iter().map(shape).collect::<Vec<_>>(),
        [
            vec!["transfer", "out", "bob", "0.50", "87.00"],
            vec!["transfer", "out", "bob", "12.50", "87.50"],
            vec!["initial", "in", "", "100.00", "100.00"],
        ]
    );
    assert_eq!(alices[1][0], receipt[0][0], "the ledger id of the transfer");
    let bobs = ok(&mut bob, "TRANSFERS 1");
    assert_eq!(
        shape(&bobs[0]),
        ["transfer", "in", "alice", "0.50", "113.00"]
    );
}

#[test]
fn a_cut_list_of_movements_says_how_many_there_are() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);
    let key = pay_key(&mut bob);
    for _ in 0..2 {
        ok(&mut alice, &format!("TRANSFER {key} 1.00"));
    }
    // Bob's wallet: its opening balance and two payments. Alice's movements are not his.
    let page = call(&mut bob, "TRANSFERS 1");
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.status, Ok("1 of 3 movements, newest first".into()));
    let whole = call(&mut bob, "TRANSFERS");
    assert_eq!(whole.data.len(), 3);
    assert_eq!(whole.status, Ok("3 movements, newest first".into()));
}

#[test]
fn bad_transfers_are_refused_and_change_nothing() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let bob_key = pay_key(&mut server.login(BOB));
    let alice_key = pay_key(&mut alice);
    let before = money_state(&server.shared);
    for amount in [
        "-1",
        "0",
        "0.00",
        "1.234",
        "1e3",
        "NaN",
        "99999999999999999999",
        "1,00",
    ] {
        err(
            &mut alice,
            &format!("TRANSFER {bob_key} {amount}"),
            "BAD_REQUEST",
        );
    }
    for key in ["bob", "7KQ2-M9XD-4TRW", "7KQ2-M9XD-4TRW-8BNU", "\"\""] {
        err(&mut alice, &format!("TRANSFER {key} 1.00"), "BAD_REQUEST");
    }
    err(&mut alice, &format!("TRANSFER {bob_key}"), "BAD_REQUEST");
    err(&mut alice, "TRANSFERS 0", "BAD_REQUEST");
    // Well-formed, but no wallet holds it (the odds of hitting one are 2^-80 per try).
    err(&mut alice, "TRANSFER 0000-0000-0000-0000 1.00", "NOT_FOUND");
    err(
        &mut alice,
        &format!("TRANSFER {alice_key} 1.00"),
        "CONFLICT",
    );
    err(
        &mut alice,
        &format!("TRANSFER {bob_key} 100.01"),
        "INSUFFICIENT_FUNDS",
    );
    // Not logged in: refused before anything is looked at.
    err(
        &mut server.client(),
        &format!("TRANSFER {bob_key} 1.00"),
        "AUTH_REQUIRED",
    );
    assert_eq!(money_state(&server.shared), before, "nothing changed");
    // All of it is fine.
    ok(&mut alice, &format!("TRANSFER {bob_key} 100.00"));
    assert_eq!(balance(&mut alice), "0.00");
    err(
        &mut alice,
        &format!("TRANSFER {bob_key} 0.01"),
        "INSUFFICIENT_FUNDS",
    );
}

#[test]
fn deposits_are_for_admins_and_balances_never_overflow() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    let receipt = ok(&mut admin, "DEPOSIT alice 50.00");
    assert_eq!(receipt[0][1..], ["alice", "50.00", "150.00"]);
    err(&mut admin, "DEPOSIT nobody 1.00", "NOT_FOUND");
    err(&mut admin, "DEPOSIT alice 0", "BAD_REQUEST");
    err(&mut admin, "DEPOSIT alice -5", "BAD_REQUEST");
    // Up to the largest balance the protocol can write, and not a cent more.
    ok(&mut admin, "DEPOSIT alice 999999999850.00");
    let mut alice = server.login(ALICE);
    assert_eq!(balance(&mut alice), "1000000000000.00");
    let before = money_state(&server.shared);
    err(&mut admin, "DEPOSIT alice 0.01", "CONFLICT");
    let alice_key = pay_key(&mut alice);
    err(
        &mut server.login(BOB),
        &format!("TRANSFER {alice_key} 1.00"),
        "CONFLICT",
    );
    assert_eq!(money_state(&server.shared), before, "nothing changed");
    let line = &ok(&mut alice, "TRANSFERS 1")[0];
    assert_eq!(line[2..5], ["deposit", "in", "admin"]);
    assert!(feira::wallet::check::check(&server.shared.db).is_ok());
}

#[test]
fn orders_are_paid_from_the_wallet_all_or_nothing() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let order = ok(&mut alice, "ORDER Maçã 4");
    assert_eq!(balance(&mut alice), "90.00");
    let payment = &ok(&mut alice, "TRANSFERS 1")[0];
    assert_eq!(
        payment[2..],
        ["order", "out", &order[0][0], "10.00", "90.00"]
    );

    let before = money_state(&server.shared);
    // 259.00 with 90.00 in the wallet: refused, and the stock is untouched.
    err(&mut alice, "ORDER Chuteira 1", "INSUFFICIENT_FUNDS");
    assert_eq!(ok(&mut alice, "PRODUCT Chuteira")[0][2], "15");
    assert_eq!(ok(&mut alice, "ORDERS").len(), 1);
    assert_eq!(money_state(&server.shared), before);
    // With a deposit it goes through.
    ok(&mut server.login(ADMIN), "DEPOSIT alice 169.00");
    ok(&mut alice, "ORDER Chuteira 1");
    assert_eq!(balance(&mut alice), "0.00");
    assert_eq!(ok(&mut alice, "PRODUCT Chuteira")[0][2], "14");
    assert!(feira::wallet::check::check(&server.shared.db).is_ok());
}

#[test]
fn register_opens_the_wallet_in_the_same_journal_line() {
    let server = start_server_with(|c| c.wallet.initial_balance = Cents(2500));
    let mut c = server.client();
    ok(&mut c, "REGISTER carla carla-pass");
    ok(&mut c, "LOGIN carla carla-pass");
    assert_eq!(balance(&mut c), "25.00");
    assert_eq!(
        ok(&mut c, "TRANSFERS")[0][2..],
        ["initial", "in", "", "25.00", "25.00"]
    );
    let journal = journal_text(&server.data_dir());
    let line = journal
        .lines()
        .find(|l| l.contains(",users,put,"))
        .expect("the registration is in the journal");
    assert!(
        line.contains("wallets,put") && line.contains("transfers,put"),
        "one line holds the user, the wallet and the ledger line: {line}"
    );
}

#[test]
fn unregister_needs_an_empty_wallet_and_closes_it() {
    let server = start_server();
    let mut c = server.client();
    ok(&mut c, "REGISTER dora dora-pass");
    ok(&mut c, "LOGIN dora dora-pass");
    let dora_key = pay_key(&mut c);
    err(&mut c, "UNREGISTER dora-pass", "CONFLICT");
    let mut alice = server.login(ALICE);
    let alice_key = pay_key(&mut alice);
    ok(&mut c, &format!("TRANSFER {alice_key} 100.00"));
    ok(&mut c, "UNREGISTER dora-pass");
    // Her key died with her wallet.
    err(
        &mut alice,
        &format!("TRANSFER {dora_key} 1.00"),
        "NOT_FOUND",
    );
    // The name can be taken again, with a new wallet; the ledger still adds up.
    ok(&mut c, "REGISTER dora dora-pass-2");
    ok(&mut c, "LOGIN dora dora-pass-2");
    assert_eq!(balance(&mut c), "100.00");
    assert_ne!(pay_key(&mut c), dora_key);
    assert!(feira::wallet::check::check(&server.shared.db).is_ok());
}

#[test]
fn keys_rotate_and_a_rotated_key_stops_working_at_once() {
    let server = start_server_with(|c| c.wallet.key_lifetime = Duration::from_secs(1));
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);
    let first = pay_key(&mut bob);
    let rotated = wait_until(Duration::from_secs(10), || pay_key(&mut bob) != first);
    assert!(rotated, "the key changed within 10 s at a 1 s lifetime");
    let before = money_state(&server.shared);
    err(&mut alice, &format!("TRANSFER {first} 1.00"), "NOT_FOUND");
    assert_eq!(money_state(&server.shared).1, before.1, "no ledger line");
    // The current key works (retry if it rotates between PAYKEY and TRANSFER).
    let paid = wait_until(Duration::from_secs(10), || {
        let key = pay_key(&mut bob);
        call(&mut alice, &format!("TRANSFER {key} 1.00")).is_ok()
    });
    assert!(paid);
    // Live keys stay unique.
    let wallets = server.shared.db.wallets.read();
    let keys: std::collections::HashSet<_> = wallets.values().map(|w| w.pay_key).collect();
    assert_eq!(keys.len(), wallets.len());
}

#[test]
fn keys_that_expired_while_stopped_are_replaced_before_anyone_connects() {
    let dir = demo_data_dir();
    let path = dir.path().join("wallets.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // alice's key expired long ago; bob's claims to live far too long.
    let mut old_keys = BTreeMap::new();
    for line in lines.iter_mut().skip(1) {
        let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
        old_keys.insert(fields[0].clone(), fields[3].clone());
        fields[4] = match fields[0].as_str() {
            "bob" => "2999-01-01T00:00:00Z".into(),
            _ => "2000-01-01T00:00:00Z".into(),
        };
        *line = fields.join(",");
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let config = test_config(dir.path());
    let server = start_in(dir, config);
    // The very first request already sees new keys: no waiting for the thread.
    for who in [ALICE, BOB] {
        let key = pay_key(&mut server.login(who));
        assert_ne!(key, old_keys[who.0], "{}", who.0);
    }
}

#[test]
fn restart_keeps_balances_ledger_and_keys() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);
    let bob_key = pay_key(&mut bob);
    ok(&mut alice, &format!("TRANSFER {bob_key} 30.00"));
    ok(&mut bob, "ORDER Pera 2");
    ok(&mut server.login(ADMIN), "DEPOSIT alice 5.00");
    let before = (
        balance(&mut alice),
        balance(&mut bob),
        ok(&mut alice, "TRANSFERS"),
        ok(&mut bob, "TRANSFERS"),
    );
    assert_eq!((before.0.as_str(), before.1.as_str()), ("75.00", "123.80"));
    let started = Instant::now();
    let server = server.restart();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown wakes the rotation thread instead of waiting for it"
    );
    let mut alice = server.login(ALICE);
    let mut bob = server.login(BOB);
    let after = (
        balance(&mut alice),
        balance(&mut bob),
        ok(&mut alice, "TRANSFERS"),
        ok(&mut bob, "TRANSFERS"),
    );
    assert_eq!(after, before);
    assert_eq!(pay_key(&mut bob), bob_key, "keys survive a restart");
    ok(&mut alice, &format!("TRANSFER {bob_key} 1.00"));
    assert!(feira::wallet::check::check(&server.shared.db).is_ok());
}

#[test]
fn the_check_command_passes_then_names_a_tampered_balance() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let bob_key = pay_key(&mut server.login(BOB));
    ok(&mut alice, &format!("TRANSFER {bob_key} 7.25"));
    ok(&mut alice, "ORDER Banana 2");
    let dir = server.stop();
    let check = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_feira-server"));
        command
            .args(["check", "--data"])
            .arg(dir.path())
            .env("RUST_LOG", "warn");
        run_to_end(command, Duration::from_secs(30))
    };
    let run = check();
    assert!(run.status.success(), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("the ledger agrees"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("balances 298.50 + paid for orders 1.50"),
        "{}",
        run.stdout
    );

    // Give alice 10.00 that the ledger never saw.
    let path = dir.path().join("wallets.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("alice,2,91.25,"), "{text}");
    std::fs::write(&path, text.replace("alice,2,91.25,", "alice,2,101.25,")).unwrap();
    let run = check();
    assert_eq!(run.code(), Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("alice holds 101.25, but the ledger adds up to 91.25"),
        "{}",
        run.stderr
    );
}
