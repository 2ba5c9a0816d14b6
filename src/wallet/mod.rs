//! Wallets (seed 001): every account holds money, receives it through a pay key that
//! changes every few minutes, and pays for its orders from it.
//!
//! Seed 001 gave each machine R$ 100 and a "PIX-like" key that rotated. Its weaknesses
//! are the lesson, and each has its answer here:
//!
//! | seed 001 | feira |
//! |---|---|
//! | `hash(randint(10, 1000))`: under a thousand keys, collisions likely | 80 bits from the OS CSPRNG, checked unique among live keys ([`keys`]) |
//! | the client rotates its own key and tells the server | the server rotates every key in a background thread ([`rotation`]) |
//! | the balance is read in one message and spent in another | check and spend are one critical section and one journal line ([`transfer`]) |
//! | the server trusts the key the sender claims to own | the sender is the logged-in session; a key only names the *recipient* |
//! | money in `int`s and floats | integer cents, overflow refused ([`Cents`]) |
//!
//! The pieces:
//! - this file: the [`WalletPolicy`], opening and closing wallets with their accounts,
//!   BALANCE and PAYKEY (the [`Wallet`] row of `wallets.csv` is in the database's
//!   schema, src/db/schema/wallets.rs);
//! - [`ledger`]: what the ledger's lines mean (`transfers.csv`; its row is
//!   src/db/schema/transfers.rs) and TRANSFERS;
//! - [`keys`]: making a fresh, unique pay key;
//! - [`transfer`]: the TRANSFER and DEPOSIT critical sections;
//! - [`rotation`]: the background thread that replaces expired keys;
//! - [`check`]: replaying the ledger to prove that `wallets.csv` is right (the replay
//!   itself is `replay`).
//!
//! Decisions (docs/ARCHITECTURE.md explains them):
//! - **Keys survive a restart**: PAYKEY tells its user when the key expires, and a key
//!   passed to a friend must keep working until then, restart or not. Keys that expired
//!   while the server was down are replaced at start-up, before anyone can connect.
//! - **UNREGISTER needs an empty wallet**: money is never destroyed, so an account with
//!   a balance is refused (`CONFLICT`); an empty wallet is closed with a `close` line in
//!   the ledger, and its pay key dies with it.

pub mod check;
pub mod keys;
pub mod ledger;
mod replay;
pub mod rotation;
pub mod transfer;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::now_rfc3339;
use crate::db::Db;
use crate::db::identity;
use crate::db::schema::{Account, Kind, LedgerEntry, Wallet};
use crate::protocol::money::MAX_AMOUNT;
use crate::protocol::{Cents, ErrorCode, PayKey, Refusal};
use crate::storage::TableWrite;

/// The largest balance a wallet may hold: the largest amount the protocol can write.
/// A credit past it is refused, never wrapped or clamped.
pub const MAX_BALANCE: Cents = MAX_AMOUNT;

/// The longest a key may live (a year): longer makes rotation pointless, and keeps
/// time arithmetic far from overflow.
pub const MAX_KEY_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// How wallets are opened and how long a key lives: server flags, the same for everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletPolicy {
    /// What a new wallet holds (`--initial-balance`, 100.00 as in seed 001).
    pub initial_balance: Cents,
    /// How long a pay key works before it is replaced (`--key-rotation-secs`, 180).
    pub key_lifetime: Duration,
}

impl Default for WalletPolicy {
    fn default() -> WalletPolicy {
        WalletPolicy {
            initial_balance: Cents(10_000),
            key_lifetime: Duration::from_secs(180),
        }
    }
}

/// When a key issued at `now` expires: `now + lifetime`, rounded *up* to the second
/// (the CSV stores seconds), so a key never lives less than its lifetime.
pub fn expiry(now: SystemTime, lifetime: Duration) -> SystemTime {
    let lifetime = lifetime.min(MAX_KEY_LIFETIME);
    let since_epoch = now
        .checked_add(lifetime)
        .unwrap_or(now)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut seconds = since_epoch.as_secs();
    if since_epoch.subsec_nanos() > 0 {
        seconds += 1;
    }
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// `balance + amount`, refused (never wrapped) past [`MAX_BALANCE`].
pub(crate) fn credit(user: &str, balance: Cents, amount: Cents) -> Result<Cents, Refusal> {
    balance
        .checked_add(amount)
        .filter(|b| *b <= MAX_BALANCE)
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::Conflict,
                format!("the wallet of {user} would exceed the largest balance, {MAX_BALANCE}"),
            )
        })
}

/// `balance - amount`, or INSUFFICIENT_FUNDS: a balance never goes below zero.
pub(crate) fn debit(balance: Cents, amount: Cents) -> Result<Cents, Refusal> {
    balance
        .checked_sub(amount)
        .filter(|b| b.0 >= 0)
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::InsufficientFunds,
                format!("your wallet holds {balance}, less than {amount}"),
            )
        })
}

/// The wallet of `account` (this identity, not just this name), looked up under the
/// `wallets` lock the caller holds. A session whose account was deleted gets
/// AUTH_REQUIRED, even if someone has registered the name again since.
pub(crate) fn own_wallet<'a>(
    wallets: &'a std::collections::BTreeMap<String, Wallet>,
    account: &Account,
) -> Result<&'a Wallet, Refusal> {
    wallets
        .get(&account.name)
        .filter(|wallet| wallet.account == account.id)
        .ok_or_else(identity::gone)
}

/// The logged-in account's balance.
pub fn balance(db: &Db, account: &Account) -> Result<Cents, Refusal> {
    own_wallet(&db.wallets.read(), account).map(|w| w.balance)
}

/// The logged-in account's current pay key and when it expires.
pub fn pay_key(db: &Db, account: &Account) -> Result<(PayKey, SystemTime), Refusal> {
    own_wallet(&db.wallets.read(), account).map(|w| (w.pay_key, w.key_expires_at))
}

/// Stages a new wallet for `account` with the initial balance, and its `initial` ledger
/// line. The caller holds the `wallets` and `transfers` write locks and commits.
///
/// Nothing is staged if this fails (no fresh key could be made, or the wallet exists),
/// so the caller can simply return the refusal.
pub(crate) fn stage_open(
    wallets: &mut TableWrite<'_, Wallet>,
    ledger: &mut TableWrite<'_, LedgerEntry>,
    account: &Account,
    policy: &WalletPolicy,
) -> Result<(), Refusal> {
    let user = account.name.as_str();
    if wallets.contains_key(user) {
        // Only possible if someone edited the CSV files by hand.
        log::error!("a wallet for {user} exists without its account");
        return Err(Refusal::new(
            ErrorCode::Conflict,
            format!("a wallet named {user:?} still exists; ask an admin"),
        ));
    }
    let pay_key = keys::unique_key(wallets).map_err(Refusal::internal)?;
    let now = SystemTime::now();
    wallets.stage_put(Wallet {
        user: user.to_string(),
        account: account.id,
        balance: policy.initial_balance,
        pay_key,
        key_expires_at: expiry(now, policy.key_lifetime),
    });
    ledger.stage_put(LedgerEntry {
        id: ledger::next_id(ledger),
        time: now_rfc3339(),
        kind: Kind::Initial,
        from: None,
        to: Some(account.clone()),
        amount: policy.initial_balance,
        from_balance: None,
        to_balance: Some(policy.initial_balance),
        reference: None,
    });
    Ok(())
}

/// Stages the closing of `account`'s wallet, which must be empty, and its `close`
/// ledger line. The caller holds the `wallets` and `transfers` write locks and commits.
/// An account without a wallet (older data) has nothing to close.
pub(crate) fn stage_close(
    wallets: &mut TableWrite<'_, Wallet>,
    ledger: &mut TableWrite<'_, LedgerEntry>,
    account: &Account,
) -> Result<(), Refusal> {
    let user = account.name.as_str();
    let Some(wallet) = wallets.get(user).filter(|w| w.account == account.id) else {
        return Ok(());
    };
    if wallet.balance != Cents(0) {
        return Err(Refusal::new(
            ErrorCode::Conflict,
            format!(
                "your wallet holds {}: spend it or TRANSFER it before deleting the account (money is never destroyed)",
                wallet.balance
            ),
        ));
    }
    wallets.stage_delete(user.to_string());
    ledger.stage_put(LedgerEntry {
        id: ledger::next_id(ledger),
        time: now_rfc3339(),
        kind: Kind::Close,
        from: Some(account.clone()),
        to: None,
        amount: Cents(0),
        from_balance: Some(Cents(0)),
        to_balance: None,
        reference: None,
    });
    Ok(())
}

/// Opens a wallet for every account that has none, and returns how many it opened.
///
/// Run at start-up: an admin account added by hand to `users.csv` (see
/// `feira-server hash-password`), or data from before wallets existed, gets its wallet
/// and its `initial` ledger line like any registered account.
pub fn open_missing(db: &Db, policy: &WalletPolicy) -> crate::Result<usize> {
    let missing: Vec<Account> = {
        // Lock order: users before wallets (docs/ARCHITECTURE.md).
        let users = db.users.read();
        let wallets = db.wallets.read();
        let missing: Vec<Account> = users
            .values()
            .filter(|user| !wallets.contains_key(&user.name))
            .map(|user| user.account())
            .collect();
        if !missing.is_empty() {
            identity::ids_are_fresh(db, &users, &missing)?;
        }
        missing
    };
    let mut opened = 0;
    for account in missing {
        // Lock order: users, wallets, transfers.
        let users = db.users.read();
        let mut wallets = db.wallets.write();
        let mut ledger = db.transfers.write();
        if !users.contains_key(&account.name) || wallets.contains_key(&account.name) {
            continue;
        }
        stage_open(&mut wallets, &mut ledger, &account, policy)
            .map_err(|refusal| crate::Error::Other(refusal.message))?;
        db.journal.commit(&mut [&mut wallets, &mut ledger])?;
        log::info!(
            "opened a wallet for {} (account {}) with {}",
            account.name,
            account.id,
            policy.initial_balance
        );
        opened += 1;
    }
    if opened > 0 {
        db.journal.wait_durable(db.journal.latest())?;
    }
    Ok(opened)
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::AccountId;
    use crate::wallet::testing::{account_of, db_with};

    #[test]
    fn expiry_rounds_up_to_the_second() {
        let whole = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            expiry(whole, Duration::from_secs(180)),
            UNIX_EPOCH + Duration::from_secs(1180)
        );
        let later = whole + Duration::from_millis(1);
        assert_eq!(
            expiry(later, Duration::from_secs(180)),
            UNIX_EPOCH + Duration::from_secs(1181)
        );
    }

    #[test]
    fn credit_and_debit_refuse_overflow_and_overdraft() {
        assert_eq!(debit(Cents(100), Cents(100)), Ok(Cents(0)));
        assert_eq!(
            debit(Cents(100), Cents(101)).unwrap_err().code,
            ErrorCode::InsufficientFunds
        );
        assert_eq!(credit("a", Cents(1), Cents(2)), Ok(Cents(3)));
        assert_eq!(credit("a", MAX_BALANCE, Cents(0)), Ok(MAX_BALANCE));
        assert_eq!(
            credit("a", MAX_BALANCE, Cents(1)).unwrap_err().code,
            ErrorCode::Conflict
        );
        assert_eq!(
            credit("a", Cents(i64::MAX), Cents(1)).unwrap_err().code,
            ErrorCode::Conflict
        );
    }

    #[test]
    fn an_account_closes_only_an_empty_wallet_and_the_name_opens_a_new_one() {
        let (_dir, db) = db_with(&["ana"], Cents(500));
        let ana = account_of(&db, "ana");
        let close = |db: &Db| {
            let mut wallets = db.wallets.write();
            let mut ledger = db.transfers.write();
            stage_close(&mut wallets, &mut ledger, &ana)?;
            db.journal
                .commit(&mut [&mut wallets, &mut ledger])
                .map_err(Refusal::internal)
        };
        assert_eq!(close(&db).unwrap_err().code, ErrorCode::Conflict);
        assert_eq!(
            balance(&db, &ana),
            Ok(Cents(500)),
            "a refusal changes nothing"
        );
        // Spend it all, then the wallet closes with a `close` line.
        let mut wallets = db.wallets.write();
        let mut emptied = wallets["ana"].clone();
        emptied.balance = Cents(0);
        wallets.stage_put(emptied);
        db.journal.commit(&mut [&mut wallets]).unwrap();
        drop(wallets);
        close(&db).unwrap();
        let gone = balance(&db, &ana).unwrap_err().code;
        assert_eq!(gone, ErrorCode::AuthRequired);
        let last = db.transfers.read().values().last().cloned().unwrap();
        assert_eq!((last.kind, last.from), (Kind::Close, Some(ana.clone())));
        // The name can be used again: a new account, a new wallet, a new `initial`
        // line; the old account's session still has no wallet.
        let new_ana = Account::new(db.account_ids.next(), "ana");
        assert_ne!(new_ana.id, ana.id);
        let mut wallets = db.wallets.write();
        let mut ledger = db.transfers.write();
        stage_open(
            &mut wallets,
            &mut ledger,
            &new_ana,
            &WalletPolicy::default(),
        )
        .unwrap();
        db.journal.commit(&mut [&mut wallets, &mut ledger]).unwrap();
        drop((wallets, ledger));
        assert_eq!(balance(&db, &new_ana), Ok(Cents(10_000)));
        assert_eq!(
            balance(&db, &ana).unwrap_err().code,
            ErrorCode::AuthRequired
        );
    }

    /// Adds an account by hand, as an admin editing users.csv would: no wallet yet.
    fn hand_made(db: &Db, name: &str, id: AccountId) {
        let mut users = db.users.write();
        let mut user = users["ana"].clone();
        (user.name, user.id) = (name.into(), id);
        users.stage_put(user);
        db.journal.commit(&mut [&mut users]).unwrap();
    }

    #[test]
    fn open_missing_gives_every_account_a_wallet_once() {
        let (_dir, db) = db_with(&["ana"], Cents(500));
        hand_made(&db, "root", AccountId(db.account_ids.highest() + 1));
        let policy = WalletPolicy::default();
        assert_eq!(open_missing(&db, &policy).unwrap(), 1);
        assert_eq!(open_missing(&db, &policy).unwrap(), 0);
        assert_eq!(balance(&db, &account_of(&db, "root")), Ok(Cents(10_000)));
        assert_eq!(balance(&db, &account_of(&db, "ana")), Ok(Cents(500)));
        assert!(check::check(&db).is_ok());
    }

    #[test]
    fn open_missing_refuses_an_account_added_by_hand_with_a_used_id() {
        // ana's id, and then the id of an account that was deleted (its wallet is in
        // the ledger): either would give the new account someone else's history.
        for taken in ["ana", "gone"] {
            let (_dir, db) = db_with(&["ana", "gone"], Cents(0));
            let id = account_of(&db, taken).id;
            if taken == "gone" {
                testing::remove_account(&db, "gone");
            }
            hand_made(&db, "root", id);
            let error = open_missing(&db, &WalletPolicy::default())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("root has the id {id}")) && error.contains("such as 3"),
                "{error}"
            );
        }
    }
}
