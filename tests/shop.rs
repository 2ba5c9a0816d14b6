//! The shop over TCP: the verbs anyone may send (PING, HELP, QUIT), the login every
//! other verb needs, browsing and ordering, the admin's verbs and STATS, with their
//! success and error paths. The account verbs are in tests/accounts.rs, the wallet
//! verbs in tests/wallets.rs.

mod support;

use support::*;

#[test]
fn ping_help_and_quit_need_no_login() {
    let server = start_server();
    let mut c = server.client();
    assert_eq!(call(&mut c, "PING").status, Ok("PONG".into()));
    assert!(ok(&mut c, "HELP").len() >= 14);
    assert_eq!(ok(&mut c, "help order")[0][0], "ORDER");
    err(&mut c, "HELP FLY", "NOT_FOUND");
    assert_eq!(call(&mut c, "QUIT").status, Ok("bye".into()));
}

#[test]
fn everything_else_needs_a_login() {
    let server = start_server();
    let mut c = server.client();
    for line in [
        "PRODUCTS",
        "PRODUCT Caju",
        "ORDER Caju 1",
        "ORDERS",
        "WHOAMI",
        "LOGOUT",
        "RESTOCK Caju 1",
        "UNREGISTER x",
    ] {
        err(&mut c, line, "AUTH_REQUIRED");
    }
}

#[test]
fn browse_and_order() {
    let server = start_server();
    let mut c = server.login(ALICE);
    assert_eq!(ok(&mut c, "WHOAMI"), [["alice", "customer", "2"]]);
    let cheap = ok(&mut c, "PRODUCTS 1.20");
    let names: Vec<&str> = cheap.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Banana", "Caju"]);
    assert_eq!(ok(&mut c, "PRODUCTS").len(), 8);
    assert_eq!(ok(&mut c, "PRODUCT Maçã"), [["Maçã", "2.50", "300"]]);
    let order = ok(&mut c, "ORDER Maçã 4");
    assert_eq!(&order[0][1..5], ["Maçã", "4", "2.50", "10.00"]);
    assert_eq!(ok(&mut c, "PRODUCT Maçã")[0][2], "296");
    assert_eq!(ok(&mut c, "ORDERS").len(), 1);
    err(&mut c, "ORDER Maçã 297", "INSUFFICIENT_STOCK");
    err(&mut c, "ORDER Jaca 1", "NOT_FOUND");
    err(&mut c, "PRODUCT Jaca", "NOT_FOUND");
    // Bob sees none of Alice's orders.
    let mut bob = server.login(BOB);
    assert!(ok(&mut bob, "ORDERS").is_empty());
}

#[test]
fn admin_verbs() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    err(&mut alice, "RESTOCK Caju 5", "FORBIDDEN");
    err(&mut alice, "ADD_PRODUCT Jaca 4.00 10", "FORBIDDEN");
    let mut admin = server.login(ADMIN);
    ok(&mut admin, "RESTOCK Caju -20");
    assert_eq!(ok(&mut admin, "PRODUCT Caju")[0][2], "180");
    err(&mut admin, "RESTOCK Caju -181", "INSUFFICIENT_STOCK");
    assert_eq!(
        ok(&mut admin, "PRODUCT Caju")[0][2],
        "180",
        "a refused restock changes nothing"
    );
    err(&mut admin, "RESTOCK Jaca 1", "NOT_FOUND");
    ok(
        &mut admin,
        r#"ADD_PRODUCT "Bola, \"oficial\" nova" 99.90 7"#,
    );
    err(
        &mut admin,
        r#"ADD_PRODUCT "Bola\nnova" 99.90 7"#,
        "BAD_REQUEST",
    );
    err(&mut admin, "ADD_PRODUCT Caju 1.00 1", "CONFLICT");
    err(&mut admin, "ADD_PRODUCT Jaca 0 1", "BAD_REQUEST");
    err(&mut admin, r#"ADD_PRODUCT "  " 1.00 1"#, "BAD_REQUEST");
    assert_eq!(
        ok(&mut alice, r#"PRODUCT "Bola, \"oficial\" nova""#)[0][1],
        "99.90"
    );
}

#[test]
fn stats_show_connections_verbs_and_locks() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    err(&mut alice, "STATS", "FORBIDDEN");
    ok(&mut alice, "ORDER Caju 2");
    ok(&mut alice, "ORDER Caju 1");
    let mut admin = server.login(ADMIN);
    let rows = ok(&mut admin, "STATS");
    let find = |kind: &str, name: &str| {
        rows.iter()
            .find(|r| r[0] == kind && r[1] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {rows:?}"))
            .clone()
    };
    assert_eq!(find("server", "connections_live")[2], "2");
    assert_eq!(find("verb", "ORDER")[2], "2");
    assert_eq!(find("verb", "LOGIN")[2], "2");
    let products = find("lock", "products");
    assert!(products[2].parse::<u64>().unwrap() >= 2, "{products:?}");
    assert!(find("server", "threads")[2].parse::<u64>().unwrap() >= 3);
    assert_eq!(find("server", "audit_dropped")[2], "0");
    // A directory operation reaches the audit thread, which counts the row it writes.
    ok(&mut alice, "CONNECT 9");
    let audited = wait_until(std::time::Duration::from_secs(10), || {
        let rows = ok(&mut admin, "STATS");
        rows.iter()
            .any(|r| r[0] == "server" && r[1] == "audit_written" && r[2] != "0")
    });
    assert!(audited, "audit_written never moved");
}
