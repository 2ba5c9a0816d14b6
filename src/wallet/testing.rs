//! A database in a temporary directory with some accounts, for unit tests.
//!
//! Why a file of its own: the tests of the wallets, the shop, file sharing and the
//! database need the same kind of accounts with money; they are made once, here.

use super::*;
use crate::db::schema::{Role, User};

/// Accounts with these names, each with a wallet of `initial`.
pub fn db_with(names: &[&str], initial: Cents) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), 1 << 20).unwrap();
    let policy = WalletPolicy {
        initial_balance: initial,
        ..WalletPolicy::default()
    };
    for name in names {
        add_account(&db, name, &policy);
    }
    (dir, db)
}

/// Adds an account and its wallet as REGISTER does, without the slow password hash.
pub fn add_account(db: &Db, name: &str, policy: &WalletPolicy) -> Account {
    let mut users = db.users.write();
    let mut wallets = db.wallets.write();
    let mut ledger = db.transfers.write();
    let account = Account::new(db.account_ids.next(), name);
    stage_open(&mut wallets, &mut ledger, &account, policy).unwrap();
    users.stage_put(User {
        id: account.id,
        name: name.to_string(),
        role: Role::Customer,
        password_hash: crate::accounts::password::DUMMY_HASH.to_string(),
        created_at: now_rfc3339(),
    });
    db.journal
        .commit(&mut [&mut users, &mut wallets, &mut ledger])
        .unwrap();
    account
}

/// Deletes the account of this name as UNREGISTER does (its wallet must be empty).
pub fn remove_account(db: &Db, name: &str) {
    let account = account_of(db, name);
    let mut users = db.users.write();
    let mut wallets = db.wallets.write();
    let mut ledger = db.transfers.write();
    stage_close(&mut wallets, &mut ledger, &account).unwrap();
    users.stage_delete(name.to_string());
    db.journal
        .commit(&mut [&mut users, &mut wallets, &mut ledger])
        .unwrap();
}

/// The live account of this name, as a session logged in as it would act.
pub fn account_of(db: &Db, name: &str) -> Account {
    db.users.read()[name].account()
}

/// A user's pay key.
pub fn key_of(db: &Db, name: &str) -> PayKey {
    db.wallets.read()[name].pay_key
}
