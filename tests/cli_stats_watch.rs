//! `feira-cli --user admin stats --watch`: the built client against a real server.
//!
//! The server runs in this test process (tests/support); the client is the built
//! binary, run as a child process the way a class runs it beside `feira-bench`.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;

use support::feira_cli::{self, DEADLINE, finish};
use support::*;

/// The lock names STATS reports, in lock order (src/db.rs `Db::lock_stats`).
const LOCKS: [&str; 7] = [
    "users",
    "products",
    "wallets",
    "orders",
    "transfers",
    "files",
    "journal",
];

/// `feira-cli --addr ADDR --user USER stats --watch ARGS...`, password in the environment.
fn watch(addr: SocketAddr, (user, password): (&str, &str), args: &[&str]) -> Command {
    let mut command = feira_cli::command(addr);
    command
        .args(["--user", user, "stats", "--watch"])
        .args(args)
        .env("FEIRA_PASSWORD", password);
    command
}

/// The rows of the lock table named `lock`, each split into its columns.
fn rows_of<'a>(stdout: &'a str, lock: &str) -> Vec<Vec<&'a str>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.first() == Some(&lock))
        .collect()
}

#[test]
fn watch_shows_the_lock_table_each_refresh_with_the_change_per_second() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    ok(&mut alice, "ORDER Caju 2");
    let run = finish(
        watch(server.addr, ADMIN, &["--interval", "0.2", "--count", "2"])
            .spawn()
            .unwrap(),
    );
    assert_eq!(run.status.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert_eq!(
        out.matches("== STATS from").count(),
        2,
        "two refreshes: {out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("lock ")).count(),
        2,
        "the lock table's header, twice: {out}"
    );
    for lock in LOCKS {
        assert_eq!(rows_of(out, lock).len(), 2, "{lock}, once a refresh: {out}");
    }
    // Columns: lock, acquired, /s, contended, /s, wait ms, wait ms/s, max wait ms.
    let products = rows_of(out, "products");
    assert!(
        products[0][1].parse::<u64>().unwrap() >= 1,
        "the ORDER took products"
    );
    let users = rows_of(out, "users");
    assert_eq!(users[0][2], "-", "no rate on the first refresh: {out}");
    // Each STATS checks the admin's account under the users lock, so between the two
    // refreshes that lock was taken at least once more: a positive rate.
    let (first, second): (u64, u64) = (users[0][1].parse().unwrap(), users[1][1].parse().unwrap());
    assert!(second > first, "{out}");
    let rate: u64 = users[1][2]
        .strip_prefix('+')
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("a rate on the second refresh: {out}"));
    assert!(rate > 0, "{out}");
    assert!(out.contains("verbs: ") && out.contains("ORDER 1"), "{out}");
}

#[test]
fn watch_is_for_admins_only() {
    let server = start_server();
    let run = finish(
        watch(server.addr, ALICE, &["--count", "1"])
            .spawn()
            .unwrap(),
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.starts_with("ERR FORBIDDEN"), "{}", run.stderr);
    assert!(!run.stdout.contains("== STATS"), "{}", run.stdout);
}

#[test]
fn watch_stops_with_exit_2_when_the_server_goes_away() {
    let server = start_server();
    let child = watch(server.addr, ADMIN, &["--interval", "0.1"])
        .spawn()
        .unwrap();
    // LOGIN, then at least one STATS: the client is in its loop.
    let counters = &server.shared.counters;
    assert!(wait_until(DEADLINE, || counters
        .requests
        .load(Ordering::Relaxed)
        >= 2));
    drop(server.stop());
    let run = finish(child);
    assert_eq!(run.status.code(), Some(2), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("refresh 1,"), "{}", run.stdout);
    assert!(run.stderr.starts_with("feira-cli: "), "{}", run.stderr);
}
