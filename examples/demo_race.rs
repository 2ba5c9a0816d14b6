//! Demo: a lost-update race on a shop's stock, first without a lock, then with one.
//!
//! Run it with `cargo run --release --example demo_race` (or `make demo-race`).
//!
//! Why this demo exists: the sports-store assignment (seed 003) decremented the stock with
//! "read the stock, check it is enough, write the new stock". Two customers who both read
//! "1 left" both get the last unit. This program runs that exact check-then-act on a
//! shared stock from many threads, twice, and counts what went wrong:
//!
//! 1. without a lock: the stock is read and written by separate steps, so two buyers can
//!    read the same value and both write `value - 1`: one decrement is lost, and the shop
//!    sells more units than it ever had;
//! 2. with a lock around the whole read-check-write: the same workload, nothing lost.
//!
//! # Why the "unlocked" version still uses atomics
//!
//! Safe Rust does not let two threads write a plain `u64` at the same time: a `&mut u64`
//! cannot be shared between threads, and a shared `&u64` cannot be written. Python, Java
//! or C would compile the truly unsynchronised version (a *data race*); Rust refuses it
//! at compile time. So the unlocked stock is an `AtomicU64`, read with one `load` and
//! written with a separate `store`, both `Ordering::Relaxed`. Each single load or store is
//! indivisible, so memory is never torn, and yet the program is still wrong: the bug is
//! the *gap* between the check and the act, where another thread may act on the same
//! value. That is a *race condition* (a logic bug), and no compiler can forbid it. It is
//! the same logical race as seed 003's unlocked stock update.
//!
//! The fix is to make check and act one indivisible step: hold a lock across both (what
//! feira's tables do), or use a single atomic read-modify-write such as
//! `fetch_update`/`compare_exchange` when the state is one number.

use std::process::ExitCode;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Units in stock when the shop opens.
const INITIAL_STOCK: u64 = 500_000;
/// Buyer threads: more threads than cores, like a server with many connections.
const BUYERS: usize = 8;
/// How many times each buyer tries to buy one unit. 8 x 100,000 = 800,000 attempts on a
/// stock of 500,000: a correct shop sells exactly 500,000 and refuses 300,000.
const ATTEMPTS_PER_BUYER: u64 = 100_000;

/// What one run of the workload produced.
struct Outcome {
    /// Sales the buyers counted: each one believes it got a unit.
    sold: u64,
    /// Units still in stock at the end.
    left: u64,
    /// Wall-clock time of the run.
    elapsed: Duration,
}

impl Outcome {
    /// Units that really left the shelf, according to the stock counter.
    fn removed(&self) -> u64 {
        INITIAL_STOCK - self.left
    }

    /// Sales whose decrement was overwritten by another buyer: the lost updates.
    fn lost_updates(&self) -> u64 {
        self.sold.saturating_sub(self.removed())
    }

    /// Units sold that the shop never had.
    fn oversold(&self) -> u64 {
        self.sold.saturating_sub(INITIAL_STOCK)
    }
}

/// Every this many attempts, a buyer gives up the processor inside the gap.
const YIELD_EVERY: u64 = 1_000;

/// What happens between reading the stock and writing it back. In a real server this
/// is work (parse the order, check the wallet, append a CSV line) and, at any moment,
/// the operating system may pause the thread here and run another one.
///
/// Here the gap is empty except that every `YIELD_EVERY`-th purchase calls `yield_now`,
/// which asks the operating system to run another thread right now, inside the gap. The
/// race happens without it on a multi-core machine too (it is a matter of nanoseconds),
/// but the forced pauses make it happen on every run, even on a busy 2-core laptop where
/// only one buyer may be running at a time. The locked run does exactly the same, so the
/// comparison is fair; there the paused buyer still holds the lock, so nobody can slip in.
fn work_between_check_and_act(attempt: u64) {
    if attempt.is_multiple_of(YIELD_EVERY) {
        thread::yield_now();
    }
}

/// Starts `BUYERS` threads that each call `try_buy(attempt)` for `attempt` in
/// `0..ATTEMPTS_PER_BUYER`, and returns how many calls were sales (returned `true`).
///
/// Each buyer counts its own sales in a local variable and returns the count when it
/// joins, so the counting itself cannot race: only the stock is shared.
fn run_buyers(try_buy: impl Fn(u64) -> bool + Sync) -> (u64, Duration) {
    // All buyers start at the same moment: without this the first thread might finish
    // before the last one is created, and they would never overlap.
    let start_line = Barrier::new(BUYERS);
    let started = Instant::now();
    let sold = thread::scope(|scope| {
        let buyers: Vec<_> = (0..BUYERS)
            .map(|_| {
                scope.spawn(|| {
                    start_line.wait();
                    let mut sales = 0u64;
                    for attempt in 0..ATTEMPTS_PER_BUYER {
                        if try_buy(attempt) {
                            sales += 1;
                        }
                    }
                    sales
                })
            })
            .collect();
        // A buyer can only panic through a bug in this file: let it show.
        buyers.into_iter().map(|b| b.join().unwrap()).sum()
    });
    (sold, started.elapsed())
}

/// Run 1: check-then-act with a gap. Two separate atomic steps, no lock.
fn without_lock() -> Outcome {
    let stock = AtomicU64::new(INITIAL_STOCK);
    let (sold, elapsed) = run_buyers(|attempt| {
        // CHECK: read the stock...
        let seen = stock.load(Ordering::Relaxed);
        if seen == 0 {
            return false; // sold out
        }
        // ...THE GAP: another buyer may read the same `seen` right now...
        work_between_check_and_act(attempt);
        // ...ACT: write back what we computed from a value that may be stale. If another
        // buyer stored `seen - 1` in the meantime, we store `seen - 1` again: one of the
        // two sales never reaches the stock. Worse, a buyer that slept in the gap can
        // write back an old, higher value and put sold units back on the shelf.
        stock.store(seen - 1, Ordering::Relaxed);
        true
    });
    Outcome {
        sold,
        left: stock.load(Ordering::Relaxed),
        elapsed,
    }
}

/// Run 2: the same steps, with a lock held from the check to the act.
fn with_lock() -> Outcome {
    // parking_lot::Mutex, the lock feira's tables use: small, fast and not poisoned by a
    // panic. The lock owns the data it protects: there is no way to touch the stock
    // without holding the lock.
    let stock = Mutex::new(INITIAL_STOCK);
    let (sold, elapsed) = run_buyers(|attempt| {
        let mut guard = stock.lock(); // only one buyer at a time past this line
        if *guard == 0 {
            return false;
        }
        work_between_check_and_act(attempt); // other buyers may run, but they wait at lock()
        *guard -= 1;
        true
        // the guard is dropped here: the lock is released after the write
    });
    Outcome {
        sold,
        left: stock.into_inner(),
        elapsed,
    }
}

/// Prints one run's figures. The labels are fixed: tests/demos.rs reads them.
fn report(title: &str, outcome: &Outcome) {
    println!("== {title} ==");
    println!("  stock at opening  {:>9} units", thousands(INITIAL_STOCK));
    println!("  sales counted     {:>9} units", thousands(outcome.sold));
    println!("  stock left        {:>9} units", thousands(outcome.left));
    println!(
        "  lost updates      {:>9}   (sales whose stock decrement was overwritten)",
        thousands(outcome.lost_updates())
    );
    println!(
        "  oversold          {:>9} units (sold but never in stock)",
        thousands(outcome.oversold())
    );
    println!("  time              {:>9.2?}", outcome.elapsed);
    if outcome.lost_updates() == 0 && outcome.oversold() == 0 {
        println!(
            "  => correct: sold {} units from a stock of {}, refused the other {}.",
            thousands(outcome.sold),
            thousands(INITIAL_STOCK),
            thousands(total_attempts() - outcome.sold)
        );
    } else {
        println!(
            "  => WRONG: sold {} units from a stock of {}: {} oversold,",
            thousands(outcome.sold),
            thousands(INITIAL_STOCK),
            thousands(outcome.oversold()),
        );
        println!(
            "     and the stock counter still says {} left: {} decrements were lost.",
            thousands(outcome.left),
            thousands(outcome.lost_updates())
        );
    }
    println!();
}

fn total_attempts() -> u64 {
    BUYERS as u64 * ATTEMPTS_PER_BUYER
}

/// `1234567` -> `"1,234,567"`: big numbers a class can read off a projector.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn main() -> ExitCode {
    println!(
        "{BUYERS} buyers each try to buy 1 unit {} times ({} attempts) from a stock of {}.",
        thousands(ATTEMPTS_PER_BUYER),
        thousands(total_attempts()),
        thousands(INITIAL_STOCK)
    );
    println!(
        "Each purchase is: read the stock; if it is above 0, write stock - 1 and count a sale."
    );
    println!();

    let unlocked = without_lock();
    report("without a lock (check, gap, act)", &unlocked);

    let locked = with_lock();
    report("with a lock (check and act under one Mutex)", &locked);

    // The unlocked run's losses are the lesson, not a failure. The locked run must be
    // exact; if it is not, something is broken and the exit code says so.
    if locked.lost_updates() == 0 && locked.sold == INITIAL_STOCK.min(total_attempts()) {
        println!("The lock made read-check-write one indivisible step: nothing lost.");
        ExitCode::SUCCESS
    } else {
        println!("BUG: the locked run lost updates; the lock is not doing its job.");
        ExitCode::FAILURE
    }
}
