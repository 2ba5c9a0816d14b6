//! Account identity: a number given to each account at REGISTER that no other account
//! will ever get, not even after the first one is deleted ([`AccountId`], in the
//! schema), and the checks every domain makes with it.
//!
//! Why names are not enough: after UNREGISTER a name is free, and a stranger may take
//! it. Whatever remembered only the name would then belong to the stranger: a session
//! still logged in as the old `carol` would spend the new `carol`'s money, and the new
//! `carol` would see the old one's orders. So a session remembers the id it logged in
//! with, every request checks that the account of that name still has that id
//! ([`is_live`]), the money verbs check it again under the `wallets` lock (each wallet
//! row records its account's id), the file-sharing verbs that change what a name owns
//! check it again under the `users` lock ([`own_account`]), and history rows (orders,
//! the ledger) record the id.
//!
//! Where the next id comes from: one more than the largest id the data has ever
//! recorded ([`highest_recorded`], at start-up). Every account's wallet is opened with
//! an `initial` line in the ledger, and the ledger is never shortened, so the largest id
//! outlives UNREGISTER, a restart and a journal replay with no counter of its own to
//! keep on disk.

use std::collections::{BTreeMap, BTreeSet};

use super::Db;
use super::schema::{Account, AccountId, LedgerEntry, User};
use crate::protocol::{ErrorCode, Refusal};

/// The largest account id in the accounts and in the ledger (0 if there is none).
///
/// The accounts cover one added by hand that has no wallet yet; the ledger covers every
/// account that ever had a wallet, deleted ones included.
pub fn highest_recorded(
    users: &BTreeMap<String, User>,
    ledger: &BTreeMap<u64, LedgerEntry>,
) -> u64 {
    // Live accounts, including one added by hand to users.csv.
    let in_users = users.values().map(|u| u.id.0);
    // Both sides of every movement: a payer, a payee, or the account a deposit or an
    // `initial` line opened. A side is empty for money entering the system.
    let in_ledger = ledger
        .values()
        .flat_map(|entry| [&entry.from, &entry.to])
        .filter_map(|side| side.as_ref().map(|account| account.id.0));
    // A scan of every ledger line: run once, at start-up, never per request.
    in_users.chain(in_ledger).max().unwrap_or(0)
}

/// Is `account` still the account of that name? False once it was deleted, whatever
/// account has been given the name since.
pub fn is_live(db: &Db, account: &Account) -> bool {
    // The `users` read lock for one lookup, released on return: good enough for the
    // check at the start of each request, which only needs to be current.
    own_account(&db.users.read(), account).is_ok()
}

/// `account` (this identity, not just this name), looked up under the `users` lock the
/// caller holds: AUTH_REQUIRED for a session whose account was deleted, even if someone
/// has registered the name again since.
///
/// Why under the caller's lock and not [`is_live`]'s own: a check made with a lock that
/// is then let go says nothing about the moment after. A verb that changes what belongs
/// to a name (the files it publishes, its place among the connected peers) holds the
/// `users` read lock from this check to its change, so an UNREGISTER, which takes that
/// lock to write, comes wholly before or wholly after (as `wallet::own_wallet` does for
/// money, under the `wallets` lock).
pub(crate) fn own_account(
    users: &BTreeMap<String, User>,
    account: &Account,
) -> Result<(), Refusal> {
    match users.get(&account.name) {
        // The name, and the same identity: the account the session logged in as.
        Some(user) if user.id == account.id => Ok(()),
        // No such name any more, or a new account under it: the session's is gone.
        _ => Err(gone()),
    }
}

/// The refusal for a session whose account was deleted (docs/PROTOCOL.md, "Sessions
/// and access").
pub fn gone() -> Refusal {
    Refusal::new(ErrorCode::AuthRequired, "your account no longer exists")
}

/// An account added by hand must not take an id that another account has, or had:
/// it would inherit that account's history. Refuses to start, naming a free id.
pub(crate) fn ids_are_fresh(
    db: &Db,
    users: &BTreeMap<String, User>,
    new: &[Account],
) -> crate::Result<()> {
    // Read once for every new account: this runs at start-up, with no client yet.
    let ledger = db.transfers.read();
    // Every id the ledger knows: a deleted account's id stays here forever.
    let ever_had_a_wallet: BTreeSet<AccountId> = ledger
        .values()
        .flat_map(|entry| [&entry.from, &entry.to])
        .filter_map(|side| side.as_ref().map(|account| account.id))
        .collect();
    for account in new {
        // Another live account with the same id under a different name.
        let shared = users
            .values()
            .any(|u| u.id == account.id && u.name != account.name);
        if shared || ever_had_a_wallet.contains(&account.id) {
            // The server does not pick an id for the operator: the row is theirs. It
            // suggests one, and refuses to start until users.csv is fixed.
            return Err(crate::Error::Other(format!(
                "users.csv: {} has the id {}, which belongs to another account, now or in the past; give it an unused id, such as {}",
                account.name,
                account.id,
                db.account_ids.highest() + 1
            )));
        }
    }
    Ok(())
}
