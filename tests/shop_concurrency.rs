//! Many clients at once: the ORDER critical section sells exactly what is in stock.

mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use feira::protocol::ErrorCode;
use support::*;

/// 64 clients race to buy a product with stock 1,000, a few units at a time.
/// Exactly 1,000 units are sold, never more, and the orders add up to the stock that left.
#[test]
fn sixty_four_clients_sell_exactly_the_stock() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    ok(&mut admin, "ADD_PRODUCT Disputado 0.01 1000");

    const CLIENTS: usize = 64;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let barrier = barrier.clone();
            // Demo accounts are shared between connections: sessions are per connection.
            let account = if i % 2 == 0 { ALICE } else { BOB };
            let mut client = server.login(account);
            std::thread::spawn(move || {
                barrier.wait();
                let mut bought = 0u64;
                let mut quantity = (i % 3 + 1) as u64;
                loop {
                    let reply = client
                        .call_line(&format!("ORDER Disputado {quantity}"))
                        .expect("the server answers");
                    match reply.code() {
                        None => bought += quantity,
                        // Not enough for this many: try single units until none is left.
                        Some(ErrorCode::InsufficientStock) if quantity > 1 => quantity = 1,
                        Some(ErrorCode::InsufficientStock) => return bought,
                        Some(other) => panic!("unexpected {other}"),
                    }
                }
            })
        })
        .collect();
    let sold: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(sold, 1000, "acknowledged units");
    assert_eq!(ok(&mut admin, "PRODUCT Disputado")[0][2], "0");

    // The orders table agrees with what the clients were told.
    let orders = server.shared.db.orders.read();
    let recorded: u64 = orders
        .values()
        .filter(|o| o.product == "Disputado")
        .map(|o| o.quantity)
        .sum();
    assert_eq!(recorded, 1000, "units in orders");
}

/// Readers never see a half-applied order: stock + units ordered is constant at every
/// moment a reader looks, because both tables change under their write locks together.
#[test]
fn readers_never_see_half_an_order() {
    let server = start_server();
    let mut admin = server.login(ADMIN);
    ok(&mut admin, "ADD_PRODUCT Conferido 0.01 500");
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let mut client = server.login(ALICE);
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let _ = client.call_line("ORDER Conferido 1").unwrap();
                }
            })
        })
        .collect();
    let db = &server.shared.db;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while writers.iter().any(|w| !w.is_finished()) && std::time::Instant::now() < deadline {
        // Lock order: products, then orders.
        let products = db.products.read();
        let orders = db.orders.read();
        let stock = products["Conferido"].stock;
        let ordered: u64 = orders
            .values()
            .filter(|o| o.product == "Conferido")
            .map(|o| o.quantity)
            .sum();
        assert_eq!(stock + ordered, 500);
    }
    for w in writers {
        w.join().unwrap();
    }
}
