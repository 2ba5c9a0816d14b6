//! `feira-server check`: replay the ledger and prove that every balance is right.
//!
//! Why: a balance is a claim; the ledger is the evidence. Starting from nothing, the
//! replay applies every line of `transfers.csv` in order (opening balances, deposits,
//! transfers, order payments, closings), checks each line's recorded balances against
//! its own running total, and at the end compares the result with `wallets.csv`. It
//! also checks that every order in `orders.csv` was paid exactly once, that every
//! account has a wallet, and that no two wallets share a pay key. The first thing that
//! disagrees is named, with the file and the line's id or the user.
//!
//! Wallets are followed by account id, not by name: a name that was unregistered and
//! registered again is a second account with a second wallet, and an `initial` line
//! for an id that was opened before (an id used twice) is a discrepancy.
//!
//! If the replay agrees, the Jepsen "bank" invariant holds too: the money in the
//! wallets plus the money paid for orders is exactly the money that entered (opening
//! balances plus deposits). [`Report`] states those totals.
//!
//! Nothing here takes a lock of its own: [`check`] reads every table under its read
//! lock, in the lock order, so it sees one consistent moment even on a live server;
//! [`verify`] is a pure function of the four tables.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use super::replay::Replay;
use crate::db::Db;
use crate::db::schema::{AccountId, LedgerEntry, Order, User, Wallet};

/// The first thing that disagrees, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy(pub String);

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Discrepancy {}

/// What a successful check counted. Totals are in cents, as `i128` so that no sum of
/// `i64` balances can overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub wallets: usize,
    pub ledger_lines: usize,
    /// Money that entered as opening balances.
    pub initial: i128,
    /// Money that entered as deposits.
    pub deposits: i128,
    /// Money that left the wallets to pay for orders.
    pub orders_paid: i128,
    /// Money in the wallets now.
    pub balances: i128,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} wallets, {} ledger lines: balances {} + paid for orders {} = opening balances {} + deposits {}",
            self.wallets,
            self.ledger_lines,
            money(self.balances),
            money(self.orders_paid),
            money(self.initial),
            money(self.deposits)
        )
    }
}

/// A total in cents as `12.50`.
fn money(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Checks a database: its four tables under their read locks, in lock order.
pub fn check(db: &Db) -> Result<Report, Discrepancy> {
    // Lock order: users, (products), wallets, orders, transfers.
    let users = db.users.read();
    let wallets = db.wallets.read();
    let orders = db.orders.read();
    let ledger = db.transfers.read();
    verify(&users, &wallets, &orders, &ledger)
}

/// Checks a data directory without changing it: the CSV files are copied to a
/// temporary directory, opened there (snapshots plus journal, as the server would;
/// opening cuts a torn line and the zero padding off the journal's *copy*), and
/// checked. Run it on a stopped server's directory: on a live one, the copy may
/// catch a checkpoint half-way and report a discrepancy that is not there.
pub fn check_dir(dir: &Path) -> crate::Result<Result<Report, Discrepancy>> {
    let copy = ScratchDir::new()?;
    let entries = std::fs::read_dir(dir).map_err(|e| crate::Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| crate::Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "csv") {
            let target = copy.0.join(path.file_name().unwrap_or_default());
            std::fs::copy(&path, &target).map_err(|e| crate::Error::io(&path, e))?;
        }
    }
    // Nothing is written to the copy after it is opened: 1 MiB of journal padding is
    // plenty (the server's 64 MiB would be zeros written for nothing).
    let db = Db::open(&copy.0, 1 << 20)?;
    Ok(check(&db))
}

/// A temporary directory, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> crate::Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path = std::env::temp_dir().join(format!("feira-check-{}-{nanos}", std::process::id()));
        // `create_dir` (not `_all`) fails if the name is taken: never reuse a directory.
        std::fs::create_dir(&path).map_err(|e| crate::Error::io(&path, e))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The replay, a pure function of the four tables.
pub fn verify(
    users: &BTreeMap<String, User>,
    wallets: &BTreeMap<String, Wallet>,
    orders: &BTreeMap<u64, Order>,
    ledger: &BTreeMap<u64, LedgerEntry>,
) -> Result<Report, Discrepancy> {
    let mut report = Report {
        wallets: wallets.len(),
        ledger_lines: ledger.len(),
        ..Report::default()
    };
    let mut replay = Replay::default();
    for (expected, (id, entry)) in (1..).zip(ledger) {
        if *id != expected {
            return Err(Discrepancy(format!(
                "transfers.csv: id {id} comes where id {expected} should: ledger lines are missing"
            )));
        }
        replay.apply(entry, orders).map_err(|message| {
            Discrepancy(format!("transfers.csv id {id} ({}): {message}", entry.kind))
        })?;
    }
    report.initial = replay.initial;
    report.deposits = replay.deposits;
    report.orders_paid = replay.orders_paid;
    let by_account: HashMap<AccountId, &Wallet> =
        wallets.values().map(|w| (w.account, w)).collect();
    for (id, (user, balance)) in &replay.open {
        match by_account.get(id) {
            None => {
                return Err(Discrepancy(format!(
                    "wallets.csv: {user} (account {id}) has no wallet, but the ledger leaves {balance} in it"
                )));
            }
            Some(w) if w.user != *user => {
                return Err(Discrepancy(format!(
                    "wallets.csv: the wallet of account {id} is {}'s, but the ledger opened it for {user}",
                    w.user
                )));
            }
            Some(w) if w.balance != *balance => {
                return Err(Discrepancy(format!(
                    "wallets.csv: {user} holds {}, but the ledger adds up to {balance}",
                    w.balance
                )));
            }
            Some(_) => report.balances += i128::from(balance.0),
        }
    }
    if let Some(w) = wallets
        .values()
        .find(|w| !replay.open.contains_key(&w.account))
    {
        return Err(Discrepancy(format!(
            "wallets.csv: {} has a wallet (account {}) that the ledger never opened",
            w.user, w.account
        )));
    }
    if let Some(order) = orders.values().find(|o| !replay.paid.contains(&o.id)) {
        return Err(Discrepancy(format!(
            "orders.csv: order {} ({} x {} by {}, {}) was never paid in the ledger",
            order.id, order.quantity, order.product, order.user, order.total
        )));
    }
    for user in users.values() {
        match wallets.get(&user.name) {
            None => {
                return Err(Discrepancy(format!(
                    "users.csv: {} has no wallet (the server opens missing wallets at start-up)",
                    user.name
                )));
            }
            Some(w) if w.account != user.id => {
                return Err(Discrepancy(format!(
                    "users.csv: {} is account {}, but its wallet is account {}'s",
                    user.name, user.id, w.account
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(w) = wallets.values().find(|w| !users.contains_key(&w.user)) {
        return Err(Discrepancy(format!(
            "wallets.csv: {} has a wallet but no account in users.csv",
            w.user
        )));
    }
    let mut holders: HashMap<_, &str> = HashMap::new();
    for wallet in wallets.values() {
        if let Some(other) = holders.insert(wallet.pay_key, &wallet.user) {
            return Err(Discrepancy(format!(
                "wallets.csv: {other} and {} share the pay key {}",
                wallet.user, wallet.pay_key
            )));
        }
    }
    // Implied by everything above; stated because it is the invariant people check.
    if report.balances + report.orders_paid != report.initial + report.deposits {
        return Err(Discrepancy(format!(
            "money was created or destroyed: {report}"
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Cents;
    use crate::wallet::testing::{account_of, add_account, db_with, key_of, remove_account};
    use crate::wallet::transfer;

    /// A small history: two accounts, a transfer, a deposit and an order.
    fn history() -> (tempfile::TempDir, Db) {
        let (dir, db) = db_with(&["ana", "bia"], Cents(10_000));
        let ana = account_of(&db, "ana");
        transfer::send(&db, &ana, &key_of(&db, "bia"), Cents(2500)).unwrap();
        transfer::deposit(&db, "root", "ana", Cents(100)).unwrap();
        let mut products = db.products.write();
        products.stage_put(crate::db::schema::Product {
            name: "Caju".into(),
            price: Cents(120),
            stock: 10,
        });
        db.journal.commit(&mut [&mut products]).unwrap();
        drop(products);
        crate::shop::orders::place(&db, &account_of(&db, "bia"), "Caju", 3).unwrap();
        (dir, db)
    }

    type Tables = (
        BTreeMap<String, User>,
        BTreeMap<String, Wallet>,
        BTreeMap<u64, Order>,
        BTreeMap<u64, LedgerEntry>,
    );

    fn tables(db: &Db) -> Tables {
        (
            db.users.read().clone(),
            db.wallets.read().clone(),
            db.orders.read().clone(),
            db.transfers.read().clone(),
        )
    }

    /// One way to damage the tables.
    type Damage = Box<dyn FnOnce(&mut Tables)>;

    /// Damages a copy of the tables and returns what the check says.
    fn damaged(db: &Db, damage: impl FnOnce(&mut Tables)) -> String {
        let mut t = tables(db);
        damage(&mut t);
        verify(&t.0, &t.1, &t.2, &t.3).unwrap_err().0
    }

    #[test]
    fn a_consistent_history_passes_with_its_totals() {
        let (_dir, db) = history();
        let report = check(&db).unwrap();
        assert_eq!(report.initial, 20_000);
        assert_eq!(report.deposits, 100);
        assert_eq!(report.orders_paid, 360);
        assert_eq!(report.balances, 20_000 + 100 - 360);
        assert_eq!((report.wallets, report.ledger_lines), (2, 5));
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let (_dir, db) = history();
        let cases: Vec<(&str, Damage)> = vec![
            (
                "ana holds 1.00, but the ledger adds up to 76.00",
                Box::new(|t| t.1.get_mut("ana").unwrap().balance = Cents(100)),
            ),
            (
                "id 4 comes where id 3 should",
                Box::new(|t| {
                    t.3.remove(&3);
                }),
            ),
            (
                "transfers.csv id 3 (transfer): records ana's balance as 75.01",
                Box::new(|t| t.3.get_mut(&3).unwrap().from_balance = Some(Cents(7501))),
            ),
            (
                "order 1 (3 x Caju by bia, 3.60) was never paid",
                Box::new(|t| {
                    // The payment is gone, and the balance agrees: only the order tells.
                    t.3.remove(&5);
                    t.1.get_mut("bia").unwrap().balance = Cents(12_500);
                }),
            ),
            (
                "bia (account 2) pays 3.60 for order 1, but the order is account 2's (bia) for 9.99",
                Box::new(|t| t.2.get_mut(&1).unwrap().total = Cents(999)),
            ),
            (
                "pays 3.60 for order 1, but the order is account 1's (bia)",
                // The order names bia, but it is account 1's: another account's order.
                Box::new(|t| t.2.get_mut(&1).unwrap().account = AccountId(1)),
            ),
            (
                "id 6 (initial): the wallet of account 1 (cid) is opened a second time",
                Box::new(|t| {
                    let mut reused = t.3[&1].clone();
                    reused.id = 6;
                    reused.to.as_mut().unwrap().name = "cid".into();
                    t.3.insert(6, reused);
                }),
            ),
            (
                "users.csv: ana is account 5, but its wallet is account 1's",
                Box::new(|t| t.0.get_mut("ana").unwrap().id = AccountId(5)),
            ),
            (
                "users.csv: cid has no wallet",
                Box::new(|t| {
                    let mut cid = t.0["ana"].clone();
                    cid.name = "cid".into();
                    t.0.insert("cid".into(), cid);
                }),
            ),
            (
                "ana and bia share the pay key",
                Box::new(|t| {
                    let key = t.1["ana"].pay_key;
                    t.1.get_mut("bia").unwrap().pay_key = key;
                }),
            ),
            (
                "wallets.csv: bia (account 2) has no wallet, but the ledger leaves",
                Box::new(|t| {
                    t.1.remove("bia");
                }),
            ),
            (
                "ana's balance of 100.00 cannot pay 1000.00",
                Box::new(|t| t.3.get_mut(&3).unwrap().amount = Cents(100_000)),
            ),
        ];
        for (expected, damage) in cases {
            let message = damaged(&db, damage);
            assert!(
                message.contains(expected),
                "{message:?} should say {expected:?}"
            );
        }
    }

    #[test]
    fn a_name_registered_again_is_a_new_account_with_a_new_wallet() {
        let (_dir, db) = db_with(&["ana", "bia"], Cents(100));
        let old = account_of(&db, "ana");
        transfer::send(&db, &old, &key_of(&db, "bia"), Cents(100)).unwrap();
        remove_account(&db, "ana");
        let new = add_account(&db, "ana", &crate::wallet::WalletPolicy::default());
        assert_ne!(new.id, old.id);
        let report = check(&db).unwrap();
        assert_eq!((report.wallets, report.ledger_lines), (2, 5));
        assert_eq!(report.balances, 200 + 10_000);
    }

    #[test]
    fn check_dir_reads_the_journal_and_leaves_the_directory_alone() {
        let (dir, db) = history();
        // Nothing was checkpointed: the history is only in the journal, followed by
        // its zero padding (src/storage/journal.rs), which the check must read past.
        let journal = std::fs::read(dir.path().join("journal.csv")).unwrap();
        assert_eq!(journal.last(), Some(&0), "the journal is padded");
        let report = check_dir(dir.path()).unwrap().unwrap();
        assert_eq!(report.ledger_lines, 5);
        assert_eq!(
            std::fs::read(dir.path().join("journal.csv")).unwrap(),
            journal
        );
        drop(db);
    }
}
