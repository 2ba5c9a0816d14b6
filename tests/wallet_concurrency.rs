//! Wallets under concurrency: the Jepsen "bank" workload, and a deadlock hunt.
//!
//! Both tests run many real clients over TCP for a bounded time, with pay keys rotating
//! every second so that some transfers race a rotation. A request that gets no answer
//! within [`ANSWER_WITHIN`] fails the test (a deadlocked server answers nothing). Care
//! is taken that a stuck server fails the test instead of hanging it: client threads
//! never touch the server's locks (they learn keys from a [`KeyDirectory`] thread, which
//! may itself get stuck, harmlessly), every socket read has a timeout, and a stuck
//! server is leaked rather than joined.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use feira::client::Client;
use feira::db::schema::Kind;
use feira::protocol::{Cents, Reply};
use feira::server::SharedRef;
use support::*;

/// How many accounts the bank holds, and how many clients hammer it.
const ACCOUNTS: usize = 100;
const CLIENTS: usize = 32;
/// Every request must be answered within this (a loaded debug build answers in ms).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Acknowledged transfers: ledger id, payer, payee, amount.
    transfers: Vec<(u64, String, String, Cents)>,
    /// Acknowledged orders: id and total.
    orders: Vec<(u64, Cents)>,
    /// Acknowledged deposits.
    deposits: Vec<Cents>,
    /// Refusals by code.
    refusals: HashMap<String, usize>,
    /// Replies that should not have happened.
    unexpected: Vec<String>,
    /// A request that got no answer in time: the server is stuck.
    stuck: Option<String>,
    requests: usize,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        self.transfers.extend(other.transfers);
        self.orders.extend(other.orders);
        self.deposits.extend(other.deposits);
        for (code, n) in other.refusals {
            *self.refusals.entry(code).or_default() += n;
        }
        self.unexpected.extend(other.unexpected);
        self.stuck = self.stuck.take().or(other.stuck);
        self.requests += other.requests;
    }

    /// Sends a line; `None` (and `stuck` set) if no reply came in time.
    fn call(&mut self, client: &mut Client, line: &str) -> Option<Reply> {
        let started = Instant::now();
        self.requests += 1;
        match client.call_line(line) {
            Ok(reply) if started.elapsed() <= ANSWER_WITHIN => Some(reply),
            Ok(_) => {
                self.stuck = Some(format!("{line}: answered after {:?}", started.elapsed()));
                None
            }
            Err(e) => {
                self.stuck = Some(format!("{line}: no answer: {e}"));
                None
            }
        }
    }

    /// Counts a refusal, flagging codes that this request should never get.
    fn refused(&mut self, line: &str, reply: &Reply, allowed: &[&str]) {
        let code = reply.code().map_or("?".to_string(), |c| c.to_string());
        if !allowed.contains(&code.as_str()) {
            self.unexpected.push(format!("{line} -> {reply:?}"));
        }
        *self.refusals.entry(code).or_default() += 1;
    }

    /// Fails if anything unexpected was seen, showing the first few.
    fn assert_nothing_unexpected(&self, who: &str) {
        assert!(
            self.unexpected.is_empty(),
            "{who}: {} unexpected replies, the first: {:#?}",
            self.unexpected.len(),
            &self.unexpected[..self.unexpected.len().min(5)]
        );
    }
}

/// Enough stock of the cheap products that orders stop for want of money, not stock
/// (an order refused for its stock never reaches the wallets, and would test less).
fn restock(server: &TestServer) {
    let mut admin = server.login(ADMIN);
    for product in ["Banana", "Caju", "Maçã", "Pera"] {
        ok(&mut admin, &format!("RESTOCK {product} 1000000"));
    }
}

/// Fails the test without joining a server that may be stuck.
fn fail_without_waiting(server: TestServer, message: String) -> ! {
    std::mem::forget(server);
    panic!("{message}");
}

/// Every wallet's current pay key, as friends would tell each other, refreshed by a
/// thread of its own every few milliseconds (so keys are sometimes a little stale).
///
/// Only this thread reads the server's tables directly. If the server deadlocks, this
/// thread blocks on a lock and is simply left behind; the clients keep the last copy
/// and go on to time out on their requests, which is what the tests look for.
struct KeyDirectory {
    keys: Arc<Mutex<BTreeMap<String, String>>>,
    stop: Arc<AtomicBool>,
}

impl KeyDirectory {
    fn start(shared: SharedRef) -> KeyDirectory {
        let keys = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let read = move || -> BTreeMap<String, String> {
            let wallets = shared.db.wallets.read();
            wallets
                .values()
                .map(|w| (w.user.clone(), w.pay_key.to_string()))
                .collect()
        };
        *keys.lock().unwrap() = read();
        let (published, stopped) = (keys.clone(), stop.clone());
        thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                let fresh = read();
                *published.lock().unwrap() = fresh;
                // A friend's message, not a readiness wait: keys travel with a delay.
                thread::sleep(Duration::from_millis(20));
            }
        });
        KeyDirectory { keys, stop }
    }

    fn get(&self) -> BTreeMap<String, String> {
        self.keys.lock().unwrap().clone()
    }
}

impl Drop for KeyDirectory {
    fn drop(&mut self) {
        // Not joined: if the server is stuck, so is this thread.
        self.stop.store(true, Ordering::Release);
    }
}

/// The starting gun: every client logs in first (argon2 makes logins slow under load),
/// then all start together and run for the same time.
struct Start {
    barrier: Barrier,
    run_for: Duration,
}

impl Start {
    fn new(clients: usize, run_for: Duration) -> Start {
        Start {
            barrier: Barrier::new(clients),
            run_for,
        }
    }

    /// Waits for every client to be ready; returns when to stop.
    fn go(&self) -> Instant {
        self.barrier.wait();
        Instant::now() + self.run_for
    }
}

/// A connection whose every read and write gives up after [`ANSWER_WITHIN`], logged in
/// through `seen` (so that a stuck login is reported like any stuck request).
fn connect(server: &TestServer, seen: &mut Seen, (user, password): (&str, &str)) -> Client {
    let mut client = Client::connect(server.addr, ANSWER_WITHIN).expect("connect");
    let line = format!("LOGIN {user} {password}");
    if let Some(reply) = seen.call(&mut client, &line) {
        assert!(reply.is_ok(), "{line}: {reply:?}");
    }
    client
}

fn account(i: usize) -> String {
    format!("acct{i:03}")
}

/// A server with the demo data plus [`ACCOUNTS`] accounts, keys rotating every second.
///
/// The accounts are written straight into `users.csv` with one shared password hash
/// (one argon2 run instead of a hundred); the server opens their wallets at start-up,
/// as it does for any account that has none.
///
/// The data lives on the project's disk, not in a tmpfs: see the fsyncs at the end of
/// [`the_bank_invariants_hold_under_concurrent_transfers_and_orders`].
fn bank_server() -> TestServer {
    let dir = demo_data_dir_on_disk();
    let hash = feira::accounts::password::hash("bank-pass").unwrap();
    let path = dir.path().join("users.csv");
    let mut users = std::fs::read_to_string(&path).unwrap();
    // Account ids after the demo accounts' 1, 2 and 3.
    for i in 0..ACCOUNTS {
        users.push_str(&format!(
            "{},{},customer,\"{hash}\",2026-11-27T12:00:00Z\n",
            i + 4,
            account(i)
        ));
    }
    std::fs::write(&path, users).unwrap();
    let mut config = test_config(dir.path());
    config.wallet.key_lifetime = Duration::from_secs(1);
    start_in(dir, config)
}

/// A transfer client: random transfers, a third of them meant to fail.
fn transfer_client(
    server: &TestServer,
    directory: &KeyDirectory,
    me: usize,
    start: &Start,
) -> Seen {
    let mut seen = Seen::default();
    let mut dice = Rng::new(me as u64 + 1);
    let me_name = account(me);
    let mut client = connect(server, &mut seen, (&me_name, "bank-pass"));
    let deadline = start.go();
    let mut old_keys: Vec<(String, String)> = Vec::new();
    while Instant::now() < deadline && seen.stuck.is_none() {
        let keys = directory.get();
        let roll = dice.below(100);
        // Mostly to the active clients, so that money keeps circulating instead of
        // piling up in accounts that never spend it.
        let among = if dice.below(4) == 0 {
            ACCOUNTS
        } else {
            CLIENTS
        };
        let target = account(dice.below(among));
        let (payee, key, amount, allowed): (String, String, Cents, &[&str]) = if roll < 10 {
            // To myself: CONFLICT (or NOT_FOUND if my key rotated meanwhile).
            let key = keys[&me_name].clone();
            (me_name.clone(), key, Cents(100), &["CONFLICT", "NOT_FOUND"])
        } else if roll < 20 && !old_keys.is_empty() {
            // A key seen a while ago: stale by now, or still live.
            let (user, key) = old_keys[dice.below(old_keys.len())].clone();
            let allowed: &[&str] = &["NOT_FOUND", "INSUFFICIENT_FUNDS"];
            (user, key, Cents(1 + dice.below(500) as i64), allowed)
        } else if roll < 30 {
            // More than anyone holds: 1,000,000.00.
            let allowed: &[&str] = &["INSUFFICIENT_FUNDS", "NOT_FOUND", "CONFLICT"];
            (
                target.clone(),
                keys[&target].clone(),
                Cents(100_000_000),
                allowed,
            )
        } else {
            let allowed: &[&str] = &["INSUFFICIENT_FUNDS", "NOT_FOUND", "CONFLICT"];
            let amount = Cents(1 + dice.below(1000) as i64);
            (target.clone(), keys[&target].clone(), amount, allowed)
        };
        if payee != me_name && old_keys.len() < 64 {
            old_keys.push((payee.clone(), key.clone()));
        }
        let line = format!("TRANSFER {key} {amount}");
        let Some(reply) = seen.call(&mut client, &line) else {
            break;
        };
        if reply.is_ok() {
            let row = &reply.data[0];
            let id: u64 = row[0].parse().unwrap();
            if row[1] != payee || payee == me_name {
                seen.unexpected
                    .push(format!("{line} meant for {payee} paid {}", row[1]));
            }
            seen.transfers
                .push((id, me_name.clone(), row[1].clone(), amount));
        } else {
            seen.refused(&line, &reply, allowed);
            if reply.code() == Some(feira::protocol::ErrorCode::InsufficientFunds) {
                // Broke: wait a moment for money to arrive instead of spinning.
                thread::sleep(Duration::from_millis(2));
            }
        }
    }
    seen
}

/// An order client: buys cheap things until its wallet runs dry (and some dear ones).
fn order_client(server: &TestServer, me: usize, start: &Start) -> Seen {
    let mut seen = Seen::default();
    let mut dice = Rng::new(1000 + me as u64);
    let mut client = connect(server, &mut seen, (&account(me), "bank-pass"));
    let deadline = start.go();
    let products = ["Banana", "Caju", "Maçã", "Pera", "Chuteira"];
    while Instant::now() < deadline && seen.stuck.is_none() {
        let product = products[dice.below(products.len())];
        let line = format!("ORDER {product} {}", 1 + dice.below(3));
        let Some(reply) = seen.call(&mut client, &line) else {
            break;
        };
        if reply.is_ok() {
            let row = &reply.data[0];
            seen.orders
                .push((row[0].parse().unwrap(), row[4].parse().unwrap()));
        } else {
            seen.refused(&line, &reply, &["INSUFFICIENT_FUNDS", "INSUFFICIENT_STOCK"]);
            // A customer without money waits for some to arrive rather than spinning.
            thread::sleep(Duration::from_millis(2));
        }
    }
    seen
}

/// The admin: small deposits into random accounts.
fn deposit_client(server: &TestServer, start: &Start) -> Seen {
    let mut seen = Seen::default();
    let mut dice = Rng::new(77);
    let mut client = connect(server, &mut seen, ADMIN);
    let deadline = start.go();
    while Instant::now() < deadline && seen.stuck.is_none() {
        let amount = Cents(1 + dice.below(500) as i64);
        let line = format!("DEPOSIT {} {amount}", account(dice.below(ACCOUNTS)));
        let Some(reply) = seen.call(&mut client, &line) else {
            break;
        };
        if reply.is_ok() {
            seen.deposits.push(amount);
        } else {
            seen.refused(&line, &reply, &[]);
        }
        // The admin is one person, not a flood: a deposit every few milliseconds.
        thread::sleep(Duration::from_millis(5));
    }
    seen
}

#[test]
fn the_bank_invariants_hold_under_concurrent_transfers_and_orders() {
    let server = bank_server();
    restock(&server);
    let directory = KeyDirectory::start(server.shared.clone());
    let start = Start::new(CLIENTS, Duration::from_secs(3));
    let mut seen = Seen::default();
    thread::scope(|scope| {
        let (server, directory, start) = (&server, &directory, &start);
        let mut workers = Vec::new();
        for i in 0..CLIENTS {
            workers.push(scope.spawn(move || match i {
                0..24 => transfer_client(server, directory, i, start),
                24..31 => order_client(server, i, start),
                _ => deposit_client(server, start),
            }));
        }
        for worker in workers {
            seen.merge(worker.join().expect("a client thread does not panic"));
        }
    });
    if let Some(stuck) = seen.stuck.take() {
        fail_without_waiting(server, format!("a request was never answered: {stuck}"));
    }
    seen.assert_nothing_unexpected("bank");

    let db = &server.shared.db;
    let wallets = db.wallets.read().clone();
    let orders = db.orders.read().clone();
    let ledger = db.transfers.read().clone();

    // Money in the wallets + money paid for orders = opening balances + deposits.
    let opening = (ACCOUNTS as i64 + 3) * 10_000;
    let deposits: i64 = seen.deposits.iter().map(|c| c.0).sum();
    let spent: i64 = orders.values().map(|o| o.total.0).sum();
    let acknowledged_spent: i64 = seen.orders.iter().map(|(_, total)| total.0).sum();
    assert_eq!(
        spent, acknowledged_spent,
        "exactly the acknowledged orders were paid"
    );
    assert_eq!(seen.orders.len(), orders.len());
    let balances: i64 = wallets.values().map(|w| w.balance.0).sum();
    assert_eq!(
        balances + spent,
        opening + deposits,
        "no money created or lost"
    );
    assert!(
        wallets.values().all(|w| w.balance.0 >= 0),
        "no negative balance"
    );

    // Every acknowledged transfer is in the ledger exactly once, and nothing else is.
    let in_ledger: BTreeMap<u64, _> = ledger
        .values()
        .filter(|e| e.kind == Kind::Transfer)
        .map(|e| (e.id, e))
        .collect();
    let acknowledged: BTreeSet<u64> = seen.transfers.iter().map(|t| t.0).collect();
    assert_eq!(
        acknowledged.len(),
        seen.transfers.len(),
        "no id acknowledged twice"
    );
    assert_eq!(
        acknowledged,
        in_ledger.keys().copied().collect::<BTreeSet<_>>(),
        "the ledger holds exactly the acknowledged transfers"
    );
    for (id, from, to, amount) in &seen.transfers {
        let line = in_ledger[id];
        assert_eq!(
            (
                line.from.as_ref().map(|a| a.name.as_str()),
                line.to.as_ref().map(|a| a.name.as_str()),
                line.amount
            ),
            (Some(from.as_str()), Some(to.as_str()), *amount),
            "ledger id {id}"
        );
    }
    let report = feira::wallet::check::check(db).expect("the replay agrees");
    assert_eq!(report.balances, i128::from(balances));

    // The workload did what it meant to: real transfers, and each kind of refusal.
    assert!(
        seen.transfers.len() >= 50,
        "only {} transfers",
        seen.transfers.len()
    );
    assert!(!seen.orders.is_empty() && !seen.deposits.is_empty());
    for code in ["INSUFFICIENT_FUNDS", "CONFLICT", "NOT_FOUND"] {
        assert!(
            seen.refusals.get(code).copied().unwrap_or(0) > 0,
            "no {code}: {:?}",
            seen.refusals
        );
    }
    // Group commit at work: clients that write at the same moment share fsyncs, so
    // there are fewer fsyncs than acknowledged writes (about half as many here, on a
    // virtual disk). Without group commit every write runs its own, and there are more
    // (the restocks and the key rotations have theirs too). On a tmpfs, where an fsync
    // costs nothing, nobody waits long enough to share one: hence the data on disk.
    let writes = seen.transfers.len() + seen.orders.len() + seen.deposits.len();
    let fsyncs = db.journal.fsync_count();
    eprintln!(
        "bank: {} requests, {} transfers, {} orders, {} deposits, {fsyncs} fsyncs, \
         refusals {:?}",
        seen.requests,
        seen.transfers.len(),
        seen.orders.len(),
        seen.deposits.len(),
        seen.refusals
    );
    assert!(
        fsyncs < writes as u64,
        "{fsyncs} fsyncs for {writes} acknowledged writes: group commit shared none"
    );

    // And after a clean stop, the files on disk agree too.
    let dir = server.stop();
    let report = feira::wallet::check::check_dir(dir.path())
        .unwrap()
        .expect("the stopped server's files agree");
    assert_eq!(report.balances, i128::from(balances));
}

#[test]
fn opposite_transfers_and_orders_never_deadlock() {
    let server = start_server_with(|c| c.wallet.key_lifetime = Duration::from_secs(1));
    restock(&server);
    let mut admin = server.login(ADMIN);
    ok(&mut admin, "DEPOSIT alice 100000.00");
    ok(&mut admin, "DEPOSIT bob 100000.00");
    drop(admin);
    let directory = KeyDirectory::start(server.shared.clone());
    // Each role: who logs in, and the line it sends next (given the current keys).
    type Next = fn(&BTreeMap<String, String>, usize) -> String;
    let roles: [((&str, &str), Next); 7] = [
        (ALICE, |keys, _| format!("TRANSFER {} 0.01", keys["bob"])),
        (BOB, |keys, _| format!("TRANSFER {} 0.01", keys["alice"])),
        (ALICE, |_, _| "ORDER Banana 1".into()),
        (BOB, |_, _| "ORDER Caju 1".into()),
        (ADMIN, |_, i| {
            format!("DEPOSIT {} 0.01", if i % 2 == 0 { "alice" } else { "bob" })
        }),
        (ALICE, |_, i| {
            if i % 2 == 0 { "TRANSFERS 5" } else { "BALANCE" }.into()
        }),
        (BOB, |keys, i| {
            // Orders and transfers from one connection, interleaved.
            if i % 2 == 0 {
                format!("TRANSFER {} 0.02", keys["alice"])
            } else {
                "ORDER Banana 2".into()
            }
        }),
    ];
    let start = Start::new(roles.len(), Duration::from_secs(2));
    let results: Vec<Seen> = thread::scope(|scope| {
        let (server, directory, start) = (&server, &directory, &start);
        let workers: Vec<_> = roles
            .iter()
            .map(|&(who, next)| {
                scope.spawn(move || {
                    let mut seen = Seen::default();
                    let mut client = connect(server, &mut seen, who);
                    let deadline = start.go();
                    let mut i = 0;
                    while Instant::now() < deadline && seen.stuck.is_none() {
                        let line = next(&directory.get(), i);
                        i += 1;
                        if let Some(reply) = seen.call(&mut client, &line)
                            && !reply.is_ok()
                        {
                            // Liveness is the point here: any domain refusal is fine (a
                            // key may rotate between reading and using it, money may
                            // run out), but never INTERNAL or BAD_REQUEST.
                            let allowed = ["NOT_FOUND", "INSUFFICIENT_FUNDS", "INSUFFICIENT_STOCK"];
                            seen.refused(&line, &reply, &allowed);
                        }
                    }
                    seen
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (role, seen) in results.iter().enumerate() {
        if let Some(stuck) = &seen.stuck {
            fail_without_waiting(server, format!("role {role}: deadlock? {stuck}"));
        }
        seen.assert_nothing_unexpected(&format!("role {role}"));
        assert!(seen.requests > 0, "role {role} made progress");
    }
    eprintln!(
        "no deadlock: {} requests answered",
        results.iter().map(|s| s.requests).sum::<usize>()
    );
    assert!(feira::wallet::check::check(&server.shared.db).is_ok());
}
