//! Names stored by an older version, before user names had one canonical form: the
//! server renames them at start-up, so no account is stranded, and refuses to start
//! where renaming would need a guess.
//!
//! What used to happen: `Alice`, stored before the rule, could no longer log in
//! (`LOGIN alice` or `LOGIN Alice` both look for `alice`), and her money and orders were
//! out of her reach. A second account `alice` beside her would have been merged by
//! nothing and found by LOGIN instead.

mod support;

use std::path::Path;
use std::time::Duration;

use support::server_process::{ServerProcess, run_to_end, server_command};
use support::*;

const T: &str = "2026-11-27T12:00:00Z";

/// Appends `text` to a table of the data directory.
fn append(dir: &Path, table: &str, text: &str) {
    let path = dir.join(format!("{table}.csv"));
    let old = std::fs::read_to_string(&path).unwrap();
    std::fs::write(path, old + text).unwrap();
}

/// The demo data as an older version could have left it: alice registered as `Alice`,
/// bought two Caju (2.40) and has 97.60 left.
fn data_with_alice_as_typed() -> tempfile::TempDir {
    let dir = demo_data_dir();
    let rewrite = |table: &str, from: &str, to: &str| {
        let path = dir.path().join(format!("{table}.csv"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{table}.csv has {from:?}");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    };
    rewrite("users", ",alice,", ",Alice,");
    rewrite("wallets", "alice,2,100.00,", "Alice,2,97.60,");
    rewrite("transfers", ",alice,2,", ",Alice,2,");
    append(
        dir.path(),
        "orders",
        &format!("1,Alice,2,Caju,2,1.20,2.40,{T}\n"),
    );
    append(
        dir.path(),
        "transfers",
        &format!("4,{T},order,Alice,2,,,2.40,97.60,,1\n"),
    );
    dir
}

/// The tables of a data directory, as bytes.
fn tables(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "users",
        "wallets",
        "orders",
        "transfers",
        "products",
        "files",
    ]
    .iter()
    .map(|t| {
        (
            t.to_string(),
            std::fs::read(dir.join(format!("{t}.csv"))).unwrap(),
        )
    })
    .collect()
}

#[test]
fn an_account_stored_as_alice_logs_in_as_alice_with_her_money_and_orders() {
    let dir = data_with_alice_as_typed();
    let server = ServerProcess::start(dir.path());

    let mut alice = server.login(ALICE);
    assert_eq!(ok(&mut alice, "WHOAMI")[0][0], "alice");
    assert_eq!(ok(&mut alice, "BALANCE")[0][1], "97.60");
    let orders = ok(&mut alice, "ORDERS");
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0][..3], ["1", "Caju", "2"]);
    // Her payment for it is among her movements.
    let moves = ok(&mut alice, "TRANSFERS");
    assert!(
        moves.iter().any(|row| row.contains(&"order".to_string())),
        "{moves:?}"
    );
    // The rename was logged, at WARN, and the tables as they were are kept.
    let renamed = r#"renamed account 2 "Alice" to "alice""#;
    assert!(
        server
            .started_log
            .iter()
            .any(|line| line.contains("WARN") && line.contains(renamed)),
        "{:#?}",
        server.started_log
    );
    let kept = dir.path().join(feira::db::NAMES_BACKUP).join("users.csv");
    assert!(std::fs::read_to_string(kept).unwrap().contains(",Alice,"));
}

#[test]
fn alice_beside_alice_refuses_to_start_naming_both_and_changes_nothing() {
    let dir = data_with_alice_as_typed();
    // A second account that canonical names would merge with the first: bob's hash,
    // id 4, with its wallet and its opening line.
    let bob_row = std::fs::read_to_string(dir.path().join("users.csv"))
        .unwrap()
        .lines()
        .find(|line| line.starts_with("3,bob,"))
        .unwrap()
        .replacen("3,bob,", "4,alice,", 1);
    append(dir.path(), "users", &format!("{bob_row}\n"));
    append(
        dir.path(),
        "wallets",
        &format!("alice,4,100.00,7KQ2-M9XD-4TRW-8BNP,{T}\n"),
    );
    append(
        dir.path(),
        "transfers",
        &format!("5,{T},initial,,,alice,4,100.00,,100.00,\n"),
    );
    let before = tables(dir.path());

    let run = run_to_end(
        server_command(dir.path(), "127.0.0.1:0"),
        Duration::from_secs(20),
    );
    assert_ne!(
        run.code(),
        Some(0),
        "the server must not start: {}",
        run.stderr
    );
    for needed in [
        r#"account 2 "Alice" and account 4 "alice" would both be "alice""#,
        "users.csv",
        &dir.path().display().to_string(),
    ] {
        assert!(
            run.stderr.contains(needed),
            "{needed:?} not in:\n{}",
            run.stderr
        );
    }
    assert_eq!(tables(dir.path()), before, "no table was changed");
    assert!(!dir.path().join(feira::db::NAMES_BACKUP).exists());
}
