//! Faults: a crash at a random moment, a write that fails underneath, damaged files.
//!
//! The promise under test (docs/RELIABILITY.md): every acknowledged write survives a
//! crash, nothing is half-applied, a storage failure changes nothing and says so, and a
//! damaged file is either repaired (a torn last journal line) or refused by name.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use feira::client::Client;
use feira::server::Server;
use support::server_process::{ServerProcess, run_to_end, server_command};
use support::*;

const CRASH_PRODUCT: &str = "crash-test";
const CRASH_STOCK: u64 = 1_000_000;

/// After a restart: every acknowledged order is there, with its user and quantity, and
/// the stock plus every order of the product adds up to the initial stock.
///
/// The orders are read from a copy of the data directory, opened the way the server
/// opens it (snapshots, then the journal), because ORDERS shows at most 1,000 orders of
/// a user and a quick machine acknowledges more than that here. The server's own view
/// is checked against the copy: the stock, and how many orders each user has in all
/// (the total that ORDERS names).
fn check_books(server: &ServerProcess, dir: &Path, acknowledged: &HashMap<u64, (String, u64)>) {
    let mut admin = server.login(ADMIN);
    let stock: u64 = ok(&mut admin, &format!("PRODUCT {CRASH_PRODUCT}"))[0][2]
        .parse()
        .unwrap();
    let recovered = recovered_orders(dir);
    for account in [ALICE, BOB] {
        let mut client = server.login(account);
        let served = orders_in_all(&mut client);
        let copied = recovered.values().filter(|o| o.user == account.0).count();
        assert_eq!(
            served, copied,
            "{}: the server and the data disagree",
            account.0
        );
    }
    let present: HashMap<u64, (String, u64)> = recovered
        .into_values()
        .filter(|order| order.product == CRASH_PRODUCT)
        .map(|order| (order.id, (order.user, order.quantity)))
        .collect();
    for (id, order) in acknowledged {
        assert_eq!(
            present.get(id),
            Some(order),
            "acknowledged order {id} is missing or changed after the crash"
        );
    }
    let sold: u64 = present.values().map(|(_, q)| q).sum();
    assert_eq!(
        stock + sold,
        CRASH_STOCK,
        "stock {stock} + orders {sold} must be the initial stock: something was half-applied"
    );
}

/// Every order of a data directory, by id, from a copy opened as the server opens it.
/// (The server on `dir` may be running: nothing writes to it while this copies.) Each
/// file is copied up to its first zero byte: the journals' zero padding (up to 64 MiB)
/// holds no lines, and a line never holds a zero.
fn recovered_orders(dir: &Path) -> HashMap<u64, feira::db::schema::Order> {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            let mut text = Vec::new();
            let file = std::fs::File::open(&path).unwrap();
            BufReader::new(file).read_until(0, &mut text).unwrap();
            if text.last() == Some(&0) {
                text.pop();
            }
            std::fs::write(copy.path().join(path.file_name().unwrap()), text).unwrap();
        }
    }
    let db = feira::db::Db::open(copy.path(), 1 << 20).expect("the copy opens");
    let orders = db.orders.read();
    orders.values().map(|o| (o.id, o.clone())).collect()
}

/// How many orders the logged-in user has in all, as ORDERS says on its OK line
/// (`1 of 2345 orders, newest first`, or `3 orders, ...` when they all fit).
fn orders_in_all(client: &mut Client) -> usize {
    let reply = call(client, "ORDERS 1");
    let text = reply.status.expect("ORDERS answers OK");
    let words: Vec<&str> = text.split(' ').collect();
    let total = if words.get(1) == Some(&"of") {
        words[2]
    } else {
        words[0]
    };
    total
        .parse()
        .unwrap_or_else(|_| panic!("no count in {text:?}"))
}

/// With every speed layer on: most replies are sent by the committer thread, after the
/// group commit's fsync, from a journal written over zeros.
#[test]
fn a_crash_at_a_random_moment_loses_no_acknowledged_order() {
    crash_at_random_moments(&[]);
}

/// With every speed layer off (`--plain`): each connection thread runs its own fsync and
/// writes its reply, the journal grows line by line, snapshots are rewritten whole.
#[test]
fn a_crash_at_a_random_moment_loses_no_acknowledged_order_with_every_layer_off() {
    crash_at_random_moments(&["--plain"]);
}

/// Kills the server (-9) at random moments while four clients order, restarts it with
/// the same `flags`, and checks that every acknowledged order is there and that the
/// books add up.
fn crash_at_random_moments(flags: &[&str]) {
    let dir = demo_data_dir();
    let mut random = Rng::from_env_or_clock("FEIRA_SEED");
    let server = ServerProcess::start_with(dir.path(), flags);
    let mut admin = server.login(ADMIN);
    ok(
        &mut admin,
        &format!("ADD_PRODUCT {CRASH_PRODUCT} 1.00 {CRASH_STOCK}"),
    );
    // Orders are paid from the wallets: give the buyers enough for the whole stock.
    ok(&mut admin, &format!("DEPOSIT alice {CRASH_STOCK}"));
    ok(&mut admin, &format!("DEPOSIT bob {CRASH_STOCK}"));
    drop(admin);
    let mut server = Some(server);
    let acknowledged: Arc<Mutex<HashMap<u64, (String, u64)>>> = Arc::default();

    // 20 crashes when the machine is quick enough; at least 5, within about 30 s.
    let budget = Instant::now() + Duration::from_secs(30);
    let mut rounds = 0;
    while rounds < 20 && (rounds < 5 || Instant::now() < budget) {
        let running = server
            .take()
            .unwrap_or_else(|| ServerProcess::start_with(dir.path(), flags));
        check_books(&running, dir.path(), &acknowledged.lock().unwrap());
        let addr = running.addr;
        let clients: Vec<_> = (0..4)
            .map(|i| {
                let acknowledged = acknowledged.clone();
                let account = if i % 2 == 0 { ALICE } else { BOB };
                thread::spawn(move || {
                    let Ok(mut client) = Client::connect(addr, Duration::from_secs(5)) else {
                        return;
                    };
                    if client.login(account.0, account.1).is_err() {
                        return;
                    }
                    for n in 0.. {
                        let quantity = n % 3 + 1;
                        // Any error ends this client: after the kill, every call fails.
                        let Ok(reply) =
                            client.call_line(&format!("ORDER {CRASH_PRODUCT} {quantity}"))
                        else {
                            return;
                        };
                        assert!(reply.is_ok(), "ORDER -> {reply:?}");
                        let id: u64 = reply.data[0][0].parse().unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert(id, (account.0.to_string(), quantity));
                    }
                })
            })
            .collect();
        // The random moment: somewhere in the first 300 ms of ordering.
        thread::sleep(Duration::from_millis(30 + random.below(300) as u64));
        running.kill();
        for client in clients {
            client.join().expect("a client thread panicked");
        }
        rounds += 1;
    }
    let server = ServerProcess::start_with(dir.path(), flags);
    check_books(&server, dir.path(), &acknowledged.lock().unwrap());
    // The money too: replaying the ledger from the opening balances gives the wallets.
    server.kill();
    let report = feira::wallet::check::check_dir(dir.path()).expect("the data loads");
    assert!(
        report.is_ok(),
        "the ledger check failed after the crashes: {report:?}"
    );
    eprintln!(
        "{flags:?}: {rounds} crashes, {} acknowledged orders, all present",
        acknowledged.lock().unwrap().len()
    );
    assert!(
        !acknowledged.lock().unwrap().is_empty(),
        "the test must have seen some orders acknowledged"
    );
}

#[test]
fn a_write_that_fails_underneath_answers_internal_and_changes_nothing() {
    let server = start_server();
    let mut alice = server.login(ALICE);
    let stock = |c: &mut Client| -> u64 { ok(c, "PRODUCT Banana")[0][2].parse().unwrap() };
    let before = stock(&mut alice);

    server.shared.db.journal.fail_next_writes(1);
    err(&mut alice, "ORDER Banana 2", "INTERNAL");
    assert_eq!(
        stock(&mut alice),
        before,
        "memory did not run ahead of the disk"
    );
    assert!(ok(&mut alice, "ORDERS").is_empty());
    assert!(!server.shared.db.journal.is_poisoned());

    // The next write works, and reads never stopped.
    assert_eq!(call(&mut alice, "PING").status, Ok("PONG".into()));
    ok(&mut alice, "ORDER Banana 2");
    assert_eq!(stock(&mut alice), before - 2);

    let server = server.restart();
    let mut alice = server.login(ALICE);
    assert_eq!(stock(&mut alice), before - 2);
    let orders = ok(&mut alice, "ORDERS");
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0][2], "2");
}

#[test]
fn a_bad_row_in_products_csv_stops_the_start_naming_file_and_line() {
    let dir = demo_data_dir();
    let path = dir.path().join("products.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("Jaca,cheap,10\n");
    std::fs::write(&path, text).unwrap();
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();

    // In the library: Server::bind fails with the file and the line.
    let error = Server::bind(test_config(dir.path()))
        .err()
        .expect("a bad row must stop the start")
        .to_string();
    assert!(error.contains("products.csv"), "{error}");
    assert!(error.contains(&format!("line {lines}")), "{error}");
    assert!(error.contains("price"), "{error}");

    // The binary exits non-zero with the same message (a server that started on the
    // damaged file would not exit: `run_to_end` fails the test after 30 s).
    let run = run_to_end(
        server_command(dir.path(), "127.0.0.1:0"),
        Duration::from_secs(30),
    );
    assert!(!run.status.success());
    assert!(
        run.stderr.contains(&format!("products.csv line {lines}")),
        "{}",
        run.stderr
    );
}

/// A data directory whose journal holds three committed orders (not checkpointed).
fn journal_with_three_orders() -> tempfile::TempDir {
    let dir = demo_data_dir();
    let db = feira::db::Db::open(dir.path(), 1 << 20).unwrap();
    let alice = db.users.read()["alice"].account();
    for quantity in 1..=3 {
        feira::shop::orders::place(&db, &alice, "Banana", quantity).unwrap();
    }
    drop(db);
    assert_eq!(
        journal_text(dir.path()).lines().count(),
        4,
        "a header and three transactions"
    );
    dir
}

/// Zeros after the journal's lines, as the server leaves them: it grows the file in
/// steps of zeros and writes its lines over them (src/storage/journal.rs).
const PADDING: [u8; 4096] = [0; 4096];

/// Starts a server on the three orders' journal with the last line cut 20 bytes
/// short and `padding` after it, and checks that only the first two orders survive.
fn torn_last_line_is_dropped(padding: &[u8]) {
    let dir = journal_with_three_orders();
    let lines = journal_text(dir.path());
    let torn = &lines.as_bytes()[..lines.len() - 20];
    std::fs::write(dir.path().join("journal.csv"), [torn, padding].concat()).unwrap();

    let config = test_config(dir.path());
    let server = start_in(dir, config);
    let mut alice = server.login(ALICE);
    let orders = ok(&mut alice, "ORDERS");
    let quantities: Vec<&str> = orders.iter().map(|o| o[2].as_str()).collect();
    assert_eq!(
        quantities,
        ["2", "1"],
        "the first two orders survive (newest first)"
    );
    assert_eq!(
        ok(&mut alice, "PRODUCT Banana")[0][2],
        "497",
        "and only their stock left"
    );
}

#[test]
fn a_torn_last_journal_line_is_dropped_and_the_rest_recovered() {
    // A crash in the middle of the last write, on a file that ends there.
    torn_last_line_is_dropped(&[]);
}

#[test]
fn a_torn_line_followed_by_zero_padding_is_dropped_and_the_rest_recovered() {
    // What a kill -9 during the write of a line leaves: its start, then the zeros it
    // did not get to overwrite.
    torn_last_line_is_dropped(&PADDING);
}

#[test]
fn zero_padding_after_the_last_line_drops_nothing() {
    let dir = journal_with_three_orders();
    let path = dir.path().join("journal.csv");
    let written = std::fs::read(&path).unwrap();
    assert_eq!(
        written.last(),
        Some(&0),
        "the server left the journal padded"
    );
    // More zeros than the server itself leaves are padding too.
    std::fs::write(&path, [&written[..], &PADDING].concat()).unwrap();

    let config = test_config(dir.path());
    let server = start_in(dir, config);
    let mut alice = server.login(ALICE);
    let orders = ok(&mut alice, "ORDERS");
    let quantities: Vec<&str> = orders.iter().map(|o| o[2].as_str()).collect();
    assert_eq!(
        quantities,
        ["3", "2", "1"],
        "every order survives (newest first)"
    );
    assert_eq!(ok(&mut alice, "PRODUCT Banana")[0][2], "494");
}

#[test]
fn damage_in_the_middle_of_the_journal_refuses_to_start() {
    let dir = journal_with_three_orders();
    let path = dir.path().join("journal.csv");
    let text = journal_text(dir.path());
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // One flipped quantity in the first transaction (line 2): the checksum catches it.
    lines[1] = lines[1].replacen(",Banana,1,", ",Banana,7,", 1);
    assert_ne!(
        lines[1],
        text.lines().nth(1).unwrap(),
        "the line was changed"
    );
    let damaged = lines.join("\n") + "\n";
    // Good lines follow the damage; zeros after them must not make it a torn end.
    for padding in [&[][..], &PADDING] {
        let file = [damaged.as_bytes(), padding].concat();
        std::fs::write(&path, &file).unwrap();

        let error = Server::bind(test_config(dir.path()))
            .err()
            .expect("damage in the middle must stop the start")
            .to_string();
        assert!(error.contains("journal.csv line 2"), "{error}");
        assert!(error.contains("checksum"), "{error}");
        // Nothing was "repaired" behind our back: the file is as we left it.
        assert_eq!(std::fs::read(&path).unwrap(), file);
    }
}
