//! Bad input at the gRPC door: each is refused, nothing is lost, and both doors carry
//! on serving.

use std::time::{Duration, Instant};

use feira::protocol::MAX_QUANTITY;
use tonic::Code;

use crate::raw;
use crate::support::grpc::{BothDoors, impatient_client, start_both, start_both_with};
use crate::support::*;

/// Both doors still answer, and the store is as `expected_stock` of Maçã says.
#[track_caller]
fn both_doors_serve(both: &BothDoors, expected_stock: u64) {
    let mut grpc = both.grpc_login(BOB);
    let apple = grpc
        .get_product("Maçã")
        .expect("GetProduct after the bad input");
    assert_eq!(apple.stock, expected_stock as i64);
    let mut socket = both.server.login(BOB);
    let row = &ok(&mut socket, "PRODUCT \"Maçã\"")[0];
    assert_eq!(row[2], expected_stock.to_string());
}

#[test]
fn a_malformed_protobuf_body_is_refused_and_the_server_carries_on() {
    let both = start_both();
    let addr = both.grpc_addr();
    // A field tag with wire type 7 (there is none), then a length that runs past the end.
    for body in [
        vec![0x0f, 0x01],
        vec![0x0a, 0xff, 0xff, 0xff, 0x0f, b'x'],
        vec![0xff; 11],
    ] {
        let status = raw::unary(&addr, "GetProduct", body.clone()).expect_err("a broken body");
        // tonic answers a body it cannot decode with INTERNAL, as grpc-go does.
        assert_eq!(status.code(), Code::Internal, "{body:?}: {status:?}");
        assert!(status.message().contains("decode"), "{status:?}");
    }
    // The same call with a well-formed body is decoded, and refused for want of a token.
    let status =
        raw::unary(&addr, "GetProduct", raw::get_product_body("Maçã")).expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    both_doors_serve(&both, 300);
}

#[test]
fn a_message_over_64_kib_is_resource_exhausted_and_the_server_is_unaffected() {
    let both = start_both();
    let mut grpc = both.grpc_login(ALICE);
    let huge = "x".repeat(65 * 1024);
    let status = grpc
        .get_product(&huge)
        .expect_err("a message over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let status = grpc
        .place_order(&huge, 1)
        .expect_err("a message over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // The same client goes on, on the same connection.
    assert_eq!(grpc.place_order("Maçã", 1).expect("ORDER").quantity, 1);
    both_doors_serve(&both, 299);
}

#[test]
fn a_call_that_never_sends_its_message_is_cut_and_others_are_served_meanwhile() {
    let timeout = Duration::from_millis(800);
    let both = start_both_with(|_| {}, |config| config.call_timeout = timeout);
    let addr = both.grpc_addr();
    let silent = std::thread::spawn(move || {
        let started = Instant::now();
        (raw::never_send(&addr), started.elapsed())
    });
    // While it hangs, everyone else is served.
    both_doors_serve(&both, 300);
    let (status, took) = silent.join().expect("the silent client's thread");
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(took >= timeout, "cut after {took:?}, before the timeout");
    assert!(took < Duration::from_secs(20), "cut only after {took:?}");
    both_doors_serve(&both, 300);
}

#[test]
fn more_connections_than_the_limit_are_closed_and_the_others_served() {
    let both = start_both_with(|_| {}, |config| config.max_connections = 2);
    let addr = both.grpc_addr();
    let mut first = both.grpc_login(ALICE);
    let mut second = both.grpc_login(BOB);
    // A third connection is closed at once: it cannot even log in.
    let third = impatient_client(&addr).and_then(|mut client| {
        client
            .login("alice", "alice-pass")
            .map_err(|status| format!("{status:?}"))
    });
    assert!(third.is_err(), "a third connection was served: {third:?}");
    // The two admitted ones are served as before, and so is the socket door.
    assert!(first.balance().is_ok());
    assert!(second.balance().is_ok());
    let mut socket = both.server.login(ALICE);
    ok(&mut socket, "PRODUCTS");
    // A place that frees up is taken again.
    drop(first);
    let admitted = wait_until(Duration::from_secs(20), || {
        impatient_client(&addr).is_ok_and(|mut client| client.login("alice", "alice-pass").is_ok())
    });
    assert!(admitted, "no connection was admitted after one closed");
}

#[test]
fn negative_and_overflowing_numbers_are_invalid_arguments_and_change_nothing() {
    let both = start_both();
    let mut alice = both.grpc_login(ALICE);
    let mut admin = both.grpc_login(ADMIN);
    let over = MAX_QUANTITY as i64 + 1;
    let invalid = |outcome: Result<_, tonic::Status>| {
        let status: tonic::Status = outcome.map(|_: ()| ()).expect_err("out of bounds");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with("BAD_REQUEST "), "{status:?}");
    };
    for quantity in [0, -1, -3, i64::MIN, over, i64::MAX] {
        invalid(alice.place_order("Maçã", quantity).map(drop));
    }
    for delta in [i64::MIN, -over, over, i64::MAX] {
        invalid(admin.restock("Maçã", delta).map(drop));
    }
    for (price, stock) in [(-1, 1), (0, 1), (i64::MAX, 1), (100, -1), (100, i64::MAX)] {
        invalid(admin.add_product("Graviola", price, stock).map(drop));
    }
    let mut bob = both.server.login(BOB);
    let key = pay_key(&mut bob);
    for amount in [0, -100, i64::MIN, i64::MAX] {
        invalid(alice.transfer(&key, amount).map(drop));
    }
    invalid(alice.list_products(Some(-1)).map(drop));
    invalid(alice.list_orders(-1).map(drop));
    invalid(alice.list_orders(i64::MAX).map(drop));
    // Nothing changed: the stock, both balances, no new product.
    assert_eq!(alice.balance().expect("Balance").balance_cents, 10000);
    assert_eq!(balance(&mut bob), "100.00");
    assert_eq!(
        alice.get_product("Graviola").map(drop).unwrap_err().code(),
        Code::NotFound
    );
    both_doors_serve(&both, 300);
}
