//! The gRPC door serves the socket door's store: the same tables, locks, journal,
//! access rules and throttle.

use std::time::Duration;

use tonic::Code;

use crate::support::grpc::{start_both, start_both_with};
use crate::support::*;

/// `status` has this code, and its message starts with feira's `feira_code`.
#[track_caller]
fn assert_status<T: std::fmt::Debug>(
    outcome: Result<T, tonic::Status>,
    code: Code,
    feira_code: &str,
) {
    let status = outcome.expect_err("the call should be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{feira_code} ")),
        "{status:?} should carry {feira_code}"
    );
}

#[test]
fn an_order_over_grpc_is_seen_at_once_by_products_on_a_socket() {
    let both = start_both();
    let mut socket = both.server.login(ALICE);
    let stock_before = ok(&mut socket, "PRODUCT \"Maçã\"")[0][2].clone();
    let balance_before = balance(&mut socket);
    let mut grpc = both.grpc_login(ALICE);
    let order = grpc.place_order("Maçã", 3).expect("ORDER over gRPC");
    assert_eq!((order.quantity, order.unit_price_cents), (3, 250));
    assert_eq!(order.total_cents, 750);
    // No wait, no retry: the reply came after the journal's fsync, and the socket door
    // reads the same table.
    let products = ok(&mut socket, "PRODUCTS");
    let apple = products.iter().find(|row| row[0] == "Maçã").expect("Maçã");
    let expected = stock_before.parse::<u64>().unwrap() - 3;
    assert_eq!(apple[2], expected.to_string());
    assert_ne!(balance(&mut socket), balance_before);
    assert_eq!(balance(&mut socket), "92.50");
    // The socket's ORDERS lists it, and the order is in the journal already.
    let orders = ok(&mut socket, "ORDERS");
    assert_eq!(orders[0][0], order.id.to_string());
    assert!(journal_text(&both.server.data_dir()).contains("Maçã"));
    // And the gRPC door sees what a socket changes.
    ok(&mut socket, "ORDER Caju 2");
    let listed = grpc.list_orders(0).expect("ListOrders");
    assert_eq!(listed.total, 2);
    assert_eq!(listed.orders[0].product, "Caju");
    assert_eq!(grpc.balance().expect("Balance").balance_cents, 9250 - 240);
    // STATS counts the gRPC calls under their verbs.
    let mut admin = both.server.login(ADMIN);
    let stats = ok(&mut admin, "STATS");
    let order_count = (stats.iter())
        .find(|row| row[0] == "verb" && row[1] == "ORDER")
        .expect("a row for ORDER");
    assert_eq!(order_count[2], "2");
}

#[test]
fn products_by_price_product_and_money_in_cents() {
    let both = start_both();
    let mut grpc = both.grpc_login(BOB);
    let all = grpc.list_products(None).expect("ListProducts");
    let cheap = grpc.list_products(Some(250)).expect("ListProducts 2.50");
    assert!(cheap.len() < all.len());
    assert!(cheap.iter().all(|p| p.price_cents <= 250));
    assert!(
        cheap
            .iter()
            .any(|p| p.name == "Maçã" && p.price_cents == 250)
    );
    // A name typed with combining accents finds the product (NFC at the edge).
    let apple = grpc.get_product("Mac\u{327}a\u{303}").expect("GetProduct");
    assert_eq!(apple.name, "Maçã");
}

#[test]
fn refusals_keep_feiras_code_and_map_one_to_one() {
    let both = start_both();
    let mut alice = both.grpc_login(ALICE);
    assert_status(alice.get_product("Kiwi"), Code::NotFound, "NOT_FOUND");
    assert_status(
        alice.place_order("Chuteira", 1_000_000),
        Code::FailedPrecondition,
        "INSUFFICIENT_STOCK",
    );
    assert_status(
        alice.place_order("Banana", 400),
        Code::FailedPrecondition,
        "INSUFFICIENT_FUNDS",
    );
    let own_key = alice.get_pay_key().expect("GetPayKey").pay_key;
    assert_status(alice.transfer(&own_key, 100), Code::Aborted, "CONFLICT");
    assert_status(
        alice.transfer("not a key", 100),
        Code::InvalidArgument,
        "BAD_REQUEST",
    );
    let mut admin = both.grpc_login(ADMIN);
    assert_status(
        admin.add_product("Caju", 100, 1),
        Code::AlreadyExists,
        "CONFLICT",
    );
    let added = admin.add_product("Pitanga", 390, 12).expect("AddProduct");
    assert_eq!((added.price_cents, added.stock), (390, 12));
    let mut stranger = both.grpc();
    assert_status(
        stranger.login("alice", "wrong"),
        Code::Unauthenticated,
        "AUTH_FAILED",
    );
    assert_status(
        stranger.login("nobody", "x"),
        Code::Unauthenticated,
        "AUTH_FAILED",
    );
}

#[test]
fn a_transfer_by_pay_key_moves_money_seen_by_both_doors() {
    let both = start_both();
    let mut bob_socket = both.server.login(BOB);
    let key = pay_key(&mut bob_socket);
    let mut alice = both.grpc_login(ALICE);
    let receipt = alice.transfer(&key, 1250).expect("Transfer");
    assert_eq!((receipt.to.as_str(), receipt.amount_cents), ("bob", 1250));
    assert_eq!(receipt.balance_after_cents, 10000 - 1250);
    assert_eq!(balance(&mut bob_socket), "112.50");
}

#[test]
fn missing_wrong_and_expired_tokens_are_unauthenticated() {
    let idle = Duration::from_millis(300);
    let both = start_both_with(|config| config.idle_timeout = idle, |_| {});
    let mut grpc = both.grpc();
    assert_status(grpc.balance(), Code::Unauthenticated, "AUTH_REQUIRED");
    grpc.set_token(Some("0".repeat(64)));
    assert_status(grpc.balance(), Code::Unauthenticated, "AUTH_REQUIRED");
    grpc.set_token(Some("not even hex, and \u{7f} odd".into()));
    assert_status(grpc.balance(), Code::Unauthenticated, "AUTH_REQUIRED");
    let reply = grpc.login("alice", "alice-pass").expect("Login");
    assert_eq!(
        (reply.user.as_str(), reply.role.as_str()),
        ("alice", "customer")
    );
    assert!(grpc.balance().is_ok());
    // Not a wait for readiness: the token must stay unused for longer than the idle
    // timeout, and nothing can be polled for that.
    std::thread::sleep(idle + Duration::from_millis(200));
    assert_status(grpc.balance(), Code::Unauthenticated, "AUTH_REQUIRED");
    // The socket door is not touched by any of it.
    let mut socket = both.server.login(ALICE);
    ok(&mut socket, "BALANCE");
}

#[test]
fn an_admin_call_by_a_customer_is_permission_denied_and_changes_nothing() {
    let both = start_both();
    let mut alice = both.grpc_login(ALICE);
    let before = alice.get_product("Caju").expect("GetProduct").stock;
    assert_status(
        alice.restock("Caju", 50),
        Code::PermissionDenied,
        "FORBIDDEN",
    );
    assert_status(
        alice.add_product("Graviola", 500, 5),
        Code::PermissionDenied,
        "FORBIDDEN",
    );
    assert_eq!(alice.get_product("Caju").expect("GetProduct").stock, before);
    assert_status(alice.get_product("Graviola"), Code::NotFound, "NOT_FOUND");
    // An admin may, and never below zero (seed 004's `Caju -20`).
    let mut admin = both.grpc_login(ADMIN);
    assert_eq!(
        admin.restock("Caju", 50).expect("Restock").stock,
        before + 50
    );
    assert_eq!(
        admin.restock("Caju", -20).expect("Restock").stock,
        before + 30
    );
    assert_status(
        admin.restock("Caju", -(before + 31)),
        Code::FailedPrecondition,
        "INSUFFICIENT_STOCK",
    );
}

#[test]
fn failed_logins_over_grpc_count_for_the_socket_door_too() {
    let both = start_both();
    let mut grpc = both.grpc();
    // The throttle's burst for one name from one address is 3 failures.
    for _ in 0..3 {
        assert_status(
            grpc.login("bob", "wrong"),
            Code::Unauthenticated,
            "AUTH_FAILED",
        );
    }
    assert_status(
        grpc.login("bob", "bob-pass"),
        Code::ResourceExhausted,
        "THROTTLED",
    );
    // The same throttle: the socket door refuses bob from this address too.
    let mut socket = both.server.client();
    err(&mut socket, "LOGIN bob bob-pass", "THROTTLED");
}
