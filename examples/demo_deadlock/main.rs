//! Demo: a deadlock between two threads that take two locks in opposite orders, found
//! by a watchdog; then the same work with one lock order, which cannot deadlock.
//!
//! Run it with `cargo run --release --example demo_deadlock` (or `make demo-deadlock`).
//!
//! The shop has two tables, each behind its own lock, named like feira's: `products`
//! (the stock) and `wallets` (the customer's money). Two operations need both:
//!
//! - ORDER takes a unit from the stock and charges the wallet: it locks products, then
//!   wallets;
//! - REFUND, written carelessly, gives the money back first: it locks wallets, then
//!   products.
//!
//! If ORDER holds products while REFUND holds wallets, each waits for the lock the other
//! holds, and neither will ever release its own: a deadlock. Nothing crashes, nothing is
//! printed, the threads just stop, for ever. Here a handshake makes both threads take
//! their first lock before either asks for its second, so the deadlock happens on every
//! run, not by bad luck; in a server it happens by bad luck, rarely, in production.
//!
//! # The rule that prevents it: one global lock order
//!
//! A cycle of waiting threads needs someone to wait "backwards". If every thread takes
//! the locks it needs in the same global order, a thread holding lock N only ever waits
//! for locks after N, so no cycle can form. feira's order is written once, in
//! docs/ARCHITECTURE.md: tables are locked in the order
//! users -> products -> wallets -> orders -> transfers -> files, and the journal last.
//! Phase 2 of this demo applies it (REFUND also takes products first) and runs thousands
//! of ORDERs and REFUNDs at once without a single deadlock.
//!
//! Modules: [`watchdog`] finds deadlocks (the wait-for graph); [`table`] is a table behind
//! a lock that reports to the watchdog.

mod table;
mod watchdog;

use std::process::ExitCode;
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use feira::protocol::Cents;

use table::{NotLocked, Table};
use watchdog::{Watchdog, Worker};

/// One product on the shelf, at this price.
const PRICE: Cents = Cents(2_500); // R$ 25.00, in cents
const INITIAL_STOCK: u32 = 10;
/// The customer's wallet when the shop opens: enough for four units.
const INITIAL_BALANCE: Cents = Cents(10_000); // R$ 100.00
/// ORDERs and REFUNDs each thread runs in phase 2.
const ROUNDS: u32 = 10_000;

/// The shop's two tables, each with its own lock.
struct Shop {
    /// Units of the product in stock.
    products: Table<u32>,
    /// The customer's balance.
    wallets: Table<Cents>,
}

impl Shop {
    fn open() -> Shop {
        Shop {
            products: Table::new("products", INITIAL_STOCK),
            wallets: Table::new("wallets", INITIAL_BALANCE),
        }
    }

    /// The customer has paid for exactly the units that left the shelf. True whenever
    /// both tables are seen together (under both locks, or at the end); it would break
    /// if someone changed one table without the other.
    fn consistent(stock: u32, balance: Cents) -> bool {
        let taken = i64::from(INITIAL_STOCK) - i64::from(stock);
        let paid = INITIAL_BALANCE.0 - balance.0;
        paid == taken * PRICE.0
    }
}

/// ORDER: one unit from the shelf, its price from the wallet, or nothing if either is
/// short. Lock order: products, then wallets (the rule).
///
/// `handshake`, in phase 1 only, makes this thread wait after its first lock until the
/// other thread also holds its first lock.
fn order(shop: &Shop, worker: &Worker, handshake: Option<&Barrier>) -> Result<bool, NotLocked> {
    let products = shop.products.lock(worker);
    meet(handshake);
    let mut products = products?;
    let mut wallets = shop.wallets.lock(worker)?;
    // Both locks held: nobody can see the stock changed and the wallet not yet charged.
    if *products == 0 || *wallets < PRICE {
        return Ok(false);
    }
    *products -= 1;
    *wallets = Cents(wallets.0 - PRICE.0);
    Ok(true)
}

/// REFUND, the careless version: wallets first, then products. This breaks the lock
/// order, and with ORDER running at the same time it deadlocks.
fn refund_wrong_order(
    shop: &Shop,
    worker: &Worker,
    handshake: Option<&Barrier>,
) -> Result<bool, NotLocked> {
    let wallets = shop.wallets.lock(worker);
    meet(handshake);
    let mut wallets = wallets?;
    let mut products = shop.products.lock(worker)?;
    Ok(give_back(&mut products, &mut wallets))
}

/// REFUND, fixed: products first, then wallets, the same order as ORDER.
fn refund(shop: &Shop, worker: &Worker) -> Result<bool, NotLocked> {
    let mut products = shop.products.lock(worker)?;
    let mut wallets = shop.wallets.lock(worker)?;
    Ok(give_back(&mut products, &mut wallets))
}

/// Puts one unit back and returns its price, if the customer has bought one.
fn give_back(stock: &mut u32, balance: &mut Cents) -> bool {
    if balance.0 + PRICE.0 > INITIAL_BALANCE.0 {
        return false; // nothing bought, nothing to refund
    }
    *stock += 1;
    *balance = Cents(balance.0 + PRICE.0);
    true
}

/// Waits at the handshake, if there is one. The first lock's result is checked only
/// after the handshake, so that a thread never leaves the other waiting here for ever.
fn meet(handshake: Option<&Barrier>) {
    if let Some(barrier) = handshake {
        barrier.wait();
    }
}

/// Phase 1: ORDER and REFUND once each, in opposite lock orders. Returns how many
/// deadlocks the watchdog found (1 is the expected lesson).
fn phase_1_opposite_orders() -> usize {
    println!("Phase 1: ORDER locks products then wallets; REFUND locks wallets then products.");
    let shop = Shop::open();
    let watchdog = Watchdog::start();
    let handshake = Barrier::new(2);
    let (ordered, refunded) = thread::scope(|scope| {
        let order_worker = watchdog.worker("order", true);
        let refund_worker = watchdog.worker("refund", true);
        let (shop, handshake) = (&shop, &handshake);
        let ordered = scope.spawn(move || order(shop, &order_worker, Some(handshake)));
        let refunded =
            scope.spawn(move || refund_wrong_order(shop, &refund_worker, Some(handshake)));
        // Neither thread can panic short of a bug in this file: let it show.
        (ordered.join().unwrap(), refunded.join().unwrap())
    });
    let deadlocks = watchdog.finish();
    for deadlock in &deadlocks {
        let threads: Vec<_> = deadlock.cycle.iter().map(|link| link.thread).collect();
        println!(
            "  the watchdog found a deadlock between {} and aborted '{}'",
            threads.join(" and "),
            deadlock.victim
        );
    }
    println!(
        "  order : {}",
        outcome(&ordered, "sold 1 unit, charged the wallet")
    );
    println!(
        "  refund: {}",
        outcome(&refunded, "gave 1 unit's money back")
    );
    let (stock, balance) = (shop.products.into_rows(), shop.wallets.into_rows());
    println!("  stock {stock}, balance {}", balance.to_brl());
    println!();
    deadlocks.len()
}

/// Phase 2: the same two operations, both in the lock order, ROUNDS times each at once.
/// Returns true if every transaction completed, the watchdog saw no deadlock and the
/// customer paid for exactly the units taken.
fn phase_2_one_order() -> bool {
    println!(
        "Phase 2: the rule. ORDER and REFUND both lock products, then wallets; {ROUNDS} of each, at once."
    );
    let shop = Shop::open();
    let watchdog = Watchdog::start();
    let started = Instant::now();
    let start_line = Barrier::new(2);
    let run = |worker: Worker, step: &(dyn Fn(&Worker) -> Result<bool, NotLocked> + Sync)| {
        start_line.wait();
        let mut done = 0u32;
        for _ in 0..ROUNDS {
            match step(&worker) {
                Ok(_) => done += 1,
                Err(why) => {
                    println!("  [{}] could not lock: {why:?}", worker.name);
                    break;
                }
            }
        }
        done
    };
    let (orders, refunds) = thread::scope(|scope| {
        let order_worker = watchdog.worker("order", false);
        let refund_worker = watchdog.worker("refund", false);
        let shop = &shop;
        let run = &run;
        let orders = scope.spawn(move || run(order_worker, &|w| order(shop, w, None)));
        let refunds = scope.spawn(move || run(refund_worker, &|w| refund(shop, w)));
        (orders.join().unwrap(), refunds.join().unwrap())
    });
    let deadlocks = watchdog.finish();
    let elapsed = started.elapsed();
    let (stock, balance) = (shop.products.into_rows(), shop.wallets.into_rows());
    let consistent = Shop::consistent(stock, balance);
    println!("  order : {orders} of {ROUNDS} transactions completed");
    println!("  refund: {refunds} of {ROUNDS} transactions completed");
    println!("  deadlocks found by the watchdog: {}", deadlocks.len());
    println!(
        "  stock {stock}, balance {}: {} (in {elapsed:.2?})",
        balance.to_brl(),
        if consistent {
            "the customer paid for exactly the units taken"
        } else {
            "INCONSISTENT: money and units do not match"
        }
    );
    println!();
    orders == ROUNDS && refunds == ROUNDS && deadlocks.is_empty() && consistent
}

fn outcome(result: &Result<bool, NotLocked>, done: &str) -> String {
    match result {
        Ok(true) => format!("completed: {done}"),
        Ok(false) => "completed: nothing to do".to_string(),
        Err(NotLocked::Aborted) => {
            "aborted by the watchdog: released its lock, changed nothing (a real system would retry)"
                .to_string()
        }
        Err(NotLocked::TimedOut) => "gave up waiting for a lock (timeout)".to_string(),
    }
}

fn main() -> ExitCode {
    let deadlocks = phase_1_opposite_orders();
    let fixed = phase_2_one_order();
    if deadlocks >= 1 && fixed {
        println!(
            "Opposite lock orders deadlocked; one global order (products before wallets) never did."
        );
        ExitCode::SUCCESS
    } else {
        if deadlocks == 0 {
            println!(
                "UNEXPECTED: phase 1 should have deadlocked and the watchdog should have said so."
            );
        }
        if !fixed {
            println!("UNEXPECTED: phase 2, with one lock order, did not complete cleanly.");
        }
        ExitCode::FAILURE
    }
}
